/*
 * vserver_shim_net.c: a context's network devices, with raw rtnetlink
 *
 * Every request carries NLM_F_ACK and a sequence number, and is answered
 * by the kernel before the next one is sent, so a failure is reported by
 * the step that caused it.  Work inside the context uses a netlink socket
 * opened while the shim is briefly in the context's network namespace: a
 * socket stays bound to the namespace it was created in, so nothing else
 * in the shim ever runs in there.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vserver_shim.h"

/* The largest request is a veth pair with both ends' attributes. */
#define NL_MSG_SIZE 4096
/* A link reply without statistics is well below this. */
#define NL_RECV_SIZE 32768

typedef struct {
    union {
        struct nlmsghdr hdr;
        char buf[NL_MSG_SIZE];
    } u;
    bool overflow;              /* an attribute did not fit; never sent */
} nlMsg;

typedef struct {
    int fd;
    uint32_t port;
    uint32_t seq;
    char extack[192];           /* " (kernel's message)" of the last error */
} nlSock;

typedef struct {
    int ifindex;
    char kind[32];              /* IFLA_INFO_KIND, "" for none */
} nlLink;

typedef struct {
    int family;
    unsigned char bytes[16];
    size_t len;                 /* 4 or 16 */
} netAddr;


/* ---- building requests ---- */

static void
nlMsgInit(nlMsg *m, uint16_t type, uint16_t flags,
          const void *hdr, size_t hdrlen)
{
    memset(m, 0, sizeof(*m));
    m->u.hdr.nlmsg_len = NLMSG_LENGTH(hdrlen);
    m->u.hdr.nlmsg_type = type;
    m->u.hdr.nlmsg_flags = flags;
    memcpy(NLMSG_DATA(&m->u.hdr), hdr, hdrlen);
}


/* Append raw bytes at the next aligned offset (a nested family header). */
static void *
nlMsgAppend(nlMsg *m, const void *data, size_t len)
{
    size_t off = NLMSG_ALIGN(m->u.hdr.nlmsg_len);
    void *p;

    if (m->overflow || off + NLMSG_ALIGN(len) > sizeof(m->u.buf)) {
        m->overflow = true;
        return NULL;
    }
    p = m->u.buf + off;
    memcpy(p, data, len);
    m->u.hdr.nlmsg_len = off + NLMSG_ALIGN(len);
    return p;
}


static struct rtattr *
nlAttrPut(nlMsg *m, unsigned short type, const void *data, size_t len)
{
    size_t off = NLMSG_ALIGN(m->u.hdr.nlmsg_len);
    struct rtattr *rta;

    if (m->overflow || RTA_LENGTH(len) > 0xffff ||
        off + RTA_SPACE(len) > sizeof(m->u.buf)) {
        m->overflow = true;
        return NULL;
    }
    rta = (struct rtattr *)(m->u.buf + off);
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(rta), data, len);
    m->u.hdr.nlmsg_len = off + RTA_SPACE(len);
    return rta;
}


static void
nlAttrPutU32(nlMsg *m, unsigned short type, uint32_t val)
{
    nlAttrPut(m, type, &val, sizeof(val));
}


static void
nlAttrPutStr(nlMsg *m, unsigned short type, const char *str)
{
    nlAttrPut(m, type, str, strlen(str) + 1);
}


/* Open a nested attribute; everything put until nlNestEnd() is inside. */
static struct rtattr *
nlNestBegin(nlMsg *m, unsigned short type)
{
    return nlAttrPut(m, type, NULL, 0);
}


static void
nlNestEnd(nlMsg *m, struct rtattr *nest)
{
    if (!nest || m->overflow)
        return;
    nest->rta_len = (m->u.buf + m->u.hdr.nlmsg_len) - (char *)nest;
}


/* ---- talking to the kernel ---- */

static int
nlSockOpen(nlSock *s)
{
    struct sockaddr_nl addr = { .nl_family = AF_NETLINK };
    socklen_t addrlen = sizeof(addr);
    int one = 1;

    memset(s, 0, sizeof(*s));
    if ((s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
                        NETLINK_ROUTE)) < 0)
        return -1;
    /* the kernel's reason for a refusal, without an echo of the request */
    setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(s->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    if (bind(s->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&addr, &addrlen) < 0) {
        int save = errno;
        close(s->fd);
        s->fd = -1;
        errno = save;
        return -1;
    }
    s->port = addr.nl_pid;
    return 0;
}


static void
nlSockClose(nlSock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}


