/*
 * vserver_net.c: a context's network interfaces
 *
 * Every interface is a device the shim creates inside the context's
 * network namespace before init runs (src/shim/vserver_shim_net.c):
 *   bridge, ethernet, network with a bridge  -> a veth pair; the host end
 *       named <target dev> or vsvnetN, enslaved to the bridge (if any);
 *   direct, network with macvlan devices     -> a macvlan on the parent.
 * This file decides names and settings, talks to libvirt's network driver
 * and reads statistics and addresses back from inside the namespace.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <unistd.h>

#include "vserver-config.h"
#include "vserver_net.h"
#include "vserver_context.h"
#include "vserver_hostdrv.h"

#include "datatypes.h"
#include "driver.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virmacaddr.h"
#include "virnetdev.h"
#include "virnetdevveth.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.net");


/* The kind of device an interface becomes, once a network is resolved. */
static bool
vserverNetIsMacvlan(virDomainNetDef *net)
{
    return virDomainNetGetActualType(net) == VIR_DOMAIN_NET_TYPE_DIRECT;
}


static const char *
vserverNetLabel(virDomainNetDef *net,
                char *buf)
{
    return virMacAddrFormat(&net->mac, buf);
}


static int
vserverNetCheckName(virDomainNetDef *net,
                    const char *what,
                    const char *name)
{
    char mac[VIR_MAC_STRING_BUFLEN];

    if (strlen(name) >= IFNAMSIZ || !*name || strchr(name, '/') ||
        strpbrk(name, " \t\n:") || STREQ(name, ".") || STREQ(name, "..")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface %s: %s name '%s' is not a valid device name (1 to %d characters, no '/', ':' or spaces)"),
                       vserverNetLabel(net, mac), what, name, IFNAMSIZ - 1);
        return -1;
    }
    return 0;
}


static int
vserverNetValidateOne(virDomainNetDef *net)
{
    char mac[VIR_MAC_STRING_BUFLEN];
    const char *unsupported = NULL;

    vserverNetLabel(net, mac);
    switch ((virDomainNetType)net->type) {
    case VIR_DOMAIN_NET_TYPE_BRIDGE:
    case VIR_DOMAIN_NET_TYPE_ETHERNET:
    case VIR_DOMAIN_NET_TYPE_DIRECT:
    case VIR_DOMAIN_NET_TYPE_NETWORK:
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface %s: type '%s' is not supported by contexts (use bridge, ethernet, direct or network)"),
                       mac, virDomainNetTypeToString(net->type));
        return -1;
    }

    if (net->bandwidth)
        unsupported = "<bandwidth>";
    else if (net->vlan.nTags)
        unsupported = "<vlan>";
    else if (net->virtPortProfile)
        unsupported = "<virtualport>";
    else if (net->filter)
        unsupported = "<filterref>";
    else if (net->script || net->downscript)
        unsupported = "<script>";
    else if (net->teaming)
        unsupported = "<teaming>";
    else if (net->coalesce)
        unsupported = "<coalesce>";
    if (unsupported) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface %s: %s is not supported by contexts"),
                       mac, unsupported);
        return -1;
    }
    if (net->hostIP.nips + net->hostIP.nroutes > 0 &&
        net->type != VIR_DOMAIN_NET_TYPE_ETHERNET) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface %s: host side addresses and routes (<source><ip>) need type='ethernet'"),
                       mac);
        return -1;
    }
    if (net->ifname_guest &&
        (vserverNetCheckName(net, "guest device", net->ifname_guest) < 0))
        return -1;
    if (net->ifname_guest && STREQ(net->ifname_guest, "lo")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface %s: the guest device cannot be named 'lo'"),
                       mac);
        return -1;
    }
    if (net->ifname && net->type != VIR_DOMAIN_NET_TYPE_DIRECT &&
        !strchr(net->ifname, '%') &&
        vserverNetCheckName(net, "host device", net->ifname) < 0)
        return -1;
    return 0;
}


/* @a and @b must not share a MAC, a host device or a guest device. */
static int
vserverNetCheckPair(virDomainNetDef *a,
                    virDomainNetDef *b)
{
    char mac[VIR_MAC_STRING_BUFLEN];

    if (virMacAddrCmp(&a->mac, &b->mac) == 0) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("two interfaces have the same MAC address %s"),
                       vserverNetLabel(a, mac));
        return -1;
    }
    if (a->ifname && b->ifname && STREQ(a->ifname, b->ifname) &&
        !vserverNetIsMacvlan(a) && !vserverNetIsMacvlan(b)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("two interfaces have the same host device name '%s'"),
                       a->ifname);
        return -1;
    }
    if (a->ifname_guest && b->ifname_guest &&
        STREQ(a->ifname_guest, b->ifname_guest)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("two interfaces have the same guest device name '%s'"),
                       a->ifname_guest);
        return -1;
    }
    return 0;
}


