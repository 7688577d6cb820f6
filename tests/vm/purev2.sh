#!/bin/bash
# A pure cgroup v2 host (root), in a virtual machine.  The machine the
# suite runs on may mount cgroup v1 controllers (this project's own CI
# host does, with an empty cgroup2 beside them), and a controller bound to
# v1 cannot be moved to cgroup2 while anything uses it.  So the tests that
# read limits back from the kernel, escape, and boot distributions run
# again inside a Debian 12 virtual machine (qemu, software emulation;
# Debian's 6.1 kernel; systemd as PID 1, which mounts only cgroup2, with
# every controller), on the same build tree, shared over 9p:
#  - the machine's /sys/fs/cgroup is cgroup2 with the memory, cpu, io and
#    pids controllers, and no v1 hierarchy is mounted;
#  - each test of VM_TESTS passes there; their results are this test's,
#    each line prefixed with the test's name;
#  - nothing of the test instances is left in the machine afterwards
#    (tests/leftovers.sh, run there).
# The disk is made once by tests/vm/mkimage.sh (cached in
# /var/cache/libvirt-vserver/vm); the machine runs on a throwaway
# snapshot of it.  Skipped when qemu is not installed, or when the image
# cannot be made because the archive is unreachable.
set -u
. "$(dirname "$0")/../session.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-$top/build}
cache=${VSERVER_VM_CACHE:-/var/cache/libvirt-vserver/vm}
tests=${VM_TESTS:-cgroup context-lifecycle context-resources context-isolation context-distro-trixie}
# the machine's whole run, boot to power-off
deadline=${VM_DEADLINE:-2400}

n=0
tap() {   # tap RC DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

qemu=$(command -v qemu-system-x86_64 || true)
if [ -z "$qemu" ] || [ "$(uname -m)" != x86_64 ]; then
    echo "1..0 # SKIP qemu-system-x86_64 is not installed (scripts/install-deps.sh installs it)"
    exit 0
fi
case "$builddir" in
    "$top"/*) ;;
    *) echo "1..0 # SKIP the build dir ($builddir) is not below the source tree the machine shares"
       exit 0 ;;
esac

img=$(bash "$top/tests/vm/mkimage.sh" "$cache")
rc=$?
if [ $rc = 3 ]; then
    echo "1..0 # SKIP the Debian archive is unreachable and no machine image is cached"
    exit 0
fi
if [ $rc != 0 ] || [ ! -f "$img/root.img" ]; then
    echo "1..1"
    tap 1 "the machine's disk is made (tests/vm/mkimage.sh, exit $rc)"
    exit 1
fi

out=$(mktemp -d /var/tmp/vserver-vmtest.XXXXXX)
qpid=
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill -TERM "$qpid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
    fi
    rm -rf "$out"
}
trap cleanup EXIT

echo "$top" > "$out/srcpath"
# what runs in the machine, as root, after its boot (the image's
# vserver-vmtest.service); the machine powers off when it ends
cat > "$out/cmd" <<EOF
#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
{
    echo "fstype \$(stat -f -c %T /sys/fs/cgroup)"
    echo "controllers \$(cat /sys/fs/cgroup/cgroup.controllers)"
    echo "v1 \$(awk '\$9 == "cgroup" { print \$5 }' /proc/self/mountinfo | tr '\n' ' ')"
    echo "kernel \$(uname -r)"
    echo "init \$(readlink /proc/1/exe)"
} > /run/vmtest-out/env
cd "$top"
meson test --no-rebuild -C "$builddir" --logbase vmtest $tests
echo \$? > /run/vmtest-out/meson.rc
bash tests/leftovers.sh "$builddir" > /run/vmtest-out/leftovers 2>&1
echo \$? > /run/vmtest-out/leftovers.rc
EOF
chmod 755 "$out/cmd"
rm -f "$builddir/meson-logs/vmtest.json"

t0=$SECONDS
timeout -s KILL "$deadline" "$qemu" -accel tcg,thread=multi -smp 2 -m 4096 -cpu max \
    -nographic -no-reboot -snapshot -nic none \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet" \
    -drive "file=$img/root.img,if=virtio,format=raw" \
    -virtfs "local,path=$top,mount_tag=src,security_model=passthrough,id=src" \
    -virtfs "local,path=/var/cache/libvirt-vserver,mount_tag=cache,security_model=passthrough,id=cache" \
    -virtfs "local,path=$out,mount_tag=out,security_model=passthrough,id=out" \
    > "$out/console.log" 2>&1 &
qpid=$!
wait "$qpid"
qrc=$?
qpid=
echo "# the machine ran $((SECONDS - t0)) s (qemu exit $qrc)"

tap "$([ -f "$out/meson.rc" ]; echo $?)" "the machine booted, ran the tests and powered off (within ${deadline} s)"
if [ ! -f "$out/env" ]; then
    tail -n 20 "$out/console.log" | sed 's/^/# console: /'
    echo "1..$n"
    exit 1
fi
sed 's/^/# machine: /' "$out/env"
env_val() { sed -n "s/^$1 //p" "$out/env"; }
[ "$(env_val fstype)" = cgroup2fs ]
tap $? "its /sys/fs/cgroup is cgroup2 ($(env_val fstype))"
missing=
for c in memory cpu io pids; do
    case " $(env_val controllers) " in *" $c "*) ;; *) missing="$missing $c" ;; esac
done
tap "$([ -z "$missing" ]; echo $?)" "... with the memory, cpu, io and pids controllers${missing:+ (missing:$missing)}"
tap "$([ -z "$(env_val v1 | tr -d ' ')" ]; echo $?)" "... and no cgroup v1 hierarchy mounted"
tap "$([ "$(env_val init)" = /usr/lib/systemd/systemd ]; echo $?)" "... under systemd as PID 1"

# every result line of every test the machine ran, as this test's own
/usr/bin/python3 - "$builddir/meson-logs/vmtest.json" "$n" $tests <<'PY' > "$out/results"
import json, re, sys
path, n, wanted = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
seen = {}
try:
    lines = open(path).read().splitlines()
except OSError:
    lines = []
for line in lines:
    t = json.loads(line)
    # "project:suite / name"
    seen[t["name"].split(" / ")[-1]] = t
for name in wanted:
    t = seen.get(name)
    if t is None:
        n += 1
        print("not ok %d - %s: did not run in the machine" % (n, name))
        continue
    bad = 0
    for l in (t.get("stdout") or "").splitlines():
        m = re.match(r"^(not ok|ok)\b\s*\d*\s*-?\s*(.*)$", l)
        if m:
            n += 1
            if m.group(1) == "not ok" and not re.search(r"#\s*TODO", l, re.I):
                bad += 1
            print("%s %d - %s: %s" % (m.group(1), n, name, m.group(2)))
        elif l.startswith("#"):
            print("# %s: %s" % (name, l.lstrip("# ")))
    if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and bad == 0:
        n += 1
        print("not ok %d - %s: ended %s in %.0f s" % (n, name, t.get("result"), t.get("duration", 0)))
    else:
        print("# %s: %s in %.0f s" % (name, t.get("result"), t.get("duration", 0)))
print("N %d" % n)
PY
grep -v '^N ' "$out/results"
n=$(sed -n 's/^N //p' "$out/results")
[ -n "$n" ] || n=0
tap "$(cat "$out/leftovers.rc" 2>/dev/null || echo 1)" "nothing of the test instances is left in the machine"
[ -s "$out/leftovers" ] && sed 's/^/# leftovers: /' "$out/leftovers"
echo "1..$n"
