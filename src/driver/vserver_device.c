/*
 * vserver_device.c: device hotplug and interface statistics APIs
 *
 * Interfaces are the devices a running context can gain and lose: the
 * driver prepares the interface (vserver_net.c), writes the shim's new
 * configuration and asks the shim to bring that one interface up inside,
 * so that a later in-context reboot recreates it too.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_device.h"
#include "vserver_domain.h"
#include "vserver_monitor.h"
#include "vserver_net.h"
#include "vserver_process.h"

#include "datatypes.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virlog.h"
#include "virmacaddr.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.device");


/* NET <op> <guest name> [ARG] on its own connection to the shim. */
static int
vserverDeviceShimNet(vserverDriver *driver,
                     virDomainObj *vm,
                     vserverShimNetOp op,
                     const char *name,
                     const char *arg)
{
    g_autofree char *sock = vserverProcessShimSocket(driver, vm);
    g_autofree char *args = g_strdup_printf("%s %s%s%s",
                                            vserverShimNetOpTypeToString(op),
                                            name, arg ? " " : "",
                                            NULLSTR_EMPTY(arg));

    return vserverMonitorRequest(sock, VSERVER_SHIM_VERB_NET, args, 0);
}


static virDomainNetDef *
vserverDeviceParseNet(vserverDriver *driver,
                      virDomainObj *vm,
                      const char *xml,
                      unsigned int parseFlags,
                      virDomainDeviceDef **dev)
{
    if (!(*dev = virDomainDeviceDefParse(xml, vm->def, driver->xmlopt, NULL,
                                         parseFlags)))
        return NULL;
    if ((*dev)->type != VIR_DOMAIN_DEVICE_NET) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("a context cannot change its %s devices while defined or running; only interfaces can be attached and detached"),
                       virDomainDeviceTypeToString((*dev)->type));
        return NULL;
    }
    return (*dev)->data.net;
}


static int
vserverDeviceSave(vserverDriver *driver,
                  virDomainObj *vm,
                  bool live,
                  virDomainDef **persistentDef)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);

    if (live && virDomainObjSave(vm, driver->xmlopt, cfg->runDir) < 0)
        return -1;
    if (persistentDef && *persistentDef) {
        if (virDomainDefSave(*persistentDef, driver->xmlopt, cfg->configDir) < 0)
            return -1;
        virDomainObjAssignDef(vm, persistentDef, false, NULL);
    }
    return 0;
}


/* Hot-plug @net (owned by the caller until it returns 0) into the running
 * context. */
static int
vserverDeviceAttachNetLive(vserverDriver *driver,
                           virDomainObj *vm,
                           virDomainNetDef *net)
{
    virErrorPtr orig_err;

    if (vserverNetValidate(vm->def, net) < 0 ||
        vserverNetPrepare(vm->def, net) < 0)
        goto release;

    if (virDomainNetInsert(vm->def, net) < 0)
        goto release;
    if (vserverProcessWriteShimConfig(driver, vm) < 0 ||
        vserverDeviceShimNet(driver, vm, VSERVER_SHIM_NET_OP_ADD,
                             net->ifname_guest, NULL) < 0) {
        virErrorPreserveLast(&orig_err);
        virDomainNetRemove(vm->def, vm->def->nnets - 1);
        ignore_value(vserverProcessWriteShimConfig(driver, vm));
        virErrorRestore(&orig_err);
        goto release;
    }
    return 0;

 release:
    virErrorPreserveLast(&orig_err);
    /* the shim removed whatever it had created */
    vserverNetReleaseOne(vm->def, net, false);
    virErrorRestore(&orig_err);
    return -1;
}