int
vserverNetValidate(virDomainDef *def,
                   virDomainNetDef *net)
{
    size_t i;
    size_t j;

    if (net) {
        if (vserverNetValidateOne(net) < 0)
            return -1;
        for (i = 0; i < def->nnets; i++) {
            if (def->nets[i] != net &&
                vserverNetCheckPair(net, def->nets[i]) < 0)
                return -1;
        }
        return 0;
    }

    for (i = 0; i < def->nnets; i++) {
        if (vserverNetValidateOne(def->nets[i]) < 0)
            return -1;
        for (j = i + 1; j < def->nnets; j++) {
            if (vserverNetCheckPair(def->nets[i], def->nets[j]) < 0)
                return -1;
        }
    }
    return 0;
}


/* libvirt's network driver: virtnetworkd, as a modular daemon must reach
 * it, or else a monolithic libvirtd (Debian 12's default), whose socket a
 * daemon's own connection would never try (vserver_hostdrv.c). */
static virConnectPtr
vserverNetConnect(void)
{
    return vserverHostDriverOpen("network");
}


static int
vserverNetResolve(virDomainDef *def,
                  virDomainNetDef *net)
{
    g_autoptr(virConnect) conn = NULL;
    char mac[VIR_MAC_STRING_BUFLEN];
    virDomainNetType actual;

    if (net->type != VIR_DOMAIN_NET_TYPE_NETWORK)
        return 0;

    vserverNetLabel(net, mac);
    if (!(conn = vserverNetConnect())) {
        g_autofree char *why = g_strdup(virGetLastErrorMessage());
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("interface %s: cannot resolve network '%s': no libvirt network driver is reachable (%s)"),
                       mac, net->data.network.name, why);
        return -1;
    }
    if (virDomainNetAllocateActualDevice(conn, def, net) < 0) {
        g_autofree char *why = g_strdup(virGetLastErrorMessage());
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("interface %s: cannot get a port on network '%s': %s"),
                       mac, net->data.network.name, why);
        return -1;
    }

    actual = virDomainNetGetActualType(net);
    if (actual != VIR_DOMAIN_NET_TYPE_BRIDGE &&
        actual != VIR_DOMAIN_NET_TYPE_NETWORK &&
        actual != VIR_DOMAIN_NET_TYPE_DIRECT) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface %s: network '%s' hands out '%s' devices, which contexts cannot use"),
                       mac, net->data.network.name,
                       virDomainNetTypeToString(actual));
        return -1;
    }
    return 0;
}


/* The lowest ethN no other interface of @def uses. */
static char *
vserverNetGuestName(virDomainDef *def)
{
    for (unsigned int n = 0; ; n++) {
        g_autofree char *name = g_strdup_printf("eth%u", n);
        bool used = false;
        size_t i;

        for (i = 0; i < def->nnets && !used; i++)
            used = STREQ_NULLABLE(def->nets[i]->ifname_guest, name);
        if (!used)
            return g_steal_pointer(&name);
    }
}


static int
vserverNetPrepareOne(virDomainDef *def,
                     virDomainNetDef *net)
{
    char mac[VIR_MAC_STRING_BUFLEN];

    vserverNetLabel(net, mac);
    if (vserverNetResolve(def, net) < 0)
        return -1;

    if (vserverNetIsMacvlan(net)) {
        const char *link = virDomainNetGetActualDirectDev(net);

        if (!link || virNetDevExists(link) != 1) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("interface %s: host device '%s' does not exist"),
                           mac, NULLSTR(link));
            return -1;
        }
    } else {
        const char *bridge = virDomainNetGetActualBridgeName(net);

        if (net->type != VIR_DOMAIN_NET_TYPE_ETHERNET &&
            (!bridge || virNetDevExists(bridge) != 1)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("interface %s: bridge '%s' does not exist"),
                           mac, NULLSTR(bridge));
            return -1;
        }
        if (!net->ifname)
            net->ifname = g_strdup(VSERVER_NET_HOST_PREFIX "%d");
        if (strchr(net->ifname, '%')) {
            if (virNetDevGenerateName(&net->ifname, VIR_NET_DEV_GEN_NAME_VNET) < 0)
                return -1;
        } else if (virNetDevExists(net->ifname) == 1) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("interface %s: host device '%s' already exists"),
                           mac, net->ifname);
            return -1;
        }
    }

    if (!net->ifname_guest)
        net->ifname_guest = vserverNetGuestName(def);
    return 0;
}


