/*
 * shimnettest.c: the shim's network devices, made for real
 *
 * The whole test runs in a network namespace of its own (the "host"), so
 * every bridge, veth and route it makes is private and vanishes with it.
 * A "context" is a child in a further network namespace of its own,
 * waiting to be killed.  What the shim did is read back with iproute2's
 * JSON output, in the namespace where it should be; the shim's code
 * itself talks rtnetlink only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vserver_shim.h"
#include "tap.h"

#define S(str) ((char *)(str))
#define PY "/usr/bin/python3"

static char brName[IFNAMSIZ];       /* the bridge contexts A and B share */
static char parentName[IFNAMSIZ];   /* macvlan parent; also "not a bridge" */






static int __attribute__((format(printf, 1, 2)))
run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fflush(stdout);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}


/* "nsenter ..." prefix for the namespace of @pid, "" for the test's own */
static const char *
inNs(pid_t pid)
{
    static char buf[2][64];
    static int which;

    which = !which;
    if (pid <= 0)
        buf[which][0] = '\0';
    else
        snprintf(buf[which], sizeof(buf[which]),
                 "nsenter --net=/proc/%d/ns/net ", (int)pid);
    return buf[which];
}


/* printf into one of a few rotating buffers, for arguments of ipCheck() */
static const char * __attribute__((format(printf, 1, 2)))
F(const char *fmt, ...)
{
    static char buf[4][1024];
    static int which;
    va_list ap;

    which = (which + 1) % 4;
    va_start(ap, fmt);
    vsnprintf(buf[which], sizeof(buf[which]), fmt, ap);
    va_end(ap);
    return buf[which];
}


/* Evaluate the Python expression @expr over d, the JSON of `ip -j @args`
 * in the namespace of @pid.  On a mismatch, show what ip saw.  The
 * expression travels in the environment, away from shell quoting. */
static bool
ipCheck(pid_t pid, const char *args, const char *expr)
{
    int rc;

    setenv("VSNT_EXPR", expr, 1);
    rc = run("%sip -j %s | " PY " -c 'import json,os,sys; "
             "d=json.load(sys.stdin); "
             "sys.exit(0 if eval(os.environ[\"VSNT_EXPR\"]) else 1)'",
             inNs(pid), args);
    unsetenv("VSNT_EXPR");
    if (rc == 0)
        return true;
    tapDiag("expected: %s", expr);
    run("%sip %s 2>&1 | sed 's/^/#   /'", inNs(pid), args);
    return false;
}


/* The sorted device names of the namespace of @pid, in @buf. */
static void
linkNames(pid_t pid, char *buf, size_t len)
{
    char cmd[512];
    FILE *fp;
    size_t n;

    snprintf(cmd, sizeof(cmd), "%sip -j link show | " PY " -c 'import json,"
             "sys; print(*sorted(l[\"ifname\"] for l in json.load(sys.stdin)))'",
             inNs(pid));
    buf[0] = '\0';
    fflush(stdout);
    if (!(fp = popen(cmd, "r")))
        return;
    n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    pclose(fp);
}


static bool
linkExists(pid_t pid, const char *name)
{
    return run("%sip link show dev %s >/dev/null 2>&1", inNs(pid), name) == 0;
}


/* A context: a child in a network namespace of its own (@flags adds
 * more namespaces, e.g. a user namespace that then owns the netns). */
static pid_t
contextStart(int flags)
{
    int ready[2];
    pid_t pid;
    char c = 0;

    if (pipe(ready) < 0)
        return -1;
    fflush(stdout);
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        close(ready[0]);
        c = unshare(CLONE_NEWNET | flags) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        close(ready[1]);
        for (;;)
            pause();
    }
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1 || c != 'y') {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = -1;
    }
    close(ready[0]);
    return pid;
}


static void
contextStop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}


static int
countFds(void)
{
    char path[64];
    int n = 0;

    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n += access(path, F_OK) == 0;
    }
    return n;
}


static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* An Add that must fail: with errno @errnum and @text in the message, and
 * without a device left behind on the host or in the context. */
