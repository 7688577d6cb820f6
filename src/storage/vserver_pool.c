/*
 * vserver_pool.c: hashify pools and their volumes on disk
 *
 * Layout of a pool's target directory:
 *   .hash/              the object store (unless <store path> puts it
 *                       elsewhere on the same file system)
 *   NAME/meta           "kind template|guest", "state ...", "backing NAME"
 *   NAME/tree/          a template's files, hard links into .hash
 *   NAME/upper/, work/  a guest's overlayfs layers; the lower layer is its
 *                       template's tree
 *   .trash-NAME-N/      a deleted volume, renamed away at once and removed
 *                       without the pool's lock (a crash leaves it to the
 *                       next pool-refresh)
 * Every change to a meta file is a write to a temporary and a rename, so a
 * crash leaves the old or the new one.
 *
 * Pools and volumes are virObjects: the driver's files lock a pool
 * (vserver_storage_driver_priv.h says how); nothing here locks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vserver_pool.h"
#include "vserver_hashify.h"

#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_LOG_INIT("vserver.pool");

VIR_ENUM_IMPL(vserverVolState,
              VSERVER_VOL_STATE_LAST,
              "ready", "empty", "importing",
);

/* how a busy refusal names the job */
VIR_ENUM_IMPL(vserverVolJob,
              VSERVER_VOL_JOB_LAST,
              "none", "uploaded (vol-upload)",
              "made from a guest volume (vol-create-from)",
);

static virClass *vserverPoolClass;
static virClass *vserverVolClass;


static void
vserverPoolDispose(void *obj)
{
    vserverPool *pool = obj;

    vserverPoolDefFree(pool->def);
    vserverPoolDefFree(pool->newDef);
    g_ptr_array_unref(pool->vols);
    g_hash_table_unref(pool->users);
    virStoragePoolDefFree(pool->aclDef);
}


static void
vserverVolDispose(void *obj)
{
    vserverVol *vol = obj;

    g_free(vol->name);
    g_free(vol->backing);
    g_free(vol->digest);
    virStorageVolDefFree(vol->aclDef);
}


static int
vserverPoolOnceInit(void)
{
    if (!VIR_CLASS_NEW(vserverPool, virClassForObjectLockable()) ||
        !VIR_CLASS_NEW(vserverVol, virClassForObject()))
        return -1;
    return 0;
}

VIR_ONCE_GLOBAL_INIT(vserverPool);


static vserverVol *
vserverVolNew(const char *name)
{
    vserverVol *vol;

    if (vserverPoolInitialize() < 0 ||
        !(vol = virObjectNew(vserverVolClass)))
        return NULL;
    vol->name = g_strdup(name);
    return vol;
}


/* The pool's list lets go of @vol; a walk may still hold it. */
static void
vserverVolRelease(void *data)
{
    virObjectUnref(data);
}


static void
vserverPoolSetAclDef(vserverPool *pool)
{
    virStoragePoolDefFree(pool->aclDef);
    pool->aclDef = g_new0(virStoragePoolDef, 1);
    pool->aclDef->name = g_strdup(pool->def->name);
    memcpy(pool->aclDef->uuid, pool->def->uuid, VIR_UUID_BUFLEN);
    pool->aclDef->type = VIR_STORAGE_POOL_DIR;
    pool->aclDef->target.path = g_strdup(pool->def->path);
}


vserverPool *
vserverPoolNew(vserverPoolDef *def)
{
    vserverPool *pool;

    if (vserverPoolInitialize() < 0 ||
        !(pool = virObjectLockableNew(vserverPoolClass)))
        return NULL;
    pool->def = def;
    pool->vols = g_ptr_array_new_with_free_func(vserverVolRelease);
    pool->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    vserverPoolSetAclDef(pool);
    return pool;
}


void
vserverPoolSetDef(vserverPool *pool,
                  vserverPoolDef *def)
{
    vserverPoolDefFree(pool->def);
    pool->def = def;
    pool->haveStoreStats = false;
    vserverPoolSetAclDef(pool);
}