static void
nlSaveExtack(nlSock *s, const struct nlmsghdr *h)
{
    const struct nlmsgerr *e = NLMSG_DATA(h);
    size_t off = sizeof(*e);
    const char *end = (const char *)h + h->nlmsg_len;
    const struct rtattr *rta;
    int len;

    if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
        return;
    if (!(h->nlmsg_flags & NLM_F_CAPPED))
        off += e->msg.nlmsg_len - NLMSG_HDRLEN;
    rta = (const struct rtattr *)((const char *)e + NLMSG_ALIGN(off));
    if ((const char *)rta >= end)
        return;
    len = end - (const char *)rta;
    for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == NLMSGERR_ATTR_MSG && RTA_PAYLOAD(rta) > 1) {
            snprintf(s->extack, sizeof(s->extack), " (%.*s)",
                     (int)strnlen(RTA_DATA(rta), RTA_PAYLOAD(rta)),
                     (const char *)RTA_DATA(rta));
            return;
        }
    }
}


typedef int (*nlReplyFunc)(const struct nlmsghdr *h, void *opaque);

/* Send @m and wait for its acknowledgement, handing any other reply to
 * @cb.  Returns 0, or -1 with errno set (the kernel's error for a
 * refused request). */
static int
nlTalk(nlSock *s, nlMsg *m, nlReplyFunc cb, void *opaque)
{
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    char buf[NL_RECV_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
    int cbErr = 0;
    ssize_t n;

    s->extack[0] = '\0';
    if (m->overflow) {
        errno = EMSGSIZE;
        return -1;
    }
    m->u.hdr.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    m->u.hdr.nlmsg_seq = ++s->seq;
    m->u.hdr.nlmsg_pid = 0;

    do {
        n = sendto(s->fd, m->u.buf, m->u.hdr.nlmsg_len, 0,
                   (struct sockaddr *)&kernel, sizeof(kernel));
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t)n != m->u.hdr.nlmsg_len) {
        errno = EIO;
        return -1;
    }

    for (;;) {
        struct sockaddr_nl from;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = {
            .msg_name = &from, .msg_namelen = sizeof(from),
            .msg_iov = &iov, .msg_iovlen = 1,
        };
        const struct nlmsghdr *h;
        int len;

        do {
            n = recvmsg(s->fd, &mh, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return -1;
        if (n == 0 || (mh.msg_flags & MSG_TRUNC)) {
            errno = n == 0 ? ECONNRESET : EMSGSIZE;
            return -1;
        }
        if (from.nl_pid != 0)
            continue;

        len = n;
        for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != s->seq || h->nlmsg_pid != s->port)
                continue;       /* a stale answer to an earlier request */
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);

                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
                    errno = EIO;
                    return -1;
                }
                if (e->error) {
                    nlSaveExtack(s, h);
                    errno = -e->error;
                    return -1;
                }
                if (cbErr) {
                    errno = cbErr;
                    return -1;
                }
                return 0;
            }
            /* keep reading up to the ack even when a reply is bad, so
             * that the next request starts on a clean socket */
            if (cb && !cbErr && cb(h, opaque) < 0)
                cbErr = errno ? errno : EIO;
        }
    }
}


/* A socket in the network namespace @nsfd.  The calling thread returns to
 * its own namespace before this returns, whatever happened. */
static int
nlSockOpenIn(nlSock *s, int nsfd, vserverShimChildError *err)
{
    int self;
    int rc;
    int save;

    s->fd = -1;
    if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        return vserverShimError(err, errno, "cannot open the shim's network "
                                "namespace");
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        vserverShimError(err, errno, "cannot enter the context's network "
                         "namespace");
        close(self);
        return -1;
    }
    rc = nlSockOpen(s);
    save = errno;
    if (setns(self, CLONE_NEWNET) < 0) {
        vserverShimError(err, errno, "cannot return to the shim's network "
                         "namespace");
        nlSockClose(s);
        close(self);
        return -1;
    }
    close(self);
    if (rc < 0)
        return vserverShimError(err, save, "cannot open a netlink socket in "
                                "the context's network namespace");
    return 0;
}


/* ---- links ---- */

static int
nlLinkParse(const struct nlmsghdr *h, void *opaque)
{
    nlLink *link = opaque;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    const struct rtattr *rta;
    int len;

    if (h->nlmsg_type != RTM_NEWLINK ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
        return 0;
    link->ifindex = ifi->ifi_index;
    len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
    for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        const struct rtattr *sub;
        int sublen;

        if (rta->rta_type != IFLA_LINKINFO)
            continue;
        sublen = RTA_PAYLOAD(rta);
        for (sub = RTA_DATA(rta); RTA_OK(sub, sublen);
             sub = RTA_NEXT(sub, sublen)) {
            if (sub->rta_type == IFLA_INFO_KIND)
                snprintf(link->kind, sizeof(link->kind), "%.*s",
                         (int)strnlen(RTA_DATA(sub), RTA_PAYLOAD(sub)),
                         (const char *)RTA_DATA(sub));
        }
    }
    return 0;
}


