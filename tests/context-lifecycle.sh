#!/bin/bash
# Real contexts (root): start, destroy, shutdown, reboot (from virsh and
# from inside), poweroff inside, suspend/resume.  After every stop: no
# shim, cgroup, run-dir file or mount of the context is left, read from
# the kernel and the run dir.  (Daemon restarts: context-daemon.sh.)
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"

# busybox init (inittab from mkrootfs: a shell respawned on the console)
ctx_xml life "$rootfs" "" "<on_reboot>restart</on_reboot>" > "$work/life.xml"
vsh define "$work/life.xml" >/dev/null

# --- start / destroy
check "start" -- vsh start life
p=$(ctx_initpid life)
equals "domstate after start" "running (booted)" "$(ctx_st life)"
equals "the domain ID is the host pid of init (busybox init)" "/bin/busybox" "$(readlink "/proc/$p/exe")"
equals "one shim runs for the context" 1 "$(ctx_shims life | wc -l)"
ncg=$(ctx_cgroups life | wc -l)
[ "$ncg" -ge 1 ]; ok $? "the context has cgroups ($ncg hierarchies)"
missing=
for d in $(ctx_cgroups life); do
    grep -qx "$p" "$d/cgroup.procs" || missing="$missing $d"
done
equals "init is in each of the context's cgroups" "" "$missing"
equals "run dir holds status, shim config, pid file and socket" \
    "life.pid life.shim life.sock life.xml" "$(ctx_runfiles life | tr '\n' ' ' | sed 's/ $//')"
wait_until 5 pgrep -P "$p"
check "destroy" -- vsh destroy life
equals "domstate after destroy" "shut off (destroyed)" "$(ctx_st life)"
check "init is gone after destroy" -- pid_gone "$p"
ctx_nothing_left "destroy leaves no shim, cgroup, run file or mount" life "$rootfs"
equals "domid of a stopped domain is -" "-" "$(vsh domid life)"

# --- 20 start/destroy cycles
count_all() {
    echo "shims=$(ctx_shims | wc -l) cgroups=$(ctx_cgroups | wc -l)" \
         "runfiles=$(ctx_runfiles | wc -l) mounts=$(ctx_mounts "$work" | wc -l)" \
         "daemonfds=$(ls "/proc/$(inst_daemon_pid)/fd" | wc -l)"
}
before=$(count_all)
# one virsh session for all 40 commands: connecting costs more than a cycle
out=$(virsh -c "$uri" "$(for i in $(seq 1 20); do printf 'start life; destroy life; '; done)" 2>&1)
counts="$(printf '%s\n' "$out" | grep -c "^Domain 'life' started") $(printf '%s\n' "$out" | grep -c "^Domain 'life' destroyed")"
equals "20 start/destroy cycles all succeed" "20 20" "$counts"
[ "$counts" = "20 20" ] ||
    printf '%s\n' "$out" | grep -v -e "^Domain 'life' started" -e "^Domain 'life' destroyed" -e '^$' | head -n 5 | sed 's/^/#   /'
equals "20 cycles leave no shim, cgroup, run file, mount or daemon fd behind" "$before" "$(count_all)"

# --- transient
ctx_xml trans "$rootfs" "exec sleep 100000" > "$work/trans.xml"
check "create (transient)" -- vsh create "$work/trans.xml"
contains "the transient domain is listed" "trans" "$(vsh list --name)"
p=$(ctx_initpid trans)
check "destroy the transient domain" -- vsh destroy trans
out=$(vsh dominfo trans 2>&1)
contains "the transient domain is gone after destroy" "failed to get domain 'trans'" "$out"
check "its init is gone" -- pid_gone "$p"
ctx_nothing_left "a destroyed transient domain leaves nothing" trans "$rootfs"

# --- shutdown through busybox init
vsh start life >/dev/null
p=$(ctx_initpid life)
# busybox init has its signal handlers once it runs its inittab
wait_until 5 pgrep -P "$p"
check "shutdown is accepted" -- vsh shutdown life
wait_until 15 ctx_shim_gone life
ctx_wait_state life "shut off (shutdown)" 5
equals "after shutdown: shut off (shutdown)" "shut off (shutdown)" "$(ctx_st life)"
check "init is gone after shutdown" -- pid_gone "$p"
ctx_nothing_left "shutdown leaves nothing" life "$rootfs"

# --- reboot from virsh
vsh start life >/dev/null
p=$(ctx_initpid life)
shim=$(ctx_shims life)
wait_until 5 pgrep -P "$p"
check "reboot is accepted" -- vsh reboot life
wait_until 15 ctx_new_init "$shim" "$p"
wait_until 5 ctx_domid_changed life "$p"
p2=$(ctx_initpid life)
[ -n "$p2" ] && [ "$p2" != "$p" ] && [ "$p2" != - ]
ok $? "virsh reboot: a new init ($p -> $p2)"
equals "virsh reboot: running (booted)" "running (booted)" "$(ctx_st life)"
check "virsh reboot: the old init is gone" -- pid_gone "$p"
equals "virsh reboot: the same shim supervises the new init" "$shim" "$(ctx_shims life)"
check "virsh reboot: the new init is in the context's cgroups" -- grep -q "life.libvirt-vserver" "/proc/$p2/cgroup"

