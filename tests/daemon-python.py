#!/usr/bin/python3
"""python-libvirt against a private virtvserverd (URI in argv[1]): open,
type, define/list/XMLDesc/undefine, and lifecycle events for define and
undefine delivered through the default event loop.  TAP output."""
import sys
import threading
import time

import libvirt

from taplib import done, ok

uri = sys.argv[1]
rootfs = sys.argv[2]

libvirt.virEventRegisterDefaultImpl()
stop = False


def loop():
    while not stop:
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=loop, daemon=True).start()
libvirt.registerErrorHandler(lambda ctx, err: None, None)

conn = libvirt.open(uri)
ok(conn is not None, "open %s" % uri)
ok(conn.getType() == "VServer", "getType is VServer", conn.getType())
ok(conn.getVersion() == 1000,
   "getVersion is 0.1.0 encoded as 1000", conn.getVersion())
ok(conn.listAllDomains() == [], "no domains at start")

events = []
got = threading.Condition()


def lifecycle(conn_, dom, event, detail, opaque):
    with got:
        events.append((dom.name(), event, detail))
        got.notify_all()


cb = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                 lifecycle, None)
ok(cb >= 0, "lifecycle callback registered")


def wait_event(expect, timeout=10):
    deadline = time.time() + timeout
    with got:
        while expect not in events and time.time() < deadline:
            got.wait(0.2)
        return expect in events


xml = """<domain type='lxc'>
  <name>py1</name>
  <memory unit='MiB'>32</memory>
  <os><type>exe</type><init>/bin/sh</init></os>
  <devices><filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem></devices>
</domain>""" % rootfs

dom = conn.defineXML(xml)
ok(dom is not None and dom.name() == "py1", "defineXML")
ok(wait_event(("py1", libvirt.VIR_DOMAIN_EVENT_DEFINED,
               libvirt.VIR_DOMAIN_EVENT_DEFINED_ADDED)),
   "DEFINED/ADDED event delivered", events)

dom = conn.defineXML(xml.replace("32", "48").replace(
    "<name>py1</name>", "<name>py1</name><uuid>%s</uuid>" % dom.UUIDString()))
ok(wait_event(("py1", libvirt.VIR_DOMAIN_EVENT_DEFINED,
               libvirt.VIR_DOMAIN_EVENT_DEFINED_UPDATED)),
   "DEFINED/UPDATED event on redefine", events)

desc = dom.XMLDesc(0)
ok("<memory unit='KiB'>49152</memory>" in desc, "XMLDesc shows the redefined memory", desc)
ok("<type arch='%s'>exe</type>" % conn.getInfo()[0] in desc, "XMLDesc has exe on the host arch")
names = [d.name() for d in conn.listAllDomains()]
ok(names == ["py1"], "listAllDomains lists the domain", names)
ok(conn.listDefinedDomains() == ["py1"], "listDefinedDomains")
ok(dom.isPersistent() == 1 and dom.isActive() == 0, "persistent and inactive")
state, reason = dom.state()
ok(state == libvirt.VIR_DOMAIN_SHUTOFF, "state is shut off")

try:
    conn.defineXML(xml.replace("type='lxc'", "type='kvm'").replace(">exe<", ">hvm<"))
    ok(False, "type kvm refused")
except libvirt.libvirtError as e:
    ok("not supported by the vserver driver" in str(e), "type kvm refused with a clear error", str(e))

try:
    conn.lookupByName("nope")
    ok(False, "lookup of unknown domain fails")
except libvirt.libvirtError as e:
    ok(e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, "lookup of unknown domain: VIR_ERR_NO_DOMAIN")

dom.undefine()
ok(wait_event(("py1", libvirt.VIR_DOMAIN_EVENT_UNDEFINED,
               libvirt.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED)),
   "UNDEFINED/REMOVED event delivered", events)
ok(conn.listAllDomains() == [], "no domains after undefine")

conn.domainEventDeregisterAny(cb)
conn.close()
stop = True
sys.exit(done())
