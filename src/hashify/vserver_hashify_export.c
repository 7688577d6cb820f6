/*
 * vserver_hashify_export.c: `vserver-hashify export`
 *
 * Export writes a pax tar of a tree: numeric owners, nanosecond mtimes,
 * xattrs (SCHILY.xattr), POSIX ACLs (SCHILY.acl), hardlinks, devices.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "vserver_hashify_archive.h"
#include "vserver_hashify_priv.h"

#define PROGRAM "vserver-hashify"

/* --- export */

typedef struct {
    struct archive *a;
    struct archive_entry *entry;
    const char *src;
    unsigned char *buf;
    hashifyInoMap links;        /* inodes with more than one name */
    char *error;
} hashifyExport;


static int
hashifyExportFail(hashifyExport *x, const char *path, int errnum,
                  const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
hashifyExportFail(hashifyExport *x, const char *path, int errnum,
                  const char *fmt, ...)
{
    char *msg = NULL;
    char *quoted = path ? hashifyQuote(path) : NULL;
    va_list ap;

    if (x->error)
        goto out;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (asprintf(&x->error, "%s%s%s%s%s%s", path ? "'" : "",
                 quoted ? quoted : "", path ? "': " : "",
                 msg ? msg : "out of memory", errnum ? ": " : "",
                 errnum ? strerror(errnum) : "") < 0)
        x->error = NULL;
    free(msg);
 out:
    free(quoted);
    return -1;
}


static int
hashifyExportAcl(hashifyExport *x, const char *path, const void *value,
                 size_t size, int type)
{
    hashifyAclEntry *e = NULL;
    size_t n = 0;
    size_t i;

    if (hashifyAclDecode(value, size, &e, &n) < 0)
        return hashifyExportFail(x, path, 0, "its %s ACL cannot be read",
                                 type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS ? "access"
                                                                       : "default");
    for (i = 0; i < n; i++) {
        int tag;
        int qual = -1;

        switch (e[i].tag) {
        case HASHIFY_ACL_USER_OBJ: tag = ARCHIVE_ENTRY_ACL_USER_OBJ; break;
        case HASHIFY_ACL_GROUP_OBJ: tag = ARCHIVE_ENTRY_ACL_GROUP_OBJ; break;
        case HASHIFY_ACL_OTHER: tag = ARCHIVE_ENTRY_ACL_OTHER; break;
        case HASHIFY_ACL_MASK: tag = ARCHIVE_ENTRY_ACL_MASK; break;
        case HASHIFY_ACL_USER: tag = ARCHIVE_ENTRY_ACL_USER; qual = e[i].id; break;
        case HASHIFY_ACL_GROUP: tag = ARCHIVE_ENTRY_ACL_GROUP; qual = e[i].id; break;
        default:
            free(e);
            return hashifyExportFail(x, path, 0, "its ACL has an unknown entry");
        }
        /* libarchive keeps the base entries of an access ACL in the mode
         * (the group bits become the owning group's, not the mask), as
         * tar --acls does */
        if (archive_entry_acl_add_entry(x->entry, type, e[i].perm & 7, tag, qual,
                                        NULL) != ARCHIVE_OK) {
            free(e);
            return hashifyExportFail(x, path, 0, "cannot store its ACL");
        }
    }
    free(e);
    return 0;
}


/* The xattrs of the entry's file: through @fd, or by @path for what cannot
 * be opened (then with the l*xattr calls, which never follow). */
static int
hashifyExportXattrs(hashifyExport *x, const char *entryPath, int fd,
                    const char *path)
{
    char *list = NULL;
    ssize_t len;
    size_t off;
    int ret = -1;

    if ((len = hashifyXattrList(fd, path, &list)) < 0) {
        if (errno == ENOMEM)
            return hashifyExportFail(x, entryPath, ENOMEM, "cannot list xattrs");
        return hashifyExportFail(x, entryPath, errno,
                                 "cannot list extended attributes");
    }
    for (off = 0; off < (size_t)len; off += strlen(list + off) + 1) {
        const char *name = list + off;
        void *value;
        size_t vlen;
        int rc = hashifyXattrGet(fd, path, name, &value, &vlen);

        if (rc == 0)
            continue;
        if (rc < 0) {
            if (errno == ENOMEM)
                hashifyExportFail(x, entryPath, ENOMEM, "cannot read xattrs");
            else
                hashifyExportFail(x, entryPath, errno,
                                  "cannot read the extended attribute '%s'",
                                  name);
            goto cleanup;
        }
        if (strcmp(name, HASHIFY_ACL_XATTR_ACCESS) == 0)
            rc = hashifyExportAcl(x, entryPath, value, vlen,
                                  ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
        else if (strcmp(name, HASHIFY_ACL_XATTR_DEFAULT) == 0)
            rc = hashifyExportAcl(x, entryPath, value, vlen,
                                  ARCHIVE_ENTRY_ACL_TYPE_DEFAULT);
        else
            archive_entry_xattr_add_entry(x->entry, name, value, vlen);
        free(value);
        if (rc < 0)
            goto cleanup;
    }
    ret = 0;

 cleanup:
    free(list);
    return ret;
}


static int
hashifyExportHeader(hashifyExport *x, const char *path)
{
    int r = archive_write_header(x->a, x->entry);

    /* ARCHIVE_WARN: a name that is not UTF-8 went out as hdrcharset=BINARY */
    if (r < ARCHIVE_WARN)
        return hashifyExportFail(x, path, 0, "cannot write its header: %s",
                                 archive_error_string(x->a));
    return 0;
}


/* The data regions of the file open as @fd (SEEK_DATA/SEEK_HOLE), when it
 * has holes: they go into the entry's sparse map, so that a sparse file
 * leaves as small as it is.  *n 0: write it dense. */
static int
hashifyExportSparseMap(hashifyExport *x, const char *path, int fd,
                       const struct stat *st, uint64_t **map, size_t *n)
{
    uint64_t *m = NULL;
    size_t alloc = 0;
    uint64_t covered = 0;
    off_t off = 0;

    *map = NULL;
    *n = 0;
    /* no block missing, no hole */
    if ((uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size || st->st_size == 0)
        return 0;
    while (off < st->st_size) {
        off_t data = lseek(fd, off, SEEK_DATA);
        off_t hole;

        if (data < 0) {
            if (errno == ENXIO)
                break;
            free(m);
            return 0;           /* no SEEK_DATA: dense */
        }
        if ((hole = lseek(fd, data, SEEK_HOLE)) < 0 || hole > st->st_size)
            hole = st->st_size;
        if (*n + 2 > alloc) {
            size_t na = alloc ? alloc * 2 : 32;
            uint64_t *nm = realloc(m, na * sizeof(*nm));

            if (!nm) {
                free(m);
                return hashifyExportFail(x, path, ENOMEM, "cannot map its holes");
            }
            m = nm;
            alloc = na;
        }
        m[(*n)++] = data;
        m[(*n)++] = hole - data;
        covered += hole - data;
        off = hole;
    }
    if (covered == (uint64_t)st->st_size) {
        free(m);
        *n = 0;
        return 0;
    }
    if (*n == 0) {
        /* all hole: one empty region at the end, as GNU tar writes it */
        if (!(m = malloc(2 * sizeof(*m))))
            return hashifyExportFail(x, path, ENOMEM, "cannot map its holes");
        m[0] = st->st_size;
        m[1] = 0;
        *n = 2;
    }
    *map = m;
    return 0;
}


/* Write @size bytes of the file from offset 0.  With a sparse map the
 * holes are handed to libarchive as zeros, which it leaves out. */
static int
hashifyExportData(hashifyExport *x, const char *path, int fd, uint64_t size,
                  const uint64_t *map, size_t nmap)
{
    uint64_t done = 0;
    size_t r = 0;

    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (done < size) {
        uint64_t dataEnd = size;
        size_t want;
        ssize_t n;

        if (nmap) {
            while (r < nmap && map[r] + map[r + 1] <= done)
                r += 2;
            if (r >= nmap || done < map[r]) {
                /* in a hole */
                uint64_t holeEnd = r < nmap ? map[r] : size;

                if (holeEnd > size)
                    holeEnd = size;
                want = holeEnd - done < HASHIFY_ZEROS ? holeEnd - done : HASHIFY_ZEROS;
                if (archive_write_data(x->a, hashifyZeroBuf, want) != (la_ssize_t)want)
                    return hashifyExportFail(x, path, 0, "cannot write it: %s",
                                             archive_error_string(x->a));
                done += want;
                continue;
            }
            dataEnd = map[r] + map[r + 1];
        }
        want = dataEnd - done < HASHIFY_IO_BUF ? dataEnd - done : HASHIFY_IO_BUF;
        n = pread(fd, x->buf, want, done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return hashifyExportFail(x, path, errno, "cannot read it");
        }
        if (n == 0)
            return hashifyExportFail(x, path, 0, "it shrank while it was read");
        if (archive_write_data(x->a, x->buf, n) != n)
            return hashifyExportFail(x, path, 0, "cannot write it: %s",
                                     archive_error_string(x->a));
        done += n;
    }
    return 0;
}


static int hashifyExportDir(hashifyExport *x, int dirfd, const char *rel,
                            unsigned int depth);

static int
hashifyNameCompare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}


/* One entry below @dirfd; @rel is its path below the source ("a/b"). */
static int
hashifyExportEntry(hashifyExport *x, int dirfd, const char *name,
                   const char *rel, unsigned int depth)
{
    char *path = NULL;
    char *proc = NULL;
    char *target = NULL;
    uint64_t *map = NULL;
    size_t nmap = 0;
    struct stat st;
    struct stat fst;
    int fd = -1;
    int ret = -1;

    if (asprintf(&path, "./%s", rel) < 0)
        return hashifyExportFail(x, rel, ENOMEM, "cannot export it");
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        hashifyExportFail(x, path, errno, "cannot stat it");
        goto cleanup;
    }
    if (S_ISSOCK(st.st_mode)) {
        char *q = hashifyQuote(path);

        fprintf(stderr, PROGRAM ": warning: '%s': socket left out\n", q ? q : "");
        free(q);
        ret = 0;
        goto cleanup;
    }

    archive_entry_clear(x->entry);
    archive_entry_copy_pathname(x->entry, path);
    archive_entry_set_uid(x->entry, st.st_uid);
    archive_entry_set_gid(x->entry, st.st_gid);
    archive_entry_set_mode(x->entry, st.st_mode);
    archive_entry_set_mtime(x->entry, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        bool nomem;
        const char *first = hashifyInoMapSeen(&x->links, &st, path, &nomem);

        if (nomem) {
            hashifyExportFail(x, path, ENOMEM, "cannot export it");
            goto cleanup;
        }
        if (first) {
            archive_entry_copy_hardlink(x->entry, first);
            archive_entry_set_size(x->entry, 0);
            ret = hashifyExportHeader(x, path);
            goto cleanup;
        }
    }

    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
        int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
                    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);

        fd = openat(dirfd, name, flags | O_NOATIME);
        if (fd < 0 && errno == EPERM)
            fd = openat(dirfd, name, flags);
        if (fd < 0 || fstat(fd, &fst) < 0) {
            hashifyExportFail(x, path, errno, "cannot open it");
            goto cleanup;
        }
        if (fst.st_ino != st.st_ino || fst.st_dev != st.st_dev ||
            (fst.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
            hashifyExportFail(x, path, 0, "it changed while it was exported");
            goto cleanup;
        }
        st = fst;
        if (hashifyExportXattrs(x, path, fd, NULL) < 0)
            goto cleanup;
        if (S_ISREG(st.st_mode)) {
            size_t i;

            archive_entry_set_size(x->entry, st.st_size);
            if (hashifyExportSparseMap(x, path, fd, &st, &map, &nmap) < 0)
                goto cleanup;
            for (i = 0; i < nmap; i += 2)
                archive_entry_sparse_add_entry(x->entry, map[i], map[i + 1]);
        }
    } else {
        if (asprintf(&proc, "/proc/self/fd/%d/%s", dirfd, name) < 0) {
            hashifyExportFail(x, path, ENOMEM, "cannot export it");
            goto cleanup;
        }
        if (hashifyExportXattrs(x, path, -1, proc) < 0)
            goto cleanup;
        if (S_ISLNK(st.st_mode)) {
            if (!(target = hashifyReadLinkAt(dirfd, name, st.st_size))) {
                hashifyExportFail(x, path, errno, "cannot read the link");
                goto cleanup;
            }
            archive_entry_copy_symlink(x->entry, target);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            archive_entry_set_rdevmajor(x->entry, major(st.st_rdev));
            archive_entry_set_rdevminor(x->entry, minor(st.st_rdev));
        }
        archive_entry_set_size(x->entry, 0);
    }

    if (hashifyExportHeader(x, path) < 0)
        goto cleanup;
    if (S_ISREG(st.st_mode)) {
        if (hashifyExportData(x, path, fd, st.st_size, map, nmap) < 0)
            goto cleanup;
    } else if (S_ISDIR(st.st_mode)) {
        int sub = fd;

        fd = -1;
        if (hashifyExportDir(x, sub, rel, depth + 1) < 0)
            goto cleanup;
    }
    ret = 0;

 cleanup:
    if (fd >= 0)
        close(fd);
    free(map);
    free(target);
    free(proc);
    free(path);
    return ret;
}