static void
expectAddFails(const char *what, const vserverShimNet *net, pid_t ctx,
               int errnum, const char *text)
{
    vserverShimChildError err = { 0 };
    char hostBefore[2048];
    char hostAfter[2048];
    char ctxBefore[2048];
    char ctxAfter[2048];
    int rc;

    linkNames(0, hostBefore, sizeof(hostBefore));
    linkNames(ctx, ctxBefore, sizeof(ctxBefore));
    rc = vserverShimNetAdd(net, ctx, &err);
    tapDiag("%s", err.msg);
    tapResult(rc == -1 && err.err == errnum && strstr(err.msg, text),
              "error: %s is refused with \"%s\"", what, text);
    if (rc != -1 || err.err != errnum || !strstr(err.msg, text))
        tapDiag("rc %d, errno %d (want %d), message: %s", rc, err.err,
                errnum, err.msg);
    linkNames(0, hostAfter, sizeof(hostAfter));
    linkNames(ctx, ctxAfter, sizeof(ctxAfter));
    tapResult(strcmp(hostBefore, hostAfter) == 0 &&
              strcmp(ctxBefore, ctxAfter) == 0,
              "error: %s leaves no device behind", what);
    if (strcmp(hostBefore, hostAfter) != 0 || strcmp(ctxBefore, ctxAfter) != 0)
        tapDiag("host: [%s] -> [%s]; context: [%s] -> [%s]", hostBefore,
                hostAfter, ctxBefore, ctxAfter);
    if (rc == 0) {
        vserverShimNetRemove(net, ctx, &err);
    }
}


static bool
addOk(const vserverShimNet *net, pid_t pid)
{
    vserverShimChildError err = { 0 };

    if (vserverShimNetAdd(net, pid, &err) == 0)
        return true;
    tapDiag("add '%s': %s", net->guestName, err.msg);
    return false;
}


static bool
removeOk(const vserverShimNet *net, pid_t pid)
{
    vserverShimChildError err = { 0 };

    if (vserverShimNetRemove(net, pid, &err) == 0)
        return true;
    tapDiag("remove '%s': %s", net->guestName, err.msg);
    return false;
}


static bool
setLinkOk(const vserverShimNet *net, pid_t pid, bool up)
{
    vserverShimChildError err = { 0 };

    if (vserverShimNetSetLink(net, pid, up, &err) == 0)
        return true;
    tapDiag("set link '%s': %s", net->guestName, err.msg);
    return false;
}


static bool
pingOk(pid_t from, const char *opt, const char *to)
{
    for (int i = 0; i < 3; i++) {
        if (run("%sping %s -c1 -W1 %s >/dev/null 2>&1", inNs(from), opt,
                to) == 0)
            return true;
    }
    run("%sping %s -c1 -W1 %s 2>&1 | sed 's/^/#   /'", inNs(from), opt, to);
    return false;
}


