#!/usr/bin/python3
"""python-libvirt against real contexts: the console through the stream
API (a command typed on it runs, one session at a time unless forced, it
survives a daemon crash) and the lifecycle events of start, suspend,
resume, destroy, shutdown, reboot and crashes.  TAP output.

argv: URI ROOTFS INSTANCE-DIR VSERVER-INSTANCE-TOOL"""
import os
import signal
import subprocess
import sys
import threading
import time

import libvirt

from taplib import done, equals, ok

uri, rootfs, inst_dir, tool = sys.argv[1:5]

libvirt.virEventRegisterDefaultImpl()


def loop():
    while True:
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=loop, daemon=True).start()
libvirt.registerErrorHandler(lambda ctx, err: None, None)

events = []
got = threading.Condition()


def lifecycle(conn_, dom, event, detail, opaque):
    with got:
        events.append((dom.name(), event, detail))
        got.notify_all()


def reboot_cb(conn_, dom, opaque):
    with got:
        events.append((dom.name(), "reboot", None))
        got.notify_all()


def wait_event(want, timeout=15):
    """Wait for the event tuple @want; returns the events seen meanwhile."""
    end = time.time() + timeout
    with got:
        while want not in events:
            left = end - time.time()
            if left <= 0:
                break
            got.wait(left)
        seen = list(events)
        if want in events:
            del events[:events.index(want) + 1]
        return want in seen, seen


E = libvirt
conn = libvirt.open(uri)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                            lifecycle, None)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT,
                            reboot_cb, None)

xml = """<domain type='lxc'>
  <name>con</name>
  <memory unit='MiB'>128</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <devices>
    <filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>""" % rootfs
dom = conn.defineXML(xml)


def init_ready(d, timeout=5):
    """busybox init has its signal handlers once it has children"""
    end = time.time() + timeout
    pid = d.ID()
    while time.time() < end:
        r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True)
        if r.returncode == 0:
            return True
        time.sleep(0.1)
    return False


# --- events: start, suspend, resume, destroy
dom.create()
seen = wait_event(("con", E.VIR_DOMAIN_EVENT_STARTED,
                   E.VIR_DOMAIN_EVENT_STARTED_BOOTED))
ok(seen[0], "event: started (booted)", seen[1])
dom.suspend()
seen = wait_event(("con", E.VIR_DOMAIN_EVENT_SUSPENDED,
                   E.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED))
ok(seen[0], "event: suspended (paused)", seen[1])
dom.resume()
seen = wait_event(("con", E.VIR_DOMAIN_EVENT_RESUMED,
                   E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED))
ok(seen[0], "event: resumed (unpaused)", seen[1])


# --- console
def console_open(d, flags=0):
    st = d.connect().newStream(libvirt.VIR_STREAM_NONBLOCK)
    d.openConsole(None, st, flags)
    return st


def console_read_until(st, needle, timeout=10):
    """Read until @needle shows up; returns (found, text, eof)."""
    buf = b""
    end = time.time() + timeout
    while time.time() < end:
        try:
            data = st.recv(4096)
        except libvirt.libvirtError as e:
            return False, buf.decode(errors="replace") + " [%s]" % e, True
        if data == -2:
            time.sleep(0.05)
            continue
        if not data:
            return needle in buf, buf.decode(errors="replace"), True
        buf += data
        if needle in buf:
            return True, buf.decode(errors="replace"), False
    return False, buf.decode(errors="replace"), False


def console_open_free(d, timeout=5):
    """console_open without force, tried again while the daemon still
    counts a session that was just closed as active"""
    end = time.time() + timeout
    while True:
        try:
            return console_open(d)
        except libvirt.libvirtError as e:
            if "active console session" not in str(e) or time.time() >= end:
                raise
        time.sleep(0.05)


def console_cmd(st, word):
    """Type "echo WORD-$((6*7))" and wait for WORD-42: the shell ran it."""
    st.send(("echo %s-$((6*7))\n" % word).encode())
    return console_read_until(st, ("%s-42" % word).encode())


