/*
 * vserver_storage_pool_api.c: the storage driver's pool APIs
 *
 * Listing, lookup, define, create, build, start, stop, delete, refresh and
 * figures of hashify pools.  Each call finds its pool under the driver's
 * lock and works under the pool's own (vserver_storage_driver_priv.h);
 * refresh and the figures walk without it (vserver_storage_facts.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <unistd.h>

#include "vserver_storage_driver.h"
#include "vserver_storage_driver_priv.h"

#include "datatypes.h"
#include "storage_event.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_LOG_INIT("vserver.storage.pool");


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

        virObjectLock(pool);
        if (pool->active == active &&
            virConnectListAllStoragePoolsCheckACL(conn, pool->aclDef)) {
            if (names && n < maxnames)
                names[n] = g_strdup(pool->def->name);
            if (!names || n < maxnames)
                n++;
        }
        virObjectUnlock(pool);
    }
    vserverStorageUnlock();
    return n;
}


int
vserverConnectNumOfStoragePools(virConnectPtr conn)
{
    if (virConnectNumOfStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return vserverStorageCount(conn, true, NULL, 0);
}


int
vserverConnectListStoragePools(virConnectPtr conn,
                               char **const names,
                               int maxnames)
{
    if (virConnectListStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return vserverStorageCount(conn, true, names, maxnames);
}


int
vserverConnectNumOfDefinedStoragePools(virConnectPtr conn)
{
    if (virConnectNumOfDefinedStoragePoolsEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return vserverStorageCount(conn, false, NULL, 0);
}


int
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


int
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
        virStoragePoolPtr ptr = NULL;
        bool match;

        virObjectLock(pool);
        match = vserverStorageMatch(pool, flags) &&
                virConnectListAllStoragePoolsCheckACL(conn, pool->aclDef);
        if (match && pools)
            ptr = vserverStoragePoolPtr(conn, pool);
        virObjectUnlock(pool);
        if (!match)
            continue;
        if (pools && !ptr)
            goto cleanup;
        g_ptr_array_add(list, ptr);
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


virStoragePoolPtr
vserverStoragePoolLookupByName(virConnectPtr conn,
                               const char *name)
{
    vserverPool *pool;
    virStoragePoolPtr ret = NULL;

    if (!(pool = vserverStoragePoolGetByName(name)))
        return NULL;
    if (virStoragePoolLookupByNameEnsureACL(conn, pool->aclDef) == 0)
        ret = vserverStoragePoolPtr(conn, pool);
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


virStoragePoolPtr
vserverStoragePoolLookupByUUID(virConnectPtr conn,
                               const unsigned char *uuid)
{
    vserverPool *pool;
    virStoragePoolPtr ret = NULL;

    if (!(pool = vserverStoragePoolGetByUUID(uuid, NULL)))
        return NULL;
    if (virStoragePoolLookupByUUIDEnsureACL(conn, pool->aclDef) == 0)
        ret = vserverStoragePoolPtr(conn, pool);
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


virStoragePoolPtr
vserverStoragePoolLookupByVolume(virStorageVolPtr vol)
{
    return vserverStoragePoolLookupByName(vol->conn, vol->pool);
}


/* @obj's pool, referenced and locked, or NULL with an error */
static vserverPool *
vserverStorageGetPool(virStoragePoolPtr obj)
{
    return vserverStoragePoolGetByUUID(obj->uuid, obj->name);
}


/* ---------------------------------------------------------------------
 * Define, create, build, start, stop, delete
 */

/* Under the driver's lock: @xml parsed, and unique among the pools. */
static vserverPoolDef *
vserverStorageParse(const char *xml)
{
    g_autoptr(vserverPoolDef) def = NULL;

    if (!(def = vserverPoolDefParseString(xml, vserver_storage->schema)))
        return NULL;
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *other = g_ptr_array_index(vserver_storage->pools, i);
        VIR_LOCK_GUARD lock = virObjectLockGuard(other);
        char uuid[VIR_UUID_STRING_BUFLEN];

        if (STREQ(other->def->name, def->name)) {
            if (memcmp(other->def->uuid, def->uuid, VIR_UUID_BUFLEN) != 0) {
                virReportError(VIR_ERR_OPERATION_FAILED,
                               _("pool '%s' already exists with uuid %s"),
                               def->name, virUUIDFormat(other->def->uuid, uuid));
                return NULL;
            }
            continue;
        }
        if (memcmp(other->def->uuid, def->uuid, VIR_UUID_BUFLEN) == 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("pool '%s' already has the uuid of '%s'"),
                           other->def->name, def->name);
            return NULL;
        }
        if (STREQ(other->def->path, def->path)) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("pool '%s' already uses the target path '%s'"),
                           other->def->name, def->path);
            return NULL;
        }
    }
    return g_steal_pointer(&def);
}


virStoragePoolPtr
vserverStoragePoolDefineXML(virConnectPtr conn,
                            const char *xml,
                            unsigned int flags)
{
    g_autoptr(vserverPoolDef) def = NULL;
    vserverPool *pool = NULL;
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

    if ((pool = vserverStorageFindByName(def->name))) {
        virObjectRef(pool);
        virObjectLock(pool);
        if (pool->active) {
            vserverPoolDefFree(pool->newDef);
            pool->newDef = g_steal_pointer(&def);
        } else {
            vserverPoolSetDef(pool, g_steal_pointer(&def));
        }
    } else {
        if (!(pool = vserverPoolNew(def)))
            goto cleanup;
        def = NULL;
        g_ptr_array_add(vserver_storage->pools, virObjectRef(pool));
        virObjectLock(pool);
        isNew = true;
    }
    pool->persistent = true;
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_DEFINED, 0);
    VIR_INFO("pool '%s' %s", pool->def->name, isNew ? "defined" : "redefined");
    ret = vserverStoragePoolPtr(conn, pool);

 cleanup:
    vserverStorageUnlock();
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


