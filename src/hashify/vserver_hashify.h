/*
 * vserver_hashify.h: content-addressed hardlink store ("hashify")
 *
 * A store is a directory ".hash/" at the top of a pool (or tree) root.  It
 * holds one name per object, .hash/XX/YYYY... where XXYYYY... is the hex
 * SHA-256 key of the object (see vserver_hashify_key.c and docs/hashify.md
 * for the exact serialisation).  Tree files whose metadata and content are
 * identical share the object's inode: hashifying a tree replaces each such
 * file by a hardlink to the object, only ever by an atomic rename.
 *
 * The library depends on libc, pthreads and OpenSSL's libcrypto only, so it
 * can be linked into the libvirt storage driver and into the command-line
 * tool alike.  It reports errors through a vserverHashifyError (an errno
 * value and a message) instead of printing; the caller decides what to do.
 *
 * Thread safety: a store handle may be used by several threads at once for
 * key computation, vserverHashifyStoreLinkAt, vserverHashifyLinkFile,
 * vserverHashifyTrees and vserverHashifyStoreGetStats.  vserverHashifyStoreGc
 * needs the store to itself: it fails with EBUSY while another handle (in
 * any process) has the store open, and the caller must not run other
 * operations on the same handle while it runs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define VSERVER_HASHIFY_DIR ".hash"
#define VSERVER_HASHIFY_LOCK ".lock"
/* Every temporary name the library creates starts with this, followed by
 * 16 hex digits.  Such a name is always an extra hardlink of a store object
 * (never the only name of anything), so removing it loses nothing. */
#define VSERVER_HASHIFY_TMP_PREFIX ".vhtmp."
#define VSERVER_HASHIFY_KEY_LEN 32
#define VSERVER_HASHIFY_KEY_HEXLEN (2 * VSERVER_HASHIFY_KEY_LEN)


/* --- errors */

typedef struct _vserverHashifyError {
    int code;                   /* errno value; 0 if none */
    char *message;              /* malloc'd, names the path; NULL if none */
} vserverHashifyError;

void vserverHashifyErrorClear(vserverHashifyError *err);


/* --- settings of a pool */

typedef enum {
    /* A file with names outside the hashified trees (st_nlink larger than
     * the number of its names found in the trees) is left alone: linking
     * its tree names would silently split it from the outside names. */
    VSERVER_HASHIFY_OUTSIDE_SKIP = 0,
    /* Link its tree names anyway; the outside names keep the old inode. */
    VSERVER_HASHIFY_OUTSIDE_RELINK,

    VSERVER_HASHIFY_OUTSIDE_LAST
} vserverHashifyOutsidePolicy;

typedef struct _vserverHashifySettings {
    bool keyMtime;              /* mtime (s + ns) is part of the key */
    uint64_t minSize;           /* files smaller than this are never linked;
                                 * empty files never are (0 acts as 1) */
    const char *const *excludes;/* NULL-terminated pattern list (see
                                 * docs/hashify.md); NULL: the defaults */
    unsigned int threads;       /* hashing threads; 0: online CPUs */
    vserverHashifyOutsidePolicy outsideLinks;
    /* Compare the content byte for byte with the object's before linking
     * a name to an existing object.  The key alone cannot tell when an
     * object was written to in place through one of its names without its
     * size or (keyed) mtime changing; that object must not replace another
     * file.  Costs a second read of both from the page cache. */
    bool compareContent;
} vserverHashifySettings;

/* keyMtime true, minSize 1, default excludes, threads 0, outside SKIP,
 * compareContent true */
void vserverHashifySettingsInit(vserverHashifySettings *settings);

/* NULL-terminated, static */
const char *const *vserverHashifyDefaultExcludes(void);

/* Check a pattern list as vserverHashifyStoreOpen would; lets a caller
 * validate pool XML before it opens anything. */
int vserverHashifyExcludesCheck(const char *const *excludes,
                                vserverHashifyError *err);


/* --- the store */

