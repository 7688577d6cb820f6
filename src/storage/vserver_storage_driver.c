/*
 * vserver_storage_driver.c: storage driver for hashify pools
 *
 * Storage calls made on a vserver:///system connection arrive here (the
 * daemon serves them from the primary connection).  Pools are
 * <pool type='hashify'> (vserver_pool_conf.c); their volumes are template
 * trees and copy-on-write guests (vserver_pool.c).  One lock covers the
 * pool list and every pool: operations that take long (imports, exports,
 * flattening) run in child processes without it.
 *
 * This file holds the API table and the driver's state (loaded when the
 * daemon starts); guest volumes used by running contexts are in
 * vserver_storage_domain.c, a guest volume's migration in
 * vserver_storage_migrate.c.
 *
 * Definitions:  <configDir>/storage/NAME.xml, autostart links in
 *               <configDir>/storage/autostart/
 * Active pools: <runDir>/storage/NAME.xml (survive a daemon restart)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <unistd.h>

#include "vserver_storage_driver.h"
#include "vserver_storage_driver_priv.h"
#include "vserver_pool.h"
#include "vserver_storage_jobs.h"
#include "vserver_driver_conf.h"

#include "datatypes.h"
#include "storage_event.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_LOG_INIT("vserver.storage");

vserverStorageDriverState *vserver_storage;


void
vserverStorageLock(void)
{
    virMutexLock(&vserver_storage->lock);
}


void
vserverStorageUnlock(void)
{
    virMutexUnlock(&vserver_storage->lock);
}


int
vserverStorageCheckInit(void)
{
    if (!vserver_storage) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("the vserver storage driver is not running (the daemon runs it as root only)"));
        return -1;
    }
    return 0;
}


static void
vserverStorageEvent(vserverPool *pool,
                    int type,
                    int detail)
{
    virObjectEvent *event = virStoragePoolEventLifecycleNew(pool->def->name,
                                                            pool->def->uuid,
                                                            type, detail);
    virObjectEventStateQueue(vserver_storage->eventState, event);
}


vserverPool *
vserverStorageFindByName(const char *name)
{
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);
        if (STREQ(pool->def->name, name))
            return pool;
    }
    return NULL;
}


static vserverPool *
vserverStorageFindByUUID(const unsigned char *uuid)
{
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);
        if (memcmp(pool->def->uuid, uuid, VIR_UUID_BUFLEN) == 0)
            return pool;
    }
    return NULL;
}


const char *
vserverStorageVolUser(const char *pool,
                      const char *vol)
{
    g_autofree char *key = g_strdup_printf("%s/%s", pool, vol);

    return g_hash_table_lookup(vserver_storage->users, key);
}


/* A running domain of @pool, or NULL. */
static const char *
vserverStoragePoolUser(vserverPool *pool)
{
    GHashTableIter iter;
    gpointer key;
    gpointer value;
    size_t len = strlen(pool->def->name);

    g_hash_table_iter_init(&iter, vserver_storage->users);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (STRPREFIX(key, pool->def->name) && ((char *)key)[len] == '/')
            return value;
    }
    return NULL;
}


/* Lock the driver and find @obj's pool; on failure the lock is released. */
static vserverPool *
vserverStorageGetPool(virStoragePoolPtr obj)
{
    vserverPool *pool;

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(pool = vserverStorageFindByUUID(obj->uuid))) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        virUUIDFormat(obj->uuid, uuid);
        virReportError(VIR_ERR_NO_STORAGE_POOL,
                       _("no storage pool with matching uuid '%s' (%s)"),
                       uuid, obj->name);
        vserverStorageUnlock();
    }
    return pool;
}


int
vserverStorageCheckActive(vserverPool *pool)
{
    if (!pool->active) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is not active"), pool->def->name);
        return -1;
    }
    return 0;
}


/* Lock, find the pool and the volume of @obj; the pool must be active.
 * On failure the lock is released. */
static vserverVol *
vserverStorageGetVol(virStorageVolPtr obj,
                     vserverPool **poolret)
{
    vserverPool *pool;
    vserverVol *vol;

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(pool = vserverStorageFindByName(obj->pool))) {
        virReportError(VIR_ERR_NO_STORAGE_POOL,
                       _("no storage pool with matching name '%s'"), obj->pool);
        goto error;
    }
    if (vserverStorageCheckActive(pool) < 0)
        goto error;
    if (!(vol = vserverPoolFindVol(pool, obj->name))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching name '%s' in pool '%s'"),
                       obj->name, pool->def->name);
        goto error;
    }
    *poolret = pool;
    return vol;

 error:
    vserverStorageUnlock();
    return NULL;
}


static virStoragePoolPtr
vserverStoragePoolPtr(virConnectPtr conn,
                      vserverPool *pool)
{
    return virGetStoragePool(conn, pool->def->name, pool->def->uuid, NULL, NULL);
}


static virStorageVolPtr
vserverStorageVolPtr(virConnectPtr conn,
                     vserverPool *pool,
                     vserverVol *vol)
{
    return virGetStorageVol(conn, pool->def->name, vol->name,
                            vol->aclDef->key, NULL, NULL);
}


/* ---------------------------------------------------------------------
 * Persistence
 */

static char *
vserverStorageConfigFile(const char *dir,
                         const char *name)
{
    return g_strdup_printf("%s/%s.xml", dir, name);
}


