/*
 * vserver_hashify_tree.c: hashify whole trees with a pool of hashing threads
 *
 * The calling thread walks the trees (openat/fstatat below a directory fd,
 * never following symlinks, never leaving the store's file system) and
 * queues one item per inode; worker threads hash and link.  An inode with
 * one name is queued at once.  An inode with several names is held back
 * until every tree has been walked: only then is it known whether all its
 * names are inside the trees, and all of them are relinked together so
 * that existing hardlinks stay hardlinks.
 *
 * Workers reopen a name's directory from the tree root with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV): a directory
 * swapped for a symlink meanwhile cannot send them anywhere else.
 *
 * Renaming a link over a file changes its directory's mtime; the original
 * mtime of every directory changed that way is put back at the end.
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
#include <unistd.h>

#include "vserver_hashify_priv.h"

#define HASHIFY_QUEUE_MAX 4096
#define HASHIFY_MAX_DEPTH 4096

typedef struct _hashifyTree {
    char *path;                 /* as given, without trailing slashes */
    int rootfd;
    struct stat st;
} hashifyTree;

typedef struct _hashifyDir {
    hashifyTree *tree;
    char *relpath;              /* "" for the root, else "/a/b" */
    struct timespec mtime;
    int modified;               /* atomic: a name in it was replaced */
    struct _hashifyDir *next;
} hashifyDir;

typedef struct {
    hashifyDir *dir;
    char *name;
} hashifyItemName;

/* A leftover temporary name found by the walk */
typedef struct _hashifyTmp {
    hashifyDir *dir;
    char *name;
    struct _hashifyTmp *next;
} hashifyTmp;

typedef struct _hashifyItem {
    struct stat st;             /* as the walk saw it */
    bool outside;               /* has names outside the trees */
    size_t nnames;
    size_t alloc;
    hashifyItemName *names;
    struct _hashifyItem *next;
} hashifyItem;

typedef struct {
    vserverHashifyStore *store;
    const vserverHashifyRunOptions *opts;
    bool dryRun;
    bool sweepOnly;             /* gc: only remove leftover temporaries */

    vserverHashifyStats stats;  /* updated with atomics */
    hashifyInoSet *storeInos;
    hashifyKeySet dryKeys;

    hashifyTree *trees;
    size_t ntrees;
    hashifyDir *dirs;           /* every directory walked (walker only) */
    hashifyTmp *tmps;           /* leftover temporaries (walker only) */

    /* inodes with several names, by inode number (walker only) */
    hashifyItem **groups;
    size_t groupSize;
    size_t groupUsed;

    pthread_mutex_t qlock;
    pthread_cond_t qnotEmpty;
    pthread_cond_t qnotFull;
    pthread_cond_t qdone;
    hashifyItem *qhead;
    hashifyItem *qtail;
    size_t qlen;
    bool qclosed;
    unsigned int nworkers;
    unsigned int nfinished;
    pthread_t *workers;

    pthread_mutex_t cbLock;     /* one callback at a time */
    struct timespec lastProgress;
    unsigned int intervalMs;

    char *pathbuf;              /* walker's scratch path */
    size_t pathalloc;
    uint64_t entries;
} hashifyRun;


static bool
hashifyRunCancelled(hashifyRun *run)
{
    return run->opts && run->opts->cancel &&
           __atomic_load_n(run->opts->cancel, __ATOMIC_RELAXED);
}


/* "TREE/relpath/name" for messages; NULL on allocation failure */
static char *
hashifyFullPath(const hashifyTree *tree, const char *relpath, const char *name)
{
    const char *base = strcmp(tree->path, "/") == 0 ? "" : tree->path;

    if (name)
        return hashifyPrintf("%s%s/%s", base, relpath, name);
    return hashifyPrintf("%s%s", *base || *relpath ? base : "/", relpath);
}


