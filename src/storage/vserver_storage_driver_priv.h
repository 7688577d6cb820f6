/*
 * vserver_storage_driver_priv.h: what the storage driver's files share
 *
 * Locking (docs/storage.md, "Concurrency"):
 *  - the driver's lock guards the list of pools only, and is held just to
 *    search or change it; it may be taken before a pool's lock, never
 *    while one is held;
 *  - each pool is a lockable object; its lock guards the pool, its
 *    volumes and their users, and is held for short in-memory work and
 *    single file operations (a meta file, a rename, a mkdir);
 *  - a tree walk (du, digest, the store's counters, collection) or a
 *    child's run (import, export, flatten) marks the pool or volume busy,
 *    drops the pool's lock, works, and takes the lock again; no two pool
 *    locks are ever held at once.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "datatypes.h"
#include "object_event.h"
#include "virthread.h"

#include "vserver_pool.h"

typedef struct {
    virMutex lock;                  /* guards pools only */
    GPtrArray *pools;               /* vserverPool *, one reference each */
    char *configDir;
    char *autostartDir;
    char *statusDir;
    char *schema;
    virObjectEventState *eventState;
} vserverStorageDriverState;

/* NULL unless the daemon runs the driver (as root) */
extern vserverStorageDriverState *vserver_storage;

void vserverStorageLock(void);
void vserverStorageUnlock(void);

/* -1 with an error when the driver is not running */
int vserverStorageCheckInit(void);

/* Under the driver's lock: the pool @name, or NULL (no error reported);
 * locks each pool in turn to read its name. */
vserverPool *vserverStorageFindByName(const char *name);
vserverPool *vserverStorageFindByUUID(const unsigned char *uuid);

/* The pool @name (@uuid), referenced and locked, or NULL with an error;
 * the driver's lock is not held on return.  End with
 * vserverStoragePoolEndAPI. */
vserverPool *vserverStoragePoolGetByName(const char *name);
vserverPool *vserverStoragePoolGetByUUID(const unsigned char *uuid,
                                         const char *name);
void vserverStoragePoolEndAPI(vserverPool **pool);

/* With @pool locked: take it out of the driver's list if it is neither
 * active nor persistent (any more).  Returns with @pool locked. */
void vserverStorageRemovePool(vserverPool *pool);

/* -1 with an error when @pool is not active */
int vserverStorageCheckActive(vserverPool *pool);

/* Under @pool's lock: the running domain using @pool's volume @vol, or
 * NULL; and any of @pool's. */
const char *vserverStorageVolUser(vserverPool *pool, const char *vol);
const char *vserverStoragePoolUser(vserverPool *pool);

void vserverStorageEvent(vserverPool *pool, int type, int detail);
void vserverStorageEventRefresh(vserverPool *pool);

/* Persistence of definitions (config dir) and active pools (status dir) */
int vserverStorageWriteDef(const char *dir, vserverPoolDef *def);
void vserverStorageRemoveFile(const char *dir, const char *name);
int vserverStorageSetAutostartLink(vserverPool *pool, bool autostart);
int vserverStorageStartPool(vserverPool *pool);
void vserverStorageStopPool(vserverPool *pool);

virStoragePoolPtr vserverStoragePoolPtr(virConnectPtr conn, vserverPool *pool);
virStorageVolPtr vserverStorageVolPtr(virConnectPtr conn, vserverPool *pool,
                                      vserverVol *vol);

/* --- facts found by walks (vserver_storage_facts.c): called with @pool
 * locked and referenced, they drop the lock while they walk and return
 * with it held again; the caller checks again what may have changed. */

/* A volume's usage: a ready template's is computed once. */
void vserverStorageVolUsage(vserverPool *pool, vserverVol *vol,
                            unsigned long long *capacity,
                            unsigned long long *allocation);
/* A ready template's content digest, computed once (and kept on disk). */
char *vserverStorageTemplateDigest(vserverPool *pool, vserverVol *template);
/* An active pool's figures; the store's counters are cached until the
 * driver changes the store. */
int vserverStoragePoolStats(vserverPool *pool, vserverPoolStats *stats);
/* pool-refresh: reread the volumes, remove trash, collect the store. */
int vserverStoragePoolCollect(vserverPool *pool);

/* --- the API table's entries: pools (vserver_storage_pool_api.c) */
int vserverConnectNumOfStoragePools(virConnectPtr conn);
int vserverConnectListStoragePools(virConnectPtr conn, char **const names,
                                   int maxnames);