static int
vserverStorageWriteDef(const char *dir,
                       vserverPoolDef *def)
{
    g_autofree char *xml = vserverPoolDefFormat(def, NULL);
    g_autofree char *path = vserverStorageConfigFile(dir, def->name);
    g_autofree char *tmp = g_strdup_printf("%s.new", path);

    if (g_mkdir_with_parents(dir, 0700) < 0 ||
        virFileWriteStr(tmp, xml, 0600) < 0 ||
        rename(tmp, path) < 0) {
        virReportSystemError(errno, _("cannot save pool definition '%s'"), path);
        unlink(tmp);
        return -1;
    }
    return 0;
}


static void
vserverStorageRemoveFile(const char *dir,
                         const char *name)
{
    g_autofree char *path = vserverStorageConfigFile(dir, name);

    if (unlink(path) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove '%s': %s", path, g_strerror(errno));
}


static int
vserverStorageSetAutostartLink(vserverPool *pool,
                               bool autostart)
{
    g_autofree char *link = vserverStorageConfigFile(vserver_storage->autostartDir,
                                                     pool->def->name);
    g_autofree char *target = vserverStorageConfigFile(vserver_storage->configDir,
                                                       pool->def->name);

    if (autostart) {
        if (g_mkdir_with_parents(vserver_storage->autostartDir, 0700) < 0 ||
            (symlink(target, link) < 0 && errno != EEXIST)) {
            virReportSystemError(errno, _("cannot create autostart link '%s'"),
                                 link);
            return -1;
        }
    } else if (unlink(link) < 0 && errno != ENOENT) {
        virReportSystemError(errno, _("cannot remove autostart link '%s'"), link);
        return -1;
    }
    return 0;
}


/* ---------------------------------------------------------------------
 * Start and stop
 */

static int
vserverStorageStartPool(vserverPool *pool)
{
    if (vserverPoolCheckTarget(pool) < 0 ||
        vserverPoolScan(pool) < 0)
        return -1;
    if (vserverStorageWriteDef(vserver_storage->statusDir, pool->def) < 0) {
        g_ptr_array_set_size(pool->vols, 0);
        return -1;
    }
    pool->active = true;
    return 0;
}


static void
vserverStorageStopPool(vserverPool *pool)
{
    pool->active = false;
    g_ptr_array_set_size(pool->vols, 0);
    vserverStorageRemoveFile(vserver_storage->statusDir, pool->def->name);
    /* a definition changed while the pool ran takes effect now */
    if (pool->newDef) {
        vserverPoolSetDef(pool, pool->newDef);
        pool->newDef = NULL;
    }
}


static void
vserverStorageRemovePool(vserverPool *pool)
{
    g_ptr_array_remove(vserver_storage->pools, pool);   /* frees it */
}


/* ---------------------------------------------------------------------
 * Listing
 */

static int
vserverStorageCount(virConnectPtr conn,
                    bool active,
                    char **const names,
                    int maxnames)
{
    int n = 0;

    vserverStorageLock();
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);

        if (pool->active != active ||
            !virConnectListAllStoragePoolsCheckACL(conn, pool->aclDef))
            continue;
        if (names) {
            if (n >= maxnames)
                break;
            names[n] = g_strdup(pool->def->name);
        }
        n++;
    }
    vserverStorageUnlock();
    return n;
}