int
vserverDomainAttachDeviceFlags(virDomainPtr dom,
                               const char *xml,
                               unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virDomainDeviceDef) devLive = NULL;
    g_autoptr(virDomainDeviceDef) devConf = NULL;
    g_autoptr(virDomainDef) persistentDef = NULL;
    virDomainNetDef *netLive = NULL;
    virDomainNetDef *netConf = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainAttachDeviceFlagsEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    /* live or not is decided once the job began: a stop it waited for
     * ends the context */
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (virDomainObjUpdateModificationImpact(vm, &flags) < 0)
        goto endjob;

    if (flags & VIR_DOMAIN_AFFECT_CONFIG) {
        if (!(netConf = vserverDeviceParseNet(driver, vm, xml,
                                              VIR_DOMAIN_DEF_PARSE_INACTIVE,
                                              &devConf)) ||
            !(persistentDef = virDomainObjCopyPersistentDef(vm, driver->xmlopt,
                                                            NULL)) ||
            vserverNetValidate(persistentDef, netConf) < 0)
            goto endjob;
    }
    if (flags & VIR_DOMAIN_AFFECT_LIVE) {
        if (!(netLive = vserverDeviceParseNet(driver, vm, xml,
                                              VIR_DOMAIN_DEF_PARSE_INACTIVE,
                                              &devLive)))
            goto endjob;
        /* one generated MAC for both definitions */
        if (netConf) {
            virMacAddrSet(&netConf->mac, &netLive->mac);
            netConf->mac_generated = netLive->mac_generated;
        }
        if (vserverDeviceAttachNetLive(driver, vm, netLive) < 0)
            goto endjob;
        devLive->data.net = NULL;   /* now vm->def's */
    }
    if (netConf) {
        if (virDomainNetInsert(persistentDef, netConf) < 0)
            goto endjob;
        devConf->data.net = NULL;
    }

    ret = vserverDeviceSave(driver, vm, !!(flags & VIR_DOMAIN_AFFECT_LIVE),
                            &persistentDef);

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainAttachDevice(virDomainPtr dom,
                          const char *xml)
{
    return vserverDomainAttachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE);
}


int
vserverDomainDetachDeviceFlags(virDomainPtr dom,
                               const char *xml,
                               unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virDomainDeviceDef) dev = NULL;
    g_autoptr(virDomainDef) persistentDef = NULL;
    virDomainNetDef *net;
    virDomainObj *vm;
    int idxConf = -1;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainDetachDeviceFlagsEnsureACL(dom->conn, vm->def, flags) < 0 ||
        !(net = vserverDeviceParseNet(driver, vm, xml,
                                      VIR_DOMAIN_DEF_PARSE_INACTIVE |
                                      VIR_DOMAIN_DEF_PARSE_SKIP_VALIDATE,
                                      &dev)))
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (virDomainObjUpdateModificationImpact(vm, &flags) < 0)
        goto endjob;

    /* find it everywhere before changing anything */
    if (flags & VIR_DOMAIN_AFFECT_CONFIG) {
        if (!(persistentDef = virDomainObjCopyPersistentDef(vm, driver->xmlopt,
                                                            NULL)) ||
            (idxConf = virDomainNetFindIdx(persistentDef, net)) < 0)
            goto endjob;
    }
    if (flags & VIR_DOMAIN_AFFECT_LIVE) {
        int idx = virDomainNetFindIdx(vm->def, net);
        virDomainNetDef *live;

        if (idx < 0)
            goto endjob;
        live = vm->def->nets[idx];
        if (vserverDeviceShimNet(driver, vm, VSERVER_SHIM_NET_OP_DEL,
                                 live->ifname_guest, NULL) < 0)
            goto endjob;
        virDomainNetRemove(vm->def, idx);
        vserverNetReleaseOne(vm->def, live, true);
        virDomainNetDefFree(live);
        if (vserverProcessWriteShimConfig(driver, vm) < 0)
            VIR_WARN("cannot rewrite the shim configuration of '%s'",
                     vm->def->name);
    }
    if (persistentDef)
        virDomainNetDefFree(virDomainNetRemove(persistentDef, idxConf));

    ret = vserverDeviceSave(driver, vm, !!(flags & VIR_DOMAIN_AFFECT_LIVE),
                            &persistentDef);

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainDetachDevice(virDomainPtr dom,
                          const char *xml)
{
    return vserverDomainDetachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE);
}


/* What virsh domif-setlink needs: the link state of an interface may
 * change; anything else about an existing interface may not. */
