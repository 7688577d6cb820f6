#!/usr/bin/python3
"""Start/destroy latency and supervisor memory of three container peers.

Run by bench/start-destroy, which builds the rootfs copies and starts the
daemons; see bench/README.md for what is measured and how.

Peers:
  vserver      this project's driver (vserver:///system, private instance)
  libvirt-lxc  libvirt's LXC driver (private libvirtd)
  lxc          lxc-start / lxc-stop -k under a private lxcpath
"""

import argparse
import ctypes
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import threading
import time
from xml.sax.saxutils import escape

import libvirt

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080

MARKER_TIMEOUT = 20.0     # s for an init to write its marker
GONE_TIMEOUT = 20.0       # s for processes to vanish after destroy
SETTLE = 0.1              # s between "ready" and destroy in latency runs

now = time.perf_counter


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# marker files

class MarkerWatch:
    """Timestamps (perf_counter) of marker files closed after writing in
    the watched directories, taken by a thread blocked on inotify, so an
    event that happens while the main thread is inside a blocking API call
    is timed when it happens, not when the call returns.  (A queue overflow
    loses events; wait() polls as well.)"""

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.wds = {}
        self.seen = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def watch(self, path):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path),
                                         IN_CLOSE_WRITE | IN_MOVED_TO)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch %s" % path)
        self.wds[wd] = path

    def _run(self):
        while True:
            buf = os.read(self.fd, 1 << 16)
            t = now()
            new = []
            off = 0
            while off + 16 <= len(buf):
                wd, _mask, _cookie, ln = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + ln].split(b"\0", 1)[0]
                off += 16 + ln
                d = self.wds.get(wd)
                if d is not None and name:
                    new.append(((d, os.fsdecode(name)), t))
            with self.cond:
                for key, tt in new:
                    self.seen.setdefault(key, tt)
                self.cond.notify_all()

    def wait(self, d, name, timeout, fallback=None):
        """Return (time, how) when d/name was seen, or (None, None).

        Besides the inotify thread, the caller polls d/name every 0.5 ms
        (whichever sees the marker first wins; the same for every peer).
        fallback: a callable polled too, for a runtime whose container root
        is not the host directory itself (e.g. an overlay); it returns True
        once the marker exists."""
        deadline = now() + timeout
        own = os.path.join(d, name)
        with self.cond:
            while True:
                t = self.seen.get((d, name))
                if t is not None:
                    return t, "inotify"
                if os.path.exists(own):
                    return now(), "poll"
                if fallback and fallback():
                    return now(), "proc-root"
                left = deadline - now()
                if left <= 0:
                    return None, None
                self.cond.wait(min(left, 0.0005))

    def forget(self, d, name):
        with self.cond:
            self.seen.pop((d, name), None)


# --------------------------------------------------------------------------
# processes

def proc_stat(pid):
    """(comm, state, ppid) of pid, or None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    lp, rp = s.index("("), s.rindex(")")
    rest = s[rp + 2:].split()
    return s[lp + 1:rp], rest[0], int(rest[1])


def proc_name(pid):
    """Program name of pid: the basename of its executable (comm is cut at
    15 characters: "libvirt_vserver_shim" shows as "libvirt_vserver")."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
        if exe.endswith(" (deleted)"):
            exe = exe[:-len(" (deleted)")]
        return os.path.basename(exe)
    except OSError:
        st = proc_stat(pid)
        return st[0] if st else "?"


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def children(pid):
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            st = proc_stat(int(e))
            if st and st[2] == pid:
                out.append(int(e))
    return out


def pids_seeing(marker):
    """Processes whose root directory holds /<marker>."""
    out = set()
    for e in os.listdir("/proc"):
        if e.isdigit() and os.path.exists("/proc/%s/root/%s" % (e, marker)):
            out.add(int(e))
    return out