static void
hashifyRunWarn(hashifyRun *run, const hashifyTree *tree, const char *relpath,
               const char *name, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
hashifyRunWarn(hashifyRun *run, const hashifyTree *tree, const char *relpath,
               const char *name, int errnum, const char *fmt, ...)
{
    char *path;
    char *msg = NULL;
    va_list ap;

    if (!run->opts || !run->opts->warn)
        return;
    path = hashifyFullPath(tree, relpath, name);
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    pthread_mutex_lock(&run->cbLock);
    run->opts->warn(path ? path : relpath, errnum, msg ? msg : fmt,
                    run->opts->opaque);
    pthread_mutex_unlock(&run->cbLock);
    free(msg);
    free(path);
}


static void
hashifyRunSnapshot(hashifyRun *run, vserverHashifyStats *out)
{
    size_t i;

    out->filesScanned = HASHIFY_LOAD(run->stats.filesScanned);
    out->filesHashed = HASHIFY_LOAD(run->stats.filesHashed);
    out->bytesHashed = HASHIFY_LOAD(run->stats.bytesHashed);
    out->filesLinked = HASHIFY_LOAD(run->stats.filesLinked);
    out->objectsCreated = HASHIFY_LOAD(run->stats.objectsCreated);
    out->bytesSaved = HASHIFY_LOAD(run->stats.bytesSaved);
    out->alreadyLinked = HASHIFY_LOAD(run->stats.alreadyLinked);
    for (i = 0; i < VSERVER_HASHIFY_SKIP_LAST; i++)
        out->skipped[i] = HASHIFY_LOAD(run->stats.skipped[i]);
    out->tempsRemoved = HASHIFY_LOAD(run->stats.tempsRemoved);
    out->errors = HASHIFY_LOAD(run->stats.errors);
}


/* Progress from the calling thread, at most once per interval. */
static void
hashifyRunProgress(hashifyRun *run, bool final)
{
    struct timespec now;
    vserverHashifyStats snap;
    long long ms;

    if (!run->opts || !run->opts->progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - run->lastProgress.tv_sec) * 1000LL +
         (now.tv_nsec - run->lastProgress.tv_nsec) / 1000000;
    if (!final && ms < run->intervalMs)
        return;
    run->lastProgress = now;
    hashifyRunSnapshot(run, &snap);
    run->opts->progress(&snap, final, run->opts->opaque);
}


/* --- items and the queue */

static void
hashifyItemFree(hashifyItem *item)
{
    size_t i;

    if (!item)
        return;
    for (i = 0; i < item->nnames; i++)
        free(item->names[i].name);
    free(item->names);
    free(item);
}


static int
hashifyItemAddName(hashifyItem *item, hashifyDir *dir, const char *name)
{
    if (item->nnames == item->alloc) {
        size_t nalloc = item->alloc ? item->alloc * 2 : 1;
        hashifyItemName *n = realloc(item->names, nalloc * sizeof(*n));

        if (!n)
            return -1;
        item->names = n;
        item->alloc = nalloc;
    }
    if (!(item->names[item->nnames].name = strdup(name)))
        return -1;
    item->names[item->nnames].dir = dir;
    item->nnames++;
    return 0;
}


static hashifyItem *
hashifyItemNew(const struct stat *st, hashifyDir *dir, const char *name)
{
    hashifyItem *item = calloc(1, sizeof(*item));

    if (!item)
        return NULL;
    item->st = *st;
    if (hashifyItemAddName(item, dir, name) < 0) {
        hashifyItemFree(item);
        return NULL;
    }
    return item;
}


/* Wait on @cond, with the queue's lock held, for 100 ms at the most (the
 * waiter reports progress in between): pthread_cond_timedwait's result. */
static int
hashifyQueueWait(hashifyRun *run, pthread_cond_t *cond)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    return pthread_cond_timedwait(cond, &run->qlock, &until);
}


/* Hand @item to the workers; waits while the queue is full. */
static void
hashifyQueuePush(hashifyRun *run, hashifyItem *item)
{
    pthread_mutex_lock(&run->qlock);
    while (run->qlen >= HASHIFY_QUEUE_MAX) {
        if (hashifyQueueWait(run, &run->qnotFull) == ETIMEDOUT) {
            pthread_mutex_unlock(&run->qlock);
            hashifyRunProgress(run, false);
            pthread_mutex_lock(&run->qlock);
        }
    }
    item->next = NULL;
    if (run->qtail)
        run->qtail->next = item;
    else
        run->qhead = item;
    run->qtail = item;
    run->qlen++;
    pthread_cond_signal(&run->qnotEmpty);
    pthread_mutex_unlock(&run->qlock);
}


static hashifyItem *
hashifyQueuePop(hashifyRun *run)
{
    hashifyItem *item;

    pthread_mutex_lock(&run->qlock);
    while (!run->qhead && !run->qclosed)
        pthread_cond_wait(&run->qnotEmpty, &run->qlock);
    if ((item = run->qhead)) {
        run->qhead = item->next;
        if (!run->qhead)
            run->qtail = NULL;
        run->qlen--;
        pthread_cond_signal(&run->qnotFull);
    }
    pthread_mutex_unlock(&run->qlock);
    return item;
}


/* --- workers */

typedef struct {
    hashifyRun *run;
    hashifyScratch scratch;
    hashifyDir *cachedDir;      /* items come in directory order */
    int cachedFd;
} hashifyWorker;


static int
hashifyWorkerDirFd(hashifyWorker *w, hashifyDir *dir)
{
    int fd;

    if (w->cachedDir == dir && w->cachedFd >= 0)
        return w->cachedFd;
    if ((fd = hashifyOpenBeneath(dir->tree->rootfd, dir->relpath)) < 0)
        return -1;
    if (w->cachedFd >= 0)
        close(w->cachedFd);
    w->cachedDir = dir;
    w->cachedFd = fd;
    return fd;
}


