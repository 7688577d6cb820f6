#!/usr/bin/python3
"""Measurements of bench/hashify: template import, clones, tree dedup and
the disk cost of clones, each next to a peer measured in the same run.

Run by bench/hashify, which installs the packages, makes the Debian tree
and its tarball, starts a private virtvserverd and cleans up after.  See
bench/README.md.  Never fails on a goal: it prints "met" or "NOT met".
"""

import argparse
import hashlib
import resource
import json
import os
import random
import shutil
import stat
import statistics
import subprocess
import sys
import time

try:
    import libvirt
except ImportError:             # the daemon rows then say n/a
    libvirt = None


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


class ToolError(Exception):
    pass


def run(argv, stdin=None, cwd=None):
    """Run a command; its stdout, or ToolError with its own message."""
    r = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        raise ToolError("%s: exit %d: %s" % (os.path.basename(argv[0]), r.returncode,
                                            msg[-1] if msg else "(no message)"))
    return r.stdout.decode(errors="replace")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid):
    """CPU seconds of PID and of its children it has waited for."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def timed(argv, stdin_path=None, cwd=None):
    """Wall time of one command, process start and exit included, its
    output, and the CPU time (user + sys) of it and its children."""
    f = open(stdin_path, "rb") if stdin_path else None
    try:
        c0 = children_cpu()
        t0 = time.perf_counter()
        out = run(argv, stdin=f, cwd=cwd)
        return time.perf_counter() - t0, out, children_cpu() - c0
    finally:
        if f:
            f.close()


def rmtree(path):
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--one-file-system", path], check=True)


def du_bytes(path, apparent=True):
    """du -s over PATH: every inode counted once (hard links too)."""
    argv = ["du", "-s", "-b" if apparent else "--block-size=1", path]
    return int(run(argv).split()[0])


def fs_used(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def is_guest(vol):
    return "'hashify-guest'" in vol.XMLDesc(0)


def host_load():
    """Load average and CPU / IO pressure (some, avg60): this bench is
    I/O-bound, so what else runs on the host moves its figures."""
    out = "load %s" % " ".join(open("/proc/loadavg").read().split()[:3])
    for res in ("cpu", "io"):
        try:
            line = open("/proc/pressure/%s" % res).readline().split()
            out += ", %s pressure %s%%" % (res, line[2].split("=")[1])
        except (OSError, IndexError):
            pass
    return out


def median(xs):
    return statistics.median(xs) if xs else None


def mb(n):
    return "%.1f MB" % (n / 1e6)


def secs(t):
    return "n/a" if t is None else "%.2f s" % t


def msecs(t):
    return "n/a" if t is None else "%.2f ms" % (t * 1e3)


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        self.results = {"cache_mode": "warm" if a.warm else "cold"}
        self.rows = []          # (measure, ours, peer, ratio, goal, met)
        self.notes = []
        self.conn = None
        self.daemon_pid = None
        if a.daemon_pidfile:
            try:
                self.daemon_pid = int(open(a.daemon_pidfile).read().strip())
            except (OSError, ValueError):
                pass
        if a.uri and libvirt:
            try:
                self.conn = libvirt.open(a.uri)
            except libvirt.libvirtError as e:
                a.daemon_error = "cannot connect: %s" % e.get_error_message()
        elif a.uri:
            a.daemon_error = "python3-libvirt missing"
        self.programs = [["tar", "--version"], ["gzip", "--version"], ["cp", "--version"],
                         ["rdfind", "--version"], ["jdupes", "-v"], [a.hashify, "--help"]]
        if a.uri:
            self.programs.append(self.virsh("uri"))
        self.import_error = None if a.has_import else \
            "%s has no 'import' command" % a.hashify

    # -- helpers

    def settle(self, *inputs):
        """Before every timed run, whatever the peer: flush what earlier
        runs wrote; then drop the page cache (default, cold) or read the
        run's inputs into it right before (--warm: right before, because
        a host that pages out idle memory, DAMON's pageout scheme, would
        have evicted them)."""
        os.sync()
        if not self.a.warm:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            # cold data, not cold programs: virsh and its libraries alone
            # would add a second of disk reads to the daemon's rows
            for argv in self.programs:
                subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return
        for p in inputs:
            if os.path.isdir(p):
                subprocess.run(["find", p, "-type", "f", "-exec", "cat", "{}", "+"],
                               stdout=subprocess.DEVNULL, check=True)
            else:
                subprocess.run(["cat", p], stdout=subprocess.DEVNULL, check=True)

    def row(self, measure, ours, peer, ratio, goal, met):
        self.rows.append((measure, ours, peer, ratio, goal, met))

    def virsh(self, *args):
        return ["virsh", "-q", "-c", self.a.uri] + list(args)

    def pool_xml(self, name, path):
        # minbase has /dev/null & co: create them, as tar does
        return ("<pool type='hashify'><name>%s</name><target><path>%s</path></target>"
                "<hashify><import devices='allow'/></hashify></pool>" % (name, path))

    def pool_create(self, name, path):
        p = self.conn.storagePoolDefineXML(self.pool_xml(name, path), 0)
        p.build(0)
        p.create(0)
        return p

    def pool_remove(self, name, path):
        """Guests first, then templates, then the pool and its directory."""
        try:
            p = self.conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            rmtree(path)
            return
        if p.isActive():
            vols = [p.storageVolLookupByName(n) for n in p.listVolumes()]
            for v in sorted(vols, key=lambda v: not is_guest(v)):
                try:
                    v.delete(0)
                except libvirt.libvirtError as e:
                    log("  cannot delete volume %s: %s" % (v.name(), e.get_error_message()))
            p.destroy()
        p.undefine()
        rmtree(path)

    # -- listings to check that an import gives tar's tree

    def listing(self, root):
        out = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                st = os.lstat(full)
                m = st.st_mode
                extra = ""
                if stat.S_ISLNK(m):
                    extra = os.readlink(full)
                elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
                    extra = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
                elif stat.S_ISREG(m):
                    h = hashlib.sha256()
                    with open(full, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                    extra = h.hexdigest()
                try:
                    xa = sorted((n, os.getxattr(full, n, follow_symlinks=False))
                                for n in os.listxattr(full, follow_symlinks=False))
                except OSError:
                    xa = []
                size = 0 if stat.S_ISDIR(m) else st.st_size
                mtime = 0 if stat.S_ISLNK(m) else int(st.st_mtime)
                out[rel] = (m, st.st_uid, st.st_gid, size, mtime, extra, tuple(xa))
        return out

    def compare(self, what, ref, got):
        """GOT must be REF entry for entry.  One difference is documented:
        with mtime out of the key (the default of pools and of import),
        identical files share one inode, whose mtime is the first one's; a
        file may then show the mtime of an identical twin."""
        a = self.listing(ref)
        b = self.listing(got)
        twins = {}
        for k, v in a.items():
            if stat.S_ISREG(v[0]):
                twins.setdefault(v[:4] + v[5:], set()).add(v[4])
        diff = []
        twin_mtime = 0
        for k in sorted(set(a) | set(b)):
            x, y = a.get(k), b.get(k)
            if x == y:
                continue
            if (x and y and stat.S_ISREG(x[0]) and x[:4] + x[5:] == y[:4] + y[5:] and
                    y[4] in twins.get(x[:4] + x[5:], ())):
                twin_mtime += 1
                continue
            diff.append(k)
        extra = ("; %d files show the mtime of an identical file (mtime not in the key)"
                 % twin_mtime) if twin_mtime else ""
        if diff:
            self.notes.append("%s differs from tar's tree in %d of %d entries, e.g. %s"
                              % (what, len(diff), len(a), ", ".join(diff[:5])))
            log("  CHECK: %s differs from tar's tree in %d entries: %s%s"
                % (what, len(diff), ", ".join(diff[:5]), extra))
            for k in diff[:3]:
                log("    %s: tar %s / got %s" % (k, a.get(k), b.get(k)))
        else:
            log("  check: %s is tar's tree (%d entries: type, mode, owner, size, mtime, "
                "content, xattrs, link targets, devices)%s" % (what, len(a), extra))
        return not diff

    # -- 2. template import vs tar -xzf

    def imports(self):
        a = self.a
        log("\n== import: %s (%s) into a fresh directory, %d runs each, %s cache"
            % (os.path.basename(a.tarball), mb(os.path.getsize(a.tarball)), a.runs,
               self.results["cache_mode"]))
        base = os.path.join(self.work, "import")
        os.makedirs(base)
        res = {"tar": [], "cli": [], "daemon": [], "daemon_create": [],
               "tar_cpu": [], "cli_cpu": [], "daemon_cpu": []}
        errors = {"tar": None, "cli": self.import_error,
                  "daemon": self.import_error or a.daemon_error}
        tar_ref = os.path.join(base, "tar.ref")
        volxml = os.path.join(base, "vol.xml")
        with open(volxml, "w") as f:
            f.write("<volume><name>T</name></volume>\n")

        def tar(i):
            dest = tar_ref if i == 0 else os.path.join(base, "tar.%d" % i)
            os.makedirs(dest)
            self.settle(a.tarball)
            t, _, cpu = timed(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                          "-xzf", a.tarball, "-C", dest])
            res["tar"].append(t)
            res["tar_cpu"].append(cpu)
            log("  run %d: tar -xzf                      %s (CPU %s)"
                % (i + 1, secs(t), secs(cpu)))
            if i:
                rmtree(dest)

        def cli(i):
            store = os.path.join(base, "cli.%d" % i)
            tree = os.path.join(store, "tree")
            os.makedirs(tree)
            self.settle(a.tarball)
            try:
                t, _, cpu = timed([a.hashify, "import", "--store", store, "--devices=allow",
                              "--no-progress", tree], stdin_path=a.tarball)
                res["cli"].append(t)
                res["cli_cpu"].append(cpu)
                log("  run %d: vserver-hashify import        %s (CPU %s)"
                    % (i + 1, secs(t), secs(cpu)))
                if i == 0:
                    self.compare("vserver-hashify import's tree", tar_ref, tree)
                    self.results["import_store_stats"] = run(
                        [a.hashify, "--stats", "-s", store]).strip()
            except ToolError as e:
                errors["cli"] = str(e)
                log("  vserver-hashify import failed: %s" % e)
            rmtree(store)

        def daemon(i):
            name = "bench-import-%d" % i
            path = os.path.join(base, "pool.%d" % i)
            try:
                self.pool_create(name, path)
                self.settle(a.tarball)
                # CPU: virsh, the daemon, and the import it ran and reaped
                c0 = children_cpu() + proc_cpu(self.daemon_pid)
                t0 = time.perf_counter()
                run(self.virsh("vol-create", name, volxml))
                t1 = time.perf_counter()
                run(self.virsh("vol-upload", "--pool", name, "T", a.tarball))
                t2 = time.perf_counter()
                cpu = children_cpu() + proc_cpu(self.daemon_pid) - c0
                res["daemon"].append(t2 - t0)
                res["daemon_create"].append(t1 - t0)
                res["daemon_cpu"].append(cpu)
                log("  run %d: virsh vol-create + vol-upload %s (CPU %s; vol-create %s)"
                    % (i + 1, secs(t2 - t0), secs(cpu), msecs(t1 - t0)))
                if i == 0:
                    self.compare("the template vol-upload made",
                                 tar_ref, os.path.join(path, "T", "tree"))
            except (ToolError, libvirt.libvirtError) as e:
                errors["daemon"] = getattr(e, "get_error_message", lambda: str(e))()
                log("  daemon import failed: %s" % errors["daemon"])
            try:
                self.pool_remove(name, path)
            except libvirt.libvirtError as e:
                log("  cannot remove pool %s: %s" % (name, e.get_error_message()))

        # tar first in the first run: its tree is the reference of the
        # checks; then the order rotates so that no peer always runs right
        # after the same other one
        peers = [("tar", tar), ("cli", cli), ("daemon", daemon)]
        for i in range(a.runs):
            k = i % len(peers)
            for key, fn in peers[k:] + peers[:k]:
                if not errors[key]:
                    fn(i)
        rmtree(base)

        tar = median(res["tar"])
        self.results["import"] = res
        for key, title in (("cli", "import: vserver-hashify import vs tar -xzf"),
                           ("daemon", "import: virsh vol-create+vol-upload vs tar -xzf")):
            m = median(res[key])
            if m is None:
                self.row(title, "n/a (%s)" % errors[key], secs(tar), "", "<= 1.20x", "n/a")
                continue
            r = m / tar
            self.row(title, secs(m), secs(tar), "%.2fx" % r, "<= 1.20x",
                     "met" if r <= 1.2 else "NOT met")
            mc, tc = median(res[key + "_cpu"]), median(res["tar_cpu"])
            self.row("  the same, CPU time (user+sys)", secs(mc), secs(tc),
                     "%.2fx" % (mc / tc), "(info)", "")

    # -- 3. clones

    def make_template_tarballs(self):
        """A ~2 MB tree (etc/ and the first files of usr/bin) and a ~200 MB
        one (the whole tree, plus random files if it is smaller)."""
        a = self.a
        base = os.path.join(self.work, "templates")
        small = os.path.join(base, "small")
        big = os.path.join(base, "big")
        os.makedirs(base, exist_ok=True)
        os.makedirs(small)
        run(["cp", "-a", os.path.join(a.tree, "etc"), small])
        total = du_bytes(small)
        os.makedirs(os.path.join(small, "usr", "bin"))
        bindir = os.path.join(a.tree, "usr", "bin")
        for n in sorted(os.listdir(bindir)):
            if total >= a.small_bytes:
                break
            p = os.path.join(bindir, n)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            run(["cp", "-a", p, os.path.join(small, "usr", "bin", n)])
            total += st.st_size
        out = {}
        tb = os.path.join(base, "2MB.tar.gz")
        run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
             "-C", small, "-czf", tb, "."])
        out["2MB"] = (tb, du_bytes(small))
        rmtree(small)
        have = du_bytes(a.tree)
        if have >= a.big_bytes:
            # the Debian tree itself is big enough: its own tarball
            out["200MB"] = (a.tarball, have)
            return out
        run(["cp", "-a", a.tree, big])
        d = os.path.join(big, "opt", "bench-pad")
        os.makedirs(d)
        rnd = random.Random(200)
        pad = a.big_bytes - have
        i = 0
        while pad > 0:
            n = min(pad, 4 << 20)
            with open(os.path.join(d, "pad.%03d" % i), "wb") as f:
                f.write(rnd.randbytes(n))
            pad -= n
            i += 1
        tb = os.path.join(base, "200MB.tar.gz")
        run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
             "-C", big, "-czf", tb, "."])
        out["200MB"] = (tb, du_bytes(big))
        rmtree(big)
        return out

    def clones(self):
        a = self.a
        log("\n== clones: 2 MB and 200 MB templates")
        self.clone_pool = None
        err = self.import_error or a.daemon_error
        if err:
            for k in ("2MB", "200MB"):
                self.row("clone %s: virsh vol-clone (wall)" % k, "n/a (%s)" % err, "", "",
                         "<= 5 ms", "n/a")
            return
        tbs = self.make_template_tarballs()
        name = "bench-clone"
        path = os.path.join(self.work, "clonepool")
        pool = self.pool_create(name, path)
        self.clone_pool = (name, path, pool)
        src = {}
        volxml = os.path.join(self.work, "T.vol.xml")
        for key, (tb, size) in tbs.items():
            with open(volxml, "w") as f:
                f.write("<volume><name>T%s</name></volume>\n" % key)
            t0 = time.perf_counter()
            run(self.virsh("vol-create", name, volxml))
            run(self.virsh("vol-upload", "--pool", name, "T%s" % key, tb))
            t = time.perf_counter() - t0
            src[key] = pool.storageVolLookupByName("T%s" % key)
            tree = os.path.join(path, "T%s" % key, "tree")
            log("  template T%s: %s of files (%s tar.gz), imported in %s; tree du -sb %s"
                % (key, mb(size), mb(os.path.getsize(tb)), secs(t), mb(du_bytes(tree))))
        rmtree(os.path.join(self.work, "templates"))
        self.results["templates"] = {k: v[1] for k, v in tbs.items()}

        # virsh vol-clone: what a user types; mostly virsh's own start-up
        wall = {k: [] for k in src}
        noop = []
        for i in range(a.clone_runs):
            for key in src:
                t, _, cpu = timed(self.virsh("vol-clone", "--pool", name, "T%s" % key,
                                        "v%s.%d" % (key, i)))
                wall[key].append(t)
            t, _, cpu = timed(self.virsh("uri"))
            noop.append(t)
        # the same API call timed inside one client process: one RPC
        api = {k: [] for k in src}
        rpc = []
        for i in range(a.api_runs):
            for key, vol in src.items():
                xml = "<volume><name>a%s.%d</name></volume>" % (key, i)
                t0 = time.perf_counter()
                pool.createXMLFrom(xml, vol, 0)
                api[key].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pool.isActive()
            rpc.append(time.perf_counter() - t0)
        g = pool.storageVolLookupByName("a200MB.0")
        gx = g.XMLDesc(0)
        if "<backingStore>" not in gx:
            self.notes.append("a clone's vol-dumpxml has no <backingStore>")
        for v in pool.listAllVolumes(0):
            if is_guest(v):
                v.delete(0)

        # peer: what a plain directory pool's clone does, a full copy
        cp = {k: [] for k in src}
        self.cp_bytes = {}
        for i in range(a.runs):
            for key in src:
                dest = os.path.join(self.work, "cp.%s" % key)
                srct = os.path.join(path, "T%s" % key, "tree")
                self.settle(srct)
                t, _, cpu = timed(["cp", "-a", srct, dest])
                cp[key].append(t)
                if i == 0:
                    self.cp_bytes[key] = du_bytes(dest)
                rmtree(dest)

        self.results["clone"] = {"virsh_wall": wall, "virsh_noop": noop, "api": api,
                                 "rpc_noop": rpc, "cp_a": cp}
        m_noop = median(noop)
        m_rpc = median(rpc)
        log("  virsh vol-clone, %d runs each; virsh -c URI uri (start-up + connect, no "
            "storage call): median %s" % (a.clone_runs, msecs(m_noop)))
        log("  createXMLFrom in one python3 process, %d runs each; a no-op RPC "
            "(pool.isActive): median %s" % (a.api_runs, msecs(m_rpc)))
        for key in src:
            mw, ma, mc = median(wall[key]), median(api[key]), median(cp[key])
            log("  %-5s  virsh vol-clone %s (min %s, max %s)  API %s (min %s, max %s)  "
                "cp -a %s" % (key, msecs(mw), msecs(min(wall[key])), msecs(max(wall[key])),
                              msecs(ma), msecs(min(api[key])), msecs(max(api[key])),
                              msecs(mc)))
            self.row("clone %s: virsh vol-clone (wall)" % key, msecs(mw), msecs(mc) + " cp -a",
                     "%.4fx" % (mw / mc), "<= 5 ms", "met" if mw <= 0.005 else "NOT met")
            self.row("clone %s: createXMLFrom in-process" % key, msecs(ma), msecs(mc) + " cp -a",
                     "%.4fx" % (ma / mc), "<= 5 ms", "met" if ma <= 0.005 else "NOT met")
            d = ma - m_rpc
            self.row("clone %s: daemon side (API - no-op RPC)" % key, msecs(d), "", "",
                     "<= 5 ms", "met" if d <= 0.005 else "NOT met")

    # -- 4. hashify of 5 modified copies vs rdfind and jdupes

    def make_copies(self):
        a = self.a
        master = os.path.join(self.work, "dedup", "master")
        os.makedirs(master)
        files = []
        for dirpath, dirnames, filenames in os.walk(a.tree):
            rel = os.path.relpath(dirpath, a.tree)
            if rel.split(os.sep)[0] in ("dev", "proc", "sys", "tmp", "run"):
                continue
            for n in filenames:
                st = os.lstat(os.path.join(dirpath, n))
                if stat.S_ISREG(st.st_mode) and st.st_size > 0:
                    files.append(os.path.normpath(os.path.join(rel, n)))
        files.sort()
        self.changed = []
        for c in range(1, a.copies + 1):
            d = os.path.join(master, "c%d" % c)
            run(["cp", "-a", a.tree, d])
            for rel in random.Random(c).sample(files, a.changes):
                p = os.path.join(d, rel)
                mark = ("\nbench change: copy %d, %s\n" % (c, rel)).encode()
                with open(p, "ab") as f:
                    f.write(mark)
                self.changed.append(("c%d" % c, rel, mark))
        return master

    def check_changed(self, root, who):
        """No tool may lose a change: each changed file keeps its own
        content."""
        bad = 0
        for c, rel, mark in self.changed:
            with open(os.path.join(root, c, rel), "rb") as f:
                f.seek(-len(mark), os.SEEK_END)
                if f.read() != mark:
                    bad += 1
        if bad:
            self.notes.append("%s: %d changed files lost their change" % (who, bad))
            log("  CHECK: %s: %d changed files lost their change" % (who, bad))

    def dedup(self):
        a = self.a
        log("\n== dedup: %d copies of the tree, %d files changed in each, %d run(s), %s cache"
            % (a.copies, a.changes, a.dedup_runs, self.results["cache_mode"]))
        master = self.make_copies()
        set_bytes = du_bytes(master)
        log("  the set: %s (du -sb)" % mb(set_bytes))
        trees = ["c%d" % c for c in range(1, a.copies + 1)]
        tools = [
            ("ours", "vserver-hashify",
             lambda w: [a.hashify, "-s", w, "--no-progress"] + [os.path.join(w, t) for t in trees]),
            ("rdfind", "rdfind -makehardlinks true",
             lambda w: ["rdfind", "-makehardlinks", "true", "-outputname",
                        os.path.join(self.work, "rdfind-results.txt")] +
             [os.path.join(w, t) for t in trees]),
            ("jdupes", "jdupes -L -r",
             lambda w: ["jdupes", "-q", "-L", "-r", w]),
        ]
        if a.dedup_nomtime:
            # the pools' default key: identical files with other mtimes too
            tools.insert(1, ("ours-nomtime", "vserver-hashify --ignore-mtime",
                             lambda w: [a.hashify, "-s", w, "--no-progress",
                                        "--ignore-mtime"] +
                             [os.path.join(w, t) for t in trees]))
        res = {k: {"time": [], "cpu": [], "saved": [], "error": None} for k, _, _ in tools}
        for i in range(a.dedup_runs):
            for key, title, argv in tools:
                if res[key]["error"]:
                    continue
                w = os.path.join(self.work, "dedup", key)
                run(["cp", "-a", master, w])
                before = du_bytes(w)
                self.settle(w)
                try:
                    t, out, cpu = timed(argv(w))
                except ToolError as e:
                    res[key]["error"] = str(e)
                    log("  %s failed: %s" % (title, e))
                    rmtree(w)
                    continue
                after = du_bytes(w)
                res[key]["time"].append(t)
                res[key]["cpu"].append(cpu)
                res[key]["saved"].append(before - after)
                if i == 0:
                    self.check_changed(w, title)
                    if key.startswith("ours"):
                        res[key]["summary"] = " ".join(
                            l.strip() for l in out.splitlines()
                            if l.startswith(("files-", "bytes-saved", "objects-")))
                log("  run %d: %-32s %s (CPU %s)  saved %s (du -sb %s -> %s)"
                    % (i + 1, title, secs(t), secs(cpu), mb(before - after), mb(before),
                       mb(after)))
                rmtree(w)
        rmtree(master)
        self.results["dedup"] = res
        for key in res:
            if res[key].get("summary"):
                log("  %s: %s" % (key, res[key]["summary"]))

        def m(key, what):
            return median(res[key][what]) if res[key][what] else None

        for key, title in (("ours", "vserver-hashify"),
                           ("ours-nomtime", "vserver-hashify --ignore-mtime")):
            if key not in res:
                continue
            ot = m(key, "time")
            if ot is None:
                self.row("dedup time: %s vs rdfind" % title,
                         "n/a (%s)" % res[key]["error"], "", "", "<= 0.25x", "n/a")
                continue
            for peer, goal_t in (("rdfind", "<= 0.25x"), ("jdupes", "(info)")):
                pt = m(peer, "time")
                if pt is None:
                    self.row("dedup time: %s vs %s" % (title, peer), secs(ot),
                             "n/a (%s)" % res[peer]["error"], "", goal_t, "n/a")
                    continue
                r = ot / pt
                self.row("dedup time: %s vs %s" % (title, peer), secs(ot), secs(pt),
                         "%.2fx" % r, goal_t,
                         ("met" if r <= 0.25 else "NOT met") if peer == "rdfind" else "")
                oc, pc = m(key, "cpu"), m(peer, "cpu")
                self.row("  the same, CPU time (user+sys)", secs(oc), secs(pc),
                         "%.2fx" % (oc / pc), "(info)", "")
            os_ = m(key, "saved")
            for peer, goal_b in (("rdfind", ">= 1.00x"), ("jdupes", "(info)")):
                ps = m(peer, "saved")
                if ps is None:
                    continue
                r = os_ / ps if ps else float("inf")
                self.row("dedup bytes saved: %s vs %s" % (title, peer), mb(os_), mb(ps),
                         "%.3fx" % r, goal_b,
                         ("met" if r >= 1.0 else "NOT met") if peer == "rdfind" else "")

    # -- 5. disk cost of clones

    def clone_disk(self):
        a = self.a
        log("\n== disk cost of %d guest volumes of the 200 MB template" % a.clones)
        if not self.clone_pool:
            self.row("disk: %d clones (du -sb of the pool)" % a.clones,
                     "n/a (%s)" % (self.import_error or a.daemon_error), "", "",
                     "<= +1%", "n/a")
            return
        name, path, pool = self.clone_pool
        pool.storageVolLookupByName("T2MB").delete(0)
        pool.refresh(0)         # reclaims the 2 MB template's objects
        src = pool.storageVolLookupByName("T200MB")
        os.sync()
        b_app, b_blk, b_df = du_bytes(path), du_bytes(path, False), fs_used(path)
        ts = []
        for i in range(a.clones):
            t0 = time.perf_counter()
            pool.createXMLFrom("<volume><name>g%03d</name></volume>" % i, src, 0)
            ts.append(time.perf_counter() - t0)
        os.sync()
        f_app, f_blk, f_df = du_bytes(path), du_bytes(path, False), fs_used(path)
        alloc = pool.storageVolLookupByName("g000").info()[2]
        pinfo = pool.info()
        log("  pool before: du -sb %s, du -s (blocks) %s" % (mb(b_app), mb(b_blk)))
        log("  pool after:  du -sb %s, du -s (blocks) %s" % (mb(f_app), mb(f_blk)))
        log("  file system used: %+.1f MB (df; anything else writing meanwhile counts too)"
            % ((f_df - b_df) / 1e6))
        log("  the %d createXMLFrom calls: median %s, first %s, last %s, max %s"
            % (a.clones, msecs(median(ts)), msecs(ts[0]), msecs(ts[-1]), msecs(max(ts))))
        log("  vol-info allocation of one guest: %d bytes; pool-info allocation %s"
            % (alloc, mb(pinfo[2])))
        self.results["clone_disk"] = {
            "du_apparent": [b_app, f_app], "du_blocks": [b_blk, f_blk],
            "df_used": [b_df, f_df], "create_times": ts, "guest_allocation": alloc}
        for label, before, after in (("du -sb", b_app, f_app),
                                     ("du -s, blocks", b_blk, f_blk)):
            d = after - before
            pct = 100.0 * d / before
            peer = ""
            ratio = ""
            if hasattr(self, "cp_bytes"):
                pb = self.cp_bytes["200MB"] * a.clones
                peer = "+%s cp -a x%d" % (mb(pb), a.clones)
                ratio = "%.5fx" % (d / pb)
            self.row("disk: %d clones (%s of the pool)" % (a.clones, label),
                     "+%.2f MB (+%.2f%%)" % (d / 1e6, pct), peer, ratio, "<= +1%",
                     "met" if pct <= 1.0 else "NOT met")

    # -- the report

    def report(self):
        head = ("measure", "ours", "peer", "ratio", "goal", "met?")
        rows = [head] + [tuple(str(c) for c in r) for r in self.rows]
        w = [max(len(r[i]) for r in rows) for i in range(len(head))]
        log("\n== results (%s cache; medians)" % self.results["cache_mode"])
        log("  host at the start: %s" % self.results["load_start"])
        log("  host at the end:   %s" % self.results["load_end"])
        for j, r in enumerate(rows):
            log("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
            if j == 0:
                log("  " + "  ".join("-" * w[i] for i in range(len(head))))
        for n in self.notes:
            log("  NOTE: " + n)
        self.results["table"] = self.rows
        self.results["notes"] = self.notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--tarball", required=True)
    ap.add_argument("--hashify", required=True)
    ap.add_argument("--has-import", action="store_true")
    ap.add_argument("--uri")
    ap.add_argument("--daemon-error")
    ap.add_argument("--daemon-pidfile")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dedup-runs", type=int, default=1)
    ap.add_argument("--dedup-nomtime", action="store_true")
    ap.add_argument("--clone-runs", type=int, default=20)
    ap.add_argument("--api-runs", type=int, default=50)
    ap.add_argument("--clones", type=int, default=100)
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--small-bytes", type=int, default=2 * 10**6)
    ap.add_argument("--big-bytes", type=int, default=200 * 10**6)
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--only", default="import,clone,dedup,disk")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not a.uri and not a.daemon_error:
        a.daemon_error = "no daemon"
    only = a.only.split(",")

    b = Bench(a)
    b.results["load_start"] = host_load()
    steps = [("import", b.imports), ("clone", b.clones), ("dedup", b.dedup),
             ("disk", b.clone_disk)]
    t0 = time.time()
    try:
        for key, fn in steps:
            if key in only:
                fn()
    finally:
        if b.conn and getattr(b, "clone_pool", None):
            try:
                b.pool_remove(b.clone_pool[0], b.clone_pool[1])
            except libvirt.libvirtError as e:
                log("  cannot remove the clone pool: %s" % e.get_error_message())
    b.results["seconds"] = time.time() - t0
    b.results["load_end"] = host_load()
    b.report()
    log("  (measurements took %.0f s)" % b.results["seconds"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(b.results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