static int
vserverConnectNumOfStoragePools(virConnectPtr conn)
{
    if (virConnectNumOfStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return vserverStorageCount(conn, true, NULL, 0);
}


static int
vserverConnectListStoragePools(virConnectPtr conn,
                               char **const names,
                               int maxnames)
{
    if (virConnectListStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return vserverStorageCount(conn, true, names, maxnames);
}


static int
vserverConnectNumOfDefinedStoragePools(virConnectPtr conn)
{
    if (virConnectNumOfDefinedStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return vserverStorageCount(conn, false, NULL, 0);
}


static int
vserverConnectListDefinedStoragePools(virConnectPtr conn,
                                      char **const names,
                                      int maxnames)
{
    if (virConnectListDefinedStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return vserverStorageCount(conn, false, names, maxnames);
}


/* libvirt's filter rule: within each pair of flags (active/inactive, ...)
 * a pool matches when none of the pair is given, or the one it fits. */
#define VSERVER_STORAGE_FILTER(flags, yes, no, value) \
    (!((flags) & ((yes) | (no))) || \
     (((flags) & (yes)) && (value)) || (((flags) & (no)) && !(value)))

static bool
vserverStorageMatch(vserverPool *pool,
                    unsigned int flags)
{
    if (!VSERVER_STORAGE_FILTER(flags, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE,
                                VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE,
                                pool->active) ||
        !VSERVER_STORAGE_FILTER(flags, VIR_CONNECT_LIST_STORAGE_POOLS_PERSISTENT,
                                VIR_CONNECT_LIST_STORAGE_POOLS_TRANSIENT,
                                pool->persistent) ||
        !VSERVER_STORAGE_FILTER(flags, VIR_CONNECT_LIST_STORAGE_POOLS_AUTOSTART,
                                VIR_CONNECT_LIST_STORAGE_POOLS_NO_AUTOSTART,
                                pool->autostart))
        return false;
    /* a pool-type filter: hashify is none of libvirt's types */
    if (flags & VIR_CONNECT_LIST_STORAGE_POOLS_FILTERS_POOL_TYPE)
        return false;
    return true;
}


static int
vserverConnectListAllStoragePools(virConnectPtr conn,
                                  virStoragePoolPtr **pools,
                                  unsigned int flags)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    int ret = -1;

    virCheckFlags(VIR_CONNECT_LIST_STORAGE_POOLS_FILTERS_ALL, -1);

    if (virConnectListAllStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;

    vserverStorageLock();
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);
        virStoragePoolPtr ptr;

        if (!vserverStorageMatch(pool, flags) ||
            !virConnectListAllStoragePoolsCheckACL(conn, pool->aclDef))
            continue;
        if (pools) {
            if (!(ptr = vserverStoragePoolPtr(conn, pool)))
                goto cleanup;
            g_ptr_array_add(list, ptr);
        } else {
            g_ptr_array_add(list, NULL);
        }
    }
    ret = list->len;
    if (pools) {
        g_ptr_array_add(list, NULL);
        *pools = (virStoragePoolPtr *)g_ptr_array_free(g_steal_pointer(&list), FALSE);
    }

 cleanup:
    if (list && pools) {
        for (size_t i = 0; i < list->len; i++)
            virObjectUnref(g_ptr_array_index(list, i));
    }
    vserverStorageUnlock();
    return ret;
}


static virStoragePoolPtr
vserverStoragePoolLookupByName(virConnectPtr conn,
                               const char *name)
{
    vserverPool *pool;
    virStoragePoolPtr ret = NULL;

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(pool = vserverStorageFindByName(name))) {
        virReportError(VIR_ERR_NO_STORAGE_POOL,
                       _("no storage pool with matching name '%s'"), name);
        goto cleanup;
    }
    if (virStoragePoolLookupByNameEnsureACL(conn, pool->aclDef) < 0)
        goto cleanup;
    ret = vserverStoragePoolPtr(conn, pool);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static virStoragePoolPtr
vserverStoragePoolLookupByUUID(virConnectPtr conn,
                               const unsigned char *uuid)
{
    vserverPool *pool;
    virStoragePoolPtr ret = NULL;

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(pool = vserverStorageFindByUUID(uuid))) {
        char uuidstr[VIR_UUID_STRING_BUFLEN];
        virUUIDFormat(uuid, uuidstr);
        virReportError(VIR_ERR_NO_STORAGE_POOL,
                       _("no storage pool with matching uuid '%s'"), uuidstr);
        goto cleanup;
    }
    if (virStoragePoolLookupByUUIDEnsureACL(conn, pool->aclDef) < 0)
        goto cleanup;
    ret = vserverStoragePoolPtr(conn, pool);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static virStoragePoolPtr
vserverStoragePoolLookupByVolume(virStorageVolPtr vol)
{
    return vserverStoragePoolLookupByName(vol->conn, vol->pool);
}


/* ---------------------------------------------------------------------
 * Define, create, build, start, stop, delete
 */

static vserverPoolDef *
vserverStorageParse(const char *xml)
{
    vserverPoolDef *def;
    vserverPool *other;

    if (!(def = vserverPoolDefParseString(xml, vserver_storage->schema)))
        return NULL;
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        other = g_ptr_array_index(vserver_storage->pools, i);
        if (STREQ(other->def->name, def->name))
            continue;
        if (memcmp(other->def->uuid, def->uuid, VIR_UUID_BUFLEN) == 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("pool '%s' already has the uuid of '%s'"),
                           other->def->name, def->name);
            goto error;
        }
        if (STREQ(other->def->path, def->path)) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("pool '%s' already uses the target path '%s'"),
                           other->def->name, def->path);
            goto error;
        }
    }
    if ((other = vserverStorageFindByName(def->name)) &&
        memcmp(other->def->uuid, def->uuid, VIR_UUID_BUFLEN) != 0) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("pool '%s' already exists with uuid %s"),
                       def->name, virUUIDFormat(other->def->uuid, uuid));
        goto error;
    }
    return def;

 error:
    vserverPoolDefFree(def);
    return NULL;
}


static virStoragePoolPtr
vserverStoragePoolDefineXML(virConnectPtr conn,
                            const char *xml,
                            unsigned int flags)
{
    g_autoptr(vserverPoolDef) def = NULL;
    vserverPool *pool;
    virStoragePoolPtr ret = NULL;
    bool isNew = false;

    virCheckFlags(VIR_STORAGE_POOL_DEFINE_VALIDATE, NULL);

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(def = vserverStorageParse(xml)))
        goto cleanup;
    {
        /* the access check needs a libvirt pool definition */
        g_autoptr(virStoragePoolDef) acl = g_new0(virStoragePoolDef, 1);
        acl->name = g_strdup(def->name);
        memcpy(acl->uuid, def->uuid, VIR_UUID_BUFLEN);
        acl->type = VIR_STORAGE_POOL_DIR;
        if (virStoragePoolDefineXMLEnsureACL(conn, acl) < 0)
            goto cleanup;
    }
    if (vserverStorageWriteDef(vserver_storage->configDir, def) < 0)
        goto cleanup;

    if (!(pool = vserverStorageFindByName(def->name))) {
        pool = vserverPoolNew(g_steal_pointer(&def));
        g_ptr_array_add(vserver_storage->pools, pool);
        isNew = true;
    } else if (pool->active) {
        vserverPoolDefFree(pool->newDef);
        pool->newDef = g_steal_pointer(&def);
    } else {
        vserverPoolSetDef(pool, g_steal_pointer(&def));
    }
    pool->persistent = true;
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_DEFINED, 0);
    VIR_INFO("pool '%s' %s", pool->def->name, isNew ? "defined" : "redefined");
    ret = vserverStoragePoolPtr(conn, pool);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static virStoragePoolPtr
