#!/usr/bin/python3
"""Where the memory of an idle Debian 12 systemd context goes, ours
against LXC, on the same tree; and which units boot slower in which peer.

Not run on its own: bench/distro runs it as phases of
bench/distro-measure.py, whose peers and helpers it uses (the module is
handed in as M):

  bench/distro --phases breakdown --counts 20        the memory breakdown
  bench/distro --phases breakdownbare --counts 50    the same, init `sleep
                                                     infinity`: what the
                                                     manager itself costs
  bench/distro --phases bootunits --boot-runs 8      systemd-analyze per unit

BREAKDOWN_PEERS (environment, default "ours,lxc-dir,lxc-ovl") picks the
peers.  See bench/README.md ("Where the memory of an idle context goes",
"Boot, unit by unit").

The breakdown, for N idle contexts per peer (peers one after the other,
each N started, settled, left --settle s, then `sync` + drop_caches):

  - the guest's processes (every process in the context's memory cgroup,
    recursively): /proc/PID/smaps_rollup (Rss, Pss, Pss_Anon, Pss_File,
    Pss_Shmem, Private_Dirty), VmPTE (page tables) of /proc/PID/status,
    threads (each a 16 KiB kernel stack on x86_64), per command too;
  - the supervisor (init's parent: our shim, LXC's monitor), the same
    figures; for ours also the daemon's Pss before and with the N up;
  - tmpfs in the context: every tmpfs / devtmpfs / mqueue super block in
    the mount namespaces of its processes, bytes used (statvfs through
    /proc/PID/root), the shmem of its memory cgroup;
  - the context's memory cgroup (v1): usage, kmem (slab, page tables,
    stacks, ... charged to it), rss, cache, shmem; LXC's monitor group;
  - kernel objects: namespaces of each type (distinct /proc/*/ns ids on
    the host before and with the N up), mount namespaces and the mounts
    in them, cgroup directories of the context in every hierarchy, memory
    cgroups in /proc/cgroups (dying ones included);
  - host-wide: /proc/meminfo deltas (AnonPages, Shmem, PageTables,
    KernelStack, Slab, SReclaimable, SUnreclaim, Percpu, VmallocUsed,
    MemFree, MemAvailable) and the /proc/slabinfo caches that grew most,
    against the mean of the readings before the first start and after the
    last stop (a linear drift cancels).
"""

import os
import statistics
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
KSTACK = 16384                  # THREAD_SIZE, x86_64
TMPFS = ("tmpfs", "devtmpfs", "mqueue", "ramfs")
NSTYPES = ("mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time")
MEMINFO = ("MemFree", "MemAvailable", "AnonPages", "Shmem", "Mapped", "Cached",
           "PageTables", "KernelStack", "Slab", "SReclaimable", "SUnreclaim",
           "Percpu", "VmallocUsed", "Committed_AS")
ROLLUP = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Private_Dirty",
          "Private_Clean", "Shared_Clean", "Anonymous")


def log(msg):
    print(msg, flush=True)


def kib(x):
    return "n/a" if x is None else "%.0f KiB" % (x / 1024.0)


def mib(x):
    return "n/a" if x is None else "%.2f MiB" % (x / 1048576.0)


def read(path):
    with open(path) as f:
        return f.read()


# --------------------------------------------------------------------------
# readings

def rollup(pid):
    """smaps_rollup (bytes) + VmPTE, Threads, Name of /proc/PID/status."""
    r = {}
    try:
        for line in read("/proc/%d/smaps_rollup" % pid).splitlines()[1:]:
            k, _, v = line.partition(":")
            if k in ROLLUP:
                r[k] = int(v.split()[0]) * 1024
        for line in read("/proc/%d/status" % pid).splitlines():
            k, _, v = line.partition(":")
            if k == "VmPTE":
                r["VmPTE"] = int(v.split()[0]) * 1024
            elif k == "Threads":
                r["Threads"] = int(v)
            elif k == "Name":
                r["Name"] = v.strip()
    except (OSError, ValueError, IndexError):
        return None
    return r


