/*
 * vserver_hashify_util.c: errors, small sets, temporary names, fd helpers,
 * sizes and pattern lists for the command line
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vserver_hashify_priv.h"


void
vserverHashifyErrorClear(vserverHashifyError *err)
{
    if (!err)
        return;
    free(err->message);
    err->message = NULL;
    err->code = 0;
}


int
hashifyErrorV(vserverHashifyError *err, int errnum, const char *fmt,
              va_list ap)
{
    char *msg = NULL;

    if (err) {
        free(err->message);
        err->message = NULL;
        err->code = errnum;
        if (vasprintf(&msg, fmt, ap) >= 0) {
            if (errnum == 0) {
                err->message = msg;
            } else if (asprintf(&err->message, "%s: %s", msg,
                                strerror(errnum)) < 0) {
                err->message = NULL;
                free(msg);
            } else {
                free(msg);
            }
        }
    }
    errno = errnum ? errnum : EINVAL;
    return -1;
}


int
hashifyError(vserverHashifyError *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = hashifyErrorV(err, errnum, fmt, ap);
    va_end(ap);
    return ret;
}


char *
hashifyPrintf(const char *fmt, ...)
{
    va_list ap;
    char *ret;

    va_start(ap, fmt);
    if (vasprintf(&ret, fmt, ap) < 0)
        ret = NULL;
    va_end(ap);
    return ret;
}


void
hashifyCloseKeepErrno(int fd)
{
    int save = errno;

    if (fd >= 0)
        close(fd);
    errno = save;
}


/* --- inode set: open addressing, linear probing */

static uint64_t
hashifyMix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}


int
hashifyInoSetInit(hashifyInoSet *set)
{
    memset(set, 0, sizeof(*set));
    set->size = 1024;
    if (!(set->slots = calloc(set->size, sizeof(*set->slots))))
        return -1;
    pthread_mutex_init(&set->lock, NULL);
    return 0;
}


void
hashifyInoSetFree(hashifyInoSet *set)
{
    if (!set->slots)
        return;
    free(set->slots);
    set->slots = NULL;
    pthread_mutex_destroy(&set->lock);
}


static void
hashifyInoSetPut(uint64_t *slots, size_t size, uint64_t ino)
{
    size_t i = hashifyMix(ino) & (size - 1);

    while (slots[i] && slots[i] != ino)
        i = (i + 1) & (size - 1);
    slots[i] = ino;
}


static bool
hashifyInoSetFind(const hashifyInoSet *set, uint64_t ino)
{
    size_t i = hashifyMix(ino) & (set->size - 1);

    while (set->slots[i]) {
        if (set->slots[i] == ino)
            return true;
        i = (i + 1) & (set->size - 1);
    }
    return false;
}


int
hashifyInoSetAdd(hashifyInoSet *set, uint64_t ino)
{
    int ret = 0;

    pthread_mutex_lock(&set->lock);
    if ((set->used + 1) * 2 > set->size) {
        size_t nsize = set->size * 2;
        uint64_t *nslots = calloc(nsize, sizeof(*nslots));
        size_t i;

        if (!nslots) {
            ret = -1;
            goto out;
        }
        for (i = 0; i < set->size; i++) {
            if (set->slots[i])
                hashifyInoSetPut(nslots, nsize, set->slots[i]);
        }
        free(set->slots);
        set->slots = nslots;
        set->size = nsize;
    }
    if (!hashifyInoSetFind(set, ino)) {
        hashifyInoSetPut(set->slots, set->size, ino);
        set->used++;
    }
 out:
    pthread_mutex_unlock(&set->lock);
    return ret;
}


bool
hashifyInoSetHas(hashifyInoSet *set, uint64_t ino)
{
    bool ret;

    pthread_mutex_lock(&set->lock);
    ret = hashifyInoSetFind(set, ino);
    pthread_mutex_unlock(&set->lock);
    return ret;
}


