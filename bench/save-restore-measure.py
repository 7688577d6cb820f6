#!/usr/bin/python3
"""Save/restore time and image size of a context by its memory size.

Run by bench/save-restore, which builds the root, compiles the hog and
starts the private daemon; see bench/README.md for what is measured.

Peers, each on the same program (bench/memhog.c) holding N MiB:
  vserver  this driver: virsh save / virsh restore (and the python API)
  criu     the CRIU command line on the hog in its own pid+net namespace
           (criu dump -t PID / criu restore -d), outside libvirt
  floor    the disk: N MiB written from memory to a file, read back
  migrate  this driver: virsh migrate --live --p2p of the hog between two
           private daemons in network namespaces of their own (hosts A
           and B); its downtime as the driver reports it (domjobinfo
           --completed) and as the hog sees it (the largest gap between
           its 10 ms timestamps), next to the CLI's dump + restore
"""

import argparse
import ctypes
import json
import os
import platform
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
from xml.sax.saxutils import escape

import libvirt

now = time.perf_counter

IN_CREATE = 0x00000100
IN_MOVED_TO = 0x00000080
IN_ISDIR = 0x40000000

READY_TIMEOUT = 300.0     # s for a hog to fill its memory
TICK_TIMEOUT = 120.0      # s for a restored hog to tick on
MIGRATE_TIMEOUT = 1800    # s for one virsh migrate
STAMP_MS = 10             # the migrating hog's timestamp period
STAMP_WINDOW = 1.0        # s of timestamps kept before and after a migration
MIB = 1 << 20


def log(msg=""):
    print(msg, flush=True)


class CycleError(Exception):
    pass