vserverStoragePoolCreateXML(virConnectPtr conn,
                            const char *xml,
                            unsigned int flags)
{
    g_autoptr(vserverPoolDef) def = NULL;
    vserverPool *pool = NULL;
    virStoragePoolPtr ret = NULL;

    virCheckFlags(VIR_STORAGE_POOL_CREATE_WITH_BUILD |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_NO_OVERWRITE, NULL);

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(def = vserverStorageParse(xml)))
        goto cleanup;
    if (vserverStorageFindByName(def->name)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is already defined: start it"),
                       def->name);
        goto cleanup;
    }
    pool = vserverPoolNew(g_steal_pointer(&def));
    if (virStoragePoolCreateXMLEnsureACL(conn, pool->aclDef) < 0)
        goto error;
    if ((flags & (VIR_STORAGE_POOL_CREATE_WITH_BUILD |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) &&
        vserverPoolBuild(pool, !!(flags & VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) < 0)
        goto error;
    if (vserverStorageStartPool(pool) < 0)
        goto error;
    g_ptr_array_add(vserver_storage->pools, pool);
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_STARTED, 0);
    ret = vserverStoragePoolPtr(conn, pool);
    goto cleanup;

 error:
    vserverPoolFree(pool);
 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolUndefine(virStoragePoolPtr obj)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolUndefineEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    if (!pool->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is transient"), pool->def->name);
        goto cleanup;
    }
    if (vserverStorageSetAutostartLink(pool, false) < 0)
        goto cleanup;
    vserverStorageRemoveFile(vserver_storage->configDir, pool->def->name);
    pool->persistent = false;
    pool->autostart = false;
    g_clear_pointer(&pool->newDef, vserverPoolDefFree);
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_UNDEFINED, 0);
    if (!pool->active)
        vserverStorageRemovePool(pool);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolCreate(virStoragePoolPtr obj,
                         unsigned int flags)
{
    vserverPool *pool;
    int ret = -1;

    virCheckFlags(VIR_STORAGE_POOL_CREATE_WITH_BUILD |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_NO_OVERWRITE, -1);

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolCreateEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    if (pool->active) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is already active"), pool->def->name);
        goto cleanup;
    }
    if ((flags & (VIR_STORAGE_POOL_CREATE_WITH_BUILD |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) &&
        vserverPoolBuild(pool, !!(flags & VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) < 0)
        goto cleanup;
    if (vserverStorageStartPool(pool) < 0)
        goto cleanup;
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_STARTED, 0);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolBuild(virStoragePoolPtr obj,
                        unsigned int flags)
{
    vserverPool *pool;
    int ret = -1;

    virCheckFlags(VIR_STORAGE_POOL_BUILD_OVERWRITE |
                  VIR_STORAGE_POOL_BUILD_NO_OVERWRITE, -1);

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolBuildEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    if (pool->active) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is active: stop it before building"),
                       pool->def->name);
        goto cleanup;
    }
    if (vserverPoolBuild(pool, !!(flags & VIR_STORAGE_POOL_BUILD_OVERWRITE)) < 0)
        goto cleanup;
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_CREATED, 0);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolDestroy(virStoragePoolPtr obj)
{
    vserverPool *pool;
    const char *user;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolDestroyEnsureACL(obj->conn, pool->aclDef) < 0 ||
        vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (pool->jobs > 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' has %u uploads or downloads running"),
                       pool->def->name, pool->jobs);
        goto cleanup;
    }
    if ((user = vserverStoragePoolUser(pool))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is in use by running domain '%s'"),
                       pool->def->name, user);
        goto cleanup;
    }
    vserverStorageStopPool(pool);
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_STOPPED, 0);
    if (!pool->persistent)
        vserverStorageRemovePool(pool);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolDelete(virStoragePoolPtr obj,
                         unsigned int flags)
{
    vserverPool *pool;
    int ret = -1;

    virCheckFlags(VIR_STORAGE_POOL_DELETE_NORMAL, -1);

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolDeleteEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    if (pool->active) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is active: stop it before deleting it"),
                       pool->def->name);
        goto cleanup;
    }
    if (vserverPoolDeleteDir(pool) < 0)
        goto cleanup;
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_DELETED, 0);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolRefresh(virStoragePoolPtr obj,
                          unsigned int flags)
{
    vserverPool *pool;
    virObjectEvent *event;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolRefreshEnsureACL(obj->conn, pool->aclDef) < 0 ||
        vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (pool->jobs > 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' has %u uploads or downloads running: refresh it afterwards"),
                       pool->def->name, pool->jobs);
        goto cleanup;
    }
    if (vserverPoolScan(pool) < 0 || vserverPoolCollect(pool) < 0)
        goto cleanup;
    event = virStoragePoolEventRefreshNew(pool->def->name, pool->def->uuid);
    virObjectEventStateQueue(vserver_storage->eventState, event);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolGetInfo(virStoragePoolPtr obj,
                          virStoragePoolInfoPtr info)
{
    vserverPool *pool;
    vserverPoolStats stats;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolGetInfoEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    memset(info, 0, sizeof(*info));
    if (pool->active) {
        if (vserverPoolGetStats(pool, &stats) < 0)
            goto cleanup;
        info->state = VIR_STORAGE_POOL_RUNNING;
        info->capacity = stats.capacity;
        info->allocation = stats.allocation;
        info->available = stats.available;
    } else {
        info->state = VIR_STORAGE_POOL_INACTIVE;
    }
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static char *
vserverStoragePoolGetXMLDesc(virStoragePoolPtr obj,
                             unsigned int flags)
{
    vserverPool *pool;
    vserverPoolStats stats;
    char *ret = NULL;

    virCheckFlags(VIR_STORAGE_XML_INACTIVE, NULL);

    if (!(pool = vserverStorageGetPool(obj)))
        return NULL;
    if (virStoragePoolGetXMLDescEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    if ((flags & VIR_STORAGE_XML_INACTIVE) && pool->newDef) {
        ret = vserverPoolDefFormat(pool->newDef, NULL);
    } else if (pool->active && !(flags & VIR_STORAGE_XML_INACTIVE)) {
        if (vserverPoolGetStats(pool, &stats) < 0)
            goto cleanup;
        ret = vserverPoolDefFormat(pool->def, &stats);
    } else {
        ret = vserverPoolDefFormat(pool->def, NULL);
    }

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolGetAutostart(virStoragePoolPtr obj,
                               int *autostart)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolGetAutostartEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    *autostart = pool->autostart;
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolSetAutostart(virStoragePoolPtr obj,
                               int autostart)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolSetAutostartEnsureACL(obj->conn, pool->aclDef) < 0)
        goto cleanup;
    if (!pool->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is transient: it cannot autostart"),
                       pool->def->name);
        goto cleanup;
    }
    if (vserverStorageSetAutostartLink(pool, !!autostart) < 0)
        goto cleanup;
    pool->autostart = !!autostart;
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolIsActive(virStoragePoolPtr obj)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolIsActiveEnsureACL(obj->conn, pool->aclDef) == 0)
        ret = pool->active;
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolIsPersistent(virStoragePoolPtr obj)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolIsPersistentEnsureACL(obj->conn, pool->aclDef) == 0)
        ret = pool->persistent;
    vserverStorageUnlock();
    return ret;
}


