/*
 * vserver_hashify_store.c: the object store and linking files into it
 *
 * Objects live in ROOT/.hash/XX/<62 hex digits>; the store directory is
 * mode 0700 so that the store does not open a second way to files whose
 * tree directories keep others out.  Nothing here ever removes or
 * overwrites a tree name except by rename(2) of a fresh hardlink of the
 * object over it: at every instant the name is the old file or the object.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "vserver_hashify_priv.h"

static const char *const hashifySkipReasons[VSERVER_HASHIFY_SKIP_LAST] = {
    [VSERVER_HASHIFY_SKIP_NONE] = "none",
    [VSERVER_HASHIFY_SKIP_SMALL] = "too small",
    [VSERVER_HASHIFY_SKIP_SPECIAL] = "not a regular file",
    [VSERVER_HASHIFY_SKIP_EXCLUDED] = "excluded",
    [VSERVER_HASHIFY_SKIP_OTHER_FS] = "on another file system",
    [VSERVER_HASHIFY_SKIP_OUTSIDE_LINKS] = "has hardlinks outside the trees",
    [VSERVER_HASHIFY_SKIP_CHANGED] = "changed while hashed",
    [VSERVER_HASHIFY_SKIP_MISMATCH] = "store object was modified",
    [VSERVER_HASHIFY_SKIP_LINK_LIMIT] = "link count limit reached",
};


const char *
vserverHashifySkipReasonString(vserverHashifySkipReason reason)
{
    if ((unsigned int)reason >= VSERVER_HASHIFY_SKIP_LAST)
        return "unknown";
    return hashifySkipReasons[reason];
}


void
vserverHashifySettingsInit(vserverHashifySettings *settings)
{
    memset(settings, 0, sizeof(*settings));
    settings->keyMtime = true;
    settings->minSize = 1;
    settings->excludes = NULL;
    settings->threads = 0;
    settings->outsideLinks = VSERVER_HASHIFY_OUTSIDE_SKIP;
    settings->compareContent = true;
}


/* --- open / close */

void
vserverHashifyStoreClose(vserverHashifyStore *store)
{
    size_t i;

    if (!store)
        return;
    for (i = 0; i < HASHIFY_FANOUT; i++) {
        if (store->subfd[i] >= 0)
            close(store->subfd[i]);
    }
    if (store->lockfd >= 0)
        close(store->lockfd);   /* drops the flock */
    if (store->hashfd >= 0)
        close(store->hashfd);
    if (store->rootfd >= 0)
        close(store->rootfd);
    if (store->excludeList) {
        for (i = 0; store->excludeList[i]; i++)
            free(store->excludeList[i]);
        free(store->excludeList);
    }
    hashifyExcludesFree(&store->excludes);
    EVP_MD_free((EVP_MD *)store->md);
    pthread_mutex_destroy(&store->subLock);
    free(store->root);
    free(store);
}


static int
hashifyStoreCopySettings(vserverHashifyStore *store,
                         const vserverHashifySettings *settings,
                         vserverHashifyError *err)
{
    size_t n = 0;
    size_t i;

    if (settings)
        store->settings = *settings;
    else
        vserverHashifySettingsInit(&store->settings);
    if ((unsigned int)store->settings.outsideLinks >= VSERVER_HASHIFY_OUTSIDE_LAST)
        return hashifyError(err, EINVAL, "invalid outside-links policy %d",
                            store->settings.outsideLinks);
    if (store->settings.minSize == 0)
        store->settings.minSize = 1;

    if (hashifyExcludesCompile(store->settings.excludes, &store->excludes,
                               err) < 0)
        return -1;
    if (!store->settings.excludes)
        return 0;
    while (store->settings.excludes[n])
        n++;
    if (!(store->excludeList = calloc(n + 1, sizeof(char *))))
        return hashifyError(err, ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        if (!(store->excludeList[i] = strdup(store->settings.excludes[i])))
            return hashifyError(err, ENOMEM, "out of memory");
    }
    store->settings.excludes = (const char *const *)store->excludeList;
    return 0;
}