typedef struct _vserverHashifyStore vserverHashifyStore;

typedef enum {
    VSERVER_HASHIFY_STORE_CREATE = 1 << 0,   /* create .hash/ if missing */
    VSERVER_HASHIFY_STORE_READONLY = 1 << 1, /* never write (dry runs); a
                                              * missing .hash/ is an empty
                                              * store */
} vserverHashifyStoreFlags;

/* Open the store at ROOT/.hash.  The settings are copied.  Holds a shared
 * lock on .hash/.lock until closed. */
vserverHashifyStore *vserverHashifyStoreOpen(const char *root,
                                             const vserverHashifySettings *settings,
                                             unsigned int flags,
                                             vserverHashifyError *err);
void vserverHashifyStoreClose(vserverHashifyStore *store);

const vserverHashifySettings *vserverHashifyStoreSettings(const vserverHashifyStore *store);
dev_t vserverHashifyStoreDev(const vserverHashifyStore *store);


/* --- keys */

typedef struct _vserverHashifyKey {
    unsigned char bytes[VSERVER_HASHIFY_KEY_LEN];
} vserverHashifyKey;

/* @hex must have room for VSERVER_HASHIFY_KEY_HEXLEN + 1 bytes */
void vserverHashifyKeyFormat(const vserverHashifyKey *key, char *hex);
int vserverHashifyKeyParse(const char *hex, vserverHashifyKey *key);

typedef struct _vserverHashifyXattr {
    char *name;
    void *value;
    size_t size;
} vserverHashifyXattr;

/* Everything that all hardlinks of a file share and the key covers. */
typedef struct _vserverHashifyMeta {
    mode_t mode;                /* file type and permission bits */
    uid_t uid;
    gid_t gid;
    uint64_t size;
    struct timespec mtime;
    size_t nxattrs;
    vserverHashifyXattr *xattrs;/* any order; sorted when serialised */
} vserverHashifyMeta;

/* Read @fd's metadata: fstat (or @st when given) and every xattr. */
int vserverHashifyMetaFromFd(int fd, const struct stat *st,
                             vserverHashifyMeta *meta,
                             vserverHashifyError *err);
/* For importers that build the metadata from an archive header. */
int vserverHashifyMetaAddXattr(vserverHashifyMeta *meta, const char *name,
                               const void *value, size_t size);
void vserverHashifyMetaClear(vserverHashifyMeta *meta);

/* Streaming key computation, for hashing while extracting: the metadata
 * comes first (as in a tar header), then exactly meta->size content bytes.
 * The store supplies keyMtime. */
typedef struct _vserverHashifyHasher vserverHashifyHasher;

vserverHashifyHasher *vserverHashifyHasherNew(const vserverHashifyStore *store,
                                              const vserverHashifyMeta *meta,
                                              vserverHashifyError *err);
int vserverHashifyHasherUpdate(vserverHashifyHasher *hasher,
                               const void *data, size_t len);
/* Fails (EIO) when the content length differs from meta->size. */
int vserverHashifyHasherFinal(vserverHashifyHasher *hasher,
                              vserverHashifyKey *key,
                              vserverHashifyError *err);
void vserverHashifyHasherFree(vserverHashifyHasher *hasher);

/* Key of the regular file open as @fd (read with pread from offset 0).
 * Fails with ESTALE when the file changed while it was read.  @meta, when
 * not NULL, receives the metadata the key was computed from. */
int vserverHashifyKeyFromFd(const vserverHashifyStore *store, int fd,
                            vserverHashifyKey *key, vserverHashifyMeta *meta,
                            vserverHashifyError *err);


/* --- linking single files */

typedef enum {
    VSERVER_HASHIFY_LINK_CREATED = 0,  /* the file became the object */
    VSERVER_HASHIFY_LINK_LINKED,       /* the name now is the object */
    VSERVER_HASHIFY_LINK_ALREADY,      /* the name already was the object */
    VSERVER_HASHIFY_LINK_SKIPPED,      /* left alone, see the reason */

    VSERVER_HASHIFY_LINK_LAST
} vserverHashifyLinkOutcome;

