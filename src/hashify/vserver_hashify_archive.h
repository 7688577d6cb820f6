/*
 * vserver_hashify_archive.h: template trees in and out of a store
 *
 * `vserver-hashify import` unpacks a tar stream into an empty directory,
 * hashing each regular file while it is written and linking it into the
 * store; `export` writes a tree as a pax tar; `flatten` builds the merged
 * view of an overlayfs lower and upper directory without mounting it.
 * Import and flatten create everything through directory fds below the
 * destination (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so no
 * entry can reach outside it, and on any failure they leave the
 * destination empty.
 *
 * The tool's process is the only user of this header: libc, libarchive
 * and the store library.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "vserver_hashify.h"

/* The subcommands.  @argv[0] is the subcommand's name; the result is the
 * exit status: 0 done, 1 failed (the last stderr line says why), 2 usage
 * error. */
int vserverHashifyCmdImport(int argc, char **argv);
int vserverHashifyCmdExport(int argc, char **argv);
int vserverHashifyCmdFlatten(int argc, char **argv);


/* --- what import and flatten share (vserver_hashify_extract.c) */

typedef enum {
    HASHIFY_DEVICES_DENY = 0,   /* a device node fails the run */
    HASHIFY_DEVICES_SKIP,       /* left out, with a warning */
    HASHIFY_DEVICES_ALLOW,      /* created */

    HASHIFY_DEVICES_LAST
} hashifyDevices;

/* Metadata of a directory, applied after its contents are complete. */
typedef struct {
    char *path;                 /* below the destination; "" for itself */
    unsigned int depth;
    size_t seq;                 /* order of arrival: the last one wins */
    vserverHashifyMeta meta;
} hashifyPendingDir;

typedef struct {
    /* settings */
    const char *command;        /* "import" or "flatten" */
    const char *storeRoot;
    vserverHashifySettings settings;
    char **patterns;            /* NULL-terminated, owned */
    size_t npatterns;
    hashifyDevices devices;
    uint64_t limit;             /* bytes of regular files; 0: none */
    const char *limitWhat;      /* "the archive unpacks to" */
    int progressOpt;            /* -1: when stderr is a tty */

    /* state */
    vserverHashifyStore *store;
    const char *dest;
    int destfd;
    struct stat destst;
    bool destVerified;          /* empty when we started: ours to empty */
    bool progress;
    bool tty;
    bool lineOpen;
    struct timespec lastProgress;
    uint64_t entries;
    uint64_t bytes;             /* content bytes written */
    uint64_t charged;           /* header sizes counted against the limit */
    uint64_t filesLinked;       /* names that became store objects */
    uint64_t filesCopied;       /* regular files written */
    uint64_t filesShared;       /* flatten: lower files linked as they are */
    bool warnedOverlayXattr;
    bool archiveReadFailed;     /* import: the tar stream could not be read */

    hashifyPendingDir *dirs;
    size_t ndirs;
    size_t adirs;

    /* the last parent directory opened below the destination */
    char *cachePath;
    int cacheFd;

    char *error;                /* the first failure, one line */
} hashifyExtract;

/* A regular file being written under a temporary name. */
typedef struct {
    int dirfd;                  /* borrowed */
    int fd;
    char tmp[64];               /* "" once renamed into place */
    vserverHashifyHasher *hasher;
    const vserverHashifyMeta *meta;
    uint64_t fed;               /* content bytes the hasher has seen */
    uint64_t end;               /* the largest offset written */
} hashifyOutFile;

void hashifyExtractInit(hashifyExtract *ex, const char *command);
void hashifyExtractFree(hashifyExtract *ex);

/* Parse the shared options; the remaining arguments (exactly @npos) are
 * returned in @pos.  -1 after a usage message, 1 after --help. */
int hashifyExtractParseArgs(hashifyExtract *ex, int argc, char **argv,
                            int npos, char ***pos,
                            void (*usage)(FILE *out));

/* The help of those options, for the usage messages of the commands: up
 * to --devices, whose meaning each command gives, and from --progress. */
#define HASHIFY_EXTRACT_HELP_STORE \
"  -s, --store ROOT          the directory holding .hash/ (required)\n" \
"      --key-mtime           make mtime part of the key\n" \
"  -m, --min-size=SIZE       never link files smaller than SIZE (default 1)\n" \
"  -x, --exclude=PATTERN     exclude pattern, tried before the defaults\n" \
"      --no-default-excludes use only the given patterns\n" \
"      --devices=deny|skip|allow\n"
#define HASHIFY_EXTRACT_HELP_PROGRESS \
"      --progress            show progress on stderr (default: when a tty)\n" \
"      --no-progress\n" \
"  -h, --help\n"

/* Open the store and the (existing, empty) destination. */
int hashifyExtractOpen(hashifyExtract *ex, const char *dest);