static void
hashifyWorkerLinked(hashifyRun *run, const hashifyItemName *n,
                    const vserverHashifyLinkResult *result)
{
    char *path;

    if (!run->opts || !run->opts->linked)
        return;
    if (!(path = hashifyFullPath(n->dir->tree, n->dir->relpath, n->name)))
        return;
    pthread_mutex_lock(&run->cbLock);
    run->opts->linked(path, result, run->opts->opaque);
    pthread_mutex_unlock(&run->cbLock);
    free(path);
}


static void
hashifyWorkerSkip(hashifyRun *run, hashifyItem *item, size_t from,
                  vserverHashifySkipReason reason)
{
    vserverHashifyLinkResult result = {
        .outcome = VSERVER_HASHIFY_LINK_SKIPPED,
        .reason = reason,
        .size = item->st.st_size,
    };
    size_t i;

    HASHIFY_ADD(run->stats.skipped[reason], item->nnames - from);
    for (i = from; i < item->nnames; i++)
        hashifyWorkerLinked(run, &item->names[i], &result);
}


static void
hashifyWorkerFail(hashifyRun *run, hashifyItem *item, size_t from,
                  int errnum, const char *msg)
{
    size_t i;

    HASHIFY_ADD(run->stats.errors, item->nnames - from);
    for (i = from; i < item->nnames; i++)
        hashifyRunWarn(run, item->names[i].dir->tree, item->names[i].dir->relpath,
                       item->names[i].name, errnum, "%s", msg);
}


static void
hashifyWorkerProcess(hashifyWorker *w, hashifyItem *item)
{
    hashifyRun *run = w->run;
    vserverHashifyStore *store = run->store;
    hashifyItemName *first = &item->names[0];
    hashifyLinkName *lnames = NULL;
    vserverHashifyLinkResult result;
    vserverHashifyError err = { 0 };
    hashifyLinkCtx lctx = {
        .dryRun = run->dryRun,
        .dryKeys = run->dryRun ? &run->dryKeys : NULL,
        .storeInos = run->storeInos,
    };
    vserverHashifyKey key;
    struct stat st;
    size_t replaced = 0;
    size_t i;
    int dirfd;
    int fd = -1;

    if ((dirfd = hashifyWorkerDirFd(w, first->dir)) < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
            hashifyWorkerSkip(run, item, 0, VSERVER_HASHIFY_SKIP_CHANGED);
        else
            hashifyWorkerFail(run, item, 0, errno, "cannot open its directory");
        return;
    }
    if ((fd = hashifyOpenFile(dirfd, first->name)) < 0) {
        if (errno == ENOENT || errno == ELOOP)
            hashifyWorkerSkip(run, item, 0, VSERVER_HASHIFY_SKIP_CHANGED);
        else
            hashifyWorkerFail(run, item, 0, errno, "cannot open");
        return;
    }
    if (fstat(fd, &st) < 0) {
        hashifyWorkerFail(run, item, 0, errno, "cannot stat");
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode) || st.st_ino != item->st.st_ino ||
        st.st_dev != item->st.st_dev || st.st_nlink != item->st.st_nlink) {
        hashifyWorkerSkip(run, item, 0, VSERVER_HASHIFY_SKIP_CHANGED);
        goto cleanup;
    }
    if (hashifyHashOpen(store, &w->scratch, fd, store->settings.keyMtime, &st,
                        &key, &run->stats.bytesHashed) < 0) {
        if (errno == ESTALE)
            hashifyWorkerSkip(run, item, 0, VSERVER_HASHIFY_SKIP_CHANGED);
        else
            hashifyWorkerFail(run, item, 0, errno, "cannot hash");
        goto cleanup;
    }
    HASHIFY_ADD(run->stats.filesHashed, 1);

    if (!(lnames = calloc(item->nnames, sizeof(*lnames)))) {
        hashifyWorkerFail(run, item, 0, ENOMEM, "out of memory");
        goto cleanup;
    }
    for (i = 0; i < item->nnames; i++) {
        lnames[i].name = item->names[i].name;
        lnames[i].dirfd = -1;
    }
    lnames[0].dirfd = dirfd;
    for (i = 1; i < item->nnames; i++) {
        lnames[i].dirfd = hashifyOpenBeneath(item->names[i].dir->tree->rootfd,
                                             item->names[i].dir->relpath);
        if (lnames[i].dirfd < 0) {
            hashifyWorkerFail(run, item, 0, errno, "cannot open its directory");
            goto cleanup;
        }
    }

    if (hashifyStoreLinkInode(store, &w->scratch, &lctx, fd, &st,
                              &w->scratch.header, &key, lnames, item->nnames,
                              &result, &err) < 0) {
        for (i = 0; i < item->nnames && lnames[i].replaced; i++)
            ;
        hashifyWorkerFail(run, item, i, err.code,
                          err.message ? err.message : "cannot link");
        vserverHashifyErrorClear(&err);
        replaced = i;
        if (replaced > 0)
            HASHIFY_ADD(run->stats.filesLinked, replaced);
        for (i = 0; i < replaced; i++)
            __atomic_store_n(&item->names[i].dir->modified, 1, __ATOMIC_RELAXED);
        goto cleanup;
    }

    switch (result.outcome) {
    case VSERVER_HASHIFY_LINK_CREATED:
        HASHIFY_ADD(run->stats.objectsCreated, 1);
        break;
    case VSERVER_HASHIFY_LINK_LINKED:
        if (run->dryRun) {
            replaced = item->nnames;
        } else {
            for (i = 0; i < item->nnames; i++) {
                if (lnames[i].replaced) {
                    replaced++;
                    __atomic_store_n(&item->names[i].dir->modified, 1,
                                     __ATOMIC_RELAXED);
                }
            }
        }
        HASHIFY_ADD(run->stats.filesLinked, replaced);
        /* the old inode is gone only if no name outside kept it */
        if (replaced == item->nnames && !item->outside)
            HASHIFY_ADD(run->stats.bytesSaved, (uint64_t)st.st_size);
        if (replaced < item->nnames)
            HASHIFY_ADD(run->stats.skipped[result.reason], item->nnames - replaced);
        break;
    case VSERVER_HASHIFY_LINK_ALREADY:
        HASHIFY_ADD(run->stats.alreadyLinked, item->nnames);
        break;
    case VSERVER_HASHIFY_LINK_SKIPPED:
        HASHIFY_ADD(run->stats.skipped[result.reason], item->nnames);
        break;
    case VSERVER_HASHIFY_LINK_LAST:
        break;
    }
    for (i = 0; i < item->nnames; i++)
        hashifyWorkerLinked(run, &item->names[i], &result);

 cleanup:
    if (lnames) {
        for (i = 1; i < item->nnames; i++)
            hashifyCloseKeepErrno(lnames[i].dirfd);
        free(lnames);
    }
    hashifyCloseKeepErrno(fd);
}


