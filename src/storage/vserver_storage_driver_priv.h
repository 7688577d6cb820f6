/*
 * vserver_storage_driver_priv.h: what the storage driver's files share
 *
 * The driver's state and its lock live in vserver_storage_driver.c; the
 * domain side's volume use (vserver_storage_domain.c) and a volume's
 * migration (vserver_storage_migrate.c) work on them under the same lock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "object_event.h"
#include "virthread.h"

#include "vserver_pool.h"

typedef struct {
    virMutex lock;
    GPtrArray *pools;               /* vserverPool * */
    char *configDir;
    char *autostartDir;
    char *statusDir;
    char *schema;
    virObjectEventState *eventState;
    GHashTable *users;              /* "POOL/VOL" -> running domain's name */
} vserverStorageDriverState;

/* NULL unless the daemon runs the driver (as root) */
extern vserverStorageDriverState *vserver_storage;

void vserverStorageLock(void);
void vserverStorageUnlock(void);

/* -1 with an error when the driver is not running */
int vserverStorageCheckInit(void);

/* Under the lock: the pool @name, or NULL (no error reported) */
vserverPool *vserverStorageFindByName(const char *name);

/* -1 with an error when @pool is not active */
int vserverStorageCheckActive(vserverPool *pool);

/* Under the lock: the running domain using @pool's volume @vol, or NULL */
const char *vserverStorageVolUser(const char *pool,
                                  const char *vol);