char *
vserverPoolVolDir(vserverPool *pool,
                  const char *name)
{
    return g_build_filename(pool->def->path, name, NULL);
}


char *
vserverPoolVolTree(vserverPool *pool,
                   vserverVol *vol)
{
    return g_build_filename(pool->def->path, vol->name,
                            vol->kind == VSERVER_VOL_TEMPLATE ? "tree" : "upper",
                            NULL);
}


char *
vserverPoolVolUpper(vserverPool *pool,
                    const char *name)
{
    return g_build_filename(pool->def->path, name, "upper", NULL);
}


char *
vserverPoolVolWork(vserverPool *pool,
                   const char *name)
{
    return g_build_filename(pool->def->path, name, "work", NULL);
}


const char *
vserverPoolStoreRoot(vserverPool *pool)
{
    return pool->def->store ? pool->def->store : pool->def->path;
}


vserverPoolStoreRef *
vserverPoolStoreRefNew(vserverPool *pool)
{
    vserverPoolStoreRef *ref = g_new0(vserverPoolStoreRef, 1);

    ref->pool = g_strdup(pool->def->name);
    ref->root = g_strdup(vserverPoolStoreRoot(pool));
    ref->keyMtime = pool->def->keyMtime;
    ref->minSize = pool->def->minSize;
    return ref;
}


void
vserverPoolStoreRefFree(vserverPoolStoreRef *ref)
{
    if (!ref)
        return;
    g_free(ref->pool);
    g_free(ref->root);
    g_free(ref);
}


/* store root -> generation; a leaf lock, taken under a pool's or none */
static virMutex vserverPoolStoreGenLock = VIR_MUTEX_INITIALIZER;
static GHashTable *vserverPoolStoreGens;


unsigned long long
vserverPoolStoreGeneration(const char *root)
{
    unsigned long long gen = 0;
    unsigned long long *val;

    VIR_WITH_MUTEX_LOCK_GUARD(&vserverPoolStoreGenLock) {
        if (vserverPoolStoreGens &&
            (val = g_hash_table_lookup(vserverPoolStoreGens, root)))
            gen = *val;
    }
    return gen;
}


void
vserverPoolStoreChanged(const char *root)
{
    unsigned long long *val;

    VIR_WITH_MUTEX_LOCK_GUARD(&vserverPoolStoreGenLock) {
        if (!vserverPoolStoreGens)
            vserverPoolStoreGens = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                         g_free, g_free);
        if (!(val = g_hash_table_lookup(vserverPoolStoreGens, root))) {
            val = g_new0(unsigned long long, 1);
            g_hash_table_insert(vserverPoolStoreGens, g_strdup(root), val);
        }
        (*val)++;
    }
}


static int
vserverPoolSameFs(const char *a,
                  const char *b)
{
    struct stat sa;
    struct stat sb;

    if (stat(a, &sa) < 0) {
        virReportSystemError(errno, _("cannot access '%s'"), a);
        return -1;
    }
    if (stat(b, &sb) < 0) {
        virReportSystemError(errno, _("cannot access '%s'"), b);
        return -1;
    }
    if (sa.st_dev != sb.st_dev) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("hashify store '%s' is not on the file system of pool directory '%s': hard links cannot cross file systems"),
                       b, a);
        return -1;
    }
    return 0;
}


/* The first entry of a pool directory other than its object store: 1
 * with its name in @name, 0 when there is none, -1 on error (reported). */
static int
vserverPoolOtherEntry(const char *path,
                      char **name)
{
    g_autoptr(DIR) dir = NULL;
    struct dirent *ent;
    int rc;

    if (virDirOpen(&dir, path) < 0)
        return -1;
    while ((rc = virDirRead(dir, &ent, path)) > 0) {
        if (STRNEQ(ent->d_name, VSERVER_HASHIFY_DIR)) {
            *name = g_strdup(ent->d_name);
            return 1;
        }
    }
    return rc;
}