/* --- key set (dry runs) */

int
hashifyKeySetInit(hashifyKeySet *set)
{
    memset(set, 0, sizeof(*set));
    set->size = 1024;
    set->slots = calloc(set->size, sizeof(*set->slots));
    set->full = calloc(set->size, 1);
    if (!set->slots || !set->full) {
        free(set->slots);
        free(set->full);
        set->slots = NULL;
        return -1;
    }
    pthread_mutex_init(&set->lock, NULL);
    return 0;
}


void
hashifyKeySetFree(hashifyKeySet *set)
{
    if (!set->slots)
        return;
    free(set->slots);
    free(set->full);
    set->slots = NULL;
    pthread_mutex_destroy(&set->lock);
}


static size_t
hashifyKeySlot(const vserverHashifyKey *slots, const unsigned char *full,
               size_t size, const vserverHashifyKey *key)
{
    uint64_t h;
    size_t i;

    memcpy(&h, key->bytes, sizeof(h));
    i = h & (size - 1);
    while (full[i] && memcmp(&slots[i], key, sizeof(*key)) != 0)
        i = (i + 1) & (size - 1);
    return i;
}


int
hashifyKeySetAdd(hashifyKeySet *set, const vserverHashifyKey *key)
{
    int ret = 1;
    size_t i;

    pthread_mutex_lock(&set->lock);
    if ((set->used + 1) * 2 > set->size) {
        size_t nsize = set->size * 2;
        vserverHashifyKey *nslots = calloc(nsize, sizeof(*nslots));
        unsigned char *nfull = calloc(nsize, 1);

        if (!nslots || !nfull) {
            free(nslots);
            free(nfull);
            ret = -1;
            goto out;
        }
        for (i = 0; i < set->size; i++) {
            if (set->full[i]) {
                size_t j = hashifyKeySlot(nslots, nfull, nsize, &set->slots[i]);
                nslots[j] = set->slots[i];
                nfull[j] = 1;
            }
        }
        free(set->slots);
        free(set->full);
        set->slots = nslots;
        set->full = nfull;
        set->size = nsize;
    }
    i = hashifyKeySlot(set->slots, set->full, set->size, key);
    if (set->full[i]) {
        ret = 0;
    } else {
        set->slots[i] = *key;
        set->full[i] = 1;
        set->used++;
    }
 out:
    pthread_mutex_unlock(&set->lock);
    return ret;
}


bool
hashifyKeySetHas(hashifyKeySet *set, const vserverHashifyKey *key)
{
    bool ret;
    size_t i;

    pthread_mutex_lock(&set->lock);
    i = hashifyKeySlot(set->slots, set->full, set->size, key);
    ret = set->full[i];
    pthread_mutex_unlock(&set->lock);
    return ret;
}


/* --- temporary names */