vserverHashifyStore *
vserverHashifyStoreOpen(const char *root,
                        const vserverHashifySettings *settings,
                        unsigned int flags,
                        vserverHashifyError *err)
{
    vserverHashifyStore *store;
    struct stat st;
    size_t i;

    if (!(store = calloc(1, sizeof(*store)))) {
        hashifyError(err, ENOMEM, "out of memory");
        return NULL;
    }
    store->rootfd = store->hashfd = store->lockfd = -1;
    for (i = 0; i < HASHIFY_FANOUT; i++)
        store->subfd[i] = -1;
    pthread_mutex_init(&store->subLock, NULL);
    store->flags = flags;
    if (flags & VSERVER_HASHIFY_STORE_READONLY)
        store->flags &= ~VSERVER_HASHIFY_STORE_CREATE;

    if (hashifyStoreCopySettings(store, settings, err) < 0)
        goto error;
    if (!(store->root = strdup(root))) {
        hashifyError(err, ENOMEM, "out of memory");
        goto error;
    }
    if (!(store->md = EVP_MD_fetch(NULL, "SHA256", NULL))) {
        hashifyError(err, ENOSYS, "OpenSSL has no SHA-256");
        goto error;
    }

    store->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (store->rootfd < 0 || fstat(store->rootfd, &st) < 0) {
        hashifyError(err, errno, "cannot open store root '%s'", root);
        goto error;
    }
    store->dev = st.st_dev;

    store->hashfd = openat(store->rootfd, VSERVER_HASHIFY_DIR,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (store->hashfd < 0 && errno == ENOENT &&
        (store->flags & VSERVER_HASHIFY_STORE_CREATE)) {
        if (mkdirat(store->rootfd, VSERVER_HASHIFY_DIR, 0700) == 0) {
            /* the root often is a tree root too: it keeps its mtime */
            struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, st.st_mtim };
            futimens(store->rootfd, times);
        } else if (errno != EEXIST) {
            hashifyError(err, errno, "cannot create store '%s/%s'",
                         root, VSERVER_HASHIFY_DIR);
            goto error;
        }
        store->hashfd = openat(store->rootfd, VSERVER_HASHIFY_DIR,
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (store->hashfd < 0) {
        if (errno == ENOENT && (store->flags & VSERVER_HASHIFY_STORE_READONLY))
            return store;       /* an empty store, as far as a dry run sees */
        hashifyError(err, errno, "cannot open store '%s/%s'",
                     root, VSERVER_HASHIFY_DIR);
        goto error;
    }
    if (fstat(store->hashfd, &st) < 0) {
        hashifyError(err, errno, "cannot stat '%s/%s'", root, VSERVER_HASHIFY_DIR);
        goto error;
    }
    if (st.st_dev != store->dev) {
        hashifyError(err, EXDEV,
                     "store '%s/%s' is not on the file system of '%s'",
                     root, VSERVER_HASHIFY_DIR, root);
        goto error;
    }
    store->hashIno = st.st_ino;

    if (store->flags & VSERVER_HASHIFY_STORE_READONLY)
        store->lockfd = openat(store->hashfd, VSERVER_HASHIFY_LOCK,
                               O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    else
        store->lockfd = openat(store->hashfd, VSERVER_HASHIFY_LOCK,
                               O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (store->lockfd < 0 &&
        !(errno == ENOENT && (store->flags & VSERVER_HASHIFY_STORE_READONLY))) {
        hashifyError(err, errno, "cannot open '%s/%s/%s'",
                     root, VSERVER_HASHIFY_DIR, VSERVER_HASHIFY_LOCK);
        goto error;
    }
    /* shared: any number of users; garbage collection wants it alone */
    while (store->lockfd >= 0 && flock(store->lockfd, LOCK_SH) < 0) {
        if (errno != EINTR) {
            hashifyError(err, errno, "cannot lock store '%s/%s'",
                         root, VSERVER_HASHIFY_DIR);
            goto error;
        }
    }
    return store;

 error:
    vserverHashifyStoreClose(store);
    return NULL;
}


const vserverHashifySettings *
vserverHashifyStoreSettings(const vserverHashifyStore *store)
{
    return &store->settings;
}


dev_t
vserverHashifyStoreDev(const vserverHashifyStore *store)
{
    return store->dev;
}


/* The fan-out directory @idx; created on demand unless @create is false
 * or the store is read-only.  -1 with ENOENT when it does not exist. */
static int
hashifyStoreSubdir(vserverHashifyStore *store, unsigned int idx, bool create)
{
    char name[8];
    int fd = __atomic_load_n(&store->subfd[idx], __ATOMIC_ACQUIRE);

    if (fd >= 0)
        return fd;
    if (store->hashfd < 0) {
        errno = ENOENT;
        return -1;
    }
    snprintf(name, sizeof(name), "%02x", idx);
    pthread_mutex_lock(&store->subLock);
    if ((fd = store->subfd[idx]) >= 0)
        goto out;
    fd = openat(store->hashfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create &&
        !(store->flags & VSERVER_HASHIFY_STORE_READONLY)) {
        if (mkdirat(store->hashfd, name, 0700) == 0 || errno == EEXIST)
            fd = openat(store->hashfd, name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd >= 0)
        __atomic_store_n(&store->subfd[idx], fd, __ATOMIC_RELEASE);
 out:
    pthread_mutex_unlock(&store->subLock);
    return fd;
}


static bool
hashifyIsObjectName(const char *name)
{
    size_t i;

    for (i = 0; i < HASHIFY_OBJ_NAME_LEN; i++) {
        if (!((name[i] >= '0' && name[i] <= '9') ||
              (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    }
    return name[HASHIFY_OBJ_NAME_LEN] == '\0';
}


/* Call @cb for every entry of every fan-out directory; @cb returns 0, or
 * -1 to stop with an error it has reported. */
typedef int (*hashifyStoreEntryFunc)(vserverHashifyStore *store, int subfd,
                                     unsigned int idx, const char *name,
                                     void *opaque, vserverHashifyError *err);

static int
hashifyStoreForEach(vserverHashifyStore *store, hashifyStoreEntryFunc cb,
                    void *opaque, vserverHashifyError *err)
{
    unsigned int idx;

    for (idx = 0; idx < HASHIFY_FANOUT; idx++) {
        int subfd = hashifyStoreSubdir(store, idx, false);
        struct dirent *de;
        DIR *dir;
        int fd;

        if (subfd < 0) {
            if (errno == ENOENT)
                continue;
            return hashifyError(err, errno, "cannot open '%s/%s/%02x'",
                                store->root, VSERVER_HASHIFY_DIR, idx);
        }
        /* a fresh open file description: readdir offsets are not shared */
        fd = openat(subfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || !(dir = fdopendir(fd))) {
            hashifyCloseKeepErrno(fd);
            return hashifyError(err, errno, "cannot read '%s/%s/%02x'",
                                store->root, VSERVER_HASHIFY_DIR, idx);
        }
        errno = 0;
        while ((de = readdir(dir))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if (cb(store, subfd, idx, de->d_name, opaque, err) < 0) {
                closedir(dir);
                return -1;
            }
            errno = 0;
        }
        if (errno != 0) {
            int save = errno;
            closedir(dir);
            return hashifyError(err, save, "cannot read '%s/%s/%02x'",
                                store->root, VSERVER_HASHIFY_DIR, idx);
        }
        closedir(dir);
    }
    return 0;
}


/* lstat an entry of the store's subdirectory @subfd (number @idx): 1, 0
 * when it is gone meanwhile, -1 on error. */
static int
hashifyStoreStatEntry(vserverHashifyStore *store, int subfd,
                      unsigned int idx, const char *name,
                      struct stat *st, vserverHashifyError *err)
{
    if (fstatat(subfd, name, st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return hashifyError(err, errno, "cannot stat '%s/%s/%02x/%s'",
                            store->root, VSERVER_HASHIFY_DIR, idx, name);
    }
    return 1;
}


static int
hashifyStoreInoCb(vserverHashifyStore *store, int subfd,
                  unsigned int idx, const char *name,
                  void *opaque, vserverHashifyError *err)
{
    hashifyInoSet *set = opaque;
    struct stat st;
    int rc;

    if (!hashifyIsObjectName(name))
        return 0;
    if ((rc = hashifyStoreStatEntry(store, subfd, idx, name, &st, err)) <= 0)
        return rc;
    if (S_ISREG(st.st_mode) && hashifyInoSetAdd(set, st.st_ino) < 0)
        return hashifyError(err, ENOMEM, "out of memory");
    return 0;
}


int
hashifyStoreLoadInos(vserverHashifyStore *store, hashifyInoSet *set,
                     vserverHashifyError *err)
{
    return hashifyStoreForEach(store, hashifyStoreInoCb, set, err);
}


/* --- linking */

/* Give @dirfd/@name the object open as @ofd instead of the inode @st
 * describes: link the object to a temporary name next to it, check that
 * the name still is that unchanged inode, rename over it. */
static int
hashifyReplaceName(int ofd, int dirfd, const char *name,
                   const struct stat *st, vserverHashifySkipReason *reason)
{
    char tmp[HASHIFY_TMP_NAME_LEN + 1];
    struct stat cur;
    int tries;

    for (tries = 0;; tries++) {
        hashifyTmpName(tmp);
        if (hashifyLinkFd(ofd, dirfd, tmp) == 0)
            break;
        if (errno == EMLINK) {
            *reason = VSERVER_HASHIFY_SKIP_LINK_LIMIT;
            return 0;
        }
        if (errno == EXDEV) {
            /* a bind mount of the same file system */
            *reason = VSERVER_HASHIFY_SKIP_OTHER_FS;
            return 0;
        }
        if (errno != EEXIST || tries > 16)
            return -1;
    }

    if (fstatat(dirfd, name, &cur, AT_SYMLINK_NOFOLLOW) < 0 ||
        !hashifyStatUnchanged(st, &cur)) {
        unlinkat(dirfd, tmp, 0);
        *reason = VSERVER_HASHIFY_SKIP_CHANGED;
        return 0;
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int save = errno;
        unlinkat(dirfd, tmp, 0);
        errno = save;
        return -1;
    }
    /* rename() of two names of one inode does nothing and keeps both; that
     * only happens if someone linked the object here meanwhile */
    unlinkat(dirfd, tmp, 0);
    return 1;
}


/* 1 if the first @size bytes of @fd and @ofd are equal, 0 if not, -1 */
static int
hashifySameContent(hashifyScratch *scratch, int fd, int ofd, uint64_t size)
{
    uint64_t off = 0;

    if (!scratch->buf2 && !(scratch->buf2 = malloc(scratch->buflen)))
        return -1;
    while (off < size) {
        size_t want = size - off < scratch->buflen ? size - off : scratch->buflen;
        ssize_t a = pread(fd, scratch->buf, want, off);
        ssize_t b;

        if (a <= 0)
            return a < 0 ? -1 : 0;
        b = pread(ofd, scratch->buf2, a, off);
        if (b < 0)
            return -1;
        if (b != a || memcmp(scratch->buf, scratch->buf2, a) != 0)
            return 0;
        off += a;
    }
    return 1;
}


/* Link every name to the existing object @subfd/@objname.  Returns 1 when
 * the object vanished (the caller looks again), 0 or -1. */
static int
hashifyLinkToObject(vserverHashifyStore *store, hashifyScratch *scratch,
                    const hashifyLinkCtx *lctx, int subfd, const char *hex,
                    int fd, const struct stat *st, const hashifyBuf *header,
                    hashifyLinkName *names, size_t nnames,
                    vserverHashifyLinkResult *result,
                    vserverHashifyError *err)
{
    const char *objname = hex + 2;
    vserverHashifyMeta ometa = { 0 };
    vserverHashifySkipReason reason = VSERVER_HASHIFY_SKIP_NONE;
    struct stat ost;
    size_t replaced = 0;
    size_t i;
    int ofd;
    int ret = -1;

    if ((ofd = hashifyOpenFile(subfd, objname)) < 0) {
        if (errno == ENOENT)
            return 1;
        return hashifyError(err, errno, "cannot open object %s", hex);
    }
    if (fstat(ofd, &ost) < 0) {
        hashifyError(err, errno, "cannot stat object %s", hex);
        goto cleanup;
    }
    if (ost.st_ino == st->st_ino && ost.st_dev == st->st_dev) {
        result->outcome = VSERVER_HASHIFY_LINK_ALREADY;
        ret = 0;
        goto cleanup;
    }
    /* An object is only shared as it is: whatever changed it through one
     * of its names (chmod, setfattr, a write with mtime keyed) shows here. */
    if (!S_ISREG(ost.st_mode) ||
        vserverHashifyMetaFromFd(ofd, &ost, &ometa, NULL) < 0 ||
        hashifyMetaSerialise(&ometa, store->settings.keyMtime,
                             &scratch->objHeader) < 0 ||
        scratch->objHeader.len != header->len ||
        memcmp(scratch->objHeader.data, header->data, header->len) != 0) {
        result->outcome = VSERVER_HASHIFY_LINK_SKIPPED;
        result->reason = VSERVER_HASHIFY_SKIP_MISMATCH;
        ret = 0;
        goto cleanup;
    }
    if (store->settings.compareContent) {
        int same = hashifySameContent(scratch, fd, ofd, st->st_size);

        if (same < 0) {
            hashifyError(err, errno, "cannot compare with object %s", hex);
            goto cleanup;
        }
        if (same == 0) {
            result->outcome = VSERVER_HASHIFY_LINK_SKIPPED;
            result->reason = VSERVER_HASHIFY_SKIP_MISMATCH;
            ret = 0;
            goto cleanup;
        }
    }

    if (lctx->dryRun) {
        result->outcome = VSERVER_HASHIFY_LINK_LINKED;
        ret = 0;
        goto cleanup;
    }

    for (i = 0; i < nnames; i++) {
        int rc = hashifyReplaceName(ofd, names[i].dirfd, names[i].name, st,
                                    &reason);
        if (rc < 0) {
            hashifyError(err, errno, "cannot link '%s' to object %s",
                         names[i].name, hex);
            goto partial;
        }
        if (rc == 0)
            break;
        names[i].replaced = true;
        replaced++;
    }
    ret = 0;
 partial:
    if (replaced > 0) {
        result->outcome = VSERVER_HASHIFY_LINK_LINKED;
        result->reason = reason;
    } else if (ret == 0) {
        result->outcome = VSERVER_HASHIFY_LINK_SKIPPED;
        result->reason = reason;
    }

 cleanup:
    vserverHashifyMetaClear(&ometa);
    close(ofd);
    return ret;
}


int
hashifyStoreLinkInode(vserverHashifyStore *store, hashifyScratch *scratch,
                      const hashifyLinkCtx *lctx,
                      int fd, const struct stat *st,
                      const hashifyBuf *header,
                      const vserverHashifyKey *key,
                      hashifyLinkName *names, size_t nnames,
                      vserverHashifyLinkResult *result,
                      vserverHashifyError *err)
{
    char hex[VSERVER_HASHIFY_KEY_HEXLEN + 1];
    const char *objname = hex + 2;
    struct stat ost;
    int subfd;
    int attempt;

    result->key = *key;
    result->size = st->st_size;
    result->outcome = VSERVER_HASHIFY_LINK_SKIPPED;
    result->reason = VSERVER_HASHIFY_SKIP_NONE;
    vserverHashifyKeyFormat(key, hex);

    subfd = hashifyStoreSubdir(store, key->bytes[0], !lctx->dryRun);
    if (subfd < 0 && !(errno == ENOENT &&
                       (lctx->dryRun || (store->flags & VSERVER_HASHIFY_STORE_READONLY))))
        return hashifyError(err, errno, "cannot open '%s/%s/%.2s'",
                            store->root, VSERVER_HASHIFY_DIR, hex);

    for (attempt = 0; attempt < 8; attempt++) {
        int rc;

        if (subfd >= 0 && fstatat(subfd, objname, &ost, AT_SYMLINK_NOFOLLOW) == 0) {
            if (ost.st_ino == st->st_ino && ost.st_dev == st->st_dev) {
                result->outcome = VSERVER_HASHIFY_LINK_ALREADY;
                return 0;
            }
            rc = hashifyLinkToObject(store, scratch, lctx, subfd, hex, fd, st,
                                     header, names, nnames, result, err);
            if (rc <= 0)
                return rc;
            continue;           /* the object went away: look again */
        }
        if (subfd >= 0 && errno != ENOENT)
            return hashifyError(err, errno, "cannot stat object %s", hex);

        if (lctx->dryRun) {
            if (lctx->dryKeys) {
                rc = hashifyKeySetAdd(lctx->dryKeys, key);
                if (rc < 0)
                    return hashifyError(err, ENOMEM, "out of memory");
                if (rc == 0) {
                    result->outcome = VSERVER_HASHIFY_LINK_LINKED;
                    return 0;
                }
            }
            result->outcome = VSERVER_HASHIFY_LINK_CREATED;
            return 0;
        }
        if (store->flags & VSERVER_HASHIFY_STORE_READONLY)
            return hashifyError(err, EROFS, "store '%s' is open read-only",
                                store->root);

        /* The file itself becomes the object: link() never replaces, so a
         * concurrent creator of the same object makes this fail (EEXIST)
         * and the next round links to theirs. */
        if (hashifyLinkFd(fd, subfd, objname) == 0) {
            struct stat now;

            if (fstat(fd, &now) < 0 || !hashifyStatUnchanged(st, &now)) {
                /* written between hashing and linking: withdraw it */
                if (fstatat(subfd, objname, &ost, AT_SYMLINK_NOFOLLOW) == 0 &&
                    ost.st_ino == st->st_ino)
                    unlinkat(subfd, objname, 0);
                result->reason = VSERVER_HASHIFY_SKIP_CHANGED;
                return 0;
            }
            if (lctx->storeInos && hashifyInoSetAdd(lctx->storeInos, st->st_ino) < 0)
                return hashifyError(err, ENOMEM, "out of memory");
            result->outcome = VSERVER_HASHIFY_LINK_CREATED;
            return 0;
        }
        switch (errno) {
        case EEXIST:
            continue;
        case EMLINK:
            result->reason = VSERVER_HASHIFY_SKIP_LINK_LIMIT;
            return 0;
        case ENOENT:
            /* the file lost its last name meanwhile */
            result->reason = VSERVER_HASHIFY_SKIP_CHANGED;
            return 0;
        default:
            return hashifyError(err, errno, "cannot create object %s", hex);
        }
    }
    return hashifyError(err, EAGAIN, "object %s keeps changing", hex);
}


/* --- single files */

/* 1 if the object for @key is the inode @st describes */
static int
hashifyStoreIsObject(vserverHashifyStore *store, const vserverHashifyKey *key,
                     const struct stat *st)
{
    char hex[VSERVER_HASHIFY_KEY_HEXLEN + 1];
    struct stat ost;
    int subfd;

    vserverHashifyKeyFormat(key, hex);
    if ((subfd = hashifyStoreSubdir(store, key->bytes[0], false)) < 0)
        return 0;
    if (fstatat(subfd, hex + 2, &ost, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    return ost.st_ino == st->st_ino && ost.st_dev == st->st_dev;
}


static int
hashifyLinkOpen(vserverHashifyStore *store, hashifyScratch *scratch,
                int dirfd, const char *name, int fd, struct stat *st,
                const vserverHashifyKey *key, unsigned int flags,
                vserverHashifyLinkResult *result, vserverHashifyError *err)
{
    hashifyLinkName lname = { .dirfd = dirfd, .name = name };
    hashifyLinkCtx lctx = { .dryRun = !!(flags & VSERVER_HASHIFY_LINK_DRY_RUN) };

    if (st->st_nlink > 1 && !(flags & VSERVER_HASHIFY_LINK_ANY_NLINK)) {
        result->key = *key;
        result->size = st->st_size;
        if (hashifyStoreIsObject(store, key, st)) {
            result->outcome = VSERVER_HASHIFY_LINK_ALREADY;
        } else {
            result->outcome = VSERVER_HASHIFY_LINK_SKIPPED;
            result->reason = VSERVER_HASHIFY_SKIP_OUTSIDE_LINKS;
        }
        return 0;
    }
    return hashifyStoreLinkInode(store, scratch, &lctx, fd, st,
                                 &scratch->header, key, &lname, 1, result, err);
}


static void
hashifyResultSkip(vserverHashifyLinkResult *result, vserverHashifySkipReason reason,
                  const struct stat *st)
{
    memset(result, 0, sizeof(*result));
    result->outcome = VSERVER_HASHIFY_LINK_SKIPPED;
    result->reason = reason;
    result->size = st ? (uint64_t)st->st_size : 0;
}


int
vserverHashifyStoreLinkAt(vserverHashifyStore *store,
                          int dirfd, const char *name, int fd,
                          const vserverHashifyKey *key,
                          const vserverHashifyMeta *meta,
                          unsigned int flags,
                          vserverHashifyLinkResult *result,
                          vserverHashifyError *err)
{
    hashifyScratch scratch;
    hashifyBuf want = { 0 };
    vserverHashifyMeta actual = { 0 };
    struct stat st;
    struct stat named;
    int ownfd = -1;
    int ret = -1;

    memset(result, 0, sizeof(*result));
    if (hashifyScratchInit(&scratch) < 0)
        return hashifyError(err, ENOMEM, "out of memory");
    if (fd < 0) {
        if ((fd = ownfd = hashifyOpenFile(dirfd, name)) < 0) {
            hashifyError(err, errno, "cannot open '%s'", name);
            goto cleanup;
        }
    }
    if (fstat(fd, &st) < 0 ||
        fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) < 0) {
        hashifyError(err, errno, "cannot stat '%s'", name);
        goto cleanup;
    }
    ret = 0;
    if (!S_ISREG(st.st_mode)) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_SPECIAL, &st);
        goto cleanup;
    }
    if (st.st_dev != store->dev) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_OTHER_FS, &st);
        goto cleanup;
    }
    if (named.st_ino != st.st_ino || named.st_dev != st.st_dev) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_CHANGED, &st);
        goto cleanup;
    }
    /* the key covers @meta: the file on disk must be exactly that */
    if (vserverHashifyMetaFromFd(fd, &st, &actual, err) < 0 ||
        hashifyMetaSerialise(&actual, store->settings.keyMtime,
                             &scratch.header) < 0 ||
        hashifyMetaSerialise(meta, store->settings.keyMtime, &want) < 0) {
        if (!err || !err->message)
            hashifyError(err, errno, "cannot read the metadata of '%s'", name);
        ret = -1;
        goto cleanup;
    }
    if (want.len != scratch.header.len ||
        memcmp(want.data, scratch.header.data, want.len) != 0) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_CHANGED, &st);
        goto cleanup;
    }
    ret = hashifyLinkOpen(store, &scratch, dirfd, name, fd, &st, key, flags,
                          result, err);

 cleanup:
    vserverHashifyMetaClear(&actual);
    hashifyBufFree(&want);
    hashifyCloseKeepErrno(ownfd);
    hashifyScratchFree(&scratch);
    return ret;
}


int
vserverHashifyLinkFile(vserverHashifyStore *store, const char *path,
                       unsigned int flags,
                       vserverHashifyLinkResult *result,
                       vserverHashifyError *err)
{
    hashifyScratch scratch;
    vserverHashifyKey key;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = NULL;
    struct stat st;
    struct stat fst;
    int dirfd = -1;
    int fd = -1;
    int ret = -1;

    memset(result, 0, sizeof(*result));
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return hashifyError(err, EINVAL, "'%s' does not name a file", path);
    if (hashifyScratchInit(&scratch) < 0)
        return hashifyError(err, ENOMEM, "out of memory");
    if (!(dir = slash ? (slash == path ? strdup("/") : strndup(path, slash - path))
                      : strdup("."))) {
        hashifyError(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        hashifyError(err, errno, "cannot open directory '%s'", dir);
        goto cleanup;
    }
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        hashifyError(err, errno, "cannot stat '%s'", path);
        goto cleanup;
    }
    ret = 0;
    if (!S_ISREG(st.st_mode)) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_SPECIAL, &st);
        goto cleanup;
    }
    if ((uint64_t)st.st_size < store->settings.minSize) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_SMALL, &st);
        goto cleanup;
    }
    if (st.st_dev != store->dev) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_OTHER_FS, &st);
        goto cleanup;
    }
    if ((fd = hashifyOpenFile(dirfd, name)) < 0 || fstat(fd, &fst) < 0) {
        ret = hashifyError(err, errno, "cannot open '%s'", path);
        goto cleanup;
    }
    if (fst.st_ino != st.st_ino || !S_ISREG(fst.st_mode)) {
        hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_CHANGED, &st);
        goto cleanup;
    }
    if (hashifyHashOpen(store, &scratch, fd, store->settings.keyMtime, &fst,
                        &key, NULL) < 0) {
        if (errno == ESTALE) {
            hashifyResultSkip(result, VSERVER_HASHIFY_SKIP_CHANGED, &st);
            goto cleanup;
        }
        ret = hashifyError(err, errno, "cannot hash '%s'", path);
        goto cleanup;
    }
    ret = hashifyLinkOpen(store, &scratch, dirfd, name, fd, &fst, &key, flags,
                          result, err);

 cleanup:
    hashifyCloseKeepErrno(fd);
    hashifyCloseKeepErrno(dirfd);
    free(dir);
    hashifyScratchFree(&scratch);
    return ret;
}