def find_by_marker(marker, supervisor):
    """(supervisor pid, init pid) of the container whose root holds
    /<marker>: the child of a process named `supervisor`, else the topmost
    process seeing it.  None when not found or ambiguous (containers sharing
    a rootfs all see each other's markers)."""
    seeing = pids_seeing(marker)
    found = set()
    for p in seeing:
        st = proc_stat(p)
        if st and proc_name(st[2]) == supervisor:
            found.add((st[2], p))
    if not found:
        for p in seeing:
            st = proc_stat(p)
            if st and st[2] not in seeing:
                found.add((st[2], p))
    return found.pop() if len(found) == 1 else None


def pss_kb(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss in /proc/%d/smaps_rollup" % pid)


def mem_available_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def wait_gone(pids, timeout=GONE_TIMEOUT):
    """perf_counter time when all pids are gone (or zombies), None on timeout."""
    deadline = now() + timeout
    pending = [p for p in pids if p]
    while True:
        pending = [p for p in pending if alive(p)]
        if not pending:
            return now()
        if now() > deadline:
            return None
        time.sleep(0.0005)


# --------------------------------------------------------------------------
# peers

def init_script(marker, term):
    """The init of every peer: write the marker, then idle.  term=True adds
    a SIGTERM handler (PID 1 of a pid namespace ignores SIGTERM otherwise)."""
    if term:
        return ("trap 'exit 0' TERM; echo ready > /%s; sleep 1000000 & wait"
                % marker)
    return "echo ready > /%s; exec sleep 1000000" % marker


class Peer:
    key = ""
    title = ""
    supervisor = ""

    def __init__(self, rootfs, prefix):
        self.rootfs = rootfs
        self.prefix = prefix
        self.error = None          # "n/a (...)" reason, set when unusable
        self.live = {}             # name -> handle

    def name(self, slot):
        return "%s-%d" % (self.prefix, slot)

    def fallback(self, handle, marker):
        return None

    def destroy_all_live(self):
        for name in list(self.live):
            try:
                self.destroy(self.live[name])
            except Exception:
                pass
            self.live.pop(name, None)


class LibvirtPeer(Peer):
    def __init__(self, key, title, uri, rootfs, prefix, supervisor,
                 id_is_init, partition=None):
        super().__init__(rootfs, prefix)
        self.partition = partition
        self.key, self.title, self.uri = key, title, uri
        self.supervisor = supervisor
        self.id_is_init = id_is_init
        self.warned = False
        self.conn = libvirt.open(uri)

    def xml(self, name, script):
        res = ("<resource><partition>%s</partition></resource>"
               % escape(self.partition)) if self.partition else ""
        return ("<domain type='lxc'><name>%s</name>%s"
                "<memory unit='MiB'>64</memory>"
                "<os><type>exe</type><init>/bin/sh</init>"
                "<initarg>-c</initarg><initarg>%s</initarg></os>"
                "<devices><filesystem type='mount'><source dir='%s'/>"
                "<target dir='/'/></filesystem><console type='pty'/>"
                "</devices></domain>" % (name, res, escape(script),
                                         escape(self.rootfs, {"'": "&apos;"})))

    def start(self, name, script, conn=None):
        dom = (conn or self.conn).createXML(self.xml(name, script), 0)
        h = {"name": name, "dom": dom}
        self.live[name] = h
        return h

    def pids(self, h):
        """(supervisor pid, init pid).  libvirt LXC: the domain ID is the
        libvirt_lxc controller, the init is its child.  vserver: the domain
        ID is the init's host pid, the shim is its parent."""
        did = h["dom"].ID()
        if self.id_is_init:
            st = proc_stat(did)
            sup = st[2] if st else 0
            init = did
            if (not sup or proc_name(sup) != self.supervisor) and h.get("marker"):
                # Not the documented layout: find the init by its marker.
                found = find_by_marker(h["marker"], self.supervisor)
                if not found and not self.warned:
                    self.warned = True
                    log("  %s: WARNING: domain ID %d is not the init's host pid under a %s,"
                        " and its marker does not tell which process is" % (self.key, did,
                                                                             self.supervisor))
                if found:
                    sup, init = found
                    if not self.warned:
                        self.warned = True
                        log("  %s: WARNING: domain ID %d is not the init's host pid "
                            "under a %s; found init %d, supervisor %d (%s) by the marker"
                            % (self.key, did, self.supervisor, init, sup,
                               proc_name(sup)))
                else:
                    # never take pid 1 or a stranger for the supervisor
                    sup = 0
                    init = did if st else 0
        else:
            sup = did
            kids = children(did)
            init = kids[0] if kids else 0
        return sup, init

    def fallback(self, h, marker):
        """vserver: the context root seen through its init, in case the
        rootfs is not the directory given (overlay, copy)."""
        if not self.id_is_init:
            return None
        path = "/proc/%d/root/%s" % (h["dom"].ID(), marker)
        last_scan = [now()]

        def check():
            if os.path.exists(path):
                return True
            if now() - last_scan[0] > 0.05:
                last_scan[0] = now()
                return bool(pids_seeing(marker))
            return False
        return check

    def destroy(self, h):
        h["dom"].destroy()
        self.live.pop(h["name"], None)


class LxcPeer(Peer):
    key = "lxc"
    title = "lxc-start"
    supervisor = "lxc-start"

    def __init__(self, lxcpath, rootfs, prefix):
        super().__init__(rootfs, prefix)
        self.path = lxcpath

    def _run(self, argv):
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (
                " ".join(argv[:2]), r.returncode,
                (r.stderr or r.stdout).decode(errors="replace").strip()))
        return r.stdout.decode()

    def start(self, name, script, conn=None):
        self._run(["lxc-start", "-d", "-P", self.path, "-n", name,
                   "--", "/bin/sh", "-c", script])
        h = {"name": name}
        self.live[name] = h
        return h

    def pids(self, h):
        """The lxc-start monitor ("[lxc monitor] PATH NAME") is the parent
        of the container's init."""
        init = int(self._run(["lxc-info", "-P", self.path, "-n", h["name"],
                              "-p", "-H"]).strip())
        st = proc_stat(init)
        return (st[2] if st else 0), init

    def destroy(self, h):
        self._run(["lxc-stop", "-k", "-P", self.path, "-n", h["name"]])
        self.live.pop(h["name"], None)


