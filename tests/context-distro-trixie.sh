#!/bin/bash
# Real distributions (root): Debian 13 "trixie", whose systemd (257) runs
# only in unified cgroup mode, unprivileged, with a network device on a
# bridge, and sshd answering over it.
#  - a systemd guest on a hashify clone of a trixie template, with an id
#    range the driver picks (<vserver:idmap size=.../>) and a veth on a
#    bridge the test made, boots to "running" with no failed unit, its
#    /sys/fs/cgroup a cgroup2 tree, journald, logind, cron and sshd active;
#  - a service's credentials reach it (SetCredential=, $CREDENTIALS_DIRECTORY),
#    through the context's shared mounts;
#  - over the bridge, ssh with a key put into the guest's
#    /root/.ssh/authorized_keys runs "cat /etc/os-release" in it, which
#    says trixie;
#  - virsh shutdown is a clean poweroff by systemd within 60 s, with no
#    SIGKILL, leaving nothing (no veth on the bridge either); virsh reboot
#    boots it again, and sshd answers again over the recreated device;
#  - a trixie sysvinit guest (directory root, <idmap>) boots to runlevel 2
#    with sshd and cron running and halts cleanly on virsh shutdown.
#
# The test runs in a private network and mount namespace of its own (it
# re-executes itself under unshare, as context-network.sh does): the
# bridge, its address, the daemon and the shims live there and vanish
# with it; no packet reaches the real network.  The trees are made before
# (tests/distro/mkguest.sh needs the archive; cached outside the
# repository).  Skipped when the archive is unreachable and no tree is
# cached.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
shift_by=200000
cache=${VSERVER_DISTRO_CACHE:-/var/cache/libvirt-vserver/distro}
. "$top/tests/distro/private-ns.sh"
distro_private_ns TRIXIE trixie tree systemd sysvinit

. "$(dirname "$0")/lib.sh"

private_ns_host vstx0 10.79.0.1/24
addr=10.79.0.2

# --- the template and a clone of it (a hashify pool)
pool=$inst_dir/pool
cat > "$inst_dir/pool.xml" <<XML
<pool type='hashify'>
  <name>tp</name>
  <target><path>$pool</path></target>
  <hashify><import devices='skip'/></hashify>
</pool>
XML
vsh pool-define "$inst_dir/pool.xml" >/dev/null && vsh pool-build tp >/dev/null &&
    vsh pool-start tp >/dev/null
printf '<volume><name>trixie</name></volume>\n' > "$inst_dir/tpl.xml"
vsh vol-create tp "$inst_dir/tpl.xml" >/dev/null
t0=${EPOCHREALTIME/[.,]/}
check "the trixie systemd tarball uploads into a template" -- \
    vsh vol-upload --pool tp trixie "${VSERVER_TRIXIE_systemd%-$shift_by}.tar"
echo "# upload: $(ms_since "$t0") ms"
check "a guest volume cloned from it" -- vsh vol-clone --pool tp trixie g1

cat > "$inst_dir/tx.xml" <<XML
<domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>
  <name>tx</name>
  <memory unit='MiB'>512</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <devices>
    <filesystem type='volume'><source pool='tp' volume='g1'/><target dir='/'/></filesystem>
    <interface type='bridge'>
      <source bridge='$br'/>
      <ip address='$addr' prefix='24'/>
    </interface>
    <console type='pty'/>
  </devices>
  <vserver:context><vserver:idmap size='65536'/></vserver:context>
</domain>
XML
check "a trixie guest with a driver-picked id range and a bridged veth defines" -- \
    vsh define "$inst_dir/tx.xml"

inside() { in_ctx tx "$@"; }
sys_state() { inside /bin/systemctl is-system-running; }
sys_settled() { distro_settled tx; }
ssh_key=$inst_dir/id_test
ssh-keygen -q -t ed25519 -N '' -C vserver-test -f "$ssh_key"
# guest_ssh COMMAND: run COMMAND in the guest over ssh, bounded
guest_ssh() {
    timeout 15 ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR -i "$ssh_key" "root@$addr" "$@"
}
ssh_answers() { guest_ssh cat /etc/os-release > "$inst_dir/ssh.out" 2>&1; }