# --- reboot(2) inside, on_reboot=restart
wait_until 5 pgrep -P "$p2"
ctx_enter life 'reboot -f' >/dev/null 2>&1
wait_until 10 ctx_new_init "$shim" "$p2"
wait_until 5 ctx_domid_changed life "$p2"
p3=$(ctx_initpid life)
[ -n "$p3" ] && [ "$p3" != "$p2" ] && [ "$p3" != - ]
ok $? "reboot -f inside with on_reboot=restart: a new init ($p2 -> $p3)"
equals "reboot -f inside: running again" "running (booted)" "$(ctx_st life)"
equals "reboot -f inside: still one shim" 1 "$(ctx_shims life | wc -l)"

# --- poweroff(2) inside
wait_until 5 pgrep -P "$p3"
ctx_enter life 'poweroff -f' >/dev/null 2>&1
wait_until 10 ctx_shim_gone life
ctx_wait_state life "shut off (shutdown)" 5
equals "poweroff -f inside: shut off (shutdown)" "shut off (shutdown)" "$(ctx_st life)"
ctx_nothing_left "poweroff inside leaves nothing" life "$rootfs"

# --- reboot(2) inside, on_reboot=destroy
ctx_xml rbd "$rootfs" "" "<on_reboot>destroy</on_reboot>" > "$work/rbd.xml"
vsh define "$work/rbd.xml" >/dev/null
vsh start rbd >/dev/null
p=$(ctx_initpid rbd)
wait_until 5 pgrep -P "$p"
ctx_enter rbd 'reboot -f' >/dev/null 2>&1
wait_until 10 ctx_shim_gone rbd
wait_until 5 sh -c "virsh -q -c '$uri' domstate rbd | grep -q 'shut off'"
contains "reboot -f inside with on_reboot=destroy: shut off" "shut off" "$(ctx_st rbd)"
echo "# on_reboot=destroy state: $(ctx_st rbd)"
ctx_nothing_left "on_reboot=destroy leaves nothing" rbd "$rootfs"

# --- suspend / resume: a counter written by init must stop and go on
mkdir -p "$work/out-cnt"
ctx_xml cnt "$rootfs" 'i=0; while :; do i=$((i+1)); echo $i > /out/cnt.new; mv /out/cnt.new /out/cnt; sleep 0.1; done' "" \
    "$(ctx_bind "$work/out-cnt" /out)" > "$work/cnt.xml"
vsh define "$work/cnt.xml" >/dev/null
vsh start cnt >/dev/null
wait_until 5 test -s "$work/out-cnt/cnt"
check "suspend" -- vsh suspend cnt
equals "domstate after suspend" "paused (user)" "$(ctx_st cnt)"
base=vserver-instance-$(basename "$inst_dir")
# the driver freezes through cgroup2 where it can, else the v1 freezer
v2=$(ctx_cgroups cnt | while read -r d; do [ -f "$d/cgroup.freeze" ] && echo "$d"; done)
if [ -n "$v2" ]; then
    contains "the cgroup2 group reports frozen 1" "frozen 1" "$(cat "$v2/cgroup.events")"
else
    equals "the freezer cgroup is FROZEN" "FROZEN" \
        "$(ctx_cg_value cnt freezer.state)"
fi
pstate=$(awk '/^State:/ {print $2}' "/proc/$(ctx_initpid cnt)/status")
echo "# paused init's State: $pstate"
# a negative check: watched for the fixed $still_window seconds (lib.sh)
c1=$(cat "$work/out-cnt/cnt"); sleep "$still_window"; c2=$(cat "$work/out-cnt/cnt")
equals "while paused the counter does not move" "$c1" "$c2"
check "resume" -- vsh resume cnt
equals "domstate after resume" "running (unpaused)" "$(ctx_st cnt)"
wait_until 5 above "$c2" counter_value "$work/out-cnt/cnt"
c3=$(cat "$work/out-cnt/cnt")
[ "$c3" -gt "$c2" ]; ok $? "after resume the counter moves ($c2 -> $c3)"
vsh suspend cnt >/dev/null
p=$(ctx_initpid cnt)
check "destroy of a paused context" -- vsh destroy cnt
equals "domstate after destroying a paused context" "shut off (destroyed)" "$(ctx_st cnt)"
check "the paused context's init is gone" -- pid_gone "$p"
ctx_nothing_left "destroying a paused context leaves nothing" cnt "$rootfs"

equals "at the end: nothing left of any context" "" "$(ctx_leftovers "" "$work")"
tap_done