# --------------------------------------------------------------------------
# measurements

class StartError(Exception):
    pass


def cycle(peer, watch, slot, tag, term=False):
    """Start one container, wait for its marker, destroy it."""
    marker = "ready.%s" % tag
    name = peer.name(slot)
    t0 = now()
    try:
        h = peer.start(name, init_script(marker, term))
    except (libvirt.libvirtError, RuntimeError) as e:
        raise StartError(short_error(e))
    t_ret = now()
    h["marker"] = marker
    try:
        t_mark, how = watch.wait(peer.rootfs, marker, MARKER_TIMEOUT,
                                 peer.fallback(h, marker))
        if t_mark is None:
            raise RuntimeError("init did not write /%s within %d s"
                               % (marker, MARKER_TIMEOUT))
        sup, init = peer.pids(h)
        time.sleep(SETTLE)
    except BaseException:
        peer.destroy_all_live()
        raise
    t1 = now()
    peer.destroy(h)
    t_dret = now()
    t_gone = wait_gone([sup, init])
    if t_gone is None:
        raise RuntimeError("destroy returned but pid %s still alive"
                           % [p for p in (sup, init) if alive(p)])
    try:
        os.unlink(os.path.join(peer.rootfs, marker))
    except FileNotFoundError:
        pass
    watch.forget(peer.rootfs, marker)
    return {"start": t_mark - t0, "start_return": t_ret - t0,
            "destroy": max(t_gone, t_dret) - t1, "destroy_return": t_dret - t1,
            "marker_via": how}


def short_error(e):
    if isinstance(e, libvirt.libvirtError):
        return e.get_error_message() or str(e)
    return str(e)


