#!/usr/bin/python3
"""Define/start/destroy/undefine cycles from many clients while another
client polls, for each peer: errors, the poller's latency, the daemon's
RSS and open fds as the cycles go on.

Run by bench/jobs-load, which builds the rootfs copies and starts the
daemons; see bench/README.md ("jobs-load").
"""

import argparse
import os
import statistics
import sys
import threading
import time
from xml.sax.saxutils import escape

import libvirt

now = time.perf_counter


def log(msg):
    print(msg, flush=True)


def daemon_usage(pid):
    """(RSS KiB, open fds) of the daemon process @pid."""
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


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


def run_peer(key, uri, rootfs, partition, pid, clients, cycles, seconds):
    """The load on one peer; returns a dict of figures, or an error."""
    errors = []
    done = [0] * clients
    lock = threading.Lock()
    stop = threading.Event()
    polls = []        # listAllDomains, then info of each
    stats_polls = []  # the stats of all domains in one call (virsh domstats)
    bare = []         # a call that takes no lock: the machine's floor
    usage = {}
    mark = {50 * clients: "at cycle 50"}
    deadline = now() + seconds

    def client(i):
        conn = libvirt.open(uri)
        name = "jl-%s-%d" % (key, i)
        try:
            for c in range(cycles):
                if now() > deadline:
                    break
                try:
                    dom = conn.defineXML(domain_xml(name, rootfs, partition))
                    dom.create()
                    dom.destroy()
                    dom.undefine()
                except libvirt.libvirtError as e:
                    with lock:
                        errors.append("client %d cycle %d: %s" % (i, c, e))
                    try:
                        d = conn.lookupByName(name)
                        if d.isActive():
                            d.destroy()
                        d.undefine()
                    except libvirt.libvirtError:
                        pass
                with lock:
                    done[i] += 1
                    total = sum(done)
                    if total in mark and pid:
                        usage[mark[total]] = daemon_usage(pid)
        finally:
            conn.close()

    def poller():
        conn = libvirt.open(uri)
        has_stats = True
        try:
            while not stop.is_set():
                # what a client's polling does: the list, then each one
                # (libvirt's LXC driver has no bulk domain stats), or the
                # stats of all in one call (virsh domstats,
                # virt-manager); and a call that waits on nothing
                try:
                    t0 = now()
                    conn.getLibVersion()
                    bare.append(now() - t0)
                    t0 = now()
                    for dom in conn.listAllDomains(0):
                        try:
                            dom.info()
                        except libvirt.libvirtError as e:
                            # undefined between the list and the info
                            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                                raise
                    polls.append(now() - t0)
                    if has_stats:
                        t0 = now()
                        try:
                            conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE |
                                                   libvirt.VIR_DOMAIN_STATS_CPU_TOTAL |
                                                   libvirt.VIR_DOMAIN_STATS_BALLOON)
                            stats_polls.append(now() - t0)
                        except libvirt.libvirtError as e:
                            if e.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                                raise
                            has_stats = False
                except libvirt.libvirtError as e:
                    with lock:
                        errors.append("poller: %s" % e)
                time.sleep(0.05)
        finally:
            conn.close()

    if pid:
        usage["before"] = daemon_usage(pid)
    pt = threading.Thread(target=poller)
    pt.start()
    t0 = now()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = now() - t0
    stop.set()
    pt.join()
    if pid:
        usage["at the end"] = daemon_usage(pid)
    return {"errors": errors, "polls": polls, "stats": stats_polls,
            "bare": bare, "usage": usage, "cycles": sum(done),
            "elapsed": elapsed}


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
            "(at most %d s), one client polling listAllDomains + info, "
            "and getAllDomainStats"
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
        if not isinstance(r, str) and r["errors"]:
            log("")
            log("%s: first errors:" % k)
            for e in r["errors"][:5]:
                log("  " + e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