virStoragePoolPtr
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
    /* the new pool is not in the list yet: nobody else sees it */
    vserverStorageLock();
    if (!(def = vserverStorageParse(xml)))
        goto cleanup;
    if (vserverStorageFindByName(def->name)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is already defined: start it"),
                       def->name);
        goto cleanup;
    }
    if (!(pool = vserverPoolNew(def)))
        goto cleanup;
    def = NULL;
    virObjectLock(pool);
    if (virStoragePoolCreateXMLEnsureACL(conn, pool->aclDef) < 0)
        goto cleanup;
    if ((flags & (VIR_STORAGE_POOL_CREATE_WITH_BUILD |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) &&
        vserverPoolBuild(pool, !!(flags & VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) < 0)
        goto cleanup;
    if (vserverStorageStartPool(pool) < 0)
        goto cleanup;
    g_ptr_array_add(vserver_storage->pools, virObjectRef(pool));
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_STARTED, 0);
    ret = vserverStoragePoolPtr(conn, pool);

 cleanup:
    vserverStorageUnlock();
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
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
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


/* pool-build and pool-delete of an inactive pool work on its directory:
 * another such call meanwhile is refused, and so is pool-start. */
static int
vserverStorageCheckNoJob(vserverPool *pool)
{
    if (pool->asyncjobs > 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is busy: a pool-build or pool-delete is running"),
                       pool->def->name);
        return -1;
    }
    return 0;
}


int
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
    if (vserverStorageCheckNoJob(pool) < 0)
        goto cleanup;
    if ((flags & (VIR_STORAGE_POOL_CREATE_WITH_BUILD |
                  VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) &&
        vserverPoolBuild(pool, !!(flags & VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE)) < 0)
        goto cleanup;
    if (vserverStorageStartPool(pool) < 0)
        goto cleanup;
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_STARTED, 0);
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
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
    if (vserverStorageCheckNoJob(pool) < 0)
        goto cleanup;
    /* a directory and an empty store: no walk */
    if (vserverPoolBuild(pool, !!(flags & VIR_STORAGE_POOL_BUILD_OVERWRITE)) < 0)
        goto cleanup;
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_CREATED, 0);
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
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
    if (pool->asyncjobs > 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is busy: it has %u uploads or downloads running"),
                       pool->def->name, pool->asyncjobs);
        goto cleanup;
    }
    if (pool->refreshing) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is busy: pool-refresh is collecting its store"),
                       pool->def->name);
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
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStoragePoolDelete(virStoragePoolPtr obj,
                         unsigned int flags)
{
    vserverPool *pool;
    g_autofree char *trash = NULL;
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
    if (vserverStorageCheckNoJob(pool) < 0 ||
        vserverPoolDeleteDir(pool, &trash) < 0)
        goto cleanup;
    if (trash) {
        /* the store's tree goes without the lock; meanwhile the pool
         * cannot be started or built (its directory is gone anyway) */
        pool->asyncjobs++;
        virObjectUnlock(pool);
        vserverPoolRemoveTrash(trash);
        virObjectLock(pool);
        pool->asyncjobs--;
    }
    vserverStorageEvent(pool, VIR_STORAGE_POOL_EVENT_DELETED, 0);
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStoragePoolRefresh(virStoragePoolPtr obj,
                          unsigned int flags)
{
    vserverPool *pool;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolRefreshEnsureACL(obj->conn, pool->aclDef) < 0 ||
        vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (pool->asyncjobs > 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' has %u uploads or downloads running: refresh it afterwards"),
                       pool->def->name, pool->asyncjobs);
        goto cleanup;
    }
    if (pool->refreshing) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("storage pool '%s' is busy: another pool-refresh is running"),
                       pool->def->name);
        goto cleanup;
    }
    if (vserverStoragePoolCollect(pool) < 0)
        goto cleanup;
    vserverStorageEventRefresh(pool);
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
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
        /* the file system's figures: no walk (virsh pool-list asks every
         * pool for them) */
        if (vserverPoolGetFsStats(pool, &stats) < 0)
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
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


char *
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
        /* the figures may drop the lock: format what is in force after */
        if (vserverStoragePoolStats(pool, &stats) < 0)
            goto cleanup;
        ret = vserverPoolDefFormat(pool->def, pool->active ? &stats : NULL);
    } else {
        ret = vserverPoolDefFormat(pool->def, NULL);
    }

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStoragePoolGetAutostart(virStoragePoolPtr obj,
                               int *autostart)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolGetAutostartEnsureACL(obj->conn, pool->aclDef) == 0) {
        *autostart = pool->autostart;
        ret = 0;
    }
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
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
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStoragePoolIsActive(virStoragePoolPtr obj)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolIsActiveEnsureACL(obj->conn, pool->aclDef) == 0)
        ret = pool->active;
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStoragePoolIsPersistent(virStoragePoolPtr obj)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolIsPersistentEnsureACL(obj->conn, pool->aclDef) == 0)
        ret = pool->persistent;
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
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


int
vserverConnectStoragePoolEventDeregisterAny(virConnectPtr conn,
                                            int callbackID)
{
    if (virConnectStoragePoolEventDeregisterAnyEnsureACL(conn) < 0 ||
        vserverStorageCheckInit() < 0)
        return -1;
    return virObjectEventStateDeregisterID(conn, vserver_storage->eventState,
                                           callbackID, true);
}