int vserverConnectNumOfDefinedStoragePools(virConnectPtr conn);
int vserverConnectListDefinedStoragePools(virConnectPtr conn,
                                          char **const names, int maxnames);
int vserverConnectListAllStoragePools(virConnectPtr conn,
                                      virStoragePoolPtr **pools,
                                      unsigned int flags);
int vserverConnectStoragePoolEventRegisterAny(virConnectPtr conn,
                                              virStoragePoolPtr pool,
                                              int eventID,
                                              virConnectStoragePoolEventGenericCallback callback,
                                              void *opaque,
                                              virFreeCallback freecb);
int vserverConnectStoragePoolEventDeregisterAny(virConnectPtr conn,
                                                int callbackID);
virStoragePoolPtr vserverStoragePoolLookupByName(virConnectPtr conn,
                                                 const char *name);
virStoragePoolPtr vserverStoragePoolLookupByUUID(virConnectPtr conn,
                                                 const unsigned char *uuid);
virStoragePoolPtr vserverStoragePoolLookupByVolume(virStorageVolPtr vol);
virStoragePoolPtr vserverStoragePoolCreateXML(virConnectPtr conn,
                                              const char *xml,
                                              unsigned int flags);
virStoragePoolPtr vserverStoragePoolDefineXML(virConnectPtr conn,
                                              const char *xml,
                                              unsigned int flags);
int vserverStoragePoolBuild(virStoragePoolPtr obj, unsigned int flags);
int vserverStoragePoolUndefine(virStoragePoolPtr obj);
int vserverStoragePoolCreate(virStoragePoolPtr obj, unsigned int flags);
int vserverStoragePoolDestroy(virStoragePoolPtr obj);
int vserverStoragePoolDelete(virStoragePoolPtr obj, unsigned int flags);
int vserverStoragePoolRefresh(virStoragePoolPtr obj, unsigned int flags);
int vserverStoragePoolGetInfo(virStoragePoolPtr obj,
                              virStoragePoolInfoPtr info);
char *vserverStoragePoolGetXMLDesc(virStoragePoolPtr obj, unsigned int flags);
int vserverStoragePoolGetAutostart(virStoragePoolPtr obj, int *autostart);
int vserverStoragePoolSetAutostart(virStoragePoolPtr obj, int autostart);
int vserverStoragePoolIsActive(virStoragePoolPtr obj);
int vserverStoragePoolIsPersistent(virStoragePoolPtr obj);

/* --- volumes (vserver_storage_vol_api.c) */
int vserverStoragePoolNumOfVolumes(virStoragePoolPtr obj);
int vserverStoragePoolListVolumes(virStoragePoolPtr obj, char **const names,
                                  int maxnames);
int vserverStoragePoolListAllVolumes(virStoragePoolPtr obj,
                                     virStorageVolPtr **vols,
                                     unsigned int flags);
virStorageVolPtr vserverStorageVolLookupByName(virStoragePoolPtr obj,
                                               const char *name);
virStorageVolPtr vserverStorageVolLookupByKey(virConnectPtr conn,
                                              const char *key);
virStorageVolPtr vserverStorageVolLookupByPath(virConnectPtr conn,
                                               const char *path);
virStorageVolPtr vserverStorageVolCreateXML(virStoragePoolPtr obj,
                                            const char *xml,
                                            unsigned int flags);
virStorageVolPtr vserverStorageVolCreateXMLFrom(virStoragePoolPtr obj,
                                                const char *xml,
                                                virStorageVolPtr srcobj,
                                                unsigned int flags);
int vserverStorageVolDelete(virStorageVolPtr obj, unsigned int flags);
int vserverStorageVolGetInfo(virStorageVolPtr obj, virStorageVolInfoPtr info);
int vserverStorageVolGetInfoFlags(virStorageVolPtr obj,
                                  virStorageVolInfoPtr info,
                                  unsigned int flags);
char *vserverStorageVolGetXMLDesc(virStorageVolPtr obj, unsigned int flags);
char *vserverStorageVolGetPath(virStorageVolPtr obj);
int vserverStorageVolUpload(virStorageVolPtr obj, virStreamPtr stream,
                            unsigned long long offset,
                            unsigned long long length, unsigned int flags);
int vserverStorageVolDownload(virStorageVolPtr obj, virStreamPtr stream,
                              unsigned long long offset,
                              unsigned long long length, unsigned int flags);