/* Export the directory open as @dirfd (taken over), sorted by name. */
static int
hashifyExportDir(hashifyExport *x, int dirfd, const char *rel,
                 unsigned int depth)
{
    char **names = NULL;
    size_t nnames = 0;
    size_t anames = 0;
    struct dirent *de;
    DIR *dir;
    size_t i;
    int fd;
    int ret = -1;

    if (depth > 8192) {
        close(dirfd);
        return hashifyExportFail(x, rel, ELOOP, "cannot export it");
    }
    if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        !(dir = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        hashifyExportFail(x, *rel ? rel : ".", errno, "cannot read the directory");
        close(dirfd);
        return -1;
    }
    errno = 0;
    while ((de = readdir(dir))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            hashifyNameIsTmp(de->d_name))
            continue;
        if (nnames == anames) {
            size_t n = anames ? 2 * anames : 64;
            char **nn = realloc(names, n * sizeof(*nn));

            if (!nn)
                goto nomem;
            names = nn;
            anames = n;
        }
        if (!(names[nnames] = strdup(de->d_name)))
            goto nomem;
        nnames++;
        errno = 0;
    }
    if (errno) {
        hashifyExportFail(x, *rel ? rel : ".", errno, "cannot read the directory");
        goto cleanup;
    }
    if (nnames)
        qsort(names, nnames, sizeof(*names), hashifyNameCompare);
    for (i = 0; i < nnames; i++) {
        char *child = NULL;

        if (asprintf(&child, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0)
            goto nomem;
        if (hashifyExportEntry(x, dirfd, names[i], child, depth) < 0) {
            free(child);
            goto cleanup;
        }
        free(child);
    }
    ret = 0;
    goto cleanup;

 nomem:
    hashifyExportFail(x, *rel ? rel : ".", ENOMEM, "cannot read the directory");
 cleanup:
    closedir(dir);
    for (i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    close(dirfd);
    return ret;
}


static void
hashifyExportUsage(FILE *out)
{
    fprintf(out,
"Usage: " PROGRAM " export SRC > TARBALL\n"
"\n"
"Write the tree SRC to stdout as a pax tar (no compression): names relative\n"
"(\"./...\"), numeric owners, modes, nanosecond mtimes, xattrs (file\n"
"capabilities too), POSIX ACLs, symlinks, hard links, device nodes, FIFOs.\n"
"Symlinks are never followed; the store's temporary names are left out.\n"
"`import` of the result gives the same tree.\n");
}


int
vserverHashifyCmdExport(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    hashifyExport x = { 0 };
    struct stat st;
    int srcfd = -1;
    int c;
    int ret = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            hashifyExportUsage(stdout);
            return 0;
        default:
            hashifyExportUsage(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        hashifyExportUsage(stderr);
        return 2;
    }
    x.src = argv[optind];
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, PROGRAM ": refusing to write an archive to a terminal\n");
        return 2;
    }
    hashifyArchiveLocale();
    hashifyRaiseFdLimit();

    if ((srcfd = open(x.src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        fstat(srcfd, &st) < 0) {
        hashifyExportFail(&x, x.src, errno, "cannot open the tree");
        goto cleanup;
    }
    if (!(x.buf = malloc(HASHIFY_IO_BUF)) || !(x.a = archive_write_new()) ||
        !(x.entry = archive_entry_new())) {
        hashifyExportFail(&x, NULL, ENOMEM, "cannot start the archive");
        goto cleanup;
    }
    /* full pax, not pax_restricted: nanosecond mtimes always go out */
    if (archive_write_set_format_pax(x.a) != ARCHIVE_OK ||
        archive_write_add_filter_none(x.a) != ARCHIVE_OK ||
        /* xattrs as GNU tar and star write them (not also LIBARCHIVE.xattr,
         * which GNU tar warns about) */
        archive_write_set_format_option(x.a, "pax", "xattrheader",
                                        "SCHILY") < ARCHIVE_WARN ||
        archive_write_open_fd(x.a, STDOUT_FILENO) != ARCHIVE_OK) {
        hashifyExportFail(&x, NULL, 0, "cannot start the archive: %s",
                          archive_error_string(x.a));
        goto cleanup;
    }

    /* the root: "./" with the tree's own metadata */
    archive_entry_copy_pathname(x.entry, "./");
    archive_entry_set_uid(x.entry, st.st_uid);
    archive_entry_set_gid(x.entry, st.st_gid);
    archive_entry_set_mode(x.entry, st.st_mode);
    archive_entry_set_mtime(x.entry, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    if (hashifyExportXattrs(&x, ".", srcfd, NULL) < 0 ||
        hashifyExportHeader(&x, ".") < 0)
        goto cleanup;
    c = srcfd;
    srcfd = -1;
    if (hashifyExportDir(&x, c, "", 0) < 0)
        goto cleanup;
    if (archive_write_close(x.a) != ARCHIVE_OK) {
        hashifyExportFail(&x, NULL, 0, "cannot finish the archive: %s",
                          archive_error_string(x.a));
        goto cleanup;
    }
    ret = 0;

 cleanup:
    if (ret != 0)
        fprintf(stderr, PROGRAM ": export of '%s' failed: %s\n", x.src,
                x.error ? x.error : "out of memory");
    if (x.a)
        archive_write_free(x.a);
    if (x.entry)
        archive_entry_free(x.entry);
    if (srcfd >= 0)
        close(srcfd);
    hashifyInoMapClear(&x.links);
    free(x.buf);
    free(x.error);
    return ret;
}