int
main(void)
{
    unsigned int u = getpid() % 10000;
    char hostA[IFNAMSIZ], hostB[IFNAMSIZ], hostB1[IFNAMSIZ], hostF[IFNAMSIZ];
    char missingBr[IFNAMSIZ], missingParent[IFNAMSIZ];
    char text[256];
    vserverShimChildError err = { 0 };
    pid_t ctxA = -1;
    pid_t ctxB = -1;
    pid_t ctxC = -1;
    pid_t ctxD = -1;
    int fds;

    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root (network namespaces)\n");
        return 0;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        printf("1..0 # SKIP cannot create a network namespace: %s\n",
               strerror(errno));
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    snprintf(brName, sizeof(brName), "vsnt%ubr", u);
    snprintf(parentName, sizeof(parentName), "vsnt%up", u);
    snprintf(hostA, sizeof(hostA), "vsnt%ua0", u);
    snprintf(hostB, sizeof(hostB), "vsnt%ub0", u);
    snprintf(hostB1, sizeof(hostB1), "vsnt%ub1", u);
    snprintf(hostF, sizeof(hostF), "vsnt%uf0", u);
    snprintf(missingBr, sizeof(missingBr), "vsnt%unobr", u);
    snprintf(missingParent, sizeof(missingParent), "vsnt%unop", u);

    /* a dummy parent for the macvlan where the kernel has one; a veth
     * serves as well */
    if (run("ip link set lo up && ip link add %s type bridge && "
            "ip link set %s up && "
            "{ ip link add %s type dummy 2>/dev/null || "
            "  ip link add %s type veth peer name vsnt%uq; } && "
            "ip link set %s up", brName, brName, parentName, parentName, u,
            parentName) != 0 ||
        (ctxA = contextStart(0)) < 0 || (ctxB = contextStart(0)) < 0 ||
        (ctxC = contextStart(0)) < 0 ||
        (ctxD = contextStart(CLONE_NEWUSER)) < 0) {
        printf("Bail out! cannot set up the test namespaces\n");
        contextStop(ctxA);
        contextStop(ctxB);
        contextStop(ctxC);
        return 1;
    }

    fds = countFds();

    /* ---- a veth into context A, on the bridge ---- */
    vserverShimNetAddr addrsA[] = {
        { .address = S("10.77.0.2"), .prefix = 24 },
        { .address = S("fd77::2"), .prefix = 64 },
        { .address = S("10.55.0.1"), .peer = S("10.55.0.2") },
    };
    vserverShimNetRoute routesA[] = {
        { .dest = S("0.0.0.0"), .gateway = S("10.77.0.1") },
        { .dest = S("10.88.0.0"), .prefix = 16, .metric = 50 },
        { .dest = S("::"), .gateway = S("fd77::1") },
        { .dest = S("2001:db8:1::"), .prefix = 48, .gateway = S("fd77::1"),
          .metric = 300 },
    };
    vserverShimNet netA = {
        .kind = VSERVER_SHIM_NET_VETH,
        .guestName = S("eth0"), .mac = S("52:54:00:aa:00:01"), .mtu = 1400,
        .up = true,
        .hostName = hostA, .hostMac = S("52:54:00:fe:00:01"), .bridge = brName,
        .addrs = addrsA, .naddrs = 3, .routes = routesA, .nroutes = 4,
    };

    tapResult(addOk(&netA, ctxA), "veth: Add into context A succeeds");
    tapResult(ipCheck(ctxA, "-d link show dev eth0",
                      "d[0]['linkinfo']['info_kind']=='veth' and "
                      "d[0]['address']=='52:54:00:aa:00:01' and "
                      "d[0]['mtu']==1400 and 'UP' in d[0]['flags']"),
              "veth: eth0 inside A has MAC 52:54:00:aa:00:01, MTU 1400, is up");
    tapResult(ipCheck(0, F("-d link show dev %s", hostA),
                      F("d[0]['linkinfo']['info_kind']=='veth' and "
                        "d[0].get('master')=='%s' and 'UP' in d[0]['flags'] "
                        "and d[0]['address']=='52:54:00:fe:00:01' and "
                        "d[0]['mtu']==1400", brName)),
              "veth: host end %s has its MAC and MTU, is enslaved to %s and up",
              hostA, brName);
    tapResult(!linkExists(0, "eth0"),
              "veth: the guest end never shows up in the host namespace");
    tapResult(ipCheck(ctxA, "addr show dev eth0",
                      "any(a['family']=='inet' and a['local']=='10.77.0.2' "
                      "and a['prefixlen']==24 and "
                      "a.get('broadcast')=='10.77.0.255' "
                      "for a in d[0]['addr_info'])"),
              "addresses: IPv4 10.77.0.2/24 brd 10.77.0.255 inside A");
    tapResult(ipCheck(ctxA, "addr show dev eth0",
                      "any(a['local']=='10.55.0.1' and "
                      "a.get('address')=='10.55.0.2' and a['prefixlen']==32 "
                      "for a in d[0]['addr_info'])"),
              "addresses: point-to-point 10.55.0.1 peer 10.55.0.2 inside A");
    tapResult(ipCheck(ctxA, "addr show dev eth0",
                      "any(a['family']=='inet6' and a['local']=='fd77::2' "
                      "and a['prefixlen']==64 and a.get('nodad') and "
                      "not a.get('tentative') for a in d[0]['addr_info'])"),
              "addresses: IPv6 fd77::2/64 inside A is usable at once (nodad, "
              "not tentative)");
    tapResult(ipCheck(ctxA, "-4 route show table main",
                      "any(r['dst']=='default' and "
                      "r.get('gateway')=='10.77.0.1' and r['dev']=='eth0' and "
                      "r.get('protocol','boot')=='boot' and 'metric' not in r "
                      "for r in d)"),
              "routes: default via 10.77.0.1 dev eth0 proto boot inside A");
    tapResult(ipCheck(ctxA, "-4 route show table main",
                      "any(r['dst']=='10.88.0.0/16' and 'gateway' not in r "
                      "and r['dev']=='eth0' and r.get('scope')=='link' and "
                      "r.get('metric')==50 for r in d)"),
              "routes: on-link 10.88.0.0/16 dev eth0 scope link metric 50 "
              "inside A");
    tapResult(ipCheck(ctxA, "-6 route show table main",
                      "any(r['dst']=='default' and "
                      "r.get('gateway')=='fd77::1' and r['dev']=='eth0' "
                      "for r in d) and any(r['dst']=='2001:db8:1::/48' and "
                      "r.get('gateway')=='fd77::1' and r.get('metric')==300 "
                      "for r in d)"),
              "routes: IPv6 default via fd77::1 and 2001:db8:1::/48 metric 300 "
              "inside A");

    /* ---- loopback ---- */
    tapResult(ipCheck(ctxA, "link show dev lo", "'UP' not in d[0]['flags']") &&
              vserverShimNetLoopback(ctxA, &err) == 0 &&
              ipCheck(ctxA, "link show dev lo", "'UP' in d[0]['flags']"),
              "loopback: lo inside A goes from down to up");
    if (err.msg[0])
        tapDiag("%s", err.msg);

    /* ---- a second context on the same bridge ---- */
    vserverShimNetAddr addrsB[] = {
        { .address = S("10.77.0.3"), .prefix = 24 },
        { .address = S("fd77::3"), .prefix = 64 },
    };
    vserverShimNet netB = {
        .kind = VSERVER_SHIM_NET_VETH,
        .guestName = S("eth0"), .mac = S("52:54:00:bb:00:01"), .up = true,
        .hostName = hostB, .bridge = brName,
        .addrs = addrsB, .naddrs = 2,
    };
    tapResult(addOk(&netB, ctxB) &&
              ipCheck(0, F("link show dev %s", hostB),
                      F("d[0].get('master')=='%s'", brName)),
              "bridge: context B's veth joins the same bridge");
    tapResult(pingOk(ctxA, "-4", "10.77.0.3"),
              "bridge: A pings B's 10.77.0.3 over the bridge");
    tapResult(pingOk(ctxB, "-6", "fd77::2"),
              "bridge: B pings A's fd77::2 over the bridge (no DAD wait)");

    /* ---- link state ---- */
    vserverShimNetAddr addrsB1[] = {
        { .address = S("10.99.0.2"), .prefix = 24 },
        { .address = S("fd99::2"), .prefix = 64 },
    };
    vserverShimNetRoute routesB1[] = {
        { .dest = S("10.98.0.0"), .prefix = 16, .gateway = S("10.99.0.1") },
    };
    vserverShimNet netB1 = {
        .kind = VSERVER_SHIM_NET_VETH,
        .guestName = S("eth1"), .up = false,
        .hostName = hostB1,
        .addrs = addrsB1, .naddrs = 2, .routes = routesB1, .nroutes = 1,
    };
    tapResult(addOk(&netB1, ctxB) &&
              ipCheck(ctxB, "addr show dev eth1",
                      "'UP' not in d[0]['flags'] and "
                      "any(a['local']=='10.99.0.2' for a in d[0]['addr_info'])"),
              "link state: eth1 with up=0 stays down inside B, with its address");
    tapResult(ipCheck(0, F("link show dev %s", hostB1),
                      "'UP' in d[0]['flags'] and 'master' not in d[0]"),
              "link state: eth1's host end %s is up, on no bridge", hostB1);
    tapResult(setLinkOk(&netB1, ctxB, true) &&
              ipCheck(ctxB, "link show dev eth1", "'UP' in d[0]['flags']") &&
              ipCheck(ctxB, "-4 route",
                      "any(r['dst']=='10.98.0.0/16' and "
                      "r.get('gateway')=='10.99.0.1' for r in d)"),
              "link state: SetLink up brings eth1 up with its route");
    tapResult(setLinkOk(&netA, ctxA, false) &&
              ipCheck(ctxA, "link show dev eth0", "'UP' not in d[0]['flags']") &&
              ipCheck(ctxA, "-4 route",
                      "not any(r['dst']=='default' for r in d)"),
              "link state: SetLink down takes eth0 in A down (and the kernel "
              "its routes)");
    tapResult(setLinkOk(&netA, ctxA, true) &&
              ipCheck(ctxA, "addr show dev eth0",
                      "'UP' in d[0]['flags'] and "
                      "any(a['local']=='fd77::2' for a in d[0]['addr_info'])") &&
              ipCheck(ctxA, "-4 route",
                      "any(r['dst']=='default' and "
                      "r.get('gateway')=='10.77.0.1' for r in d) and "
                      "any(r['dst']=='10.88.0.0/16' and r.get('metric')==50 "
                      "for r in d)") &&
              ipCheck(ctxA, "-6 route",
                      "any(r['dst']=='default' for r in d)") &&
              pingOk(ctxA, "-4", "10.77.0.3"),
              "link state: SetLink up restores eth0's addresses and routes in A");

    /* ---- macvlan ---- */
    vserverShimNetAddr addrsM[] = {
        { .address = S("10.66.0.2"), .prefix = 24 },
    };
    vserverShimNetRoute routesM[] = {
        { .dest = S("10.67.0.0"), .prefix = 16, .gateway = S("10.66.0.1") },
    };
    vserverShimNet netM = {
        .kind = VSERVER_SHIM_NET_MACVLAN,
        .guestName = S("mv0"), .mac = S("52:54:00:cc:00:01"), .mtu = 1400,
        .up = true,
        .link = parentName, .macvlanMode = MACVLAN_MODE_BRIDGE,
        .addrs = addrsM, .naddrs = 1, .routes = routesM, .nroutes = 1,
    };
    tapResult(addOk(&netM, ctxC), "macvlan: Add into context C succeeds");
    tapResult(ipCheck(ctxC, "-d link show dev mv0",
                      "d[0]['linkinfo']['info_kind']=='macvlan' and "
                      "d[0]['linkinfo']['info_data']['mode']=='bridge' and "
                      "d[0]['address']=='52:54:00:cc:00:01' and "
                      "d[0]['mtu']==1400 and 'UP' in d[0]['flags']"),
              "macvlan: mv0 inside C is a bridge-mode macvlan with its MAC, "
              "MTU 1400, up");
    tapResult(ipCheck(ctxC, "addr show dev mv0",
                      "any(a['local']=='10.66.0.2' for a in d[0]['addr_info'])") &&
              ipCheck(ctxC, "-4 route",
                      "any(r['dst']=='10.67.0.0/16' and "
                      "r.get('gateway')=='10.66.0.1' for r in d)"),
              "macvlan: mv0 has its address and route inside C");
    tapResult(!linkExists(0, "mv0"),
              "macvlan: mv0 never shows up in the host namespace");

    /* ---- a routed veth (addresses and routes on the host end) into a
     * network namespace owned by a user namespace ---- */
    char hostD[IFNAMSIZ];
    snprintf(hostD, sizeof(hostD), "vsnt%ud0", u);
    vserverShimNetAddr hostAddrsD[] = {
        { .address = S("10.123.0.1"), .prefix = 24 },
        { .address = S("fd23::1"), .prefix = 64 },
    };
    vserverShimNetRoute hostRoutesD[] = {
        { .dest = S("10.124.0.0"), .prefix = 16, .gateway = S("10.123.0.2"),
          .metric = 20 },
    };
    vserverShimNetAddr addrsD[] = {
        { .address = S("10.123.0.2"), .prefix = 24 },
        { .address = S("fd23::2"), .prefix = 64 },
    };
    vserverShimNetRoute routesD[] = {
        { .dest = S("0.0.0.0"), .gateway = S("10.123.0.1") },
    };
    vserverShimNet netD = {
        .kind = VSERVER_SHIM_NET_VETH,
        .guestName = S("eth0"), .up = true,
        .hostName = hostD,
        .hostAddrs = hostAddrsD, .nhostAddrs = 2,
        .hostRoutes = hostRoutesD, .nhostRoutes = 1,
        .addrs = addrsD, .naddrs = 2, .routes = routesD, .nroutes = 1,
    };
    memset(&err, 0, sizeof(err));
    tapResult(addOk(&netD, ctxD) && vserverShimNetLoopback(ctxD, &err) == 0 &&
              ipCheck(ctxD, "link show", "all('UP' in l['flags'] for l in d)"),
              "userns: veth and lo into a netns owned by a user namespace");
    if (err.msg[0])
        tapDiag("%s", err.msg);
    tapResult(ipCheck(0, F("addr show dev %s", hostD),
                      "'UP' in d[0]['flags'] and "
                      "any(a['local']=='10.123.0.1' and a['prefixlen']==24 "
                      "for a in d[0]['addr_info']) and "
                      "any(a['local']=='fd23::1' for a in d[0]['addr_info'])") &&
              ipCheck(0, "-4 route",
                      F("any(r['dst']=='10.124.0.0/16' and "
                        "r.get('gateway')=='10.123.0.2' and r['dev']=='%s' "
                        "and r.get('metric')==20 for r in d)", hostD)),
              "host end: %s has its addresses and route on the host", hostD);
    tapResult(pingOk(0, "-4", "10.123.0.2") && pingOk(ctxD, "-4", "10.123.0.1") &&
              pingOk(0, "-6", "fd23::2"),
              "host end: the host and the context reach each other (v4, v6)");

    /* ---- errors ---- */
    vserverShimNetAddr addrsF[] = {
        { .address = S("10.201.0.2"), .prefix = 24 },
    };
    vserverShimNetRoute routesF[] = {
        { .dest = S("10.200.0.0"), .prefix = 16, .gateway = S("192.0.2.1") },
    };
    vserverShimNet netF = {
        .kind = VSERVER_SHIM_NET_VETH,
        .guestName = S("eth5"), .up = true,
        .hostName = hostF, .bridge = missingBr,
    };
    snprintf(text, sizeof(text), "bridge '%s' does not exist", missingBr);
    expectAddFails("a missing bridge", &netF, ctxA, ENODEV, text);

    netF.bridge = parentName;
    snprintf(text, sizeof(text), "'%s' is not a bridge", parentName);
    expectAddFails("a bridge that is not a bridge", &netF, ctxA, EINVAL, text);

    netF.bridge = brName;
    netF.hostName = hostA;
    snprintf(text, sizeof(text), "host device '%s' already exists", hostA);
    expectAddFails("an existing host name", &netF, ctxA, EEXIST, text);
    tapResult(ipCheck(0, F("link show dev %s", hostA),
                      F("d[0].get('master')=='%s' and 'UP' in d[0]['flags']",
                        brName)) && pingOk(ctxA, "-4", "10.77.0.3"),
              "error: the existing %s is left as it was", hostA);

    netF.hostName = S("vsnt-name-is-too-long");
    expectAddFails("a host name of 21 characters", &netF, ctxA, ENAMETOOLONG,
                   "'vsnt-name-is-too-long' is too long");
    netF.hostName = hostF;
    netF.guestName = S("eth-name-is-too-long");
    expectAddFails("a guest name of 20 characters", &netF, ctxA, ENAMETOOLONG,
                   "'eth-name-is-too-long' is too long");

    netF.guestName = S("eth0");
    snprintf(text, sizeof(text), "cannot create veth pair '%s'", hostF);
    expectAddFails("a guest name taken in the context", &netF, ctxA, EEXIST,
                   text);

    netF.guestName = S("eth5");
    netF.mac = S("52:54:00:zz:00:01");
    expectAddFails("a malformed MAC", &netF, ctxA, EINVAL,
                   "invalid MAC address '52:54:00:zz:00:01'");
    netF.mac = NULL;

    netF.addrs = addrsF;
    netF.naddrs = 1;
    netF.routes = routesF;
    netF.nroutes = 1;
    expectAddFails("an unreachable gateway, after the veth was made", &netF,
                   ctxA, ENETUNREACH,
                   "cannot add route '10.200.0.0/16' via 192.0.2.1 to 'eth5'");

    vserverShimNet netMF = netM;
    netMF.guestName = S("mv5");
    netMF.mac = NULL;
    netMF.link = missingParent;
    snprintf(text, sizeof(text), "host device '%s' does not exist",
             missingParent);
    expectAddFails("a missing macvlan parent", &netMF, ctxC, ENODEV, text);

    netMF.link = parentName;
    netMF.routes = routesF;
    expectAddFails("a macvlan with an unreachable gateway", &netMF, ctxC,
                   ENETUNREACH, "via 192.0.2.1 to 'mv5'");

    memset(&err, 0, sizeof(err));
    netF.routes = NULL;
    netF.nroutes = 0;
    tapResult(vserverShimNetAdd(&netF, getpid(), &err) < 0 &&
              strstr(err.msg, "has no network namespace of its own") &&
              !linkExists(0, hostF) && !linkExists(0, "eth5"),
              "error: a process in the host's own namespace is refused");
    tapDiag("%s", err.msg);

    /* ---- removal ---- */
    tapResult(removeOk(&netA, ctxA) && !linkExists(0, hostA) &&
              !linkExists(ctxA, "eth0") && linkExists(ctxA, "lo"),
              "remove: Remove takes both ends of A's veth away");
    tapResult(removeOk(&netA, ctxA),
              "remove: Remove of an absent veth succeeds");
    tapResult(addOk(&netA, ctxA) &&
              ipCheck(ctxA, "-4 route",
                      "any(r['dst']=='default' for r in d)") &&
              pingOk(ctxA, "-4", "10.77.0.3") && removeOk(&netA, ctxA) &&
              !linkExists(0, hostA),
              "remove: the same veth can be made again after Remove (restart)");

    vserverShimNet netBr = netA;
    netBr.hostName = brName;
    memset(&err, 0, sizeof(err));
    tapResult(vserverShimNetRemove(&netBr, ctxA, &err) < 0 &&
              strstr(err.msg, "not a veth") && linkExists(0, brName),
              "remove: Remove refuses to delete a host device that is not "
              "a veth");
    tapDiag("%s", err.msg);

    tapResult(removeOk(&netM, ctxC) && !linkExists(ctxC, "mv0") &&
              linkExists(0, parentName),
              "remove: Remove takes the macvlan out of C, the parent stays");
    tapResult(removeOk(&netM, ctxC) && removeOk(&netM, 0),
              "remove: Remove of an absent macvlan, or without a context "
              "process, succeeds");

    /* ---- the kernel's side, for the driver: a context that dies takes
     * its veth pairs with it, asynchronously ---- */
    {
        pid_t old = ctxB;
        double start;
        double waited;
        bool lingered;

        contextStop(ctxB);
        start = now();
        lingered = if_nametoindex(hostB) > 0;
        while ((linkExists(0, hostB) || linkExists(0, hostB1)) &&
               now() - start < 10)
            usleep(10000);
        waited = now() - start;
        tapResult(!linkExists(0, hostB) && !linkExists(0, hostB1),
                  "kernel: the host ends of a dead context's veths go away "
                  "(%s right after the reap, gone after %.3fs)",
                  lingered ? "still there" : "already gone", waited);

        ctxB = contextStart(0);
        tapResult(ctxB > 0 && removeOk(&netB, old) && addOk(&netB, ctxB) &&
                  linkExists(ctxB, "eth0") &&
                  ipCheck(0, F("link show dev %s", hostB),
                          F("d[0].get('master')=='%s'", brName)),
                  "restart: Remove then Add puts B's veth into its new "
                  "namespace");
        tapResult(removeOk(&netM, old),
                  "remove: Remove of a macvlan of a process that is gone "
                  "succeeds");
    }

    /* ---- clear ---- */
    {
        vserverShimNet *heap = calloc(1, sizeof(*heap));
        static const vserverShimNet zero;

        heap->guestName = strdup("eth0");
        heap->mac = strdup("52:54:00:00:00:01");
        heap->hostName = strdup("veth0");
        heap->hostMac = strdup("52:54:00:00:00:02");
        heap->bridge = strdup("br0");
        heap->link = strdup("eth9");
        heap->hostAddrs = calloc(1, sizeof(vserverShimNetAddr));
        heap->hostAddrs[0].address = strdup("10.0.0.1");
        heap->nhostAddrs = 1;
        heap->hostRoutes = calloc(1, sizeof(vserverShimNetRoute));
        heap->hostRoutes[0].dest = strdup("10.1.0.0");
        heap->hostRoutes[0].gateway = strdup("10.0.0.2");
        heap->nhostRoutes = 1;
        heap->addrs = calloc(2, sizeof(vserverShimNetAddr));
        heap->addrs[0].address = strdup("10.0.0.2");
        heap->addrs[1].address = strdup("10.0.1.2");
        heap->addrs[1].peer = strdup("10.0.1.1");
        heap->naddrs = 2;
        heap->routes = calloc(1, sizeof(vserverShimNetRoute));
        heap->routes[0].dest = strdup("0.0.0.0");
        heap->nroutes = 1;
        heap->up = true;
        heap->mtu = 1500;
        vserverShimNetClear(heap);
        tapResult(memcmp(heap, &zero, sizeof(zero)) == 0,
                  "clear: NetClear frees everything and zeroes the struct");
        free(heap);
    }

    tapResult(countFds() == fds,
              "fds: every call closed its sockets and namespace fds");

    contextStop(ctxA);
    contextStop(ctxB);
    contextStop(ctxC);
    contextStop(ctxD);
    return tapDone();
}
