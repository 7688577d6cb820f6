/*
 * vserver_storage_domain.c: guest volumes used by running contexts
 *
 * The domain driver acquires the layers of a context's
 * <filesystem type='volume'> when it starts the context and releases
 * them when it stops.  While acquired, the volume is that domain's: no
 * other domain acquires it, it is not deleted or saved as a template, and
 * its pool is not destroyed (the pool's users).  Both take the driver's
 * lock only to find the pool and then only that pool's lock, which no
 * walk holds: a start or stop never waits for a walk of a pool.
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

    if (!(pool = vserverStoragePoolGetByName(poolName)))
        return -1;
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
    if ((user = vserverStorageVolUser(pool, volName)) && STRNEQ(user, domain)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is in use by running domain '%s'"),
                       volName, user);
        goto cleanup;
    }
    /* a save as template reads the guest: it must not change meanwhile */
    if (!user && vserverPoolCheckVolIdle(pool, vol) < 0)
        goto cleanup;
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
    g_hash_table_replace(pool->users, g_strdup(volName), g_strdup(domain));
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


void
vserverStorageReleaseVolume(const char *domain,
                            const char *poolName,
                            const char *volName)
{
    vserverPool *pool;
    virErrorPtr orig_err;

    if (!vserver_storage)
        return;
    /* called on the way out of a failed start too: keep its error */
    virErrorPreserveLast(&orig_err);
    if ((pool = vserverStoragePoolGetByName(poolName))) {
        if (STREQ_NULLABLE(g_hash_table_lookup(pool->users, volName), domain))
            g_hash_table_remove(pool->users, volName);
        vserverStoragePoolEndAPI(&pool);
    }
    /* else: a pool is not stopped while used, nothing to release */
    virErrorRestore(&orig_err);
}