static vserverHashifyStore *
vserverPoolOpenStore(vserverPoolStoreRef *ref,
                     unsigned int flags)
{
    vserverHashifySettings settings;
    vserverHashifyError err = { 0 };
    vserverHashifyStore *store;

    vserverHashifySettingsInit(&settings);
    settings.keyMtime = ref->keyMtime;
    settings.minSize = ref->minSize;
    if (!(store = vserverHashifyStoreOpen(ref->root, &settings, flags, &err))) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot open the object store of pool '%s': %s"),
                       ref->pool, NULLSTR(err.message));
        vserverHashifyErrorClear(&err);
    }
    return store;
}


int
vserverPoolBuild(vserverPool *pool,
                 bool overwrite)
{
    g_autoptr(vserverPoolStoreRef) ref = vserverPoolStoreRefNew(pool);
    vserverHashifyStore *store;

    if (virFileExists(pool->def->path) && !overwrite) {
        g_autofree char *other = NULL;
        int rc = vserverPoolOtherEntry(pool->def->path, &other);

        if (rc < 0)
            return -1;
        if (rc > 0) {
            virReportError(VIR_ERR_OPERATION_INVALID,
                           _("pool directory '%s' is not empty (it holds '%s')"),
                           pool->def->path, other);
            return -1;
        }
    }
    if (g_mkdir_with_parents(pool->def->path, 0711) < 0) {
        virReportSystemError(errno, _("cannot create pool directory '%s'"),
                             pool->def->path);
        return -1;
    }
    if (pool->def->store &&
        (g_mkdir_with_parents(pool->def->store, 0711) < 0 ||
         vserverPoolSameFs(pool->def->path, pool->def->store) < 0)) {
        if (errno)
            virReportSystemError(errno, _("cannot create store directory '%s'"),
                                 pool->def->store);
        return -1;
    }
    if (!(store = vserverPoolOpenStore(ref, VSERVER_HASHIFY_STORE_CREATE)))
        return -1;
    vserverHashifyStoreClose(store);
    return 0;
}


/* pool-start: the directory and the store must be there (pool-build). */
int
vserverPoolCheckTarget(vserverPool *pool)
{
    g_autofree char *hash = g_build_filename(vserverPoolStoreRoot(pool),
                                             VSERVER_HASHIFY_DIR, NULL);

    if (!virFileIsDir(pool->def->path)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("pool directory '%s' does not exist: build the pool first (virsh pool-build)"),
                       pool->def->path);
        return -1;
    }
    if (!virFileIsDir(hash)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("pool '%s' has no object store '%s': build the pool first (virsh pool-build)"),
                       pool->def->name, hash);
        return -1;
    }
    if (pool->def->store)
        return vserverPoolSameFs(pool->def->path, pool->def->store);
    return 0;
}


/* pool-delete: only a pool without volumes; its store goes with it when
 * it is the pool's own. */
int
vserverPoolDeleteDir(vserverPool *pool,
                     char **trash)
{
    g_autofree char *dest = NULL;
    g_autofree char *other = NULL;
    int rc;

    *trash = NULL;
    if (!virFileExists(pool->def->path))
        return 0;
    if ((rc = vserverPoolOtherEntry(pool->def->path, &other)) < 0)
        return -1;
    if (rc > 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("pool directory '%s' still holds '%s': delete its volumes first"),
                       pool->def->path, other);
        return -1;
    }
    if (!pool->def->store) {
        /* the store can be big: away at once, removed without the lock */
        dest = g_strdup_printf("%s.deleted-%x", pool->def->path, g_random_int());
        if (rename(pool->def->path, dest) < 0) {
            virReportSystemError(errno, _("cannot remove pool directory '%s'"),
                                 pool->def->path);
            return -1;
        }
        vserverPoolStoreChanged(pool->def->path);
        *trash = g_steal_pointer(&dest);
        return 0;
    }
    if (rmdir(pool->def->path) < 0) {
        virReportSystemError(errno, _("cannot remove pool directory '%s'"),
                             pool->def->path);
        return -1;
    }
    return 0;
}


