/*
 * vserver_hashify_flatten.c: `vserver-hashify flatten`
 *
 * Builds, in an empty directory, what a guest saw: the merged view of an
 * overlayfs with lowerdir=LOWER and upperdir=UPPER, without mounting
 * anything.  Upper entries win; a whiteout (a 0:0 character device, or a
 * file with trusted.overlay.whiteout) hides the lower name; an upper
 * directory with trusted.overlay.opaque=y hides the lower directory's
 * contents.  Files that come unchanged from LOWER (a template: store
 * objects already) are hard-linked, O(1) each; the guest's own files are
 * copied, hashed and linked into the store like import does.  overlayfs's
 * own xattrs (trusted.overlay.*) are never copied; redirect_dir and
 * metacopy, which the driver's mounts do not use, are refused.
 *
 * UPPER belongs to a guest: every name in it is opened relative to its
 * directory fd without following symlinks, and nothing is ever written
 * outside the destination (see vserver_hashify_import.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vserver_hashify_archive.h"
#include "vserver_hashify_priv.h"

#define PROGRAM "vserver-hashify"

#define HASHIFY_FLATTEN_BUF (256 * 1024)
#define HASHIFY_FLATTEN_MAX_DEPTH 4096

#define HASHIFY_OVL_OPAQUE "trusted.overlay.opaque"
#define HASHIFY_OVL_WHITEOUT "trusted.overlay.whiteout"
#define HASHIFY_OVL_REDIRECT "trusted.overlay.redirect"
#define HASHIFY_OVL_METACOPY "trusted.overlay.metacopy"

typedef struct {
    hashifyExtract *ex;
    unsigned char *buf;
    /* upper inodes with several names: the first name's path in DEST */
    hashifyInoMap links;
} hashifyFlatten;

typedef struct {
    char *name;
    unsigned char type;         /* DT_* */
} hashifyFlattenName;

/* What overlayfs's xattrs on an upper entry say. */
typedef struct {
    bool whiteout;
    bool opaque;
    bool redirect;
    bool metacopy;
} hashifyOvlState;


static void
hashifyFlattenUsage(FILE *out)
{
    fprintf(out,
"Usage: " PROGRAM " flatten --store ROOT [OPTION]... LOWER UPPER DEST\n"
"\n"
"Make the existing, empty directory DEST the merged view of an overlayfs\n"
"with lowerdir=LOWER and upperdir=UPPER, without mounting anything: upper\n"
"entries win, whiteouts delete, opaque directories hide the lower ones.\n"
"Unchanged lower files are hard-linked (they are store objects already);\n"
"the upper files are copied, hashed and linked into the store ROOT/.hash.\n"
"On any error DEST is left empty.\n"
"\n"
HASHIFY_EXTRACT_HELP_STORE
"                            device nodes in UPPER (the guest's own) fail\n"
"                            the run, are left out, or are kept (default);\n"
"                            LOWER's passed the pool's rule on import\n"
"      --limit=BYTES         the guest's regular files may not add up to more\n"
HASHIFY_EXTRACT_HELP_PROGRESS);
}


/* Take overlayfs's own xattrs out of @meta, noting what they said. */
static void
hashifyFlattenOvlFilter(vserverHashifyMeta *meta, hashifyOvlState *ovl)
{
    size_t i;
    size_t j = 0;

    memset(ovl, 0, sizeof(*ovl));
    for (i = 0; i < meta->nxattrs; i++) {
        vserverHashifyXattr *x = &meta->xattrs[i];

        if (!hashifyXattrIsOverlay(x->name)) {
            meta->xattrs[j++] = *x;
            continue;
        }
        if (strcmp(x->name, HASHIFY_OVL_WHITEOUT) == 0)
            ovl->whiteout = true;
        else if (strcmp(x->name, HASHIFY_OVL_OPAQUE) == 0)
            ovl->opaque = x->size == 1 && ((char *)x->value)[0] == 'y';
        else if (strcmp(x->name, HASHIFY_OVL_REDIRECT) == 0)
            ovl->redirect = true;
        else if (strcmp(x->name, HASHIFY_OVL_METACOPY) == 0)
            ovl->metacopy = true;
        free(x->name);
        free(x->value);
    }
    meta->nxattrs = j;
}


/* Metadata of @dirfd/@name, which cannot be opened (symlink, device,
 * FIFO, socket): stat @st and the l*xattr calls, which never follow. */