typedef enum {
    VSERVER_HASHIFY_SKIP_NONE = 0,
    VSERVER_HASHIFY_SKIP_SMALL,        /* below minSize, or empty */
    VSERVER_HASHIFY_SKIP_SPECIAL,      /* not a regular file */
    VSERVER_HASHIFY_SKIP_EXCLUDED,     /* matched an exclude pattern */
    VSERVER_HASHIFY_SKIP_OTHER_FS,     /* not on the store's file system */
    VSERVER_HASHIFY_SKIP_OUTSIDE_LINKS,/* has names outside the trees */
    VSERVER_HASHIFY_SKIP_CHANGED,      /* changed while hashed or linked */
    VSERVER_HASHIFY_SKIP_MISMATCH,     /* the object's metadata differs:
                                        * it was changed through a link */
    VSERVER_HASHIFY_SKIP_LINK_LIMIT,   /* the object has st_nlink at the
                                        * file system's maximum */

    VSERVER_HASHIFY_SKIP_LAST
} vserverHashifySkipReason;

const char *vserverHashifySkipReasonString(vserverHashifySkipReason reason);

typedef struct _vserverHashifyLinkResult {
    vserverHashifyLinkOutcome outcome;
    vserverHashifySkipReason reason;
    vserverHashifyKey key;
    uint64_t size;
} vserverHashifyLinkResult;

typedef enum {
    /* link even if st_nlink > 1 (other names are not touched) */
    VSERVER_HASHIFY_LINK_ANY_NLINK = 1 << 0,
    /* report what would happen, change nothing */
    VSERVER_HASHIFY_LINK_DRY_RUN = 1 << 1,
} vserverHashifyLinkFlags;

/* Link @dirfd/@name, whose key the caller computed from @meta and the
 * content (an importer hashing while extracting), to its object, or make it
 * the object.  @fd is the file open for reading, or -1.  The file's actual
 * metadata must serialise exactly like @meta, or it is skipped as CHANGED.
 * Minimum size and exclude patterns are the caller's business here. */
int vserverHashifyStoreLinkAt(vserverHashifyStore *store,
                              int dirfd, const char *name, int fd,
                              const vserverHashifyKey *key,
                              const vserverHashifyMeta *meta,
                              unsigned int flags,
                              vserverHashifyLinkResult *result,
                              vserverHashifyError *err);

/* Hash @path (the last component is never followed) and link it.  Applies
 * the minimum size, the file type and file system checks, not the exclude
 * patterns (those are relative to a tree root). */
int vserverHashifyLinkFile(vserverHashifyStore *store, const char *path,
                           unsigned int flags,
                           vserverHashifyLinkResult *result,
                           vserverHashifyError *err);

/* Whether the store's exclude patterns keep a regular file at @path ("/a/b",
 * relative to its tree root) out of the store, exactly as a tree walk would
 * decide: the file matches an exclude or skip pattern first, or a directory
 * above it is one the walk does not enter.  For importers, which create the
 * tree themselves and link each file as it is written. */
bool vserverHashifyStorePathExcluded(const vserverHashifyStore *store,
                                     const char *path);


/* --- hashifying trees */

/* Counters of one vserverHashifyTrees run.  In a dry run "linked",
 * "created" and "saved" say what a real run would have done. */
typedef struct _vserverHashifyStats {
    uint64_t filesScanned;      /* regular files looked at */
    uint64_t filesHashed;       /* inodes whose content was hashed */
    uint64_t bytesHashed;
    uint64_t filesLinked;       /* names replaced by a link to an object */
    uint64_t objectsCreated;    /* inodes that became objects */
    uint64_t bytesSaved;        /* sizes of the inodes freed by linking:
                                 * inodes all of whose names were replaced */
    uint64_t alreadyLinked;     /* names that already were objects */
    uint64_t skipped[VSERVER_HASHIFY_SKIP_LAST]; /* names, by reason */
    uint64_t tempsRemoved;      /* leftover temporary names removed */
    uint64_t errors;            /* names that failed (see the warn callback) */
} vserverHashifyStats;