int
vserverNetPrepare(virDomainDef *def,
                  virDomainNetDef *net)
{
    size_t i;

    if (net)
        return vserverNetPrepareOne(def, net);

    /* a generated ethN skips every name given in the XML: those are set
     * before any is generated */
    for (i = 0; i < def->nnets; i++) {
        if (vserverNetPrepareOne(def, def->nets[i]) < 0)
            return -1;
    }
    return 0;
}


void
vserverNetReleaseOne(virDomainDef *def,
                     virDomainNetDef *net,
                     bool removeHostEnd)
{
    if (removeHostEnd && !vserverNetIsMacvlan(net) && net->ifname &&
        !strchr(net->ifname, '%') && virNetDevExists(net->ifname) == 1 &&
        virNetDevVethDelete(net->ifname) < 0)
        VIR_WARN("cannot remove host device '%s': %s", net->ifname,
                 virGetLastErrorMessage());

    if (net->type == VIR_DOMAIN_NET_TYPE_NETWORK &&
        virUUIDIsValid(net->data.network.portid)) {
        g_autoptr(virConnect) conn = vserverNetConnect();

        if (conn)
            virDomainNetReleaseActualDevice(conn, def, net);
        else
            VIR_WARN("cannot give the port of network '%s' back: %s",
                     net->data.network.name, virGetLastErrorMessage());
        memset(net->data.network.portid, 0, VIR_UUID_BUFLEN);
    }
    virResetLastError();
}


void
vserverNetRelease(virDomainDef *def,
                  bool removeHostEnds)
{
    for (size_t i = 0; i < def->nnets; i++)
        vserverNetReleaseOne(def, def->nets[i], removeHostEnds);
}


void
vserverNetReconnect(virDomainDef *def)
{
    g_autoptr(virConnect) conn = NULL;
    size_t i;

    for (i = 0; i < def->nnets; i++) {
        virDomainNetDef *net = def->nets[i];

        if (net->type != VIR_DOMAIN_NET_TYPE_NETWORK)
            continue;
        if (!conn && !(conn = vserverNetConnect()))
            break;
        virDomainNetNotifyActualDevice(conn, def, net);
    }
    virResetLastError();
}


static unsigned int
vserverNetMacvlanMode(virDomainNetDef *net)
{
    switch ((virNetDevMacVLanMode)virDomainNetGetActualDirectMode(net)) {
    case VIR_NETDEV_MACVLAN_MODE_PRIVATE:
        return MACVLAN_MODE_PRIVATE;
    case VIR_NETDEV_MACVLAN_MODE_BRIDGE:
        return MACVLAN_MODE_BRIDGE;
    case VIR_NETDEV_MACVLAN_MODE_PASSTHRU:
        return MACVLAN_MODE_PASSTHRU;
    case VIR_NETDEV_MACVLAN_MODE_VEPA:
    case VIR_NETDEV_MACVLAN_MODE_LAST:
        break;
    }
    return MACVLAN_MODE_VEPA;
}


static void
vserverNetFormatIPs(virBuffer *buf,
                    vserverShimConfKey addrKey,
                    vserverShimConfKey routeKey,
                    virNetDevIPInfo *info)
{
    size_t i;

    for (i = 0; i < info->nips; i++) {
        virNetDevIPAddr *ip = info->ips[i];
        g_autofree char *addr = virSocketAddrFormat(&ip->address);
        g_autofree char *peer = NULL;
        g_autofree char *prefix = NULL;
        int p = virSocketAddrGetIPPrefix(&ip->address, NULL, ip->prefix);

        if (VIR_SOCKET_ADDR_VALID(&ip->peer))
            peer = virSocketAddrFormat(&ip->peer);
        prefix = g_strdup_printf("%d", p > 0 ? p : 0);
        vserverContextEntry(buf, addrKey, addr, prefix, peer ? peer : "", NULL);
    }
    for (i = 0; i < info->nroutes; i++) {
        virNetDevIPRoute *route = info->routes[i];
        g_autofree char *dest = virSocketAddrFormat(virNetDevIPRouteGetAddress(route));
        g_autofree char *gw = NULL;
        g_autofree char *prefix = NULL;
        g_autofree char *metric = NULL;
        virSocketAddr *gateway = virNetDevIPRouteGetGateway(route);
        int p = virNetDevIPRouteGetPrefix(route);

        if (gateway && VIR_SOCKET_ADDR_VALID(gateway))
            gw = virSocketAddrFormat(gateway);
        prefix = g_strdup_printf("%d", p > 0 ? p : 0);
        metric = g_strdup_printf("%u", virNetDevIPRouteGetMetric(route));
        vserverContextEntry(buf, routeKey, dest, prefix, gw ? gw : "",
                            metric, NULL);
    }
}


