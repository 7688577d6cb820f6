/*
 * vserver_hostdrv.c: the host's libvirt drivers (network, nwfilter,
 * nodedev, secret, interface) as a vserver connection reaches them
 *
 * virtvserverd serves none of these itself.  libvirt's own code inside a
 * per-driver daemon only ever tries the modular daemons' sockets
 * (virtnetworkd-sock, ...), which a host running the monolithic libvirtd
 * (Debian 12's default) does not have.  The choice made here, with the
 * directory from vserver.conf's host_socket_dir, serves both the client
 * API calls virtvserverd forwards and the driver's own network ports.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver-config.h"
#include "vserver_hostdrv.h"
#include "vserver_driver.h"

#include "datatypes.h"
#include "virerror.h"
#include "virfile.h"
#include "viridentity.h"
#include "virlog.h"
#include "virstring.h"
#include "virtypedparam.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.hostdrv");

/* the secondary drivers of a hypervisor connection, storage excepted:
 * the vserver driver serves storage itself */
static const char *vserverHostDrivers[] = {
    "interface", "network", "nodedev", "nwfilter", "secret", NULL,
};


char *
vserverHostDriverSocketURI(const char *sockdir,
                           const char *drv,
                           bool readonly)
{
    const char *suffix = readonly ? "sock-ro" : "sock";
    g_autofree char *direct = g_strdup_printf("%s/virt%sd-%s", sockdir, drv, suffix);
    g_autofree char *legacy = g_strdup_printf("%s/libvirt-%s", sockdir, suffix);
    g_autofree char *escaped = NULL;
    const char *sock;

    if (virFileExists(direct)) {
        sock = direct;
    } else if (virFileExists(legacy)) {
        sock = legacy;
    } else {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("no libvirt daemon serves the host's %s driver: neither %s (virt%sd) nor %s (libvirtd) exists"),
                       drv, direct, drv, legacy);
        return NULL;
    }

    /* explicit, so that libvirt's remote driver, which inside a daemon
     * would insist on virt<drv>d's default socket, takes it as it is */
    escaped = g_uri_escape_string(sock, "/", false);
    VIR_DEBUG("host %s driver: %s", drv, sock);
    return g_strdup_printf("%s:///system?socket=%s", drv, escaped);
}


static char *
vserverHostDriverActiveURI(const char *drv,
                           bool readonly)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetActiveConfig();

    return vserverHostDriverSocketURI(cfg ? cfg->hostSocketDir :
                                      VSERVER_RUNSTATEDIR "/libvirt",
                                      drv, readonly);
}


virConnectPtr
vserverHostDriverOpen(const char *drv)
{
    g_autofree char *uri = NULL;
    g_autoptr(virConnect) conn = NULL;
    g_autoptr(virIdentity) ident = NULL;

    if (!(uri = vserverHostDriverActiveURI(drv, false)))
        return NULL;
    if (!(conn = virConnectOpen(uri)))
        return NULL;

    if ((ident = virIdentityGetCurrent())) {
        g_autoptr(virTypedParamList) params = virIdentityGetParameters(ident);

        if (!params ||
            virConnectSetIdentity(conn, params->par, params->npar, 0) < 0)
            return NULL;
    }
    return g_steal_pointer(&conn);
}


int
vserverHostDriverURI(const char *uri,
                     bool readonly,
                     char **hosturi)
{
    const char *rest;
    size_t i;

    *hosturi = NULL;
    if (!uri)
        return 0;

    for (i = 0; vserverHostDrivers[i]; i++) {
        if ((rest = STRSKIP(uri, vserverHostDrivers[i])) &&
            STREQ(rest, ":///system")) {
            if (!(*hosturi = vserverHostDriverActiveURI(vserverHostDrivers[i],
                                                        readonly)))
                return -1;
            VIR_DEBUG("%s -> %s", uri, *hosturi);
            return 0;
        }
    }
    return 0;
}
