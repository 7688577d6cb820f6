#!/usr/bin/python3
"""virt-manager against a vserver connection, driven through AT-SPI
(dogtail), as a user would: run by tests/virt-manager.sh, which starts the
private daemon, Xvfb, a session bus and virt-manager --connect URI.

  virt-manager-ui.py URI DOMAIN POOL SHOTDIR

Steps, one TAP line each ("ok - ..." / "not ok - ..."; the wrapper numbers
them): the connection in the manager; the connection details' Overview,
Virtual Networks and Storage pages (hashify pool and its volumes) with no
error dialog; Run of DOMAIN from the manager; its text console shows the
shell prompt and runs a command; the CPU and memory graphs of its
Performance page update under load; Shut Down from the VM window ends it.
Every wait has a deadline (no fixed sleeps); dogtail's own retries are
off.  A screenshot of the window concerned is saved in SHOTDIR after each
step (and on a failure).
"""

import os
import re
import subprocess
import sys
import time

import libvirt

from dogtail import config as dtconfig
dtconfig.config.checkForA11y = False
dtconfig.config.searchCutoffCount = 1
dtconfig.config.searchBackoffDuration = 0.1
dtconfig.config.defaultDelay = 0.05
dtconfig.config.actionDelay = 0.05
dtconfig.config.typingDelay = 0.02
dtconfig.config.logDebugToStdOut = False
dtconfig.config.logDebugToFile = False
from dogtail import tree  # noqa: E402

uri, domname, poolname, shotdir = sys.argv[1:5]
conn = libvirt.open(uri)
dom = conn.lookupByName(domname)


class StepFailed(Exception):
    pass


def diag(text):
    for line in str(text).splitlines() or [""]:
        print("# " + line, flush=True)


def wait_for(what, fn, timeout):
    """fn() until it returns a true value, for at most timeout seconds;
    AT-SPI errors of a widget that is being rebuilt count as not yet"""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - a11y objects come and go
            last = e
        if time.monotonic() >= end:
            raise StepFailed("timed out after %ss waiting for %s%s" %
                             (timeout, what, " (last error: %s)" % last if last else ""))
        time.sleep(0.1)


def find(node, role=None, name=None, showing=None, regex=False):
    """the first descendant with ROLE and NAME (exact, or a regex), or None"""
    def pred(n):
        if role is not None and n.roleName != role:
            return False
        if name is not None:
            if regex and not re.search(name, n.name or ""):
                return False
            if not regex and n.name != name:
                return False
        if showing is not None and bool(n.showing) != showing:
            return False
        return True
    return node.findChild(pred, recursive=True, retry=False, requireResult=False)


def need(what, node, role=None, name=None, timeout=15, **kw):
    return wait_for(what, lambda: find(node, role, name, **kw), timeout)


def app():
    return wait_for("virt-manager on the accessibility bus",
                    lambda: tree.root.findChild(
                        lambda n: n.roleName == "application" and n.name == "virt-manager",
                        recursive=False, retry=False, requireResult=False), 30)


def frame(title, timeout=20):
    return need("the window '%s'" % title, app(), "frame", title, timeout)


def error_dialogs():
    """the text of every alert or dialog virt-manager shows"""
    found = []
    for w in app().children:
        if w.roleName in ("alert", "dialog") and w.showing:
            texts = [lab.name for lab in w.findChildren(
                lambda n: n.roleName == "label" and n.name)]
            found.append("%s '%s': %s" % (w.roleName, w.name, " | ".join(texts)))
    return found


def no_error_dialog(where):
    errs = error_dialogs()
    if errs:
        raise StepFailed("error dialog after %s: %s" % (where, "; ".join(errs)))


