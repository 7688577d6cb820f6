/*
 * vserver_storage_driver.c: storage driver for hashify pools
 *
 * Storage calls made on a vserver:///system connection arrive here (the
 * daemon serves them from the primary connection).  Pools are
 * <pool type='hashify'> (vserver_pool_conf.c); their volumes are template
 * trees and copy-on-write guests (vserver_pool.c).
 *
 * The driver's lock guards the list of pools; each pool has a lock of its
 * own, held only for short work: walks of trees and children's runs go
 * without it (vserver_storage_driver_priv.h has the rules).
 *
 * This file holds the driver's state (loaded when the daemon starts), the
 * lookups and persistence the API files share, and the API table; pool
 * APIs are in vserver_storage_pool_api.c, volume APIs in
 * vserver_storage_vol_api.c, facts found by walks (cached) in
 * vserver_storage_facts.c, guest volumes used by running contexts in
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
#include "vserver_driver_conf.h"

#include "datatypes.h"
#include "storage_event.h"
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


void
vserverStorageEvent(vserverPool *pool,
                    int type,
                    int detail)
{
    virObjectEvent *event = virStoragePoolEventLifecycleNew(pool->def->name,
                                                            pool->def->uuid,
                                                            type, detail);
    virObjectEventStateQueue(vserver_storage->eventState, event);
}


void
vserverStorageEventRefresh(vserverPool *pool)
{
    virObjectEvent *event = virStoragePoolEventRefreshNew(pool->def->name,
                                                          pool->def->uuid);
    virObjectEventStateQueue(vserver_storage->eventState, event);
}


/* ---------------------------------------------------------------------
 * The list of pools
 */

vserverPool *
vserverStorageFindByName(const char *name)
{
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);
        bool match;

        virObjectLock(pool);
        match = STREQ(pool->def->name, name);
        virObjectUnlock(pool);
        if (match)
            return pool;
    }
    return NULL;
}


vserverPool *
vserverStorageFindByUUID(const unsigned char *uuid)
{
    for (size_t i = 0; i < vserver_storage->pools->len; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);
        bool match;

        virObjectLock(pool);
        match = memcmp(pool->def->uuid, uuid, VIR_UUID_BUFLEN) == 0;
        virObjectUnlock(pool);
        if (match)
            return pool;
    }
    return NULL;
}


/* @pool found under the driver's lock: referenced, then locked without
 * the driver's lock; NULL when it left the list meanwhile. */
static vserverPool *
vserverStoragePoolClaim(vserverPool *pool)
{
    if (!pool) {
        vserverStorageUnlock();
        return NULL;
    }
    virObjectRef(pool);
    vserverStorageUnlock();
    virObjectLock(pool);
    if (pool->removed) {
        virObjectUnlock(pool);
        virObjectUnref(pool);
        return NULL;
    }
    return pool;
}


vserverPool *
vserverStoragePoolGetByName(const char *name)
{
    vserverPool *pool;

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(pool = vserverStoragePoolClaim(vserverStorageFindByName(name))))
        virReportError(VIR_ERR_NO_STORAGE_POOL,
                       _("no storage pool with matching name '%s'"), name);
    return pool;
}


vserverPool *
vserverStoragePoolGetByUUID(const unsigned char *uuid,
                            const char *name)
{
    vserverPool *pool;

    if (vserverStorageCheckInit() < 0)
        return NULL;
    vserverStorageLock();
    if (!(pool = vserverStoragePoolClaim(vserverStorageFindByUUID(uuid)))) {
        char uuidstr[VIR_UUID_STRING_BUFLEN];

        virUUIDFormat(uuid, uuidstr);
        if (name)
            virReportError(VIR_ERR_NO_STORAGE_POOL,
                           _("no storage pool with matching uuid '%s' (%s)"),
                           uuidstr, name);
        else
            virReportError(VIR_ERR_NO_STORAGE_POOL,
                           _("no storage pool with matching uuid '%s'"),
                           uuidstr);
    }
    return pool;
}


void
vserverStoragePoolEndAPI(vserverPool **pool)
{
    if (!*pool)
        return;
    virObjectUnlock(*pool);
    g_clear_pointer(pool, virObjectUnref);
}


void
vserverStorageRemovePool(vserverPool *pool)
{
    /* the driver's lock comes first: let go of the pool's meanwhile */
    virObjectRef(pool);
    virObjectUnlock(pool);
    vserverStorageLock();
    virObjectLock(pool);
    if (!pool->removed && !pool->active && !pool->persistent) {
        pool->removed = true;
        g_ptr_array_remove(vserver_storage->pools, pool);   /* unrefs it */
    }
    vserverStorageUnlock();
    virObjectUnref(pool);
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


const char *
vserverStorageVolUser(vserverPool *pool,
                      const char *vol)
{
    return g_hash_table_lookup(pool->users, vol);
}


const char *
vserverStoragePoolUser(vserverPool *pool)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, pool->users);
    if (g_hash_table_iter_next(&iter, NULL, &value))
        return value;
    return NULL;
}


virStoragePoolPtr
vserverStoragePoolPtr(virConnectPtr conn,
                      vserverPool *pool)
{
    return virGetStoragePool(conn, pool->def->name, pool->def->uuid, NULL, NULL);
}


virStorageVolPtr
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


int
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


void
vserverStorageRemoveFile(const char *dir,
                         const char *name)
{
    g_autofree char *path = vserverStorageConfigFile(dir, name);

    if (unlink(path) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove '%s': %s", path, g_strerror(errno));
}


int
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
 * Start and stop (with the pool locked)
 */

int
vserverStorageStartPool(vserverPool *pool)
{
    /* a crash's trash waits for the next pool-refresh: no walk here */
    if (vserverPoolCheckTarget(pool) < 0 ||
        vserverPoolScan(pool, NULL) < 0)
        return -1;
    if (vserverStorageWriteDef(vserver_storage->statusDir, pool->def) < 0) {
        vserverPoolClearVols(pool);
        return -1;
    }
    pool->active = true;
    pool->haveStoreStats = false;
    return 0;
}


void
vserverStorageStopPool(vserverPool *pool)
{
    pool->active = false;
    vserverPoolClearVols(pool);
    vserverStorageRemoveFile(vserver_storage->statusDir, pool->def->name);
    /* a definition changed while the pool ran takes effect now */
    if (pool->newDef) {
        vserverPoolSetDef(pool, pool->newDef);
        pool->newDef = NULL;
    }
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
            if (!(pool = vserverPoolNew(def))) {
                vserverPoolDefFree(def);
                virResetLastError();
                continue;
            }
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
                pool->removed = true;
                g_ptr_array_remove(vserver_storage->pools, pool);
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
    vserver_storage->pools = g_ptr_array_new_with_free_func(virObjectUnref);
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
    virObjectUnref(vserver_storage->eventState);
    g_free(vserver_storage->configDir);
    g_free(vserver_storage->autostartDir);
    g_free(vserver_storage->statusDir);
    g_free(vserver_storage->schema);
    virMutexDestroy(&vserver_storage->lock);
    g_clear_pointer(&vserver_storage, g_free);
}
