/*
 * vserver_storage_facts.c: facts found by walking trees, and cached
 *
 * A volume's usage is a walk of its tree, a template's digest a read of
 * every file, a pool's counters a walk of its object store, pool-refresh a
 * collection of the store.  None of them runs under a lock: each marks
 * what it reads busy (a volume's readers, a pool's refreshing), drops the
 * pool's lock, walks, and takes the lock again, so that the other pools,
 * the pool's other volumes and the domains starting on them go on.
 *
 * A ready template never changes (templates are read-only), so its usage
 * and digest are computed once and kept in the volume object (the digest
 * also on disk, vserver_vol_digest.c), until pool-refresh rereads the
 * pool.  A pool's store counters are kept until the driver changes that
 * store (an import, a save as template, a delete, a collection: the
 * store's generation, vserver_pool.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_storage_driver_priv.h"
#include "vserver_vol_digest.h"

#include "virerror.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_LOG_INIT("vserver.storage.facts");


static bool
vserverStorageIsReadyTemplate(vserverVol *vol)
{
    return !vol->detached && vol->kind == VSERVER_VOL_TEMPLATE &&
           vol->state == VSERVER_VOL_STATE_READY;
}


void
vserverStorageVolUsage(vserverPool *pool,
                       vserverVol *vol,
                       unsigned long long *capacity,
                       unsigned long long *allocation)
{
    g_autofree char *tree = NULL;
    bool cacheable = vserverStorageIsReadyTemplate(vol);
    unsigned int gen = vol->factsGen;

    if (vol->haveUsage) {
        *capacity = vol->capacity;
        *allocation = vol->allocation;
        return;
    }
    tree = vserverPoolVolTree(pool, vol);
    virObjectRef(vol);
    virObjectUnlock(pool);

    vserverPoolTreeUsage(tree, capacity, allocation);

    virObjectLock(pool);
    /* an import's or a guest's usage changes: only a template's stays */
    if (cacheable && vserverStorageIsReadyTemplate(vol) && gen == vol->factsGen) {
        vol->capacity = *capacity;
        vol->allocation = *allocation;
        vol->haveUsage = true;
    }
    virObjectUnref(vol);
}


char *
vserverStorageTemplateDigest(vserverPool *pool,
                             vserverVol *template)
{
    g_autofree char *dir = NULL;
    g_autofree char *tree = NULL;
    unsigned int gen = template->factsGen;
    char *digest;

    if (!vserverStorageIsReadyTemplate(template)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' of pool '%s' is not a ready template"),
                       template->name, pool->def->name);
        return NULL;
    }
    if (template->digest)
        return g_strdup(template->digest);

    dir = vserverPoolVolDir(pool, template->name);
    tree = vserverPoolVolTree(pool, template);
    template->readers++;
    virObjectRef(template);
    virObjectUnlock(pool);

    digest = vserverVolCachedDigest(dir, tree);

    virObjectLock(pool);
    template->readers--;
    if (digest && vserverStorageIsReadyTemplate(template) &&
        gen == template->factsGen && !template->digest)
        template->digest = g_strdup(digest);
    virObjectUnref(template);
    return digest;
}


int
vserverStoragePoolStats(vserverPool *pool,
                        vserverPoolStats *stats)
{
    g_autoptr(vserverPoolStoreRef) ref = NULL;
    vserverPoolStats counted = { 0 };
    unsigned long long gen;
    int rc;

    memset(stats, 0, sizeof(*stats));
    if (vserverPoolGetFsStats(pool, stats) < 0)
        return -1;
    gen = vserverPoolStoreGeneration(vserverPoolStoreRoot(pool));
    if (!pool->haveStoreStats || pool->storeGen != gen) {
        ref = vserverPoolStoreRefNew(pool);
        virObjectRef(pool);
        virObjectUnlock(pool);

        rc = vserverPoolReadStoreStats(ref, &counted);

        virObjectLock(pool);
        virObjectUnref(pool);
        if (rc < 0)
            return -1;
        /* kept only if nothing changed the store (or the pool's
         * definition) while it was counted */
        if (gen == vserverPoolStoreGeneration(ref->root) &&
            STREQ(ref->root, vserverPoolStoreRoot(pool))) {
            pool->storeStats = counted;
            pool->storeGen = gen;
            pool->haveStoreStats = true;
        }
    } else {
        counted = pool->storeStats;
    }
    stats->objects = counted.objects;
    stats->stored = counted.stored;
    stats->saved = counted.saved;
    return 0;
}


int
vserverStoragePoolCollect(vserverPool *pool)
{
    g_autoptr(GPtrArray) trash = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) trees = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) held = g_ptr_array_new();
    g_autoptr(vserverPoolStoreRef) ref = NULL;
    size_t i;
    int rc;

    if (vserverPoolScan(pool, trash) < 0)
        return -1;
    /* the ready templates' trees are swept: they stay while it runs */
    for (i = 0; i < pool->vols->len; i++) {
        vserverVol *vol = g_ptr_array_index(pool->vols, i);

        if (!vserverStorageIsReadyTemplate(vol))
            continue;
        vol->readers++;
        g_ptr_array_add(held, virObjectRef(vol));
        g_ptr_array_add(trees, vserverPoolVolTree(pool, vol));
    }
    ref = vserverPoolStoreRefNew(pool);
    pool->refreshing = true;
    virObjectUnlock(pool);

    for (i = 0; i < trash->len; i++)
        vserverPoolRemoveTrash(g_ptr_array_index(trash, i));
    rc = vserverPoolCollect(ref, trees);

    virObjectLock(pool);
    pool->refreshing = false;
    for (i = 0; i < held->len; i++) {
        vserverVol *vol = g_ptr_array_index(held, i);

        vol->readers--;
        virObjectUnref(vol);
    }
    vserverPoolStoreChanged(ref->root);
    return rc;
}
