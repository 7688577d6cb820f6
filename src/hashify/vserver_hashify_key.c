/*
 * vserver_hashify_key.c: object keys
 *
 * The key of a regular file is SHA-256 over this byte string, all integers
 * big-endian (the same on every host, whatever its byte order):
 *
 *   "vserver-hashify1"         16 bytes, ASCII, format version 1
 *   u32 flags                  bit 0: mtime is included below
 *   u32 type                   st_mode & S_IFMT (0100000: regular file)
 *   u32 mode                   st_mode & 07777
 *   u32 uid
 *   u32 gid
 *   u64 size                   st_size
 *   u32 nxattrs
 *   nxattrs times, sorted by name (bytewise, a prefix sorts first):
 *     u32 namelen, name (no NUL), u32 valuelen, value
 *   if flags bit 0:
 *     s64 mtime seconds, u32 mtime nanoseconds
 *   size bytes of content
 *
 * Every xattr the caller can list is included: security.capability and
 * the POSIX ACLs (system.posix_acl_access, system.posix_acl_default) as
 * much as user.* and trusted.*.  Two files with the same key can share one
 * inode without any name seeing a difference (except atime, ctime and the
 * link count).  The flags word keeps keys with and without mtime apart.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vserver_hashify_priv.h"

#define HASHIFY_MAGIC "vserver-hashify1"
#define HASHIFY_FLAG_MTIME 1u
#define HASHIFY_READ_BUF (256 * 1024)

struct _vserverHashifyHasher {
    EVP_MD_CTX *ctx;
    uint64_t size;
    uint64_t fed;
};


void
vserverHashifyKeyFormat(const vserverHashifyKey *key, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < VSERVER_HASHIFY_KEY_LEN; i++) {
        hex[2 * i] = digits[key->bytes[i] >> 4];
        hex[2 * i + 1] = digits[key->bytes[i] & 0xf];
    }
    hex[VSERVER_HASHIFY_KEY_HEXLEN] = '\0';
}


static int
hashifyHexDigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}


/* Lower-case only: the store's names are canonical. */
int
vserverHashifyKeyParse(const char *hex, vserverHashifyKey *key)
{
    size_t i;

    for (i = 0; i < VSERVER_HASHIFY_KEY_LEN; i++) {
        int hi = hashifyHexDigit(hex[2 * i]);
        int lo = hi < 0 ? -1 : hashifyHexDigit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            errno = EINVAL;
            return -1;
        }
        key->bytes[i] = (hi << 4) | lo;
    }
    if (hex[VSERVER_HASHIFY_KEY_HEXLEN] != '\0') {
        errno = EINVAL;
        return -1;
    }
    return 0;
}


/* --- metadata */

void
vserverHashifyMetaClear(vserverHashifyMeta *meta)
{
    size_t i;

    for (i = 0; i < meta->nxattrs; i++) {
        free(meta->xattrs[i].name);
        free(meta->xattrs[i].value);
    }
    free(meta->xattrs);
    memset(meta, 0, sizeof(*meta));
}


int
vserverHashifyMetaAddXattr(vserverHashifyMeta *meta, const char *name,
                           const void *value, size_t size)
{
    vserverHashifyXattr *n;
    vserverHashifyXattr x = { 0 };

    if (!(x.name = strdup(name)))
        return -1;
    /* malloc(0) may return NULL; keep a valid pointer for empty values */
    if (!(x.value = malloc(size ? size : 1))) {
        free(x.name);
        return -1;
    }
    memcpy(x.value, value, size);
    x.size = size;
    if (!(n = realloc(meta->xattrs, (meta->nxattrs + 1) * sizeof(*n)))) {
        free(x.name);
        free(x.value);
        return -1;
    }
    meta->xattrs = n;
    meta->xattrs[meta->nxattrs++] = x;
    return 0;
}


void
hashifyMetaFromStat(const struct stat *st, vserverHashifyMeta *meta)
{
    meta->mode = st->st_mode;
    meta->uid = st->st_uid;
    meta->gid = st->st_gid;
    meta->size = st->st_size;
    meta->mtime = st->st_mtim;
}


ssize_t
hashifyXattrList(int fd, const char *path, char **list)
{
    *list = NULL;
    for (;;) {
        ssize_t len = fd >= 0 ? flistxattr(fd, NULL, 0)
                              : llistxattr(path, NULL, 0);
        ssize_t got;

        if (len < 0) {
            if (errno == ENOTSUP)
                return 0;
            return -1;
        }
        if (len == 0)
            return 0;
        if (!(*list = malloc(len)))
            return -1;
        got = fd >= 0 ? flistxattr(fd, *list, len)
                      : llistxattr(path, *list, len);
        if (got >= 0)
            return got;
        free(*list);
        *list = NULL;
        if (errno == ENOTSUP)
            return 0;
        if (errno != ERANGE)
            return -1;
    }
}