static int
vserverConnectStoragePoolEventRegisterAny(virConnectPtr conn,
                                          virStoragePoolPtr pool,
                                          int eventID,
                                          virConnectStoragePoolEventGenericCallback callback,
                                          void *opaque,
                                          virFreeCallback freecb)
{
    int callbackID = -1;

    if (virConnectStoragePoolEventRegisterAnyEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    if (virStoragePoolEventStateRegisterID(conn, vserver_storage->eventState,
                                           pool, eventID, callback, opaque,
                                           freecb, &callbackID) < 0)
        return -1;
    return callbackID;
}


static int
vserverConnectStoragePoolEventDeregisterAny(virConnectPtr conn,
                                            int callbackID)
{
    if (virConnectStoragePoolEventDeregisterAnyEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return virObjectEventStateDeregisterID(conn, vserver_storage->eventState,
                                           callbackID, true);
}


/* ---------------------------------------------------------------------
 * Volumes
 */

static int
vserverStoragePoolNumOfVolumes(virStoragePoolPtr obj)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolNumOfVolumesEnsureACL(obj->conn, pool->aclDef) == 0 &&
        vserverStorageCheckActive(pool) == 0)
        ret = pool->vols->len;
    vserverStorageUnlock();
    return ret;
}


static int
vserverStoragePoolListVolumes(virStoragePoolPtr obj,
                              char **const names,
                              int maxnames)
{
    vserverPool *pool;
    int n = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolListVolumesEnsureACL(obj->conn, pool->aclDef) == 0 &&
        vserverStorageCheckActive(pool) == 0) {
        for (n = 0; n < maxnames && n < (int)pool->vols->len; n++)
            names[n] = g_strdup(((vserverVol *)g_ptr_array_index(pool->vols, n))->name);
    }
    vserverStorageUnlock();
    return n;
}


