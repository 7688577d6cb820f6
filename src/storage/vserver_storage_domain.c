/*
 * vserver_storage_domain.c: guest volumes used by running contexts
 *
 * The domain driver acquires the layers of a context's
 * <filesystem type='volume'> when it starts the context and releases
 * them when it stops.  While acquired, the volume is that domain's: no
 * other domain acquires it, it is not deleted or saved as a template, and
 * its pool is not destroyed (vserver_storage_driver.c checks).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_storage_driver.h"
#include "vserver_storage_driver_priv.h"

#include "virerror.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE


/* For the domain side: the layers of a <filesystem type='volume'> of
 * @domain, which from now on counts as its user.  Returns 0 and fills the
 * paths, or -1. */
int
vserverStorageAcquireVolume(const char *domain,
                            const char *poolName,
                            const char *volName,
                            char **lower,
                            char **upper,
                            char **work)
{
    vserverPool *pool;
    vserverVol *vol;
    vserverVol *template;
    const char *user;
    int ret = -1;

    if (vserverStorageCheckInit() < 0)
        return -1;
    vserverStorageLock();
    if (!(pool = vserverStorageFindByName(poolName))) {
        virReportError(VIR_ERR_NO_STORAGE_POOL,
                       _("no storage pool with matching name '%s'"), poolName);
        goto cleanup;
    }
    if (vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (!(vol = vserverPoolFindVol(pool, volName))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching name '%s' in pool '%s'"),
                       volName, poolName);
        goto cleanup;
    }
    if (vol->kind != VSERVER_VOL_GUEST) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("volume '%s' is a template, which is read-only: give the context a guest volume cloned from it (virsh vol-clone)"),
                       volName);
        goto cleanup;
    }
    if ((user = vserverStorageVolUser(poolName, volName)) && STRNEQ(user, domain)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is in use by running domain '%s'"),
                       volName, user);
        goto cleanup;
    }
    if (!(template = vserverPoolFindVol(pool, vol->backing)) ||
        template->state != VSERVER_VOL_STATE_READY) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("the template '%s' of volume '%s' is missing or not ready"),
                       vol->backing, volName);
        goto cleanup;
    }
    *lower = vserverPoolVolTree(pool, template);
    *upper = vserverPoolVolUpper(pool, vol->name);
    *work = vserverPoolVolWork(pool, vol->name);
    g_hash_table_replace(vserver_storage->users,
                         g_strdup_printf("%s/%s", poolName, volName),
                         g_strdup(domain));
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


void
vserverStorageReleaseVolume(const char *domain,
                            const char *poolName,
                            const char *volName)
{
    g_autofree char *key = g_strdup_printf("%s/%s", poolName, volName);

    if (!vserver_storage)
        return;
    vserverStorageLock();
    if (STREQ_NULLABLE(g_hash_table_lookup(vserver_storage->users, key), domain))
        g_hash_table_remove(vserver_storage->users, key);
    vserverStorageUnlock();
}