int
hashifyXattrGet(int fd, const char *path, const char *name,
                void **value, size_t *size)
{
    *value = NULL;
    for (;;) {
        ssize_t len = fd >= 0 ? fgetxattr(fd, name, NULL, 0)
                              : lgetxattr(path, name, NULL, 0);
        ssize_t got;

        if (len < 0)
            return errno == ENODATA ? 0 : -1;
        if (!(*value = malloc(len ? len : 1)))
            return -1;
        got = fd >= 0 ? fgetxattr(fd, name, *value, len)
                      : lgetxattr(path, name, *value, len);
        if (got >= 0) {
            *size = got;
            return 1;
        }
        free(*value);
        *value = NULL;
        if (errno == ENODATA)
            return 0;
        if (errno != ERANGE)
            return -1;
    }
}


int
vserverHashifyMetaFromFd(int fd, const struct stat *st,
                         vserverHashifyMeta *meta, vserverHashifyError *err)
{
    struct stat sb;
    char *list = NULL;
    ssize_t len;
    size_t off;

    memset(meta, 0, sizeof(*meta));
    if (!st) {
        if (fstat(fd, &sb) < 0)
            return hashifyError(err, errno, "cannot stat file");
        st = &sb;
    }
    hashifyMetaFromStat(st, meta);

    if ((len = hashifyXattrList(fd, NULL, &list)) < 0)
        return hashifyError(err, errno, "cannot list extended attributes");
    for (off = 0; off < (size_t)len; off += strlen(list + off) + 1) {
        void *value;
        size_t size;
        int rc = hashifyXattrGet(fd, NULL, list + off, &value, &size);

        if (rc < 0) {
            hashifyError(err, errno, "cannot read extended attribute '%s'",
                         list + off);
            goto error;
        }
        if (rc == 0)
            continue;
        rc = vserverHashifyMetaAddXattr(meta, list + off, value, size);
        free(value);
        if (rc < 0) {
            hashifyError(err, errno, "out of memory");
            goto error;
        }
    }
    free(list);
    return 0;

 error:
    free(list);
    vserverHashifyMetaClear(meta);
    return -1;
}


/* --- serialisation */

void
hashifyBufFree(hashifyBuf *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}


static int
hashifyBufReserve(hashifyBuf *buf, size_t more)
{
    if (buf->len + more > buf->alloc) {
        size_t nalloc = buf->alloc ? buf->alloc : 256;
        unsigned char *n;

        while (nalloc < buf->len + more)
            nalloc *= 2;
        if (!(n = realloc(buf->data, nalloc)))
            return -1;
        buf->data = n;
        buf->alloc = nalloc;
    }
    return 0;
}


static void
hashifyBufPut(hashifyBuf *buf, const void *data, size_t len)
{
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
}


static void
hashifyBufPutU32(hashifyBuf *buf, uint32_t v)
{
    unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

    hashifyBufPut(buf, b, sizeof(b));
}


static void
hashifyBufPutU64(hashifyBuf *buf, uint64_t v)
{
    hashifyBufPutU32(buf, v >> 32);
    hashifyBufPutU32(buf, v & 0xffffffffu);
}


static int
hashifyXattrCompare(const void *a, const void *b)
{
    const vserverHashifyXattr *const *xa = a;
    const vserverHashifyXattr *const *xb = b;

    return strcmp((*xa)->name, (*xb)->name);
}