/* Look @name up in the socket's namespace; -1 with errno ENODEV if absent. */
static int
nlLinkGet(nlSock *s, const char *name, nlLink *link)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    nlMsg m;

    memset(link, 0, sizeof(*link));
    nlMsgInit(&m, RTM_GETLINK, 0, &ifi, sizeof(ifi));
    nlAttrPutStr(&m, IFLA_IFNAME, name);
    nlAttrPutU32(&m, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    if (nlTalk(s, &m, nlLinkParse, link) < 0)
        return -1;
    if (link->ifindex <= 0) {
        errno = ENODEV;
        return -1;
    }
    return 0;
}


static int
nlLinkSetUp(nlSock *s, int ifindex, bool up)
{
    struct ifinfomsg ifi = {
        .ifi_family = AF_UNSPEC,
        .ifi_index = ifindex,
        .ifi_flags = up ? IFF_UP : 0,
        .ifi_change = IFF_UP,
    };
    nlMsg m;

    nlMsgInit(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    return nlTalk(s, &m, NULL, NULL);
}


static int
nlLinkSetMaster(nlSock *s, int ifindex, int master)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
    nlMsg m;

    nlMsgInit(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    nlAttrPutU32(&m, IFLA_MASTER, master);
    return nlTalk(s, &m, NULL, NULL);
}


static int
nlLinkDelete(nlSock *s, int ifindex, const char *name)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
    nlMsg m;

    nlMsgInit(&m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
    if (ifindex <= 0)
        nlAttrPutStr(&m, IFLA_IFNAME, name);
    return nlTalk(s, &m, NULL, NULL);
}


/* ---- values ---- */

static int
checkName(const char *name, const char *what, vserverShimChildError *err)
{
    if (!name || !*name) {
        vserverShimError(err, 0, "%s device has no name", what);
        err->err = EINVAL;
        return -1;
    }
    if (strlen(name) >= IFNAMSIZ) {
        vserverShimError(err, 0, "%s device name '%s' is too long "
                         "(at most %d characters)", what, name, IFNAMSIZ - 1);
        err->err = ENAMETOOLONG;
        return -1;
    }
    return 0;
}


/* The kind comes from the config file: refuse a value the switches over
 * vserverShimNetKind do not know. */
static int
checkKind(const vserverShimNet *net, vserverShimChildError *err)
{
    if (net->kind == VSERVER_SHIM_NET_VETH ||
        net->kind == VSERVER_SHIM_NET_MACVLAN)
        return 0;
    vserverShimError(err, 0, "unknown kind %d of network device '%s'",
                     (int)net->kind, net->guestName ? net->guestName : "");
    err->err = EINVAL;
    return -1;
}


static int
hexDigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}


/* "52:54:00:12:34:56" -> 6 bytes */
static int
parseMac(const char *str, unsigned char mac[6])
{
    for (size_t i = 0; i < 6; i++) {
        const char *p = str + i * 3;
        int hi = hexDigit(p[0]);
        int lo = hi < 0 ? -1 : hexDigit(p[1]);

        if (lo < 0 || p[2] != (i == 5 ? '\0' : ':'))
            return -1;
        mac[i] = hi << 4 | lo;
    }
    return 0;
}


static int
putMac(nlMsg *m, const char *mac, const char *dev,
       vserverShimChildError *err)
{
    unsigned char bytes[6];

    if (!mac)
        return 0;
    if (parseMac(mac, bytes) < 0) {
        vserverShimError(err, 0, "invalid MAC address '%s' for '%s'",
                         mac, dev);
        err->err = EINVAL;
        return -1;
    }
    nlAttrPut(m, IFLA_ADDRESS, bytes, sizeof(bytes));
    return 0;
}


static int
parseAddr(const char *str, netAddr *addr)
{
    memset(addr, 0, sizeof(*addr));
    if (!str)
        return -1;
    if (inet_pton(AF_INET, str, addr->bytes) == 1) {
        addr->family = AF_INET;
        addr->len = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, str, addr->bytes) == 1) {
        addr->family = AF_INET6;
        addr->len = 16;
        return 0;
    }
    return -1;
}


static bool
addrIsZero(const netAddr *addr)
{
    for (size_t i = 0; i < addr->len; i++) {
        if (addr->bytes[i])
            return false;
    }
    return true;
}


/* ---- addresses and routes ---- */

