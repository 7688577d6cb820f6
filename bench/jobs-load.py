#!/usr/bin/python3
"""Define/start/destroy/undefine cycles from many clients while another
client polls, for each peer: errors, the poller's latency, the daemon's
RSS and open fds as the cycles go on.

Run by bench/jobs-load, which builds the rootfs copies and starts the
daemons; see bench/README.md ("jobs-load").
"""

import argparse
import multiprocessing
import os
import queue
import statistics
import sys
import time
from xml.sax.saxutils import escape

import libvirt

now = time.perf_counter


def log(msg):
    print(msg, flush=True)


def daemon_usage(pid):
    """(RSS KiB, open fds, threads) of the daemon process @pid."""
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid)), threads


def domain_xml(name, rootfs, partition):
    res = ("<resource><partition>%s</partition></resource>" % escape(partition)
           if partition else "")
    return ("<domain type='lxc'><name>%s</name>%s"
            "<memory unit='MiB'>64</memory>"
            "<os><type>exe</type><init>/bin/sh</init>"
            "<initarg>-c</initarg><initarg>exec sleep 1000000</initarg></os>"
            "<devices><filesystem type='mount'><source dir='%s'/>"
            "<target dir='/'/></filesystem><console type='pty'/>"
            "</devices></domain>" % (name, res, escape(rootfs, {"'": "&apos;"})))


def client_proc(i, key, uri, rootfs, partition, pid, cycles, deadline,
                total, marks, out):
    """One client, in a process of its own (as separate tools would be):
    define/start/destroy/undefine cycles; puts (errors, cycles, usage)."""
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    errors = []
    usage = {}
    done = 0
    conn = libvirt.open(uri)
    name = "jl-%s-%d" % (key, i)
    try:
        for c in range(cycles):
            if time.time() > deadline:
                break
            try:
                dom = conn.defineXML(domain_xml(name, rootfs, partition))
                dom.create()
                dom.destroy()
                dom.undefine()
            except libvirt.libvirtError as e:
                errors.append("client %d cycle %d: %s" % (i, c, e))
                try:
                    d = conn.lookupByName(name)
                    if d.isActive():
                        d.destroy()
                    d.undefine()
                except libvirt.libvirtError:
                    pass
            done += 1
            with total.get_lock():
                total.value += 1
                n = total.value
            if n in marks and pid:
                usage[marks[n]] = daemon_usage(pid)
    finally:
        conn.close()
        out.put((errors, done, usage))


def poller_proc(uri, stop, out):
    """The polling client, in a process of its own (a monitoring tool or
    virt-manager is one): its latencies are not those of a Python
    interpreter shared with the load's threads. Puts a dict of lists."""
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    r = {"bare": [], "list": [], "polls": [], "stats": [], "errors": []}
    conn = libvirt.open(uri)
    has_stats = True
    try:
        while not stop.is_set():
            # what a client's polling does: the list alone, the list then
            # each one (libvirt's LXC driver has no bulk domain stats), or
            # the stats of all in one call (virsh domstats, virt-manager);
            # and a call that waits on nothing
            try:
                t0 = now()
                conn.getLibVersion()
                r["bare"].append(now() - t0)
                t0 = now()
                conn.listAllDomains(0)
                r["list"].append(now() - t0)
                t0 = now()
                for dom in conn.listAllDomains(0):
                    try:
                        dom.info()
                    except libvirt.libvirtError as e:
                        # undefined between the list and the info
                        if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                            raise
                r["polls"].append(now() - t0)
                if has_stats:
                    t0 = now()
                    try:
                        conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE |
                                               libvirt.VIR_DOMAIN_STATS_CPU_TOTAL |
                                               libvirt.VIR_DOMAIN_STATS_BALLOON)
                        r["stats"].append(now() - t0)
                    except libvirt.libvirtError as e:
                        if e.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                            raise
                        has_stats = False
            except libvirt.libvirtError as e:
                r["errors"].append("poller: %s" % e)
            time.sleep(0.05)
    finally:
        conn.close()
        out.put(r)


def run_peer(key, uri, rootfs, partition, pid, clients, cycles, seconds):
    """The load on one peer; returns a dict of figures, or an error.
    Every client and the poller run in processes of their own."""
    mp = multiprocessing.get_context("spawn")
    total = mp.Value("i", 0)
    stop = mp.Event()
    out = mp.Queue()
    pout = mp.Queue()
    # the daemon's RSS and fds at cycle 50 of every client, then every
    # 50 cycles more: a leak grows with them, an allocator's arenas level off
    marks = {c * clients: "at cycle %d" % c for c in range(50, cycles, 50)}
    deadline = time.time() + seconds
    usage = {}
    if pid:
        usage["before"] = daemon_usage(pid)
    poller = mp.Process(target=poller_proc, args=(uri, stop, pout))
    poller.start()
    t0 = now()
    procs = [mp.Process(target=client_proc,
                        args=(i, key, uri, rootfs, partition, pid, cycles,
                              deadline, total, marks, out))
             for i in range(clients)]
    for p in procs:
        p.start()
    errors = []
    done = 0
    # each client puts one result; a client that died puts none, so the
    # wait is bounded by the budget plus a margin for the last cycle
    for _ in procs:
        try:
            e, d, u = out.get(timeout=max(1.0, deadline - time.time()) + 120)
        except queue.Empty:
            errors.append("a client gave no result (died or hung)")
            break
        errors += e
        done += d
        usage.update(u)
    elapsed = now() - t0
    stop.set()
    try:
        pr = pout.get(timeout=60)
    except queue.Empty:
        pr = {"bare": [], "list": [], "polls": [], "stats": [],
              "errors": ["the poller gave no result"]}
    for p in procs + [poller]:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join()
    if pid:
        usage["at the end"] = daemon_usage(pid)
    return {"errors": errors + pr["errors"], "polls": pr["polls"],
            "list": pr["list"], "stats": pr["stats"], "bare": pr["bare"],
            "usage": usage, "cycles": done, "elapsed": elapsed}


