/*
 * hashifyapitest.c: libvserver_hashify's API as an importer and the
 * storage driver will use it (TAP)
 *
 * Real files in a temporary directory under /var/tmp, removed at the end.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "vserver_hashify.h"
#include "../tap.h"

static char *top;






static char *
pathOf(const char *rel)
{
    char *p;

    if (asprintf(&p, "%s/%s", top, rel) < 0)
        abort();
    return p;
}


/* Write @len bytes of @fill with mode, mtime and one user xattr, the way an
 * importer extracting a tar member would. */
static int
writeFile(const char *rel, char fill, size_t len, mode_t mode, time_t mtime,
          const char *xvalue)
{
    char *path = pathOf(rel);
    struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
    char *buf = malloc(len ? len : 1);
    int fd;

    memset(buf, fill, len);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
        free(buf);
        return -1;
    }
    free(buf);
    if (xvalue && fsetxattr(fd, "user.test", xvalue, strlen(xvalue), 0) < 0)
        return -1;
    if (fchmod(fd, mode) < 0 || futimens(fd, ts) < 0)
        return -1;
    return fd;
}


static void
metaFor(vserverHashifyMeta *meta, char fill, size_t len, mode_t mode,
        time_t mtime, const char *xvalue)
{
    memset(meta, 0, sizeof(*meta));
    (void)fill;
    meta->mode = S_IFREG | mode;
    meta->uid = getuid();
    meta->gid = getgid();
    meta->size = len;
    meta->mtime.tv_sec = mtime;
    if (xvalue)
        vserverHashifyMetaAddXattr(meta, "user.test", xvalue, strlen(xvalue));
}


static int
hashStream(vserverHashifyStore *store, const vserverHashifyMeta *meta,
           char fill, size_t len, vserverHashifyKey *key)
{
    vserverHashifyError err = { 0 };
    vserverHashifyHasher *h = vserverHashifyHasherNew(store, meta, &err);
    char chunk[1000];
    size_t done = 0;
    int ret;

    if (!h)
        return -1;
    memset(chunk, fill, sizeof(chunk));
    while (done < len) {
        size_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
        vserverHashifyHasherUpdate(h, chunk, n);
        done += n;
    }
    ret = vserverHashifyHasherFinal(h, key, &err);
    vserverHashifyErrorClear(&err);
    vserverHashifyHasherFree(h);
    return ret;
}


static void
putU32(unsigned char **p, uint32_t v)
{
    (*p)[0] = v >> 24;
    (*p)[1] = v >> 16;
    (*p)[2] = v >> 8;
    (*p)[3] = v;
    *p += 4;
}


/* The documented serialisation, written out independently of the library */
static void
expectedKey(const char *content, size_t len, mode_t mode, uid_t uid, gid_t gid,
            const char *xname, const char *xvalue, bool withMtime,
            time_t mtime, vserverHashifyKey *key)
{
    unsigned char buf[4096];
    unsigned char *p = buf;

    memcpy(p, "vserver-hashify1", 16);
    p += 16;
    putU32(&p, withMtime ? 1 : 0);
    putU32(&p, 0100000);
    putU32(&p, mode);
    putU32(&p, uid);
    putU32(&p, gid);
    putU32(&p, 0);
    putU32(&p, len);
    putU32(&p, xname ? 1 : 0);
    if (xname) {
        putU32(&p, strlen(xname));
        memcpy(p, xname, strlen(xname));
        p += strlen(xname);
        putU32(&p, strlen(xvalue));
        memcpy(p, xvalue, strlen(xvalue));
        p += strlen(xvalue);
    }
    if (withMtime) {
        putU32(&p, 0);
        putU32(&p, mtime);
        putU32(&p, 0);
    }
    memcpy(p, content, len);
    p += len;
    SHA256(buf, p - buf, key->bytes);
}


static ino_t
inoOf(const char *rel)
{
    char *path = pathOf(rel);
    struct stat st;
    ino_t ino = 0;

    if (lstat(path, &st) == 0)
        ino = st.st_ino;
    free(path);
    return ino;
}


static int
rmEntry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}