def cg_tree_procs(path):
    pids = set()
    for d, _, _ in os.walk(path):
        try:
            pids.update(int(x) for x in read(os.path.join(d, "cgroup.procs")).split())
        except OSError:
            pass
    return pids


def cg_dirs(path):
    return sum(1 for _ in os.walk(path)) if os.path.isdir(path) else 0


def memcg(path):
    """usage, kmem and memory.stat's total_* of a v1 memory group (bytes)."""
    r = {}
    for k, fn in (("usage", "memory.usage_in_bytes"), ("kmem", "memory.kmem.usage_in_bytes"),
                  ("kmem_tcp", "memory.kmem.tcp.usage_in_bytes")):
        try:
            r[k] = int(read(os.path.join(path, fn)))
        except (OSError, ValueError):
            r[k] = None
    try:
        for line in read(os.path.join(path, "memory.stat")).splitlines():
            k, v = line.split()
            if k in ("total_rss", "total_cache", "total_shmem", "total_mapped_file",
                     "total_dirty"):
                r[k[6:]] = int(v)
    except (OSError, ValueError):
        pass
    return r


def meminfo_all():
    d = {}
    for line in read("/proc/meminfo").splitlines():
        k, v = line.split(":", 1)
        d[k] = int(v.split()[0]) * 1024
    return d


def slabinfo():
    """{cache: bytes in its slabs} of /proc/slabinfo."""
    r = {}
    for line in read("/proc/slabinfo").splitlines()[2:]:
        f = line.split()
        # name active num objsize objperslab pagesperslab : tunables ... :
        # slabdata active_slabs num_slabs sharedavail
        try:
            r[f[0]] = int(f[-2]) * int(f[5]) * PAGE
        except (ValueError, IndexError):
            pass
    return r


def ns_ids():
    """{type: set of ids} of every process on the host."""
    r = {t: set() for t in NSTYPES}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        for t in NSTYPES:
            try:
                r[t].add(os.readlink("/proc/%s/ns/%s" % (p, t)))
            except OSError:
                pass
    return r


def memcg_count():
    for line in read("/proc/cgroups").splitlines():
        f = line.split()
        if f and f[0] == "memory":
            return int(f[2])
    return None


def host_snapshot(m):
    """meminfo (median of 5, after sync + drop_caches), slabinfo, ns ids,
    memory cgroups."""
    m.drop_caches()
    time.sleep(1.0)
    reads = []
    for _ in range(5):
        reads.append(meminfo_all())
        time.sleep(0.3)
    mi = {k: statistics.median(r.get(k, 0) for r in reads) for k in MEMINFO}
    return {"meminfo": mi, "slab": slabinfo(), "ns": {t: len(v) for t, v in ns_ids().items()},
            "memcgs": memcg_count()}


def mounts_of(pid):
    """[(mount id, major:minor, mount point, fstype, source)] of PID."""
    r = []
    for line in read("/proc/%d/mountinfo" % pid).splitlines():
        a, _, b = line.partition(" - ")
        f, g = a.split(), b.split()
        r.append((f[0], f[2], f[4], g[0], g[1] if len(g) > 1 else ""))
    return r


def tmpfs_used(pid, mpoint):
    try:
        st = os.statvfs("/proc/%d/root%s" % (pid, mpoint))
        return (st.f_blocks - st.f_bfree) * st.f_frsize
    except OSError:
        return None