static void *
hashifyWorkerMain(void *opaque)
{
    hashifyWorker *w = opaque;
    hashifyRun *run = w->run;
    hashifyItem *item;

    while ((item = hashifyQueuePop(run))) {
        if (!hashifyRunCancelled(run))
            hashifyWorkerProcess(w, item);
        hashifyItemFree(item);
    }
    if (w->cachedFd >= 0)
        close(w->cachedFd);
    hashifyScratchFree(&w->scratch);
    free(w);

    pthread_mutex_lock(&run->qlock);
    run->nfinished++;
    pthread_cond_signal(&run->qdone);
    pthread_mutex_unlock(&run->qlock);
    return NULL;
}


static int
hashifyWorkersStart(hashifyRun *run, unsigned int n, vserverHashifyError *err)
{
    unsigned int i;

    if (!(run->workers = calloc(n, sizeof(*run->workers))))
        return hashifyError(err, ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        hashifyWorker *w = calloc(1, sizeof(*w));
        int rc;

        if (!w || hashifyScratchInit(&w->scratch) < 0) {
            free(w);
            return hashifyError(err, ENOMEM, "out of memory");
        }
        w->run = run;
        w->cachedFd = -1;
        if ((rc = pthread_create(&run->workers[i], NULL, hashifyWorkerMain, w)) != 0) {
            hashifyScratchFree(&w->scratch);
            free(w);
            return hashifyError(err, rc, "cannot start a hashing thread");
        }
        run->nworkers++;
    }
    return 0;
}


/* Close the queue and wait for the workers, reporting progress meanwhile. */
static void
hashifyWorkersFinish(hashifyRun *run)
{
    unsigned int i;

    pthread_mutex_lock(&run->qlock);
    run->qclosed = true;
    pthread_cond_broadcast(&run->qnotEmpty);
    while (run->nfinished < run->nworkers) {
        hashifyQueueWait(run, &run->qdone);
        pthread_mutex_unlock(&run->qlock);
        hashifyRunProgress(run, false);
        pthread_mutex_lock(&run->qlock);
    }
    pthread_mutex_unlock(&run->qlock);
    for (i = 0; i < run->nworkers; i++)
        pthread_join(run->workers[i], NULL);
}


/* --- inodes with several names */

static hashifyItem **
hashifyGroupSlot(hashifyRun *run, uint64_t ino)
{
    size_t i = (ino * 0x9e3779b97f4a7c15ULL) >> 20 & (run->groupSize - 1);

    while (run->groups[i] && (uint64_t)run->groups[i]->st.st_ino != ino)
        i = (i + 1) & (run->groupSize - 1);
    return &run->groups[i];
}