int
hashifyMetaSerialise(const vserverHashifyMeta *meta, bool keyMtime,
                     hashifyBuf *buf)
{
    const vserverHashifyXattr **sorted = NULL;
    size_t need = 16 + 6 * 4 + 8 + 8 + 4;
    size_t i;

    buf->len = 0;
    if (meta->nxattrs) {
        if (!(sorted = malloc(meta->nxattrs * sizeof(*sorted))))
            return -1;
        for (i = 0; i < meta->nxattrs; i++) {
            sorted[i] = &meta->xattrs[i];
            need += 8 + strlen(meta->xattrs[i].name) + meta->xattrs[i].size;
        }
        qsort(sorted, meta->nxattrs, sizeof(*sorted), hashifyXattrCompare);
        for (i = 1; i < meta->nxattrs; i++) {
            if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
                free(sorted);
                errno = EINVAL;
                return -1;
            }
        }
    }
    if (hashifyBufReserve(buf, need) < 0) {
        free(sorted);
        return -1;
    }

    hashifyBufPut(buf, HASHIFY_MAGIC, 16);
    hashifyBufPutU32(buf, keyMtime ? HASHIFY_FLAG_MTIME : 0);
    hashifyBufPutU32(buf, meta->mode & S_IFMT);
    hashifyBufPutU32(buf, meta->mode & 07777);
    hashifyBufPutU32(buf, meta->uid);
    hashifyBufPutU32(buf, meta->gid);
    hashifyBufPutU64(buf, meta->size);
    hashifyBufPutU32(buf, meta->nxattrs);
    for (i = 0; i < meta->nxattrs; i++) {
        size_t nlen = strlen(sorted[i]->name);

        hashifyBufPutU32(buf, nlen);
        hashifyBufPut(buf, sorted[i]->name, nlen);
        hashifyBufPutU32(buf, sorted[i]->size);
        hashifyBufPut(buf, sorted[i]->value, sorted[i]->size);
    }
    if (keyMtime) {
        hashifyBufPutU64(buf, (uint64_t)(int64_t)meta->mtime.tv_sec);
        hashifyBufPutU32(buf, meta->mtime.tv_nsec);
    }
    free(sorted);
    return 0;
}


/* --- hashing */