static int
vserverStoragePoolListAllVolumes(virStoragePoolPtr obj,
                                 virStorageVolPtr **vols,
                                 unsigned int flags)
{
    vserverPool *pool;
    virStorageVolPtr *list = NULL;
    int ret = -1;
    size_t i;

    virCheckFlags(0, -1);

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolListAllVolumesEnsureACL(obj->conn, pool->aclDef) < 0 ||
        vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (vols) {
        list = g_new0(virStorageVolPtr, pool->vols->len + 1);
        for (i = 0; i < pool->vols->len; i++) {
            if (!(list[i] = vserverStorageVolPtr(obj->conn, pool,
                                                 g_ptr_array_index(pool->vols, i)))) {
                while (i-- > 0)
                    virObjectUnref(list[i]);
                g_free(list);
                goto cleanup;
            }
        }
        *vols = list;
    }
    ret = pool->vols->len;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static virStorageVolPtr
vserverStorageVolLookupByName(virStoragePoolPtr obj,
                              const char *name)
{
    vserverPool *pool;
    vserverVol *vol;
    virStorageVolPtr ret = NULL;

    if (!(pool = vserverStorageGetPool(obj)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (!(vol = vserverPoolFindVol(pool, name))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching name '%s'"), name);
        goto cleanup;
    }
    if (virStorageVolLookupByNameEnsureACL(obj->conn, pool->aclDef, vol->aclDef) == 0)
        ret = vserverStorageVolPtr(obj->conn, pool, vol);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


/* By key (the volume's directory) or by path (its tree, or directory). */
static virStorageVolPtr
vserverStorageVolLookupByPathOrKey(virConnectPtr conn,
                                   const char *path,
                                   bool byKey)
{
    virStorageVolPtr ret = NULL;
    g_autofree char *clean = g_strdup(path);

    if (vserverStorageCheckInit() < 0)
        return NULL;
    while (strlen(clean) > 1 && g_str_has_suffix(clean, "/"))
        clean[strlen(clean) - 1] = '\0';

    vserverStorageLock();
    for (size_t i = 0; i < vserver_storage->pools->len && !ret; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);
        vserverVol *vol;

        if (!pool->active || !(vol = vserverPoolFindVolByPath(pool, clean)))
            continue;
        if ((byKey ? virStorageVolLookupByKeyEnsureACL(conn, pool->aclDef, vol->aclDef) :
             virStorageVolLookupByPathEnsureACL(conn, pool->aclDef, vol->aclDef)) < 0)
            goto cleanup;
        ret = vserverStorageVolPtr(conn, pool, vol);
        goto cleanup;
    }
    virReportError(VIR_ERR_NO_STORAGE_VOL,
                   _("no storage vol with matching %s '%s'"),
                   byKey ? "key" : "path", path);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static virStorageVolPtr
vserverStorageVolLookupByKey(virConnectPtr conn,
                             const char *key)
{
    return vserverStorageVolLookupByPathOrKey(conn, key, true);
}


static virStorageVolPtr
vserverStorageVolLookupByPath(virConnectPtr conn,
                              const char *path)
{
    return vserverStorageVolLookupByPathOrKey(conn, path, false);
}


static int
vserverStorageCheckVolAcl(virConnectPtr conn,
                          vserverPool *pool,
                          const char *name,
                          bool from)
{
    g_autoptr(virStorageVolDef) acl = g_new0(virStorageVolDef, 1);

    acl->name = g_strdup(name);
    acl->type = VIR_STORAGE_VOL_DIR;
    return from ? virStorageVolCreateXMLFromEnsureACL(conn, pool->aclDef, acl) :
                  virStorageVolCreateXMLEnsureACL(conn, pool->aclDef, acl);
}


/* vol-create: an empty template, filled by vol-upload; or, with a
 * <backingStore> naming a template of this pool, a guest of it. */
static virStorageVolPtr
vserverStorageVolCreateXML(virStoragePoolPtr obj,
                           const char *xml,
                           unsigned int flags)
{
    g_autoptr(vserverVolRequest) req = NULL;
    vserverPool *pool;
    vserverVol *vol = NULL;
    virStorageVolPtr ret = NULL;

    virCheckFlags(0, NULL);

    if (!(pool = vserverStorageGetPool(obj)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0 ||
        !(req = vserverVolRequestParse(xml)) ||
        vserverStorageCheckVolAcl(obj->conn, pool, req->name, false) < 0)
        goto cleanup;

    if (req->backingPath) {
        vserverVol *template = vserverPoolFindVolByPath(pool, req->backingPath);

        if (!template)
            template = vserverPoolFindVol(pool, req->backingPath);
        if (!template) {
            virReportError(VIR_ERR_NO_STORAGE_VOL,
                           _("backing store '%s' is not a template of pool '%s'"),
                           req->backingPath, pool->def->name);
            goto cleanup;
        }
        if (req->hasKind && req->kind != VSERVER_VOL_GUEST) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a volume with a backing store is a guest volume (format 'hashify-guest')"));
            goto cleanup;
        }
        vol = vserverPoolCreateGuest(pool, req->name, template);
    } else {
        if (req->hasKind && req->kind == VSERVER_VOL_GUEST) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a guest volume needs a template: give <backingStore>, or use vol-clone / vol-create-from"));
            goto cleanup;
        }
        vol = vserverPoolCreateTemplate(pool, req->name, VSERVER_VOL_STATE_EMPTY);
    }
    if (vol)
        ret = vserverStorageVolPtr(obj->conn, pool, vol);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


/* vol-clone / vol-create-from: a template gives a guest in constant time;
 * a (stopped) guest gives a new template, flattened. */
static virStorageVolPtr
vserverStorageVolCreateXMLFrom(virStoragePoolPtr obj,
                               const char *xml,
                               virStorageVolPtr srcobj,
                               unsigned int flags)
{
    g_autoptr(vserverVolRequest) req = NULL;
    vserverPool *pool;
    vserverVol *src;
    vserverVol *vol = NULL;
    const char *user;
    virStorageVolPtr ret = NULL;

    virCheckFlags(0, NULL);

    if (!(pool = vserverStorageGetPool(obj)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0 ||
        !(req = vserverVolRequestParse(xml)) ||
        vserverStorageCheckVolAcl(obj->conn, pool, req->name, true) < 0)
        goto cleanup;
    if (STRNEQ(srcobj->pool, pool->def->name)) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("volume '%s' of pool '%s' cannot be the source of a volume in pool '%s': clone within one pool"),
                       srcobj->name, srcobj->pool, pool->def->name);
        goto cleanup;
    }
    if (!(src = vserverPoolFindVol(pool, srcobj->name))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching name '%s'"), srcobj->name);
        goto cleanup;
    }

    if (src->kind == VSERVER_VOL_TEMPLATE) {
        vol = vserverPoolCreateGuest(pool, req->name, src);
    } else if ((user = vserverStorageVolUser(pool->def->name, src->name))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("guest volume '%s' is in use by running domain '%s': stop it before saving it as a template"),
                       src->name, user);
    } else {
        vol = vserverStorageFlatten(pool, src, req->name,
                                    vserverStorageLock, vserverStorageUnlock);
    }
    if (vol)
        ret = vserverStorageVolPtr(obj->conn, pool, vol);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStorageVolDelete(virStorageVolPtr obj,
                        unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    g_autofree char *children = NULL;
    const char *user;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vol = vserverStorageGetVol(obj, &pool)))
        return -1;
    if (virStorageVolDeleteEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0)
        goto cleanup;
    if (vol->state == VSERVER_VOL_STATE_IMPORTING) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is being imported: wait for the import to end"),
                       vol->name);
        goto cleanup;
    }
    if (vol->kind == VSERVER_VOL_TEMPLATE &&
        (children = vserverPoolVolChildren(pool, vol))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("template '%s' still has guest volumes: %s"),
                       vol->name, children);
        goto cleanup;
    }
    if ((user = vserverStorageVolUser(pool->def->name, vol->name))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is in use by running domain '%s'"),
                       vol->name, user);
        goto cleanup;
    }
    ret = vserverPoolDeleteVol(pool, vol);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStorageVolGetInfoFlags(virStorageVolPtr obj,
                              virStorageVolInfoPtr info,
                              unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    int ret = -1;

    virCheckFlags(VIR_STORAGE_VOL_GET_PHYSICAL, -1);

    if (!(vol = vserverStorageGetVol(obj, &pool)))
        return -1;
    if (virStorageVolGetInfoFlagsEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0)
        goto cleanup;
    memset(info, 0, sizeof(*info));
    info->type = VIR_STORAGE_VOL_DIR;
    vserverPoolVolUsage(pool, vol, &info->capacity, &info->allocation);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStorageVolGetInfo(virStorageVolPtr obj,
                         virStorageVolInfoPtr info)
{
    return vserverStorageVolGetInfoFlags(obj, info, 0);
}


static char *
vserverStorageVolGetXMLDesc(virStorageVolPtr obj,
                            unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    char *ret = NULL;

    virCheckFlags(0, NULL);

    if (!(vol = vserverStorageGetVol(obj, &pool)))
        return NULL;
    if (virStorageVolGetXMLDescEnsureACL(obj->conn, pool->aclDef, vol->aclDef) == 0)
        ret = vserverPoolVolFormat(pool, vol);
    vserverStorageUnlock();
    return ret;
}


static char *
vserverStorageVolGetPath(virStorageVolPtr obj)
{
    vserverPool *pool;
    vserverVol *vol;
    char *ret = NULL;

    if (!(vol = vserverStorageGetVol(obj, &pool)))
        return NULL;
    if (virStorageVolGetPathEnsureACL(obj->conn, pool->aclDef, vol->aclDef) == 0)
        ret = vol->kind == VSERVER_VOL_TEMPLATE ? vserverPoolVolTree(pool, vol) :
              vserverPoolVolDir(pool, vol->name);
    vserverStorageUnlock();
    return ret;
}


static int
vserverStorageVolUpload(virStorageVolPtr obj,
                        virStreamPtr stream,
                        unsigned long long offset,
                        unsigned long long length,
                        unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vol = vserverStorageGetVol(obj, &pool)))
        return -1;
    if (virStorageVolUploadEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0)
        goto cleanup;
    if (offset != 0 || length != 0) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a template is uploaded whole, as one tarball: no --offset or --length"));
        goto cleanup;
    }
    if (vol->kind != VSERVER_VOL_TEMPLATE || vol->state != VSERVER_VOL_STATE_EMPTY) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is not an empty template: only a template created by vol-create takes an upload, once (templates are read-only)"),
                       vol->name);
        goto cleanup;
    }
    ret = vserverStorageImport(pool, vol, stream,
                               vserverStorageLock, vserverStorageUnlock);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