def latency_runs(peers, watch, runs, warmup, term, label):
    """Interleaved runs (peer A, B, C, A, B, C, ...) so background load
    hits every peer alike."""
    res = {p.key: [] for p in peers}
    total = warmup + runs
    for i in range(total):
        for p in peers:
            if p.error:
                continue
            try:
                r = cycle(p, watch, 0, "%s.%s.%d" % (p.key, label, i), term)
            except StartError as e:
                p.error = "n/a (start failed: %s)" % e
            except (libvirt.libvirtError, RuntimeError) as e:
                p.error = "n/a (%s run %d: %s)" % (label, i, short_error(e))
            if p.error:
                log("  %-12s %s" % (p.key, p.error))
                continue
            if i >= warmup:
                res[p.key].append(r)
        if (i + 1) % 5 == 0 or i + 1 == total:
            log("  %s: %d/%d cycles done" % (label, i + 1, total))
    return res


def idle_memory(peer, watch, k, idle_wait):
    """Start k containers, let them idle, read the supervisors' PSS."""
    handles = []
    try:
        for s in range(k):
            marker = "ready.%s.idle.%d" % (peer.key, s)
            h = peer.start(peer.name(s), init_script(marker, False))
            t, _ = watch.wait(peer.rootfs, marker, MARKER_TIMEOUT,
                              peer.fallback(h, marker))
            if t is None:
                raise RuntimeError("init did not write /%s" % marker)
            h["marker"] = marker
            handles.append(h)
        time.sleep(idle_wait)
        out = []
        for h in handles:
            sup, init = peer.pids(h)
            if not sup:
                raise RuntimeError("supervisor of %s not found" % h["name"])
            out.append({"pid": sup, "comm": proc_name(sup),
                        "pss_kb": pss_kb(sup), "init_pid": init})
        return out
    finally:
        for h in handles:
            try:
                peer.destroy(h)
            except Exception as e:
                log("  %s: destroy %s: %s" % (peer.key, h["name"], short_error(e)))
            try:
                os.unlink(os.path.join(peer.rootfs, h["marker"]))
            except OSError:
                pass
        peer.destroy_all_live()


def run_parallel(n, parallel, fn):
    """Call fn(worker, i) for i in 0..n-1 from `parallel` threads.  On
    Ctrl-C the workers finish their current call and stop, so that what
    they started can be destroyed."""
    lock = threading.Lock()
    nxt = [0]
    stop = threading.Event()

    def worker(w):
        while not stop.is_set():
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            fn(w, i)

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(parallel)]
    for t in ts:
        t.start()
    try:
        for t in ts:
            t.join()
    except KeyboardInterrupt:
        stop.set()
        for t in ts:
            t.join()
        raise