def ms(x):
    return "%.1f" % (x * 1000)


def p95(xs):
    return sorted(xs)[max(0, int(len(xs) * 0.95) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=300,
                    help="each peer's time budget: clients stop there")
    ap.add_argument("--peer", action="append", default=[],
                    help="KEY=URI,ROOTFS,PARTITION,PID or KEY=n/a (reason)")
    args = ap.parse_args()

    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    results = {}
    for spec in args.peer:
        key, _, rest = spec.partition("=")
        if rest.startswith("n/a"):
            results[key] = rest
            continue
        uri, rootfs, partition, pid = rest.split(",", 3)
        log("== %s: %d clients x %d define/start/destroy/undefine cycles "
            "(at most %d s), each client a process; one more process polling "
            "listAllDomains, listAllDomains + info, and getAllDomainStats"
            % (key, args.clients, args.cycles, args.seconds))
        try:
            results[key] = run_peer(key, uri, rootfs, partition or None,
                                    int(pid or 0), args.clients, args.cycles,
                                    args.seconds)
        except libvirt.libvirtError as e:
            results[key] = "n/a (%s)" % str(e).splitlines()[0]

    log("")
    log("%-34s" % "" + "".join("%-22s" % k for k in results))
    for k, r in results.items():
        if not isinstance(r, str) and r["cycles"] < args.clients * args.cycles:
            log("(%s: stopped at the %d s budget)" % (k, args.seconds))
    rows = [
        ("cycles done", lambda r: "%d" % r["cycles"]),
        ("errors", lambda r: "%d" % len(r["errors"])),
        ("cycles/s", lambda r: "%.1f" % (r["cycles"] / r["elapsed"])),
        ("bare call median (ms)", lambda r: ms(statistics.median(r["bare"]))),
        ("list median (ms)", lambda r: ms(statistics.median(r["list"]))),
        ("list p95 (ms)", lambda r: ms(p95(r["list"]))),
        ("list max (ms)", lambda r: ms(max(r["list"]))),
        ("list+info median (ms)", lambda r: ms(statistics.median(r["polls"]))),
        ("list+info p95 (ms)", lambda r: ms(p95(r["polls"]))),
        ("list+info max (ms)", lambda r: ms(max(r["polls"]))),
        ("domstats (one call) median (ms)", lambda r: ms(statistics.median(r["stats"]))),
        ("domstats (one call) p95 (ms)", lambda r: ms(p95(r["stats"]))),
        ("domstats (one call) max (ms)", lambda r: ms(max(r["stats"]))),
        ("polls", lambda r: "%d" % len(r["polls"])),
        ("daemon RSS before (KiB)", lambda r: "%d" % r["usage"]["before"][0]),
        ("daemon RSS cycle 50 (KiB)", lambda r: "%d" % r["usage"]["at cycle 50"][0]),
        ("daemon RSS end (KiB)", lambda r: "%d" % r["usage"]["at the end"][0]),
        ("daemon fds before", lambda r: "%d" % r["usage"]["before"][1]),
        ("daemon fds cycle 50", lambda r: "%d" % r["usage"]["at cycle 50"][1]),
        ("daemon fds end", lambda r: "%d" % r["usage"]["at the end"][1]),
        ("daemon threads before/50/end",
         lambda r: "%d / %d / %d" % (r["usage"]["before"][2],
                                     r["usage"]["at cycle 50"][2],
                                     r["usage"]["at the end"][2])),
    ]
    for title, fn in rows:
        line = "%-34s" % title
        for k, r in results.items():
            if isinstance(r, str):
                cell = r if title == "cycles done" else ""
            else:
                try:
                    cell = fn(r)
                except (KeyError, ValueError, IndexError, statistics.StatisticsError):
                    cell = "-"
            line += "%-22s" % cell
        log(line)
    for k, r in results.items():
        if isinstance(r, str):
            continue
        for idx, what in ((0, "RSS (KiB)"), (2, "threads")):
            series = sorted((int(m.split()[-1]), u[idx])
                            for m, u in r["usage"].items()
                            if m.startswith("at cycle "))
            if series:
                log("%s: daemon %s every 50 cycles of each client: %s"
                    % (k, what, " ".join("%d:%d" % x for x in series)))
    for k, r in results.items():
        if not isinstance(r, str) and r["errors"]:
            log("")
            log("%s: first errors:" % k)
            for e in r["errors"][:5]:
                log("  " + e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