static int
vserverStorageVolDownload(virStorageVolPtr obj,
                          virStreamPtr stream,
                          unsigned long long offset,
                          unsigned long long length,
                          unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vol = vserverStorageGetVol(obj, &pool)))
        return -1;
    if (virStorageVolDownloadEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0)
        goto cleanup;
    if (offset != 0 || length != 0) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a template is downloaded whole, as one tarball: no --offset or --length"));
        goto cleanup;
    }
    if (vol->kind != VSERVER_VOL_TEMPLATE || vol->state != VSERVER_VOL_STATE_READY) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is not a ready template: download a template (save a guest as a template first with vol-create-from)"),
                       vol->name);
        goto cleanup;
    }
    ret = vserverStorageExport(pool, vol, stream,
                               vserverStorageLock, vserverStorageUnlock);

 cleanup:
    vserverStorageUnlock();
    return ret;
}


virStorageDriver vserverStorageDriver = {
    .name = "vserver-storage",
    .connectNumOfStoragePools = vserverConnectNumOfStoragePools,
    .connectListStoragePools = vserverConnectListStoragePools,
    .connectNumOfDefinedStoragePools = vserverConnectNumOfDefinedStoragePools,
    .connectListDefinedStoragePools = vserverConnectListDefinedStoragePools,
    .connectListAllStoragePools = vserverConnectListAllStoragePools,
    .connectStoragePoolEventRegisterAny = vserverConnectStoragePoolEventRegisterAny,
    .connectStoragePoolEventDeregisterAny = vserverConnectStoragePoolEventDeregisterAny,
    .storagePoolLookupByName = vserverStoragePoolLookupByName,
    .storagePoolLookupByUUID = vserverStoragePoolLookupByUUID,
    .storagePoolLookupByVolume = vserverStoragePoolLookupByVolume,
    .storagePoolCreateXML = vserverStoragePoolCreateXML,
    .storagePoolDefineXML = vserverStoragePoolDefineXML,
    .storagePoolBuild = vserverStoragePoolBuild,
    .storagePoolUndefine = vserverStoragePoolUndefine,
    .storagePoolCreate = vserverStoragePoolCreate,
    .storagePoolDestroy = vserverStoragePoolDestroy,
    .storagePoolDelete = vserverStoragePoolDelete,
    .storagePoolRefresh = vserverStoragePoolRefresh,
    .storagePoolGetInfo = vserverStoragePoolGetInfo,
    .storagePoolGetXMLDesc = vserverStoragePoolGetXMLDesc,
    .storagePoolGetAutostart = vserverStoragePoolGetAutostart,
    .storagePoolSetAutostart = vserverStoragePoolSetAutostart,
    .storagePoolNumOfVolumes = vserverStoragePoolNumOfVolumes,
    .storagePoolListVolumes = vserverStoragePoolListVolumes,
    .storagePoolListAllVolumes = vserverStoragePoolListAllVolumes,
    .storageVolLookupByName = vserverStorageVolLookupByName,
    .storageVolLookupByKey = vserverStorageVolLookupByKey,
    .storageVolLookupByPath = vserverStorageVolLookupByPath,
    .storageVolCreateXML = vserverStorageVolCreateXML,
    .storageVolCreateXMLFrom = vserverStorageVolCreateXMLFrom,
    .storageVolDownload = vserverStorageVolDownload,
    .storageVolUpload = vserverStorageVolUpload,
    .storageVolDelete = vserverStorageVolDelete,
    .storageVolGetInfo = vserverStorageVolGetInfo,
    .storageVolGetInfoFlags = vserverStorageVolGetInfoFlags,
    .storageVolGetXMLDesc = vserverStorageVolGetXMLDesc,
    .storageVolGetPath = vserverStorageVolGetPath,
    .storagePoolIsActive = vserverStoragePoolIsActive,
    .storagePoolIsPersistent = vserverStoragePoolIsPersistent,
};