static int
hashifyGroupAdd(hashifyRun *run, const struct stat *st, hashifyDir *dir,
                const char *name)
{
    hashifyItem **slot;

    if ((run->groupUsed + 1) * 2 > run->groupSize) {
        hashifyItem **old = run->groups;
        size_t oldSize = run->groupSize;
        size_t i;

        run->groupSize = oldSize ? oldSize * 2 : 1024;
        if (!(run->groups = calloc(run->groupSize, sizeof(*run->groups)))) {
            run->groups = old;
            run->groupSize = oldSize;
            return -1;
        }
        for (i = 0; i < oldSize; i++) {
            if (old[i])
                *hashifyGroupSlot(run, old[i]->st.st_ino) = old[i];
        }
        free(old);
    }
    slot = hashifyGroupSlot(run, st->st_ino);
    if (*slot)
        return hashifyItemAddName(*slot, dir, name);
    if (!(*slot = hashifyItemNew(st, dir, name)))
        return -1;
    run->groupUsed++;
    return 0;
}


/* All trees are walked: queue each inode whose names are all inside. */
static void
hashifyGroupsFlush(hashifyRun *run)
{
    size_t i;

    for (i = 0; i < run->groupSize; i++) {
        hashifyItem *item = run->groups[i];

        if (!item)
            continue;
        run->groups[i] = NULL;
        if (item->nnames < (size_t)item->st.st_nlink) {
            if (run->store->settings.outsideLinks == VSERVER_HASHIFY_OUTSIDE_SKIP) {
                HASHIFY_ADD(run->stats.skipped[VSERVER_HASHIFY_SKIP_OUTSIDE_LINKS],
                            item->nnames);
                hashifyItemFree(item);
                continue;
            }
            item->outside = true;
        }
        hashifyQueuePush(run, item);
    }
}


/* --- the walk */

static hashifyDir *
hashifyDirNew(hashifyRun *run, hashifyTree *tree, const char *relpath,
              const struct stat *st)
{
    hashifyDir *dir = calloc(1, sizeof(*dir));

    if (!dir || !(dir->relpath = strdup(relpath))) {
        free(dir);
        return NULL;
    }
    dir->tree = tree;
    dir->mtime = st->st_mtim;
    dir->next = run->dirs;
    run->dirs = dir;
    return dir;
}


static const char *
hashifyWalkPath(hashifyRun *run, const hashifyDir *dir, const char *name)
{
    size_t need = strlen(dir->relpath) + strlen(name) + 2;

    if (need > run->pathalloc) {
        size_t nalloc = need < 256 ? 256 : need * 2;
        char *n = realloc(run->pathbuf, nalloc);

        if (!n)
            return NULL;
        run->pathbuf = n;
        run->pathalloc = nalloc;
    }
    snprintf(run->pathbuf, run->pathalloc, "%s/%s", dir->relpath, name);
    return run->pathbuf;
}


/* A leftover temporary name is removed only once the workers are done:
 * until then it could be one of theirs, between link and rename. */
static int
hashifyWalkTmp(hashifyRun *run, hashifyDir *dir, const char *name)
{
    hashifyTmp *tmp = calloc(1, sizeof(*tmp));

    if (!tmp || !(tmp->name = strdup(name))) {
        free(tmp);
        return -1;
    }
    tmp->dir = dir;
    tmp->next = run->tmps;
    run->tmps = tmp;
    return 0;
}


/* Such a name is always an extra link of an object, unless it is not
 * ours; only then is it left alone. */