void
vserverNetFormatShimConfig(virBuffer *buf,
                           virDomainNetDef *net)
{
    char mac[VIR_MAC_STRING_BUFLEN];
    g_autofree char *mtu = g_strdup_printf("%u", net->mtu);
    bool macvlan = vserverNetIsMacvlan(net);

    vserverNetLabel(net, mac);
    vserverContextEntry(buf, VSERVER_SHIM_CONF_NET,
                        macvlan ? "macvlan" : "veth", net->ifname_guest, mac, mtu,
                        net->linkstate == VIR_DOMAIN_NET_INTERFACE_LINK_STATE_DOWN ?
                        "0" : "1", NULL);
    if (macvlan) {
        g_autofree char *mode = g_strdup_printf("%u", vserverNetMacvlanMode(net));

        vserverContextEntry(buf, VSERVER_SHIM_CONF_NET_LINK,
                            virDomainNetGetActualDirectDev(net), mode, NULL);
    } else {
        /* like libvirt's other drivers: the host end's MAC is the guest's
         * with 0xfe first, so that a bridge never takes it as its own */
        virMacAddr hostmac;
        char hostmacstr[VIR_MAC_STRING_BUFLEN];
        const char *bridge = net->type == VIR_DOMAIN_NET_TYPE_ETHERNET ? NULL :
                             virDomainNetGetActualBridgeName(net);

        virMacAddrSet(&hostmac, &net->mac);
        hostmac.addr[0] = 0xfe;
        vserverContextEntry(buf, VSERVER_SHIM_CONF_NET_HOST, net->ifname,
                            virMacAddrFormat(&hostmac, hostmacstr),
                            bridge ? bridge : "", NULL);
        vserverNetFormatIPs(buf, VSERVER_SHIM_CONF_NET_HOST_ADDR,
                            VSERVER_SHIM_CONF_NET_HOST_ROUTE, &net->hostIP);
    }
    vserverNetFormatIPs(buf, VSERVER_SHIM_CONF_NET_ADDR, VSERVER_SHIM_CONF_NET_ROUTE,
                        &net->guestIP);
}


static virDomainNetDef *
vserverNetFind(virDomainDef *def,
               const char *device)
{
    virMacAddr mac;
    bool isMac = virMacAddrParse(device, &mac) == 0;
    size_t i;

    for (i = 0; i < def->nnets; i++) {
        virDomainNetDef *net = def->nets[i];

        if ((isMac && virMacAddrCmp(&net->mac, &mac) == 0) ||
            STREQ_NULLABLE(net->ifname, device) ||
            STREQ_NULLABLE(net->ifname_guest, device))
            return net;
    }
    virReportError(VIR_ERR_INVALID_ARG,
                   _("the context has no interface '%s' (give its host device, guest device or MAC)"),
                   device);
    return NULL;
}


int
vserverNetInterfaceStats(virDomainDef *def,
                         pid_t initPid,
                         const char *device,
                         virDomainInterfaceStatsPtr stats)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/net/dev", (int)initPid);
    g_autofree char *content = NULL;
    g_auto(GStrv) lines = NULL;
    virDomainNetDef *net;
    size_t i;

    if (!(net = vserverNetFind(def, device)))
        return -1;
    if (virFileReadAll(path, 1024 * 1024, &content) < 0)
        return -1;

    /* "  eth0: rxbytes rxpackets rxerrs rxdrop fifo frame compressed
     *  multicast txbytes txpackets txerrs txdrop ..." */
    lines = g_strsplit(content, "\n", 0);
    for (i = 0; lines[i]; i++) {
        char *colon = strchr(lines[i], ':');
        unsigned long long v[12];

        if (!colon)
            continue;
        *colon = '\0';
        if (STRNEQ(g_strstrip(lines[i]), net->ifname_guest))
            continue;
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu "
                   "%llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                   &v[8], &v[9], &v[10], &v[11]) != 12)
            break;
        stats->rx_bytes = v[0];
        stats->rx_packets = v[1];
        stats->rx_errs = v[2];
        stats->rx_drop = v[3];
        stats->tx_bytes = v[8];
        stats->tx_packets = v[9];
        stats->tx_errs = v[10];
        stats->tx_drop = v[11];
        return 0;
    }
    virReportError(VIR_ERR_OPERATION_FAILED,
                   _("interface '%s' is not present inside the context"),
                   net->ifname_guest);
    return -1;
}


