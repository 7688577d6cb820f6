/*
 * vserver_hashify_import.c: `vserver-hashify import` and `export`
 *
 * Import reads a tar stream (libarchive, any compression it detects) and
 * writes the tree itself, never through archive_write_disk: every entry is
 * created through a directory fd opened beneath the destination with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV), so a symlink planted by an earlier entry is never
 * followed and no name can leave the destination.  Each regular file is
 * written under a temporary name while its bytes go through the store's
 * hasher, gets its metadata, is renamed into place and linked into the
 * store; directory metadata comes last, deepest first.  On any failure the
 * destination is emptied again.
 *
 * The extraction machinery here is shared with flatten
 * (vserver_hashify_flatten.c); see vserver_hashify_archive.h.
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
#include <inttypes.h>
#include <linux/openat2.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "vserver_hashify_archive.h"

#define PROGRAM "vserver-hashify"

#define HASHIFY_IO_BUF (256 * 1024)
#define HASHIFY_ZEROS (64 * 1024)
#define HASHIFY_TMP_HEX 16

/* The kernel's POSIX ACL xattr format (include/uapi/linux/posix_acl_xattr.h):
 * a little-endian u32 version, then { u16 tag, u16 perm, u32 id } entries
 * sorted by tag, then id. */
#define HASHIFY_ACL_XATTR_ACCESS "system.posix_acl_access"
#define HASHIFY_ACL_XATTR_DEFAULT "system.posix_acl_default"
#define HASHIFY_ACL_VERSION 2
#define HASHIFY_ACL_USER_OBJ 0x01
#define HASHIFY_ACL_USER 0x02
#define HASHIFY_ACL_GROUP_OBJ 0x04
#define HASHIFY_ACL_GROUP 0x08
#define HASHIFY_ACL_MASK 0x10
#define HASHIFY_ACL_OTHER 0x20
#define HASHIFY_ACL_UNDEFINED_ID 0xffffffffu

typedef struct {
    uint16_t tag;
    uint16_t perm;
    uint32_t id;
} hashifyAclEntry;

static const unsigned char hashifyZeroBuf[HASHIFY_ZEROS];


/* --- small helpers */

char *
hashifyQuote(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(4 * len + 1);
    char *p = out;

    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = *s;

        if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else if (c == '\\' || c == '\'') {
            *p++ = '\\';
            *p++ = c;
        } else if (c < 0x20 || c == 0x7f) {
            p += sprintf(p, "\\x%02x", c);
        } else {
            *p++ = c;
        }
    }
    *p = '\0';
    return out;
}


bool
hashifyXattrIsOverlay(const char *name)
{
    return strncmp(name, "trusted.overlay.", 16) == 0;
}


bool
hashifyNameIsTmp(const char *name)
{
    size_t plen = strlen(VSERVER_HASHIFY_TMP_PREFIX);
    size_t i;

    if (strncmp(name, VSERVER_HASHIFY_TMP_PREFIX, plen) != 0)
        return false;
    for (i = 0; i < HASHIFY_TMP_HEX; i++) {
        char c = name[plen + i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return name[plen + HASHIFY_TMP_HEX] == '\0';
}


/* A fresh temporary name, as the store library makes them, so that its
 * gc sweep and every walker know it. */
static void
hashifyTmpNameNew(char *buf, size_t len)
{
    static uint64_t seed;
    static uint64_t counter;
    uint64_t v;

    if (seed == 0) {
        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
            seed = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
        seed |= 1;
    }
    /* splitmix64: distinct per call, unpredictable enough to not collide */
    v = seed + 0x9e3779b97f4a7c15ull * ++counter;
    v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
    v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
    v ^= v >> 31;
    snprintf(buf, len, "%s%016" PRIx64, VSERVER_HASHIFY_TMP_PREFIX, v);
}


/* openat2 beneath @dirfd: no symlink, no magic link, no mount crossing,
 * no escape by any means. */
int
hashifyExtractOpenBeneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    int tries = 0;
    int fd;

    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN) && ++tries < 64);
    return fd;
}


static const char *
hashifyResolveWhy(int errnum)
{
    switch (errnum) {
    case ELOOP:
        return "a component of its path is a symbolic link (nothing is "
               "written through one)";
    case ENOTDIR:
        return "a component of its path is not a directory";
    case EXDEV:
        return "its path leaves the destination";
    case ENOENT:
        return "its directory does not exist";
    default:
        return NULL;
    }
}


static void
hashifyHumanSize(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
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


static int
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
    if (shift && *end == 'B')
        end++;
    if (*end)
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}


void
hashifyRaiseFdLimit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}


char *
hashifyReadLinkAt(int dirfd, const char *name, off_t size)
{
    size_t alloc = size > 0 ? (size_t)size + 1 : 256;
    char *target = NULL;

    for (;;) {
        char *grown = realloc(target, alloc);
        ssize_t n;

        if (!grown) {
            free(target);
            errno = ENOMEM;
            return NULL;
        }
        target = grown;
        if ((n = readlinkat(dirfd, name, target, alloc)) < 0) {
            int saved = errno;
            free(target);
            errno = saved;
            return NULL;
        }
        if ((size_t)n < alloc) {
            target[n] = '\0';
            return target;
        }
        alloc *= 2;
    }
}


/* Names are bytes; a UTF-8 locale lets libarchive pass pax's UTF-8 names
 * through unchanged (others fall back to hdrcharset=BINARY). */
static void
hashifyArchiveLocale(void)
{
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "");
}


static int
hashifyWriteAll(int fd, const void *data, size_t len, uint64_t off)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= n;
        off += n;
    }
    return 0;
}


/* --- POSIX ACLs as the kernel stores them */

static int
hashifyAclCompare(const void *a, const void *b)
{
    const hashifyAclEntry *x = a;
    const hashifyAclEntry *y = b;

    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return 0;
}


/* Check, complete (a missing mask is computed as setfacl does), sort and
 * encode @in; the permission bits the ACL implies for the mode replace
 * those in @mode.  An access ACL of the three base entries is no ACL at
 * all (the kernel stores none): *value is then NULL. */
static int
hashifyAclEncode(const hashifyAclEntry *in, size_t n, bool access,
                 void **value, size_t *size, mode_t *mode)
{
    unsigned int count[HASHIFY_ACL_OTHER + 1] = { 0 };
    uint16_t userObj = 0;
    uint16_t groupObj = 0;
    uint16_t other = 0;
    uint16_t maskPerm = 0;
    uint16_t groupClass = 0;
    bool named = false;
    hashifyAclEntry *e;
    unsigned char *buf = NULL;
    unsigned char *p;
    size_t i;

    *value = NULL;
    *size = 0;
    if (!(e = calloc(n + 1, sizeof(*e))))
        return -1;
    memcpy(e, in, n * sizeof(*e));
    for (i = 0; i < n; i++) {
        e[i].perm &= 7;
        switch (e[i].tag) {
        case HASHIFY_ACL_USER_OBJ:
            userObj = e[i].perm;
            break;
        case HASHIFY_ACL_GROUP_OBJ:
            groupObj = e[i].perm;
            groupClass |= e[i].perm;
            break;
        case HASHIFY_ACL_OTHER:
            other = e[i].perm;
            break;
        case HASHIFY_ACL_MASK:
            maskPerm = e[i].perm;
            break;
        case HASHIFY_ACL_USER:
        case HASHIFY_ACL_GROUP:
            if (e[i].id == HASHIFY_ACL_UNDEFINED_ID)
                goto invalid;
            named = true;
            groupClass |= e[i].perm;
            break;
        default:
            goto invalid;
        }
        if (e[i].tag != HASHIFY_ACL_USER && e[i].tag != HASHIFY_ACL_GROUP)
            e[i].id = HASHIFY_ACL_UNDEFINED_ID;
        count[e[i].tag]++;
    }
    if (count[HASHIFY_ACL_USER_OBJ] != 1 || count[HASHIFY_ACL_GROUP_OBJ] != 1 ||
        count[HASHIFY_ACL_OTHER] != 1 || count[HASHIFY_ACL_MASK] > 1)
        goto invalid;
    if (named && !count[HASHIFY_ACL_MASK]) {
        /* the mask setfacl would have computed */
        e[n++] = (hashifyAclEntry){ HASHIFY_ACL_MASK, groupClass,
                                    HASHIFY_ACL_UNDEFINED_ID };
        maskPerm = groupClass;
        count[HASHIFY_ACL_MASK] = 1;
    }
    qsort(e, n, sizeof(*e), hashifyAclCompare);
    for (i = 1; i < n; i++) {
        if (e[i].tag == e[i - 1].tag && e[i].id == e[i - 1].id)
            goto invalid;
    }

    if (access) {
        mode_t group = count[HASHIFY_ACL_MASK] ? maskPerm : groupObj;

        *mode = (*mode & ~(mode_t)0777) | ((mode_t)userObj << 6) |
                ((mode_t)group << 3) | other;
        if (n == 3) {
            free(e);
            return 0;
        }
    }

    if (!(buf = malloc(4 + 8 * n))) {
        free(e);
        return -1;
    }
    p = buf;
    p[0] = HASHIFY_ACL_VERSION;
    p[1] = p[2] = p[3] = 0;
    p += 4;
    for (i = 0; i < n; i++, p += 8) {
        p[0] = e[i].tag & 0xff;
        p[1] = e[i].tag >> 8;
        p[2] = e[i].perm & 0xff;
        p[3] = e[i].perm >> 8;
        p[4] = e[i].id & 0xff;
        p[5] = (e[i].id >> 8) & 0xff;
        p[6] = (e[i].id >> 16) & 0xff;
        p[7] = (e[i].id >> 24) & 0xff;
    }
    free(e);
    *value = buf;
    *size = p - buf;
    return 0;

 invalid:
    free(e);
    errno = EINVAL;
    return -1;
}


