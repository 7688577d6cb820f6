#!/bin/bash
# virsh save / restore with CRIU (root): a context whose init counts into
# a file is saved (it stops, reason saved, nothing left behind), the image
# names its domain (save-image-dumpxml), and a restore brings the same
# processes back: the counter goes on from where it was, with its console.
# Skipped when the build has no CRIU.
set -u
. "$(dirname "$0")/lib.sh"

if [ ! -x "$BUILDDIR/criu/sbin/criu" ]; then
    echo "1..0 # SKIP CRIU was not built (meson option criu)"
    exit 0
fi

inst_setup
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"

# a counter as init, in a private network namespace of its own
ctx_xml cnt "$rootfs" 'i=0; while :; do i=$((i+1)); echo $i >> /count; echo "tick $i"; sleep 0.2; done' \
    "<features><privnet/></features>" > "$work/cnt.xml"
check "start the counting context" -- vsh create "$work/cnt.xml"
p=$(ctx_initpid cnt)
wait_until 10 test -s "$rootfs/count"
sleep 1

# console_read: two seconds of the console through the stream API
console_read() {
    timeout 10 /usr/bin/python3 -c '
import sys, threading, time, libvirt
libvirt.virEventRegisterDefaultImpl()
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
c = libvirt.open(sys.argv[1])
st = c.newStream(libvirt.VIR_STREAM_NONBLOCK)
c.lookupByName("cnt").openConsole(None, st, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
got, end = b"", time.time() + 3
while time.time() < end:
    try:
        d = st.recv(4096)
    except libvirt.libvirtError:
        break
    if d == -2:
        time.sleep(0.05)
        continue
    if not d:
        break
    got += d
    if b"tick" in got:
        break
sys.stdout.write(got.decode(errors="replace"))
' "$uri" 2>&1 | tr -d '\r' | tail -c 300
}
ttyout=$(console_read)
contains "before the save: the ticks arrive on the console" "tick" "$ttyout"

img=$work/cnt.save
vsh suspend cnt >/dev/null
out=$(vsh save cnt "$img" 2>&1)
ok $(( ! $? )) "save of a suspended context fails"
contains "... saying to resume it first" "resume it first" "$out"
check "... leaving it as it was (no file, still paused)" -- \
    test ! -e "$img" -a "$(ctx_st cnt)" = "paused (user)"
vsh resume cnt >/dev/null
out=$(vsh save cnt "$img" 2>&1)
ok $? "virsh save"
[ -n "$out" ] && echo "# $out" | head -5
at_save=$(tail -n 1 "$rootfs/count")
equals "after the save the domain is gone (a transient one)" "" "$(vsh list --all --name 2>&1 | grep -x cnt)"
check "its init is gone" -- pid_gone "$p"
check "and its shim" -- ctx_shim_gone cnt
sleep 1
equals "nothing counts meanwhile" "$at_save" "$(tail -n 1 "$rootfs/count")"
check "the save file exists" -- test -s "$img"
contains "save-image-dumpxml names the domain" "<name>cnt</name>" "$(vsh save-image-dumpxml "$img" 2>&1)"

out=$(vsh restore "$img" 2>&1)
ok $? "virsh restore"
if [ -n "$out" ]; then
    echo "# $out" | head -5
    find "$inst_dir" -name 'cnt.restore.log' -exec grep -h -B3 -E 'Error|BUG' {} + 2>/dev/null | head -20 | sed 's/^/# /'
fi
equals "the domain runs again, restored" "running (restored)" "$(ctx_st cnt)"
np=$(ctx_initpid cnt)
wait_until 10 test "$(tail -n 1 "$rootfs/count")" -gt "$((at_save + 3))"
after=$(tail -n 1 "$rootfs/count")
[ "$after" -gt "$((at_save + 3))" ] &&
    awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { exit bad }' "$rootfs/count"
ok $? "the counter goes on from $at_save (now $after), no gap, no restart"
missing=
for d in $(ctx_cgroups cnt); do
    grep -qx "$np" "$d/cgroup.procs" || missing="$missing $d"
done
equals "the restored init is in each of the context's cgroups" "" "$missing"
mem=$(ctx_cgroups cnt | grep '/memory/')
equals "... with its memory limit (read back from the cgroup)" 134217728 \
    "$(cat "$mem/memory.limit_in_bytes" 2>/dev/null || cat "$mem/memory.max" 2>/dev/null)"
equals "the shim is init's parent again" "libvirt_vserver" \
    "$(ps -o comm= -p "$(ps -o ppid= -p "${np:-0}" | tr -d ' ')" 2>/dev/null | cut -c1-15)"

ttyout=$(console_read)
contains "the console is the context's again: its ticks arrive" "tick" "$ttyout"

check "destroy the restored context" -- vsh destroy cnt
ctx_nothing_left "nothing left after it" cnt "$rootfs"

# bad input
echo "not a save image" > "$work/bogus"
out=$(vsh restore "$work/bogus" 2>&1)
ok $(( ! $? )) "restore of a file that is not a save image fails"
contains "... saying so" "is not a libvirt-vserver save image" "$out"

inst_cleanup
tap_done
