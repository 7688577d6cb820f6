/*
 * vserver_hashify_priv.h: what the library's files share internally
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <pthread.h>
#include <stdarg.h>

#include <openssl/evp.h>

#include "vserver_hashify.h"

#define HASHIFY_FANOUT 256
#define HASHIFY_TMP_PREFIX_LEN (sizeof(VSERVER_HASHIFY_TMP_PREFIX) - 1)
#define HASHIFY_TMP_NAME_LEN (HASHIFY_TMP_PREFIX_LEN + 16)
/* object file name below its fan-out directory */
#define HASHIFY_OBJ_NAME_LEN (VSERVER_HASHIFY_KEY_HEXLEN - 2)

#define HASHIFY_ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define HASHIFY_LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)


/* --- vserver_hashify_util.c */

int hashifyError(vserverHashifyError *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hashifyErrorV(vserverHashifyError *err, int errnum, const char *fmt,
                  va_list ap)
    __attribute__((format(printf, 3, 0)));
char *hashifyPrintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void hashifyCloseKeepErrno(int fd);

/* A set of inode numbers (one file system), safe for concurrent use. */
typedef struct {
    pthread_mutex_t lock;
    size_t used;
    size_t size;                /* power of two */
    uint64_t *slots;            /* 0 = empty; inode 0 never occurs */
} hashifyInoSet;

int hashifyInoSetInit(hashifyInoSet *set);
void hashifyInoSetFree(hashifyInoSet *set);
int hashifyInoSetAdd(hashifyInoSet *set, uint64_t ino);
bool hashifyInoSetHas(hashifyInoSet *set, uint64_t ino);

/* A set of keys, for dry runs (objects a real run would have created). */
typedef struct {
    pthread_mutex_t lock;
    size_t used;
    size_t size;
    vserverHashifyKey *slots;
    unsigned char *full;
} hashifyKeySet;

int hashifyKeySetInit(hashifyKeySet *set);
void hashifyKeySetFree(hashifyKeySet *set);
/* 1 if added, 0 if it was there, -1 on allocation failure */
int hashifyKeySetAdd(hashifyKeySet *set, const vserverHashifyKey *key);
bool hashifyKeySetHas(hashifyKeySet *set, const vserverHashifyKey *key);

/* A fresh VSERVER_HASHIFY_TMP_PREFIX name, NUL-terminated */
void hashifyTmpName(char name[HASHIFY_TMP_NAME_LEN + 1]);
bool hashifyIsTmpName(const char *name);

/* Open the directory @relpath ("" or "/a/b") below @rootfd without
 * following any symlink and without leaving the file system. */
int hashifyOpenBeneath(int rootfd, const char *relpath);

/* linkat(@fd, "", ...) of the open file itself, so that exactly the
 * inode that was checked gets the new name */
int hashifyLinkFd(int fd, int newdirfd, const char *newname);

bool hashifyStatUnchanged(const struct stat *a, const struct stat *b);

/* @n bytes for a person: "512 B", "1.5 MiB" */
void hashifyHumanSize(uint64_t n, char *buf, size_t len);
/* A size option: a number with an optional k, M, G or T suffix (powers of
 * 1024), each optionally followed by "i", and an optional "B".  -1 when
 * @s is not one or does not fit 64 bits. */
int hashifyParseSize(const char *s, uint64_t *out);

/* Exclude patterns from a command line: a NULL-terminated list of @n
 * copies.  Add appends a copy of @pat; Finish appends the default
 * patterns when @defaults (after the user's: the first match wins) and
 * makes a list of none an empty one, as NULL would mean the defaults.
 * -1 when out of memory. */
int hashifyPatternListAdd(char ***list, size_t *n, const char *pat);
int hashifyPatternListFinish(char ***list, size_t *n, bool defaults);


/* --- vserver_hashify_key.c */

/* The serialised metadata that precedes the content in the key. */
typedef struct {
    unsigned char *data;
    size_t len;
    size_t alloc;
} hashifyBuf;

void hashifyBufFree(hashifyBuf *buf);
int hashifyMetaSerialise(const vserverHashifyMeta *meta, bool keyMtime,
                         hashifyBuf *buf);
void hashifyMetaFromStat(const struct stat *st, vserverHashifyMeta *meta);

/* The names of the xattrs of @fd, or of @path (never followed) when @fd is
 * -1, retried while the list grows: their length with the list in @list
 * (0 and NULL when there are none or the file system has none), or -1
 * with errno (ENOMEM: no memory for the list). */
ssize_t hashifyXattrList(int fd, const char *path, char **list);
/* The value of the xattr @name of @fd, or of @path when @fd is -1: 1 with
 * it in @value (@size bytes), 0 if it went away meanwhile, -1 with errno. */
int hashifyXattrGet(int fd, const char *path, const char *name,
                    void **value, size_t *size);

/* Hash @fd's content after @header into @key.  @buf is a scratch buffer of
 * @buflen bytes.  Returns 0, or -1 with errno (ESTALE: the content length
 * differs from @size). */
int hashifyHashFd(EVP_MD_CTX *ctx, const EVP_MD *md, int fd,
                  const hashifyBuf *header, uint64_t size,
                  unsigned char *buf, size_t buflen,
                  vserverHashifyKey *key, uint64_t *hashed);


/* Key of the regular file open as @fd, whose fstat the caller took into
 * @st before (and receives again after) reading it; ESTALE when it
 * changed meanwhile.  The serialised metadata stays in scratch->header. */
struct _hashifyScratch;
int hashifyHashOpen(const vserverHashifyStore *store,
                    struct _hashifyScratch *scratch, int fd, bool keyMtime,
                    struct stat *st, vserverHashifyKey *key,
                    uint64_t *hashed);

/* openat for reading without touching atime where allowed */
int hashifyOpenFile(int dirfd, const char *name);


/* --- vserver_hashify_exclude.c */

typedef enum {
    HASHIFY_MATCH_NONE = 0,     /* no pattern matched */
    HASHIFY_MATCH_INCLUDE,      /* '+' */
    HASHIFY_MATCH_EXCLUDE,      /* '-' or no prefix */
    HASHIFY_MATCH_SKIP,         /* '~' */
} hashifyMatch;

typedef struct {
    char *pattern;
    hashifyMatch action;
    char *prefix;               /* literal text every match starts with */
    char *needle;               /* literal text every match contains */
} hashifyPattern;

typedef struct {
    size_t npatterns;
    hashifyPattern *patterns;
} hashifyExcludes;

int hashifyExcludesCompile(const char *const *list, hashifyExcludes *ex,
                           vserverHashifyError *err);
void hashifyExcludesFree(hashifyExcludes *ex);
/* First matching pattern for @path ("/a/b"); @index receives its position. */
hashifyMatch hashifyExcludesMatch(const hashifyExcludes *ex, const char *path,
                                  size_t *index);
/* Whether a pattern before @index re-includes something ('+'). */
bool hashifyExcludesIncludeBefore(const hashifyExcludes *ex, size_t index);


/* --- vserver_hashify_store.c */

struct _vserverHashifyStore {
    vserverHashifySettings settings;
    char **excludeList;         /* the settings' own copy */
    hashifyExcludes excludes;
    unsigned int flags;
    char *root;
    int rootfd;
    int hashfd;                 /* -1: read-only store without .hash/ */
    int lockfd;
    dev_t dev;
    ino_t hashIno;
    const EVP_MD *md;           /* fetched once: implicit fetches are slow */

    pthread_mutex_t subLock;
    int subfd[HASHIFY_FANOUT];  /* fan-out directories, -1: not open */
};

/* Per-thread scratch space for hashing and linking. */
typedef struct _hashifyScratch {
    EVP_MD_CTX *ctx;
    unsigned char *buf;
    unsigned char *buf2;        /* content comparison, allocated on use */
    size_t buflen;
    hashifyBuf header;
    hashifyBuf objHeader;
} hashifyScratch;

int hashifyScratchInit(hashifyScratch *scratch);
void hashifyScratchFree(hashifyScratch *scratch);

/* One name of the inode being linked: its directory and entry name. */
typedef struct {
    int dirfd;
    const char *name;
    bool replaced;              /* out: now a name of the object */
} hashifyLinkName;

typedef struct {
    bool dryRun;
    hashifyKeySet *dryKeys;     /* dry runs: objects that would exist */
    hashifyInoSet *storeInos;   /* updated when an object is created */
} hashifyLinkCtx;

/* Link the names of the inode open as @fd (metadata @st, serialised as
 * @header, key @key) to the object, or make the inode the object. */
int hashifyStoreLinkInode(vserverHashifyStore *store, hashifyScratch *scratch,
                          const hashifyLinkCtx *lctx,
                          int fd, const struct stat *st,
                          const hashifyBuf *header,
                          const vserverHashifyKey *key,
                          hashifyLinkName *names, size_t nnames,
                          vserverHashifyLinkResult *result,
                          vserverHashifyError *err);

/* Every object's inode number. */
int hashifyStoreLoadInos(vserverHashifyStore *store, hashifyInoSet *set,
                         vserverHashifyError *err);


/* --- vserver_hashify_tree.c */

/* Remove leftover temporary names below the trees (for gc). */
int hashifyTreesSweep(vserverHashifyStore *store, hashifyInoSet *storeInos,
                      const char *const *trees, size_t ntrees, bool dryRun,
                      uint64_t *removed, vserverHashifyError *err);
