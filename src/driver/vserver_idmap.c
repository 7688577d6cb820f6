/*
 * vserver_idmap.c: id ranges the driver gives domains (<vserver:idmap/>)
 *
 * An unprivileged context needs host ids of its own, and contexts that
 * share ids can reach each other's files and processes.  So a hoster may
 * leave the choice to the driver: the range goes into the definition's
 * <idmap>, where it is persisted with it and freed with it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_idmap.h"
#include "vserver_domain_ns.h"

#include "virerror.h"
#include "virlog.h"
#include "virthread.h"

#define VIR_FROM_THIS VIR_FROM_LXC

VIR_LOG_INIT("vserver.idmap");

static virMutex vserverIdmapMutex = VIR_MUTEX_INITIALIZER;

typedef struct {
    unsigned long long start;
    unsigned long long end;         /* exclusive */
} vserverIdRange;

typedef struct {
    const unsigned char *uuid;      /* the domain being defined: not "taken" */
    GArray *taken;                  /* vserverIdRange */
} vserverIdmapScan;


void
vserverIdmapLock(void)
{
    virMutexLock(&vserverIdmapMutex);
}


void
vserverIdmapUnlock(void)
{
    virMutexUnlock(&vserverIdmapMutex);
}


static void
vserverIdmapAddRanges(GArray *taken,
                      const virDomainIdMapEntry *map,
                      size_t nmap)
{
    size_t i;

    for (i = 0; i < nmap; i++) {
        vserverIdRange r = { map[i].target,
                             (unsigned long long)map[i].target + map[i].count };

        g_array_append_val(taken, r);
    }
}


static int
vserverIdmapCollect(virDomainObj *vm,
                    void *opaque)
{
    vserverIdmapScan *scan = opaque;
    virDomainDef *defs[] = { vm->def, vm->newDef };
    size_t i;

    if (memcmp(vm->def->uuid, scan->uuid, VIR_UUID_BUFLEN) == 0)
        return 0;
    for (i = 0; i < G_N_ELEMENTS(defs); i++) {
        if (!defs[i])
            continue;
        vserverIdmapAddRanges(scan->taken, defs[i]->idmap.uidmap,
                              defs[i]->idmap.nuidmap);
        vserverIdmapAddRanges(scan->taken, defs[i]->idmap.gidmap,
                              defs[i]->idmap.ngidmap);
    }
    return 0;
}


int
vserverIdmapAssign(vserverDriver *driver,
                   virDomainDef *def)
{
    vserverDomainNamespaceDef *nsdef = def->namespaceData;
    g_autoptr(GArray) taken = g_array_new(FALSE, FALSE, sizeof(vserverIdRange));
    vserverIdmapScan scan = { def->uuid, taken };
    unsigned long long size;
    unsigned long long base;
    bool moved = true;
    size_t i;

    if (!nsdef || !nsdef->idmapSize ||
        def->idmap.nuidmap > 0 || def->idmap.ngidmap > 0)
        return 0;
    size = nsdef->idmapSize;

    virDomainObjListForEach(driver->domains, false, vserverIdmapCollect, &scan);

    /* the lowest aligned block that overlaps nothing taken */
    base = VSERVER_IDMAP_FIRST + (size - VSERVER_IDMAP_FIRST % size) % size;
    while (moved && base + size <= VSERVER_IDMAP_END) {
        moved = false;
        for (i = 0; i < taken->len; i++) {
            vserverIdRange *r = &g_array_index(taken, vserverIdRange, i);

            if (base < r->end && r->start < base + size) {
                base = (r->end + size - 1) / size * size;
                moved = true;
            }
        }
    }
    if (base + size > VSERVER_IDMAP_END) {
        virReportError(VIR_ERR_RESOURCE_BUSY,
                       _("no free range of %llu host ids is left for '%s' between %u and %u"),
                       size, def->name, VSERVER_IDMAP_FIRST, VSERVER_IDMAP_END);
        return -1;
    }

    def->idmap.nuidmap = 1;
    def->idmap.uidmap = g_new0(virDomainIdMapEntry, 1);
    def->idmap.uidmap[0] = (virDomainIdMapEntry) { 0, base, size };
    def->idmap.ngidmap = 1;
    def->idmap.gidmap = g_new0(virDomainIdMapEntry, 1);
    def->idmap.gidmap[0] = (virDomainIdMapEntry) { 0, base, size };
    VIR_INFO("domain '%s' gets host ids %llu to %llu", def->name, base,
             base + size - 1);
    return 0;
}
