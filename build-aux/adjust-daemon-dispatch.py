#!/usr/bin/python3
"""Write libvirt's remote_daemon_dispatch.c with two changes for virtvserverd.

1. libvirt's per-driver daemons accept only a fixed list of primary driver
   types and send every storage call of a hypervisor connection to
   storage:///system.  virtvserverd must accept the "VServer" type and serve
   storage calls from the same connection, whose virConnectDriver carries
   this project's storage driver (hashify pools).
2. The other secondary drivers (network, nwfilter, nodedev, secret,
   interface) are the host's.  libvirt's remote driver inside a daemon only
   ever connects to the modular daemons' sockets, which a host running the
   monolithic libvirtd (Debian 12's default) does not have.  Before a
   secondary connection is opened, the vserver driver module (loaded
   RTLD_GLOBAL by libvirt, so dlsym finds it) names the socket: virt<drv>d's
   if it exists, else libvirtd's, else an error naming both
   (src/driver/vserver_hostdrv.c, vserver.conf's host_socket_dir).

The input is the file from the libvirt source tree fetched by the build;
nothing of it is kept in this repository.  Any drift in an anchor fails the
build instead of producing a daemon that silently forwards elsewhere.
"""
import sys

ANCHOR = '    if (STREQ(type, "QEMU") ||\n'

BRANCH = '''    if (STREQ(type, "VServer")) {
        /* libvirt-vserver: storage is served by the connection's own
         * storage driver; the other secondary drivers as for hypervisors */
        VIR_DEBUG("VServer driver found, storage served by it");
        priv->storageConn = virObjectRef(priv->conn);
        if (getuid() == 0) {
            priv->interfaceURI = "interface:///system";
            priv->networkURI = "network:///system";
            priv->nodedevURI = "nodedev:///system";
            priv->nwfilterURI = "nwfilter:///system";
            priv->secretURI = "secret:///system";
        } else {
            priv->interfaceURI = "interface:///session";
            priv->networkURI = "network:///session";
            priv->nodedevURI = "nodedev:///session";
            priv->secretURI = "secret:///session";
        }
    } else if (STREQ(type, "QEMU") ||
'''

INCLUDE_ANCHOR = '#include "configmake.h"\n'
INCLUDE = INCLUDE_ANCHOR + '#include <dlfcn.h>\n'

OPEN_FUNC_ANCHOR = '''static int
remoteOpenConn(const char *uri,
'''

OPEN_FUNC = '''/* libvirt-vserver: the host's socket for a secondary driver, as the
 * vserver driver module chooses it; without that module, libvirt's choice */
static int
remoteVServerHostURI(const char *uri,
                     bool readonly,
                     char **hosturi)
{
    int (*func)(const char *, bool, char **);

    *hosturi = NULL;
    if (!(func = (int (*)(const char *, bool, char **))
                 dlsym(RTLD_DEFAULT, "vserverHostDriverURI")))
        return 0;
    return func(uri, readonly, hosturi);
}


''' + OPEN_FUNC_ANCHOR

OPEN_DECL_ANCHOR = '''    g_autoptr(virConnect) newconn = NULL;
    unsigned int connectFlags = 0;
'''
OPEN_DECL = OPEN_DECL_ANCHOR + '''    g_autofree char *vserverURI = NULL;
'''

OPEN_CALL_ANCHOR = '''    VIR_DEBUG("Opening driver %s", uri);
'''
OPEN_CALL = '''    if (remoteVServerHostURI(uri, readonly, &vserverURI) < 0)
        return -1;
    if (vserverURI)
        uri = vserverURI;

''' + OPEN_CALL_ANCHOR

CHANGES = [
    (ANCHOR, BRANCH, "the primary driver type check"),
    (INCLUDE_ANCHOR, INCLUDE, "the configmake.h include"),
    (OPEN_FUNC_ANCHOR, OPEN_FUNC, "remoteOpenConn's definition"),
    (OPEN_DECL_ANCHOR, OPEN_DECL, "remoteOpenConn's declarations"),
    (OPEN_CALL_ANCHOR, OPEN_CALL, "remoteOpenConn's open"),
]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: adjust-daemon-dispatch.py INPUT OUTPUT")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    for anchor, replacement, what in CHANGES:
        count = text.count(anchor)
        if count != 1:
            sys.exit("adjust-daemon-dispatch: expected %s exactly once in %s, "
                     "found it %d times" % (what, sys.argv[1], count))
        text = text.replace(anchor, replacement)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
