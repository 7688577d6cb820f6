#!/bin/bash
# Real contexts (root) and the daemon: autostart, a daemon killed or
# restarted while contexts run (same init, one shim, re-attached), a
# context that stops while the daemon is down, a killed shim or init, the
# daemon and the shim killed together (stale cgroups: removed when empty,
# named with their pids when not).  After every stop nothing of the
# context is left.
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

# --- autostart at daemon start
ctx_xml auto "$rootfs" "exec sleep 100000" > "$work/auto.xml"
vsh define "$work/auto.xml" >/dev/null
vsh autostart auto >/dev/null
"$instance" stop "$inst_dir"
"$instance" start "$inst_dir" >/dev/null
ctx_wait_state auto "running (booted)" 5
equals "autostart: started by the daemon at its start" "running (booted)" "$(ctx_st auto)"
p=$(ctx_initpid auto)
"$instance" stop "$inst_dir"
"$instance" start "$inst_dir" >/dev/null
equals "autostart: a running context is not started twice on restart" "$p" "$(ctx_initpid auto)"
equals "autostart: one shim after two restarts" 1 "$(ctx_shims auto | wc -l)"
vsh destroy auto >/dev/null
ctx_nothing_left "autostarted context destroyed: nothing left" auto "$rootfs"
contains "autostart: the flag survives a stop of the context" "Autostart:      enable" \
    "$(vsh dominfo auto)"
vsh autostart --disable auto >/dev/null
check "autostart --disable after a stop removes the link" -- \
    test ! -e "$inst_dir/etc/libvirt/vserver/autostart/auto.xml"
# whatever the driver did, "auto" must not come back at the next restarts
rm -f "$inst_dir/etc/libvirt/vserver/autostart/auto.xml"
"$instance" stop "$inst_dir"
"$instance" start "$inst_dir" >/dev/null
equals "autostart disabled: not started at daemon start" "shut off" "$(vsh domstate auto)"
vsh destroy auto >/dev/null 2>&1

# --- daemon killed and restarted while a context runs
vsh start life >/dev/null
p=$(ctx_initpid life)
shim=$(ctx_shims life)
wait_until 5 pgrep -P "$p"
"$instance" kill "$inst_dir"
check "the context survives SIGKILL of the daemon" -- pid_alive "$p"
"$instance" start "$inst_dir" >/dev/null
equals "after the daemon restart: same init pid" "$p" "$(ctx_initpid life)"
equals "after the daemon restart: running" "running (booted)" "$(ctx_st life)"
equals "after the daemon restart: the same single shim" "$shim" "$(ctx_shims life)"
equals "after the daemon restart: vserver-enter works" "life" "$(ctx_enter life hostname 2>&1)"
"$instance" stop "$inst_dir"
"$instance" start "$inst_dir" >/dev/null
equals "after a clean daemon restart: same init pid" "$p" "$(ctx_initpid life)"
check "destroy after daemon restarts" -- vsh destroy life
check "init is gone" -- pid_gone "$p"
ctx_nothing_left "destroy after daemon restarts leaves nothing" life "$rootfs"

# --- the context stops while the daemon is down
vsh start life >/dev/null
p=$(ctx_initpid life)
wait_until 5 pgrep -P "$p"
"$instance" kill "$inst_dir"
nsenter -t "$p" -m -p -u -i /bin/busybox poweroff -f >/dev/null 2>&1
wait_until 5 pid_gone "$p"
wait_until 5 ctx_shim_gone life
check "poweroff inside while the daemon is down: the shim exits" -- test -z "$(ctx_shims life)"
"$instance" start "$inst_dir" >/dev/null
equals "the restarted daemon reads why it stopped: shut off (shutdown)" "shut off (shutdown)" "$(ctx_st life)"
ctx_nothing_left "the restarted daemon cleans up a context that stopped meanwhile" life "$rootfs"

# --- kill -9 of the shim
vsh start life >/dev/null
p=$(ctx_initpid life)
shim=$(ctx_shims life)
kill -KILL "$shim"
wait_until 10 ctx_shim_gone life
wait_until 5 sh -c "virsh -q -c '$uri' domstate life | grep -q 'shut off'"
equals "shim killed: the daemon notices, shut off (crashed)" "shut off (crashed)" "$(ctx_st life)"
wait_until 5 pid_gone "$p"
check "shim killed: the context's init is killed too" -- pid_gone "$p"
ctx_nothing_left "shim killed: cleanup leaves nothing" life "$rootfs"

# --- kill -9 of init from the host
vsh start life >/dev/null
p=$(ctx_initpid life)
kill -KILL "$p"
wait_until 10 ctx_shim_gone life
wait_until 5 sh -c "virsh -q -c '$uri' domstate life | grep -q 'shut off'"
equals "init killed from the host: shut off (crashed)" "shut off (crashed)" "$(ctx_st life)"
ctx_nothing_left "init killed: cleanup leaves nothing" life "$rootfs"
check "the domain starts again after a crash" -- vsh start life
vsh destroy life >/dev/null

# --- the daemon and the shim killed together (as the OOM killer may):
# what they leave (the context's cgroups) must not block the domain
base=vserver-instance-$(basename "$inst_dir")
vsh start life >/dev/null
p=$(ctx_initpid life)
shim=$(ctx_shims life)
"$instance" kill "$inst_dir"
kill -KILL "$shim" "$p"
wait_until 10 ctx_shim_gone life
wait_until 10 pid_gone "$p"
"$instance" start "$inst_dir" >/dev/null
check "daemon, shim and init killed together: the domain starts again" -- vsh start life
equals "... and runs" "running (booted)" "$(ctx_st life)"
vsh destroy life >/dev/null
ctx_nothing_left "... and its destroy leaves nothing" life "$rootfs"

# a group of that name that some earlier run left with a process in it
# (the daemon kills what it knows of at restart; this one it does not)
stale=$(ctx_cg_dir life pids)
mkdir "$stale"
sleep 100000 &
straggler=$!
echo "$straggler" > "$stale/cgroup.procs"
out=$(vsh start life 2>&1)
ok $([ "$(ctx_st life)" != "running (booted)" ]; echo $?) \
    "a stale cgroup that still holds a process: the start is refused"
contains "... naming the process" "still holds processes (pids $straggler)" "$out"
check "... and the process was left alone" -- pid_alive "$straggler"
kill -KILL "$straggler"
wait "$straggler" 2>/dev/null
check "once it is gone, the domain starts" -- vsh start life
vsh destroy life >/dev/null
ctx_nothing_left "... and its destroy leaves nothing" life "$rootfs"

equals "at the end: nothing left of any context" "" "$(ctx_leftovers "" "$work")"
tap_done