/* --- statistics */

static int
hashifyStoreStatCb(vserverHashifyStore *store, int subfd,
                   unsigned int idx, const char *name,
                   void *opaque, vserverHashifyError *err)
{
    vserverHashifyStoreStats *stats = opaque;
    struct stat st;
    int rc;

    if (!hashifyIsObjectName(name)) {
        stats->strayEntries++;
        return 0;
    }
    if ((rc = hashifyStoreStatEntry(store, subfd, idx, name, &st, err)) <= 0)
        return rc;
    if (!S_ISREG(st.st_mode)) {
        stats->strayEntries++;
        return 0;
    }
    stats->objects++;
    stats->bytesStored += st.st_size;
    stats->diskStored += (uint64_t)st.st_blocks * 512;
    stats->links += st.st_nlink - 1;
    if (st.st_nlink >= 2) {
        stats->bytesSaved += (uint64_t)(st.st_nlink - 2) * st.st_size;
    } else {
        stats->unreferenced++;
        stats->bytesUnreferenced += st.st_size;
    }
    return 0;
}


/* Names at the top of .hash/ other than the fan-out dirs and the lock */
static int
hashifyStoreTopLevel(vserverHashifyStore *store, bool removeTemps,
                     uint64_t *stray, uint64_t *removed,
                     vserverHashifyError *err)
{
    struct dirent *de;
    DIR *dir;
    int fd;

    if (store->hashfd < 0)
        return 0;
    fd = openat(store->hashfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(dir = fdopendir(fd))) {
        hashifyCloseKeepErrno(fd);
        return hashifyError(err, errno, "cannot read '%s/%s'",
                            store->root, VSERVER_HASHIFY_DIR);
    }
    while ((de = readdir(dir))) {
        const char *n = de->d_name;

        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
            strcmp(n, VSERVER_HASHIFY_LOCK) == 0)
            continue;
        if (strlen(n) == 2 && strspn(n, "0123456789abcdef") == 2)
            continue;
        if (removeTemps && hashifyIsTmpName(n) &&
            unlinkat(store->hashfd, n, 0) == 0) {
            (*removed)++;
            continue;
        }
        (*stray)++;
    }
    closedir(dir);
    return 0;
}


