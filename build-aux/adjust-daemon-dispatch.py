#!/usr/bin/python3
"""Write libvirt's remote_daemon_dispatch.c with one change for virtvserverd.

libvirt's per-driver daemons accept only a fixed list of primary driver
types and send every storage call of a hypervisor connection to
storage:///system.  virtvserverd must accept the "VServer" type and serve
storage calls from the same connection, whose virConnectDriver carries this
project's storage driver (hashify pools).  The input is the file from the
libvirt source tree fetched by the build; nothing of it is kept in this
repository.  Any drift in the anchor fails the build instead of producing a
daemon that silently forwards storage elsewhere.
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


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: adjust-daemon-dispatch.py INPUT OUTPUT")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    count = text.count(ANCHOR)
    if count != 1:
        sys.exit("adjust-daemon-dispatch: expected the primary driver type "
                 "check exactly once in %s, found it %d times"
                 % (sys.argv[1], count))
    text = text.replace(ANCHOR, BRANCH)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
