/*
 * vserver_hashify_import.c: `vserver-hashify import`
 *
 * Import reads a tar stream (libarchive, any compression it detects) and
 * writes the tree itself, never through archive_write_disk, with the
 * extraction machinery it shares with flatten (vserver_hashify_extract.c):
 * every entry is created beneath the destination without following a
 * symlink, each regular file is hashed while it is written and linked
 * into the store, and on any failure the destination is emptied again.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "vserver_hashify_archive.h"

#define PROGRAM "vserver-hashify"

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
HASHIFY_EXTRACT_HELP_STORE
"                            device nodes fail the import (default), are\n"
"                            left out with a warning, or are created\n"
"      --limit=BYTES         the regular files may not add up to more\n"
"                            (k, M, G, T suffixes; 0: no limit)\n"
HASHIFY_EXTRACT_HELP_PROGRESS);
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
    case AE_IFBLK: {
        int rule = hashifyExtractDeviceRule(ex, raw);

        if (rule <= 0) {
            ret = rule;
            goto cleanup;
        }
        if (hashifyImportMeta(ex, entry, raw, type, &meta) < 0 ||
            (dirfd = hashifyExtractParent(ex, rel, raw, true, &base)) < 0)
            goto cleanup;
        ret = hashifyExtractNode(ex, dirfd, base, raw, &meta, NULL,
                                 makedev(archive_entry_rdevmajor(entry),
                                         archive_entry_rdevminor(entry)));
        break;
    }
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
