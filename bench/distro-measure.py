#!/usr/bin/python3
"""Debian 12 systemd guests: this driver vs LXC (dir, overlay clones).

Run by bench/distro, which installs the packages, makes the trees, the
work directory, the private daemon and the LXC base root; see
bench/README.md ("bench/distro") for what is measured and how.

Peers:
  ours     unprivileged (<idmap>) contexts on hashify guest volumes cloned
           from one template (vserver:///system, private instance)
  lxc-dir  lxc-start, privileged, `dir` containers (a cp -a copy each)
  lxc-ovl  lxc-start, privileged, overlay snapshot clones (lxc-copy -s)
"""

import argparse
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time

import libvirt

now = time.monotonic
STEP = 0.05                # s between two polls of the booting guest
BOOT_TIMEOUT = 180.0
STOP_TIMEOUT = 120.0
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
IDBASE, IDSTEP = 300000, 65536
PEERS = ("ours", "lxc-dir", "lxc-ovl")


def log(msg):
    print(msg, flush=True)


def run(cmd, check=True, timeout=600):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stdout.strip()[-400:]))
    return p.stdout


def meminfo():
    d = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            d[k] = int(v.split()[0]) * 1024
    return d


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def mem_reading(drop):
    """MemAvailable and MemFree (bytes), the median of 5 readings 0.3 s
    apart, after sync + drop_caches when DROP."""
    if drop:
        drop_caches()
        time.sleep(1.0)
    av, fr = [], []
    for _ in range(5):
        m = meminfo()
        av.append(m["MemAvailable"])
        fr.append(m["MemFree"])
        time.sleep(0.3)
    return statistics.median(av), statistics.median(fr)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pressure():
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    return line.split()[2]
    except OSError:
        pass
    return "n/a"


