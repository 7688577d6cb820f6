/*
 * vserver_vol_digest.c: the content identity of a template volume
 *
 * Two hosts hold "the same template" when their trees have the same
 * entries with the same content and metadata, whatever the volumes are
 * called.  The digest is a SHA-256 over the tree's entries in name order:
 * for each its relative path, type and mode, owner, group, extended
 * attributes (ACLs and file capabilities among them), and then its
 * content (regular files), target (symlinks) or device number.  Times,
 * inode numbers and link counts are left out: a tree unpacked from a tar
 * on another host keeps none of them, and the pool's store changes link
 * counts.  A template is read-only once imported, so its digest is
 * computed once and kept in the volume's directory ("digest").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "vserver_vol_digest.h"

#include "virerror.h"
#include "virfile.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

/* nftw() has no opaque pointer; digests of several templates run at once
 * (without the storage locks), each in its own thread */
static __thread GPtrArray *vserverDigestPaths;
static __thread size_t vserverDigestPrefix;


static int
vserverDigestCollect(const char *path,
                     const struct stat *st G_GNUC_UNUSED,
                     int flag G_GNUC_UNUSED,
                     struct FTW *ftw G_GNUC_UNUSED)
{
    g_ptr_array_add(vserverDigestPaths, g_strdup(path + vserverDigestPrefix));
    return 0;
}


static int
vserverDigestCompare(gconstpointer a,
                     gconstpointer b)
{
    return strcmp(*(const char **)a, *(const char **)b);
}


static int
vserverDigestXattrs(GChecksum *sum,
                    const char *path)
{
    g_autofree char *names = NULL;
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    ssize_t len;
    ssize_t off;

    if ((len = llistxattr(path, NULL, 0)) < 0)
        return errno == ENOTSUP ? 0 : -1;
    if (len == 0)
        return 0;
    names = g_new0(char, len + 1);
    if ((len = llistxattr(path, names, len)) < 0)
        return -1;
    for (off = 0; off < len; off += strlen(names + off) + 1)
        g_ptr_array_add(list, names + off);
    g_ptr_array_sort(list, vserverDigestCompare);
    for (guint i = 0; i < list->len; i++) {
        const char *name = g_ptr_array_index(list, i);
        g_autofree char *value = NULL;
        ssize_t vlen;

        if ((vlen = lgetxattr(path, name, NULL, 0)) < 0)
            return -1;
        value = g_new0(char, vlen + 1);
        if ((vlen = lgetxattr(path, name, value, vlen)) < 0)
            return -1;
        g_checksum_update(sum, (const guchar *)name, strlen(name) + 1);
        g_checksum_update(sum, (const guchar *)value, vlen);
    }
    return 0;
}


static int
vserverDigestContent(GChecksum *sum,
                     const char *path)
{
    char buf[65536];
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return -1;
    while ((n = saferead(fd, buf, sizeof(buf))) > 0)
        g_checksum_update(sum, (const guchar *)buf, n);
    VIR_FORCE_CLOSE(fd);
    return n < 0 ? -1 : 0;
}


static int
vserverDigestEntry(GChecksum *sum,
                   const char *path,
                   const char *rel)
{
    g_autofree char *meta = NULL;
    struct stat st;

    if (lstat(path, &st) < 0)
        return -1;
    meta = g_strdup_printf("%o %u %u", (unsigned)st.st_mode,
                           (unsigned)st.st_uid, (unsigned)st.st_gid);
    g_checksum_update(sum, (const guchar *)(*rel ? rel : "/"),
                      strlen(*rel ? rel : "/") + 1);
    g_checksum_update(sum, (const guchar *)meta, strlen(meta) + 1);
    if (vserverDigestXattrs(sum, path) < 0)
        return -1;
    if (S_ISREG(st.st_mode)) {
        if (vserverDigestContent(sum, path) < 0)
            return -1;
    } else if (S_ISLNK(st.st_mode)) {
        g_autofree char *target = g_file_read_link(path, NULL);

        if (!target)
            return -1;
        g_checksum_update(sum, (const guchar *)target, strlen(target));
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        g_autofree char *dev = g_strdup_printf("%u:%u", major(st.st_rdev),
                                               minor(st.st_rdev));
        g_checksum_update(sum, (const guchar *)dev, strlen(dev));
    }
    /* an entry's end */
    g_checksum_update(sum, (const guchar *)"\n", 2);
    return 0;
}


char *
vserverVolTreeDigest(const char *tree)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    int rc;

    vserverDigestPaths = paths;
    vserverDigestPrefix = strlen(tree);
    rc = nftw(tree, vserverDigestCollect, 64, FTW_PHYS | FTW_MOUNT);
    vserverDigestPaths = NULL;
    if (rc != 0) {
        virReportSystemError(errno, _("cannot walk the tree '%s'"), tree);
        return NULL;
    }
    g_ptr_array_sort(paths, vserverDigestCompare);

    for (guint i = 0; i < paths->len; i++) {
        const char *rel = g_ptr_array_index(paths, i);
        g_autofree char *path = g_strdup_printf("%s%s", tree, rel);

        if (vserverDigestEntry(sum, path, rel) < 0) {
            virReportSystemError(errno, _("cannot read '%s' for the template's digest"),
                                 path);
            return NULL;
        }
    }
    return g_strdup(g_checksum_get_string(sum));
}


char *
vserverVolCachedDigest(const char *volDir,
                       const char *tree)
{
    g_autofree char *file = g_build_filename(volDir, "digest", NULL);
    g_autofree char *digest = NULL;

    if (virFileReadAllQuiet(file, 128, &digest) >= 0) {
        g_strstrip(digest);
        if (strlen(digest) == 64)
            return g_steal_pointer(&digest);
    }
    if (!(digest = vserverVolTreeDigest(tree)))
        return NULL;
    /* a cache only: a template that cannot keep it computes it again */
    ignore_value(virFileWriteStr(file, digest, 0600));
    return g_steal_pointer(&digest);
}
