/*
 * vserver_hashify_extract.c: writing a tree below a destination, for
 * import and flatten
 *
 * Every entry is created through a directory fd opened beneath the
 * destination with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), so a symlink planted by an
 * earlier entry is never followed and no name can leave the destination.
 * Each regular file is written under a temporary name while its bytes go
 * through the store's hasher, gets its metadata, is renamed into place and
 * linked into the store; directory metadata comes last, deepest first.  On
 * any failure the destination is emptied again.
 *
 * The readers of the trees are vserver_hashify_import.c (a tar stream) and
 * vserver_hashify_flatten.c (an overlayfs lower and upper directory); see
 * vserver_hashify_archive.h.  The small helpers at the top serve export
 * too.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vserver_hashify_archive.h"
#include "vserver_hashify_priv.h"

#define PROGRAM "vserver-hashify"

#define HASHIFY_TMP_HEX 16

const unsigned char hashifyZeroBuf[HASHIFY_ZEROS];


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


const char *
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
void
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
            if (hashifyPatternListAdd(&ex->patterns, &ex->npatterns, optarg) < 0)
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
    if (hashifyPatternListFinish(&ex->patterns, &ex->npatterns, defaults) < 0)
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


int
hashifyExtractDeviceRule(hashifyExtract *ex, const char *entry)
{
    switch (ex->devices) {
    case HASHIFY_DEVICES_DENY:
        return hashifyExtractFail(ex, entry, "device nodes are not allowed in "
                                  "this pool");
    case HASHIFY_DEVICES_SKIP:
        hashifyExtractWarn(ex, entry, "device node left out (not allowed in "
                           "this pool)");
        return 0;
    case HASHIFY_DEVICES_ALLOW:
    case HASHIFY_DEVICES_LAST:
        break;
    }
    return 1;
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