static int
vserverDeviceCheckNetUpdate(virDomainNetDef *old,
                            virDomainNetDef *new)
{
    if (old->type != new->type ||
        (new->mtu && old->mtu != new->mtu) ||
        (new->type == VIR_DOMAIN_NET_TYPE_BRIDGE &&
         STRNEQ_NULLABLE(old->data.bridge.brname, new->data.bridge.brname)) ||
        (new->type == VIR_DOMAIN_NET_TYPE_NETWORK &&
         STRNEQ_NULLABLE(old->data.network.name, new->data.network.name)) ||
        (new->type == VIR_DOMAIN_NET_TYPE_DIRECT &&
         STRNEQ_NULLABLE(old->data.direct.linkdev, new->data.direct.linkdev)) ||
        old->guestIP.nips != new->guestIP.nips ||
        old->guestIP.nroutes != new->guestIP.nroutes) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("only the link state of an interface can be updated; detach and attach it to change anything else"));
        return -1;
    }
    return 0;
}


int
vserverDomainUpdateDeviceFlags(virDomainPtr dom,
                               const char *xml,
                               unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virDomainDeviceDef) dev = NULL;
    g_autoptr(virDomainDef) persistentDef = NULL;
    virDomainNetDef *net;
    virDomainNetDef *target;
    virDomainObj *vm;
    int idx;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_DOMAIN_DEVICE_MODIFY_FORCE, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainUpdateDeviceFlagsEnsureACL(dom->conn, vm->def, flags) < 0 ||
        !(net = vserverDeviceParseNet(driver, vm, xml,
                                      VIR_DOMAIN_DEF_PARSE_INACTIVE, &dev)))
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (virDomainObjUpdateModificationImpact(vm, &flags) < 0)
        goto endjob;

    if (flags & VIR_DOMAIN_AFFECT_CONFIG) {
        if (!(persistentDef = virDomainObjCopyPersistentDef(vm, driver->xmlopt,
                                                            NULL)) ||
            (idx = virDomainNetFindIdx(persistentDef, net)) < 0 ||
            vserverDeviceCheckNetUpdate(persistentDef->nets[idx], net) < 0)
            goto endjob;
        persistentDef->nets[idx]->linkstate = net->linkstate;
    }
    if (flags & VIR_DOMAIN_AFFECT_LIVE) {
        bool up = net->linkstate != VIR_DOMAIN_NET_INTERFACE_LINK_STATE_DOWN;

        if ((idx = virDomainNetFindIdx(vm->def, net)) < 0)
            goto endjob;
        target = vm->def->nets[idx];
        if (vserverDeviceCheckNetUpdate(target, net) < 0 ||
            vserverDeviceShimNet(driver, vm, VSERVER_SHIM_NET_OP_LINK,
                                 target->ifname_guest,
                                 up ? "up" : "down") < 0)
            goto endjob;
        target->linkstate = net->linkstate;
        if (vserverProcessWriteShimConfig(driver, vm) < 0)
            VIR_WARN("cannot rewrite the shim configuration of '%s'",
                     vm->def->name);
    }

    ret = vserverDeviceSave(driver, vm, !!(flags & VIR_DOMAIN_AFFECT_LIVE),
                            &persistentDef);

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainInterfaceStats(virDomainPtr dom,
                            const char *device,
                            virDomainInterfaceStatsPtr stats)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainInterfaceStatsEnsureACL(dom->conn, vm->def) < 0 ||
        virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    ret = vserverNetInterfaceStats(vm->def, vm->def->id, device, stats);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainInterfaceAddresses(virDomainPtr dom,
                                virDomainInterfacePtr **ifaces,
                                unsigned int source,
                                unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainInterfaceAddressesEnsureACL(dom->conn, vm->def, source) < 0 ||
        virDomainObjCheckActive(vm) < 0)
        goto cleanup;

    /* no DHCP leases and no agent: both read what the context itself has
     * configured, from inside its network namespace */
    if (source != VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE &&
        source != VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED,
                       _("address source %u is not supported: contexts answer 'lease' and 'agent' from inside their network namespace"),
                       source);
        goto cleanup;
    }
    ret = vserverNetInterfaceAddresses(vm->def, vm->def->id, ifaces);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}