static int
hashifyFlattenMetaAt(hashifyExtract *ex, int dirfd, const char *name,
                     const struct stat *st, const char *rel,
                     vserverHashifyMeta *meta)
{
    char *path = NULL;
    char *list = NULL;
    ssize_t len;
    size_t off;
    int ret = -1;

    memset(meta, 0, sizeof(*meta));
    meta->mode = st->st_mode;
    meta->uid = st->st_uid;
    meta->gid = st->st_gid;
    meta->mtime = st->st_mtim;
    if (asprintf(&path, "/proc/self/fd/%d/%s", dirfd, name) < 0)
        return hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot read xattrs");
    if ((len = hashifyXattrList(-1, path, &list)) < 0) {
        if (errno == ENOMEM)
            hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot read xattrs");
        else
            hashifyExtractFailErrno(ex, rel, errno,
                                    "cannot list extended attributes");
        goto cleanup;
    }
    for (off = 0; off < (size_t)len; off += strlen(list + off) + 1) {
        void *value;
        size_t vlen;
        int rc = hashifyXattrGet(-1, path, list + off, &value, &vlen);

        if (rc == 0)
            continue;
        if (rc < 0) {
            if (errno == ENOMEM)
                hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot read xattrs");
            else
                hashifyExtractFailErrno(ex, rel, errno,
                                        "cannot read the extended attribute '%s'",
                                        list + off);
            goto cleanup;
        }
        rc = vserverHashifyMetaAddXattr(meta, list + off, value, vlen);
        free(value);
        if (rc < 0) {
            hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot read xattrs");
            goto cleanup;
        }
    }
    ret = 0;

 cleanup:
    if (ret < 0)
        vserverHashifyMetaClear(meta);
    free(list);
    free(path);
    return ret;
}


static int
hashifyFlattenMetaFd(hashifyExtract *ex, int fd, const struct stat *st,
                     const char *rel, vserverHashifyMeta *meta)
{
    vserverHashifyError err = { 0 };

    if (vserverHashifyMetaFromFd(fd, st, meta, &err) < 0) {
        hashifyExtractFail(ex, rel, "%s", err.message ? err.message
                                                      : "cannot read its metadata");
        vserverHashifyErrorClear(&err);
        return -1;
    }
    return 0;
}


static int
hashifyFlattenReadDir(hashifyExtract *ex, int dirfd, const char *rel,
                      hashifyFlattenName **names, size_t *nnames)
{
    size_t alloc = 0;
    struct dirent *de;
    DIR *dir;
    int fd;

    *names = NULL;
    *nnames = 0;
    if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        !(dir = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return hashifyExtractFailErrno(ex, *rel ? rel : ".", errno,
                                       "cannot read the directory");
    }
    errno = 0;
    while ((de = readdir(dir))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (*nnames == alloc) {
            size_t n = alloc ? alloc * 2 : 64;
            hashifyFlattenName *nn = realloc(*names, n * sizeof(*nn));

            if (!nn)
                goto nomem;
            *names = nn;
            alloc = n;
        }
        if (!((*names)[*nnames].name = strdup(de->d_name)))
            goto nomem;
        (*names)[*nnames].type = de->d_type;
        (*nnames)++;
        errno = 0;
    }
    if (errno) {
        int save = errno;

        closedir(dir);
        return hashifyExtractFailErrno(ex, *rel ? rel : ".", save,
                                       "cannot read the directory");
    }
    closedir(dir);
    return 0;

 nomem:
    closedir(dir);
    return hashifyExtractFailErrno(ex, *rel ? rel : ".", ENOMEM,
                                   "cannot read the directory");
}


static void
hashifyFlattenNamesFree(hashifyFlattenName *names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i].name);
    free(names);
}


static int
hashifyFlattenNameCompare(const void *a, const void *b)
{
    return strcmp(((const hashifyFlattenName *)a)->name,
                  ((const hashifyFlattenName *)b)->name);
}


static char *
hashifyFlattenJoin(const char *rel, const char *name)
{
    char *out = NULL;

    if (asprintf(&out, "%s%s%s", rel, *rel ? "/" : "", name) < 0)
        return NULL;
    return out;
}


/* Copy the regular file open as @fd into DEST under @name in @destfd,
 * holes kept, hashed as it goes, linked into the store. */