static char *
vserverPoolMetaPath(vserverPool *pool,
                    const char *name)
{
    return g_build_filename(pool->def->path, name, "meta", NULL);
}


static int
vserverPoolWriteMeta(vserverPool *pool,
                     vserverVol *vol)
{
    g_autofree char *path = vserverPoolMetaPath(pool, vol->name);
    g_autofree char *tmp = g_strdup_printf("%s.new", path);
    g_autofree char *content = NULL;

    content = g_strdup_printf("kind %s\nstate %s\n%s%s%s",
                              vserverVolKindTypeToString(vol->kind),
                              vserverVolStateTypeToString(vol->state),
                              vol->backing ? "backing " : "",
                              vol->backing ? vol->backing : "",
                              vol->backing ? "\n" : "");
    if (virFileWriteStr(tmp, content, 0600) < 0 || rename(tmp, path) < 0) {
        virReportSystemError(errno, _("cannot write '%s'"), path);
        unlink(tmp);
        return -1;
    }
    return 0;
}


static vserverVol *
vserverPoolReadMeta(vserverPool *pool,
                    const char *name)
{
    g_autofree char *path = vserverPoolMetaPath(pool, name);
    g_autofree char *content = NULL;
    g_auto(GStrv) lines = NULL;
    vserverVol *vol;
    bool hasKind = false;
    bool hasState = false;
    size_t i;

    if (virFileReadAll(path, 4096, &content) < 0 ||
        !(vol = vserverVolNew(name)))
        return NULL;
    lines = g_strsplit(content, "\n", 0);
    for (i = 0; lines[i]; i++) {
        char *value = strchr(lines[i], ' ');
        int v;

        if (!*lines[i])
            continue;
        if (!value)
            goto bad;
        *value++ = '\0';
        if (STREQ(lines[i], "kind") &&
            (v = vserverVolKindTypeFromString(value)) >= 0) {
            vol->kind = v;
            hasKind = true;
        } else if (STREQ(lines[i], "state") &&
                   (v = vserverVolStateTypeFromString(value)) >= 0) {
            vol->state = v;
            hasState = true;
        } else if (STREQ(lines[i], "backing") &&
                   vserverVolCheckName(value) == 0) {
            vol->backing = g_strdup(value);
        } else {
            goto bad;
        }
    }
    if (!hasKind || !hasState ||
        (vol->kind == VSERVER_VOL_GUEST) != !!vol->backing)
        goto bad;

    vol->aclDef = g_new0(virStorageVolDef, 1);
    vol->aclDef->name = g_strdup(name);
    vol->aclDef->key = vserverPoolVolDir(pool, name);
    vol->aclDef->type = VIR_STORAGE_VOL_DIR;
    return vol;

 bad:
    virObjectUnref(vol);
    virResetLastError();
    virReportError(VIR_ERR_INTERNAL_ERROR,
                   _("volume metadata '%s' is malformed"), path);
    return NULL;
}


/* A hidden name in the pool's directory for a volume on its way out. */
static char *
vserverPoolTrashName(vserverPool *pool,
                     const char *name)
{
    return g_strdup_printf("%s/.trash-%s-%x", pool->def->path, name,
                           g_random_int());
}


/* Under the lock: rename @name's directory away (fast), for the caller to
 * remove the tree without the lock. */
static int
vserverPoolTrash(vserverPool *pool,
                 const char *name,
                 char **trash)
{
    g_autofree char *dir = vserverPoolVolDir(pool, name);
    g_autofree char *dest = vserverPoolTrashName(pool, name);

    if (rename(dir, dest) < 0) {
        virReportSystemError(errno, _("cannot move '%s' out of the pool"), dir);
        return -1;
    }
    *trash = g_steal_pointer(&dest);
    return 0;
}


void
vserverPoolRemoveTrash(const char *trash)
{
    if (virFileDeleteTree(trash) < 0) {
        VIR_WARN("cannot remove '%s': %s", trash, virGetLastErrorMessage());
        virResetLastError();
    }
}