int
vserverHashifyStoreGetStats(vserverHashifyStore *store,
                            vserverHashifyStoreStats *stats,
                            vserverHashifyError *err)
{
    uint64_t unused = 0;

    memset(stats, 0, sizeof(*stats));
    if (hashifyStoreTopLevel(store, false, &stats->strayEntries, &unused, err) < 0)
        return -1;
    return hashifyStoreForEach(store, hashifyStoreStatCb, stats, err);
}


/* --- garbage collection */

typedef struct {
    unsigned int flags;
    hashifyScratch scratch;
    vserverHashifyGcStats *stats;
} hashifyGcCtx;


/* Does the object still hash to its name, under either key flavour? */
static int
hashifyGcVerify(vserverHashifyStore *store, hashifyGcCtx *gc, int subfd,
                unsigned int idx, const char *name, bool *good)
{
    char hex[VSERVER_HASHIFY_KEY_HEXLEN + 1];
    vserverHashifyKey key;
    struct stat st;
    int pass;
    int fd;

    *good = false;
    if ((fd = hashifyOpenFile(subfd, name)) < 0)
        return errno == ENOENT ? 0 : -1;
    for (pass = 0; pass < 2; pass++) {
        bool keyMtime = pass == 0 ? store->settings.keyMtime
                                  : !store->settings.keyMtime;

        if (fstat(fd, &st) < 0 ||
            hashifyHashOpen(store, &gc->scratch, fd, keyMtime, &st, &key,
                            NULL) < 0) {
            if (errno == ESTALE) {
                /* written to while verified: certainly not its key */
                break;
            }
            hashifyCloseKeepErrno(fd);
            return -1;
        }
        vserverHashifyKeyFormat(&key, hex);
        if ((unsigned int)key.bytes[0] == idx && strcmp(hex + 2, name) == 0) {
            *good = true;
            break;
        }
    }
    close(fd);
    return 0;
}