def shot(name, window=None):
    """screenshot of WINDOW (its title) or of the whole screen"""
    path = os.path.join(shotdir, name + ".png")
    cmd = ["import", "-window", window or "root", path]
    try:
        subprocess.run(cmd, timeout=20, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        diag("screenshot: " + path)
    except Exception as e:  # noqa: BLE001
        diag("screenshot %s failed: %s" % (path, e))


def act(node, action="click"):
    """an AT-SPI action: needs no pointer, whatever window is on top"""
    node.doActionNamed(action)


def select_tab(tablist_owner, tabname):
    """select a notebook page through the page tab list's selection"""
    tab = need("the tab '%s'" % tabname, tablist_owner, "page tab", tabname)
    parent = tab.parent
    idx = tab.indexInParent
    parent.querySelection().selectChild(idx)
    wait_for("the tab '%s' selected" % tabname, lambda: tab.selected, 10)
    return tab


def select_row(cell):
    """select the row of a tree view cell through the view's AT-SPI
    selection, not with the pointer (another window may still cover it);
    GTK 3 offers this for tree views of one column only"""
    node = cell
    while node.parent is not None and node.parent.roleName not in ("table", "tree table"):
        node = node.parent
    node.parent.querySelection().selectChild(node.indexInParent)


def text_of(node):
    """a label's text (its accessible name may be the widget's name)"""
    try:
        return node.text or node.name
    except Exception:  # noqa: BLE001
        return node.name


def dom_state():
    return dom.state()[0]


steps = []


def step(desc):
    def reg(fn):
        steps.append((desc, fn))
        return fn
    return reg


MGR = "Virtual Machine Manager"
HOST = None
VMWIN = None
conn_label = "vserver"


@step("the manager shows the connection and the shut off context")
def _manager():
    mgr = frame(MGR, 60)
    need("the connection row", mgr, "table cell", r"^%s( - Not Connected)?$" % conn_label,
         regex=True)
    need("the row of %s, shut off" % domname, mgr, "table cell", "%s\nShutoff" % domname, 30)
    cell = find(mgr, "table cell", r"^%s( - Not Connected)?$" % conn_label, regex=True)
    if "Not Connected" in cell.name:
        raise StepFailed("the connection is not connected")
    no_error_dialog("connecting")
    shot("01-manager", MGR)


@step("Edit > Connection Details: the Overview page shows the URI, CPU and memory usage")
def _overview():
    global HOST
    mgr = frame(MGR)
    act(need("Connection Details", mgr, "menu item", "Connection Details"))
    HOST = "%s - Connection Details" % conn_label
    host = frame(HOST)
    select_tab(host, "Overview")
    need("the URI label", host, "label", uri)
    need("the host CPU usage label", host, "label", r"^\d+ %$", regex=True, showing=True)
    need("the host memory usage label", host, "label", r"MiB of .*GiB", regex=True,
         showing=True)
    no_error_dialog("the Overview page")
    shot("02-host-overview", HOST)


@step("the Virtual Networks page opens without an error dialog")
def _networks():
    host = frame(HOST)
    select_tab(host, "Virtual Networks")
    nets = need("the network list", host, "table", "net-list", showing=True)
    no_error_dialog("the Virtual Networks page")
    rows = [c.name for c in nets.findChildren(
        lambda n: n.roleName == "table cell" and n.name)]
    diag("networks listed: %s" % (", ".join(rows) or "none"))
    err = need("the network page's message label", host, "label", "net-error-label")
    diag("the page says: %s" % text_of(err))
    shot("03-host-networks", HOST)


@step("the Storage page lists the hashify pool and its volumes, no error dialog")
def _storage():
    host = frame(HOST)
    select_tab(host, "Storage")
    pools = need("the pool list", host, "table", "pool-list", showing=True)
    cell = need("the pool %s, type hashify" % poolname, pools, "table cell",
                "%s\nhashify pool" % poolname)
    select_row(cell)
    vols = need("the volume list", host, "table", "vol-list", showing=True)
    need("the template volume", vols, "table cell", "busybox")
    need("the guest volume", vols, "table cell", domname)
    cells = [c.name for c in vols.findChildren(lambda n: n.roleName == "table cell")]
    diag("volume rows: %s" % " | ".join(cells))
    for fmt in ("hashify-template", "hashify-guest"):
        if fmt not in cells:
            raise StepFailed("no volume of format %s: %s" % (fmt, cells))
    path = re.search(r"<path>([^<]*)</path>",
                     conn.storagePoolLookupByName(poolname).XMLDesc()).group(1)
    loc = need("the pool's location label", host, "label", "pool-location")
    wait_for("the location %s (shows '%s')" % (path, text_of(loc)),
             lambda: text_of(loc) == path, 10)
    no_error_dialog("the Storage page")
    shot("04-host-storage", HOST)
    act(need("File > Close", host, "menu item", "Close"))
    wait_for("the details window to close", lambda: not find(app(), "frame", HOST), 10)


@step("File > New Virtual Machine opens (its limits on this URI are documented)")
def _wizard():
    mgr = frame(MGR)
    act(need("New Virtual Machine", mgr, "menu item", "New Virtual Machine"))
    wiz = need("the New VM window", app(), "frame", r"^New VM", 20, regex=True)
    title = wiz.name
    radios = wait_for("the install method choices", lambda: [
        r for r in wiz.findChildren(lambda n: n.roleName == "radio button")
        if r.showing], 10)
    diag("offered: %s" % ", ".join(
        "%s%s" % (r.name.replace("\n", " "), "" if r.sensitive else " (disabled)")
        for r in radios))
    # virt-manager offers its container choices only on lxc:// and
    # openvz:// URIs (virtinst's is_container_only): docs/virt-manager.md
    diag("container choices (Application / Operating system container): %s" % (
        "shown" if [r for r in radios if "container" in r.name.lower()]
        else "not shown on this URI"))
    errlab = find(wiz, "label", r"^Error: ", regex=True, showing=True)
    if errlab:
        diag("the wizard says: %s" % errlab.name)
    shot("05-new-vm-wizard", title)
    act(need("Cancel", wiz, "push button", "Cancel"))
    wait_for("the wizard to close", lambda: not wiz.showing, 10)
    no_error_dialog("the New VM wizard")


@step("Run from the manager starts the context")
def _run():
    mgr = frame(MGR)
    row = need("the row of %s" % domname, mgr, "table cell", "%s\nShutoff" % domname)
    run = need("the Run button", mgr, "push button", "Run")
    # a pointer click: GTK's tree view offers row selection to AT-SPI only
    # with one column, the manager has two.  A window closed just before
    # may still cover the row for a moment: click again until Run is
    # enabled
    for attempt in range(5):
        row.click()
        try:
            wait_for("the Run button to be enabled", lambda: run.sensitive, 2)
            if attempt:
                diag("the row took %d clicks" % (attempt + 1))
            break
        except StepFailed:
            if attempt == 4:
                raise
    act(run)
    wait_for("the context to run (libvirt)", lambda: dom_state() == libvirt.VIR_DOMAIN_RUNNING, 30)
    need("the row saying Running", mgr, "table cell", "%s\nRunning" % domname, 15)
    no_error_dialog("Run")
    shot("06-manager-running", MGR)


@step("Open: the VM window's text console shows the shell prompt and runs a command")
def _console():
    global VMWIN
    mgr = frame(MGR)
    act(need("the Open button", mgr, "push button", "Open"))
    VMWIN = "%s on %s" % (domname, conn_label)
    win = frame(VMWIN)
    term = need("the serial terminal", win, "terminal", "Serial Terminal", 20, showing=True)
    # the prompt the shell printed before the console was opened went to
    # nobody: a new line makes it print one again.  The pointer on the
    # terminal gives it the keyboard (no window manager here).
    term.click()
    term.typeText("\n")
    wait_for("the shell prompt '/ # '", lambda: "/ # " in term.text, 15)
    term.typeText("echo vmm-$((6*7))\n")
    wait_for("the command's output vmm-42", lambda: "\nvmm-42" in term.text, 15)
    diag("console: " + " / ".join(line for line in term.text.splitlines() if line.strip()))
    no_error_dialog("the console")
    shot("07-console", VMWIN)


@step("Details > Performance: the CPU and memory graphs update")
def _perf():
    win = frame(VMWIN)
    term = need("the serial terminal", win, "terminal", "Serial Terminal")
    # load: a busy loop, and 24 MiB of page cache charged to the context
    term.click()
    term.typeText("(while :; do :; done) & dd if=/dev/zero of=/tmp/fill bs=1M count=24; echo filled\n")
    wait_for("dd to finish", lambda: "\nfilled" in term.text, 20)
    act(need("the Details button", win, "radio button", "Details"))
    select_row(need("the Performance row", win, "table cell", "Performance", showing=True))
    cpu_label = need("the CPU usage label", win, "label", r"^\d+ %$", regex=True, showing=True)
    mem_label = need("the memory usage label", win, "label", r"MiB of \d+ MiB$", regex=True,
                     showing=True)
    seen_cpu = set()
    seen_mem = set()

    def cpu_mem():
        c = int(cpu_label.name.split()[0])
        m = int(mem_label.name.split()[0])
        seen_cpu.add(c)
        seen_mem.add(m)
        return c >= 20 and m >= 16 and len(seen_cpu) >= 2
    try:
        wait_for("CPU >= 20 % and memory >= 16 MiB in the graphs' labels", cpu_mem, 30)
    finally:
        diag("CPU labels seen: %s; memory MiB seen: %s" % (sorted(seen_cpu), sorted(seen_mem)))
    no_error_dialog("the Performance page")
    shot("08-performance", VMWIN)


@step("Shut Down from the VM window stops the context")
def _shutdown():
    win = frame(VMWIN)
    act(need("the Shut Down button", win, "push button", "Shut Down"))
    wait_for("the context to be shut off (libvirt)",
             lambda: dom_state() == libvirt.VIR_DOMAIN_SHUTOFF, 40)
    st, reason = dom.state()
    if reason != libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN:
        raise StepFailed("shut off, but the reason is %d, not shutdown" % reason)
    mgr = frame(MGR)
    need("the manager's row saying Shutoff", mgr, "table cell", "%s\nShutoff" % domname, 15)
    no_error_dialog("Shut Down")
    shot("09-shut-off", VMWIN)


@step("File > Quit ends virt-manager")
def _quit():
    mgr = frame(MGR)
    act(need("File > Quit", mgr, "menu item", "Quit"))
    wait_for("virt-manager to leave the accessibility bus",
             lambda: not tree.root.findChild(
                 lambda n: n.roleName == "application" and n.name == "virt-manager",
                 recursive=False, retry=False, requireResult=False), 20)


failed = None
for desc, fn in steps:
    if failed:
        print("not ok - %s # not run: '%s' failed" % (desc, failed), flush=True)
        continue
    t0 = time.monotonic()
    try:
        fn()
        print("ok - %s (%.1f s)" % (desc, time.monotonic() - t0), flush=True)
    except Exception as e:  # noqa: BLE001
        print("not ok - %s" % desc, flush=True)
        diag("%s: %s" % (type(e).__name__, e))
        try:
            for w in app().children:
                diag("window: %s '%s'" % (w.roleName, w.name))
            errs = error_dialogs()
            if errs:
                diag("dialogs: %s" % errs)
        except Exception:  # noqa: BLE001
            pass
        shot("failed-" + fn.__name__.strip("_"))
        failed = desc
sys.exit(1 if failed else 0)
