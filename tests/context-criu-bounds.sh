#!/bin/bash
# No checkpoint operation can hang a domain (root, CRIU).  With a CRIU
# that stops for good at one stage (tests/criu/stall-criu.sh):
#  - virsh save returns within checkpoint_timeout (+ the driver's margin)
#    with an error naming the bound and CRIU's log; the context runs on:
#    init untraced and not stopped, its counter advancing; CRIU's network
#    lock of its namespace is undone (no CRIU chain, a new TCP connection
#    inside works); no CRIU process, no image left;
#  - virsh restore of a good image returns within restore_timeout with an
#    error naming the bound; the domain stays shut off and nothing of the
#    half-restored context is left (processes, shim, cgroups); the image
#    restores afterwards with a CRIU that works.
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
stall=$work/stall-criu
mkdir -p "$work"
mkrootfs "$rootfs"
bash "$top/tests/criu/stall-criu.sh" "$BUILDDIR/criu" "$stall"

printf 'checkpoint_timeout = 5\nrestore_timeout = 5\n' \
    > "$inst_dir/etc/libvirt/vserver.conf"
# restart_with CRIU_DIR: the daemon again, with that CRIU
restart_with() {
    VSERVER_CRIU_DIR=$1 "$instance" start "$inst_dir" >/dev/null
}
restart_with "$stall"

counter='i=0; while :; do i=$((i+1)); echo $i >> /count; sleep 0.2; done'
ctx_xml cnt "$rootfs" "$counter" "<features><privnet/></features>" > "$work/cnt.xml"
vsh define "$work/cnt.xml" >/dev/null
check "start the counting context (private network namespace)" -- vsh start cnt
p=$(ctx_initpid cnt)
wait_until 10 test -s "$rootfs/count"

lines_over() { test "$(wc -l < "$1")" -gt "$2"; }   # lines_over FILE N
grows() { wait_until 10 lines_over "$1" "$(( $(wc -l < "$1") + 2 ))"; }
tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
state_of() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
criu_procs() { pgrep -f "$BUILDDIR/criu/sbin/criu" | tr '\n' ' '; }
untraced() { [ "$(tracer_of "$1")" = 0 ]; }
no_criu() { [ -z "$(criu_procs)" ]; }
nothing_left() { [ -z "$(ctx_leftovers cnt "$rootfs")" ]; }

# --- a dump that hangs
t0=$SECONDS
out=$(timeout 120 virsh -q -c "$uri" save cnt "$work/cnt.img" 2>&1)
rc=$?
took=$(( SECONDS - t0 ))
ok $(( rc == 0 || rc == 124 )) "save with a hanging CRIU fails, and returns (after ${took} s)"
ok $(( took > 60 )) "... within checkpoint_timeout (5 s) and the driver's margin"
contains "... the error names the bound" "checkpoint_timeout" "$out"
contains "... and CRIU's log" "CRIU's log" "$out"
equals "the context still runs" "running (booted)" "$(ctx_st cnt)"
equals "... with the same init" "$p" "$(ctx_initpid cnt)"
wait_until 10 untraced "$p"
equals "... which no one traces any more" "0" "$(tracer_of "$p")"
st=$(state_of "$p")
ok $([ "$st" != T ] && [ "$st" != t ]; echo $?) "... and which is not stopped (state $st)"
grows "$rootfs/count"
ok $? "... its counter advances"
contains "... CRIU had locked its network when it hung (kept log)" "Lock network" \
    "$(cat "$inst_dir/var/log/libvirt/vserver/cnt.dump.log" 2>&1)"
# a connection inside its network namespace: CRIU's lock (a DROP chain)
# would stop it
rm -f "$rootfs/recv"
ctx_enter cnt 'nc -l -p 7001 > /recv & sleep 0.3; echo through | nc -w 5 127.0.0.1 7001' \
    >/dev/null 2>&1
wait_until 10 test -s "$rootfs/recv"
equals "... a new TCP connection inside goes through (CRIU's network lock undone)" \
    "through" "$(cat "$rootfs/recv" 2>/dev/null)"
rules=$(nsenter -t "$p" -n iptables -S 2>&1)
contains "... its firewall can be read" "-P INPUT" "$rules"
equals "... and has no CRIU chain left" "" "$(printf '%s\n' "$rules" | grep -w CRIU)"
wait_until 10 no_criu
equals "no CRIU process is left" "" "$(criu_procs)"
ok $([ ! -e "$work/cnt.img" ]; echo $?) "no image was written"

vsh destroy cnt >/dev/null

# --- a restore that hangs: a good image first, with the real CRIU (a
# context's shim uses the CRIU of the daemon that started it)
restart_with "$BUILDDIR/criu"
vsh start cnt >/dev/null
wait_until 10 test -s "$rootfs/count"
check "save with the real CRIU" -- vsh save cnt "$work/cnt.img"
restart_with "$stall"
t0=$SECONDS
out=$(timeout 120 virsh -q -c "$uri" restore "$work/cnt.img" 2>&1)
rc=$?
took=$(( SECONDS - t0 ))
ok $(( rc == 0 || rc == 124 )) "restore with a hanging CRIU fails, and returns (after ${took} s)"
ok $(( took > 60 )) "... within restore_timeout (5 s) and the driver's margin"
contains "... the error names the bound" "restore_timeout" "$out"
equals "the domain stays shut off, its start failed" "shut off (failed)" "$(ctx_st cnt)"
wait_until 10 no_criu
equals "no CRIU process is left" "" "$(criu_procs)"
wait_until 10 nothing_left
ctx_nothing_left "nothing of the half-restored context is left" cnt "$rootfs"

# --- and the image still restores with a CRIU that works
restart_with "$BUILDDIR/criu"
check "the same image restores with the real CRIU" -- vsh restore "$work/cnt.img"
grows "$rootfs/count"
ok $? "... and the counter goes on"
vsh destroy cnt >/dev/null 2>&1
vsh undefine cnt >/dev/null 2>&1
tap_done