static void
vserverVolForgetFacts(vserverVol *vol)
{
    vol->factsGen++;
    vol->haveUsage = false;
    g_clear_pointer(&vol->digest, g_free);
}


int
vserverPoolScan(vserverPool *pool,
                GPtrArray *trash)
{
    g_autoptr(GPtrArray) vols = g_ptr_array_new_with_free_func(vserverVolRelease);
    g_autoptr(DIR) dir = NULL;
    struct dirent *ent;
    int rc;

    if (virDirOpen(&dir, pool->def->path) < 0)
        return -1;
    while ((rc = virDirRead(dir, &ent, pool->def->path)) > 0) {
        g_autofree char *meta = NULL;
        vserverVol *vol;
        vserverVol *old;

        if (ent->d_name[0] == '.') {
            if (trash && STRPREFIX(ent->d_name, ".trash-"))
                g_ptr_array_add(trash, g_build_filename(pool->def->path,
                                                        ent->d_name, NULL));
            continue;
        }
        meta = vserverPoolMetaPath(pool, ent->d_name);
        if (!virFileExists(meta)) {
            VIR_WARN("pool '%s': '%s' is not a volume (no meta file), left alone",
                     pool->def->name, ent->d_name);
            continue;
        }
        if (!(vol = vserverPoolReadMeta(pool, ent->d_name))) {
            VIR_WARN("pool '%s': %s", pool->def->name, virGetLastErrorMessage());
            virResetLastError();
            continue;
        }
        if (vol->state == VSERVER_VOL_STATE_IMPORTING && pool->asyncjobs == 0) {
            /* an import the daemon did not see finish: what it left is
             * not a template */
            char *gone = NULL;

            VIR_WARN("pool '%s': removing '%s', an unfinished import",
                     pool->def->name, vol->name);
            virObjectUnref(vol);
            if (unlink(meta) < 0 ||
                vserverPoolTrash(pool, ent->d_name, &gone) < 0) {
                VIR_WARN("%s", virGetLastErrorMessage());
                virResetLastError();
            } else if (trash) {
                g_ptr_array_add(trash, gone);
            } else {
                vserverPoolRemoveTrash(gone);
                g_free(gone);
            }
            continue;
        }
        /* the same volume keeps its object: walks and jobs hold it */
        if ((old = vserverPoolFindVol(pool, vol->name)) &&
            old->kind == vol->kind &&
            STREQ_NULLABLE(old->backing, vol->backing)) {
            old->state = vol->state;
            vserverVolForgetFacts(old);
            virObjectUnref(vol);
            vol = virObjectRef(old);
        }
        g_ptr_array_add(vols, vol);
    }
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < pool->vols->len; i++) {
        vserverVol *old = g_ptr_array_index(pool->vols, i);
        bool kept = false;

        for (size_t j = 0; j < vols->len && !kept; j++)
            kept = g_ptr_array_index(vols, j) == old;
        old->detached = !kept;
    }
    g_ptr_array_unref(pool->vols);
    pool->vols = g_steal_pointer(&vols);
    return 0;
}


void
vserverPoolClearVols(vserverPool *pool)
{
    for (size_t i = 0; i < pool->vols->len; i++)
        ((vserverVol *)g_ptr_array_index(pool->vols, i))->detached = true;
    g_ptr_array_set_size(pool->vols, 0);
}


int
vserverPoolCollect(vserverPoolStoreRef *ref,
                   GPtrArray *trees)
{
    vserverHashifyGcStats stats = { 0 };
    vserverHashifyError err = { 0 };
    vserverHashifyStore *store;
    int ret;

    if (!(store = vserverPoolOpenStore(ref, 0)))
        return -1;
    ret = vserverHashifyStoreGc(store, (const char *const *)trees->pdata,
                                trees->len, 0, &stats, &err);
    vserverHashifyStoreClose(store);
    if (ret < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot collect unused objects of pool '%s': %s"),
                       ref->pool, NULLSTR(err.message));
        vserverHashifyErrorClear(&err);
        return -1;
    }
    VIR_INFO("pool '%s': %llu unused objects (%llu bytes) reclaimed",
             ref->pool, (unsigned long long)stats.objectsRemoved,
             (unsigned long long)stats.bytesRemoved);
    return 0;
}