def context_reading(peer, dom):
    """Everything per context: processes, supervisor, mounts, tmpfs, memory
    cgroup, namespaces, cgroup directories."""
    pid = peer.pid(dom)
    if not pid:
        return None
    cgpath = peer.cgroup(dom)
    pids = cg_tree_procs(cgpath)
    ppid = int(read("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()[1])
    pids.discard(ppid)
    r = {"procs": {}, "supervisor": rollup(ppid), "memcg": memcg(cgpath)}
    for p in sorted(pids):
        ro = rollup(p)
        if ro:
            r["procs"][p] = ro
    # LXC's monitor has a memory group of its own
    if peer.name.startswith("lxc"):
        r["monitor_memcg"] = memcg("/sys/fs/cgroup/memory/lxc.monitor.%s" % dom)
    # namespaces: distinct ids of the context's processes and the supervisor
    ns = {t: set() for t in NSTYPES}
    sup_ns = {}
    host = {}
    for t in NSTYPES:
        try:
            host[t] = os.readlink("/proc/self/ns/%s" % t)
            sup_ns[t] = os.readlink("/proc/%d/ns/%s" % (ppid, t))
        except OSError:
            pass
    mnt_rep = {}                 # mnt ns id -> a pid in it
    for p in list(pids) + [ppid]:
        for t in NSTYPES:
            try:
                i = os.readlink("/proc/%d/ns/%s" % (p, t))
            except OSError:
                continue
            if i != host.get(t):
                ns[t].add(i)
            if t == "mnt" and i != host.get(t):
                mnt_rep.setdefault(i, p)
    r["ns"] = {t: len(v) for t, v in ns.items()}
    r["sup_own_ns"] = sorted(t for t in NSTYPES if sup_ns.get(t) and sup_ns[t] != host.get(t))
    # mounts in every mount namespace of the context (and the supervisor's)
    mounts, types, tm, seen_sb = 0, {}, [], set()
    for i, p in mnt_rep.items():
        try:
            ml = mounts_of(p)
        except OSError:
            continue
        mounts += len(ml)
        for mid, dev, mp, fst, src in ml:
            types[fst] = types.get(fst, 0) + 1
            if fst in TMPFS and dev not in seen_sb:
                seen_sb.add(dev)
                tm.append((mp, fst, tmpfs_used(p, mp)))
    r["mntns"] = len(mnt_rep)
    r["mounts"] = mounts
    r["mount_types"] = types
    r["tmpfs"] = tm
    try:
        r["init_mounts"] = len(mounts_of(pid))
    except OSError:
        r["init_mounts"] = None
    # cgroup directories of the context in every hierarchy
    rel = cgpath[len("/sys/fs/cgroup/memory"):]
    dirs = 0
    for h in os.listdir("/sys/fs/cgroup"):
        dirs += cg_dirs("/sys/fs/cgroup/%s%s" % (h, rel))
        if peer.name.startswith("lxc"):
            dirs += cg_dirs("/sys/fs/cgroup/%s/lxc.monitor.%s" % (h, dom))
    r["cgroup_dirs"] = dirs
    return r


# --------------------------------------------------------------------------
# the phase

def peers_wanted(peers):
    want = os.environ.get("BREAKDOWN_PEERS", "ours,lxc-dir,lxc-ovl").split(",")
    return [p for p in peers if p.name in want]


def daemon_pid(a):
    vs_dir = os.path.join(a.work, os.path.basename(a.work))
    try:
        return int(read(os.path.join(vs_dir, "run", "virtvserverd.pid")).split()[0])
    except (OSError, ValueError):
        return None


def summarize(m, peer, n, before, after, end, ctx, d_before, d_after):
    """Per-context figures (bytes, means over the contexts)."""
    base = {k: (before["meminfo"][k] + end["meminfo"][k]) / 2 for k in MEMINFO}
    s = {"n": n, "load": m.loadavg()}
    s["meminfo"] = {k: (base[k] - after["meminfo"][k]) / n if k in ("MemFree", "MemAvailable")
                    else (after["meminfo"][k] - base[k]) / n for k in MEMINFO}
    # the same against the reading right after the stop only: a shorter
    # window (the stops take seconds, the starts minutes) for a host whose
    # memory does not drift linearly
    s["meminfo_vs_stop"] = {k: (end["meminfo"][k] - after["meminfo"][k]) / n
                            if k in ("MemFree", "MemAvailable")
                            else (after["meminfo"][k] - end["meminfo"][k]) / n for k in MEMINFO}
    s["raw_meminfo"] = {"before": before["meminfo"], "up": after["meminfo"],
                        "after_stop": end["meminfo"]}
    s["drift_memavail"] = end["meminfo"]["MemAvailable"] - before["meminfo"]["MemAvailable"]
    slab = {}
    for k in set(before["slab"]) | set(after["slab"]) | set(end["slab"]):
        b = (before["slab"].get(k, 0) + end["slab"].get(k, 0)) / 2
        slab[k] = (after["slab"].get(k, 0) - b) / n
    s["slab_top"] = sorted(slab.items(), key=lambda kv: -kv[1])[:14]
    s["ns_host"] = {t: (after["ns"][t] - (before["ns"][t] + end["ns"][t]) / 2) / n
                    for t in NSTYPES}
    if after["memcgs"] is not None:
        s["memcgs"] = (after["memcgs"] - (before["memcgs"] + end["memcgs"]) / 2) / n
    ok = [c for c in ctx if c]
    s["read"] = len(ok)
    if not ok:
        return s

    def mean(f):
        xs = [f(c) for c in ok]
        xs = [x for x in xs if x is not None]
        return sum(xs) / len(xs) if xs else None

    def psum(c, k):
        return sum(p.get(k, 0) for p in c["procs"].values())
    g = {k: mean(lambda c, k=k: psum(c, k)) for k in ROLLUP + ("VmPTE", "Threads")}
    g["procs"] = mean(lambda c: len(c["procs"]))
    g["kstack"] = g["Threads"] * KSTACK
    s["guest"] = g
    sup = {k: mean(lambda c, k=k: (c["supervisor"] or {}).get(k)) for k in
           ROLLUP + ("VmPTE", "Threads")}
    sup["name"] = (ok[0]["supervisor"] or {}).get("Name")
    sup["own_ns"] = ok[0]["sup_own_ns"]
    s["supervisor"] = sup
    s["memcg"] = {k: mean(lambda c, k=k: c["memcg"].get(k)) for k in
                  ("usage", "kmem", "kmem_tcp", "rss", "cache", "shmem", "mapped_file", "dirty")}
    if "monitor_memcg" in ok[0]:
        s["monitor_memcg"] = {k: mean(lambda c, k=k: c["monitor_memcg"].get(k))
                              for k in ("usage", "kmem", "rss", "cache")}
    s["ns"] = {t: mean(lambda c, t=t: c["ns"][t]) for t in NSTYPES}
    s["mntns"] = mean(lambda c: c["mntns"])
    s["mounts"] = mean(lambda c: c["mounts"])
    s["init_mounts"] = mean(lambda c: c["init_mounts"])
    s["cgroup_dirs"] = mean(lambda c: c["cgroup_dirs"])
    s["tmpfs_used"] = mean(lambda c: sum(x[2] or 0 for x in c["tmpfs"]))
    s["tmpfs_count"] = mean(lambda c: len(c["tmpfs"]))
    # the tmpfs mounts by mount point (median of the bytes used)
    tm = {}
    for c in ok:
        for mp, fst, used in c["tmpfs"]:
            tm.setdefault("%s (%s)" % (mp, fst), []).append(used or 0)
    s["tmpfs"] = {k: (len(v) / len(ok), statistics.median(v)) for k, v in sorted(tm.items())}
    types = {}
    for c in ok:
        for k, v in c["mount_types"].items():
            types[k] = types.get(k, 0) + v / len(ok)
    s["mount_types"] = types
    # per command: median over the contexts of the sum per context
    per = {}
    for c in ok:
        byname = {}
        for p in c["procs"].values():
            e = byname.setdefault(p.get("Name", "?"), {"n": 0, "Pss_Anon": 0, "Rss": 0,
                                                        "Pss": 0, "VmPTE": 0})
            e["n"] += 1
            for k in ("Pss_Anon", "Rss", "Pss", "VmPTE"):
                e[k] += p.get(k, 0)
        for nm, e in byname.items():
            per.setdefault(nm, []).append(e)
    s["per_command"] = {nm: {k: statistics.median(e[k] for e in es) for k in es[0]}
                        for nm, es in per.items() if len(es) >= len(ok) / 2}
    if d_before and d_after:
        s["daemon_pss"] = (d_after.get("Pss", 0) - d_before.get("Pss", 0)) / n
    return s


BARE_INIT = ("/bin/sleep", "infinity")


def define_bare(p, dom, i):
    """A context of the same tree whose init is `sleep infinity`: what the
    manager itself costs (supervisor, namespaces, mounts, cgroups, root)."""
    if p.name == "ours":
        return p.define(dom, "dbp", "bookworm-systemd", i, init=BARE_INIT)
    os.environ["LXC_INIT_CMD"] = " ".join(BARE_INIT)
    try:
        return p.define(dom)
    finally:
        del os.environ["LXC_INIT_CMD"]


def phase_breakdown(m, a, peers, res, bare=False):
    """The memory breakdown for each N of --counts; BARE: of contexts
    whose init is `sleep infinity` (phase breakdownbare)."""
    peers = peers_wanted(peers)
    out = res.setdefault("breakdownbare" if bare else "breakdown", {})
    for n in a.counts:
        log("\n== memory breakdown%s, N=%d (peers one after the other); load %s"
            % (" of bare contexts (init: %s)" % " ".join(BARE_INIT) if bare else "",
               n, m.loadavg()))
        sums = {}
        for p in peers:
            if bare:
                doms = [define_bare(p, "z%s%03d" % (p.name.replace("-", ""), i), i)
                        for i in range(n)]
            else:
                doms = [p.define("b%s%03d" % (p.name.replace("-", ""), i), "dbp",
                                 "bookworm-systemd", i) for i in range(n)]
            dp = daemon_pid(a) if p.name == "ours" else None
            before = host_snapshot(m)
            d_before = rollup(dp) if dp else None
            t, tc, bad = m.start_many(a, p, doms, (lambda pid: True) if bare
                                      else m.sysd_running, p.name)
            log("  %-8s %d started + settled in %.1f s%s; load %s"
                % (p.name, n, t, "; FAILED: " + " | ".join(bad[:3]) if bad else "",
                   m.loadavg()))
            time.sleep(a.settle)
            after = host_snapshot(m)
            ctx = [context_reading(p, d) for d in doms]
            d_after = rollup(dp) if dp else None
            states = {}
            for d in doms:
                pid = p.pid(d)
                st = ("up" if bare else m.systemd_state(pid)) if pid else "down"
                states[st] = states.get(st, 0) + 1
            m.stop_all(p, doms)
            end = host_snapshot(m)
            s = summarize(m, p, n, before, after, end, ctx, d_before, d_after)
            s["states"] = states
            s["failures"] = bad
            sums[p.name] = s
            log("  %-8s readings done (states %s); baseline drift %s; load %s"
                % (p.name, states, mib(s["drift_memavail"]), s["load"]))
            for d in doms:
                p.remove(d)
        out[str(n)] = sums
        print_breakdown(n, sums)


def print_breakdown(n, sums):
    names = list(sums)

    def row(label, f, fmt=kib):
        vals = []
        for nm in names:
            try:
                v = f(sums[nm])
            except (KeyError, TypeError):
                v = None
            vals.append(fmt(v) if not isinstance(v, str) else v)
        log("| %s | %s |" % (label, " | ".join(vals)))

    def num(x):
        return "n/a" if x is None else ("%.1f" % x).rstrip("0").rstrip(".")

    log("\n  memory breakdown per idle context, N=%d (means over the contexts; host-wide rows: "
        "delta from the baseline / N, after drop_caches)\n" % n)
    log("| per context | " + " | ".join(names) + " |")
    log("|---|" + "---|" * len(names))
    row("load average at the readings", lambda s: s["load"], str)
    row("guest processes (threads)", lambda s: "%s (%s)" % (num(s["guest"]["procs"]),
                                                           num(s["guest"]["Threads"])), str)
    for k in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Private_Dirty"):
        row("guest processes: %s" % k, lambda s, k=k: s["guest"][k])
    row("guest processes: page tables (VmPTE)", lambda s: s["guest"]["VmPTE"])
    row("guest processes: kernel stacks (threads x 16 KiB)", lambda s: s["guest"]["kstack"])
    row("supervisor", lambda s: "%s%s" % (s["supervisor"]["name"],
                                          " (own ns: %s)" % ",".join(s["supervisor"]["own_ns"])
                                          if s["supervisor"]["own_ns"] else ""), str)
    for k in ("Rss", "Pss", "Pss_Anon", "Private_Dirty", "VmPTE"):
        row("supervisor: %s" % k, lambda s, k=k: s["supervisor"][k])
    row("supervisor: threads", lambda s: num(s["supervisor"]["Threads"]), str)
    row("daemon Pss growth / N (ours: virtvserverd)", lambda s: s.get("daemon_pss"))
    row("memory cgroup: usage", lambda s: s["memcg"]["usage"])
    row("memory cgroup: rss", lambda s: s["memcg"]["rss"])
    row("memory cgroup: cache (shmem)", lambda s: "%s (%s)" % (kib(s["memcg"]["cache"]),
                                                              kib(s["memcg"]["shmem"])), str)
    row("memory cgroup: kmem (kmem.tcp)", lambda s: "%s (%s)" % (kib(s["memcg"]["kmem"]),
                                                                kib(s["memcg"]["kmem_tcp"])), str)
    row("LXC monitor's memory cgroup: usage (kmem)",
        lambda s: "%s (%s)" % (kib(s["monitor_memcg"]["usage"]), kib(s["monitor_memcg"]["kmem"]))
        if "monitor_memcg" in s else "-", str)
    row("tmpfs super blocks (bytes used, statvfs)",
        lambda s: "%s (%s)" % (num(s["tmpfs_count"]), kib(s["tmpfs_used"])), str)
    row("mount namespaces (mounts in them; init's)",
        lambda s: "%s (%s; %s)" % (num(s["mntns"]), num(s["mounts"]), num(s["init_mounts"])),
        str)
    row("namespaces not the host's (mnt uts ipc pid net user cgroup time)",
        lambda s: " ".join(num(s["ns"][t]) for t in NSTYPES), str)
    row("cgroup directories (all hierarchies)", lambda s: num(s["cgroup_dirs"]), str)
    row("memory cgroups / N (/proc/cgroups)", lambda s: num(s.get("memcgs")), str)
    for k in MEMINFO:
        row("host %s %s / N" % (k, "drop" if k in ("MemFree", "MemAvailable") else "delta"),
            lambda s, k=k: s["meminfo"][k])
    row("host MemAvailable drift over the set", lambda s: s["drift_memavail"], mib)
    for k in ("MemAvailable", "AnonPages", "PageTables", "KernelStack", "SUnreclaim",
              "SReclaimable", "VmallocUsed"):
        row("host %s %s / N, against the reading after the stop only" %
            (k, "drop" if k == "MemAvailable" else "delta"),
            lambda s, k=k: s["meminfo_vs_stop"][k])

    log("\n  tmpfs by mount point (count per context, median bytes used):")
    for nm in names:
        log("    %s: %s" % (nm, "; ".join("%s x%s %s" % (k, num(c), kib(u))
                                         for k, (c, u) in sums[nm].get("tmpfs", {}).items())))
    log("\n  mounts by file system type, per context (all its mount namespaces):")
    for nm in names:
        log("    %s: %s" % (nm, ", ".join("%s %s" % (k, num(v)) for k, v in
                                         sorted(sums[nm].get("mount_types", {}).items(),
                                                key=lambda kv: -kv[1]))))
    log("\n  slab caches that grew most, per context (host /proc/slabinfo):")
    for nm in names:
        log("    %s: %s" % (nm, ", ".join("%s %s" % (k, kib(v))
                                         for k, v in sums[nm].get("slab_top", []))))
    log("\n  guest processes by command (median per context: count, Pss_Anon, Rss, VmPTE):")
    cmds = sorted({c for nm in names for c in sums[nm].get("per_command", {})})
    log("| command | " + " | ".join(names) + " |")
    log("|---|" + "---|" * len(names))
    for c in cmds:
        vals = []
        for nm in names:
            e = sums[nm].get("per_command", {}).get(c)
            vals.append("-" if not e else "%s: %s, %s, %s" % (num(e["n"]), kib(e["Pss_Anon"]),
                                                             kib(e["Rss"]), kib(e["VmPTE"])))
        log("| %s | %s |" % (c, " | ".join(vals)))


# --------------------------------------------------------------------------
# boot: systemd-analyze per unit

def analyze(m, pid):
    """blame {unit: s}, critical-chain text, systemd-analyze time text."""
    blame = {}
    o = m.nsrun(pid, "/usr/bin/systemd-analyze", "blame", "--no-pager", timeout=30)[1]
    for line in o.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        unit = f[-1]
        t = 0.0
        for tok in f[:-1]:
            t += parse_span(tok)
        blame[unit] = t
    chain = m.nsrun(pid, "/usr/bin/systemd-analyze", "critical-chain", "--no-pager",
                    timeout=30)[1]
    tm = m.nsrun(pid, "/usr/bin/systemd-analyze", timeout=30)[1]
    return blame, chain, tm


def parse_span(tok):
    """'1.234s', '215ms', '1min', '3us' -> seconds."""
    for suf, f in (("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("min", 60.0), ("s", 1.0)):
        if tok.endswith(suf):
            try:
                return float(tok[:-len(suf)]) * f
            except ValueError:
                return 0.0
    return 0.0


def unit_props(m, pid):
    """{unit: (activating start, active enter)} of the units that started,
    in s after systemd's main() (UserspaceTimestampMonotonic)."""
    o = m.nsrun(pid, "/bin/systemctl", "show", "-p", "UserspaceTimestampMonotonic",
                timeout=10)[1]
    try:
        u0 = int(o.partition("=")[2]) / 1e6
    except ValueError:
        return {}
    units = [l.split()[0] for l in m.nsrun(pid, "/bin/systemctl", "list-units", "--all",
                                           "--no-legend", "--plain", timeout=30)[1].splitlines()
             if l.split()]
    if not units:
        return {}
    o = m.nsrun(pid, "/bin/systemctl", "show", "-p", "Id",
                "-p", "InactiveExitTimestampMonotonic", "-p", "ActiveEnterTimestampMonotonic",
                "--", *units, timeout=30)[1]
    r, cur = {}, {}
    for line in o.splitlines() + [""]:
        if not line:
            if cur.get("Id") and cur.get("ActiveEnterTimestampMonotonic", "0") not in ("", "0"):
                ie = int(cur.get("InactiveExitTimestampMonotonic") or 0) / 1e6
                ae = int(cur["ActiveEnterTimestampMonotonic"]) / 1e6
                r[cur["Id"]] = (ie - u0 if ie else None, ae - u0)
            cur = {}
            continue
        k, _, v = line.partition("=")
        cur[k] = v
    return r


def phase_bootunits(m, a, peers, res):
    """--boot-runs cold-cache boots per peer, interleaved: start ->
    running, systemd-analyze (time, blame, critical-chain) and every
    unit's activation times; the units' medians side by side."""
    peers = peers_wanted(peers)
    log("\n== boot, unit by unit: %d cold-cache cycles per peer, interleaved; load %s"
        % (a.boot_runs, m.loadavg()))
    doms = {p.name: p.define("u" + p.name.replace("-", ""), "dbp", "bookworm-systemd", 0)
            for p in peers}
    out = {p.name: [] for p in peers}
    for r in range(a.boot_runs):
        for p in peers:
            dom = doms[p.name]
            m.drop_caches()
            load = m.loadavg()
            t, tc, st = m.boot_once(p, dom)
            rec = {"running": t, "state": st, "load": load}
            pid = p.pid(dom)
            if pid and st in ("running", "degraded"):
                rec["blame"], chain, tm = analyze(m, pid)
                rec["units"] = unit_props(m, pid)
                rec["time"] = tm
                rec["chain"] = chain
                rec["failed"] = m.nsrun(pid, "/bin/systemctl", "--failed", "--no-legend",
                                        "--plain")[1]
                rec["jobs_waiting"] = m.nsrun(pid, "/bin/systemctl", "list-jobs",
                                              "--no-legend")[1]
                # the boot's warnings and errors, without the pids
                rec["warnings"] = [w.split(": ", 1)[-1] for w in m.nsrun(
                    pid, "/bin/journalctl", "-b", "-p", "warning", "--no-pager", "-q",
                    "-o", "short", timeout=30)[1].splitlines()]
            try:
                ts, why = m.shutdown_once(p, dom) if p.running(dom) else (None, "down")
            except Exception as e:
                ts, why = None, str(e)
            if ts is None:
                p.kill(dom)
                m.wait_gone(p, dom, 30)
            out[p.name].append(rec)
            log("  run %d %-8s start->running %s (%s), load before %s; %s"
                % (r + 1, p.name, m.fmt_s(t), st, load,
                   (rec.get("time") or "").splitlines()[0] if rec.get("time") else ""))
            if rec.get("failed"):
                log("    failed units: %s" % rec["failed"].replace("\n", "; "))
    for p in peers:
        p.remove(doms[p.name])
    res["bootunits"] = out
    names = [p.name for p in peers]
    log("\n  start -> running, median (min-max) over the cycles:")
    for nm in names:
        xs = [x["running"] for x in out[nm] if x.get("running") is not None]
        if xs:
            log("    %-8s %.2f s (%.2f-%.2f), %d of %d" % (nm, statistics.median(xs), min(xs),
                                                       max(xs), len(xs), len(out[nm])))
    # blame: median per unit, every unit any peer has
    units = sorted({u for nm in names for x in out[nm] for u in x.get("blame", {})})
    medb = {nm: {u: statistics.median([x["blame"].get(u) for x in out[nm]
                                       if u in x.get("blame", {})] or [0.0]) for u in units}
            for nm in names}
    present = {nm: {u: sum(1 for x in out[nm] if u in x.get("blame", {})) for u in units}
               for nm in names}
    log("\n  systemd-analyze blame, median per unit over the cycles (s; units in only one "
        "peer marked):")
    log("| unit | " + " | ".join(names) + " |")
    log("|---|" + "---|" * len(names))
    key = names[0]
    for u in sorted(units, key=lambda u: -max(medb[nm][u] for nm in names)):
        if max(medb[nm][u] for nm in names) < 0.005:
            continue
        log("| %s | %s |" % (u, " | ".join("%.3f" % medb[nm][u] if present[nm][u] else "-"
                                           for nm in names)))
    # activation: when each unit became active, after systemd's main()
    allu = sorted({u for nm in names for x in out[nm] for u in x.get("units", {})})
    meda = {}
    for nm in names:
        meda[nm] = {}
        for u in allu:
            xs = [x["units"][u][1] for x in out[nm] if u in x.get("units", {})]
            if xs:
                meda[nm][u] = statistics.median(xs)
    log("\n  active after systemd's main(), median (s), the targets and the units that "
        "differ by 50 ms or more, or exist in one peer only:")
    log("| unit | " + " | ".join(names) + " |")
    log("|---|" + "---|" * len(names))
    for u in sorted(allu, key=lambda u: max(meda[nm].get(u, 0) for nm in names)):
        vals = [meda[nm].get(u) for nm in names]
        have = [v for v in vals if v is not None]
        if (u.endswith(".target") or len(have) < len(vals) or
                (have and max(have) - min(have) >= 0.05)):
            log("| %s | %s |" % (u, " | ".join("-" if v is None else "%.3f" % v for v in vals)))
    log("\n  units only in one peer (active in any cycle):")
    for nm in names:
        only = sorted(u for u in meda[nm] if all(u not in meda[o] for o in names if o != nm))
        log("    %s: %s" % (nm, ", ".join(only) or "none"))
    log("\n  journal warnings and errors of the boot (priority <= warning), the lines "
        "seen in any cycle of one peer and in no cycle of another:")
    seen = {nm: set(w for x in out[nm] for w in x.get("warnings", [])) for nm in names}
    for nm in names:
        only = sorted(w for w in seen[nm] if any(w not in seen[o] for o in names if o != nm))
        log("    %s: %s" % (nm, "\n      ".join([""] + only) if only else "none"))
    for nm in names:
        last = [x for x in out[nm] if x.get("chain")]
        if last:
            log("\n  %s, last cycle: systemd-analyze\n    %s\n  critical-chain:\n    %s"
                % (nm, "\n    ".join(last[-1]["time"].splitlines()),
                   "\n    ".join(last[-1]["chain"].splitlines()[:30])))