static int
netAddrAdd(nlSock *s, int ifindex, const char *dev,
           const vserverShimNetAddr *a, vserverShimChildError *err)
{
    struct ifaddrmsg ifa = { .ifa_index = ifindex };
    netAddr local;
    netAddr peer;
    unsigned int maxPrefix;
    nlMsg m;

    if (parseAddr(a->address, &local) < 0 ||
        (a->peer && (parseAddr(a->peer, &peer) < 0 ||
                     peer.family != local.family))) {
        vserverShimError(err, 0, "invalid address '%s'%s%s for '%s'",
                         a->address ? a->address : "",
                         a->peer ? " peer " : "", a->peer ? a->peer : "",
                         dev);
        err->err = EINVAL;
        return -1;
    }
    maxPrefix = local.len * 8;
    if (a->prefix > maxPrefix) {
        vserverShimError(err, 0, "invalid prefix %u of address '%s' for '%s'",
                         a->prefix, a->address, dev);
        err->err = EINVAL;
        return -1;
    }

    ifa.ifa_family = local.family;
    ifa.ifa_prefixlen = a->prefix ? a->prefix : maxPrefix;
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    /* usable at once: the context's init may send right away */
    if (local.family == AF_INET6)
        ifa.ifa_flags = IFA_F_NODAD;

    nlMsgInit(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
    nlAttrPut(&m, IFA_LOCAL, local.bytes, local.len);
    if (a->peer) {
        nlAttrPut(&m, IFA_ADDRESS, peer.bytes, peer.len);
    } else {
        nlAttrPut(&m, IFA_ADDRESS, local.bytes, local.len);
        if (local.family == AF_INET && ifa.ifa_prefixlen < 31) {
            unsigned char brd[4];

            for (size_t i = 0; i < 4; i++) {
                unsigned int bits = ifa.ifa_prefixlen > i * 8 ?
                                    ifa.ifa_prefixlen - i * 8 : 0;
                unsigned char mask = bits >= 8 ? 0xff : 0xff << (8 - bits);
                brd[i] = local.bytes[i] | (unsigned char)~mask;
            }
            nlAttrPut(&m, IFA_BROADCAST, brd, sizeof(brd));
        }
    }
    if (local.family == AF_INET6)
        nlAttrPutU32(&m, IFA_FLAGS, IFA_F_NODAD);

    if (nlTalk(s, &m, NULL, NULL) < 0) {
        if (errno == EEXIST)
            return 1;
        return vserverShimError(err, errno, "cannot add address '%s/%u' to "
                                "'%s'%s", a->address, ifa.ifa_prefixlen, dev,
                                s->extack);
    }
    return 0;
}


static int
netRouteAdd(nlSock *s, int ifindex, const char *dev,
            const vserverShimNetRoute *r, vserverShimChildError *err)
{
    struct rtmsg rtm = {
        .rtm_table = RT_TABLE_MAIN,
        .rtm_protocol = RTPROT_BOOT,
        .rtm_type = RTN_UNICAST,
    };
    netAddr dest;
    netAddr gw;
    nlMsg m;

    if (parseAddr(r->dest, &dest) < 0 ||
        r->prefix > dest.len * 8 ||
        (r->prefix == 0 && !addrIsZero(&dest)) ||
        (r->gateway && (parseAddr(r->gateway, &gw) < 0 ||
                        gw.family != dest.family))) {
        vserverShimError(err, 0, "invalid route '%s/%u'%s%s for '%s'",
                         r->dest ? r->dest : "", r->prefix,
                         r->gateway ? " via " : "",
                         r->gateway ? r->gateway : "", dev);
        err->err = EINVAL;
        return -1;
    }

    rtm.rtm_family = dest.family;
    rtm.rtm_dst_len = r->prefix;
    /* as iproute2 does: IPv6 routes have no scope of their own */
    rtm.rtm_scope = r->gateway || dest.family == AF_INET6 ?
                    RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;

    nlMsgInit(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof(rtm));
    if (r->prefix)
        nlAttrPut(&m, RTA_DST, dest.bytes, dest.len);
    if (r->gateway)
        nlAttrPut(&m, RTA_GATEWAY, gw.bytes, gw.len);
    nlAttrPutU32(&m, RTA_OIF, ifindex);
    if (r->metric)
        nlAttrPutU32(&m, RTA_PRIORITY, r->metric);

    if (nlTalk(s, &m, NULL, NULL) < 0) {
        if (errno == EEXIST)
            return 1;
        return vserverShimError(err, errno, "cannot add route '%s/%u'%s%s "
                                "to '%s'%s", r->dest, r->prefix,
                                r->gateway ? " via " : "",
                                r->gateway ? r->gateway : "", dev, s->extack);
    }
    return 0;
}


/* Addresses and routes of a device.  @existOk: an equal one already there
 * is fine (restoring after a link state change). */
static int
netConfigure(nlSock *s, int ifindex, const char *dev,
             const vserverShimNetAddr *addrs, size_t naddrs,
             const vserverShimNetRoute *routes, size_t nroutes,
             bool existOk, vserverShimChildError *err)
{
    for (size_t i = 0; i < naddrs; i++) {
        int rc = netAddrAdd(s, ifindex, dev, &addrs[i], err);
        if (rc < 0)
            return -1;
        if (rc > 0 && !existOk)
            return vserverShimError(err, EEXIST, "cannot add address '%s' "
                                    "to '%s'", addrs[i].address, dev);
    }
    for (size_t i = 0; i < nroutes; i++) {
        int rc = netRouteAdd(s, ifindex, dev, &routes[i], err);
        if (rc < 0)
            return -1;
        if (rc > 0 && !existOk)
            return vserverShimError(err, EEXIST, "cannot add route '%s/%u' "
                                    "to '%s'", routes[i].dest,
                                    routes[i].prefix, dev);
    }
    return 0;
}


/* ---- the context's namespace ---- */

/* An fd of the network namespace of @pid, which must not be the shim's:
 * a context without a network namespace of its own has no devices here. */
static int
netnsOpen(pid_t pid, vserverShimChildError *err)
{
    char path[64];
    struct stat ctx;
    struct stat self;
    int fd;

    if (pid <= 0) {
        vserverShimError(err, 0, "no context process to configure the "
                         "network of");
        err->err = ESRCH;
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return vserverShimError(err, errno, "cannot open the network "
                                "namespace of process %d", (int)pid);
    if (fstat(fd, &ctx) < 0 ||
        stat("/proc/thread-self/ns/net", &self) < 0) {
        vserverShimError(err, errno, "cannot inspect the network namespace "
                         "of process %d", (int)pid);
        close(fd);
        return -1;
    }
    if (ctx.st_dev == self.st_dev && ctx.st_ino == self.st_ino) {
        vserverShimError(err, 0, "process %d has no network namespace of "
                         "its own", (int)pid);
        err->err = EINVAL;
        close(fd);
        return -1;
    }
    return fd;
}


/* ---- creating the devices ---- */

/* The pair, its peer @peerName put into @nsfd (-1: left on the host). */
static int
netVethCreate(nlSock *host, const vserverShimNet *net, const char *peerName,
              int nsfd, vserverShimChildError *err)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    struct rtattr *linkinfo;
    struct rtattr *data;
    struct rtattr *peer;
    nlMsg m;

    nlMsgInit(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    nlAttrPutStr(&m, IFLA_IFNAME, net->hostName);
    if (putMac(&m, net->hostMac, net->hostName, err) < 0)
        return -1;
    if (net->mtu)
        nlAttrPutU32(&m, IFLA_MTU, net->mtu);

    linkinfo = nlNestBegin(&m, IFLA_LINKINFO);
    nlAttrPutStr(&m, IFLA_INFO_KIND, "veth");
    data = nlNestBegin(&m, IFLA_INFO_DATA);
    /* the peer: an ifinfomsg followed by its own link attributes */
    peer = nlNestBegin(&m, VETH_INFO_PEER);
    nlMsgAppend(&m, &ifi, sizeof(ifi));
    nlAttrPutStr(&m, IFLA_IFNAME, peerName);
    if (putMac(&m, net->mac, peerName, err) < 0)
        return -1;
    if (net->mtu)
        nlAttrPutU32(&m, IFLA_MTU, net->mtu);
    if (nsfd >= 0)
        nlAttrPutU32(&m, IFLA_NET_NS_FD, nsfd);
    nlNestEnd(&m, peer);
    nlNestEnd(&m, data);
    nlNestEnd(&m, linkinfo);

    if (nlTalk(host, &m, NULL, NULL) < 0)
        return vserverShimError(err, errno, "cannot create veth pair '%s' "
                                "with peer '%s'%s%s", net->hostName, peerName,
                                nsfd >= 0 ? " in the context" : "",
                                host->extack);
    return 0;
}


static int
netMacvlanCreate(nlSock *host, const vserverShimNet *net, int parent,
                 int nsfd, vserverShimChildError *err)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    struct rtattr *linkinfo;
    struct rtattr *data;
    nlMsg m;

    nlMsgInit(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    nlAttrPutStr(&m, IFLA_IFNAME, net->guestName);
    nlAttrPutU32(&m, IFLA_LINK, parent);
    if (putMac(&m, net->mac, net->guestName, err) < 0)
        return -1;
    if (net->mtu)
        nlAttrPutU32(&m, IFLA_MTU, net->mtu);
    /* created right in the context: its name never exists on the host */
    nlAttrPutU32(&m, IFLA_NET_NS_FD, nsfd);
    linkinfo = nlNestBegin(&m, IFLA_LINKINFO);
    nlAttrPutStr(&m, IFLA_INFO_KIND, "macvlan");
    if (net->macvlanMode) {
        data = nlNestBegin(&m, IFLA_INFO_DATA);
        nlAttrPutU32(&m, IFLA_MACVLAN_MODE, net->macvlanMode);
        nlNestEnd(&m, data);
    }
    nlNestEnd(&m, linkinfo);

    if (nlTalk(host, &m, NULL, NULL) < 0)
        return vserverShimError(err, errno, "cannot create macvlan '%s' on "
                                "'%s' in the context%s", net->guestName,
                                net->link, host->extack);
    return 0;
}


/* The host side of a veth: the pair is created, make the host end ready. */
static int
netVethHostSetup(nlSock *host, const vserverShimNet *net, int ifindex,
                 int bridge, vserverShimChildError *err)
{
    if (bridge > 0 && nlLinkSetMaster(host, ifindex, bridge) < 0)
        return vserverShimError(err, errno, "cannot attach '%s' to bridge "
                                "'%s'%s", net->hostName, net->bridge,
                                host->extack);
    if (netConfigure(host, ifindex, net->hostName, net->hostAddrs,
                     net->nhostAddrs, NULL, 0, false, err) < 0)
        return -1;
    if (nlLinkSetUp(host, ifindex, true) < 0)
        return vserverShimError(err, errno, "cannot bring up '%s'%s",
                                net->hostName, host->extack);
    /* routes need the device up */
    return netConfigure(host, ifindex, net->hostName, NULL, 0,
                        net->hostRoutes, net->nhostRoutes, false, err);
}


static int
netGuestSetup(nlSock *guest, const vserverShimNet *net,
              vserverShimChildError *err)
{
    nlLink link;

    if (nlLinkGet(guest, net->guestName, &link) < 0)
        return vserverShimError(err, errno, "cannot find '%s' in the "
                                "context%s", net->guestName, guest->extack);
    if (netConfigure(guest, link.ifindex, net->guestName, net->addrs,
                     net->naddrs, NULL, 0, false, err) < 0)
        return -1;
    if (nlLinkSetUp(guest, link.ifindex, net->up) < 0)
        return vserverShimError(err, errno, "cannot bring %s '%s' in the "
                                "context%s", net->up ? "up" : "down",
                                net->guestName, guest->extack);
    /* the kernel refuses routes through a device that is down, and flushes
     * them when it goes down: vserverShimNetSetLink() adds them on up */
    if (!net->up)
        return 0;
    return netConfigure(guest, link.ifindex, net->guestName, NULL, 0,
                        net->routes, net->nroutes, false, err);
}


/* Look up a host device @name that must exist; @what says what it is for
 * in the error. */
static int
netLinkFind(nlSock *host, const char *name, const char *what, nlLink *link,
            vserverShimChildError *err)
{
    if (nlLinkGet(host, name, link) == 0)
        return 0;
    if (errno == ENODEV) {
        vserverShimError(err, 0, "%s '%s' does not exist", what, name);
        err->err = ENODEV;
    } else {
        vserverShimError(err, errno, "cannot look up %s '%s'%s",
                         what, name, host->extack);
    }
    return -1;
}


int
vserverShimNetAdd(const vserverShimNet *net, pid_t pid,
                  vserverShimChildError *err)
{
    nlSock host = { .fd = -1 };
    nlSock guest = { .fd = -1 };
    nlLink hostLink = { 0 };
    nlLink parent = { 0 };
    nlLink bridge = { 0 };
    bool created = false;
    int nsfd = -1;
    int ret = -1;

    if (checkName(net->guestName, "guest", err) < 0 ||
        checkKind(net, err) < 0)
        return -1;
    switch (net->kind) {
    case VSERVER_SHIM_NET_VETH:
        if (checkName(net->hostName, "host", err) < 0 ||
            (net->bridge && checkName(net->bridge, "bridge", err) < 0))
            return -1;
        break;
    case VSERVER_SHIM_NET_MACVLAN:
        if (checkName(net->link, "macvlan parent", err) < 0)
            return -1;
        break;
    }

    if ((nsfd = netnsOpen(pid, err)) < 0)
        return -1;
    if (nlSockOpen(&host) < 0) {
        vserverShimError(err, errno, "cannot open a netlink socket");
        goto cleanup;
    }
    if (nlSockOpenIn(&guest, nsfd, err) < 0)
        goto cleanup;

    switch (net->kind) {
    case VSERVER_SHIM_NET_VETH:
        if (nlLinkGet(&host, net->hostName, &hostLink) == 0) {
            vserverShimError(err, 0, "host device '%s' already exists",
                             net->hostName);
            err->err = EEXIST;
            goto cleanup;
        } else if (errno != ENODEV) {
            vserverShimError(err, errno, "cannot look up host device '%s'%s",
                             net->hostName, host.extack);
            goto cleanup;
        }
        if (net->bridge) {
            if (netLinkFind(&host, net->bridge, "bridge", &bridge, err) < 0)
                goto cleanup;
            if (strcmp(bridge.kind, "bridge") != 0) {
                vserverShimError(err, 0, "host device '%s' is not a bridge",
                                 net->bridge);
                err->err = EINVAL;
                goto cleanup;
            }
        }
        if (netVethCreate(&host, net, net->guestName, nsfd, err) < 0)
            goto cleanup;
        created = true;
        if (nlLinkGet(&host, net->hostName, &hostLink) < 0) {
            vserverShimError(err, errno, "cannot find the new host device "
                             "'%s'%s", net->hostName, host.extack);
            goto cleanup;
        }
        if (netVethHostSetup(&host, net, hostLink.ifindex,
                             bridge.ifindex, err) < 0)
            goto cleanup;
        break;

    case VSERVER_SHIM_NET_MACVLAN:
        if (netLinkFind(&host, net->link, "host device", &parent, err) < 0)
            goto cleanup;
        if (netMacvlanCreate(&host, net, parent.ifindex, nsfd, err) < 0)
            goto cleanup;
        created = true;
        break;
    }

    if (netGuestSetup(&guest, net, err) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    if (ret < 0 && created) {
        /* err already says what failed; this is best effort */
        if (net->kind == VSERVER_SHIM_NET_VETH)
            nlLinkDelete(&host, hostLink.ifindex, net->hostName);
        else
            nlLinkDelete(&guest, 0, net->guestName);
    }
    nlSockClose(&guest);
    nlSockClose(&host);
    if (nsfd >= 0)
        close(nsfd);
    return ret;
}


int
vserverShimNetPrecreate(const vserverShimNet *net, const char *tmpName,
                        vserverShimChildError *err)
{
    nlSock host = { .fd = -1 };
    int ret;

    if (net->kind != VSERVER_SHIM_NET_VETH)
        return 0;
    if (checkName(net->hostName, "host", err) < 0 ||
        checkName(tmpName, "temporary guest", err) < 0)
        return -1;
    if (nlSockOpen(&host) < 0)
        return vserverShimError(err, errno, "cannot open a netlink socket");
    /* NLM_F_EXCL: a host end that exists already is not ours to take */
    ret = netVethCreate(&host, net, tmpName, -1, err);
    nlSockClose(&host);
    return ret;
}


int
vserverShimNetRestored(const vserverShimNet *net, vserverShimChildError *err)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    nlSock host = { .fd = -1 };
    nlLink hostLink = { 0 };
    nlLink bridge = { 0 };
    nlMsg m;
    int ret = -1;

    /* a macvlan lives inside only: CRIU made it whole */
    if (net->kind != VSERVER_SHIM_NET_VETH)
        return 0;
    if (checkName(net->hostName, "host", err) < 0)
        return -1;
    if (nlSockOpen(&host) < 0)
        return vserverShimError(err, errno, "cannot open a netlink socket");
    if (nlLinkGet(&host, net->hostName, &hostLink) < 0) {
        vserverShimError(err, errno, "the restored host device '%s' is "
                         "missing%s", net->hostName, host.extack);
        goto cleanup;
    }
    if (net->bridge && nlLinkGet(&host, net->bridge, &bridge) < 0) {
        vserverShimError(err, errno, "cannot look up bridge '%s'%s",
                         net->bridge, host.extack);
        goto cleanup;
    }
    /* CRIU gives the host end a random MAC: put ours back, as at start */
    ifi.ifi_index = hostLink.ifindex;
    nlMsgInit(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    if (putMac(&m, net->hostMac, net->hostName, err) < 0)
        goto cleanup;
    if (net->hostMac && nlTalk(&host, &m, NULL, NULL) < 0) {
        vserverShimError(err, errno, "cannot set the MAC address of '%s'%s",
                         net->hostName, host.extack);
        goto cleanup;
    }
    if (netVethHostSetup(&host, net, hostLink.ifindex, bridge.ifindex,
                         err) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    nlSockClose(&host);
    return ret;
}


/* ---- the rest ---- */

/* A netlink socket in the network namespace of @pid. */
static int
nlSockOpenInPid(nlSock *s, pid_t pid, vserverShimChildError *err)
{
    int nsfd;
    int rc;

    if ((nsfd = netnsOpen(pid, err)) < 0)
        return -1;
    rc = nlSockOpenIn(s, nsfd, err);
    close(nsfd);
    return rc;
}


int
vserverShimNetLoopback(pid_t pid, vserverShimChildError *err)
{
    nlSock guest = { .fd = -1 };
    nlLink lo;
    int ret = -1;

    if (nlSockOpenInPid(&guest, pid, err) < 0)
        goto cleanup;
    if (nlLinkGet(&guest, "lo", &lo) < 0 ||
        nlLinkSetUp(&guest, lo.ifindex, true) < 0) {
        vserverShimError(err, errno, "cannot bring up 'lo' in the "
                         "context%s", guest.extack);
        goto cleanup;
    }
    ret = 0;

 cleanup:
    nlSockClose(&guest);
    return ret;
}


/* Delete @name of kind @kind; absent is fine, another kind is refused so
 * that a stale name never takes a device it does not own with it. */
static int
netDelete(nlSock *s, const char *name, const char *kind, const char *where,
          vserverShimChildError *err)
{
    nlLink link;

    if (nlLinkGet(s, name, &link) < 0) {
        if (errno == ENODEV)
            return 0;
        return vserverShimError(err, errno, "cannot look up '%s' %s%s",
                                name, where, s->extack);
    }
    if (strcmp(link.kind, kind) != 0) {
        vserverShimError(err, 0, "cannot remove '%s' %s: it is not a %s "
                         "device", name, where, kind);
        err->err = EINVAL;
        return -1;
    }
    if (nlLinkDelete(s, link.ifindex, name) < 0 && errno != ENODEV)
        return vserverShimError(err, errno, "cannot remove '%s' %s%s",
                                name, where, s->extack);
    return 0;
}


int
vserverShimNetRemove(const vserverShimNet *net, pid_t pid,
                     vserverShimChildError *err)
{
    nlSock s = { .fd = -1 };
    int nsfd = -1;
    int ret = -1;

    if (checkKind(net, err) < 0)
        return -1;
    switch (net->kind) {
    case VSERVER_SHIM_NET_VETH:
        if (checkName(net->hostName, "host", err) < 0)
            return -1;
        if (nlSockOpen(&s) < 0)
            return vserverShimError(err, errno, "cannot open a netlink "
                                    "socket");
        ret = netDelete(&s, net->hostName, "veth", "from the host", err);
        break;

    case VSERVER_SHIM_NET_MACVLAN:
        if (checkName(net->guestName, "guest", err) < 0)
            return -1;
        /* no context process: its namespace, and the macvlan, are gone */
        if (pid <= 0)
            return 0;
        if ((nsfd = netnsOpen(pid, err)) < 0) {
            if (err->err == ENOENT || err->err == ESRCH) {
                memset(err, 0, sizeof(*err));
                return 0;
            }
            return -1;
        }
        if (nlSockOpenIn(&s, nsfd, err) == 0)
            ret = netDelete(&s, net->guestName, "macvlan", "from the context",
                            err);
        close(nsfd);
        break;
    }
    nlSockClose(&s);
    return ret;
}


/* Going down makes the kernel drop the device's routes (and IPv6
 * addresses), so going up puts the configured ones back. */
int
vserverShimNetSetLink(const vserverShimNet *net, pid_t pid, bool up,
                      vserverShimChildError *err)
{
    nlSock guest = { .fd = -1 };
    nlLink link;
    int ret = -1;

    if (checkName(net->guestName, "guest", err) < 0)
        return -1;
    if (nlSockOpenInPid(&guest, pid, err) < 0)
        goto cleanup;
    if (nlLinkGet(&guest, net->guestName, &link) < 0) {
        vserverShimError(err, errno, "cannot find '%s' in the context%s",
                         net->guestName, guest.extack);
        goto cleanup;
    }
    if (up && netConfigure(&guest, link.ifindex, net->guestName, net->addrs,
                           net->naddrs, NULL, 0, true, err) < 0)
        goto cleanup;
    if (nlLinkSetUp(&guest, link.ifindex, up) < 0) {
        vserverShimError(err, errno, "cannot bring %s '%s' in the context%s",
                         up ? "up" : "down", net->guestName, guest.extack);
        goto cleanup;
    }
    if (up && netConfigure(&guest, link.ifindex, net->guestName, NULL, 0,
                           net->routes, net->nroutes, true, err) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    nlSockClose(&guest);
    return ret;
}


static void
netAddrsFree(vserverShimNetAddr *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(addrs[i].address);
        free(addrs[i].peer);
    }
    free(addrs);
}


static void
netRoutesFree(vserverShimNetRoute *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(routes[i].dest);
        free(routes[i].gateway);
    }
    free(routes);
}


void
vserverShimNetClear(vserverShimNet *net)
{
    free(net->guestName);
    free(net->mac);
    free(net->hostName);
    free(net->hostMac);
    free(net->bridge);
    netAddrsFree(net->hostAddrs, net->nhostAddrs);
    netRoutesFree(net->hostRoutes, net->nhostRoutes);
    free(net->link);
    netAddrsFree(net->addrs, net->naddrs);
    netRoutesFree(net->routes, net->nroutes);
    memset(net, 0, sizeof(*net));
}