/* Record the first failure; @entry (may be NULL) is named in it. */
int hashifyExtractFail(hashifyExtract *ex, const char *entry,
                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hashifyExtractFailErrno(hashifyExtract *ex, const char *entry, int errnum,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void hashifyExtractWarn(hashifyExtract *ex, const char *entry,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The pool's rule (--devices) on the device node @entry: 1 to create it,
 * 0 when it is left out (with a warning), -1 when it fails the run. */
int hashifyExtractDeviceRule(hashifyExtract *ex, const char *entry);

/* Count @size bytes of regular file content against --limit. */
int hashifyExtractCharge(hashifyExtract *ex, const char *entry, uint64_t size);

/* The directory that will hold @rel ("a/b/c": "a/b"), opened beneath the
 * destination; missing directories are created when @create.  The fd is
 * borrowed (valid until the next call); @base receives the last
 * component. */
int hashifyExtractParent(hashifyExtract *ex, const char *rel,
                         const char *entry, bool create, const char **base);

/* Make @rel a directory (an existing one is kept) and queue @meta for it;
 * @meta is taken over.  @rel "" is the destination itself. */
int hashifyExtractDir(hashifyExtract *ex, const char *rel, const char *entry,
                      vserverHashifyMeta *meta);

/* Create a symlink (@target), FIFO, socket or device node (@rdev) named
 * @name in @dirfd, replacing a non-directory, with @meta. */
int hashifyExtractNode(hashifyExtract *ex, int dirfd, const char *name,
                       const char *entry, const vserverHashifyMeta *meta,
                       const char *target, dev_t rdev);

/* Hard link @dirfd/@name to the inode @odirfd/@oname (not a directory). */
int hashifyExtractLink(hashifyExtract *ex, int odirfd, const char *oname,
                       int dirfd, const char *name, const char *entry);

/* Regular files: begin (temporary name, hasher on @meta, which must stay
 * valid until finish), write content at offsets (gaps are holes), finish
 * (metadata, rename to @name, link into the store unless too small or
 * excluded: @rel is the path below the destination). */
int hashifyOutFileBegin(hashifyExtract *ex, hashifyOutFile *f, int dirfd,
                        const vserverHashifyMeta *meta, const char *entry);
int hashifyOutFileWrite(hashifyExtract *ex, hashifyOutFile *f,
                        const void *data, size_t len, uint64_t offset,
                        const char *entry);
int hashifyOutFileFinish(hashifyExtract *ex, hashifyOutFile *f,
                         const char *name, const char *rel,
                         const char *entry);
void hashifyOutFileAbort(hashifyOutFile *f);

/* Apply the queued directory metadata, deepest first. */
int hashifyExtractFinishDirs(hashifyExtract *ex);

void hashifyExtractProgress(hashifyExtract *ex, bool final);

/* End a run: on failure empty the destination and print the error as the
 * last line on stderr.  Returns the exit status. */
int hashifyExtractDone(hashifyExtract *ex, bool ok);

/* openat2 of @path below @dirfd: no symlink, no magic link, no mount
 * crossing, no escape. */
int hashifyExtractOpenBeneath(int dirfd, const char *path, int flags);

/* Why openat2 beneath the destination failed with @errnum, for a
 * message; NULL when it is no reason of the path's. */
const char *hashifyResolveWhy(int errnum);
/* A UTF-8 LC_CTYPE, so that libarchive passes pax's UTF-8 names through
 * unchanged. */
void hashifyArchiveLocale(void);

/* Buffer sizes: reads of a tar stream or a file, and runs of zeros */
#define HASHIFY_IO_BUF (256 * 1024)
#define HASHIFY_ZEROS (64 * 1024)
extern const unsigned char hashifyZeroBuf[HASHIFY_ZEROS];

/* Xattrs never copied into a tree: overlayfs's own. */
bool hashifyXattrIsOverlay(const char *name);
/* VSERVER_HASHIFY_TMP_PREFIX followed by 16 hex digits */
bool hashifyNameIsTmp(const char *name);
/* @s with control characters and quotes escaped, for one-line messages;
 * malloc'd (NULL only when out of memory). */
char *hashifyQuote(const char *s);
/* The target of the symlink @name in @dirfd, malloc'd; @size: its st_size
 * (a hint).  NULL with errno set on failure. */
char *hashifyReadLinkAt(int dirfd, const char *name, off_t size);
/* Raise the soft RLIMIT_NOFILE to the hard one (tree walks keep a
 * directory fd per level). */
void hashifyRaiseFdLimit(void);

/* --- POSIX ACLs (vserver_hashify_acl.c) */

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

/* Check, complete (a missing mask is computed as setfacl does), sort and
 * encode the @n entries of @in; for an access ACL (@access) the permission
 * bits it implies replace those in @mode, and one of the three base
 * entries only is no ACL at all (*value NULL).  -1 with errno (EINVAL: not
 * a valid ACL). */
int hashifyAclEncode(const hashifyAclEntry *in, size_t n, bool access,
                     void **value, size_t *size, mode_t *mode);
/* The entries of the xattr value @value, malloc'd into *entries.  -1 with
 * errno (EINVAL: not the kernel's format). */
int hashifyAclDecode(const void *value, size_t size,
                     hashifyAclEntry **entries, size_t *n);


/* Which name an inode was first seen under (vserver_hashify_inomap.c),
 * for keeping hard links in a tree walk.  Zero-initialised is empty. */
typedef struct {
    dev_t dev;
    ino_t ino;
    char *name;                 /* NULL: empty slot */
} hashifyInoSlot;

typedef struct {
    hashifyInoSlot *slots;
    size_t used;
    size_t size;                /* a power of two */
} hashifyInoMap;

/* The name @st's inode was first seen under, or NULL after recording
 * @name as it (*nomem set when that failed for want of memory). */
const char *hashifyInoMapSeen(hashifyInoMap *m, const struct stat *st,
                              const char *name, bool *nomem);
void hashifyInoMapClear(hashifyInoMap *m);