typedef void (*vserverHashifyProgressFunc)(const vserverHashifyStats *stats,
                                           bool final, void *opaque);
/* @path is the tree path joined with the name's path below it. */
typedef void (*vserverHashifyWarnFunc)(const char *path, int errnum,
                                       const char *message, void *opaque);
typedef void (*vserverHashifyLinkedFunc)(const char *path,
                                         const vserverHashifyLinkResult *result,
                                         void *opaque);

typedef struct _vserverHashifyRunOptions {
    bool dryRun;
    /* Called from the calling thread, at most every progressIntervalMs
     * (0: 200 ms), and once more at the end with final = true. */
    vserverHashifyProgressFunc progress;
    unsigned int progressIntervalMs;
    /* Called from any thread, one call at a time: a name that failed. */
    vserverHashifyWarnFunc warn;
    /* Called from any thread, one call at a time: every name linked,
     * created or skipped after hashing. */
    vserverHashifyLinkedFunc linked;
    void *opaque;
    /* Polled; when it becomes nonzero the run stops early (-1, ECANCELED). */
    const int *cancel;
} vserverHashifyRunOptions;

/* Hashify every tree into the store.  Trees must be on the store's file
 * system; a tree inside another given tree is walked only as its own
 * tree.  Exclude patterns match each tree's paths relative to its root.
 * Per-file failures are counted in stats->errors and passed to the warn
 * callback; -1 means the run itself failed. */
int vserverHashifyTrees(vserverHashifyStore *store,
                        const char *const *trees, size_t ntrees,
                        const vserverHashifyRunOptions *opts,
                        vserverHashifyStats *stats,
                        vserverHashifyError *err);


/* --- store statistics and garbage collection */

typedef struct _vserverHashifyStoreStats {
    uint64_t objects;           /* names .hash/XX/<62 hex> */
    uint64_t bytesStored;       /* sum of the objects' st_size */
    uint64_t diskStored;        /* sum of the objects' st_blocks * 512 */
    uint64_t links;             /* sum of (st_nlink - 1): names outside
                                 * the store */
    uint64_t bytesSaved;        /* sum over objects with st_nlink >= 2 of
                                 * (st_nlink - 2) * st_size: what the names
                                 * outside the store would take beyond one
                                 * copy if each were a file of its own */
    uint64_t unreferenced;      /* objects with st_nlink == 1 */
    uint64_t bytesUnreferenced;
    uint64_t strayEntries;      /* other names in .hash (temporaries) */
} vserverHashifyStoreStats;

int vserverHashifyStoreGetStats(vserverHashifyStore *store,
                                vserverHashifyStoreStats *stats,
                                vserverHashifyError *err);

typedef enum {
    /* Re-hash every object; an object whose key no longer matches its
     * name (it was written to through a link) loses its store name.  Its
     * tree names keep the inode. */
    VSERVER_HASHIFY_GC_VERIFY = 1 << 0,
    VSERVER_HASHIFY_GC_DRY_RUN = 1 << 1,
} vserverHashifyGcFlags;

typedef struct _vserverHashifyGcStats {
    uint64_t objectsRemoved;
    uint64_t bytesRemoved;
    uint64_t tempsRemoved;      /* in the store and in the trees */
    uint64_t objectsVerified;
    uint64_t badObjects;        /* failed verification, name removed */
} vserverHashifyGcStats;

/* Remove leftover temporary names below @trees and in the store, then
 * every object whose st_nlink is 1 (the store holds the only name).
 * Fails with EBUSY while another handle has the store open. */
int vserverHashifyStoreGc(vserverHashifyStore *store,
                          const char *const *trees, size_t ntrees,
                          unsigned int flags,
                          vserverHashifyGcStats *stats,
                          vserverHashifyError *err);