/* ---------------------------------------------------------------------
 * State: load at daemon start, forget at exit
 */

static void
vserverStorageLoadDir(const char *dir,
                      bool status)
{
    g_autoptr(DIR) d = NULL;
    struct dirent *ent;

    if (virDirOpenIfExists(&d, dir) <= 0)
        return;
    while (virDirRead(d, &ent, dir) > 0) {
        g_autofree char *path = NULL;
        vserverPoolDef *def;
        vserverPool *pool;

        if (!g_str_has_suffix(ent->d_name, ".xml"))
            continue;
        path = g_build_filename(dir, ent->d_name, NULL);
        if (!(def = vserverPoolDefParseFile(path, NULL))) {
            VIR_ERROR(_("ignoring pool definition '%s': %s"), path,
                      virGetLastErrorMessage());
            virResetLastError();
            continue;
        }
        if ((pool = vserverStorageFindByName(def->name))) {
            /* status first, then config: the config is the next start's */
            if (status) {
                vserverPoolDefFree(def);
            } else if (pool->active) {
                vserverPoolDefFree(pool->newDef);
                pool->newDef = def;
            } else {
                vserverPoolSetDef(pool, def);
            }
        } else {
            pool = vserverPoolNew(def);
            g_ptr_array_add(vserver_storage->pools, pool);
        }
        if (status) {
            if (vserverStorageStartPool(pool) < 0) {
                VIR_WARN("pool '%s' was active and cannot be any more: %s",
                         pool->def->name, virGetLastErrorMessage());
                virResetLastError();
                vserverStorageRemoveFile(vserver_storage->statusDir, pool->def->name);
                /* the config pass brings a persistent pool back, inactive;
                 * a transient one is gone */
                vserverStorageRemovePool(pool);
            }
        } else {
            g_autofree char *link = vserverStorageConfigFile(vserver_storage->autostartDir,
                                                             pool->def->name);
            pool->persistent = true;
            pool->autostart = virFileLinkPointsTo(link, path);
        }
    }
}


int
vserverStorageStateInitialize(const char *configDir,
                              const char *runDir)
{
    vserver_storage = g_new0(vserverStorageDriverState, 1);
    if (virMutexInit(&vserver_storage->lock) < 0) {
        g_clear_pointer(&vserver_storage, g_free);
        return -1;
    }
    vserver_storage->pools = g_ptr_array_new_with_free_func((GDestroyNotify)vserverPoolFree);
    vserver_storage->users = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                   g_free, g_free);
    vserver_storage->configDir = g_build_filename(configDir, "storage", NULL);
    vserver_storage->autostartDir = g_build_filename(configDir, "storage",
                                                     "autostart", NULL);
    vserver_storage->statusDir = g_build_filename(runDir, "storage", NULL);
    vserver_storage->schema = vserverSchemaPath(VSERVER_POOL_SCHEMA);
    if (!(vserver_storage->eventState = virObjectEventStateNew()))
        return -1;
    if (g_mkdir_with_parents(vserver_storage->configDir, 0700) < 0 ||
        g_mkdir_with_parents(vserver_storage->statusDir, 0700) < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot create the storage driver's directories"));
        return -1;
    }

    vserverStorageLock();
    vserverStorageLoadDir(vserver_storage->statusDir, true);
    vserverStorageLoadDir(vserver_storage->configDir, false);
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);

        if (!pool->autostart || pool->active)
            continue;
        if (vserverStorageStartPool(pool) < 0) {
            VIR_ERROR(_("cannot autostart pool '%s': %s"), pool->def->name,
                      virGetLastErrorMessage());
            virResetLastError();
            continue;
        }
        vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_STARTED, 0);
    }
    vserverStorageUnlock();
    return 0;
}


void
vserverStorageStateCleanup(void)
{
    if (!vserver_storage)
        return;
    g_ptr_array_unref(vserver_storage->pools);
    g_hash_table_unref(vserver_storage->users);
    virObjectUnref(vserver_storage->eventState);
    g_free(vserver_storage->configDir);
    g_free(vserver_storage->autostartDir);
    g_free(vserver_storage->statusDir);
    g_free(vserver_storage->schema);
    virMutexDestroy(&vserver_storage->lock);
    g_clear_pointer(&vserver_storage, g_free);
}
