/*
 * fuzz_hashifyimport.c: the tar importer of vserver-hashify
 *
 * `vserver-hashify import --store STORE --limit 1M DEST < INPUT`, run as
 * the storage driver runs it for vol-upload and pool imports, through
 * vserverHashifyCmdImport(): libarchive's decompression filters and tar
 * reader, then the importer's own checks (names, hard links, ACLs and
 * xattrs, devices, the size limit) and what it creates below DEST.
 * Header checksums are made valid first (fuzz_tar.h).
 * DEST and STORE are made afresh for each input in a private directory
 * (on /dev/shm when there is one) and removed afterwards.
 *
 * libc, libarchive and the hashify store library only, like the tool.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vserver_hashify_archive.h"

#include "fuzz_tar.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzzBase[PATH_MAX];
static char fuzzDest[PATH_MAX];
static char fuzzStore[PATH_MAX];
static int fuzzInput = -1;


static int
fuzzRemoveOne(const char *path,
              const struct stat *st __attribute__((unused)),
              int flag,
              struct FTW *ftw __attribute__((unused)))
{
    if (flag == FTW_DP)
        return rmdir(path) < 0 ? -1 : 0;
    return unlink(path) < 0 ? -1 : 0;
}


static void
fuzzRemoveTree(const char *path)
{
    if (access(path, F_OK) < 0)
        return;
    if (nftw(path, fuzzRemoveOne, 64, FTW_DEPTH | FTW_PHYS) < 0) {
        fprintf(stderr, "fuzz: cannot remove '%s': %s\n", path, strerror(errno));
        abort();
    }
}


/* A failed import leaves the destination as it found it: empty. */
static void
fuzzCheckEmpty(const char *path)
{
    struct dirent *de;
    DIR *dir = opendir(path);

    if (!dir)
        abort();
    while ((de = readdir(dir))) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            fprintf(stderr, "fuzz: failed import left '%s' in the destination\n",
                    de->d_name);
            abort();
        }
    }
    closedir(dir);
}


static void
fuzzCleanup(void)
{
    if (!fuzzBase[0])
        return;
    fuzzRemoveTree(fuzzDest);
    fuzzRemoveTree(fuzzStore);
    rmdir(fuzzBase);
}


int
LLVMFuzzerInitialize(int *argc __attribute__((unused)),
                     char ***argv __attribute__((unused)))
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;

    if (!tmp && !(tmp = getenv("TMPDIR")))
        tmp = "/tmp";
    snprintf(fuzzBase, sizeof(fuzzBase), "%s/vserver-fuzz-import.XXXXXX", tmp);
    if (!mkdtemp(fuzzBase))
        abort();
    snprintf(fuzzDest, sizeof(fuzzDest), "%s/dest", fuzzBase);
    snprintf(fuzzStore, sizeof(fuzzStore), "%s/store", fuzzBase);
    atexit(fuzzCleanup);
    if ((fuzzInput = memfd_create("tarball", MFD_CLOEXEC)) < 0)
        abort();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    char *argv[] = {
        (char *)"import", (char *)"--store", fuzzStore,
        (char *)"--limit", (char *)"1M", (char *)"--no-progress",
        fuzzDest, NULL,
    };
    uint8_t *tar;
    size_t done = 0;
    int rc;

    if (!(tar = malloc(size ? size : 1)))
        abort();
    memcpy(tar, data, size);
    fuzzTarFixChecksums(tar, size);
    if (ftruncate(fuzzInput, 0) < 0)
        abort();
    while (done < size) {
        ssize_t n = pwrite(fuzzInput, tar + done, size - done, done);
        if (n <= 0)
            abort();
        done += n;
    }
    free(tar);
    /* the importer reads its standard input */
    if (lseek(fuzzInput, 0, SEEK_SET) < 0 ||
        dup2(fuzzInput, STDIN_FILENO) < 0)
        abort();

    if (mkdir(fuzzDest, 0755) < 0 || mkdir(fuzzStore, 0700) < 0)
        abort();
    rc = vserverHashifyCmdImport((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv);
    if (rc != 0 && rc != 1)
        abort();
    if (rc == 1)
        fuzzCheckEmpty(fuzzDest);
    fuzzRemoveTree(fuzzDest);
    fuzzRemoveTree(fuzzStore);
    return 0;
}
