/*
 * vserver_capabilities.c: host and domain capabilities
 *
 * A context is a Linux container: guests are os type 'exe', domain type
 * 'lxc', on the host architecture only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_capabilities.h"

#include "virarch.h"
#include "virerror.h"
#include "virhostcpu.h"
#include "virlog.h"
#include "cpu/cpu.h"

#define VIR_FROM_THIS VIR_FROM_CAPABILITIES

VIR_LOG_INIT("vserver.capabilities");


virCaps *
vserverCapabilitiesNew(void)
{
    g_autoptr(virCaps) caps = NULL;
    virCapsGuest *guest;

    if (!(caps = virCapabilitiesNew(virArchFromHost(), false, false)))
        return NULL;

    if (!(caps->host.numa = virCapabilitiesHostNUMANewHost()))
        return NULL;

    /* Cache topology is informative; a host that hides it (some
     * virtualized hosts do) still runs contexts. */
    if (virCapabilitiesInitCaches(caps) < 0) {
        VIR_WARN("Failed to get host CPU cache info");
        virResetLastError();
    }

    if (!(caps->host.cpu = virCPUProbeHost(caps->host.arch))) {
        VIR_WARN("Failed to probe host CPU model");
        virResetLastError();
    }

    guest = virCapabilitiesAddGuest(caps, VIR_DOMAIN_OSTYPE_EXE,
                                    caps->host.arch, NULL, NULL, 0, NULL);
    virCapabilitiesAddGuestDomain(guest, VIR_DOMAIN_VIRT_LXC,
                                  NULL, NULL, 0, NULL);

    return g_steal_pointer(&caps);
}


virDomainCaps *
vserverDomainCapsNew(virCaps *caps,
                     virArch arch,
                     virDomainVirtType virttype)
{
    g_autoptr(virDomainCaps) domcaps = NULL;
    int ncpus;

    if (!arch)
        arch = caps->host.arch;
    if (!virttype)
        virttype = VIR_DOMAIN_VIRT_LXC;

    if (arch != caps->host.arch) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("architecture '%s' is not supported: contexts run on the host architecture '%s'"),
                       virArchToString(arch), virArchToString(caps->host.arch));
        return NULL;
    }
    if (virttype != VIR_DOMAIN_VIRT_LXC) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("virttype '%s' is not supported: use 'lxc'"),
                       virDomainVirtTypeToString(virttype));
        return NULL;
    }

    if (!(domcaps = virDomainCapsNew(NULL, NULL, arch, virttype)))
        return NULL;

    if ((ncpus = virHostCPUGetCount()) < 0)
        return NULL;
    domcaps->maxvcpus = ncpus;

    /* Root and extra mounts are host directories bound into the context. */
    domcaps->filesystem.supported = VIR_TRISTATE_BOOL_YES;
    domcaps->filesystem.driverType.report = true;
    VIR_DOMAIN_CAPS_ENUM_SET(domcaps->filesystem.driverType,
                             VIR_DOMAIN_FS_DRIVER_TYPE_PATH);

    return g_steal_pointer(&domcaps);
}