# --- boot
t0=${EPOCHREALTIME/[.,]/}
check "the trixie systemd guest starts (unprivileged, on its clone)" -- vsh start tx
wait_until 120 sys_settled
echo "# start to settled: $(ms_since "$t0") ms"
equals "systemd reports the system running" "running" "$(sys_state)"
failed=$(inside /bin/systemctl --failed --no-legend --plain)
equals "... with no failed unit" "" "$failed"
for u in $(printf '%s\n' "$failed" | awk '{print $1}'); do
    inside /bin/systemctl status --no-pager -l "$u" | tail -n 15 | sed 's/^/#   /'
done
contains "it is systemd 257 or later" "systemd 2" "$(inside /bin/systemctl --version | head -n 1)"
ok $([ "$(inside /bin/systemctl --version | awk 'NR == 1 {print $2}')" -ge 257 ] 2>/dev/null; echo $?) \
    "... (the version that refuses cgroup v1)"
equals "its /sys/fs/cgroup is a cgroup2 tree (unified mode)" "cgroup2fs" \
    "$(inside /usr/bin/stat -f -c %T /sys/fs/cgroup)"
equals "journald, logind, cron and sshd are active" "active active active active" \
    "$(inside /bin/systemctl is-active systemd-journald systemd-logind cron ssh | tr '\n' ' ' | sed 's/ $//')"
# on a hashify volume an unchanged file is a link to its store object;
# cron skips a crontab with more than one ("NUMBER OF HARD LINKS > 1")
equals "cron's system crontab has one link (else cron skips it)" "1" \
    "$(inside /usr/bin/stat -c %h /etc/crontab)"
equals "the journal has no error of its boot" "" \
    "$(inside /bin/journalctl -b -p err --no-pager -q)"
out=$(inside /usr/bin/systemd-run -q -p SetCredential=probe:given --wait -P \
          /bin/sh -c 'cat "$CREDENTIALS_DIRECTORY/probe"')
# systemd mounts them in a helper's namespace, and they must propagate
# to init's: the shim makes the context's mounts shared
equals "a service's credentials reach it (\$CREDENTIALS_DIRECTORY)" given "$out"
if [ -e "$(ctx_cg_dir tx memory)/memory.max" ]; then
    # a pure cgroup2 host: the delegated group brings its controllers, and
    # the guest's systemd limits its own services with them
    out=$(inside /usr/bin/systemd-run -q -p MemoryMax=50M -p TasksMax=33 --wait -P \
              /bin/sh -c 'g=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); cat $g/memory.max $g/pids.max')
    equals "a service's MemoryMax= and TasksMax= reach the kernel inside" "52428800 33" \
        "$(echo $out)"
fi
vol_uid=$(vsh dumpxml --inactive tx | sed -n "s/.*<uid start='0' target='\([0-9]*\)'.*/\1/p")
equals "... on the id range the driver picked (root inside is $vol_uid on the host)" \
    "$vol_uid" "$(stat -c %u "/proc/$(ctx_initpid tx)")"

# --- sshd over the bridge, with a key put in by vserver-enter
inside /bin/sh -c "umask 077 && mkdir -p /root/.ssh && echo '$(cat "$ssh_key.pub")' > /root/.ssh/authorized_keys" >/dev/null
equals "the guest has its address on eth0" "$addr/24" \
    "$(inside /sbin/ip -o -4 addr show dev eth0 | awk '{print $4}')"
t0=${EPOCHREALTIME/[.,]/}
wait_until 30 ssh_answers
rc=$?
ok $rc "ssh to root@$addr with the test key runs 'cat /etc/os-release' in the guest"
echo "# ssh answered after $(ms_since "$t0") ms"
[ $rc -ne 0 ] && sed 's/^/# /' "$inst_dir/ssh.out"
contains "... which says Debian 13 trixie" "VERSION_CODENAME=trixie" "$(cat "$inst_dir/ssh.out")"
equals "... and 'hostname' over ssh is the guest's (as vserver-enter sees it)" \
    "$(inside /bin/hostname)" "$(guest_ssh hostname 2>&1)"