int
main(void)
{
    vserverHashifySettings settings;
    vserverHashifyError err = { 0 };
    vserverHashifyStore *store;
    vserverHashifyStore *other;
    vserverHashifyLinkResult r;
    vserverHashifyStoreStats ss;
    vserverHashifyGcStats gs;
    vserverHashifyMeta meta;
    vserverHashifyKey k1;
    vserverHashifyKey k2;
    vserverHashifyKey k3;
    char hex[VSERVER_HASHIFY_KEY_HEXLEN + 1];
    char tmpl[] = "/var/tmp/hashifyapi.XXXXXX";
    char *p;
    int dirfd;
    int fd;
    int rc;

    if (!(top = mkdtemp(tmpl))) {
        printf("Bail out! cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    p = pathOf("t");
    mkdir(p, 0755);
    free(p);
    p = pathOf("t");
    dirfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(p);

    vserverHashifySettingsInit(&settings);
    tapResult(vserverHashifyExcludesCheck((const char *const[]){ "tmp", NULL }, &err) < 0 &&
       err.code == EINVAL, "an exclude pattern without a leading '/' is refused");
    vserverHashifyErrorClear(&err);

    tapResult(!vserverHashifyStoreOpen(top, &settings, 0, &err) && err.code == ENOENT,
       "opening a missing store without CREATE fails with ENOENT");
    vserverHashifyErrorClear(&err);
    store = vserverHashifyStoreOpen(top, &settings, VSERVER_HASHIFY_STORE_CREATE, &err);
    tapResult(store != NULL, "store created%s%s", err.message ? ": " : "",
       err.message ? err.message : "");
    if (!store)
        goto done;
    {
        struct stat st;
        p = pathOf(".hash");
        tapResult(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700,
           "the store directory is private (0700)");
        free(p);
    }

    /* --- keys */
    memset(&k1, 0x5a, sizeof(k1));
    vserverHashifyKeyFormat(&k1, hex);
    tapResult(vserverHashifyKeyParse(hex, &k2) == 0 && memcmp(&k1, &k2, sizeof(k1)) == 0 &&
       vserverHashifyKeyParse("zz", &k2) < 0, "keys format and parse back");

    fd = writeFile("t/a", 'a', 3000, 0640, 1000000000, "v1");
    {
        char content[3000];
        memset(content, 'a', sizeof(content));
        expectedKey(content, sizeof(content), 0640, getuid(), getgid(),
                    "user.test", "v1", true, 1000000000, &k2);
    }
    rc = vserverHashifyKeyFromFd(store, fd, &k1, NULL, &err);
    tapResult(rc == 0 && memcmp(&k1, &k2, sizeof(k1)) == 0,
       "the key of a file is SHA-256 of the documented serialisation");
    vserverHashifyErrorClear(&err);

    metaFor(&meta, 'a', 3000, 0640, 1000000000, "v1");
    tapResult(hashStream(store, &meta, 'a', 3000, &k3) == 0 && memcmp(&k1, &k3, sizeof(k1)) == 0,
       "streaming the metadata then the content gives the same key");
    {
        vserverHashifyHasher *h = vserverHashifyHasherNew(store, &meta, &err);
        tapResult(h && vserverHashifyHasherUpdate(h, "aa", 2) == 0 &&
           vserverHashifyHasherFinal(h, &k3, &err) < 0 && err.code == EIO,
           "a stream shorter than the metadata's size is refused");
        vserverHashifyErrorClear(&err);
        vserverHashifyHasherFree(h);
    }

    /* --- linking while importing */
    tapResult(vserverHashifyStoreLinkAt(store, dirfd, "a", fd, &k1, &meta, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_CREATED, "the first imported file becomes the object");
    close(fd);
    vserverHashifyKeyFormat(&k1, hex);
    {
        char *obj;
        struct stat st;
        if (asprintf(&obj, "%s/.hash/%.2s/%s", top, hex, hex + 2) < 0)
            abort();
        tapResult(stat(obj, &st) == 0 && st.st_ino == inoOf("t/a"),
           "the object is .hash/XX/<rest of the hex key> and is the file's inode");
        free(obj);
    }

    fd = writeFile("t/b", 'a', 3000, 0640, 1000000000, "v1");
    tapResult(vserverHashifyStoreLinkAt(store, dirfd, "b", fd, &k1, &meta, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_LINKED && inoOf("t/b") == inoOf("t/a"),
       "an identical imported file is replaced by a link to the object");
    close(fd);

    fd = writeFile("t/c", 'a', 3000, 0644, 1000000000, "v1");
    tapResult(vserverHashifyStoreLinkAt(store, dirfd, "c", fd, &k1, &meta, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_SKIPPED &&
       r.reason == VSERVER_HASHIFY_SKIP_CHANGED && inoOf("t/c") != inoOf("t/a"),
       "a file whose metadata is not what was hashed is not linked");
    close(fd);
    vserverHashifyMetaClear(&meta);

    /* --- single files */
    fd = writeFile("t/d", 'a', 3000, 0640, 1000000000, "v1");
    close(fd);
    p = pathOf("t/d");
    tapResult(vserverHashifyLinkFile(store, p, VSERVER_HASHIFY_LINK_DRY_RUN, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_LINKED && inoOf("t/d") != inoOf("t/a"),
       "a dry run reports the link and does not make it");
    tapResult(vserverHashifyLinkFile(store, p, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_LINKED && inoOf("t/d") == inoOf("t/a"),
       "vserverHashifyLinkFile links an identical file");
    tapResult(vserverHashifyLinkFile(store, p, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_ALREADY, "a second time it is already linked");
    free(p);

    p = pathOf("t/link");
    if (symlink("a", p) < 0)
        tapDiag("symlink: %s", strerror(errno));
    tapResult(vserverHashifyLinkFile(store, p, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_SKIPPED &&
       r.reason == VSERVER_HASHIFY_SKIP_SPECIAL, "a symlink is never linked");
    free(p);

    fd = writeFile("t/empty", 'a', 0, 0640, 1000000000, NULL);
    close(fd);
    p = pathOf("t/empty");
    tapResult(vserverHashifyLinkFile(store, p, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_SKIPPED &&
       r.reason == VSERVER_HASHIFY_SKIP_SMALL, "an empty file is never linked");
    free(p);

    fd = writeFile("t/e", 'e', 2000, 0640, 1000000000, NULL);
    close(fd);
    {
        char *e = pathOf("t/e");
        char *e2 = pathOf("t/e2");
        if (link(e, e2) < 0)
            tapDiag("link: %s", strerror(errno));
        tapResult(vserverHashifyLinkFile(store, e, 0, &r, &err) == 0 &&
           r.outcome == VSERVER_HASHIFY_LINK_SKIPPED &&
           r.reason == VSERVER_HASHIFY_SKIP_OUTSIDE_LINKS,
           "a single file with another name is left alone by default");
        tapResult(vserverHashifyLinkFile(store, e, VSERVER_HASHIFY_LINK_ANY_NLINK, &r, &err) == 0 &&
           r.outcome == VSERVER_HASHIFY_LINK_CREATED,
           "... and linked with VSERVER_HASHIFY_LINK_ANY_NLINK");
        free(e);
        free(e2);
    }

    /* an object changed through one of its names is not shared further */
    p = pathOf("t/a");
    chmod(p, 0600);
    free(p);
    fd = writeFile("t/f", 'a', 3000, 0640, 1000000000, "v1");
    close(fd);
    p = pathOf("t/f");
    tapResult(vserverHashifyLinkFile(store, p, 0, &r, &err) == 0 &&
       r.outcome == VSERVER_HASHIFY_LINK_SKIPPED &&
       r.reason == VSERVER_HASHIFY_SKIP_MISMATCH && inoOf("t/f") != inoOf("t/a"),
       "a store object whose mode was changed through a link is not linked to");
    free(p);
    p = pathOf("t/a");
    chmod(p, 0640);
    free(p);

    /* --- statistics: a (= b = d), e (= e2); objects a and e */
    memset(&ss, 0, sizeof(ss));
    rc = vserverHashifyStoreGetStats(store, &ss, &err);
    tapResult(rc == 0 && ss.objects == 2 && ss.bytesStored == 5000 &&
       ss.links == 3 + 2 && ss.bytesSaved == 2 * 3000 + 1 * 2000 &&
       ss.unreferenced == 0,
       "store statistics: objects %llu, bytes %llu, links %llu, saved %llu",
       (unsigned long long)ss.objects, (unsigned long long)ss.bytesStored,
       (unsigned long long)ss.links, (unsigned long long)ss.bytesSaved);

    /* --- garbage collection */
    other = vserverHashifyStoreOpen(top, &settings, 0, &err);
    tapResult(other && vserverHashifyStoreGc(store, NULL, 0, 0, &gs, &err) < 0 && err.code == EBUSY,
       "gc refuses while another handle has the store open");
    vserverHashifyErrorClear(&err);
    vserverHashifyStoreClose(other);

    p = pathOf("t/e");
    unlink(p);
    free(p);
    p = pathOf("t/e2");
    unlink(p);
    free(p);
    tapResult(vserverHashifyStoreGc(store, NULL, 0, VSERVER_HASHIFY_GC_DRY_RUN, &gs, &err) == 0 &&
       gs.objectsRemoved == 1 && vserverHashifyStoreGetStats(store, &ss, &err) == 0 &&
       ss.objects == 2, "a gc dry run counts the unreferenced object and keeps it");
    tapResult(vserverHashifyStoreGc(store, NULL, 0, VSERVER_HASHIFY_GC_VERIFY, &gs, &err) == 0 &&
       gs.objectsRemoved == 1 && gs.bytesRemoved == 2000 && gs.objectsVerified == 1 &&
       gs.badObjects == 0,
       "gc removes the object nothing links to and verifies the other");

    /* written through a link: verification takes the store name away */
    p = pathOf("t/b");
    fd = open(p, O_WRONLY | O_CLOEXEC);
    free(p);
    if (fd < 0 || pwrite(fd, "X", 1, 10) != 1)
        tapDiag("write: %s", strerror(errno));
    close(fd);
    tapResult(vserverHashifyStoreGc(store, NULL, 0, VSERVER_HASHIFY_GC_VERIFY, &gs, &err) == 0 &&
       gs.badObjects == 1 && vserverHashifyStoreGetStats(store, &ss, &err) == 0 &&
       ss.objects == 0, "gc --verify unshares an object that was written to");

    /* --- cancellation */
    {
        int cancel = 1;
        vserverHashifyRunOptions opts = { .cancel = &cancel };
        vserverHashifyStats stats;
        const char *trees[] = { top };
        int i;

        for (i = 0; i < 200; i++) {
            char name[32];
            snprintf(name, sizeof(name), "t/many%d", i);
            fd = writeFile(name, 'm', 100, 0644, 1, NULL);
            close(fd);
        }
        tapResult(vserverHashifyTrees(store, trees, 1, &opts, &stats, &err) < 0 &&
           err.code == ECANCELED, "a cancelled run stops with ECANCELED");
        vserverHashifyErrorClear(&err);
    }

    /* --- an object written to in place, mtime not keyed */
    {
        vserverHashifySettings s2 = settings;
        vserverHashifyStore *st2;
        char *u = pathOf("u");
        char *ua = pathOf("u/a");
        char *ub = pathOf("u/b");
        char buf[16] = { 0 };

        mkdir(u, 0755);
        s2.keyMtime = false;
        st2 = vserverHashifyStoreOpen(u, &s2, VSERVER_HASHIFY_STORE_CREATE, &err);
        fd = writeFile("u/a", 'q', 4000, 0644, 5, NULL);
        close(fd);
        tapResult(st2 && vserverHashifyLinkFile(st2, ua, 0, &r, &err) == 0 &&
           r.outcome == VSERVER_HASHIFY_LINK_CREATED, "object made with mtime not keyed");
        fd = open(ua, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || pwrite(fd, "Z", 1, 100) != 1)
            tapDiag("write: %s", strerror(errno));
        close(fd);
        fd = writeFile("u/b", 'q', 4000, 0644, 5, NULL);
        close(fd);
        tapResult(st2 && vserverHashifyLinkFile(st2, ub, 0, &r, &err) == 0 &&
           r.outcome == VSERVER_HASHIFY_LINK_SKIPPED &&
           r.reason == VSERVER_HASHIFY_SKIP_MISMATCH && inoOf("u/b") != inoOf("u/a"),
           "a file is not linked to an object whose content was changed in place");
        fd = open(ub, O_RDONLY | O_CLOEXEC);
        tapResult(fd >= 0 && pread(fd, buf, 1, 100) == 1 && buf[0] == 'q',
           "... and keeps its own content");
        close(fd);
        vserverHashifyStoreClose(st2);
        free(u);
        free(ua);
        free(ub);
    }

    vserverHashifyStoreClose(store);
 done:
    vserverHashifyErrorClear(&err);
    close(dirfd);
    nftw(top, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
    return tapDone();
}