static int
hashifyGcCb(vserverHashifyStore *store, int subfd,
            unsigned int idx, const char *name,
            void *opaque, vserverHashifyError *err)
{
    hashifyGcCtx *gc = opaque;
    bool dry = gc->flags & VSERVER_HASHIFY_GC_DRY_RUN;
    struct stat st;
    int rc;

    if (hashifyIsTmpName(name)) {
        if (dry || unlinkat(subfd, name, 0) == 0)
            gc->stats->tempsRemoved++;
        return 0;
    }
    if (!hashifyIsObjectName(name))
        return 0;
    if ((rc = hashifyStoreStatEntry(store, subfd, idx, name, &st, err)) <= 0)
        return rc;
    if (!S_ISREG(st.st_mode))
        return 0;
    if (st.st_nlink == 1) {
        /* the store holds the only name: nothing uses it any more */
        if (!dry && unlinkat(subfd, name, 0) < 0 && errno != ENOENT)
            return hashifyError(err, errno, "cannot remove '%s/%s/%02x/%s'",
                                store->root, VSERVER_HASHIFY_DIR, idx, name);
        gc->stats->objectsRemoved++;
        gc->stats->bytesRemoved += st.st_size;
        return 0;
    }
    if (gc->flags & VSERVER_HASHIFY_GC_VERIFY) {
        bool good;

        if (hashifyGcVerify(store, gc, subfd, idx, name, &good) < 0)
            return hashifyError(err, errno, "cannot verify '%s/%s/%02x/%s'",
                                store->root, VSERVER_HASHIFY_DIR, idx, name);
        gc->stats->objectsVerified++;
        if (!good) {
            /* its tree names keep the inode; it is just no longer shared */
            if (!dry && unlinkat(subfd, name, 0) < 0 && errno != ENOENT)
                return hashifyError(err, errno, "cannot remove '%s/%s/%02x/%s'",
                                    store->root, VSERVER_HASHIFY_DIR, idx, name);
            gc->stats->badObjects++;
        }
    }
    return 0;
}