# --- a clean shutdown by systemd itself
t0=${EPOCHREALTIME/[.,]/}
check "virsh shutdown" -- vsh shutdown tx
ctx_wait_state tx "shut off (shutdown)" 60
echo "# shutdown took $(ms_since "$t0") ms"
equals "systemd powered the context off by itself within 60 s" "shut off (shutdown)" "$(ctx_st tx)"
ok $(grep -q 'graceful stop timed out' "$inst_dir/var/log/libvirt/vserver/tx.log"; [ $? -ne 0 ]; echo $?) \
    "... with no SIGKILL from the shim"
ctx_nothing_left "after the shutdown nothing is left" tx "$pool"
equals "... and no veth on the bridge" "" "$(ip -o link show master "$br")"

# --- reboot: the device is made again, sshd answers again
vsh start tx >/dev/null
p=$(ctx_initpid tx)
wait_until 120 sys_settled
check "virsh reboot" -- vsh reboot tx
wait_until 60 ctx_domid_changed tx "$p"
wait_until 120 sys_settled
equals "after virsh reboot: a new init, running again" "running" "$(sys_state)"
rm -f "$inst_dir/ssh.out"
wait_until 30 ssh_answers
contains "... and sshd answers over the recreated device" "VERSION_CODENAME=trixie" \
    "$(cat "$inst_dir/ssh.out" 2>&1)"
check "destroy" -- vsh destroy tx
ctx_nothing_left "destroy leaves nothing" tx "$pool"
vsh undefine tx >/dev/null
for v in g1 trixie; do vsh vol-delete --pool tp "$v" >/dev/null; done
vsh pool-destroy tp >/dev/null; vsh pool-undefine tp >/dev/null

# --- trixie with sysvinit: runlevel 2, sshd and cron, a clean halt
d=tx-sysv
tree=$VSERVER_TRIXIE_sysvinit
distro_xml "$d" "$tree" 256 > "$inst_dir/$d.xml"
vsh define "$inst_dir/$d.xml" >/dev/null
booted() {
    [ "$(in_ctx "$d" /sbin/runlevel)" = "N 2" ] &&
        ! in_ctx "$d" /bin/ps -eo args | grep -q '^/bin/sh /etc/init.d/rc' &&
        in_ctx "$d" /bin/ps -eo args | grep -q 'getty.*console'
}
t0=${EPOCHREALTIME/[.,]/}
check "sysvinit: the trixie guest starts (unprivileged, <idmap>)" -- vsh start "$d"
wait_until 120 booted
echo "# sysvinit: start to booted: $(ms_since "$t0") ms"
ok $(booted; echo $?) "sysvinit: runlevel 2, rc scripts done, a getty on the console"
procs=$(in_ctx "$d" /bin/ps -eo comm)
contains "sysvinit: sshd runs" "sshd" "$procs"
contains "sysvinit: cron runs" "cron" "$procs"
t0=${EPOCHREALTIME/[.,]/}
check "sysvinit: virsh shutdown" -- vsh shutdown "$d"
ctx_wait_state "$d" "shut off (shutdown)" 90
echo "# sysvinit: shutdown took $(ms_since "$t0") ms"
equals "sysvinit: the guest halted by itself" "shut off (shutdown)" "$(ctx_st "$d")"
ok $(grep -q 'graceful stop timed out' "$inst_dir/var/log/libvirt/vserver/$d.log"; [ $? -ne 0 ]; echo $?) \
    "sysvinit: ... with no SIGKILL from the shim"
ctx_nothing_left "sysvinit: after the shutdown nothing is left" "$d" "$tree"
vsh undefine "$d" >/dev/null

tap_done