static int
hashifyFlattenCopy(hashifyFlatten *fl, int fd, const vserverHashifyMeta *meta,
                   int destfd, const char *name, const char *rel)
{
    hashifyExtract *ex = fl->ex;
    hashifyOutFile f = { .fd = -1 };
    uint64_t off = 0;
    int ret = -1;

    if (hashifyExtractCharge(ex, rel, meta->size) < 0)
        return -1;
    if (hashifyOutFileBegin(ex, &f, destfd, meta, rel) < 0)
        goto cleanup;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (off < meta->size) {
        off_t data = lseek(fd, off, SEEK_DATA);
        off_t hole;

        if (data < 0) {
            if (errno == ENXIO)
                break;          /* a hole up to the end */
            data = off;         /* no SEEK_DATA here: all of it is data */
            hole = meta->size;
        } else if ((hole = lseek(fd, data, SEEK_HOLE)) < 0) {
            hole = meta->size;
        }
        if ((uint64_t)hole > meta->size)
            hole = meta->size;
        off = data;
        while (off < (uint64_t)hole) {
            size_t want = (uint64_t)hole - off < HASHIFY_FLATTEN_BUF ?
                          (uint64_t)hole - off : HASHIFY_FLATTEN_BUF;
            ssize_t n = pread(fd, fl->buf, want, off);

            if (n < 0) {
                if (errno == EINTR)
                    continue;
                hashifyExtractFailErrno(ex, rel, errno, "cannot read it");
                goto cleanup;
            }
            if (n == 0) {
                hashifyExtractFail(ex, rel, "it shrank while it was copied");
                goto cleanup;
            }
            if (hashifyOutFileWrite(ex, &f, fl->buf, n, off, rel) < 0)
                goto cleanup;
            off += n;
        }
    }
    if (hashifyOutFileFinish(ex, &f, name, rel, rel) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    hashifyOutFileAbort(&f);
    return ret;
}


/* Link @rel to the DEST path @first, both below DEST. */
static int
hashifyFlattenLinkFirst(hashifyExtract *ex, const char *first, int destfd,
                        const char *name, const char *rel)
{
    const char *slash = strrchr(first, '/');
    int odirfd = ex->destfd;
    int rc;

    if (slash) {
        char *parent = strndup(first, slash - first);

        if (!parent)
            return hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot link it");
        odirfd = hashifyExtractOpenBeneath(ex->destfd, parent, O_RDONLY | O_DIRECTORY);
        free(parent);
        if (odirfd < 0)
            return hashifyExtractFailErrno(ex, rel, errno, "cannot link it to '%s'",
                                           first);
    }
    rc = hashifyExtractLink(ex, odirfd, slash ? slash + 1 : first, destfd, name, rel);
    if (odirfd != ex->destfd)
        close(odirfd);
    return rc;
}


static int hashifyFlattenDir(hashifyFlatten *fl, int lowerfd, int upperfd,
                             int destfd, const char *rel, unsigned int depth);


/* A directory of the merged view: created, its metadata queued, its
 * contents merged from @lowerfd and/or @upperfd (either may be -1; both
 * are taken over). */
static int
hashifyFlattenSubdir(hashifyFlatten *fl, int lowerfd, int upperfd,
                     const char *rel, vserverHashifyMeta *meta,
                     unsigned int depth)
{
    hashifyExtract *ex = fl->ex;
    int destfd = -1;
    int ret = -1;

    if (depth >= HASHIFY_FLATTEN_MAX_DEPTH) {
        hashifyExtractFail(ex, rel, "directories nested too deep");
        goto cleanup;
    }
    if (hashifyExtractDir(ex, rel, rel, meta) < 0)
        goto cleanup;
    if ((destfd = hashifyExtractOpenBeneath(ex->destfd, rel,
                                            O_RDONLY | O_DIRECTORY)) < 0) {
        hashifyExtractFailErrno(ex, rel, errno, "cannot open the new directory");
        goto cleanup;
    }
    ret = hashifyFlattenDir(fl, lowerfd, upperfd, destfd, rel, depth + 1);
    lowerfd = upperfd = -1;

 cleanup:
    if (lowerfd >= 0)
        close(lowerfd);
    if (upperfd >= 0)
        close(upperfd);
    if (destfd >= 0)
        close(destfd);
    vserverHashifyMetaClear(meta);
    return ret;
}


static int
hashifyFlattenOpen(int dirfd, const char *name, bool dir)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
                (dir ? O_DIRECTORY : 0);
    int fd = openat(dirfd, name, flags | O_NOATIME);

    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, flags);
    return fd;
}