def scale(peer, watch, count, parallel, idle_wait):
    """Start `count` contexts from `parallel` connections, measure memory,
    destroy them all."""
    conns = [libvirt.open(peer.uri) for _ in range(parallel)]
    names = ["%s-%04d" % (peer.prefix + "-n", i) for i in range(count)]
    markers = ["ready.%s.scale.%d" % (peer.key, i) for i in range(count)]
    handles = [None] * count
    errors = {}
    res = {"count": count, "parallel": parallel}

    time.sleep(1)
    mem0 = mem_available_kb()

    calls = []      # (return time, call duration) of each successful start

    def do_start(w, i):
        try:
            t = now()
            h = peer.start(names[i], init_script(markers[i], False),
                           conn=conns[w])
            calls.append((now(), now() - t))
            h["marker"] = markers[i]
            handles[i] = h
        except libvirt.libvirtError as e:
            errors[i] = short_error(e)

    try:
        t0 = now()
        run_parallel(count, parallel, do_start)
        t_calls = now()
        res["started"] = count - len(errors)
        if errors:
            res["start_errors"] = len(errors)
            res["first_error"] = errors[min(errors)]
        t_last = t_calls
        missing = 0
        for i, h in enumerate(handles):
            if h is None:
                continue
            left = max(0.1, t_calls + 60 - now())
            t, _ = watch.wait(peer.rootfs, markers[i], left,
                              peer.fallback(h, markers[i]))
            if t is None:
                missing += 1
            else:
                t_last = max(t_last, t)
        res["not_ready"] = missing
        # does a start get slower as contexts pile up?
        calls.sort()
        tenth = max(1, len(calls) // 10)
        if calls:
            res["call_first10_ms"] = statistics.median(d for _, d in calls[:tenth]) * 1000
            res["call_last10_ms"] = statistics.median(d for _, d in calls[-tenth:]) * 1000
        res["start_wall_s"] = t_last - t0
        res["start_calls_wall_s"] = t_calls - t0
        log("  %d started (%d failed, %d never ready) in %.2f s"
            % (res["started"], len(errors), missing, res["start_wall_s"]))

        time.sleep(idle_wait)
        pids = []
        pss_total = 0
        comms = {}
        for h in handles:
            if h is None:
                continue
            sup, init = peer.pids(h)
            pids += [sup, init]
            if not sup:
                res["supervisor_unknown"] = res.get("supervisor_unknown", 0) + 1
                continue
            name = proc_name(sup)
            comms[name] = comms.get(name, 0) + 1
            try:
                pss_total += pss_kb(sup)
            except OSError:
                pass
        mem1 = mem_available_kb()
        res["supervisor_comms"] = comms
        res["pss_total_kb"] = pss_total
        res["memavail_drop_kb"] = mem0 - mem1
        if res["started"]:
            res["pss_per_ctx_kb"] = pss_total / res["started"]
            res["memavail_per_ctx_kb"] = (mem0 - mem1) / res["started"]

        derr = {}

        def do_destroy(w, i):
            h = handles[i]
            if h is None:
                return
            try:
                conns[w].lookupByName(h["name"]).destroy()
                peer.live.pop(h["name"], None)
            except libvirt.libvirtError as e:
                derr[i] = short_error(e)

        t0 = now()
        run_parallel(count, parallel, do_destroy)
        t_dcalls = now()
        t_gone = wait_gone(pids, timeout=120)
        res["destroy_calls_wall_s"] = t_dcalls - t0
        res["destroy_wall_s"] = (t_gone or now()) - t0
        res["destroy_errors"] = len(derr)
        if derr:
            res["first_destroy_error"] = derr[min(derr)]
        if t_gone is None:
            res["left_alive"] = sum(1 for p in pids if alive(p))
        log("  destroyed in %.2f s (%d errors)" % (res["destroy_wall_s"], len(derr)))
        return res
    finally:
        peer.destroy_all_live()
        for m in markers:
            try:
                os.unlink(os.path.join(peer.rootfs, m))
            except OSError:
                pass
        for c in conns:
            try:
                c.close()
            except libvirt.libvirtError:
                pass


# --------------------------------------------------------------------------
# report

def ms(x):
    return "%.1f" % (x * 1000)


def summary(vals):
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "n": len(vals)}


def fmt_lat(s):
    return "%s [%s..%s]" % (ms(s["median"]), ms(s["min"]), ms(s["max"]))


def loadavg():
    """Load average and CPU pressure: how busy the host was besides us."""
    with open("/proc/loadavg") as f:
        la = " ".join(f.read().split()[:3])
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()
        return "%s (cpu pressure avg60 %s%%)" % (la, some[2].split("=")[1])
    except (OSError, IndexError):
        return la