static int
hashifyAclDecode(const void *value, size_t size,
                 hashifyAclEntry **entries, size_t *n)
{
    const unsigned char *p = value;
    size_t i;

    *entries = NULL;
    *n = 0;
    if (size < 4 || (size - 4) % 8 != 0 ||
        (p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) != HASHIFY_ACL_VERSION) {
        errno = EINVAL;
        return -1;
    }
    *n = (size - 4) / 8;
    if (!(*entries = calloc(*n ? *n : 1, sizeof(**entries))))
        return -1;
    for (i = 0, p += 4; i < *n; i++, p += 8) {
        (*entries)[i].tag = p[0] | p[1] << 8;
        (*entries)[i].perm = p[2] | p[3] << 8;
        (*entries)[i].id = p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24;
    }
    return 0;
}


/* --- the extraction context */

void
hashifyExtractInit(hashifyExtract *ex, const char *command)
{
    memset(ex, 0, sizeof(*ex));
    ex->command = command;
    vserverHashifySettingsInit(&ex->settings);
    /* the pool decides: mtime is only keyed when it says so */
    ex->settings.keyMtime = false;
    ex->devices = HASHIFY_DEVICES_DENY;
    ex->progressOpt = -1;
    ex->limitWhat = "the archive unpacks to";
    ex->destfd = -1;
    ex->cacheFd = -1;
}


void
hashifyExtractFree(hashifyExtract *ex)
{
    size_t i;

    for (i = 0; i < ex->ndirs; i++) {
        free(ex->dirs[i].path);
        vserverHashifyMetaClear(&ex->dirs[i].meta);
    }
    free(ex->dirs);
    if (ex->cacheFd >= 0)
        close(ex->cacheFd);
    free(ex->cachePath);
    if (ex->destfd >= 0)
        close(ex->destfd);
    vserverHashifyStoreClose(ex->store);
    for (i = 0; i < ex->npatterns; i++)
        free(ex->patterns[i]);
    free(ex->patterns);
    free(ex->error);
    memset(ex, 0, sizeof(*ex));
    ex->destfd = ex->cacheFd = -1;
}


static int
hashifyExtractAddPattern(hashifyExtract *ex, const char *pat)
{
    char **nl = realloc(ex->patterns, (ex->npatterns + 2) * sizeof(char *));

    if (!nl)
        return -1;
    ex->patterns = nl;
    if (!(nl[ex->npatterns] = strdup(pat)))
        return -1;
    nl[++ex->npatterns] = NULL;
    return 0;
}