/* Symlinks, devices, FIFOs, sockets: recreated with their metadata. */
static int
hashifyFlattenNode(hashifyFlatten *fl, int srcfd, const char *name,
                   const struct stat *st, bool fromUpper, int destfd,
                   const char *rel)
{
    hashifyExtract *ex = fl->ex;
    vserverHashifyMeta meta;
    hashifyOvlState ovl;
    char *target = NULL;
    int ret = -1;

    if ((S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && fromUpper) {
        int rule = hashifyExtractDeviceRule(ex, rel);

        if (rule <= 0)
            return rule;
    }
    if (hashifyFlattenMetaAt(ex, srcfd, name, st, rel, &meta) < 0)
        return -1;
    hashifyFlattenOvlFilter(&meta, &ovl);
    if (ovl.whiteout) {
        ret = 0;
        goto cleanup;
    }
    if (S_ISLNK(st->st_mode) &&
        !(target = hashifyReadLinkAt(srcfd, name, st->st_size))) {
        hashifyExtractFailErrno(ex, rel, errno, "cannot read the link");
        goto cleanup;
    }
    ret = hashifyExtractNode(ex, destfd, name, rel, &meta, target, st->st_rdev);

 cleanup:
    free(target);
    vserverHashifyMetaClear(&meta);
    return ret;
}


/* A regular file of the guest's: copied, or linked to the copy of an
 * earlier name of the same upper inode. */
static int
hashifyFlattenUpperFile(hashifyFlatten *fl, int upperfd, const char *name,
                        const struct stat *lst, int destfd, const char *rel)
{
    hashifyExtract *ex = fl->ex;
    vserverHashifyMeta meta = { 0 };
    hashifyOvlState ovl;
    struct stat st;
    const char *first;
    bool nomem;
    int fd;
    int ret = -1;

    if ((fd = hashifyFlattenOpen(upperfd, name, false)) < 0 || fstat(fd, &st) < 0) {
        hashifyExtractFailErrno(ex, rel, errno, "cannot open it");
        goto cleanup;
    }
    if (st.st_ino != lst->st_ino || !S_ISREG(st.st_mode)) {
        hashifyExtractFail(ex, rel, "it changed while it was read");
        goto cleanup;
    }
    if (hashifyFlattenMetaFd(ex, fd, &st, rel, &meta) < 0)
        goto cleanup;
    hashifyFlattenOvlFilter(&meta, &ovl);
    if (ovl.whiteout) {
        ret = 0;
        goto cleanup;
    }
    if (ovl.metacopy) {
        hashifyExtractFail(ex, rel, "it is a metacopy-only upper file "
                           "(trusted.overlay.metacopy): overlayfs's metacopy "
                           "feature is not supported");
        goto cleanup;
    }
    if (st.st_nlink > 1) {
        first = hashifyInoMapSeen(&fl->links, &st, rel, &nomem);
        if (nomem) {
            hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot copy it");
            goto cleanup;
        }
        if (first) {
            ret = hashifyFlattenLinkFirst(ex, first, destfd, name, rel);
            goto cleanup;
        }
    }
    ret = hashifyFlattenCopy(fl, fd, &meta, destfd, name, rel);

 cleanup:
    if (fd >= 0)
        close(fd);
    vserverHashifyMetaClear(&meta);
    return ret;
}


/* The directory @name of @layer ("LOWER" or "UPPER") opened, with its
 * metadata, overlayfs's xattrs taken out into @ovl: its fd, or -1. */
static int
hashifyFlattenOpenDir(hashifyExtract *ex, int layerfd, const char *name,
                      const char *layer, const char *rel,
                      vserverHashifyMeta *meta, hashifyOvlState *ovl)
{
    int fd;

    if ((fd = hashifyFlattenOpen(layerfd, name, true)) < 0)
        return hashifyExtractFailErrno(ex, rel, errno, "cannot open it in %s",
                                       layer);
    if (hashifyFlattenMetaFd(ex, fd, NULL, rel, meta) < 0) {
        close(fd);
        return -1;
    }
    hashifyFlattenOvlFilter(meta, ovl);
    return fd;
}


/* A lower entry no upper entry hides. */
static int
hashifyFlattenLower(hashifyFlatten *fl, int lowerfd, const char *name,
                    int destfd, const char *rel, unsigned int depth)
{
    hashifyExtract *ex = fl->ex;
    vserverHashifyMeta meta = { 0 };
    hashifyOvlState ovl;
    struct stat st;
    int fd = -1;
    int ret = -1;

    if (fstatat(lowerfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return hashifyExtractFailErrno(ex, rel, errno, "cannot stat it in LOWER");
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0)
        return 0;               /* a whiteout hides even in the lowest layer */

    if (S_ISDIR(st.st_mode)) {
        if ((fd = hashifyFlattenOpenDir(ex, lowerfd, name, "LOWER", rel,
                                        &meta, &ovl)) < 0)
            return -1;
        return hashifyFlattenSubdir(fl, fd, -1, rel, &meta, depth);
    }
    if (!S_ISREG(st.st_mode))
        return hashifyFlattenNode(fl, lowerfd, name, &st, false, destfd, rel);

    /* the template's inode itself: no copy */
    if (linkat(lowerfd, name, destfd, name, 0) == 0) {
        ex->filesShared++;
        return 0;
    }
    if (errno != EXDEV && errno != EMLINK)
        return hashifyExtractFailErrno(ex, rel, errno,
                                       "cannot link it to the lower file");
    /* another file system, or a full link count: a copy of its own */
    if ((fd = hashifyFlattenOpen(lowerfd, name, false)) < 0 || fstat(fd, &st) < 0) {
        hashifyExtractFailErrno(ex, rel, errno, "cannot open it in LOWER");
        goto cleanup;
    }
    if (hashifyFlattenMetaFd(ex, fd, &st, rel, &meta) < 0)
        goto cleanup;
    hashifyFlattenOvlFilter(&meta, &ovl);
    ret = hashifyFlattenCopy(fl, fd, &meta, destfd, name, rel);

 cleanup:
    if (fd >= 0)
        close(fd);
    vserverHashifyMetaClear(&meta);
    return ret;
}


/* An upper entry; @lowerIsDir: a lower directory of the same name shows
 * through (not hidden by an opaque parent). */
static int
hashifyFlattenUpper(hashifyFlatten *fl, int lowerfd, int upperfd,
                    const char *name, bool lowerIsDir, int destfd,
                    const char *rel, unsigned int depth)
{
    hashifyExtract *ex = fl->ex;
    vserverHashifyMeta meta = { 0 };
    hashifyOvlState ovl;
    struct stat st;
    int ufd;
    int lfd = -1;

    if (fstatat(upperfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return hashifyExtractFailErrno(ex, rel, errno, "cannot stat it in UPPER");
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0)
        return 0;               /* whiteout: the lower name is deleted */
    if (S_ISREG(st.st_mode))
        return hashifyFlattenUpperFile(fl, upperfd, name, &st, destfd, rel);
    if (!S_ISDIR(st.st_mode))
        return hashifyFlattenNode(fl, upperfd, name, &st, true, destfd, rel);

    if ((ufd = hashifyFlattenOpenDir(ex, upperfd, name, "UPPER", rel,
                                     &meta, &ovl)) < 0)
        return -1;
    if (ovl.redirect) {
        close(ufd);
        vserverHashifyMetaClear(&meta);
        return hashifyExtractFail(ex, rel, "the directory was renamed with "
                                  "overlayfs's redirect_dir "
                                  "(trusted.overlay.redirect): not supported");
    }
    /* merged with the lower directory unless opaque */
    if (lowerIsDir && !ovl.opaque) {
        if ((lfd = hashifyFlattenOpen(lowerfd, name, true)) < 0) {
            close(ufd);
            vserverHashifyMetaClear(&meta);
            return hashifyExtractFailErrno(ex, rel, errno, "cannot open it in LOWER");
        }
    }
    return hashifyFlattenSubdir(fl, lfd, ufd, rel, &meta, depth);
}


/* Merge the directories open as @lowerfd and @upperfd (-1: none; both
 * taken over) into @destfd. */
static int
hashifyFlattenDir(hashifyFlatten *fl, int lowerfd, int upperfd, int destfd,
                  const char *rel, unsigned int depth)
{
    hashifyExtract *ex = fl->ex;
    hashifyFlattenName *unames = NULL;
    hashifyFlattenName *lnames = NULL;
    size_t nu = 0;
    size_t nl = 0;
    size_t i;
    int ret = -1;

    if (upperfd >= 0 && hashifyFlattenReadDir(ex, upperfd, rel, &unames, &nu) < 0)
        goto cleanup;
    if (lowerfd >= 0 && hashifyFlattenReadDir(ex, lowerfd, rel, &lnames, &nl) < 0)
        goto cleanup;
    if (nu)
        qsort(unames, nu, sizeof(*unames), hashifyFlattenNameCompare);

    for (i = 0; i < nl; i++) {
        hashifyFlattenName key = { .name = lnames[i].name };
        char *child;
        int rc;

        if (hashifyNameIsTmp(lnames[i].name))
            continue;
        if (nu && bsearch(&key, unames, nu, sizeof(*unames),
                          hashifyFlattenNameCompare))
            continue;           /* the upper entry decides */
        if (!(child = hashifyFlattenJoin(rel, lnames[i].name))) {
            hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot merge the directory");
            goto cleanup;
        }
        rc = hashifyFlattenLower(fl, lowerfd, lnames[i].name, destfd, child, depth);
        free(child);
        if (rc < 0)
            goto cleanup;
        ex->entries++;
        hashifyExtractProgress(ex, false);
    }

    for (i = 0; i < nu; i++) {
        bool lowerIsDir = false;
        char *child;
        int rc;

        if (!(child = hashifyFlattenJoin(rel, unames[i].name))) {
            hashifyExtractFailErrno(ex, rel, ENOMEM, "cannot merge the directory");
            goto cleanup;
        }
        if (hashifyNameIsTmp(unames[i].name)) {
            hashifyExtractWarn(ex, child, "left out: the store's temporary names "
                               "are never copied");
            free(child);
            continue;
        }
        if (lowerfd >= 0) {
            struct stat lst;

            lowerIsDir = fstatat(lowerfd, unames[i].name, &lst,
                                 AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(lst.st_mode);
        }
        rc = hashifyFlattenUpper(fl, lowerfd, upperfd, unames[i].name, lowerIsDir,
                                 destfd, child, depth);
        free(child);
        if (rc < 0)
            goto cleanup;
        ex->entries++;
        hashifyExtractProgress(ex, false);
    }
    ret = 0;

 cleanup:
    hashifyFlattenNamesFree(unames, nu);
    hashifyFlattenNamesFree(lnames, nl);
    if (lowerfd >= 0)
        close(lowerfd);
    if (upperfd >= 0)
        close(upperfd);
    return ret;
}


int
vserverHashifyCmdFlatten(int argc, char **argv)
{
    hashifyExtract ex;
    hashifyFlatten fl = { .ex = &ex };
    vserverHashifyMeta meta = { 0 };
    hashifyOvlState ovl;
    char **pos;
    int lowerfd = -1;
    int upperfd = -1;
    bool ok = false;
    int rc;

    hashifyExtractInit(&ex, "flatten");
    /* LOWER is a template, whose device nodes passed the pool's rule */
    ex.devices = HASHIFY_DEVICES_ALLOW;
    ex.limitWhat = "the guest's own files come to";
    if ((rc = hashifyExtractParseArgs(&ex, argc, argv, 3, &pos,
                                      hashifyFlattenUsage)) != 0) {
        hashifyExtractFree(&ex);
        return rc < 0 ? 2 : 0;
    }
    if ((lowerfd = open(pos[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        hashifyExtractFailErrno(&ex, NULL, errno, "cannot open LOWER '%s'", pos[0]);
        goto done;
    }
    if ((upperfd = open(pos[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        hashifyExtractFailErrno(&ex, NULL, errno, "cannot open UPPER '%s'", pos[1]);
        goto done;
    }
    if (!(fl.buf = malloc(HASHIFY_FLATTEN_BUF))) {
        hashifyExtractFailErrno(&ex, NULL, ENOMEM, "cannot start");
        goto done;
    }
    if (hashifyExtractOpen(&ex, pos[2]) < 0)
        goto done;

    /* the merged root is the upper root */
    if (hashifyFlattenMetaFd(&ex, upperfd, NULL, ".", &meta) < 0)
        goto done;
    hashifyFlattenOvlFilter(&meta, &ovl);
    if (ovl.opaque) {
        close(lowerfd);
        lowerfd = -1;
    }
    if (hashifyExtractDir(&ex, "", ".", &meta) < 0)
        goto done;
    rc = hashifyFlattenDir(&fl, lowerfd, upperfd, ex.destfd, "", 0);
    lowerfd = upperfd = -1;
    if (rc < 0)
        goto done;
    if (hashifyExtractFinishDirs(&ex) < 0)
        goto done;
    ok = true;

 done:
    vserverHashifyMetaClear(&meta);
    if (lowerfd >= 0)
        close(lowerfd);
    if (upperfd >= 0)
        close(upperfd);
    rc = hashifyExtractDone(&ex, ok);
    hashifyInoMapClear(&fl.links);
    free(fl.buf);
    hashifyExtractFree(&ex);
    return rc;
}