init_ready(dom)
st1 = console_open(dom)
found, text, _ = console_cmd(st1, "hi")
ok(found, "console: a command typed on it runs (hi-42)", text)

try:
    st2 = console_open(dom)
    ok(False, "console: a second session without force is refused")
    st2.abort()
except libvirt.libvirtError as e:
    ok("active console session" in str(e),
       "console: a second session without force is refused", e)

try:
    st3 = console_open(dom, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    found, text, _ = console_cmd(st3, "forced")
    ok(found, "console: a forced session takes over and works", text)
except libvirt.libvirtError as e:
    st3 = None
    ok(False, "console: a forced session takes over and works", e)
found, text, eof = console_read_until(st1, b"\x00never", timeout=3)
ok(eof, "console: the session taken over ends", text)
try:
    st1.abort()
except libvirt.libvirtError:
    pass
if st3:
    st3.finish()
try:
    st4 = console_open_free(dom)
    found, text, _ = console_cmd(st4, "again")
    ok(found, "console: after a session closes, a new one opens without force",
       text)
    st4.finish()
except libvirt.libvirtError as e:
    ok(False, "console: after a session closes, a new one opens without force",
       e)

dom.destroy()
seen = wait_event(("con", E.VIR_DOMAIN_EVENT_STOPPED,
                   E.VIR_DOMAIN_EVENT_STOPPED_DESTROYED))
ok(seen[0], "event: stopped (destroyed)", seen[1])

# --- shutdown, reboot
dom.create()
wait_event(("con", E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED))
init_ready(dom)
dom.reboot(0)
seen = wait_event(("con", "reboot", None))
ok(seen[0], "event: reboot", seen[1])
init_ready(dom)
dom.shutdown()
seen = wait_event(("con", E.VIR_DOMAIN_EVENT_STOPPED,
                   E.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN))
ok(seen[0], "event: stopped (shutdown)", seen[1])

# --- crashes: init or shim killed from the host, without a destroy
dom.create()
wait_event(("con", E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED))
os.kill(dom.ID(), signal.SIGKILL)
seen = wait_event(("con", E.VIR_DOMAIN_EVENT_STOPPED,
                   E.VIR_DOMAIN_EVENT_STOPPED_CRASHED))
ok(seen[0], "event: stopped (crashed) after SIGKILL of init", seen[1])
equals("state after SIGKILL of init: shut off (crashed)",
       [E.VIR_DOMAIN_SHUTOFF, E.VIR_DOMAIN_SHUTOFF_CRASHED], dom.state())

dom.create()
wait_event(("con", E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED))
rundir = os.path.join(inst_dir, "run/libvirt/vserver")
with open(os.path.join(rundir, "con.pid")) as f:
    shim = int(f.read().strip())
os.kill(shim, signal.SIGKILL)
seen = wait_event(("con", E.VIR_DOMAIN_EVENT_STOPPED,
                   E.VIR_DOMAIN_EVENT_STOPPED_CRASHED))
ok(seen[0], "event: stopped (crashed) after SIGKILL of the shim", seen[1])

# --- the console after a daemon crash
dom.create()
pid = dom.ID()
init_ready(dom)
conn.close()
subprocess.run([tool, "kill", inst_dir], check=True)
subprocess.run([tool, "start", inst_dir], check=True, stdout=subprocess.DEVNULL)
conn = libvirt.open(uri)
dom = conn.lookupByName("con")
equals("after a daemon SIGKILL and restart: the same init", pid, dom.ID())
try:
    st = console_open(dom)
    found, text, _ = console_cmd(st, "back")
    ok(found, "after a daemon SIGKILL and restart: the console works", text)
    st.finish()
except libvirt.libvirtError as e:
    ok(False, "after a daemon SIGKILL and restart: the console works", e)
dom.destroy()
equals("after a daemon restart: destroy works",
       [E.VIR_DOMAIN_SHUTOFF, E.VIR_DOMAIN_SHUTOFF_DESTROYED], dom.state())

sys.exit(done())