static void
hashifyTmpsRemove(hashifyRun *run)
{
    hashifyTmp *tmp;

    for (tmp = run->tmps; tmp; tmp = tmp->next) {
        hashifyDir *dir = tmp->dir;
        struct stat st;
        int dirfd;

        if ((dirfd = hashifyOpenBeneath(dir->tree->rootfd, dir->relpath)) < 0)
            continue;
        if (fstatat(dirfd, tmp->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            close(dirfd);
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_nlink < 2 ||
            st.st_dev != run->store->dev ||
            !hashifyInoSetHas(run->storeInos, st.st_ino)) {
            hashifyRunWarn(run, dir->tree, dir->relpath, tmp->name, 0,
                           "temporary name is not a store object, left alone");
            close(dirfd);
            continue;
        }
        if (!run->dryRun) {
            if (unlinkat(dirfd, tmp->name, 0) < 0) {
                if (errno != ENOENT) {
                    HASHIFY_ADD(run->stats.errors, 1);
                    hashifyRunWarn(run, dir->tree, dir->relpath, tmp->name, errno,
                                   "cannot remove temporary name");
                }
                close(dirfd);
                continue;
            }
            __atomic_store_n(&dir->modified, 1, __ATOMIC_RELAXED);
        }
        HASHIFY_ADD(run->stats.tempsRemoved, 1);
        close(dirfd);
    }
}


static bool
hashifyIsOtherTree(hashifyRun *run, const struct stat *st)
{
    size_t i;

    if (st->st_dev == run->store->dev && st->st_ino == run->store->hashIno &&
        run->store->hashfd >= 0)
        return true;
    for (i = 0; i < run->ntrees; i++) {
        if (run->trees[i].st.st_dev == st->st_dev &&
            run->trees[i].st.st_ino == st->st_ino)
            return true;
    }
    return false;
}


static int hashifyWalkDir(hashifyRun *run, int fd, hashifyDir *dir,
                          unsigned int depth, vserverHashifyError *err);

static int
hashifyWalkSubdir(hashifyRun *run, int dirfd, hashifyDir *dir,
                  const char *name, const char *path, unsigned int depth,
                  vserverHashifyError *err)
{
    hashifyDir *child;
    struct stat st;
    int fd;

    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            return 0;           /* gone or replaced meanwhile */
        HASHIFY_ADD(run->stats.errors, 1);
        hashifyRunWarn(run, dir->tree, dir->relpath, name, errno,
                       "cannot open directory");
        return 0;
    }
    if (fstat(fd, &st) < 0) {
        HASHIFY_ADD(run->stats.errors, 1);
        hashifyRunWarn(run, dir->tree, dir->relpath, name, errno, "cannot stat");
        close(fd);
        return 0;
    }
    if (st.st_dev != run->store->dev) {
        if (!run->sweepOnly)
            HASHIFY_ADD(run->stats.skipped[VSERVER_HASHIFY_SKIP_OTHER_FS], 1);
        close(fd);
        return 0;
    }
    if (hashifyIsOtherTree(run, &st)) {
        close(fd);
        return 0;
    }
    if (depth >= HASHIFY_MAX_DEPTH) {
        HASHIFY_ADD(run->stats.errors, 1);
        hashifyRunWarn(run, dir->tree, dir->relpath, name, ELOOP,
                       "directory nesting too deep");
        close(fd);
        return 0;
    }
    if (!(child = hashifyDirNew(run, dir->tree, path, &st))) {
        close(fd);
        return hashifyError(err, ENOMEM, "out of memory");
    }
    return hashifyWalkDir(run, fd, child, depth + 1, err);
}


static int
hashifyWalkFile(hashifyRun *run, int dirfd, hashifyDir *dir, const char *name,
                hashifyMatch match)
{
    const vserverHashifySettings *settings = &run->store->settings;
    struct stat st;

    HASHIFY_ADD(run->stats.filesScanned, 1);
    if (match == HASHIFY_MATCH_EXCLUDE || match == HASHIFY_MATCH_SKIP) {
        HASHIFY_ADD(run->stats.skipped[VSERVER_HASHIFY_SKIP_EXCLUDED], 1);
        return 0;
    }
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT) {
            HASHIFY_ADD(run->stats.errors, 1);
            hashifyRunWarn(run, dir->tree, dir->relpath, name, errno, "cannot stat");
        }
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        HASHIFY_ADD(run->stats.skipped[VSERVER_HASHIFY_SKIP_SPECIAL], 1);
        return 0;
    }
    if ((uint64_t)st.st_size < settings->minSize) {
        HASHIFY_ADD(run->stats.skipped[VSERVER_HASHIFY_SKIP_SMALL], 1);
        return 0;
    }
    if (st.st_dev != run->store->dev) {
        HASHIFY_ADD(run->stats.skipped[VSERVER_HASHIFY_SKIP_OTHER_FS], 1);
        return 0;
    }
    if (hashifyInoSetHas(run->storeInos, st.st_ino)) {
        HASHIFY_ADD(run->stats.alreadyLinked, 1);
        return 0;
    }
    if (st.st_nlink > 1)
        return hashifyGroupAdd(run, &st, dir, name);
    {
        hashifyItem *item = hashifyItemNew(&st, dir, name);

        if (!item)
            return -1;
        hashifyQueuePush(run, item);
    }
    return 0;
}