int
vserverPoolGetFsStats(vserverPool *pool,
                      vserverPoolStats *stats)
{
    struct statvfs sv;

    if (statvfs(pool->def->path, &sv) < 0) {
        virReportSystemError(errno, _("cannot stat the file system of '%s'"),
                             pool->def->path);
        return -1;
    }
    stats->capacity = (unsigned long long)sv.f_frsize * sv.f_blocks;
    stats->available = (unsigned long long)sv.f_frsize * sv.f_bavail;
    stats->allocation = stats->capacity -
                        (unsigned long long)sv.f_frsize * sv.f_bfree;
    return 0;
}


int
vserverPoolReadStoreStats(vserverPoolStoreRef *ref,
                          vserverPoolStats *stats)
{
    vserverHashifyStoreStats st = { 0 };
    vserverHashifyError err = { 0 };
    vserverHashifyStore *store;
    int rc;

    if (!(store = vserverPoolOpenStore(ref, VSERVER_HASHIFY_STORE_READONLY)))
        return -1;
    rc = vserverHashifyStoreGetStats(store, &st, &err);
    vserverHashifyStoreClose(store);
    if (rc < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot read the object store of pool '%s': %s"),
                       ref->pool, NULLSTR(err.message));
        vserverHashifyErrorClear(&err);
        return -1;
    }
    stats->objects = st.objects;
    stats->stored = st.diskStored;
    stats->saved = st.bytesSaved;
    return 0;
}


vserverVol *
vserverPoolFindVol(vserverPool *pool,
                   const char *name)
{
    for (size_t i = 0; i < pool->vols->len; i++) {
        vserverVol *vol = g_ptr_array_index(pool->vols, i);
        if (STREQ(vol->name, name))
            return vol;
    }
    return NULL;
}


vserverVol *
vserverPoolFindVolByPath(vserverPool *pool,
                         const char *path)
{
    for (size_t i = 0; i < pool->vols->len; i++) {
        vserverVol *vol = g_ptr_array_index(pool->vols, i);
        g_autofree char *dir = vserverPoolVolDir(pool, vol->name);
        g_autofree char *tree = vserverPoolVolTree(pool, vol);

        if (STREQ(path, dir) || STREQ(path, tree))
            return vol;
    }
    return NULL;
}


static vserverVol *
vserverPoolAddVol(vserverPool *pool,
                  const char *name,
                  vserverVolKind kind,
                  vserverVolState state,
                  const char *backing,
                  const char *const *subdirs)
{
    g_autofree char *dir = vserverPoolVolDir(pool, name);
    vserverVol *vol;
    size_t i;

    if (vserverPoolFindVol(pool, name) || virFileExists(dir)) {
        virReportError(VIR_ERR_STORAGE_VOL_EXIST,
                       _("a volume '%s' already exists in pool '%s'"),
                       name, pool->def->name);
        return NULL;
    }
    if (mkdir(dir, 0700) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), dir);
        return NULL;
    }

    if (!(vol = vserverVolNew(name))) {
        ignore_value(rmdir(dir));
        return NULL;
    }
    vol->kind = kind;
    vol->state = state;
    vol->backing = g_strdup(backing);
    vol->aclDef = g_new0(virStorageVolDef, 1);
    vol->aclDef->name = g_strdup(name);
    vol->aclDef->key = g_strdup(dir);
    vol->aclDef->type = VIR_STORAGE_VOL_DIR;

    for (i = 0; subdirs[i]; i++) {
        g_autofree char *sub = g_build_filename(dir, subdirs[i], NULL);
        /* the tree's root is the context's "/" */
        if (mkdir(sub, STREQ(subdirs[i], "work") ? 0700 : 0755) < 0) {
            virReportSystemError(errno, _("cannot create '%s'"), sub);
            goto error;
        }
    }
    /* the meta file last: without it the directory is not a volume */
    if (vserverPoolWriteMeta(pool, vol) < 0)
        goto error;
    g_ptr_array_add(pool->vols, vol);
    return vol;

 error:
    virObjectUnref(vol);
    ignore_value(virFileDeleteTree(dir));
    return NULL;
}