int
hashifyExtractParseArgs(hashifyExtract *ex, int argc, char **argv,
                        int npos, char ***pos, void (*usage)(FILE *out))
{
    enum {
        OPT_KEY_MTIME = 256, OPT_IGNORE_MTIME, OPT_NO_DEFAULTS, OPT_DEVICES,
        OPT_LIMIT, OPT_PROGRESS, OPT_NO_PROGRESS,
    };
    static const struct option longopts[] = {
        { "store", required_argument, NULL, 's' },
        { "key-mtime", no_argument, NULL, OPT_KEY_MTIME },
        { "ignore-mtime", no_argument, NULL, OPT_IGNORE_MTIME },
        { "min-size", required_argument, NULL, 'm' },
        { "exclude", required_argument, NULL, 'x' },
        { "no-default-excludes", no_argument, NULL, OPT_NO_DEFAULTS },
        { "devices", required_argument, NULL, OPT_DEVICES },
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "progress", no_argument, NULL, OPT_PROGRESS },
        { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    vserverHashifyError err = { 0 };
    bool defaults = true;
    int c;

    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "s:m:x:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            ex->storeRoot = optarg;
            break;
        case OPT_KEY_MTIME:
            ex->settings.keyMtime = true;
            break;
        case OPT_IGNORE_MTIME:
            ex->settings.keyMtime = false;
            break;
        case 'm':
            if (hashifyParseSize(optarg, &ex->settings.minSize) < 0) {
                fprintf(stderr, PROGRAM " %s: invalid --min-size '%s'\n",
                        ex->command, optarg);
                return -1;
            }
            break;
        case 'x':
            if (hashifyExtractAddPattern(ex, optarg) < 0)
                goto nomem;
            break;
        case OPT_NO_DEFAULTS:
            defaults = false;
            break;
        case OPT_DEVICES:
            if (strcmp(optarg, "deny") == 0) {
                ex->devices = HASHIFY_DEVICES_DENY;
            } else if (strcmp(optarg, "skip") == 0) {
                ex->devices = HASHIFY_DEVICES_SKIP;
            } else if (strcmp(optarg, "allow") == 0) {
                ex->devices = HASHIFY_DEVICES_ALLOW;
            } else {
                fprintf(stderr, PROGRAM " %s: --devices takes deny, skip or allow\n",
                        ex->command);
                return -1;
            }
            break;
        case OPT_LIMIT:
            if (hashifyParseSize(optarg, &ex->limit) < 0) {
                fprintf(stderr, PROGRAM " %s: invalid --limit '%s'\n",
                        ex->command, optarg);
                return -1;
            }
            break;
        case OPT_PROGRESS:
            ex->progressOpt = 1;
            break;
        case OPT_NO_PROGRESS:
            ex->progressOpt = 0;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (argc - optind != npos) {
        usage(stderr);
        return -1;
    }
    if (!ex->storeRoot) {
        fprintf(stderr, PROGRAM " %s: --store is required\n", ex->command);
        return -1;
    }
    *pos = argv + optind;

    /* the user's patterns first: the first match wins */
    if (defaults) {
        const char *const *d = vserverHashifyDefaultExcludes();
        size_t i;

        for (i = 0; d[i]; i++) {
            if (hashifyExtractAddPattern(ex, d[i]) < 0)
                goto nomem;
        }
    }
    if (!ex->patterns && !(ex->patterns = calloc(1, sizeof(char *))))
        goto nomem;
    ex->settings.excludes = (const char *const *)ex->patterns;
    if (vserverHashifyExcludesCheck(ex->settings.excludes, &err) < 0) {
        fprintf(stderr, PROGRAM " %s: %s\n", ex->command, err.message);
        vserverHashifyErrorClear(&err);
        return -1;
    }
    return 0;

 nomem:
    fprintf(stderr, PROGRAM ": out of memory\n");
    return -1;
}


static int
hashifyExtractFailV(hashifyExtract *ex, const char *entry, int errnum,
                    const char *fmt, va_list ap)
{
    char *msg = NULL;
    char *quoted = NULL;
    int rc;

    if (ex->error)
        return -1;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    if (entry)
        quoted = hashifyQuote(entry);
    rc = asprintf(&ex->error, "%s%s%s%s%s%s",
                  entry ? "entry '" : "", quoted ? quoted : "",
                  entry ? "': " : "", msg ? msg : "out of memory",
                  errnum ? ": " : "", errnum ? strerror(errnum) : "");
    if (rc < 0)
        ex->error = NULL;
    free(quoted);
    free(msg);
    return -1;
}


int
hashifyExtractFail(hashifyExtract *ex, const char *entry, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    hashifyExtractFailV(ex, entry, 0, fmt, ap);
    va_end(ap);
    return -1;
}


int
hashifyExtractFailErrno(hashifyExtract *ex, const char *entry, int errnum,
                        const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    hashifyExtractFailV(ex, entry, errnum, fmt, ap);
    va_end(ap);
    return -1;
}


static void
hashifyExtractClearLine(hashifyExtract *ex)
{
    if (ex->lineOpen) {
        fputs("\r\033[K", stderr);
        ex->lineOpen = false;
    }
}


void
hashifyExtractWarn(hashifyExtract *ex, const char *entry, const char *fmt, ...)
{
    char *quoted = entry ? hashifyQuote(entry) : NULL;
    va_list ap;

    hashifyExtractClearLine(ex);
    fprintf(stderr, PROGRAM ": warning: ");
    if (entry)
        fprintf(stderr, "entry '%s': ", quoted ? quoted : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    free(quoted);
}


static int
hashifyExtractFailResolve(hashifyExtract *ex, const char *entry, int errnum,
                          const char *what)
{
    const char *why = hashifyResolveWhy(errnum);

    if (why)
        return hashifyExtractFail(ex, entry, "%s%s", what ? what : "", why);
    return hashifyExtractFailErrno(ex, entry, errnum, "%scannot open its directory",
                                   what ? what : "");
}


void
hashifyExtractProgress(hashifyExtract *ex, bool final)
{
    struct timespec now;
    long intervalMs = ex->tty ? 200 : 1000;
    char bytes[32];

    if (!ex->progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final &&
        (now.tv_sec - ex->lastProgress.tv_sec) * 1000 +
        (now.tv_nsec - ex->lastProgress.tv_nsec) / 1000000 < intervalMs)
        return;
    ex->lastProgress = now;
    hashifyHumanSize(ex->bytes, bytes, sizeof(bytes));
    hashifyExtractClearLine(ex);
    fprintf(stderr, "%s: %" PRIu64 " entries, %s written, %" PRIu64
            " files linked to the store",
            ex->command, ex->entries, bytes, ex->filesLinked);
    if (ex->filesShared)
        fprintf(stderr, ", %" PRIu64 " shared with the lower tree",
                ex->filesShared);
    if (ex->tty && !final) {
        ex->lineOpen = true;
    } else {
        fputc('\n', stderr);
    }
    fflush(stderr);
}


int
hashifyExtractCharge(hashifyExtract *ex, const char *entry, uint64_t size)
{
    if (ex->limit &&
        (size > ex->limit || ex->charged > ex->limit - size))
        return hashifyExtractFail(ex, entry,
                                  "%s more than %" PRIu64 " bytes (pool limit)",
                                  ex->limitWhat, ex->limit);
    ex->charged += size;
    return 0;
}


int
hashifyExtractOpen(hashifyExtract *ex, const char *dest)
{
    vserverHashifyError err = { 0 };
    struct dirent *de;
    DIR *dir;
    int fd;

    ex->dest = dest;
    ex->tty = isatty(STDERR_FILENO);
    ex->progress = ex->progressOpt < 0 ? ex->tty : ex->progressOpt;
    hashifyRaiseFdLimit();
    /* modes are set explicitly; nothing in between may be wider */
    umask(077);

    if ((ex->destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        fstat(ex->destfd, &ex->destst) < 0)
        return hashifyExtractFailErrno(ex, NULL, errno,
                                       "cannot open the destination '%s'", dest);
    if ((fd = openat(ex->destfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        !(dir = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return hashifyExtractFailErrno(ex, NULL, errno,
                                       "cannot read the destination '%s'", dest);
    }
    while ((de = readdir(dir))) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            closedir(dir);
            return hashifyExtractFail(ex, NULL, "the destination '%s' is not empty",
                                      dest);
        }
    }
    closedir(dir);
    ex->destVerified = true;

    if (!(ex->store = vserverHashifyStoreOpen(ex->storeRoot, &ex->settings,
                                              VSERVER_HASHIFY_STORE_CREATE, &err))) {
        hashifyExtractFail(ex, NULL, "%s", err.message ? err.message : "cannot open the store");
        vserverHashifyErrorClear(&err);
        return -1;
    }
    if (vserverHashifyStoreDev(ex->store) != ex->destst.st_dev)
        return hashifyExtractFail(ex, NULL,
                                  "the destination '%s' is not on the file system "
                                  "of the store '%s'", dest, ex->storeRoot);
    clock_gettime(CLOCK_MONOTONIC, &ex->lastProgress);
    return 0;
}


/* --- creating names below the destination */

static int
hashifyExtractMkdirs(hashifyExtract *ex, const char *parent, const char *entry)
{
    char *copy = strdup(parent);
    char *save = NULL;
    char *comp;
    int cur = -1;

    if (!copy)
        return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot open its directory");
    for (comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        int at = cur >= 0 ? cur : ex->destfd;
        int next = hashifyExtractOpenBeneath(at, comp, O_RDONLY | O_DIRECTORY);

        if (next < 0 && errno == ENOENT) {
            /* a directory the archive did not list: tar's defaults */
            if (mkdirat(at, comp, 0755) < 0 && errno != EEXIST) {
                hashifyExtractFailErrno(ex, entry, errno,
                                        "cannot create the directory '%s'", comp);
                goto error;
            }
            if (fchmodat(at, comp, 0755, 0) < 0) {
                hashifyExtractFailErrno(ex, entry, errno,
                                        "cannot create the directory '%s'", comp);
                goto error;
            }
            next = hashifyExtractOpenBeneath(at, comp, O_RDONLY | O_DIRECTORY);
        }
        if (next < 0) {
            hashifyExtractFailResolve(ex, entry, errno, NULL);
            goto error;
        }
        if (cur >= 0)
            close(cur);
        cur = next;
    }
    free(copy);
    return cur;

 error:
    if (cur >= 0)
        close(cur);
    free(copy);
    return -1;
}


int
hashifyExtractParent(hashifyExtract *ex, const char *rel, const char *entry,
                     bool create, const char **base)
{
    const char *slash = strrchr(rel, '/');
    size_t plen;
    char *parent;
    int fd;

    if (!slash) {
        *base = rel;
        return ex->destfd;
    }
    *base = slash + 1;
    plen = slash - rel;
    if (ex->cachePath && strlen(ex->cachePath) == plen &&
        memcmp(ex->cachePath, rel, plen) == 0)
        return ex->cacheFd;

    if (!(parent = strndup(rel, plen)))
        return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot open its directory");
    fd = hashifyExtractOpenBeneath(ex->destfd, parent, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT && create) {
        fd = hashifyExtractMkdirs(ex, parent, entry);
    } else if (fd < 0) {
        hashifyExtractFailResolve(ex, entry, errno, NULL);
    }
    if (fd < 0) {
        free(parent);
        return -1;
    }
    /* directories are never replaced during a run: the fd stays right */
    if (ex->cacheFd >= 0)
        close(ex->cacheFd);
    free(ex->cachePath);
    ex->cachePath = parent;
    ex->cacheFd = fd;
    return fd;
}


int
hashifyExtractDir(hashifyExtract *ex, const char *rel, const char *entry,
                  vserverHashifyMeta *meta)
{
    hashifyPendingDir *d;
    const char *p;

    if (*rel) {
        const char *base;
        int dirfd = hashifyExtractParent(ex, rel, entry, true, &base);
        struct stat st;

        if (dirfd < 0)
            return -1;
        if (mkdirat(dirfd, base, 0700) < 0) {
            if (errno != EEXIST)
                return hashifyExtractFailErrno(ex, entry, errno,
                                               "cannot create the directory");
            if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return hashifyExtractFailErrno(ex, entry, errno, "cannot stat");
            if (!S_ISDIR(st.st_mode)) {
                /* a directory replaces an earlier non-directory entry */
                if (unlinkat(dirfd, base, 0) < 0 || mkdirat(dirfd, base, 0700) < 0)
                    return hashifyExtractFailErrno(ex, entry, errno,
                                                   "cannot create the directory");
            }
        }
    }

    if (ex->ndirs == ex->adirs) {
        size_t n = ex->adirs ? 2 * ex->adirs : 256;

        if (!(d = realloc(ex->dirs, n * sizeof(*d))))
            return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot queue it");
        ex->dirs = d;
        ex->adirs = n;
    }
    d = &ex->dirs[ex->ndirs];
    if (!(d->path = strdup(rel)))
        return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot queue it");
    d->depth = *rel ? 1 : 0;
    for (p = rel; *p; p++)
        d->depth += *p == '/';
    d->seq = ex->ndirs;
    d->meta = *meta;
    memset(meta, 0, sizeof(*meta));
    ex->ndirs++;
    return 0;
}


/* Make the xattrs of @fd exactly @meta's: drop what it inherited (a
 * default ACL above), set every listed one. */
static int
hashifySyncXattrsFd(hashifyExtract *ex, int fd, const vserverHashifyMeta *meta,
                    const char *entry)
{
    char small[512];
    char *list = small;
    ssize_t len = flistxattr(fd, small, sizeof(small));
    size_t off;
    size_t i;

    if (len < 0 && errno == ERANGE) {
        len = flistxattr(fd, NULL, 0);
        if (len > 0 && !(list = malloc(len)))
            return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot list xattrs");
        if (len > 0)
            len = flistxattr(fd, list, len);
    }
    if (len < 0 && errno != ENOTSUP && errno != EOPNOTSUPP) {
        if (list != small)
            free(list);
        return hashifyExtractFailErrno(ex, entry, errno,
                                       "cannot list extended attributes");
    }
    for (off = 0; len > 0 && off < (size_t)len; off += strlen(list + off) + 1) {
        bool wanted = false;

        for (i = 0; i < meta->nxattrs && !wanted; i++)
            wanted = strcmp(meta->xattrs[i].name, list + off) == 0;
        if (!wanted && fremovexattr(fd, list + off) < 0 && errno != ENODATA) {
            hashifyExtractFailErrno(ex, entry, errno,
                                    "cannot remove the inherited extended "
                                    "attribute '%s'", list + off);
            if (list != small)
                free(list);
            return -1;
        }
    }
    if (list != small)
        free(list);

    for (i = 0; i < meta->nxattrs; i++) {
        const vserverHashifyXattr *x = &meta->xattrs[i];

        if (fsetxattr(fd, x->name, x->value, x->size, 0) < 0) {
            if (errno == ENOTSUP || errno == EOPNOTSUPP) {
                hashifyExtractWarn(ex, entry, "extended attribute '%s' not "
                                   "kept: %s", x->name, strerror(errno));
                continue;
            }
            return hashifyExtractFailErrno(ex, entry, errno,
                                           "cannot set the extended attribute '%s'",
                                           x->name);
        }
    }
    return 0;
}


/* Owner, then mode (chown clears set-id bits), then xattrs (chown and
 * writes clear security.capability; an access ACL sets the mode's group
 * bits to its mask), then mtime. */
static int
hashifyApplyMetaFd(hashifyExtract *ex, int fd, const vserverHashifyMeta *meta,
                   const char *entry)
{
    struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, meta->mtime };

    if (fchown(fd, meta->uid, meta->gid) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot set the owner");
    if (fchmod(fd, meta->mode & 07777) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot set the mode");
    if (hashifySyncXattrsFd(ex, fd, meta, entry) < 0)
        return -1;
    if (futimens(fd, times) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot set the mtime");
    return 0;
}


/* The same for a name that cannot be opened (symlink, device, FIFO),
 * which this run created a moment ago in @dirfd. */
static int
hashifyApplyMetaAt(hashifyExtract *ex, int dirfd, const char *name,
                   const vserverHashifyMeta *meta, const char *entry)
{
    struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, meta->mtime };
    size_t i;

    if (fchownat(dirfd, name, meta->uid, meta->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot set the owner");
    if (!S_ISLNK(meta->mode) && fchmodat(dirfd, name, meta->mode & 07777, 0) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot set the mode");
    if (meta->nxattrs) {
        /* /proc/self/fd/N resolves to the directory itself; the last
         * component is not followed by the l*xattr calls */
        char *path = NULL;

        if (asprintf(&path, "/proc/self/fd/%d/%s", dirfd, name) < 0)
            return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot set xattrs");
        for (i = 0; i < meta->nxattrs; i++) {
            const vserverHashifyXattr *x = &meta->xattrs[i];

            if (lsetxattr(path, x->name, x->value, x->size, 0) < 0) {
                if (errno == ENOTSUP || errno == EOPNOTSUPP || errno == EPERM) {
                    hashifyExtractWarn(ex, entry, "extended attribute '%s' not "
                                       "kept: %s", x->name, strerror(errno));
                    continue;
                }
                hashifyExtractFailErrno(ex, entry, errno,
                                        "cannot set the extended attribute '%s'",
                                        x->name);
                free(path);
                return -1;
            }
        }
        free(path);
    }
    if (utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot set the mtime");
    return 0;
}


static int
hashifyMakeNode(int dirfd, const char *name, const vserverHashifyMeta *meta,
                const char *target, dev_t rdev)
{
    if (S_ISLNK(meta->mode))
        return symlinkat(target, dirfd, name);
    return mknodat(dirfd, name, (meta->mode & S_IFMT) | 0600, rdev);
}


int
hashifyExtractNode(hashifyExtract *ex, int dirfd, const char *name,
                   const char *entry, const vserverHashifyMeta *meta,
                   const char *target, dev_t rdev)
{
    char tmp[64];
    int tries = 0;

    if (hashifyMakeNode(dirfd, name, meta, target, rdev) < 0) {
        if (errno != EEXIST)
            return hashifyExtractFailErrno(ex, entry, errno, "cannot create it");
        /* a later entry replaces an earlier one, atomically */
        for (;;) {
            hashifyTmpNameNew(tmp, sizeof(tmp));
            if (hashifyMakeNode(dirfd, tmp, meta, target, rdev) == 0)
                break;
            if (errno != EEXIST || ++tries > 16)
                return hashifyExtractFailErrno(ex, entry, errno, "cannot create it");
        }
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
            int save = errno;

            unlinkat(dirfd, tmp, 0);
            return hashifyExtractFailErrno(ex, entry, save,
                                           "cannot replace the existing name");
        }
    }
    return hashifyApplyMetaAt(ex, dirfd, name, meta, entry);
}


int
hashifyExtractLink(hashifyExtract *ex, int odirfd, const char *oname,
                   int dirfd, const char *name, const char *entry)
{
    struct stat a;
    struct stat b;
    char tmp[64];
    int tries = 0;

    if (linkat(odirfd, oname, dirfd, name, 0) == 0)
        return 0;
    if (errno != EEXIST)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot create the hard link");
    if (fstatat(odirfd, oname, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
        fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
        a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        return 0;
    for (;;) {
        hashifyTmpNameNew(tmp, sizeof(tmp));
        if (linkat(odirfd, oname, dirfd, tmp, 0) == 0)
            break;
        if (errno != EEXIST || ++tries > 16)
            return hashifyExtractFailErrno(ex, entry, errno,
                                           "cannot create the hard link");
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int save = errno;

        unlinkat(dirfd, tmp, 0);
        return hashifyExtractFailErrno(ex, entry, save,
                                       "cannot replace the existing name");
    }
    return 0;
}


/* --- regular files */

int
hashifyOutFileBegin(hashifyExtract *ex, hashifyOutFile *f, int dirfd,
                    const vserverHashifyMeta *meta, const char *entry)
{
    vserverHashifyError err = { 0 };
    int tries = 0;

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    f->dirfd = dirfd;
    f->meta = meta;
    for (;;) {
        hashifyTmpNameNew(f->tmp, sizeof(f->tmp));
        f->fd = openat(dirfd, f->tmp,
                       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (f->fd >= 0)
            break;
        if (errno != EEXIST || ++tries > 16) {
            f->tmp[0] = '\0';
            return hashifyExtractFailErrno(ex, entry, errno, "cannot create it");
        }
    }
    if (!(f->hasher = vserverHashifyHasherNew(ex->store, meta, &err))) {
        hashifyExtractFail(ex, entry, "%s", err.message ? err.message : "cannot hash it");
        vserverHashifyErrorClear(&err);
        return -1;
    }
    return 0;
}


static int
hashifyOutFileFeedZeros(hashifyExtract *ex, hashifyOutFile *f, uint64_t upto,
                        const char *entry)
{
    while (f->fed < upto) {
        size_t n = upto - f->fed < HASHIFY_ZEROS ? upto - f->fed : HASHIFY_ZEROS;

        if (vserverHashifyHasherUpdate(f->hasher, hashifyZeroBuf, n) < 0)
            return hashifyExtractFailErrno(ex, entry, errno, "cannot hash it");
        f->fed += n;
    }
    return 0;
}


int
hashifyOutFileWrite(hashifyExtract *ex, hashifyOutFile *f,
                    const void *data, size_t len, uint64_t offset,
                    const char *entry)
{
    if (offset < f->fed)
        return hashifyExtractFail(ex, entry, "its content is out of order");
    if (offset > f->meta->size || len > f->meta->size - offset)
        return hashifyExtractFail(ex, entry, "it has more content than its "
                                  "size of %" PRIu64 " bytes", f->meta->size);
    if (hashifyOutFileFeedZeros(ex, f, offset, entry) < 0)
        return -1;
    if (len == 0)
        return 0;
    /* the headers were counted already; this catches whatever they missed */
    if (ex->limit && ex->bytes + len > ex->limit)
        return hashifyExtractFail(ex, entry,
                                  "%s more than %" PRIu64 " bytes (pool limit)",
                                  ex->limitWhat, ex->limit);
    if (hashifyWriteAll(f->fd, data, len, offset) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot write it");
    if (vserverHashifyHasherUpdate(f->hasher, data, len) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot hash it");
    f->fed += len;
    if (offset + len > f->end)
        f->end = offset + len;
    ex->bytes += len;
    hashifyExtractProgress(ex, false);
    return 0;
}


int
hashifyOutFileFinish(hashifyExtract *ex, hashifyOutFile *f,
                     const char *name, const char *rel, const char *entry)
{
    const vserverHashifyMeta *meta = f->meta;
    const vserverHashifySettings *settings = vserverHashifyStoreSettings(ex->store);
    vserverHashifyError err = { 0 };
    vserverHashifyLinkResult res;
    vserverHashifyKey key;

    if (hashifyOutFileFeedZeros(ex, f, meta->size, entry) < 0)
        return -1;
    if (f->end < meta->size && ftruncate(f->fd, meta->size) < 0)
        return hashifyExtractFailErrno(ex, entry, errno, "cannot write it");
    if (vserverHashifyHasherFinal(f->hasher, &key, &err) < 0) {
        hashifyExtractFail(ex, entry, "%s", err.message ? err.message : "cannot hash it");
        vserverHashifyErrorClear(&err);
        return -1;
    }
    if (hashifyApplyMetaFd(ex, f->fd, meta, entry) < 0)
        return -1;
    if (renameat(f->dirfd, f->tmp, f->dirfd, name) < 0)
        return hashifyExtractFailErrno(ex, entry, errno,
                                       "cannot rename it into place");
    f->tmp[0] = '\0';
    ex->filesCopied++;

    if (meta->size > 0 && meta->size >= settings->minSize) {
        char *path = NULL;
        bool excluded;

        if (asprintf(&path, "/%s", rel) < 0)
            return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot link it");
        excluded = vserverHashifyStorePathExcluded(ex->store, path);
        free(path);
        if (!excluded) {
            if (vserverHashifyStoreLinkAt(ex->store, f->dirfd, name, f->fd, &key,
                                          meta, 0, &res, &err) < 0) {
                hashifyExtractFail(ex, entry, "%s",
                                   err.message ? err.message : "cannot link it");
                vserverHashifyErrorClear(&err);
                return -1;
            }
            if (res.outcome == VSERVER_HASHIFY_LINK_CREATED ||
                res.outcome == VSERVER_HASHIFY_LINK_LINKED ||
                res.outcome == VSERVER_HASHIFY_LINK_ALREADY)
                ex->filesLinked++;
        }
    }
    hashifyOutFileAbort(f);
    return 0;
}


void
hashifyOutFileAbort(hashifyOutFile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp[0])
        unlinkat(f->dirfd, f->tmp, 0);
    f->tmp[0] = '\0';
    vserverHashifyHasherFree(f->hasher);
    f->hasher = NULL;
}


/* --- the end of a run */

static int
hashifyPendingDirCompare(const void *a, const void *b)
{
    const hashifyPendingDir *x = a;
    const hashifyPendingDir *y = b;

    if (x->depth != y->depth)
        return x->depth > y->depth ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}


int
hashifyExtractFinishDirs(hashifyExtract *ex)
{
    size_t i;

    /* no directory entry at all: ex->dirs is NULL, which qsort() must not get */
    if (ex->ndirs > 1)
        qsort(ex->dirs, ex->ndirs, sizeof(*ex->dirs), hashifyPendingDirCompare);
    for (i = 0; i < ex->ndirs; i++) {
        hashifyPendingDir *d = &ex->dirs[i];
        const char *entry = *d->path ? d->path : ".";
        int fd = *d->path ? hashifyExtractOpenBeneath(ex->destfd, d->path,
                                                O_RDONLY | O_DIRECTORY)
                          : openat(ex->destfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc;

        if (fd < 0)
            return hashifyExtractFailResolve(ex, entry, errno, NULL);
        rc = hashifyApplyMetaFd(ex, fd, &d->meta, entry);
        close(fd);
        if (rc < 0)
            return -1;
    }
    return 0;
}


/* Remove everything below @dirfd, never following a symlink. */
static int
hashifyRemoveContents(int dirfd, unsigned int depth)
{
    int pass;
    int ret = 0;

    if (depth > 4096) {
        errno = ELOOP;
        return -1;
    }
    for (pass = 0; pass < 8; pass++) {
        struct dirent *de;
        bool removed = false;
        bool left = false;
        DIR *dir;
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || !(dir = fdopendir(fd))) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
        while ((de = readdir(dir))) {
            const char *n = de->d_name;
            int sub;

            if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
                continue;
            if (unlinkat(dirfd, n, 0) == 0) {
                removed = true;
                continue;
            }
            if (errno != EISDIR ||
                (sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                              O_CLOEXEC)) < 0) {
                left = true;
                continue;
            }
            if (hashifyRemoveContents(sub, depth + 1) < 0)
                ret = -1;
            close(sub);
            if (unlinkat(dirfd, n, AT_REMOVEDIR) == 0)
                removed = true;
            else
                left = true;
        }
        closedir(dir);
        if (!left)
            return ret;
        if (!removed)
            break;
    }
    return -1;
}


int
hashifyExtractDone(hashifyExtract *ex, bool ok)
{
    if (ok) {
        hashifyExtractProgress(ex, true);
        return 0;
    }
    hashifyExtractClearLine(ex);
    if (ex->destVerified && ex->destfd >= 0) {
        struct timespec times[2] = { ex->destst.st_atim, ex->destst.st_mtim };

        if (ex->cacheFd >= 0)
            close(ex->cacheFd);
        ex->cacheFd = -1;
        if (hashifyRemoveContents(ex->destfd, 0) < 0)
            fprintf(stderr, PROGRAM ": warning: cannot empty '%s' again: %s\n",
                    ex->dest, strerror(errno));
        futimens(ex->destfd, times);
    }
    fprintf(stderr, PROGRAM ": %s\n", ex->error ? ex->error : "failed (out of memory)");
    fflush(stderr);
    return 1;
}


/* --- import */

static void
hashifyImportUsage(FILE *out)
{
    fprintf(out,
"Usage: " PROGRAM " import --store ROOT [OPTION]... DEST < TARBALL\n"
"\n"
"Unpack a tar stream (plain, gzip, xz, zstd, bzip2; tar, pax, GNU, ustar)\n"
"into the existing, empty directory DEST, hashing every regular file while\n"
"it is written and linking it into the store ROOT/.hash, so that identical\n"
"files of all templates share one inode.  Nothing is created outside DEST;\n"
"on any error DEST is left empty.\n"
"\n"
"  -s, --store ROOT          the directory holding .hash/ (required)\n"
"      --key-mtime           make mtime part of the key\n"
"  -m, --min-size=SIZE       never link files smaller than SIZE (default 1)\n"
"  -x, --exclude=PATTERN     exclude pattern, tried before the defaults\n"
"      --no-default-excludes use only the given patterns\n"
"      --devices=deny|skip|allow\n"
"                            device nodes fail the import (default), are\n"
"                            left out with a warning, or are created\n"
"      --limit=BYTES         the regular files may not add up to more\n"
"                            (k, M, G, T suffixes; 0: no limit)\n"
"      --progress            show progress on stderr (default: when a tty)\n"
"      --no-progress\n"
"  -h, --help\n");
}


/* Strip leading "/" and "./" (contained, as GNU tar does), drop "." and
 * empty components; a ".." component is an error. */
static int
hashifyImportName(hashifyExtract *ex, const char *entry, const char *what,
                  const char *name, char **out)
{
    size_t len = strlen(name);
    char *res = malloc(len + 1);
    char *p = res;
    const char *s = name;

    *out = NULL;
    if (!res)
        return hashifyExtractFailErrno(ex, entry, ENOMEM, "cannot handle its name");
    while (*s) {
        const char *end = strchrnul(s, '/');
        size_t clen = end - s;

        if (clen == 0 || (clen == 1 && s[0] == '.')) {
            /* nothing */
        } else if (clen == 2 && s[0] == '.' && s[1] == '.') {
            char *q = hashifyQuote(name);

            free(res);
            hashifyExtractFail(ex, entry, "%s%s%s'..' is not allowed in a name",
                               what ? what : "", what ? q : "", what ? "': " : "");
            free(q);
            return -1;
        } else {
            if (p != res)
                *p++ = '/';
            memcpy(p, s, clen);
            p += clen;
        }
        s = *end ? end + 1 : end;
    }
    *p = '\0';
    *out = res;
    return 0;
}


/* The binary ACL of @type from libarchive's entries; *value NULL if none. */
static int
hashifyImportAcl(hashifyExtract *ex, struct archive_entry *entry,
                 const char *raw, int type, mode_t *mode,
                 void **value, size_t *size)
{
    hashifyAclEntry *e = NULL;
    size_t n = 0;
    bool haveUserObj = false;
    bool haveGroupObj = false;
    bool haveOther = false;
    int atype;
    int perm;
    int tag;
    int qual;
    const char *name;
    int count;
    int ret = -1;

    *value = NULL;
    *size = 0;
    count = archive_entry_acl_reset(entry, type);
    if (count <= 0)
        return 0;
    /* room for the entries and the base ones libarchive keeps in the mode */
    if (!(e = calloc(count + 3, sizeof(*e))))
        return hashifyExtractFailErrno(ex, raw, ENOMEM, "cannot convert its ACL");
    while (archive_entry_acl_next(entry, type, &atype, &perm, &tag, &qual,
                                  &name) == ARCHIVE_OK) {
        hashifyAclEntry *x;

        if ((int)n >= count + 3)
            break;
        x = &e[n];
        x->perm = perm & 7;
        x->id = HASHIFY_ACL_UNDEFINED_ID;
        switch (tag) {
        case ARCHIVE_ENTRY_ACL_USER_OBJ:
            x->tag = HASHIFY_ACL_USER_OBJ;
            haveUserObj = true;
            break;
        case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
            x->tag = HASHIFY_ACL_GROUP_OBJ;
            haveGroupObj = true;
            break;
        case ARCHIVE_ENTRY_ACL_OTHER:
            x->tag = HASHIFY_ACL_OTHER;
            haveOther = true;
            break;
        case ARCHIVE_ENTRY_ACL_MASK:
            x->tag = HASHIFY_ACL_MASK;
            break;
        case ARCHIVE_ENTRY_ACL_USER:
        case ARCHIVE_ENTRY_ACL_GROUP:
            x->tag = tag == ARCHIVE_ENTRY_ACL_USER ? HASHIFY_ACL_USER
                                                   : HASHIFY_ACL_GROUP;
            if (qual < 0) {
                /* owners are numeric here, never looked up by name */
                char *end;
                unsigned long v = name ? strtoul(name, &end, 10) : 0;

                if (!name || !*name || *end || v >= HASHIFY_ACL_UNDEFINED_ID) {
                    hashifyExtractFail(ex, raw, "its ACL names '%s' without a "
                                       "numeric id", name ? name : "?");
                    goto cleanup;
                }
                qual = v;
            }
            x->id = qual;
            break;
        default:
            continue;
        }
        n++;
    }
    if (type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS) {
        if (!haveUserObj)
            e[n++] = (hashifyAclEntry){ HASHIFY_ACL_USER_OBJ, (*mode >> 6) & 7,
                                        HASHIFY_ACL_UNDEFINED_ID };
        if (!haveGroupObj)
            e[n++] = (hashifyAclEntry){ HASHIFY_ACL_GROUP_OBJ, (*mode >> 3) & 7,
                                        HASHIFY_ACL_UNDEFINED_ID };
        if (!haveOther)
            e[n++] = (hashifyAclEntry){ HASHIFY_ACL_OTHER, *mode & 7,
                                        HASHIFY_ACL_UNDEFINED_ID };
    }
    if (hashifyAclEncode(e, n, type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
                         value, size, mode) < 0) {
        hashifyExtractFailErrno(ex, raw, errno, "its %s ACL is not valid",
                                type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS ? "access"
                                                                      : "default");
        goto cleanup;
    }
    ret = 0;

 cleanup:
    free(e);
    return ret;
}


static int
hashifyMetaSetXattr(vserverHashifyMeta *meta, const char *name,
                    const void *value, size_t size)
{
    size_t i;

    for (i = 0; i < meta->nxattrs; i++) {
        vserverHashifyXattr *x = &meta->xattrs[i];

        if (strcmp(x->name, name) == 0) {
            void *v = malloc(size ? size : 1);

            if (!v)
                return -1;
            memcpy(v, value, size);
            free(x->value);
            x->value = v;
            x->size = size;
            return 0;
        }
    }
    return vserverHashifyMetaAddXattr(meta, name, value, size);
}


static bool
hashifyMetaHasXattr(const vserverHashifyMeta *meta, const char *name)
{
    size_t i;

    for (i = 0; i < meta->nxattrs; i++) {
        if (strcmp(meta->xattrs[i].name, name) == 0)
            return true;
    }
    return false;
}


/* A raw ACL xattr from the archive, in the kernel's canonical form. */
static int
hashifyImportAclXattr(hashifyExtract *ex, const char *raw, const char *name,
                      const void *value, size_t size, vserverHashifyMeta *meta)
{
    bool access = strcmp(name, HASHIFY_ACL_XATTR_ACCESS) == 0;
    hashifyAclEntry *e = NULL;
    size_t n = 0;
    void *canon = NULL;
    size_t csize = 0;
    int rc;

    if (!access && !S_ISDIR(meta->mode))
        return 0;               /* only directories have default ACLs */
    if (hashifyAclDecode(value, size, &e, &n) < 0 ||
        hashifyAclEncode(e, n, access, &canon, &csize, &meta->mode) < 0) {
        free(e);
        return hashifyExtractFail(ex, raw, "its extended attribute '%s' is "
                                  "not a valid ACL", name);
    }
    free(e);
    rc = canon ? hashifyMetaSetXattr(meta, name, canon, csize) : 0;
    free(canon);
    if (rc < 0)
        return hashifyExtractFailErrno(ex, raw, ENOMEM, "cannot convert its ACL");
    return 0;
}


/* Everything the tree will hold about the entry, exactly as the key sees
 * it on disk afterwards. */
static int
hashifyImportMeta(hashifyExtract *ex, struct archive_entry *entry,
                  const char *raw, mode_t type, vserverHashifyMeta *meta)
{
    la_int64_t uid = archive_entry_uid(entry);
    la_int64_t gid = archive_entry_gid(entry);
    long nsec = archive_entry_mtime_nsec(entry);
    const char *name;
    const void *value;
    size_t size;
    int i;

    memset(meta, 0, sizeof(*meta));
    if (uid < 0 || uid >= 0xffffffffLL || gid < 0 || gid >= 0xffffffffLL)
        return hashifyExtractFail(ex, raw, "its owner %lld:%lld is out of range",
                                  (long long)uid, (long long)gid);
    meta->mode = type | (archive_entry_perm(entry) & 07777);
    meta->uid = uid;
    meta->gid = gid;
    if (S_ISREG(type)) {
        la_int64_t s = archive_entry_size(entry);

        if (s < 0)
            return hashifyExtractFail(ex, raw, "its size is negative");
        meta->size = s;
    }
    meta->mtime.tv_sec = archive_entry_mtime(entry);
    meta->mtime.tv_nsec = nsec >= 0 && nsec < 1000000000 ? nsec : 0;

    archive_entry_xattr_reset(entry);
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
        if (!name || !*name)
            continue;
        if (hashifyXattrIsOverlay(name)) {
            /* overlayfs would act on these in a lower layer */
            if (!ex->warnedOverlayXattr)
                hashifyExtractWarn(ex, raw, "overlayfs attributes (%s) are "
                                   "never imported", name);
            ex->warnedOverlayXattr = true;
            continue;
        }
        if (strcmp(name, HASHIFY_ACL_XATTR_ACCESS) == 0 ||
            strcmp(name, HASHIFY_ACL_XATTR_DEFAULT) == 0) {
            if (hashifyImportAclXattr(ex, raw, name, value, size, meta) < 0)
                goto error;
            continue;
        }
        if (hashifyMetaSetXattr(meta, name, value, size) < 0) {
            hashifyExtractFailErrno(ex, raw, ENOMEM, "cannot keep its xattrs");
            goto error;
        }
    }

    if (archive_entry_acl_types(entry) & ARCHIVE_ENTRY_ACL_TYPE_NFS4)
        hashifyExtractWarn(ex, raw, "NFSv4 ACLs are not kept");
    for (i = 0; i < 2; i++) {
        int atype = i == 0 ? ARCHIVE_ENTRY_ACL_TYPE_ACCESS
                           : ARCHIVE_ENTRY_ACL_TYPE_DEFAULT;
        const char *xname = i == 0 ? HASHIFY_ACL_XATTR_ACCESS
                                   : HASHIFY_ACL_XATTR_DEFAULT;
        void *acl = NULL;
        size_t asize = 0;
        int rc;

        if (S_ISLNK(type) || (i == 1 && !S_ISDIR(type)) ||
            hashifyMetaHasXattr(meta, xname))
            continue;
        if (hashifyImportAcl(ex, entry, raw, atype, &meta->mode, &acl, &asize) < 0)
            goto error;
        rc = acl ? vserverHashifyMetaAddXattr(meta, xname, acl, asize) : 0;
        free(acl);
        if (rc < 0) {
            hashifyExtractFailErrno(ex, raw, ENOMEM, "cannot keep its ACL");
            goto error;
        }
    }
    return 0;

 error:
    vserverHashifyMetaClear(meta);
    return -1;
}


static int
hashifyImportRegular(hashifyExtract *ex, struct archive *a,
                     struct archive_entry *entry, const char *raw,
                     const char *rel)
{
    vserverHashifyMeta meta;
    hashifyOutFile f = { .fd = -1 };
    const char *base;
    int dirfd;
    int ret = -1;

    if (hashifyImportMeta(ex, entry, raw, S_IFREG, &meta) < 0)
        return -1;
    /* before a byte is written: a huge header fails at once */
    if (hashifyExtractCharge(ex, raw, meta.size) < 0)
        goto cleanup;
    if ((dirfd = hashifyExtractParent(ex, rel, raw, true, &base)) < 0)
        goto cleanup;
    if (hashifyOutFileBegin(ex, &f, dirfd, &meta, raw) < 0)
        goto cleanup;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &len, &off);

        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_WARN) {
            hashifyExtractWarn(ex, raw, "%s", archive_error_string(a));
        } else if (r != ARCHIVE_OK) {
            ex->archiveReadFailed = true;
            hashifyExtractFail(ex, raw, "cannot read its content: %s",
                               archive_error_string(a));
            goto cleanup;
        }
        if (off < 0) {
            hashifyExtractFail(ex, raw, "its content has a negative offset");
            goto cleanup;
        }
        if (hashifyOutFileWrite(ex, &f, buf, len, off, raw) < 0)
            goto cleanup;
    }
    if (hashifyOutFileFinish(ex, &f, base, rel, raw) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    hashifyOutFileAbort(&f);
    vserverHashifyMetaClear(&meta);
    return ret;
}


static int
hashifyImportHardlink(hashifyExtract *ex, const char *raw, const char *rel,
                      const char *target, const char *trel)
{
    const char *slash = strrchr(trel, '/');
    const char *tbase = slash ? slash + 1 : trel;
    const char *base;
    struct stat st = { 0 };   /* read below even when fstatat() failed */
    int tdirfd = ex->destfd;
    int dirfd;
    int ret = -1;

    if (slash) {
        char *tparent = strndup(trel, slash - trel);

        if (!tparent)
            return hashifyExtractFailErrno(ex, raw, ENOMEM, "cannot link it");
        tdirfd = hashifyExtractOpenBeneath(ex->destfd, tparent, O_RDONLY | O_DIRECTORY);
        free(tparent);
        if (tdirfd < 0) {
            int save = errno;
            char *q = hashifyQuote(target);
            const char *why = hashifyResolveWhy(save);

            if (save == ENOENT)
                hashifyExtractFail(ex, raw, "the hard link target '%s' is not in "
                                   "the tree (a hard link must point to an "
                                   "earlier entry)", q ? q : "");
            else
                hashifyExtractFail(ex, raw, "the hard link target '%s': %s",
                                   q ? q : "", why ? why : strerror(save));
            free(q);
            return -1;
        }
    }
    if (fstatat(tdirfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) {
        int save = S_ISDIR(st.st_mode) ? 0 : errno;
        char *q = hashifyQuote(target);

        if (save == ENOENT)
            hashifyExtractFail(ex, raw, "the hard link target '%s' is not in the "
                               "tree (a hard link must point to an earlier entry)",
                               q ? q : "");
        else if (save == 0)
            hashifyExtractFail(ex, raw, "the hard link target '%s' is a directory",
                               q ? q : "");
        else
            hashifyExtractFailErrno(ex, raw, save, "the hard link target '%s'",
                                    q ? q : "");
        free(q);
        goto cleanup;
    }
    if ((dirfd = hashifyExtractParent(ex, rel, raw, true, &base)) < 0)
        goto cleanup;
    ret = hashifyExtractLink(ex, tdirfd, tbase, dirfd, base, raw);

 cleanup:
    if (tdirfd != ex->destfd)
        close(tdirfd);
    return ret;
}


static int
hashifyImportEntry(hashifyExtract *ex, struct archive *a,
                   struct archive_entry *entry)
{
    const char *raw = archive_entry_pathname(entry);
    const char *hardlink = archive_entry_hardlink(entry);
    mode_t type = archive_entry_filetype(entry);
    vserverHashifyMeta meta = { 0 };
    char *rel = NULL;
    char *trel = NULL;
    const char *base;
    int dirfd;
    int ret = -1;

    if (!raw || !*raw)
        return hashifyExtractFail(ex, NULL, "entry %" PRIu64 " has no name",
                                  ex->entries + 1);
    if (hashifyImportName(ex, raw, NULL, raw, &rel) < 0)
        return -1;
    base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    if (*rel && hashifyNameIsTmp(base)) {
        hashifyExtractWarn(ex, raw, "left out: the store's temporary names are "
                           "never imported");
        ret = 0;
        goto cleanup;
    }

    if (hardlink) {
        if (!*rel) {
            hashifyExtractFail(ex, raw, "a hard link cannot replace the destination");
            goto cleanup;
        }
        if (hashifyImportName(ex, raw, "the hard link target '", hardlink, &trel) < 0)
            goto cleanup;
        if (!*trel) {
            hashifyExtractFail(ex, raw, "a hard link cannot point to the destination");
            goto cleanup;
        }
        ret = hashifyImportHardlink(ex, raw, rel, hardlink, trel);
        goto cleanup;
    }
    if (!*rel && type != AE_IFDIR) {
        hashifyExtractFail(ex, raw, "only a directory can be the destination itself");
        goto cleanup;
    }

    switch (type) {
    case AE_IFDIR:
        if (hashifyImportMeta(ex, entry, raw, S_IFDIR, &meta) < 0)
            goto cleanup;
        ret = hashifyExtractDir(ex, rel, raw, &meta);
        break;
    case AE_IFREG:
        ret = hashifyImportRegular(ex, a, entry, raw, rel);
        break;
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(entry);

        if (!target || !*target) {
            hashifyExtractFail(ex, raw, "the symbolic link has no target");
            goto cleanup;
        }
        if (hashifyImportMeta(ex, entry, raw, S_IFLNK, &meta) < 0 ||
            (dirfd = hashifyExtractParent(ex, rel, raw, true, &base)) < 0)
            goto cleanup;
        /* created as it is: nothing here ever follows it */
        ret = hashifyExtractNode(ex, dirfd, base, raw, &meta, target, 0);
        break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
        switch (ex->devices) {
        case HASHIFY_DEVICES_DENY:
            hashifyExtractFail(ex, raw, "device nodes are not allowed in this pool");
            goto cleanup;
        case HASHIFY_DEVICES_SKIP:
            hashifyExtractWarn(ex, raw, "device node left out (not allowed in "
                               "this pool)");
            ret = 0;
            goto cleanup;
        case HASHIFY_DEVICES_ALLOW:
        case HASHIFY_DEVICES_LAST:
            break;
        }
        if (hashifyImportMeta(ex, entry, raw, type, &meta) < 0 ||
            (dirfd = hashifyExtractParent(ex, rel, raw, true, &base)) < 0)
            goto cleanup;
        ret = hashifyExtractNode(ex, dirfd, base, raw, &meta, NULL,
                                 makedev(archive_entry_rdevmajor(entry),
                                         archive_entry_rdevminor(entry)));
        break;
    case AE_IFIFO:
        if (hashifyImportMeta(ex, entry, raw, S_IFIFO, &meta) < 0 ||
            (dirfd = hashifyExtractParent(ex, rel, raw, true, &base)) < 0)
            goto cleanup;
        ret = hashifyExtractNode(ex, dirfd, base, raw, &meta, NULL, 0);
        break;
    case AE_IFSOCK:
        hashifyExtractWarn(ex, raw, "socket left out");
        ret = 0;
        break;
    default:
        hashifyExtractFail(ex, raw, "unsupported entry type (0%o)", (unsigned int)type);
        break;
    }

 cleanup:
    vserverHashifyMetaClear(&meta);
    free(rel);
    free(trel);
    return ret;
}


/* Let a writer on the other end of a pipe finish: the data after the end
 * of the archive, or after a failure, is read and dropped, so that the
 * client's upload completes and it sees the message above. */
static void
hashifyDrainInput(int fd)
{
    static char buf[HASHIFY_ZEROS];
    struct stat st;

    if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        break;
    }
}


/* Decompression runs in a thread of its own, as `tar -xzf` runs gzip in a
 * process of its own: libarchive with every filter and the raw format turns
 * stdin into the plain tar stream, written into a pipe that the extracting
 * thread reads.  The second core then decompresses while the first writes
 * and hashes. */
typedef struct {
    int in;
    int out;                    /* closed by the thread when done */
    char *error;                /* the stream was damaged */
    bool complete;              /* all of it went into the pipe */
    unsigned char tail[1024];   /* the last bytes of the plain stream */
    size_t tailLen;
    pthread_t thread;
    bool started;
} hashifyInflate;


static void
hashifyInflateTail(hashifyInflate *inf, const unsigned char *buf, size_t len)
{
    size_t keep;

    if (len >= sizeof(inf->tail)) {
        memcpy(inf->tail, buf + len - sizeof(inf->tail), sizeof(inf->tail));
        inf->tailLen = sizeof(inf->tail);
        return;
    }
    keep = inf->tailLen + len > sizeof(inf->tail) ? sizeof(inf->tail) - len
                                                   : inf->tailLen;
    memmove(inf->tail, inf->tail + inf->tailLen - keep, keep);
    memcpy(inf->tail + keep, buf, len);
    inf->tailLen = keep + len;
}


/* A tar stream ends with two zero blocks (and maybe zero padding after
 * them); libarchive also takes a stream that just stops between entries,
 * which is what a cut-off download or a truncated .gz looks like. */
static bool
hashifyInflateEndsWell(const hashifyInflate *inf)
{
    size_t i;

    if (inf->tailLen < sizeof(inf->tail))
        return false;
    for (i = 0; i < inf->tailLen; i++) {
        if (inf->tail[i])
            return false;
    }
    return true;
}


static void *
hashifyInflateRun(void *opaque)
{
    hashifyInflate *inf = opaque;
    struct archive *a = archive_read_new();
    struct archive_entry *entry;
    int r;

    if (!a) {
        inf->error = strdup("out of memory");
        goto out;
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    if (archive_read_open_fd(a, inf->in, HASHIFY_IO_BUF) != ARCHIVE_OK ||
        (r = archive_read_next_header(a, &entry)) < ARCHIVE_WARN) {
        inf->error = strdup(archive_error_string(a) ? archive_error_string(a)
                                                    : "read error");
        goto out;
    }
    if (r == ARCHIVE_EOF) {
        /* no input at all: the tar reader says what it makes of that */
        inf->complete = true;
        goto out;
    }
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        const char *p;

        r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF) {
            inf->complete = true;
            break;
        }
        if (r < ARCHIVE_WARN) {
            inf->error = strdup(archive_error_string(a) ? archive_error_string(a)
                                                        : "read error");
            break;
        }
        hashifyInflateTail(inf, buf, len);
        for (p = buf; len > 0;) {
            ssize_t n = write(inf->out, p, len);

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                goto out;       /* the reader stopped: EPIPE */
            p += n;
            len -= n;
        }
    }
 out:
    if (a)
        archive_read_free(a);
    close(inf->out);
    inf->out = -1;
    return NULL;
}


/* The fd to read the plain tar stream from, or -1. */
static int
hashifyInflateStart(hashifyInflate *inf, int in)
{
    int fds[2];

    memset(inf, 0, sizeof(*inf));
    inf->in = in;
    inf->out = -1;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    /* room for a few data blocks: the two sides run at their own pace */
    fcntl(fds[1], F_SETPIPE_SZ, 1024 * 1024);
    inf->out = fds[1];
    if (pthread_create(&inf->thread, NULL, hashifyInflateRun, inf) != 0) {
        close(fds[0]);
        close(fds[1]);
        inf->out = -1;
        return -1;
    }
    inf->started = true;
    return fds[0];
}


/* After the reader closed its end: wait for the thread. */
static void
hashifyInflateStop(hashifyInflate *inf)
{
    if (inf->started)
        pthread_join(inf->thread, NULL);
    inf->started = false;
}


int
vserverHashifyCmdImport(int argc, char **argv)
{
    hashifyExtract ex;
    hashifyInflate inf = { .out = -1 };
    struct archive *a = NULL;
    struct archive_entry *entry;
    char *lastEntry = NULL;
    char **pos;
    bool ok = false;
    int tarfd = -1;
    int rc;

    hashifyExtractInit(&ex, "import");
    if ((rc = hashifyExtractParseArgs(&ex, argc, argv, 1, &pos,
                                      hashifyImportUsage)) != 0) {
        hashifyExtractFree(&ex);
        return rc < 0 ? 2 : 0;
    }
    hashifyArchiveLocale();
    if (hashifyExtractOpen(&ex, pos[0]) < 0)
        goto done;

    if (!(a = archive_read_new())) {
        hashifyExtractFailErrno(&ex, NULL, ENOMEM, "cannot read the archive");
        goto done;
    }
    /* the reader goes away first when an entry is refused */
    signal(SIGPIPE, SIG_IGN);
    if ((tarfd = hashifyInflateStart(&inf, STDIN_FILENO)) < 0) {
        hashifyExtractFailErrno(&ex, NULL, errno, "cannot start decompressing");
        goto done;
    }
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, tarfd, HASHIFY_IO_BUF) != ARCHIVE_OK) {
        ex.archiveReadFailed = true;
        hashifyExtractFail(&ex, NULL, "cannot read the archive: %s",
                           archive_error_string(a));
        goto done;
    }
    for (;;) {
        int r = archive_read_next_header(a, &entry);

        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_RETRY)
            continue;
        if (r == ARCHIVE_WARN) {
            hashifyExtractWarn(&ex, archive_entry_pathname(entry), "%s",
                               archive_error_string(a));
        } else if (r != ARCHIVE_OK) {
            ex.archiveReadFailed = true;
            if (lastEntry)
                hashifyExtractFail(&ex, lastEntry, "the archive is damaged after "
                                   "this entry: %s", archive_error_string(a));
            else
                hashifyExtractFail(&ex, NULL, "not a tar archive: %s",
                                   archive_error_string(a));
            goto done;
        }
        if (hashifyImportEntry(&ex, a, entry) < 0)
            goto done;
        free(lastEntry);
        lastEntry = archive_entry_pathname(entry) ?
                    strdup(archive_entry_pathname(entry)) : NULL;
        ex.entries++;
        hashifyExtractProgress(&ex, false);
    }
    /* a damaged compressed stream can end the tar stream cleanly */
    close(tarfd);
    tarfd = -1;
    hashifyInflateStop(&inf);
    if (inf.error) {
        ex.archiveReadFailed = true;
        goto done;
    }
    /* not complete: the reader stopped at the end-of-archive blocks */
    if (inf.complete && !hashifyInflateEndsWell(&inf)) {
        hashifyExtractFail(&ex, lastEntry, "the archive ends after this entry "
                           "without the end-of-archive blocks: it is truncated");
        goto done;
    }
    if (hashifyExtractFinishDirs(&ex) < 0)
        goto done;
    ok = true;

 done:
    if (a)
        archive_read_free(a);
    if (tarfd >= 0)
        close(tarfd);
    hashifyInflateStop(&inf);
    if (!ok && ex.archiveReadFailed && inf.error) {
        /* the tar stream ended because its compression is damaged */
        free(ex.error);
        ex.error = NULL;
        hashifyExtractFail(&ex, NULL, "cannot read the archive (after %"
                           PRIu64 " entries): %s", ex.entries, inf.error);
    }
    free(inf.error);
    free(lastEntry);
    rc = hashifyExtractDone(&ex, ok);
    hashifyDrainInput(STDIN_FILENO);
    hashifyExtractFree(&ex);
    return rc;
}


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

    for (;;) {
        len = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
        if (len <= 0)
            break;
        free(list);
        if (!(list = malloc(len)))
            return hashifyExportFail(x, entryPath, ENOMEM, "cannot list xattrs");
        len = fd >= 0 ? flistxattr(fd, list, len) : llistxattr(path, list, len);
        if (len >= 0 || errno != ERANGE)
            break;
    }
    if (len < 0) {
        if (errno == ENOTSUP || errno == EOPNOTSUPP) {
            ret = 0;
            goto cleanup;
        }
        hashifyExportFail(x, entryPath, errno, "cannot list extended attributes");
        goto cleanup;
    }
    for (off = 0; off < (size_t)len; off += strlen(list + off) + 1) {
        const char *name = list + off;
        void *value = NULL;
        ssize_t vlen;
        int rc = 0;

        for (;;) {
            vlen = fd >= 0 ? fgetxattr(fd, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
            if (vlen < 0)
                break;
            free(value);
            if (!(value = malloc(vlen ? vlen : 1))) {
                hashifyExportFail(x, entryPath, ENOMEM, "cannot read xattrs");
                goto cleanup;
            }
            vlen = fd >= 0 ? fgetxattr(fd, name, value, vlen)
                           : lgetxattr(path, name, value, vlen);
            if (vlen >= 0 || errno != ERANGE)
                break;
        }
        if (vlen < 0) {
            free(value);
            if (errno == ENODATA)
                continue;
            hashifyExportFail(x, entryPath, errno,
                              "cannot read the extended attribute '%s'", name);
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