def report(peers, stats, args, scale_res, load0):
    cols = [p.key for p in peers]
    head = {p.key: "%s" % p.title for p in peers}
    rows = []

    def cell(key, fn, first):
        p = next(p for p in peers if p.key == key)
        try:
            v = fn(stats.get(key, {}))
        except (KeyError, TypeError, ValueError):
            v = None
        if v is None:
            # the full reason is printed below the table
            e = p.error if (p.error and first) else "n/a"
            return e if len(e) <= 48 else e[:45] + "..."
        return v

    rows.append(("start->ready ms  median [min..max]",
                 lambda s: fmt_lat(s["start"])))
    rows.append(("  start call returned, median ms",
                 lambda s: ms(s["start_return"]["median"])))
    rows.append(("destroy ms  median [min..max]",
                 lambda s: fmt_lat(s["destroy"])))
    rows.append(("  destroy call returned, median ms",
                 lambda s: ms(s["destroy_return"]["median"])))
    if args.term_runs:
        rows.append(("destroy, init traps SIGTERM, ms",
                     lambda s: fmt_lat(s["destroy_term"])))
    def pss(s):
        if "pss" not in s:
            return "n/a (%s)" % s["pss_error"]
        return "%d [%d..%d]" % (s["pss"]["median"], s["pss"]["min"], s["pss"]["max"])
    rows.append(("idle supervisor PSS kB  median [min..max]", pss))
    rows.append(("  supervisor process",
                 lambda s: ",".join(sorted(set(s["pss_comms"])))))
    rows.append(("runs (start/destroy)", lambda s: "%d" % s["start"]["n"]))
    rows.append(("contexts for PSS", lambda s: "%d" % s["pss"]["n"]))

    table = [[""] + [head[c] for c in cols]]
    for n, (label, fn) in enumerate(rows):
        table.append([label] + [cell(c, fn, n == 0) for c in cols])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    log("")
    log("== Results: %d runs after %d warm-up, kernel %s, %d CPUs, loadavg %s -> %s"
        % (args.runs, args.warmup, platform.release(), os.cpu_count(), load0, loadavg()))
    for r in table:
        log("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for p in peers:
        if p.error:
            log("  %s: %s" % (p.title, p.error))

    log("")
    log("== Goals (vserver vs libvirt LXC; ratio = vserver median / libvirt-lxc median)")
    v = stats.get("vserver", {})
    lv = stats.get("libvirt-lxc", {})
    vp = next((p for p in peers if p.key == "vserver"), None)
    why = ("n/a (see above)" if vp.error else "n/a") if vp else "not run"

    def ratio_line(label, metric, goal):
        if metric in v and metric in lv:
            r = v[metric]["median"] / lv[metric]["median"]
            log("  %-34s %s / %s ms = %.3fx  (goal <= %.1fx): %s"
                % (label, ms(v[metric]["median"]), ms(lv[metric]["median"]), r,
                   goal, "met" if r <= goal else "NOT met"))
        elif metric in lv:
            log("  %-34s vserver %s; libvirt-lxc %s ms (goal <= %.1fx)"
                % (label, why, ms(lv[metric]["median"]), goal))
        else:
            log("  %-34s n/a (libvirt-lxc not measured)" % label)

    ratio_line("start->ready", "start", 0.2)
    ratio_line("destroy", "destroy", 0.1)
    for metric, label in (("start", "start->ready"), ("destroy", "destroy")):
        if metric in v and metric in lv:
            # on a busy host the minimum is the least disturbed cycle
            log("  (info) %-27s min %s / %s ms = %.3fx"
                % (label + ", best cycles", ms(v[metric]["min"]),
                   ms(lv[metric]["min"]), v[metric]["min"] / lv[metric]["min"]))
    if args.term_runs:
        ratio_line("(info) destroy, init traps SIGTERM", "destroy_term", 0.1)
    if "pss" in v:
        m = v["pss"]["median"]
        log("  %-34s %d kB  (goal <= 300 kB): %s"
            % ("idle supervisor PSS", m, "met" if m <= 300 else "NOT met"))
    elif "pss_error" in v:
        log("  %-34s vserver n/a (%s) (goal <= 300 kB)" % ("idle supervisor PSS", v["pss_error"]))
    else:
        log("  %-34s vserver %s (goal <= 300 kB)" % ("idle supervisor PSS", why))
    lx = stats.get("lxc", {})
    for metric, label in (("start", "start->ready"), ("destroy", "destroy")):
        if metric in lx and metric in lv:
            log("  (info) lxc-start / libvirt-lxc %-12s %.3fx"
                % (label, lx[metric]["median"] / lv[metric]["median"]))

    if args.count:
        sp = next((p for p in peers if p.key == args.scale_peer), None)
        log("")
        log("== %s scale: %d contexts" % (args.scale_peer, args.count))
        if scale_res is None:
            log("  %s" % ((sp.error or "n/a") if sp else "not run"))
        elif "error" in scale_res:
            log("  n/a (%s)" % scale_res["error"])
        else:
            s = scale_res
            log("  started %d/%d (%d never ready), %d parallel connections"
                % (s["started"], s["count"], s["not_ready"], s["parallel"]))
            if s.get("start_errors"):
                log("  start errors: %d, first: %s" % (s["start_errors"], s["first_error"]))
            log("  wall time to all running (calls returned and markers seen): %.2f s"
                " (calls alone %.2f s)" % (s["start_wall_s"], s["start_calls_wall_s"]))
            if "call_first10_ms" in s:
                log("  start call, median of the first / last 10%% to return: %.1f / %.1f ms"
                    " (%d in flight)" % (s["call_first10_ms"], s["call_last10_ms"], s["parallel"]))
            if s["started"]:
                log("  supervisors: %s" % s["supervisor_comms"])
                if s.get("supervisor_unknown"):
                    log("  supervisor not found for %d contexts (not in the sums)"
                        % s["supervisor_unknown"])
                log("  sum PSS of supervisors: %d kB, %.0f kB per context"
                    % (s["pss_total_kb"], s["pss_per_ctx_kb"]))
                log("  MemAvailable drop: %d kB, %.0f kB per context"
                    % (s["memavail_drop_kb"], s["memavail_per_ctx_kb"]))
            log("  wall time to destroy all (calls returned, processes gone): %.2f s"
                " (calls alone %.2f s), %d destroy errors%s"
                % (s["destroy_wall_s"], s["destroy_calls_wall_s"], s["destroy_errors"],
                   (", first: " + s["first_destroy_error"]) if s.get("first_destroy_error") else ""))
            if s.get("left_alive"):
                log("  WARNING: %d processes still alive after destroy" % s["left_alive"])


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--peers", default="vserver,libvirt-lxc,lxc")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--term-runs", type=int, default=10)
    ap.add_argument("--idle", type=int, default=3)
    ap.add_argument("--idle-wait", type=float, default=2.0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--scale-peer", default="vserver",
                    choices=("vserver", "libvirt-lxc"),
                    help="peer of the scale run; libvirt-lxc only to check the bench itself")
    ap.add_argument("--vserver-uri")
    ap.add_argument("--vserver-error")
    ap.add_argument("--libvirt-lxc-uri")
    ap.add_argument("--libvirt-lxc-error")
    ap.add_argument("--libvirt-lxc-partition",
                    help="cgroup partition for the libvirt LXC domains")
    ap.add_argument("--lxc-path")
    ap.add_argument("--json")
    args = ap.parse_args()

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    want = args.peers.split(",")
    work = args.work
    watch = MarkerWatch()
    peers = []

    def add(key, make, err):
        if key not in want:
            return
        if err:
            p = Peer(None, None)
            p.key, p.title = key, {"vserver": "vserver", "libvirt-lxc": "libvirt-lxc",
                                   "lxc": "lxc-start"}[key]
            p.error = err
            peers.append(p)
            return
        try:
            p = make()
        except libvirt.libvirtError as e:
            p = Peer(None, None)
            p.key, p.title = key, key
            p.error = "n/a (connect failed: %s)" % short_error(e)
        peers.append(p)
        if p.rootfs:
            watch.watch(p.rootfs)

    add("vserver", lambda: LibvirtPeer(
        "vserver", "vserver", args.vserver_uri, os.path.join(work, "rootfs-vserver"),
        "vbench-vs", "libvirt_vserver_shim", True), args.vserver_error)
    add("libvirt-lxc", lambda: LibvirtPeer(
        "libvirt-lxc", "libvirt-lxc", args.libvirt_lxc_uri,
        os.path.join(work, "rootfs-libvirt-lxc"), "vbench-lv", "libvirt_lxc", False,
        partition=args.libvirt_lxc_partition),
        args.libvirt_lxc_error)
    add("lxc", lambda: LxcPeer(args.lxc_path, os.path.join(work, "rootfs-lxc"),
                               "vbench-lxc"), None if args.lxc_path else "n/a (no lxcpath)")

    load0 = loadavg()
    stats = {p.key: {} for p in peers}
    scale_res = None
    try:
        log("== start/destroy latency: %d runs (+%d warm-up) per peer, interleaved"
            % (args.runs, args.warmup))
        res = latency_runs(peers, watch, args.runs, args.warmup, False, "plain")
        for p in peers:
            if not res[p.key]:
                continue
            rs = res[p.key]
            for m in ("start", "start_return", "destroy", "destroy_return"):
                stats[p.key][m] = summary([r[m] for r in rs])
            vias = sorted(set(r["marker_via"] for r in rs))
            stats[p.key]["marker_via"] = vias
            log("  %-12s start %s ms, destroy %s ms (marker seen via %s)"
                % (p.key, fmt_lat(stats[p.key]["start"]),
                   fmt_lat(stats[p.key]["destroy"]), ",".join(vias)))

        if args.term_runs:
            log("== destroy latency with an init that exits on SIGTERM: %d runs" % args.term_runs)
            ok = [p for p in peers if not p.error]
            res = latency_runs(ok, watch, args.term_runs, 1, True, "term")
            for p in ok:
                if res[p.key]:
                    stats[p.key]["destroy_term"] = summary([r["destroy"] for r in res[p.key]])
                    log("  %-12s destroy %s ms" % (p.key, fmt_lat(stats[p.key]["destroy_term"])))

        log("== idle supervisor memory: %d contexts per peer, %.1f s idle"
            % (args.idle, args.idle_wait))
        for p in peers:
            if p.error or args.idle <= 0:
                continue
            try:
                mem = idle_memory(p, watch, args.idle, args.idle_wait)
            except (libvirt.libvirtError, RuntimeError, OSError) as e:
                stats[p.key]["pss_error"] = short_error(e)
                log("  %-12s n/a (%s)" % (p.key, short_error(e)))
                continue
            vals = [m["pss_kb"] for m in mem]
            stats[p.key]["pss"] = summary(vals)
            stats[p.key]["pss_comms"] = [m["comm"] for m in mem]
            stats[p.key]["pss_each"] = mem
            log("  %-12s %s" % (p.key, ", ".join("%s[%d]=%d kB" % (m["comm"], m["pid"], m["pss_kb"])
                                                  for m in mem)))
            bad = [m["comm"] for m in mem if m["comm"] != p.supervisor]
            if bad:
                log("  %-12s WARNING: supervisor comm %s, expected %s" % (p.key, bad, p.supervisor))

        sp = next((p for p in peers if p.key == args.scale_peer), None)
        if args.count and sp is not None and not sp.error:
            log("== %s scale: %d contexts, %d parallel connections"
                % (sp.key, args.count, args.parallel))
            try:
                scale_res = scale(sp, watch, args.count, args.parallel, args.idle_wait)
            except (libvirt.libvirtError, RuntimeError, OSError) as e:
                scale_res = {"error": short_error(e)}
    except KeyboardInterrupt:
        log("interrupted: destroying what is running")
        raise
    finally:
        for p in peers:
            p.destroy_all_live()

    report(peers, stats, args, scale_res, load0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "stats": stats, "scale": scale_res,
                       "errors": {p.key: p.error for p in peers}}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