vserverVol *
vserverPoolCreateTemplate(vserverPool *pool,
                          const char *name,
                          vserverVolState state)
{
    const char *subdirs[] = { "tree", NULL };

    return vserverPoolAddVol(pool, name, VSERVER_VOL_TEMPLATE, state, NULL,
                             subdirs);
}


/* Constant time, whatever the template's size: two empty directories and
 * a meta file. */
vserverVol *
vserverPoolCreateGuest(vserverPool *pool,
                       const char *name,
                       vserverVol *template)
{
    const char *subdirs[] = { "upper", "work", NULL };
    g_autofree char *tree = NULL;
    g_autofree char *upper = NULL;
    vserverVol *vol;
    struct stat st;

    if (template->kind != VSERVER_VOL_TEMPLATE ||
        template->state != VSERVER_VOL_STATE_READY) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is not a ready template: a guest volume needs one (upload a tarball into it first)"),
                       template->name);
        return NULL;
    }
    tree = vserverPoolVolTree(pool, template);
    if (stat(tree, &st) < 0) {
        virReportSystemError(errno, _("cannot access template tree '%s'"), tree);
        return NULL;
    }
    if (!(vol = vserverPoolAddVol(pool, name, VSERVER_VOL_GUEST,
                                  VSERVER_VOL_STATE_READY, template->name,
                                  subdirs)))
        return NULL;
    /* overlayfs shows the upper layer's root directory as "/": it must
     * look like the template's */
    upper = vserverPoolVolUpper(pool, name);
    if (chown(upper, st.st_uid, st.st_gid) < 0 ||
        chmod(upper, st.st_mode & 07777) < 0) {
        virReportSystemError(errno, _("cannot give '%s' the owner and mode of the template's root"),
                             upper);
        ignore_value(vserverPoolDeleteVol(pool, vol));
        return NULL;
    }
    return vol;
}


int
vserverPoolSetVolState(vserverPool *pool,
                       vserverVol *vol,
                       vserverVolState state)
{
    vserverVolState old = vol->state;

    vol->state = state;
    if (vserverPoolWriteMeta(pool, vol) < 0) {
        vol->state = old;
        return -1;
    }
    vserverVolForgetFacts(vol);
    return 0;
}


char *
vserverPoolVolChildren(vserverPool *pool,
                       vserverVol *template)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

    for (size_t i = 0; i < pool->vols->len; i++) {
        vserverVol *vol = g_ptr_array_index(pool->vols, i);
        if (STREQ_NULLABLE(vol->backing, template->name))
            virBufferAsprintf(&buf, "%s%s", virBufferUse(&buf) ? ", " : "",
                              vol->name);
    }
    return virBufferContentAndReset(&buf);
}


int
vserverPoolCheckVolIdle(vserverPool *pool,
                        vserverVol *vol)
{
    if (vol->building != VSERVER_VOL_JOB_NONE) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' of pool '%s' is busy: it is being %s; wait for that to end"),
                       vol->name, pool->def->name,
                       vserverVolJobTypeToString(vol->building));
        return -1;
    }
    if (vol->readers > 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' of pool '%s' is busy: %u jobs read it (vol-download, vol-create-from, a migration's digest, pool-refresh); wait for them to end"),
                       vol->name, pool->def->name, vol->readers);
        return -1;
    }
    return 0;
}