def nsrun(pid, *cmd, timeout=10):
    """Run CMD in every namespace of PID (nsenter -a: user, mount, pid,
    cgroup, ...), the same way for every peer.  Returns (rc, output)."""
    try:
        p = subprocess.run(["nsenter", "-t", str(pid), "-a", "--"] + list(cmd),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout.strip()
    except subprocess.TimeoutExpired:
        return 124, ""


def systemd_state(pid):
    return nsrun(pid, "/bin/systemctl", "is-system-running")[1]


def openrc_booted(pid):
    rc, out = nsrun(pid, "/sbin/runlevel")
    if out != "N 2":
        return False
    rc, ps = nsrun(pid, "/bin/ps", "-eo", "args")
    return rc == 0 and not any(l.startswith("/bin/sh /etc/init.d/rc") or
                               l.startswith("/sbin/openrc") for l in ps.splitlines())


def fmt_s(x):
    return "n/a" if x is None else "%.2f s" % x


def fmt_mib(x):
    return "n/a" if x is None else "%.1f MiB" % (x / 1048576.0)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------
# peers

class Ours:
    name = "ours"

    def __init__(self, a):
        self.a = a
        self.conn = libvirt.open(a.uri)
        self.part = a.partition
        self.pool = None
        self.made = []          # (domain name, volume name, pool)

    def virsh(self, *args, timeout=900):
        return run(["virsh", "-q", "-c", self.a.uri] + list(args), timeout=timeout)

    def make_pool(self, name, path):
        with open(os.path.join(self.a.work, name + ".pool.xml"), "w") as f:
            f.write("<pool type='hashify'><name>%s</name><target><path>%s</path>"
                    "</target><hashify><import devices='skip'/></hashify></pool>\n"
                    % (name, path))
        self.virsh("pool-define", f.name)
        self.virsh("pool-build", name)
        self.virsh("pool-start", name)

    def upload(self, pool, vol, tarball):
        path = os.path.join(self.a.work, "vol-%s.xml" % vol)
        with open(path, "w") as f:
            f.write("<volume><name>%s</name></volume>\n" % vol)
        self.virsh("vol-create", pool, path)
        t0 = now()
        self.virsh("vol-upload", "--pool", pool, vol, tarball, timeout=1800)
        return now() - t0

    def define(self, dom, pool, tpl, i, init=("/sbin/init",)):
        """A guest volume cloned from TPL and a persistent domain on it,
        ids 300000 + i*65536; INIT: init and its arguments."""
        vol = "g-" + dom
        self.virsh("vol-clone", "--pool", pool, tpl, vol)
        t = IDBASE + i * IDSTEP
        xml = ("""<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>512</memory>
  <os><type>exe</type><init>""" + init[0] + "</init>" + "".join(
            "<initarg>%s</initarg>" % x for x in init[1:]) + """</os>
  <idmap>
    <uid start='0' target='%d' count='65536'/>
    <gid start='0' target='%d' count='65536'/>
  </idmap>
  <features><privnet/></features>
  <devices>
    <filesystem type='volume'><source pool='%s' volume='%s'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>""") % (dom, t, t, pool, vol)
        self.conn.defineXML(xml)
        self.made.append((dom, vol, pool))
        return dom

    def start(self, dom):
        self.conn.lookupByName(dom).create()

    def pid(self, dom):
        d = self.conn.lookupByName(dom)
        return d.ID() if d.isActive() else None

    def running(self, dom):
        try:
            return self.conn.lookupByName(dom).isActive()
        except libvirt.libvirtError:
            return False

    def shutdown(self, dom):
        self.conn.lookupByName(dom).shutdown()

    def kill(self, dom):
        d = self.conn.lookupByName(dom)
        if d.isActive():
            d.destroy()

    def shutdown_reason(self, dom):
        st, reason = self.conn.lookupByName(dom).state()
        return "shutdown" if (st == libvirt.VIR_DOMAIN_SHUTOFF and
                              reason == libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN) else \
            "state %d reason %d" % (st, reason)

    def cgroup(self, dom):
        return "/sys/fs/cgroup/memory/%s/%s.libvirt-vserver" % (self.part, dom)

    def remove(self, dom):
        for d, vol, pool in list(self.made):
            if d != dom:
                continue
            try:
                self.kill(d)
                self.conn.lookupByName(d).undefine()
            except libvirt.libvirtError:
                pass
            run(["virsh", "-q", "-c", self.a.uri, "vol-delete", "--pool", pool, vol],
                check=False)
            self.made.remove((d, vol, pool))


class Lxc:
    def __init__(self, a, kind):
        self.a = a
        self.kind = kind                      # dir | ovl
        self.name = "lxc-" + kind
        self.made = []
        self.helper = os.path.join(a.bench, "distro-lxc.sh")

    def define(self, dom, _pool=None, _tpl=None, _i=0):
        if self.kind == "dir":
            run([self.helper, "dir", self.a.lxcpath, dom, self.a.lxc_root])
        else:
            run([self.helper, "ovl", self.a.lxcpath, dom, "vbase"])
        self.made.append(dom)
        return dom

    def start(self, dom):
        run(["lxc-start", "-d", "-P", self.a.lxcpath, "-n", dom])

    def pid(self, dom):
        out = run(["lxc-info", "-P", self.a.lxcpath, "-n", dom, "-p", "-H"],
                  check=False).strip()
        return int(out) if out.isdigit() else None

    def running(self, dom):
        out = run(["lxc-info", "-P", self.a.lxcpath, "-n", dom, "-s", "-H"],
                  check=False).strip()
        return out not in ("STOPPED", "")

    def shutdown(self, dom):
        # lxc-stop without -k: lxc.signal.halt (SIGRTMIN+3) to init, then
        # waits for it to exit (its default timeout 60 s, then SIGKILL)
        run(["lxc-stop", "-P", self.a.lxcpath, "-n", dom, "-t", str(int(STOP_TIMEOUT))],
            timeout=STOP_TIMEOUT + 30)

    def kill(self, dom):
        if self.running(dom):
            run(["lxc-stop", "-k", "-P", self.a.lxcpath, "-n", dom], check=False)

    def shutdown_reason(self, dom):
        try:
            with open(os.path.join(self.a.lxcpath, dom + ".log")) as f:
                if "SIGKILL" in f.read():
                    return "killed"
        except OSError:
            pass
        return "shutdown"

    def cgroup(self, dom):
        return "/sys/fs/cgroup/memory/lxc.payload.%s" % dom

    def remove(self, dom):
        if dom not in self.made:
            return
        self.kill(dom)
        run(["lxc-destroy", "-P", self.a.lxcpath, "-n", dom], check=False)
        run([self.helper, "cgclean", self.a.lxcpath, dom], check=False)
        p = os.path.join(self.a.lxcpath, dom)
        if os.path.isdir(p):
            run(["rm", "-rf", "--one-file-system", p], check=False)
        self.made.remove(dom)


def cg_stat(path):
    """memory.usage_in_bytes and total_rss / total_cache of a v1 group."""
    r = {"usage": None, "rss": None, "cache": None}
    try:
        with open(path + "/memory.usage_in_bytes") as f:
            r["usage"] = int(f.read())
        with open(path + "/memory.stat") as f:
            for line in f:
                k, v = line.split()
                if k == "total_rss":
                    r["rss"] = int(v)
                elif k == "total_cache":
                    r["cache"] = int(v)
    except OSError:
        pass
    return r


# --------------------------------------------------------------------------
# phases

def wait_gone(peer, dom, timeout):
    t_end = now() + timeout
    while now() < t_end:
        if not peer.running(dom):
            return True
        time.sleep(0.02)
    return False


def boot_once(peer, dom):
    """Start DOM; poll `systemctl is-system-running` inside every 50 ms.
    Returns (seconds to running, seconds the start call took, state)."""
    t0 = now()
    peer.start(dom)
    t_call = now() - t0
    state, pid = "", None
    while now() - t0 < BOOT_TIMEOUT:
        if pid is None:
            pid = peer.pid(dom)
        if pid:
            state = systemd_state(pid)
            if state == "running":
                return now() - t0, t_call, state
            if state == "degraded":
                return None, t_call, state
        time.sleep(STEP)
    return None, t_call, state or "timeout"


def shutdown_once(peer, dom):
    t0 = now()
    peer.shutdown(dom)
    ok = wait_gone(peer, dom, STOP_TIMEOUT)
    return (now() - t0 if ok else None), peer.shutdown_reason(dom)


def phase_boot(a, peers, res):
    log("\n== boot to running and clean shutdown, %d cycles per peer, interleaved"
        % a.boot_runs)
    doms = {}
    for p in peers:
        doms[p.name] = p.define("boot-" + p.name.replace("-", ""), "dbp", "bookworm-systemd", 0)
    for p in peers:
        res["boot"][p.name] = []
        res["shutdown"][p.name] = []
    for r in range(a.boot_runs):
        for p in peers:
            dom = doms[p.name]
            drop_caches()      # every peer's cycle starts with a cold page cache
            try:
                t, tc, st = boot_once(p, dom)
            except Exception as e:
                t, tc, st = None, None, "start failed: %s" % e
            failed = ""
            if t is not None:
                pid = p.pid(dom)
                failed = nsrun(pid, "/bin/systemctl", "--failed", "--no-legend",
                               "--plain")[1] if pid else ""
            try:
                ts, why = shutdown_once(p, dom) if p.running(dom) else (None, "not running")
            except Exception as e:
                ts, why = None, "shutdown failed: %s" % e
            if ts is None:
                p.kill(dom)
                wait_gone(p, dom, 30)
            log("  run %d %-8s start->running %s (start call %s, state %s%s), shutdown %s (%s)"
                % (r + 1, p.name, fmt_s(t), fmt_s(tc), st,
                   ", failed units: " + failed.replace("\n", "; ") if failed else "",
                   fmt_s(ts), why))
            res["boot"][p.name].append(t)
            res["shutdown"][p.name].append(ts if why == "shutdown" else None)
    for p in peers:
        p.remove(doms[p.name])


SD_PROPS = ("UserspaceTimestampMonotonic", "SecurityStartTimestampMonotonic",
            "SecurityFinishTimestampMonotonic", "GeneratorsStartTimestampMonotonic",
            "GeneratorsFinishTimestampMonotonic", "UnitsLoadStartTimestampMonotonic",
            "UnitsLoadFinishTimestampMonotonic", "FinishTimestampMonotonic")


def clk_offsets():
    """CLOCK_BOOTTIME - CLOCK_MONOTONIC and CLOCK_REALTIME - CLOCK_MONOTONIC
    (s): /proc/PID/stat start times count on the first, the shim's log on
    the second, time.monotonic() and systemd's *TimestampMonotonic on
    CLOCK_MONOTONIC (the guests have no time namespace)."""
    m0 = time.clock_gettime(time.CLOCK_MONOTONIC)
    b = time.clock_gettime(time.CLOCK_BOOTTIME)
    r = time.clock_gettime(time.CLOCK_REALTIME)
    m1 = time.clock_gettime(time.CLOCK_MONOTONIC)
    m = (m0 + m1) / 2
    return b - m, r - m


def proc_stat(pid):
    """(ppid, start time on CLOCK_BOOTTIME in s, 10 ms resolution)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fl = s[s.rindex(")") + 2:].split()
    return int(fl[1]), int(fl[19]) / os.sysconf("SC_CLK_TCK")


def shim_started_at(a, dom, off_real):
    """CLOCK_MONOTONIC of the shim's last "context ... started" line (its
    child's init has been exec'ed: the error pipe closed on exec)."""
    vs_dir = os.path.join(a.work, os.path.basename(a.work))
    t = None
    try:
        with open(os.path.join(vs_dir, "var/log/libvirt/vserver", dom + ".log")) as f:
            for line in f:
                if "' started, init pid" in line:
                    t = float(line.split(":", 1)[0]) - off_real
    except (OSError, ValueError):
        pass
    return t


def phase_bootphases(a, peers, res):
    """Where start -> running goes: for each peer, cold-cache boots as in
    the boot phase, with the times of the supervisor's birth (the shim;
    LXC's monitor: init's parent), init's clone, the shim's "started"
    (ours: init exec'ed), systemd's own timestamps (start of its main(),
    generators, units loaded, startup finished) and the poll seeing
    `running`, all on CLOCK_MONOTONIC relative to the start call."""
    log("\n== boot phases, %d cycles per peer, interleaved (cold page cache)" % a.boot_runs)
    doms = {}
    for p in peers:
        doms[p.name] = p.define("bph-" + p.name.replace("-", ""), "dbp", "bookworm-systemd", 0)
    out = {p.name: [] for p in peers}
    for r in range(a.boot_runs):
        for p in peers:
            dom = doms[p.name]
            drop_caches()
            off_boot, off_real = clk_offsets()
            t0 = now()
            p.start(dom)
            t_call = now() - t0
            ph = {"call": t_call}
            pid, state = None, ""
            while now() - t0 < BOOT_TIMEOUT:
                if pid is None:
                    pid = p.pid(dom)
                    if pid:
                        try:
                            ppid, st_init = proc_stat(pid)
                            _, st_sup = proc_stat(ppid)
                            ph["init_clone"] = st_init - off_boot - t0
                            ph["supervisor"] = st_sup - off_boot - t0
                        except (OSError, ValueError):
                            pass
                if pid:
                    state = systemd_state(pid)
                    if state in ("running", "degraded"):
                        break
                time.sleep(STEP)
            ph["poll_running"] = now() - t0 if state == "running" else None
            ph["state"] = state
            if pid and state in ("running", "degraded"):
                rc, o = nsrun(pid, "/bin/systemctl", "show", *["-p" + k for k in SD_PROPS])
                for line in o.splitlines():
                    k, _, v = line.partition("=")
                    if k in SD_PROPS and v.isdigit() and int(v):
                        ph[k.replace("TimestampMonotonic", "")] = int(v) / 1e6 - t0
                if r == a.boot_runs - 1:
                    for cmd in (["/usr/bin/systemd-analyze"],
                                ["/usr/bin/systemd-analyze", "blame", "--no-pager"],
                                ["/usr/bin/systemd-analyze", "critical-chain", "--no-pager"]):
                        o = nsrun(pid, *cmd, timeout=30)[1]
                        log("  %s, last cycle, %s:\n    %s" % (p.name, " ".join(cmd[1:]) or
                                                            "systemd-analyze",
                                                            "\n    ".join(o.splitlines()[:14])))
            if p.name == "ours":
                t = shim_started_at(a, dom, off_real)
                if t is not None:
                    ph["shim_started"] = t - t0
            try:
                ts, why = shutdown_once(p, dom) if p.running(dom) else (None, "not running")
            except Exception as e:
                ts, why = None, str(e)
            if ts is None:
                p.kill(dom)
                wait_gone(p, dom, 30)
            out[p.name].append(ph)
            log("  run %d %-8s %s" % (r + 1, p.name, ", ".join(
                "%s %s" % (k, "%.3f" % v if isinstance(v, float) else v)
                for k, v in sorted(ph.items(), key=lambda kv: (isinstance(kv[1], str),
                                                               kv[1] if isinstance(kv[1], float)
                                                               else 0)))))
    # one more cycle of ours, not counted: strace -f -tt on the daemon
    # from before the start call until init's execve (then strace
    # detaches), for the steps daemon -> shim -> mounts -> clone -> exec.
    # strace stops the tracees at every syscall: the intervals stretch.
    ours = [p for p in peers if p.name == "ours"]
    if ours:
        p = ours[0]
        dom = doms[p.name]
        vs_dir = os.path.join(a.work, os.path.basename(a.work))
        with open(os.path.join(vs_dir, "run", "virtvserverd.pid")) as f:
            dpid = int(f.read().split()[0])
        trace = os.path.join(a.work, "start.strace")
        drop_caches()
        st = subprocess.Popen(["strace", "-f", "-tt", "-qq", "-s", "96", "-o", trace, "-e",
                               "trace=clone,clone3,fork,vfork,execve,exit_group,unshare,"
                               "setns,mount,fsopen,fsconfig,fsmount,move_mount,open_tree,"
                               "mount_setattr,pivot_root,sethostname,close_range,wait4",
                               "-p", str(dpid)], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        off_boot, off_real = clk_offsets()
        t0 = now()
        t0_real = t0 + off_real
        p.start(dom)
        t_end = now() + 60
        while now() < t_end:
            try:
                with open(trace) as f:
                    if any('execve("/sbin/init"' in l for l in f):
                        break
            except OSError:
                pass
            time.sleep(0.05)
        st.send_signal(signal.SIGINT)
        st.wait()
        pid = p.pid(dom)
        boot_once_wait = 0.0
        while pid and now() - t0 < BOOT_TIMEOUT:
            if systemd_state(pid) in ("running", "degraded"):
                boot_once_wait = now() - t0
                break
            time.sleep(STEP)
        try:
            shutdown_once(p, dom)
        except Exception:
            p.kill(dom)
        wait_gone(p, dom, 30)
        log("\n  ours under strace -f (daemon, shim, child until init's execve), seconds "
            "after the start call (running after %.2f s, strace detached at exec):"
            % boot_once_wait)
        lines = []
        with open(trace) as f:
            for l in f:
                fl = l.split(None, 2)
                if len(fl) < 3:
                    continue
                h, m, sec = fl[1].split(":")
                # -tt is the local wall clock of today
                tm = time.localtime(t0_real)
                day0 = time.mktime((tm.tm_year, tm.tm_mon, tm.tm_mday, 0, 0, 0, 0, 0, -1))
                t = day0 + int(h) * 3600 + int(m) * 60 + float(sec) - t0_real
                if t < -0.05:
                    continue
                lines.append("    %+.4f %s %s" % (t, fl[0], fl[2].rstrip()[:150]))
        for l in lines[:120]:
            log(l)
        if len(lines) > 120:
            log("    ... %d more lines" % (len(lines) - 120))
        res["bootphases_strace"] = lines

    for p in peers:
        p.remove(doms[p.name])
    res["bootphases"] = out
    keys = [("call", "start call returned"),
            ("supervisor", "supervisor born (shim / lxc monitor; 10 ms ticks)"),
            ("init_clone", "init cloned (10 ms ticks)"),
            ("shim_started", "shim: init exec'ed (log, ms)"),
            ("Userspace", "systemd main() started"),
            ("SecurityFinish", "systemd security setup done"),
            ("GeneratorsStart", "systemd generators start"),
            ("GeneratorsFinish", "systemd generators done"),
            ("UnitsLoadFinish", "systemd units loaded"),
            ("Finish", "systemd startup finished"),
            ("poll_running", "poll saw `running`")]
    log("\n  boot phases, median over %d cycles, seconds after the start call:" % a.boot_runs)
    log("  | phase | " + " | ".join(p.name for p in peers) + " |")
    log("  |---|" + "---|" * len(peers))
    for k, lab in keys:
        vals = []
        for p in peers:
            m = med([ph.get(k) for ph in out[p.name]])
            vals.append("-" if m is None else "%.3f" % m)
        log("  | %s | %s |" % (lab, " | ".join(vals)))


def start_many(a, peer, doms, settled, label):
    """Start DOMS one after the other, wait until every one has settled
    (SETTLED(pid)).  Returns (seconds, failures)."""
    t0 = now()
    bad = []
    for d in doms:
        try:
            peer.start(d)
        except Exception as e:
            bad.append("%s: %s" % (d, str(e)[-200:]))
    t_calls = now() - t0
    pending = [d for d in doms if not any(b.startswith(d + ":") for b in bad)]
    t_end = now() + 120 + 6 * len(doms)
    while pending and now() < t_end:
        nxt = []
        for d in pending:
            pid = peer.pid(d)
            if not pid or not settled(pid):
                nxt.append(d)
        pending = nxt
        if pending:
            time.sleep(0.5)
    for d in pending:
        pid = peer.pid(d)
        bad.append("%s: not settled (%s)" % (d, systemd_state(pid) if pid else "no pid"))
    return now() - t0, t_calls, bad


def sysd_running(pid):
    return systemd_state(pid) in ("running", "degraded")


def stop_all(peer, doms):
    for d in doms:
        try:
            peer.kill(d)
        except Exception:
            pass
    for d in doms:
        wait_gone(peer, d, 30)


def measure_set(a, starts, label, extra=None):
    """STARTS: list of (peer, [doms], settled).  Baseline, start all,
    settle, readings, stop all.  Returns a dict of figures; EXTRA(), when
    given, runs after the readings (contexts still up, page cache just
    dropped) and its dict goes in as "extra"."""
    n = sum(len(ds) for _, ds, _ in starts)
    base_av, base_fr = mem_reading(True)
    t_all, t_calls, bad = 0.0, 0.0, []
    for peer, doms, settled in starts:
        t, tc, b = start_many(a, peer, doms, settled, label)
        t_all += t
        t_calls += tc
        bad += b
    time.sleep(a.settle)
    av_nodrop, fr_nodrop = mem_reading(False)
    av, fr = mem_reading(True)
    cg = [cg_stat(peer.cgroup(d)) for peer, doms, _ in starts for d in doms]
    ext = extra() if extra else None
    for peer, doms, _ in starts:
        stop_all(peer, doms)
    # the baseline is the mean of the readings before the first start and
    # after the last stop: a linear drift of the host's memory (other work)
    # cancels out
    end_av, end_fr = mem_reading(True)
    base_av, base_fr = (base_av + end_av) / 2, (base_fr + end_fr) / 2
    r = {
        "n": n, "start_wall": t_all, "start_calls": t_calls, "failures": bad,
        "drift_memavail": end_av - (2 * base_av - end_av),
        "memavail_drop": (base_av - av) / n,
        "memavail_drop_nodrop": (base_av - av_nodrop) / n,
        "memfree_drop": (base_fr - fr) / n,
        "cg_usage_sum": sum(c["usage"] or 0 for c in cg) / n,
        "cg_usage_median": med([c["usage"] for c in cg]),
        "cg_rss": sum(c["rss"] or 0 for c in cg) / n,
        "cg_cache": sum(c["cache"] or 0 for c in cg) / n,
        "load": loadavg(),
    }
    if ext is not None:
        r["extra"] = ext
    log("  %-24s N=%-3d started+settled in %.1f s (start calls %.1f s); baseline drift "
        "%s; per context: MemAvailable drop %s "
        "(without drop_caches %s), MemFree drop %s, cgroup usage %s (median %s; rss %s, "
        "cache %s)%s; load %s"
        % (label, n, t_all, t_calls, fmt_mib(r["drift_memavail"]), fmt_mib(r["memavail_drop"]), fmt_mib(r["memavail_drop_nodrop"]),
           fmt_mib(r["memfree_drop"]), fmt_mib(r["cg_usage_sum"]),
           fmt_mib(r["cg_usage_median"]), fmt_mib(r["cg_rss"]), fmt_mib(r["cg_cache"]),
           "; FAILED: " + " | ".join(bad[:3]) if bad else "", r["load"]))
    return r


def phase_memory(a, peers, res, counts, doms):
    """Memory per idle context for each N of COUNTS; DOMS (per peer) grows
    as needed and is kept for the next counts."""
    for n in counts:
        if a.deadline and time.time() > a.deadline:
            log("  N=%d skipped: past the deadline (--deadline)" % n)
            res["skipped"].append("memory N=%d" % n)
            continue
        log("\n== memory per idle context, N=%d (peers one after the other)" % n)
        for p in peers:
            have = doms.setdefault(p.name, [])
            t0 = now()
            k = len(have)
            while len(have) < n:
                i = len(have)
                have.append(p.define("m%s%03d" % (p.name.replace("-", ""), i), "dbp",
                                     "bookworm-systemd", i))
            if len(have) > k:
                log("  %-8s %d more containers made in %.1f s (%s)"
                    % (p.name, len(have) - k, now() - t0,
                       {"ours": "virsh vol-clone + define", "lxc-dir": "cp -a of the tree each",
                        "lxc-ovl": "lxc-copy -s"}[p.name]))
        for p in peers:
            t0 = now()
            r = measure_set(a, [(p, doms[p.name][:n], sysd_running)], p.name)
            r["phase_wall"] = now() - t0
            res["memory"].setdefault(str(n), {})[p.name] = r


def phase_startscale(a, peers, res, n):
    """How the start call grows with the contexts already running: N
    containers of each peer (ours, LXC overlay clones) started one after
    the other, each call timed; once all settled, one of them stopped and
    started again 3 times with N-1 idle beside it (call and running)."""
    log("\n== start calls with 0..%d contexts running (peers one after the other)" % (n - 1))
    out = {}
    for p in peers:
        doms = [p.define("s%s%03d" % (p.name.replace("-", ""), i), "dbp",
                         "bookworm-systemd", i) for i in range(n)]
        drop_caches()
        calls = []
        t0 = now()
        for d in doms:
            t = now()
            p.start(d)
            calls.append(now() - t)
        t_calls = now() - t0
        pending = list(doms)
        t_end = now() + 120 + 6 * n
        while pending and now() < t_end:
            pending = [d for d in pending if not (p.pid(d) and sysd_running(p.pid(d)))]
            if pending:
                time.sleep(0.5)
        t_settled = now() - t0
        time.sleep(a.settle)
        idle = []
        for _ in range(3):
            d = doms[0]
            p.kill(d)
            wait_gone(p, d, 30)
            t, tc, st = boot_once(p, d)
            idle.append((tc, t, st))
        stop_all(p, doms)
        q = max(1, n // 5)
        groups = [calls[i:i + q] for i in range(0, n, q)]
        log("  %-8s %d starts: calls %.1f s, all settled after %.1f s (%d not); start call "
            "by position (median per fifth): %s; load %s"
            % (p.name, n, t_calls, t_settled, len(pending),
               ", ".join("%d-%d: %.2f s" % (i * q, i * q + len(g) - 1, statistics.median(g))
                         for i, g in enumerate(groups)), loadavg()))
        log("  %-8s with %d idle beside it: start call %s, start -> running %s"
            % (p.name, n - 1, ", ".join(fmt_s(x[0]) for x in idle),
               ", ".join(fmt_s(x[1]) + ("" if x[2] == "running" else " (%s)" % x[2])
                         for x in idle)))
        out[p.name] = {"calls": calls, "t_calls": t_calls, "t_settled": t_settled,
                       "not_settled": len(pending), "idle_restart": idle}
        for d in doms:
            p.remove(d)
    res["startscale"] = out


def tree_files(root):
    """{relative path: (inode, size)} of the regular files below ROOT."""
    r = {}
    for d, _, fs in os.walk(root):
        for fn in fs:
            pth = os.path.join(d, fn)
            try:
                st = os.lstat(pth)
            except OSError:
                continue
            if (st.st_mode & 0o170000) == 0o100000 and st.st_size:
                r[os.path.relpath(pth, root)] = (st.st_ino, st.st_size)
    return r


def resident(paths):
    """Bytes of PATHS in the page cache (fincore, util-linux: mincore(2))."""
    total = 0
    paths = list(paths)
    for i in range(0, len(paths), 500):
        p = subprocess.run(["fincore", "-J", "-b", "-o", "RES"] + paths[i:i + 500],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            total += sum(int(x["res"]) for x in json.loads(p.stdout)["fincore"])
        except (ValueError, KeyError):
            pass
    return total


def phase_mix(a, ours, res):
    """10+10 contexts of two templates in ONE pool vs 20 of one template,
    and vs 10+10 with the second template in a pool of its own."""
    m = a.mix
    log("\n== two templates in one hashify pool: %d systemd + %d openrc contexts" % (m, m))
    if a.deadline and time.time() > a.deadline:
        log("  skipped: past the deadline")
        res["skipped"].append("two templates")
        return
    t = ours.upload("dbp", "bookworm-openrc", a.tpl_openrc)
    log("  bookworm-openrc uploaded into pool dbp (next to bookworm-systemd) in %.1f s" % t)
    ours.make_pool("dbp2", os.path.join(a.work, "pool2"))
    t = ours.upload("dbp2", "bookworm-openrc", a.tpl_openrc)
    log("  bookworm-openrc uploaded into a second pool dbp2 (control) in %.1f s" % t)
    tpl_s = os.path.join(a.pool_dir, "bookworm-systemd", "tree") + LIBC
    tpl_o = os.path.join(a.pool_dir, "bookworm-openrc", "tree") + LIBC
    tpl_o2 = os.path.join(a.work, "pool2", "bookworm-openrc", "tree") + LIBC
    ino = {}
    for k, pth in (("template systemd (dbp)", tpl_s), ("template openrc (dbp)", tpl_o),
                   ("template openrc (dbp2)", tpl_o2)):
        try:
            ino[k] = os.stat(pth).st_ino
        except OSError as e:
            ino[k] = "n/a (%s)" % e.strerror
    sd = [ours.define("xs%02d" % i, "dbp", "bookworm-systemd", 200 + i) for i in range(2 * m)]
    orc = [ours.define("xo%02d" % i, "dbp", "bookworm-openrc", 300 + i) for i in range(m)]
    orc2 = [ours.define("xp%02d" % i, "dbp2", "bookworm-openrc", 400 + i) for i in range(m)]
    mix = {}
    # inode check with one guest of each running
    for d in (sd[0], orc[0], orc2[0]):
        ours.start(d)
    t_end = now() + 120
    got = {}
    while now() < t_end and len(got) < 3:
        for d in (sd[0], orc[0], orc2[0]):
            pid = ours.pid(d)
            if pid and d not in got:
                rc, out = nsrun(pid, "/usr/bin/stat", "-L", "-c", "%i %d", LIBC)
                if rc == 0 and out:
                    got[d] = out
        time.sleep(0.2)
    stop_all(ours, [sd[0], orc[0], orc2[0]])
    ino["guest %s (systemd, dbp)" % sd[0]] = got.get(sd[0], "n/a")
    ino["guest %s (openrc, dbp)" % orc[0]] = got.get(orc[0], "n/a")
    ino["guest %s (openrc, dbp2)" % orc2[0]] = got.get(orc2[0], "n/a")
    mix["inodes"] = ino
    for k, v in ino.items():
        log("  %s inode of %s: %s" % ("stat -L", LIBC + " in " + k, v))
    # the files the two templates have in common: in the one pool the
    # OpenRC template's file is the systemd template's inode; the same
    # relative path in the second pool is a copy of its own
    ts = os.path.join(a.pool_dir, "bookworm-systemd", "tree")
    to = os.path.join(a.pool_dir, "bookworm-openrc", "tree")
    to2 = os.path.join(a.work, "pool2", "bookworm-openrc", "tree")
    fs, fo, fo2 = tree_files(ts), tree_files(to), tree_files(to2)
    sino = {v[0] for v in fs.values()}
    common = sorted(r for r, v in fo.items() if v[0] in sino)
    common_ino = {fo[r][0]: os.path.join(to, r) for r in common}
    c_bytes = sum(fo[r][1] for r in common)
    c2 = [os.path.join(to2, r) for r in common if r in fo2]
    c2_shared = sum(1 for r in common if r in fo2 and fo2[r][0] in sino)
    mix["common_files"] = {"systemd_files": len(fs), "openrc_files": len(fo),
                           "common": len(common), "common_inodes": len(common_ino),
                           "common_bytes": c_bytes, "second_pool_sharing": c2_shared}
    log("  files: systemd template %d, OpenRC template %d, of which %d (%d inodes, %s) "
        "are the systemd template's own inodes in pool dbp; in pool dbp2 %d of them are"
        % (len(fs), len(fo), len(common), len(common_ino), fmt_mib(c_bytes), c2_shared))

    def res_one():
        return {"common_resident": resident(common_ino.values())}

    def res_two():
        return {"common_resident": resident(common_ino.values()),
                "second_copy_resident": resident(c2)}
    mix["one_template"] = measure_set(a, [(ours, sd, sysd_running)],
                                      "%d systemd (one template)" % (2 * m), res_one)
    mix["two_templates_one_pool"] = measure_set(
        a, [(ours, sd[:m], sysd_running), (ours, orc, openrc_booted)],
        "%d+%d, one pool" % (m, m), res_one)
    mix["two_templates_two_pools"] = measure_set(
        a, [(ours, sd[:m], sysd_running), (ours, orc2, openrc_booted)],
        "%d+%d, two pools" % (m, m), res_two)
    for k in ("one_template", "two_templates_one_pool", "two_templates_two_pools"):
        e = mix[k].get("extra", {})
        log("  %-24s page cache (fincore, after drop_caches) of the %d common files: %s "
            "in the one copy (pool dbp)%s"
            % (k, len(common), fmt_mib(e.get("common_resident")),
               "; their second copy (pool dbp2's OpenRC template): %s"
               % fmt_mib(e.get("second_copy_resident")) if "second_copy_resident" in e else ""))
    res["mix"] = mix
    for d in sd + orc + orc2:
        ours.remove(d)


# --------------------------------------------------------------------------
# report

def ratio(x, y):
    return None if (x is None or not y) else x / y


def report(a, res):
    log("\n== results")
    log("host: %s; %s CPUs; load average at start %s, at end %s; CPU pressure (some avg60) "
        "at start %s, at end %s" % (res["cpu"], os.cpu_count(), res["load_start"],
                                    res.setdefault("load_end", loadavg()), res["psi_start"],
                                    res.setdefault("psi_end", pressure())))
    log("guest: Debian 12 (bookworm) minbase + systemd-sysv, dbus, iproute2, procps, "
        "openssh-server, cron (tests/distro/mkguest.sh), the same tarball for every peer")
    log("")
    log("| | ours (unprivileged, hashify clones) | LXC dir | LXC overlay clones |")
    log("|---|---|---|---|")

    def row(label, vals):
        log("| %s | %s |" % (label, " | ".join(vals)))

    def stat3(xs):
        ok = [x for x in xs if x is not None]
        if not ok:
            return "n/a"
        return "%.2f s (%.2f-%.2f%s)" % (statistics.median(ok), min(ok), max(ok),
                                          "" if len(ok) == len(xs) else
                                          ", %d of %d failed" % (len(xs) - len(ok), len(xs)))
    row("start -> running, median (min-max)", [stat3(res["boot"].get(p, [])) for p in PEERS])
    row("clean shutdown, median (min-max)", [stat3(res["shutdown"].get(p, [])) for p in PEERS])
    for n in a.counts:
        m = res["memory"].get(str(n))
        if not m:
            row("N=%d" % n, ["not run"] * 3)
            continue
        g = lambda p, k: m[p][k] if p in m else None
        row("N=%d MemAvailable drop / N" % n, [fmt_mib(g(p, "memavail_drop")) for p in PEERS])
        row("N=%d MemFree drop / N" % n, [fmt_mib(g(p, "memfree_drop")) for p in PEERS])
        row("N=%d cgroup usage_in_bytes, sum / N" % n, [fmt_mib(g(p, "cg_usage_sum")) for p in PEERS])
        row("N=%d (phase wall time)" % n, [fmt_s(g(p, "phase_wall")) for p in PEERS])
    log("")
    log("MemAvailable and MemFree are read (median of 5) after sync + drop_caches, before "
        "the first start and %g s after the last context settled; MemFree keeps the page "
        "cache the contexts hold (MemAvailable counts it as available)." % a.settle)

    # goals
    log("\nGoals:")
    b = {p: med(res["boot"].get(p, [])) for p in PEERS}
    for lx in ("lxc-dir", "lxc-ovl"):
        r = ratio(b["ours"], b[lx])
        log("  boot <= %s's: %s" % (lx, "n/a" if r is None else "%.2fx, %s"
                                     % (r, "met" if r <= 1.0 else "NOT met")))
    top = str(max(int(k) for k in res["memory"])) if res["memory"] else None
    if top:
        m = res["memory"][top]
        for key, lab in (("memavail_drop", "MemAvailable drop"),
                         ("memfree_drop", "MemFree drop"),
                         ("cg_usage_sum", "cgroup usage")):
            for lx, lim in (("lxc-dir", 0.6), ("lxc-ovl", 1.0)):
                r = ratio(m.get("ours", {}).get(key), m.get(lx, {}).get(key))
                log("  memory per idle context at N=%s (%s) <= %.1fx %s: %s%s"
                    % (top, lab, lim, lx, "n/a" if r is None else "%.2fx, %s"
                       % (r, "met" if r <= lim else "NOT met"),
                       "" if top == "100" else " (N=100 not run)"))
    mix = res.get("mix")
    if mix:
        log("\nTwo templates in one pool (ours only):")
        for k, v in mix["inodes"].items():
            two = isinstance(v, str) and len(v.split()) == 2 and v.split()[0].isdigit()
            log("  libc.so.6 %s: inode %s" % (k, v.split()[0] if two else v) +
                (" (device %s)" % v.split()[1] if two else ""))
        cf = mix.get("common_files")
        if cf:
            log("  files common to the two templates (same inode in pool dbp): %d of the "
                "OpenRC template's %d, %s on disk; shared with the second pool's copy: %d"
                % (cf["common"], cf["openrc_files"], fmt_mib(cf["common_bytes"]),
                   cf["second_pool_sharing"]))
        for k in ("one_template", "two_templates_one_pool", "two_templates_two_pools"):
            r = mix[k]
            e = r.get("extra", {})
            log("  %-24s N=%d: MemAvailable drop %s, MemFree drop %s, cgroup usage %s "
                "(cache %s) per context; common files resident: %s%s"
                % (k, r["n"], fmt_mib(r["memavail_drop"]), fmt_mib(r["memfree_drop"]),
                   fmt_mib(r["cg_usage_sum"]), fmt_mib(r["cg_cache"]),
                   fmt_mib(e.get("common_resident")),
                   " + second copy %s" % fmt_mib(e["second_copy_resident"])
                   if "second_copy_resident" in e else ""))
    if res["skipped"]:
        log("\nNot run: " + ", ".join(res["skipped"]))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        # print the report again from a --json file
        with open(sys.argv[2]) as f:
            res = json.load(f)
        a = argparse.Namespace(counts=res.get("counts") or sorted(int(k) for k in res["memory"]),
                               settle=res.get("settle", 10.0))
        report(a, res)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--uri", required=True)
    ap.add_argument("--partition", required=True)
    ap.add_argument("--pool-dir", required=True)
    ap.add_argument("--tpl-systemd", required=True)
    ap.add_argument("--tpl-openrc", default="")
    ap.add_argument("--lxcpath", required=True)
    ap.add_argument("--lxc-root", required=True)
    ap.add_argument("--counts", default="1,20,100")
    ap.add_argument("--boot-runs", type=int, default=5)
    ap.add_argument("--mix", type=int, default=10)
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--phases", default="boot,memory,mix")
    ap.add_argument("--deadline", type=float, default=0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    a.counts = [int(x) for x in a.counts.split(",") if x]
    phases = a.phases.split(",")

    # SIGTERM: unwind (finally below), the shell's trap cleans up the rest
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cpu = next((l.split(":", 1)[1].strip() for l in run(["lscpu"]).splitlines()
                if l.startswith("Model name")), "unknown")
    res = {"cpu": cpu, "load_start": loadavg(), "psi_start": pressure(),
           "boot": {}, "shutdown": {}, "memory": {}, "skipped": [],
           "counts": a.counts, "settle": a.settle}
    log("processor: %s; load average %s" % (cpu, res["load_start"]))
    ours = Ours(a)
    peers = [ours, Lxc(a, "dir"), Lxc(a, "ovl")]
    try:
        ours.make_pool("dbp", a.pool_dir)
        t = ours.upload("dbp", "bookworm-systemd", a.tpl_systemd)
        log("bookworm-systemd uploaded into the hashify pool dbp in %.1f s" % t)
        run([os.path.join(a.bench, "distro-lxc.sh"), "base", a.lxcpath, "vbase", a.lxc_root])
        if "boot" in phases:
            phase_boot(a, peers, res)
        if "bootphases" in phases:
            phase_bootphases(a, peers, res)
        if "startscale" in phases:
            phase_startscale(a, [peers[0], peers[2]], res, max(a.counts))
        # bench/distro-breakdown.py: memory breakdown, boot unit by unit
        if {"breakdown", "breakdownbare", "bootunits"} & set(phases):
            spec = importlib.util.spec_from_file_location(
                "distro_breakdown", os.path.join(a.bench, "distro-breakdown.py"))
            bd = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(bd)
            if "bootunits" in phases:
                bd.phase_bootunits(sys.modules[__name__], a, peers, res)
            if "breakdown" in phases:
                bd.phase_breakdown(sys.modules[__name__], a, peers, res)
            if "breakdownbare" in phases:
                bd.phase_breakdown(sys.modules[__name__], a, peers, res, bare=True)
            if set(phases) <= {"breakdown", "breakdownbare", "bootunits"}:
                return
        # the largest count comes last, after the two-template phase, so
        # that a run cut by --deadline still has that one
        doms = {}
        counts = sorted(a.counts)
        if "memory" in phases:
            phase_memory(a, peers, res, counts[:-1], doms)
        if "mix" in phases and a.tpl_openrc:
            phase_mix(a, ours, res)
        elif "mix" in phases:
            res["skipped"].append("two templates (no openrc tarball)")
        if "memory" in phases:
            phase_memory(a, peers, res, counts[-1:], doms)
        report(a, res)
    finally:
        for p in peers:
            for d in list(p.made):
                try:
                    p.remove(d)
                except Exception:
                    pass
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