def drop_caches():
    """sync, then drop the clean page cache, dentries and inodes."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def timed_sync():
    t = now()
    os.sync()
    return now() - t


def tree_bytes(path):
    total = 0
    for d, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def pressure():
    """Load average and CPU / I/O pressure (some avg60)."""
    with open("/proc/loadavg") as f:
        la = " ".join(f.read().split()[:3])
    out = [la]
    for kind in ("cpu", "io"):
        try:
            with open("/proc/pressure/" + kind) as f:
                some = f.readline().split()
            out.append("%s pressure avg60 %s%%" % (kind, some[2].split("=")[1]))
        except (OSError, IndexError):
            pass
    return ", ".join(out)


def short(text, n=300):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n] + "..."


def criu_killed(rc):
    """A note for a criu command that died of a signal."""
    if rc >= 0:
        return ""
    return (" (criu was killed by signal %d: not by this bench; something else"
            " on the host kills criu processes, as an earlier"
            " tests/context-migrate.sh did while it ran)" % -rc)


def criu_errors(path, n=6):
    """The Error lines of a CRIU log, for a failure message."""
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if "Error" in l and "RLIMIT_NOFILE" not in l]
    except OSError:
        return "(no log at %s)" % path
    return " | ".join(lines[-n:]) or "(no Error line in %s)" % path


# --------------------------------------------------------------------------
# when the driver's phases happen

class PhaseWatch:
    """First creation time (perf_counter) of names in watched directories,
    taken by a thread blocked on inotify: the save's image directory, CRIU's
    dump.log in it, the tar file; the restore's directory and CRIU's
    restore.log in it.  A directory created with a name that starts with a
    registered prefix is watched as soon as its event is read (an event
    inside it that comes first is lost: that phase says n/a)."""

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.wds = {}
        self.auto = {}
        self.seen = {}
        self.keep = None       # (directory, tag): hard links to CRIU's logs
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _add(self, path):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path),
                                         IN_CREATE | IN_MOVED_TO)
        if wd >= 0:
            self.wds[wd] = path
        return wd

    def watch(self, path, subdir_prefix=None):
        with self.lock:
            if self._add(path) < 0:
                raise OSError(ctypes.get_errno(), "inotify_add_watch %s" % path)
            if subdir_prefix:
                self.auto[path] = subdir_prefix

    def _run(self):
        while True:
            buf = os.read(self.fd, 1 << 16)
            t = now()
            off = 0
            with self.lock:
                while off + 16 <= len(buf):
                    wd, mask, _cookie, ln = struct.unpack_from("iIII", buf, off)
                    name = os.fsdecode(buf[off + 16:off + 16 + ln].split(b"\0", 1)[0])
                    off += 16 + ln
                    d = self.wds.get(wd)
                    if d is None or not name:
                        continue
                    if (d, name) not in self.seen:
                        self.seen[(d, name)] = t
                        self._keep(d, name)
                    pre = self.auto.get(d)
                    if pre and mask & IN_ISDIR and name.startswith(pre):
                        self._add(os.path.join(d, name))

    def _keep(self, d, name):
        """A hard link to CRIU's log in a migration's image directory,
        which the driver deletes when the migration succeeds."""
        if (not self.keep or name not in ("dump.log", "restore.log") or
                not os.path.basename(d).startswith(("migrate.", "incoming."))):
            return
        try:
            os.link(os.path.join(d, name), os.path.join(
                self.keep[0], "%s.%s" % (self.keep[1], name)))
        except OSError:
            pass

    def reset(self):
        with self.lock:
            self.seen.clear()

    def get(self, d, name):
        with self.lock:
            return self.seen.get((d, name))

    def find(self, d, prefix, after=0.0):
        """(name, time) of the first name starting with prefix created in d
        after the given time."""
        with self.lock:
            hits = sorted((t, n) for (dd, n), t in self.seen.items()
                          if dd == d and n.startswith(prefix) and t >= after)
        return (hits[0][1], hits[0][0]) if hits else (None, None)


def phases(t_call, t_return, marks, watch):
    """Durations between the call, the creation of each (dir, name) in
    marks, and the return; a phase whose start or end was not seen is
    left out.  marks: (key, dir, name), the last with name None (ends at
    the return)."""
    out = {}
    prev = t_call
    for key, d, name in marks:
        t = t_return if name is None else (watch.get(d, name) if d else None)
        if t is not None and prev is not None and t >= prev:
            out[key] = t - prev
        prev = t
    return out


# --------------------------------------------------------------------------
# the hog

def read_count(d):
    """The hog's count line as a dict, or None."""
    try:
        with open(os.path.join(d, "count")) as f:
            v = [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return None
    if len(v) != 7:
        return None
    return dict(zip(("count", "pid", "mib", "checked", "bad", "passes",
                     "fullbad"), v))


def wait_ready(d, timeout=READY_TIMEOUT):
    """Wait for d/ready and three ticks; the time it took."""
    t0 = now()
    while now() - t0 < timeout:
        c = read_count(d)
        if os.path.exists(os.path.join(d, "ready")) and c and c["count"] >= 3:
            return now() - t0
        time.sleep(0.05)
    raise CycleError("the hog did not get ready in %.0f s (no %s/ready)"
                     % (timeout, d))


def proc_exe(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None


def proc_zombie_or_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def verify_restored(d, pid, at_save, ready_mtime, mib):
    """The restored hog runs on: its host pid is memhog, the count goes on
    from where it was at the save (not from 1: no restart), three more
    ticks come, and its rolling page check found no bad page.  Returns the
    seconds from the call's return to the first new tick."""
    t0 = now()
    if not pid or proc_exe(pid) != "memhog":
        raise CycleError("after the restore, pid %s is not memhog (%s)"
                         % (pid, proc_exe(pid) if pid else "no pid"))
    first = None
    c = None
    while now() - t0 < TICK_TIMEOUT:
        c = read_count(d)
        if c and c["count"] > at_save:
            if first is None:
                first = now() - t0
            if c["count"] >= at_save + 3:
                break
        time.sleep(0.02)
    else:
        raise CycleError("the restored hog does not tick on: count %s, was %d "
                         "at the save (%.0f s)" % (c and c["count"], at_save,
                                                   TICK_TIMEOUT))
    try:
        mtime = os.stat(os.path.join(d, "ready")).st_mtime_ns
    except OSError:
        mtime = None
    if mtime != ready_mtime or c["pid"] != 1 or c["mib"] != mib:
        raise CycleError("the hog was started again, not restored "
                         "(ready rewritten or count line %s)" % c)
    if c["bad"]:
        raise CycleError("the restored hog found %d bad 8-byte words in its "
                         "rolling page check" % c["bad"])
    return first


def full_check(d, pid, mib):
    """SIGUSR1: the hog checks every word of its buffer at its next tick."""
    c0 = read_count(d)
    if not c0:
        raise CycleError("no count line in %s" % d)
    os.kill(pid, signal.SIGUSR1)
    t0 = now()
    limit = 60 + mib / 1024 * 120
    while now() - t0 < limit:
        c = read_count(d)
        if c and c["passes"] > c0["passes"]:
            if c["fullbad"]:
                raise CycleError("full memory check: %d of %d words wrong"
                                 % (c["fullbad"], mib * MIB // 8))
            return c["checked"]
        time.sleep(0.1)
    raise CycleError("full memory check: no answer in %.0f s" % limit)


def ready_mtime(d):
    return os.stat(os.path.join(d, "ready")).st_mtime_ns


# --------------------------------------------------------------------------
# peers

class Vserver:
    key = "vserver"

    def __init__(self, args, watch):
        self.uri = args.uri
        self.rootfs = args.rootfs
        self.savedir = os.path.join(args.work, "ours")
        self.rundir = os.path.join(args.vs_dir, "run", "libvirt", "vserver")
        # the driver keeps CRIU's log of a failed run here
        self.logdir = os.path.join(args.vs_dir, "var", "log", "libvirt", "vserver")
        os.makedirs(self.savedir)
        self.watch = watch
        self.conn = libvirt.open(self.uri)
        self.watched_run = False
        watch.watch(self.savedir, "hog")

    def name(self, mib):
        return "hog%d" % mib

    def start(self, mib):
        for f in ("ready", "count", "count.tmp", "ready.tmp"):
            try:
                os.unlink(os.path.join(self.rootfs, f))
            except FileNotFoundError:
                pass
        xml = ("<domain type='lxc'><name>%s</name>"
               "<memory unit='MiB'>%d</memory>"
               "<os><type>exe</type><init>/memhog</init>"
               "<initarg>%d</initarg></os>"
               "<features><privnet/></features>"
               "<devices><filesystem type='mount'><source dir='%s'/>"
               "<target dir='/'/></filesystem><console type='pty'/>"
               "</devices></domain>"
               % (self.name(mib), mib + 64, mib,
                  escape(self.rootfs, {"'": "&apos;"})))
        t0 = now()
        try:
            self.conn.createXML(xml, 0)
        except libvirt.libvirtError as e:
            raise CycleError("start failed: %s" % short(e))
        fill = wait_ready(self.rootfs)
        if not self.watched_run and os.path.isdir(self.rundir):
            self.watch.watch(self.rundir, "restore.")
            self.watched_run = True
        self.mtime = ready_mtime(self.rootfs)
        return now() - t0, fill

    def pid(self, mib):
        return self.conn.lookupByName(self.name(mib)).ID()

    def kept_log(self, mib, what):
        p = os.path.join(self.logdir, "%s.%s" % (self.name(mib), what))
        return criu_errors(p) if os.path.exists(p) else "(CRIU kept no %s)" % what

    def cycle(self, mib, cold, api):
        """One save and one restore; a dict of times and sizes."""
        name = self.name(mib)
        path = os.path.join(self.savedir, name + ".save")
        r = {"client": "api" if api else "virsh", "cold": cold}
        os.sync()
        self.watch.reset()
        t0 = now()
        if api:
            try:
                self.conn.lookupByName(name).save(path)
            except libvirt.libvirtError as e:
                raise CycleError("save failed: %s; CRIU: %s"
                                 % (short(e), self.kept_log(mib, "dump.log")))
        else:
            p = subprocess.run(["virsh", "-q", "-c", self.uri, "save", name, path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=900)
            if p.returncode:
                raise CycleError("virsh save failed: %s; CRIU: %s"
                                 % (short(p.stdout), self.kept_log(mib, "dump.log")))
        t1 = now()
        r["save_s"] = t1 - t0
        r["save_sync_s"] = r["save_s"] + timed_sync()
        c = read_count(self.rootfs)
        at_save = c["count"] if c else 0
        r["image_bytes"] = os.stat(path).st_size
        try:
            self.conn.lookupByName(name)
            raise CycleError("after the save the domain %s is still there" % name)
        except libvirt.libvirtError:
            pass
        # where the save's time went
        imgdir, _ = self.watch.find(self.savedir, name + ".save.")
        if imgdir:
            imgdir = os.path.join(self.savedir, imgdir)
        r.update(phases(t0, t1, [
            ("save_phase_prep_s", imgdir, "dump.log"),
            ("save_phase_criu_s", imgdir, "stats-dump"),
            ("save_phase_stop_s", self.savedir, name + ".save.part"),
            ("save_phase_tar_s", None, None)], self.watch))

        if cold:
            drop_caches()
        else:
            os.sync()
        self.watch.reset()
        t2 = now()
        if api:
            try:
                self.conn.restore(path)
            except libvirt.libvirtError as e:
                raise CycleError("restore failed: %s; CRIU: %s"
                                 % (short(e), self.kept_log(mib, "restore.log")))
        else:
            p = subprocess.run(["virsh", "-q", "-c", self.uri, "restore", path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=900)
            if p.returncode:
                raise CycleError("virsh restore failed: %s; CRIU: %s"
                                 % (short(p.stdout), self.kept_log(mib, "restore.log")))
        t3 = now()
        r["restore_s"] = t3 - t2
        rdir, _ = self.watch.find(self.rundir, "restore.")
        if rdir:
            rdir = os.path.join(self.rundir, rdir)
        r.update(phases(t2, t3, [
            ("restore_phase_unpack_s", rdir, "restore.log"),
            ("restore_phase_criu_s", rdir, "stats-restore"),
            ("restore_phase_end_s", None, None)], self.watch))
        try:
            dom = self.conn.lookupByName(name)
            state, reason = dom.state()
            pid = dom.ID()
        except libvirt.libvirtError as e:
            raise CycleError("after the restore: %s" % short(e))
        if state != libvirt.VIR_DOMAIN_RUNNING:
            raise CycleError("after the restore the domain is in state %d/%d, "
                             "not running" % (state, reason))
        r["first_tick_s"] = verify_restored(self.rootfs, pid, at_save,
                                            self.mtime, mib)
        os.unlink(path)
        return r

    def finish(self, mib):
        """Full memory check of the (restored) hog, then destroy it."""
        checked = full_check(self.rootfs, self.pid(mib), mib)
        return checked

    def stop(self, mib):
        try:
            self.conn.lookupByName(self.name(mib)).destroy()
        except libvirt.libvirtError:
            pass
        for f in os.listdir(self.savedir):
            p = os.path.join(self.savedir, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)


class CriuCli:
    """The hog as PID 1 and session leader of its own pid and network
    namespaces (unshare --fork --pid --net setsid), stdio on /dev/null, in
    the host's mount namespace; criu dump -t PID -D DIR (the dump kills it)
    and criu restore -D DIR -d."""
    key = "criu"

    def __init__(self, args):
        self.criu = args.criu
        self.memhog = args.memhog
        self.base = os.path.join(args.work, "cli")
        os.makedirs(self.base)
        self.proc = None
        self.hogpid = None

    def start(self, mib):
        self.dir = os.path.join(self.base, str(mib))
        self.d = os.path.join(self.dir, "d")
        os.makedirs(self.d)
        self.ulog = open(os.path.join(self.dir, "unshare.log"), "w")
        t0 = now()
        self.proc = subprocess.Popen(
            ["unshare", "--fork", "--pid", "--net", "setsid", "/bin/sh", "-c",
             'exec "$0" "$@" </dev/null >/dev/null 2>&1',
             self.memhog, str(mib), self.d],
            stdin=subprocess.DEVNULL, stdout=self.ulog, stderr=subprocess.STDOUT)
        fill = wait_ready(self.d)
        kids = open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)).read().split()
        if len(kids) != 1 or proc_exe(int(kids[0])) != "memhog":
            raise CycleError("cannot find the hog below unshare %d (%s)"
                             % (self.proc.pid, kids))
        self.hogpid = int(kids[0])
        self.mtime = ready_mtime(self.d)
        return now() - t0, fill

    def cycle(self, mib, cold, run):
        r = {"cold": cold}
        img = os.path.join(self.dir, "img.%d%s" % (run, "c" if cold else "w"))
        os.makedirs(img)
        os.sync()
        t0 = now()
        p = subprocess.run([self.criu, "dump", "-t", str(self.hogpid), "-D", img,
                            "-o", "dump.log"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=900)
        t1 = now()
        if p.returncode:
            raise CycleError("criu dump failed (%d)%s: %s" % (
                p.returncode, criu_killed(p.returncode),
                criu_errors(os.path.join(img, "dump.log"))))
        r["save_s"] = t1 - t0
        r["save_sync_s"] = r["save_s"] + timed_sync()
        c = read_count(self.d)
        at_save = c["count"] if c else 0
        r["image_bytes"] = tree_bytes(img)
        if not proc_zombie_or_gone(self.hogpid):
            raise CycleError("after criu dump the hog %d still runs" % self.hogpid)
        if self.proc:          # the first run's unshare ends with its child
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

        if cold:
            drop_caches()
        else:
            os.sync()
        pidfile = os.path.join(self.dir, "restored.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        t2 = now()
        p = subprocess.run([self.criu, "restore", "-D", img, "-d",
                            "-o", "restore.log", "--pidfile", pidfile],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=900)
        t3 = now()
        if p.returncode:
            raise CycleError("criu restore failed (%d)%s: %s" % (
                p.returncode, criu_killed(p.returncode),
                criu_errors(os.path.join(img, "restore.log"))))
        r["restore_s"] = t3 - t2
        try:
            with open(pidfile) as f:
                self.hogpid = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise CycleError("criu restore wrote no pid file: %s" % e)
        r["first_tick_s"] = verify_restored(self.d, self.hogpid, at_save,
                                            self.mtime, mib)
        shutil.rmtree(img)
        return r

    def finish(self, mib):
        return full_check(self.d, self.hogpid, mib)

    def stop(self, mib):
        if self.hogpid:
            try:
                os.kill(self.hogpid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            t0 = now()
            while not proc_zombie_or_gone(self.hogpid) and now() - t0 < 20:
                time.sleep(0.05)
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        self.hogpid = None
        self.ulog.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Floor:
    """N MiB of random bytes, already in this process's memory (as the
    hog's pages are when CRIU dumps them), written to a new file in 1 MiB
    write()s; then fsync; then, after sync + drop_caches, read back in
    1 MiB reads (and once more warm, when the size has a warm cycle)."""
    key = "floor"

    def __init__(self, args):
        self.dir = os.path.join(args.work, "floor")
        os.makedirs(self.dir)
        self.buf = None

    def start(self, mib):
        t0 = now()
        self.buf = os.urandom(mib * MIB)
        return now() - t0, 0.0

    def cycle(self, mib, warm):
        r = {}
        path = os.path.join(self.dir, "f%d" % mib)
        mv = memoryview(self.buf)
        os.sync()
        t0 = now()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        for off in range(0, len(self.buf), MIB):
            os.write(fd, mv[off:off + MIB])
        t1 = now()
        os.fsync(fd)
        t2 = now()
        os.close(fd)
        r["write_s"] = t1 - t0
        r["write_fsync_s"] = t2 - t0
        drop_caches()
        chunk = bytearray(MIB)

        def read_all():
            n = 0
            t = now()
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            while True:
                k = os.readv(fd, [chunk])
                if not k:
                    break
                n += k
            os.close(fd)
            if n != len(self.buf):
                raise CycleError("floor: read %d bytes of %d" % (n, len(self.buf)))
            return now() - t
        r["read_s"] = read_all()
        if warm:
            r["read_warm_s"] = read_all()
        os.unlink(path)
        r["image_bytes"] = len(self.buf)
        return r

    def finish(self, mib):
        return None

    def stop(self, mib):
        self.buf = None


def read_stamps(path, offset):
    """The migrating hog's timestamps (CLOCK_REALTIME, s) from byte offset
    on, complete lines only."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return []
    out = []
    for l in data[:data.rfind(b"\n") + 1].split():
        try:
            out.append(float(l))
        except ValueError:
            pass
    return out


def parse_jobinfo(text):
    """virsh domjobinfo output as {key: value string}."""
    out = {}
    for l in text.splitlines():
        k, sep, v = l.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def size_mib(v):
    """'123.456 MiB' (virsh's unit) in MiB, or None."""
    try:
        n, unit = v.split()
        return float(n) * {"B": 1.0 / MIB, "KiB": 1.0 / 1024, "MiB": 1.0,
                           "GiB": 1024.0}[unit]
    except (ValueError, KeyError, AttributeError):
        return None


class Migration:
    """The hog in a context of host A's daemon, migrated live (p2p) to host
    B's and back: two private daemons, each in a network namespace of its
    own on a bridged LAN, the root a plain directory both see at the same
    path.  The hog also stamps CLOCK_REALTIME every 10 ms into its root."""
    key = "migrate"

    def __init__(self, args, watch):
        self.uri = {"A": args.mig_uri_a, "B": args.mig_uri_b}
        self.addr = {"A": args.mig_addr_a, "B": args.mig_addr_b}
        inst = {"A": args.mig_dir_a, "B": args.mig_dir_b}
        self.rundir = {h: os.path.join(d, "run", "libvirt", "vserver")
                       for h, d in inst.items()}
        self.logdir = {h: os.path.join(d, "var", "log", "libvirt", "vserver")
                       for h, d in inst.items()}
        self.rootfs = args.mig_rootfs
        self.stamps = os.path.join(self.rootfs, "stamps")
        self.conn = {h: libvirt.open(u) for h, u in self.uri.items()}
        self.watch = watch
        self.watched = set()
        self.host = None
        # CRIU's logs of every migration, for --keep
        self.logs = os.path.join(args.work, "migration-criu-logs")
        os.makedirs(self.logs)

    def name(self, mib):
        return "mig%d" % mib

    def start(self, mib):
        for f in ("ready", "count", "count.tmp", "ready.tmp", "stamps"):
            try:
                os.unlink(os.path.join(self.rootfs, f))
            except FileNotFoundError:
                pass
        xml = ("<domain type='lxc'><name>%s</name>"
               "<memory unit='MiB'>%d</memory>"
               "<os><type>exe</type><init>/memhog</init>"
               "<initarg>%d</initarg><initarg>/</initarg><initarg>%d</initarg></os>"
               "<features><privnet/></features>"
               "<devices><filesystem type='mount'><source dir='%s'/>"
               "<target dir='/'/></filesystem><console type='pty'/>"
               "</devices></domain>"
               % (self.name(mib), mib + 64, mib, STAMP_MS,
                  escape(self.rootfs, {"'": "&apos;"})))
        t0 = now()
        try:
            self.conn["A"].createXML(xml, 0)
        except libvirt.libvirtError as e:
            raise CycleError("start on host A failed: %s" % short(e))
        self.host = "A"
        fill = wait_ready(self.rootfs)
        # the source's migrate.* (CRIU's dump) and the destination's
        # incoming.* (the images, CRIU's restore) directories
        for h, d in self.rundir.items():
            if d not in self.watched and os.path.isdir(d):
                self.watch.watch(d, ("migrate.", "incoming."))
                self.watched.add(d)
        self.mtime = ready_mtime(self.rootfs)
        return now() - t0, fill

    def where(self, name):
        """The hosts on which the domain exists, with its state."""
        out = []
        for h, c in self.conn.items():
            try:
                st = c.lookupByName(name).state()[0]
                out.append("%s (state %d)" % (h, st))
            except libvirt.libvirtError:
                pass
        return ", ".join(out) or "no host"

    def kept_logs(self, name, tag):
        """The Error lines of CRIU's logs: the driver's copies (kept on a
        failure) or the bench's hard links."""
        out = []
        for what in ("dump.log", "restore.log"):
            p = os.path.join(self.logs, "%s.%s.%s" % (name, tag, what))
            if os.path.exists(p):
                out.append("CRIU %s (%s): %s" % (what, p, criu_errors(p)))
        for h, d in self.logdir.items():
            for what in ("dump.log", "restore.log"):
                p = os.path.join(d, "%s.%s" % (name, what))
                if os.path.exists(p):
                    out.append("host %s kept %s: %s" % (h, what, criu_errors(p)))
        return "; ".join(out) or "(no CRIU log)"

    def after_failure(self, mib, src):
        """After a failed migration: does the hog run on the source again,
        counting on, its memory intact?"""
        name = self.name(mib)
        try:
            dom = self.conn[src].lookupByName(name)
            if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
                return "not running on %s" % src
            pid = dom.ID()
            c = read_count(self.rootfs)
            verify_restored(self.rootfs, pid, c["count"] if c else 0, self.mtime, mib)
            full_check(self.rootfs, pid, mib)
            return "the hog runs on %s again, counting on, all %d MiB intact" % (src, mib)
        except (CycleError, OSError, libvirt.libvirtError) as e:
            return "on %s: %s" % (src, short(e))

    def leftovers(self):
        """migrate.* and incoming.* directories still in a run directory."""
        out = []
        for h, d in self.rundir.items():
            try:
                out += ["%s:%s" % (h, n) for n in os.listdir(d)
                        if n.startswith(("migrate.", "incoming."))]
            except OSError:
                pass
        return out

    def migrate(self, mib, src, dst, tag):
        """One virsh migrate --live --p2p src -> dst, timed; then the
        driver's figures, the hog's timestamps and the checks."""
        name = self.name(mib)
        r = {"from": src, "to": dst}
        self.watch.keep = (self.logs, "%s.%s" % (name, tag))
        c0 = read_count(self.rootfs)
        if not c0:
            raise CycleError("no count line before the migration")
        try:
            off = os.path.getsize(self.stamps)
        except OSError:
            off = 0
        time.sleep(STAMP_WINDOW)     # timestamps of the hog before the call
        os.sync()
        self.watch.reset()
        w0, t0 = time.time(), now()
        cmd = ["virsh", "-q", "-c", self.uri[src], "migrate", "--live", "--p2p",
               name, "vserver+tcp://%s/system" % self.addr[dst],
               "--migrateuri", "tcp://%s" % self.addr[dst]]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=MIGRATE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CycleError("virsh migrate %s -> %s did not return in %d s; the"
                             " domain is on %s" % (src, dst, MIGRATE_TIMEOUT,
                                                   self.where(name)))
        t1 = now()
        if p.returncode:
            where = self.where(name)
            raise CycleError("virsh migrate %s -> %s failed after %.1f s: %s; the"
                             " domain is now on %s: %s; %s"
                             % (src, dst, t1 - t0, short(p.stdout), where,
                                self.after_failure(mib, src),
                                self.kept_logs(name, tag)))
        self.host = dst
        r["wall_s"] = t1 - t0
        off_clock = w0 - t0          # CLOCK_REALTIME - perf_counter

        # the driver's figures, on the destination
        q = subprocess.run(["virsh", "-q", "-c", self.uri[dst], "domjobinfo",
                            "--completed", name], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        job = parse_jobinfo(q.stdout)
        r["jobinfo"] = job
        try:
            r["driver_downtime_ms"] = float(job["Total downtime"].split()[0])
        except (KeyError, ValueError, IndexError):
            raise CycleError("domjobinfo --completed on %s has no Total downtime:"
                             " %s" % (dst, short(q.stdout)))
        r["data_mib"] = size_mib(job.get("Data total"))

        # where it runs now
        try:
            dom = self.conn[dst].lookupByName(name)
            state, reason = dom.state()
            pid = dom.ID()
        except libvirt.libvirtError as e:
            raise CycleError("after the migration, not on %s: %s" % (dst, short(e)))
        if (state, reason) != (libvirt.VIR_DOMAIN_RUNNING,
                               libvirt.VIR_DOMAIN_RUNNING_MIGRATED):
            raise CycleError("on %s the domain is in state %d/%d, not running"
                             " (migrated)" % (dst, state, reason))
        try:
            self.conn[src].lookupByName(name)
            raise CycleError("after the migration the domain is still on %s" % src)
        except libvirt.libvirtError:
            pass
        r["first_tick_s"] = verify_restored(self.rootfs, pid, c0["count"],
                                            self.mtime, mib)

        # the hog's own view: the largest gap between its timestamps
        deadline = now() + 30
        while True:
            st = read_stamps(self.stamps, off)
            if st and st[-1] - off_clock >= t1 + STAMP_WINDOW:
                break
            if now() > deadline:
                raise CycleError("the hog's timestamps stop at %s"
                                 % (st and "%.3f s after the call returned"
                                    % (st[-1] - off_clock - t1)))
            time.sleep(0.1)
        gaps = [(b - a, a, b) for a, b in zip(st, st[1:])]
        if not gaps:
            raise CycleError("no timestamps of the hog around the migration")
        gaps.sort(reverse=True)
        g, a, b = gaps[0]
        r["tick_gap_ms"] = g * 1000
        r["gap_from_call_s"] = a - off_clock - t0     # last stamp before
        r["gap_to_return_s"] = b - off_clock - t1     # first stamp after
        r["other_gap_ms"] = gaps[1][0] * 1000 if len(gaps) > 1 else None
        r["stamps"] = len(st)
        if not (t0 - 0.05 <= a - off_clock and b - off_clock <= t1 + STAMP_WINDOW):
            r["gap_note"] = "largest gap not inside the call"
            log("  (the hog's largest gap, %.0f ms, is not inside the call)" % (g * 1000))

        # where the call's time went (inotify on both run directories)
        srun, drun = self.rundir[src], self.rundir[dst]
        mdir, t_m = self.watch.find(srun, "migrate.", t0)
        idir, _ = self.watch.find(drun, "incoming.", t0)
        mpath = os.path.join(srun, mdir) if mdir else None
        ipath = os.path.join(drun, idir) if idir else None
        r.update(phases(t0, t1, [
            ("mig_phase_begin_s", srun if mdir else None, mdir),
            ("mig_phase_tocriu_s", mpath, "dump.log"),
            ("mig_phase_dump_s", mpath, "stats-dump"),
            ("mig_phase_transfer_s", drun, name + ".shim"),
            ("mig_phase_shim_s", ipath, "restore.log"),
            ("mig_phase_restore_s", ipath, "stats-restore"),
            ("mig_phase_end_s", None, None)], self.watch))
        if t_m is not None:
            # the driver's clock starts at migrate.*; the hog stops later
            r["freeze_after_driver_s"] = a - off_clock - t_m
        t_sr = self.watch.get(ipath, "stats-restore") if ipath else None
        if t_sr is not None:
            r["resume_after_restore_s"] = b - off_clock - t_sr

        r["full_check_pages"] = full_check(self.rootfs, pid, mib)
        r["leftovers"] = self.leftovers()
        return r

    def stop(self, mib):
        for c in self.conn.values():
            try:
                c.lookupByName(self.name(mib)).destroy()
            except libvirt.libvirtError:
                pass
        self.host = None


def measure_migration(mig, mib, runs, e):
    """runs migrations A -> B of a hog of mib MiB into e["runs"], each
    checked, and between two runs one back B -> A (into e["back"])."""
    e["start_s"], e["fill_s"] = mig.start(mib)
    log("  %-8s hog ready in %.1f s on host A" % (mig.key, e["start_s"]))
    for run in range(runs):
        if run:
            r = mig.migrate(mib, "B", "A", "back%d" % run)
            r["run"] = run
            e["back"].append(r)
            log("  back  %-8s B -> A %.2f s, downtime: driver %.0f ms, ticks %.0f ms"
                " (not in the medians)%s" % (
                    mig.key, r["wall_s"], r["driver_downtime_ms"], r["tick_gap_ms"],
                    "; LEFT: %s" % " ".join(r["leftovers"]) if r["leftovers"] else ""))
        r = mig.migrate(mib, "A", "B", "run%d" % (run + 1))
        r["run"] = run + 1
        e["runs"].append(r)
        log("  run %d %-8s A -> B: virsh migrate %.2f s, downtime: driver %.0f ms,"
            " ticks %.0f ms (largest other gap %s ms), %s MiB sent; checked on B,"
            " all %d MiB intact%s"
            % (run + 1, mig.key, r["wall_s"], r["driver_downtime_ms"],
               r["tick_gap_ms"], fmt(r["other_gap_ms"], "%.0f"),
               fmt(r["data_mib"], "%.1f"), mib,
               "; LEFT: %s" % " ".join(r["leftovers"]) if r["leftovers"] else ""))


# --------------------------------------------------------------------------
# report

def med(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(v) if v else None


def fmt(v, spec="%.2f"):
    return "n/a" if v is None else spec % v


def fit(points):
    """Least squares t = a + b * GiB over (mib, t) points: (a, b)."""
    pts = [(m / 1024.0, t) for m, t in points if t is not None]
    if len(pts) < 2 or len(set(x for x, _ in pts)) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx
    return my - b * mx, b


def table(head, rows):
    w = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    line = lambda cells: " | ".join(str(c).rjust(w[i]) for i, c in enumerate(cells))
    log(line(head))
    log("-|-".join("-" * x for x in w))
    for r in rows:
        log(line(r))


def report(args, res, load0):
    sizes = args.sizes
    log()
    log("== Results: medians of %d run(s); kernel %s, %d CPUs; load %s -> %s"
        % (args.runs, platform.release(), os.cpu_count(), load0, pressure()))
    log("restore times are cold: sync + drop_caches (echo 3) right before each;"
        " the image and every program not mapped at that moment (virsh, the shim,"
        " criu, tar, iptables) come from disk")

    def cell(peer, mib, key, spec="%.2f", scale=1.0, cold=True):
        e = res[mib].get(peer)
        if e is None:
            return "-"
        if e.get("error") and not e["runs"]:
            return "FAILED"
        runs = [r for r in e["runs"] if r.get("cold", True) == cold]
        v = med(runs, key)
        s = fmt(None if v is None else v * scale, spec)
        return s + ("!" if e.get("error") else "")

    def mig_cell(mib):
        e = res[mib].get("migrate")
        if e is None:
            return "-"
        if e.get("error") and not e["runs"]:
            return "FAILED"
        a = med(e["runs"], "driver_downtime_ms")
        b = med(e["runs"], "tick_gap_ms")
        return ("%s / %s" % (fmt(a and a / 1000.0), fmt(b and b / 1000.0))
                + ("!" if e.get("error") else ""))

    head = ["size MiB", "ours save s", "ours restore s", "image MiB",
            "criu CLI dump s", "criu CLI restore s", "CLI image MiB",
            "io floor write+fsync s / read s", "ours s per GiB",
            "migr. downtime s (driver / ticks)"]
    rows = []
    for mib in sizes:
        vr = [r for r in res[mib].get("vserver", {}).get("runs", []) if r["cold"]]
        s, rs = med(vr, "save_s"), med(vr, "restore_s")
        per = fmt((s + rs) / (mib / 1024.0)) if s is not None and rs is not None else "n/a"
        floor = "%s / %s" % (cell("floor", mib, "write_fsync_s"), cell("floor", mib, "read_s"))
        rows.append([mib, cell("vserver", mib, "save_s"), cell("vserver", mib, "restore_s"),
                     cell("vserver", mib, "image_bytes", "%.1f", 1.0 / MIB),
                     cell("criu", mib, "save_s"), cell("criu", mib, "restore_s"),
                     cell("criu", mib, "image_bytes", "%.1f", 1.0 / MIB),
                     floor, per, mig_cell(mib)])
    table(head, rows)
    log("ours s per GiB = (save + restore) / size in GiB; '!' = a cycle of that"
        " size failed (see FAILED below); migr. downtime: virsh migrate --live"
        " --p2p host A -> B, the driver's Total downtime (domjobinfo --completed)"
        " / the largest gap between the hog's 10 ms timestamps (see Migration"
        " downtime below)")

    log()
    log("== More figures (medians)")
    head = ["size MiB", "ours save+sync s", "ours API save s", "ours restore warm (API) s",
            "ours bytes/MiB", "CLI dump+sync s", "CLI restore warm s", "CLI bytes/MiB",
            "floor write s", "floor read warm s"]
    rows = []
    for mib in sizes:
        def apiruns(peer, k, cold):
            e = res[mib].get(peer)
            if not e:
                return "-"
            v = med([r for r in e["runs"] if r["cold"] == cold and
                     (peer != "vserver" or r["client"] == ("virsh" if cold else "api"))], k)
            return fmt(v)
        ours = res[mib].get("vserver")
        cli = res[mib].get("criu")
        rows.append([
            mib, cell("vserver", mib, "save_sync_s"),
            apiruns("vserver", "save_s", False), apiruns("vserver", "restore_s", False),
            cell("vserver", mib, "image_bytes", "%.0f", 1.0 / mib) if ours else "-",
            cell("criu", mib, "save_sync_s"), apiruns("criu", "restore_s", False),
            cell("criu", mib, "image_bytes", "%.0f", 1.0 / mib) if cli else "-",
            cell("floor", mib, "write_s"),
            fmt(med(res[mib]["floor"]["runs"], "read_warm_s")) if res[mib].get("floor") else "-"])
    table(head, rows)
    if args.virsh_s is not None:
        log("virsh alone (virsh -c URI uri, warm): %.3f s: part of every virsh"
            " row, not of the API rows" % args.virsh_s)
    log("warm cycles (sizes <= %d MiB): the save through the python API"
        " (virDomainSave), sync, the restore through the API (virDomainRestore)"
        " with the file still in the page cache; CLI: dump, sync, restore"
        % args.warm_max)

    log()
    log("== Ours, where the time goes (medians of the cold virsh cycles; inotify"
        " on the image directory, CRIU's log and the tar file)")
    head = ["size MiB", "save: to CRIU", "CRIU dump", "stop", "tar pack",
            "restore: tar unpack, shim", "CRIU restore", "to return",
            "hog ticked s after return"]
    rows = []
    for mib in sizes:
        e = res[mib].get("vserver")
        if not e:
            continue
        runs = [r for r in e["runs"] if r["cold"]]
        rows.append([mib] + [fmt(med(runs, k)) for k in
                             ("save_phase_prep_s", "save_phase_criu_s", "save_phase_stop_s",
                              "save_phase_tar_s", "restore_phase_unpack_s",
                              "restore_phase_criu_s", "restore_phase_end_s")] +
                    [fmt(med(runs, "first_tick_s"), "%.3f")])
    if rows:
        table(head, rows)
        log("save: call -> CRIU's dump.log created (driver, shim, libcriu) -> its"
            " stats-dump created (CRIU dump; the hog is dead) -> FILE.part created"
            " (the domain stops) -> call returns (tar -cf of the images, rename);"
            " restore: call -> restore.log created (tar -xf into the run directory,"
            " shim start) -> stats-restore created (CRIU restore) -> call returns;"
            " last column: from the return to the hog's next count (0: it had"
            " ticked already)")
        for mib in sizes:
            e, c = res[mib].get("vserver"), res[mib].get("criu")
            if not e or not c:
                continue
            ours = [r for r in e["runs"] if r["cold"]]
            cli = [r for r in c["runs"] if r["cold"]]
            log("  %5d MiB: CRIU inside the driver / the CLI: dump %s / %s s,"
                " restore %s / %s s" % (mib, fmt(med(ours, "save_phase_criu_s")),
                                        fmt(med(cli, "save_s")),
                                        fmt(med(ours, "restore_phase_criu_s")),
                                        fmt(med(cli, "restore_s"))))

    log()
    log("== Cost per GiB: least squares t = fixed + slope * GiB over the sizes"
        " (medians, cold)")
    series = [
        ("ours save (virsh)", "vserver", "save_s"),
        ("ours restore (virsh, cold)", "vserver", "restore_s"),
        ("criu CLI dump", "criu", "save_s"),
        ("criu CLI restore (cold)", "criu", "restore_s"),
        ("floor write", "floor", "write_s"),
        ("floor write+fsync", "floor", "write_fsync_s"),
        ("floor read (cold)", "floor", "read_s"),
    ]
    fits = {}
    rows = []
    for label, peer, k in series:
        pts = []
        partial = []
        for mib in sizes:
            e = res[mib].get(peer)
            v = med([r for r in e["runs"] if r.get("cold", True)], k) if e else None
            if v is not None:
                pts.append((mib, v))
                if e.get("error"):
                    partial.append(str(mib))
        f = fit(pts)
        used = ",".join(str(m) for m, _ in pts) + ("" if not partial else
                                                    " (%s: '!')" % ",".join(partial))
        if f is None:
            rows.append([label, "n/a", "n/a", "n/a", used or "-"])
            continue
        fits[label] = {"fixed_s": f[0], "s_per_gib": f[1], "sizes": [m for m, _ in pts]}
        rows.append([label, "%.2f" % f[0], "%.2f" % f[1],
                     "%.0f" % (1024 / f[1]) if f[1] > 0 else "n/a", used])
    table(["series", "fixed s", "s per GiB", "MiB/s", "sizes (MiB)"], rows)
    a = fits.get("ours save (virsh)")
    b = fits.get("criu CLI dump")
    c = fits.get("ours restore (virsh, cold)")
    d = fits.get("criu CLI restore (cold)")
    if a and b and a["sizes"] == b["sizes"]:
        log("driver on top of CRIU, save: %+.2f s/GiB (%.2fx the CLI's slope)"
            % (a["s_per_gib"] - b["s_per_gib"], a["s_per_gib"] / b["s_per_gib"]))
    if c and d and c["sizes"] == d["sizes"]:
        log("driver on top of CRIU, restore: %+.2f s/GiB (%.2fx the CLI's slope)"
            % (c["s_per_gib"] - d["s_per_gib"], c["s_per_gib"] / d["s_per_gib"]))
    report_migration(args, res)
    return fits


def report_migration(args, res):
    sizes = args.sizes
    log()
    log("== Migration downtime: virsh migrate --live --p2p, host A -> B (two"
        " daemons in network namespaces of their own, one file system); medians"
        " of %d run(s)" % args.runs)
    if not any(res[m].get("migrate") for m in sizes):
        log("not run (--peers without migrate)")
        return

    def cli(mib, cold):
        e = res[mib].get("criu")
        if not e:
            return None
        runs = [r for r in e["runs"] if r["cold"] == cold]
        d, r = med(runs, "save_s"), med(runs, "restore_s")
        return None if d is None or r is None else d + r

    head = ["size MiB", "driver downtime ms", "tick gap ms", "virsh migrate wall s",
            "CLI dump+restore s", "CLI dump+restore warm s", "largest other gap ms",
            "data sent MiB"]
    rows = []
    for mib in sizes:
        e = res[mib].get("migrate")
        if not e:
            continue
        if not e["runs"]:
            rows.append([mib, "FAILED", "-", "-", fmt(cli(mib, True)),
                         fmt(cli(mib, False)), "-", "-"])
            continue
        x = "!" if e.get("error") else ""
        rows.append([mib, fmt(med(e["runs"], "driver_downtime_ms"), "%.0f") + x,
                     fmt(med(e["runs"], "tick_gap_ms"), "%.0f") + x,
                     fmt(med(e["runs"], "wall_s")) + x,
                     fmt(cli(mib, True)), fmt(cli(mib, False)),
                     fmt(med(e["runs"], "other_gap_ms"), "%.0f"),
                     fmt(med(e["runs"], "data_mib"), "%.1f")])
    table(head, rows)
    log("driver downtime: domjobinfo --completed on B, 'Total downtime' (from"
        " just before the source's dump to the end of B's restore). tick gap: the"
        " largest gap between the hog's CLOCK_REALTIME stamps (one per 10 ms) from"
        " 1 s before the call to 1 s after it returned, i.e. how long it did not"
        " run; 'largest other gap' is the next largest, the scheduling noise of"
        " this host. CLI dump+restore: criu dump + criu restore -d of the same"
        " hog (medians above, restore cold; warm: images in the page cache, only"
        " sizes <= --warm-max), the floor of a stop-and-copy migration on one"
        " host: no transfer, no daemon. libvirt's LXC driver cannot migrate"
        " (no peer). CRIU's pre-copy is not available here (kernel without"
        " soft-dirty tracking: criu check --feature mem_dirty_track fails,"
        " criu_feature_check mem_track=0): only stop-and-copy is measured.")

    log()
    log("== Migration, where the time goes (medians; inotify on A's and B's run"
        " directories)")
    head = ["size MiB", "to the dump", "to CRIU", "CRIU dump", "images to B",
            "B: shim, to CRIU", "CRIU restore", "to return",
            "hog stops s after driver clock",
            "hog runs s after CRIU restore"]
    rows = []
    for mib in sizes:
        e = res[mib].get("migrate")
        if not e or not e["runs"]:
            continue
        rows.append([mib] + [fmt(med(e["runs"], k)) for k in
                             ("mig_phase_begin_s", "mig_phase_tocriu_s",
                              "mig_phase_dump_s", "mig_phase_transfer_s",
                              "mig_phase_shim_s", "mig_phase_restore_s",
                              "mig_phase_end_s")] +
                    [fmt(med(e["runs"], k), "%.3f") for k in
                     ("freeze_after_driver_s", "resume_after_restore_s")])
    if rows:
        table(head, rows)
        log("call -> A's migrate.* created (virsh, Begin, B's Prepare, the"
            " connection; the driver's downtime clock starts here) -> CRIU's"
            " dump.log (driver, shim, libcriu) -> stats-dump (CRIU dump done, the"
            " hog is dead on A) -> NAME.shim in B's run directory (the images as a"
            " tar over TCP, unpacked on B into incoming.*, acknowledged; Finish"
            " writes the shim's config) -> CRIU's restore.log in incoming.* (B's"
            " shim up, to CRIU) -> stats-restore (CRIU restore) -> the call returns"
            " (Finish, Confirm on A). The driver's downtime clock runs from"
            " migrate.* to the end of Finish; the hog's columns: its last stamp"
            " before the gap after migrate.*, its first after it after"
            " stats-restore")
    for mib in sizes:
        e = res[mib].get("migrate")
        if e and e.get("error"):
            log("  %5d MiB: %s" % (mib, e["error"]))


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--memhog", required=True)
    ap.add_argument("--criu", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--vs-dir", required=True)
    ap.add_argument("--uri")
    ap.add_argument("--daemon-error")
    ap.add_argument("--sizes", default="16,128,1024")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warm-max", type=int, default=128)
    ap.add_argument("--peers", default="vserver,criu,floor,migrate")
    ap.add_argument("--mig-uri-a")
    ap.add_argument("--mig-uri-b")
    ap.add_argument("--mig-dir-a")
    ap.add_argument("--mig-dir-b")
    ap.add_argument("--mig-addr-a")
    ap.add_argument("--mig-addr-b")
    ap.add_argument("--mig-rootfs")
    ap.add_argument("--mig-error")
    ap.add_argument("--json")
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",")]
    want = set(args.peers.split(","))
    bad = want - {"vserver", "criu", "floor", "migrate"}
    if bad:
        sys.exit("save-restore: unknown peer(s) %s" % ",".join(sorted(bad)))

    # a failed call raises; libvirt's default handler would also print it
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    load0 = pressure()
    t_start = now()
    watch = PhaseWatch()
    peers = []
    failures = []
    if "vserver" in want:
        if args.uri:
            try:
                peers.append(Vserver(args, watch))
            except libvirt.libvirtError as e:
                failures.append("vserver: cannot connect: %s" % short(e))
        else:
            failures.append("vserver: %s" % args.daemon_error)
    if "criu" in want:
        peers.append(CriuCli(args))
    if "floor" in want:
        peers.append(Floor(args))
    mig = None
    mig_error = None
    if "migrate" in want:
        if args.mig_uri_a:
            try:
                mig = Migration(args, watch)
            except libvirt.libvirtError as e:
                mig_error = "cannot connect: %s" % short(e)
        else:
            mig_error = args.mig_error or "no hosts"
        if mig_error:
            failures.append("migrate: %s" % mig_error)

    args.virsh_s = None
    if args.uri and "vserver" in want:
        ts = []
        for _ in range(3):
            t = now()
            subprocess.run(["virsh", "-q", "-c", args.uri, "uri"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ts.append(now() - t)
        args.virsh_s = statistics.median(ts)

    res = {}
    for mib in args.sizes:
        warm = mib <= args.warm_max
        res[mib] = {}
        log()
        log("== %d MiB (%d run(s)%s)" % (mib, args.runs,
                                          ", each with a warm cycle" if warm else ""))
        live = []
        for p in peers:
            e = res[mib][p.key] = {"runs": []}
            try:
                e["start_s"], e["fill_s"] = p.start(mib)
                live.append(p)
                if p.key != "floor":
                    log("  %-8s hog ready in %.1f s" % (p.key, e["start_s"]))
            except CycleError as ex:
                e["error"] = "start: %s" % ex
                failures.append("%d MiB %s: %s" % (mib, p.key, e["error"]))
                log("  !! %d MiB %s: %s" % (mib, p.key, e["error"]))
                try:
                    p.stop(mib)
                except Exception:
                    pass

        def one(p, run, cold):
            e = res[mib][p.key]
            if e.get("error"):
                return
            try:
                if p.key == "vserver":
                    r = p.cycle(mib, cold=cold, api=not cold)
                elif p.key == "criu":
                    r = p.cycle(mib, cold, run)
                else:
                    if not cold:
                        return
                    r = p.cycle(mib, warm)
            except (CycleError, OSError, subprocess.TimeoutExpired) as ex:
                e["error"] = "run %d (%s): %s" % (run + 1, "cold" if cold else "warm", ex)
                failures.append("%d MiB %s: %s" % (mib, p.key, e["error"]))
                log("  !! FAILED %d MiB %s: %s" % (mib, p.key, e["error"]))
                return
            r["run"] = run + 1
            e["runs"].append(r)
            if p.key == "floor":
                log("  run %d %-8s write %.2f s (+fsync %.2f s), read cold %.2f s"
                    % (run + 1, p.key, r["write_s"], r["write_fsync_s"], r["read_s"]))
            else:
                log("  run %d %-8s %s %.2f s (+sync %.2f s), %s restore %.2f s,"
                    " image %.1f MiB, ticks again %.3f s after"
                    % (run + 1, p.key, r.get("client", "criu") + (" save" if p.key == "vserver" else " dump"), r["save_s"],
                       r["save_sync_s"] - r["save_s"], "cold" if cold else "warm",
                       r["restore_s"], r["image_bytes"] / MIB, r["first_tick_s"] or 0))

        for run in range(args.runs):
            for p in live:
                one(p, run, True)
            if warm:
                for p in live:
                    if p.key != "floor":
                        one(p, run, False)

        for p in live:
            e = res[mib][p.key]
            try:
                if not e.get("error"):
                    checked = p.finish(mib)
                    if checked is not None:
                        e["full_check"] = "ok"
                        log("  %-8s full memory check after %d restore(s): all %d MiB"
                            " intact (%d pages checked on the way)"
                            % (p.key, len(e["runs"]), mib, checked))
            except (CycleError, OSError, libvirt.libvirtError) as ex:
                e["error"] = "full check: %s" % ex
                failures.append("%d MiB %s: %s" % (mib, p.key, e["error"]))
                log("  !! FAILED %d MiB %s: %s" % (mib, p.key, e["error"]))
            try:
                p.stop(mib)
            except Exception as ex:
                log("  (%s: cleanup after %d MiB: %s)" % (p.key, mib, ex))

        if "migrate" in want:
            e = res[mib]["migrate"] = {"runs": [], "back": []}
            if mig is None:
                e["error"] = mig_error
            else:
                log("  (migration: virsh migrate --live --p2p between hosts A and B)")
                try:
                    measure_migration(mig, mib, args.runs, e)
                except (CycleError, OSError, libvirt.libvirtError) as ex:
                    e["error"] = "run %d: %s" % (len(e["runs"]) + 1, ex)
                    failures.append("%d MiB migrate: %s" % (mib, e["error"]))
                    log("  !! FAILED %d MiB migrate: %s" % (mib, e["error"]))
                try:
                    mig.stop(mib)
                except Exception as ex:
                    log("  (migrate: cleanup after %d MiB: %s)" % (mib, ex))

    fits = report(args, res, load0)
    log()
    log("total bench time %.0f s" % (now() - t_start))
    if failures:
        log()
        log("== FAILED")
        for f in failures:
            log("  " + f)

    if args.json:
        out = {"host": {"kernel": platform.release(), "cpus": os.cpu_count()},
               "sizes_mib": args.sizes, "runs": args.runs, "warm_max": args.warm_max,
               "virsh_uri_s": args.virsh_s, "results": {str(k): v for k, v in res.items()},
               "fits": fits, "failures": failures}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