int
hashifyScratchInit(hashifyScratch *scratch)
{
    memset(scratch, 0, sizeof(*scratch));
    scratch->buflen = HASHIFY_READ_BUF;
    if (!(scratch->ctx = EVP_MD_CTX_new()) ||
        !(scratch->buf = malloc(scratch->buflen))) {
        hashifyScratchFree(scratch);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}


void
hashifyScratchFree(hashifyScratch *scratch)
{
    EVP_MD_CTX_free(scratch->ctx);
    free(scratch->buf);
    free(scratch->buf2);
    hashifyBufFree(&scratch->header);
    hashifyBufFree(&scratch->objHeader);
    memset(scratch, 0, sizeof(*scratch));
}


int
hashifyHashFd(EVP_MD_CTX *ctx, const EVP_MD *md, int fd,
              const hashifyBuf *header, uint64_t size,
              unsigned char *buf, size_t buflen,
              vserverHashifyKey *key, uint64_t *hashed)
{
    uint64_t off = 0;
    unsigned int len = 0;

    if (!EVP_DigestInit_ex(ctx, md, NULL) ||
        !EVP_DigestUpdate(ctx, header->data, header->len)) {
        errno = EIO;
        return -1;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (off < size) {
        size_t want = size - off < buflen ? size - off : buflen;
        ssize_t n = pread(fd, buf, want, off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            /* shrunk while read */
            errno = ESTALE;
            return -1;
        }
        if (!EVP_DigestUpdate(ctx, buf, n)) {
            errno = EIO;
            return -1;
        }
        off += n;
        if (hashed)
            HASHIFY_ADD(*hashed, (uint64_t)n);
    }
    if (!EVP_DigestFinal_ex(ctx, key->bytes, &len) ||
        len != VSERVER_HASHIFY_KEY_LEN) {
        errno = EIO;
        return -1;
    }
    return 0;
}


int
hashifyHashOpen(const vserverHashifyStore *store, hashifyScratch *scratch,
                int fd, bool keyMtime, struct stat *st,
                vserverHashifyKey *key, uint64_t *hashed)
{
    vserverHashifyMeta meta = { 0 };
    struct stat after;
    int rc;

    if (vserverHashifyMetaFromFd(fd, st, &meta, NULL) < 0)
        return -1;
    rc = hashifyMetaSerialise(&meta, keyMtime, &scratch->header);
    vserverHashifyMetaClear(&meta);
    if (rc < 0)
        return -1;
    if (hashifyHashFd(scratch->ctx, store->md, fd, &scratch->header,
                      st->st_size, scratch->buf, scratch->buflen, key,
                      hashed) < 0)
        return -1;
    if (fstat(fd, &after) < 0)
        return -1;
    /* ctime covers chmod, chown and xattr changes as well */
    if (!hashifyStatUnchanged(st, &after) ||
        st->st_ctim.tv_sec != after.st_ctim.tv_sec ||
        st->st_ctim.tv_nsec != after.st_ctim.tv_nsec) {
        errno = ESTALE;
        return -1;
    }
    *st = after;
    return 0;
}


int
vserverHashifyKeyFromFd(const vserverHashifyStore *store, int fd,
                        vserverHashifyKey *key, vserverHashifyMeta *metaOut,
                        vserverHashifyError *err)
{
    hashifyScratch scratch;
    vserverHashifyMeta meta = { 0 };
    struct stat before;
    struct stat after;
    int ret = -1;

    if (hashifyScratchInit(&scratch) < 0)
        return hashifyError(err, errno, "out of memory");
    if (fstat(fd, &before) < 0) {
        hashifyError(err, errno, "cannot stat file");
        goto cleanup;
    }
    if (!S_ISREG(before.st_mode)) {
        hashifyError(err, EINVAL, "not a regular file");
        goto cleanup;
    }
    if (vserverHashifyMetaFromFd(fd, &before, &meta, err) < 0)
        goto cleanup;
    if (hashifyMetaSerialise(&meta, store->settings.keyMtime,
                             &scratch.header) < 0) {
        hashifyError(err, errno, "cannot serialise metadata");
        goto cleanup;
    }
    if (hashifyHashFd(scratch.ctx, store->md, fd, &scratch.header,
                      meta.size, scratch.buf, scratch.buflen, key, NULL) < 0) {
        hashifyError(err, errno, "cannot hash file");
        goto cleanup;
    }
    if (fstat(fd, &after) < 0) {
        hashifyError(err, errno, "cannot stat file");
        goto cleanup;
    }
    if (!hashifyStatUnchanged(&before, &after) ||
        before.st_ctim.tv_sec != after.st_ctim.tv_sec ||
        before.st_ctim.tv_nsec != after.st_ctim.tv_nsec) {
        hashifyError(err, ESTALE, "file changed while it was hashed");
        goto cleanup;
    }
    if (metaOut) {
        *metaOut = meta;
        memset(&meta, 0, sizeof(meta));
    }
    ret = 0;

 cleanup:
    vserverHashifyMetaClear(&meta);
    hashifyScratchFree(&scratch);
    return ret;
}


vserverHashifyHasher *
vserverHashifyHasherNew(const vserverHashifyStore *store,
                        const vserverHashifyMeta *meta,
                        vserverHashifyError *err)
{
    vserverHashifyHasher *h;
    hashifyBuf header = { 0 };

    if (!S_ISREG(meta->mode)) {
        hashifyError(err, EINVAL, "only regular files have keys");
        return NULL;
    }
    if (!(h = calloc(1, sizeof(*h))) || !(h->ctx = EVP_MD_CTX_new())) {
        free(h);
        hashifyError(err, ENOMEM, "out of memory");
        return NULL;
    }
    h->size = meta->size;
    if (hashifyMetaSerialise(meta, store->settings.keyMtime, &header) < 0) {
        hashifyError(err, errno, "cannot serialise metadata");
        goto error;
    }
    if (!EVP_DigestInit_ex(h->ctx, store->md, NULL) ||
        !EVP_DigestUpdate(h->ctx, header.data, header.len)) {
        hashifyError(err, EIO, "SHA-256 failed");
        goto error;
    }
    hashifyBufFree(&header);
    return h;

 error:
    hashifyBufFree(&header);
    vserverHashifyHasherFree(h);
    return NULL;
}


int
vserverHashifyHasherUpdate(vserverHashifyHasher *hasher,
                           const void *data, size_t len)
{
    hasher->fed += len;
    if (hasher->fed > hasher->size) {
        errno = EIO;
        return -1;
    }
    if (!EVP_DigestUpdate(hasher->ctx, data, len)) {
        errno = EIO;
        return -1;
    }
    return 0;
}


int
vserverHashifyHasherFinal(vserverHashifyHasher *hasher,
                          vserverHashifyKey *key, vserverHashifyError *err)
{
    unsigned int len = 0;

    if (hasher->fed != hasher->size)
        return hashifyError(err, EIO,
                            "content is %llu bytes, metadata says %llu",
                            (unsigned long long)hasher->fed,
                            (unsigned long long)hasher->size);
    if (!EVP_DigestFinal_ex(hasher->ctx, key->bytes, &len) ||
        len != VSERVER_HASHIFY_KEY_LEN)
        return hashifyError(err, EIO, "SHA-256 failed");
    return 0;
}


void
vserverHashifyHasherFree(vserverHashifyHasher *hasher)
{
    if (!hasher)
        return;
    EVP_MD_CTX_free(hasher->ctx);
    free(hasher);
}