int
vserverPoolDetachVol(vserverPool *pool,
                     vserverVol *vol,
                     char **trash)
{
    g_autofree char *meta = vserverPoolMetaPath(pool, vol->name);

    /* the meta file first: a crash half way leaves a directory that is no
     * longer a volume, not a broken one */
    if (unlink(meta) < 0 && errno != ENOENT) {
        virReportSystemError(errno, _("cannot remove '%s'"), meta);
        return -1;
    }
    if (vserverPoolTrash(pool, vol->name, trash) < 0)
        return -1;
    if (vol->kind == VSERVER_VOL_TEMPLATE)
        vserverPoolStoreChanged(vserverPoolStoreRoot(pool));
    vol->detached = true;
    g_ptr_array_remove(pool->vols, vol);
    return 0;
}


int
vserverPoolDeleteVol(vserverPool *pool,
                     vserverVol *vol)
{
    g_autofree char *trash = NULL;

    if (vserverPoolDetachVol(pool, vol, &trash) < 0)
        return -1;
    vserverPoolRemoveTrash(trash);
    return 0;
}


typedef struct {
    GHashTable *seen;           /* "dev:ino" of inodes already counted */
    unsigned long long blocks;  /* bytes allocated */
    unsigned long long apparent;
} vserverPoolDu;


/* Walks below @dirfd without following symlinks or crossing mounts. */
static void
vserverPoolDuWalk(int dirfd,
                  dev_t dev,
                  vserverPoolDu *du,
                  unsigned int depth)
{
    DIR *dir;
    struct dirent *ent;

    if (depth > 256 || !(dir = fdopendir(dirfd))) {
        VIR_FORCE_CLOSE(dirfd);
        return;
    }
    while ((ent = readdir(dir))) {
        struct stat st;
        char *key;

        if (STREQ(ent->d_name, ".") || STREQ(ent->d_name, ".."))
            continue;
        if (fstatat(dirfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            st.st_dev != dev)
            continue;
        key = g_strdup_printf("%llx:%llx", (unsigned long long)st.st_dev,
                              (unsigned long long)st.st_ino);
        if (g_hash_table_add(du->seen, key)) {
            du->blocks += (unsigned long long)st.st_blocks * 512;
            if (S_ISREG(st.st_mode))
                du->apparent += st.st_size;
        }
        if (S_ISDIR(st.st_mode)) {
            int fd = openat(dirfd, ent->d_name,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                vserverPoolDuWalk(fd, dev, du, depth + 1);
        }
    }
    closedir(dir);
}


static void
vserverPoolDuPath(const char *path,
                  vserverPoolDu *du)
{
    struct stat st;
    int fd;

    du->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
        if (fstat(fd, &st) == 0) {
            du->blocks += (unsigned long long)st.st_blocks * 512;
            vserverPoolDuWalk(fd, st.st_dev, du, 0);
        } else {
            VIR_FORCE_CLOSE(fd);
        }
    }
    g_hash_table_unref(du->seen);
}


void
vserverPoolTreeUsage(const char *tree,
                     unsigned long long *capacity,
                     unsigned long long *allocation)
{
    vserverPoolDu du = { 0 };

    vserverPoolDuPath(tree, &du);
    *capacity = du.apparent;
    *allocation = du.blocks;
}


char *
vserverPoolVolFormat(vserverPool *pool,
                     vserverVol *vol,
                     unsigned long long capacity,
                     unsigned long long allocation)
{
    g_autofree char *key = vserverPoolVolDir(pool, vol->name);
    g_autofree char *path = NULL;
    g_autofree char *backing = NULL;
    vserverVolView view = { 0 };

    /* a template is used through its tree; a guest through its directory
     * (upper and work) */
    path = vol->kind == VSERVER_VOL_TEMPLATE ? vserverPoolVolTree(pool, vol) :
           g_strdup(key);
    if (vol->backing)
        backing = g_build_filename(pool->def->path, vol->backing, "tree", NULL);

    view.name = vol->name;
    view.key = key;
    view.path = path;
    view.kind = vol->kind;
    view.capacity = capacity;
    view.allocation = allocation;
    view.backingPath = backing;
    return vserverVolFormat(&view);
}