void
hashifyTmpName(char name[HASHIFY_TMP_NAME_LEN + 1])
{
    static uint64_t seed;
    static uint64_t counter;
    uint64_t s = __atomic_load_n(&seed, __ATOMIC_RELAXED);
    uint64_t v;

    if (s == 0) {
        if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
            s = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
        s |= 1;
        __atomic_store_n(&seed, s, __ATOMIC_RELAXED);
    }
    /* distinct per process and per call; a collision only costs a retry */
    v = hashifyMix(s + __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    snprintf(name, HASHIFY_TMP_NAME_LEN + 1, "%s%016llx",
             VSERVER_HASHIFY_TMP_PREFIX, (unsigned long long)v);
}


bool
hashifyIsTmpName(const char *name)
{
    size_t i;

    if (strncmp(name, VSERVER_HASHIFY_TMP_PREFIX, HASHIFY_TMP_PREFIX_LEN) != 0)
        return false;
    for (i = HASHIFY_TMP_PREFIX_LEN; i < HASHIFY_TMP_NAME_LEN; i++) {
        if (!strchr("0123456789abcdef", name[i]) || name[i] == '\0')
            return false;
    }
    return name[HASHIFY_TMP_NAME_LEN] == '\0';
}


/* --- fd helpers */

static int
hashifyOpenBeneathSlow(int rootfd, const char *relpath)
{
    struct stat rootst;
    char *copy;
    char *save = NULL;
    char *comp;
    int fd;

    if (fstat(rootfd, &rootst) < 0)
        return -1;
    if ((fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    if (!(copy = strdup(relpath))) {
        hashifyCloseKeepErrno(fd);
        return -1;
    }
    for (comp = strtok_r(copy, "/", &save); comp;
         comp = strtok_r(NULL, "/", &save)) {
        struct stat st;
        int next;

        if (strcmp(comp, "..") == 0) {
            errno = EXDEV;
            goto error;
        }
        next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            goto error;
        close(fd);
        fd = next;
        if (fstat(fd, &st) < 0)
            goto error;
        if (st.st_dev != rootst.st_dev) {
            errno = EXDEV;
            goto error;
        }
    }
    free(copy);
    return fd;

 error:
    free(copy);
    hashifyCloseKeepErrno(fd);
    return -1;
}


int
hashifyOpenBeneath(int rootfd, const char *relpath)
{
    static int noOpenat2;
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    const char *path = relpath;
    int fd;

    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    if (!__atomic_load_n(&noOpenat2, __ATOMIC_RELAXED)) {
        fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return fd;
        /* old kernel, or a seccomp filter that does not know openat2 */
        __atomic_store_n(&noOpenat2, 1, __ATOMIC_RELAXED);
    }
    return hashifyOpenBeneathSlow(rootfd, path);
}


int
hashifyLinkFd(int fd, int newdirfd, const char *newname)
{
    static int noEmptyPath;
    char proc[64];

    if (!__atomic_load_n(&noEmptyPath, __ATOMIC_RELAXED)) {
        if (linkat(fd, "", newdirfd, newname, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno != EPERM && errno != EINVAL)
            return -1;
        /* AT_EMPTY_PATH wants CAP_DAC_READ_SEARCH before Linux 6.10 */
        __atomic_store_n(&noEmptyPath, 1, __ATOMIC_RELAXED);
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, newdirfd, newname, AT_SYMLINK_FOLLOW);
}


/* Same inode with the same size and modification time: what linking may
 * rely on (ctime changes with every link and is checked separately). */
bool
hashifyStatUnchanged(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev &&
           a->st_ino == b->st_ino &&
           a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}


int
hashifyOpenFile(int dirfd, const char *name)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
    int fd = openat(dirfd, name, flags | O_NOATIME);

    /* O_NOATIME needs ownership or CAP_FOWNER */
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, flags);
    return fd;
}


void
hashifyHumanSize(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " B", n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}


int
hashifyParseSize(const char *s, uint64_t *out)
{
    unsigned long long v;
    unsigned int shift = 0;
    char *end;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return -1;
    }
    if (shift && *end == 'i')
        end++;
    if (*end == 'B')
        end++;
    if (*end)
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}


int
hashifyPatternListAdd(char ***list, size_t *n, const char *pat)
{
    char **nl = realloc(*list, (*n + 2) * sizeof(char *));

    if (!nl)
        return -1;
    *list = nl;
    if (!(nl[*n] = strdup(pat)))
        return -1;
    nl[++*n] = NULL;
    return 0;
}


int
hashifyPatternListFinish(char ***list, size_t *n, bool defaults)
{
    size_t i;

    if (defaults) {
        const char *const *d = vserverHashifyDefaultExcludes();

        for (i = 0; d[i]; i++) {
            if (hashifyPatternListAdd(list, n, d[i]) < 0)
                return -1;
        }
    }
    if (!*list && !(*list = calloc(1, sizeof(char *))))
        return -1;
    return 0;
}