/* Walk the directory open as @fd (taken over). */
static int
hashifyWalkDir(hashifyRun *run, int fd, hashifyDir *dir, unsigned int depth,
               vserverHashifyError *err)
{
    const hashifyExcludes *ex = &run->store->excludes;
    struct dirent *de;
    DIR *dp;
    int ret = -1;

    if (!(dp = fdopendir(fd))) {
        hashifyCloseKeepErrno(fd);
        HASHIFY_ADD(run->stats.errors, 1);
        hashifyRunWarn(run, dir->tree, dir->relpath, NULL, errno,
                       "cannot read directory");
        return 0;
    }
    for (;;) {
        const char *name;
        const char *path;
        hashifyMatch match = HASHIFY_MATCH_NONE;
        size_t index = 0;
        unsigned char type;

        errno = 0;
        if (!(de = readdir(dp))) {
            if (errno != 0) {
                HASHIFY_ADD(run->stats.errors, 1);
                hashifyRunWarn(run, dir->tree, dir->relpath, NULL, errno,
                               "cannot read directory");
            }
            break;
        }
        name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if ((++run->entries & 63) == 0) {
            if (hashifyRunCancelled(run)) {
                hashifyError(err, ECANCELED, "cancelled");
                goto cleanup;
            }
            hashifyRunProgress(run, false);
        }
        if (hashifyIsTmpName(name)) {
            if (hashifyWalkTmp(run, dir, name) < 0) {
                hashifyError(err, ENOMEM, "out of memory");
                goto cleanup;
            }
            continue;
        }

        type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;

            if (fstatat(dirfd(dp), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
        }
        if (type != DT_DIR && type != DT_REG) {
            if (!run->sweepOnly)
                HASHIFY_ADD(run->stats.skipped[VSERVER_HASHIFY_SKIP_SPECIAL], 1);
            continue;
        }
        if (run->sweepOnly && type == DT_REG)
            continue;

        if (!(path = hashifyWalkPath(run, dir, name))) {
            hashifyError(err, ENOMEM, "out of memory");
            goto cleanup;
        }
        match = hashifyExcludesMatch(ex, path, &index);

        if (type == DT_DIR) {
            /* '~' is never read; '-' only when an earlier '+' may take
             * something below back in (a gc sweep reads it regardless) */
            if (match == HASHIFY_MATCH_SKIP)
                continue;
            if (match == HASHIFY_MATCH_EXCLUDE && !run->sweepOnly &&
                !hashifyExcludesIncludeBefore(ex, index))
                continue;
            if (hashifyWalkSubdir(run, dirfd(dp), dir, name, path, depth, err) < 0)
                goto cleanup;
            continue;
        }
        if (hashifyWalkFile(run, dirfd(dp), dir, name, match) < 0) {
            hashifyError(err, ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    ret = 0;

 cleanup:
    closedir(dp);
    return ret;
}


static int
hashifyTreesOpen(hashifyRun *run, const char *const *trees, size_t ntrees,
                 vserverHashifyError *err)
{
    size_t i;
    size_t j;

    if (!(run->trees = calloc(ntrees ? ntrees : 1, sizeof(*run->trees))))
        return hashifyError(err, ENOMEM, "out of memory");
    for (i = 0; i < ntrees; i++) {
        hashifyTree *t = &run->trees[i];
        size_t len = strlen(trees[i]);

        t->rootfd = -1;
        run->ntrees++;
        while (len > 1 && trees[i][len - 1] == '/')
            len--;
        if (!(t->path = strndup(trees[i], len)))
            return hashifyError(err, ENOMEM, "out of memory");
        t->rootfd = open(trees[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (t->rootfd < 0 || fstat(t->rootfd, &t->st) < 0)
            return hashifyError(err, errno, "cannot open tree '%s'", trees[i]);
        if (t->st.st_dev != run->store->dev)
            return hashifyError(err, EXDEV,
                                "tree '%s' is not on the file system of the "
                                "store '%s'", trees[i], run->store->root);
        for (j = 0; j < i; j++) {
            if (run->trees[j].st.st_ino == t->st.st_ino)
                return hashifyError(err, EINVAL, "tree '%s' is given twice",
                                    trees[i]);
        }
    }
    return 0;
}


/* Put back the mtime of every directory in which a name was replaced. */
static void
hashifyDirsRestore(hashifyRun *run)
{
    hashifyDir *dir;

    for (dir = run->dirs; dir; dir = dir->next) {
        struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, dir->mtime };
        int fd;

        if (!__atomic_load_n(&dir->modified, __ATOMIC_RELAXED))
            continue;
        if ((fd = hashifyOpenBeneath(dir->tree->rootfd, dir->relpath)) < 0)
            continue;
        if (futimens(fd, times) < 0) {
            HASHIFY_ADD(run->stats.errors, 1);
            hashifyRunWarn(run, dir->tree, dir->relpath, NULL, errno,
                           "cannot restore the directory's mtime");
        }
        close(fd);
    }
}


static void
hashifyRunFree(hashifyRun *run)
{
    hashifyItem *item;
    size_t i;

    while ((item = run->qhead)) {
        run->qhead = item->next;
        hashifyItemFree(item);
    }
    for (i = 0; i < run->groupSize; i++)
        hashifyItemFree(run->groups[i]);
    free(run->groups);
    while (run->tmps) {
        hashifyTmp *next = run->tmps->next;
        free(run->tmps->name);
        free(run->tmps);
        run->tmps = next;
    }
    while (run->dirs) {
        hashifyDir *next = run->dirs->next;
        free(run->dirs->relpath);
        free(run->dirs);
        run->dirs = next;
    }
    for (i = 0; i < run->ntrees; i++) {
        free(run->trees[i].path);
        hashifyCloseKeepErrno(run->trees[i].rootfd);
    }
    free(run->trees);
    free(run->workers);
    free(run->pathbuf);
    hashifyKeySetFree(&run->dryKeys);
    pthread_mutex_destroy(&run->qlock);
    pthread_cond_destroy(&run->qnotEmpty);
    pthread_cond_destroy(&run->qnotFull);
    pthread_cond_destroy(&run->qdone);
    pthread_mutex_destroy(&run->cbLock);
}


static void
hashifyRunInit(hashifyRun *run, vserverHashifyStore *store,
               const vserverHashifyRunOptions *opts)
{
    memset(run, 0, sizeof(*run));
    run->store = store;
    run->opts = opts;
    run->dryRun = opts && opts->dryRun;
    run->intervalMs = opts && opts->progressIntervalMs ? opts->progressIntervalMs : 200;
    pthread_mutex_init(&run->qlock, NULL);
    pthread_cond_init(&run->qnotEmpty, NULL);
    pthread_cond_init(&run->qnotFull, NULL);
    pthread_cond_init(&run->qdone, NULL);
    pthread_mutex_init(&run->cbLock, NULL);
    clock_gettime(CLOCK_MONOTONIC, &run->lastProgress);
}


static int
hashifyRunWalk(hashifyRun *run, vserverHashifyError *err)
{
    size_t i;

    for (i = 0; i < run->ntrees; i++) {
        hashifyTree *t = &run->trees[i];
        hashifyDir *root;
        int fd;

        if (!(root = hashifyDirNew(run, t, "", &t->st)))
            return hashifyError(err, ENOMEM, "out of memory");
        if ((fd = openat(t->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            return hashifyError(err, errno, "cannot open tree '%s'", t->path);
        if (hashifyWalkDir(run, fd, root, 0, err) < 0)
            return -1;
    }
    return 0;
}


int
vserverHashifyTrees(vserverHashifyStore *store,
                    const char *const *trees, size_t ntrees,
                    const vserverHashifyRunOptions *opts,
                    vserverHashifyStats *stats,
                    vserverHashifyError *err)
{
    hashifyRun run;
    hashifyInoSet inos = { 0 };
    unsigned int threads = store->settings.threads;
    int ret = -1;
    int walked;

    if (stats)
        memset(stats, 0, sizeof(*stats));
    hashifyRunInit(&run, store, opts);
    if (!run.dryRun && (store->flags & VSERVER_HASHIFY_STORE_READONLY)) {
        hashifyError(err, EROFS, "store '%s' is open read-only", store->root);
        goto cleanup;
    }
    if (hashifyInoSetInit(&inos) < 0 ||
        (run.dryRun && hashifyKeySetInit(&run.dryKeys) < 0)) {
        hashifyError(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    run.storeInos = &inos;
    if (hashifyTreesOpen(&run, trees, ntrees, err) < 0 ||
        hashifyStoreLoadInos(store, &inos, err) < 0)
        goto cleanup;

    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? n : 1;
    }
    if (hashifyWorkersStart(&run, threads, err) < 0) {
        hashifyWorkersFinish(&run);
        goto cleanup;
    }

    walked = hashifyRunWalk(&run, err);
    if (walked == 0)
        hashifyGroupsFlush(&run);
    hashifyWorkersFinish(&run);
    hashifyTmpsRemove(&run);
    if (!run.dryRun)
        hashifyDirsRestore(&run);
    if (walked < 0)
        goto cleanup;
    if (hashifyRunCancelled(&run)) {
        hashifyError(err, ECANCELED, "cancelled");
        goto cleanup;
    }
    ret = 0;

 cleanup:
    hashifyRunProgress(&run, true);
    if (stats)
        hashifyRunSnapshot(&run, stats);
    hashifyRunFree(&run);
    hashifyInoSetFree(&inos);
    return ret;
}


int
hashifyTreesSweep(vserverHashifyStore *store, hashifyInoSet *storeInos,
                  const char *const *trees, size_t ntrees, bool dryRun,
                  uint64_t *removed, vserverHashifyError *err)
{
    vserverHashifyRunOptions opts = { .dryRun = dryRun };
    hashifyRun run;
    int ret = -1;

    hashifyRunInit(&run, store, &opts);
    run.sweepOnly = true;
    run.storeInos = storeInos;
    if (hashifyTreesOpen(&run, trees, ntrees, err) < 0)
        goto cleanup;
    if (hashifyRunWalk(&run, err) < 0)
        goto cleanup;
    hashifyTmpsRemove(&run);
    if (!dryRun)
        hashifyDirsRestore(&run);
    *removed += run.stats.tempsRemoved;
    ret = 0;

 cleanup:
    hashifyRunFree(&run);
    return ret;
}