/* Take @lockfd (held shared) exclusively, trying for up to
 * HASHIFY_GC_LOCK_WAIT_MS while other users hold it: -1 with errno
 * (EWOULDBLOCK when they did not let go). */
#define HASHIFY_GC_LOCK_WAIT_MS 30000
static int
hashifyStoreLockAlone(int lockfd)
{
    const struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
    unsigned int waited;

    for (waited = 0; ; waited += 50) {
        if (flock(lockfd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (waited >= HASHIFY_GC_LOCK_WAIT_MS) {
            errno = EWOULDBLOCK;
            return -1;
        }
        nanosleep(&pause, NULL);
    }
}


int
vserverHashifyStoreGc(vserverHashifyStore *store,
                      const char *const *trees, size_t ntrees,
                      unsigned int flags,
                      vserverHashifyGcStats *stats,
                      vserverHashifyError *err)
{
    hashifyGcCtx gc = { .flags = flags, .stats = stats };
    hashifyInoSet inos = { 0 };
    bool dry = flags & VSERVER_HASHIFY_GC_DRY_RUN;
    uint64_t stray = 0;
    int ret = -1;

    memset(stats, 0, sizeof(*stats));
    if (!dry && (store->flags & VSERVER_HASHIFY_STORE_READONLY))
        return hashifyError(err, EROFS, "store '%s' is open read-only",
                            store->root);
    if (store->hashfd < 0)
        return 0;
    /* Alone, or not at all: a concurrent run could link an object between
     * our link count check and the unlink.  Other users come and go (a
     * count of the store, an import): they are waited for, a while. */
    if (store->lockfd >= 0 && !dry &&
        hashifyStoreLockAlone(store->lockfd) < 0) {
        int save = errno;

        while (flock(store->lockfd, LOCK_SH) < 0 && errno == EINTR)
            ;
        return hashifyError(err, save == EWOULDBLOCK ? EBUSY : save,
                            "store '%s/%s' is in use", store->root,
                            VSERVER_HASHIFY_DIR);
    }
    if (hashifyScratchInit(&gc.scratch) < 0) {
        hashifyError(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if (hashifyInoSetInit(&inos) < 0) {
        hashifyError(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if (ntrees > 0) {
        if (hashifyStoreLoadInos(store, &inos, err) < 0 ||
            hashifyTreesSweep(store, &inos, trees, ntrees, dry,
                              &stats->tempsRemoved, err) < 0)
            goto cleanup;
    }
    if (hashifyStoreTopLevel(store, !dry, &stray, &stats->tempsRemoved, err) < 0)
        goto cleanup;
    if (hashifyStoreForEach(store, hashifyGcCb, &gc, err) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    hashifyInoSetFree(&inos);
    hashifyScratchFree(&gc.scratch);
    if (store->lockfd >= 0 && !dry) {
        while (flock(store->lockfd, LOCK_SH) < 0 && errno == EINTR)
            ;
    }
    return ret;
}