static unsigned int
vserverNetPrefixOf(const struct sockaddr *mask)
{
    const unsigned char *b;
    size_t len;
    unsigned int bits = 0;

    if (!mask)
        return 0;
    if (mask->sa_family == AF_INET) {
        b = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
        len = 4;
    } else if (mask->sa_family == AF_INET6) {
        b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
        len = 16;
    } else {
        return 0;
    }
    for (size_t i = 0; i < len; i++)
        bits += __builtin_popcount(b[i]);
    return bits;
}


/* getifaddrs(3) in the network namespace of @pid: this thread enters it
 * for the duration of the call and goes back. */
static int
vserverNetGetIfaddrs(pid_t pid,
                     struct ifaddrs **list)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/ns/net", (int)pid);
    VIR_AUTOCLOSE self = -1;
    VIR_AUTOCLOSE target = -1;
    int rc;
    int saved;

    if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0 ||
        (target = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        virReportSystemError(errno, _("cannot open the network namespace of %d"),
                             (int)pid);
        return -1;
    }
    if (setns(target, CLONE_NEWNET) < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot enter the context's network namespace"));
        return -1;
    }
    rc = getifaddrs(list);
    saved = errno;
    if (setns(self, CLONE_NEWNET) < 0) {
        /* a worker thread left in a context's namespace would act there
         * for every later API call: nothing sane is left to do */
        VIR_ERROR(_("cannot return to the daemon's network namespace: %s"),
                  g_strerror(errno));
        abort();
    }
    if (rc < 0) {
        virReportSystemError(saved, "%s",
                             _("cannot list the context's addresses"));
        return -1;
    }
    return 0;
}


static virDomainInterfacePtr
vserverNetIfaceFor(GPtrArray *out,
                   const char *name)
{
    virDomainInterfacePtr iface;

    for (size_t i = 0; i < out->len; i++) {
        iface = g_ptr_array_index(out, i);
        if (STREQ(iface->name, name))
            return iface;
    }
    iface = g_new0(virDomainInterface, 1);
    iface->name = g_strdup(name);
    g_ptr_array_add(out, iface);
    return iface;
}


int
vserverNetInterfaceAddresses(virDomainDef *def G_GNUC_UNUSED,
                             pid_t initPid,
                             virDomainInterfacePtr **ifaces)
{
    struct ifaddrs *list = NULL;
    struct ifaddrs *ifa;
    g_autoptr(GPtrArray) out = g_ptr_array_new();
    int ret;

    if (vserverNetGetIfaddrs(initPid, &list) < 0)
        return -1;

    for (ifa = list; ifa; ifa = ifa->ifa_next) {
        virDomainInterfacePtr iface;
        virDomainIPAddressPtr ip;
        char addr[INET6_ADDRSTRLEN];
        int family;

        if (!ifa->ifa_addr || !ifa->ifa_name)
            continue;
        iface = vserverNetIfaceFor(out, ifa->ifa_name);
        family = ifa->ifa_addr->sa_family;
        if (family == AF_PACKET) {
            struct sockaddr_ll *ll = (struct sockaddr_ll *)ifa->ifa_addr;
            if (ll->sll_halen == VIR_MAC_BUFLEN && !iface->hwaddr) {
                virMacAddr mac;
                char macstr[VIR_MAC_STRING_BUFLEN];
                virMacAddrSetRaw(&mac, ll->sll_addr);
                iface->hwaddr = g_strdup(virMacAddrFormat(&mac, macstr));
            }
            continue;
        }
        if (family != AF_INET && family != AF_INET6)
            continue;
        if (!inet_ntop(family, family == AF_INET ?
                       (void *)&((struct sockaddr_in *)ifa->ifa_addr)->sin_addr :
                       (void *)&((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr,
                       addr, sizeof(addr)))
            continue;
        iface->addrs = g_renew(virDomainIPAddress, iface->addrs,
                               iface->naddrs + 1);
        ip = &iface->addrs[iface->naddrs++];
        ip->type = family == AF_INET ? VIR_IP_ADDR_TYPE_IPV4 : VIR_IP_ADDR_TYPE_IPV6;
        ip->addr = g_strdup(addr);
        ip->prefix = vserverNetPrefixOf(ifa->ifa_netmask);
    }
    freeifaddrs(list);

    ret = out->len;
    g_ptr_array_add(out, NULL);
    *ifaces = (virDomainInterfacePtr *)g_ptr_array_free(g_steal_pointer(&out), FALSE);
    return ret;
}
