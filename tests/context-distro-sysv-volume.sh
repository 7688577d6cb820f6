#!/bin/bash
# Real distributions (root), the inits other than systemd on guest
# volumes: Debian 12 with sysvinit, and with OpenRC (under sysvinit's
# init), each a template in a hashify pool (the cached tarball of
# tests/distro/mkguest.sh uploaded) and a guest volume cloned from it, run
# unprivileged with an id range the driver picks (<vserver:idmap/>) and a
# veth on a bridge the test made.  For each:
#  - it boots to runlevel 2 with its rc scripts done and a getty on the
#    console; OpenRC ran its default runlevel with no crashed service;
#  - it runs under the range the driver picked, and what it writes lands
#    in its clone's upper layer under those ids;
#  - root logs in on the console with the password virsh
#    set-user-password gave it, runs a command and logs out;
#  - over the bridge, ssh with a key put into the guest's
#    /root/.ssh/authorized_keys runs a command in it, whose answer is the
#    guest's (bookworm's os-release, its host name);
#  - virsh shutdown is a clean halt by the guest's init: reason shutdown,
#    no SIGKILL, init ended by its own halt (SIGINT, what reboot(2) does
#    to a pid namespace's init), nothing left, no veth on the bridge;
#  - started again, destroy leaves nothing either.
# For sysvinit, a second guest on a second clone of the same template runs
# beside the first: both see the template's libc.so.6 (one inode, one page
# cache).
#
# The test runs in a private network and mount namespace of its own, as
# context-distro-trixie.sh does: the bridge, the daemon and the shims
# vanish with it; no packet reaches the real network.  Skipped when the
# Debian archive is unreachable and no tree is cached.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
shift_by=200000
cache=${VSERVER_DISTRO_CACHE:-/var/cache/libvirt-vserver/distro}
. "$top/tests/distro/private-ns.sh"
distro_private_ns SYSV bookworm tar sysvinit openrc

. "$(dirname "$0")/lib.sh"

private_ns_host vssv0 10.79.1.1/24

# --- the templates and their clones (a hashify pool)
pool=$inst_dir/pool
cat > "$inst_dir/pool.xml" <<XML
<pool type='hashify'>
  <name>sp</name>
  <target><path>$pool</path></target>
  <hashify><import devices='skip'/></hashify>
</pool>
XML
vsh pool-define "$inst_dir/pool.xml" >/dev/null && vsh pool-build sp >/dev/null &&
    vsh pool-start sp >/dev/null
for init in sysvinit openrc; do
    printf '<volume><name>bw-%s</name></volume>\n' "$init" > "$inst_dir/tpl-$init.xml"
    vsh vol-create sp "$inst_dir/tpl-$init.xml" >/dev/null
    tarball=VSERVER_SYSV_$init
    t0=${EPOCHREALTIME/[.,]/}
    check "$init: the bookworm tarball uploads into a template" -- \
        vsh vol-upload --pool sp "bw-$init" "${!tarball}"
    echo "# $init: upload: $(ms_since "$t0") ms"
done
check "sysvinit: two guest volumes cloned from its template" -- \
    sh -c "virsh -q -c '$uri' vol-clone --pool sp bw-sysvinit s1 && virsh -q -c '$uri' vol-clone --pool sp bw-sysvinit s2"
check "openrc: a guest volume cloned from its template" -- vsh vol-clone --pool sp bw-openrc o1

# guest_xml NAME VOLUME [ADDRESS]: a context on VOLUME with an id range the
# driver picks; with ADDRESS a veth on the bridge, else only a network
# namespace of its own
guest_xml() {
    local net="<interface type='bridge'><source bridge='$br'/><ip address='${3:-}' prefix='24'/></interface>"
    [ -z "${3:-}" ] && net=
    cat <<XML
<domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <features><privnet/></features>
  <devices>
    <filesystem type='volume'><source pool='sp' volume='$2'/><target dir='/'/></filesystem>
    $net
    <console type='pty'/>
  </devices>
  <vserver:context><vserver:idmap/></vserver:context>
</domain>
XML
}
guest_xml sv1 s1 10.79.1.2 > "$inst_dir/sv1.xml"
guest_xml sv2 s2 > "$inst_dir/sv2.xml"
guest_xml or1 o1 10.79.1.3 > "$inst_dir/or1.xml"
for d in sv1 sv2 or1; do
    check "$d defines (guest volume, driver-picked ids)" -- vsh define "$inst_dir/$d.xml"
done

# uid_target DOMAIN: the first host id of the range the driver picked
uid_target() {
    vsh dumpxml --inactive "$1" | sed -n "s/.*<uid start='0' target='\([0-9]*\)' count='[0-9]*'\/>.*/\1/p"
}
# booted DOMAIN: runlevel 2, no rc script still running, a getty on the
# console (inittab starts it once "rc 2" is done)
booted() {
    [ "$(in_ctx "$1" /sbin/runlevel)" = "N 2" ] &&
        ! in_ctx "$1" /bin/ps -eo args | grep -q '^/bin/sh /etc/init.d/rc' &&
        in_ctx "$1" /bin/ps -eo args | grep -q 'getty.*console'
}
console() {   # console DOMAIN SECONDS [SEND EXPECT]...
    /usr/bin/python3 "$top/tests/distro/console-expect.py" "$uri" "$@" 2>&1
}
ssh_key=$inst_dir/id_test
ssh-keygen -q -t ed25519 -N '' -C vserver-test -f "$ssh_key"
# guest_ssh ADDRESS COMMAND: run COMMAND in the guest over ssh, bounded
guest_ssh() {
    local a=$1; shift
    timeout 15 ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR -i "$ssh_key" "root@$a" "$@"
}
ssh_answers() {   # ssh_answers ADDRESS: the answer lands in $inst_dir/ssh.out
    guest_ssh "$1" 'cat /etc/os-release; echo "hostname=$(hostname)"' > "$inst_dir/ssh.out" 2>&1
}
# stop_status DOMAIN: how the context's init ended, as its shim logged it
stop_status() {
    sed -n 's/.*context stopped: [a-z]*, \(wait status [0-9]*\)$/\1/p' \
        "$inst_dir/var/log/libvirt/vserver/$1.log" | tail -n 1
}
libc=$(cd "$pool/bw-sysvinit/tree" && ls usr/lib/*/libc.so.6 | head -n 1)
libc=/$libc

# one_guest INIT DOMAIN VOLUME ADDRESS [SECOND-DOMAIN SECOND-VOLUME]
one_guest() {
    local init=$1 d=$2 vol=$3 addr=$4 d2=${5:-} vol2=${6:-} t0 out rc target pw
    t0=${EPOCHREALTIME/[.,]/}
    check "$init: the guest starts (unprivileged, on its clone)" -- vsh start "$d"
    [ -n "$d2" ] && check "$init: a second guest starts on the second clone" -- vsh start "$d2"
    wait_until 120 booted "$d"
    echo "# $init: start to booted: $(ms_since "$t0") ms"
    ok $(booted "$d"; echo $?) "$init: runlevel 2, rc scripts done, a getty on the console"
    contains "$init: sshd runs" "sshd" "$(in_ctx "$d" /bin/ps -eo comm)"
    if [ "$init" = openrc ]; then
        equals "openrc: no crashed service" "" \
            "$(in_ctx "$d" /bin/sh -c 'PATH=/sbin:/bin:/usr/sbin:/usr/bin; rc-status --crashed' 2>&1 | grep -v '^ *$')"
        contains "openrc: OpenRC ran the default runlevel" "default" \
            "$(in_ctx "$d" /bin/sh -c 'PATH=/sbin:/bin:/usr/sbin:/usr/bin; rc-status --runlevel' 2>&1)"
    fi

    # --- the id range the driver picked, the clone's upper layer
    target=$(uid_target "$d")
    ok $([ -n "$target" ] && [ "$target" -ge 1000000 ] 2>/dev/null; echo $?) \
        "$init: the driver picked an id range for it ($target+)"
    equals "$init: ... and its root is that id on the host" "$target" \
        "$(stat -c %u "/proc/$(ctx_initpid "$d")" 2>&1)"
    in_ctx "$d" /bin/sh -c 'echo mine > /root/written-inside' >/dev/null
    equals "$init: a file it writes lands in its clone's upper layer under its ids" \
        "$target:$target" "$(stat -c %u:%g "$pool/$vol/upper/root/written-inside" 2>&1)"

    # --- one template, one libc for every guest
    if [ -n "$d2" ]; then
        wait_until 120 booted "$d2"
        ok $(booted "$d2"; echo $?) "$init: the second guest is booted too"
        local tpl_ino
        tpl_ino=$(stat -L -c %i "$pool/bw-$init/tree$libc" 2>&1)
        equals "$init: the first guest sees the template's libc.so.6 (one inode: one page cache)" \
            "$tpl_ino" "$(in_ctx "$d" /usr/bin/stat -L -c %i "$libc")"
        equals "$init: ... and so does the second" "$tpl_ino" \
            "$(in_ctx "$d2" /usr/bin/stat -L -c %i "$libc")"
        ok $([ "$(uid_target "$d2")" != "$target" ]; echo $?) \
            "$init: ... each under an id range of its own"
        check "$init: destroy the second guest" -- vsh destroy "$d2"
        ctx_nothing_left "$init: ... leaves nothing of it" "$d2" "$pool/$vol2"
    fi

    # --- a console login with a password set from the host
    pw="Sv-$RANDOM-pass"
    check "$init: set-user-password sets root's password" -- vsh set-user-password "$d" root "$pw"
    out=$(console "$d" 60 "" "login:" "root" "Password:" "$pw" "# " \
              'echo "in-$((6 * 7))"' "in-42" "exit" "login:")
    rc=$?
    ok $rc "$init: root logs in on the console with it, runs a command, logs out"
    [ $rc -ne 0 ] && printf '%s\n' "$out" | tail -n 8 | sed 's/^/# /'

    # --- sshd over the bridge, with a key put in by vserver-enter
    in_ctx "$d" /bin/sh -c "umask 077 && mkdir -p /root/.ssh && echo '$(cat "$ssh_key.pub")' > /root/.ssh/authorized_keys" >/dev/null
    equals "$init: the guest has its address on eth0" "$addr/24" \
        "$(in_ctx "$d" /sbin/ip -o -4 addr show dev eth0 | awk '{print $4}')"
    rm -f "$inst_dir/ssh.out"
    t0=${EPOCHREALTIME/[.,]/}
    wait_until 60 ssh_answers "$addr"
    rc=$?
    ok $rc "$init: ssh to root@$addr with the test key runs a command in the guest"
    echo "# $init: ssh answered after $(ms_since "$t0") ms"
    [ $rc -ne 0 ] && sed 's/^/# /' "$inst_dir/ssh.out"
    out=$(cat "$inst_dir/ssh.out" 2>&1)
    contains "$init: ... whose os-release says Debian 12 bookworm" "VERSION_CODENAME=bookworm" "$out"
    contains "$init: ... and whose host name is the guest's (as vserver-enter sees it)" \
        "hostname=$(in_ctx "$d" /bin/hostname)" "$out"

    # --- a clean halt by the guest's init
    t0=${EPOCHREALTIME/[.,]/}
    check "$init: virsh shutdown" -- vsh shutdown "$d"
    ctx_wait_state "$d" "shut off (shutdown)" 120
    echo "# $init: shutdown took $(ms_since "$t0") ms"
    equals "$init: the guest halted by itself" "shut off (shutdown)" "$(ctx_st "$d")"
    ok $(grep -q 'graceful stop timed out' "$inst_dir/var/log/libvirt/vserver/$d.log"; [ $? -ne 0 ]; echo $?) \
        "$init: ... with no SIGKILL from the shim"
    # a stop the shim asked for is "shutdown" however it ended; the wait
    # status tells: reboot(2) halting a pid namespace ends its init by SIGINT
    equals "$init: ... its init halted the context itself (init ended by SIGINT)" \
        "wait status 2" "$(stop_status "$d")"
    ctx_nothing_left "$init: after the shutdown nothing is left" "$d" "$pool/$vol"
    equals "$init: ... and no veth on the bridge" "" "$(ip -o link show master "$br")"

    # --- started again, then destroyed
    vsh start "$d" >/dev/null
    wait_until 120 booted "$d"
    ok $(booted "$d"; echo $?) "$init: it boots again"
    check "$init: destroy" -- vsh destroy "$d"
    ctx_nothing_left "$init: destroy leaves nothing" "$d" "$pool/$vol"
    equals "$init: ... and no veth on the bridge" "" "$(ip -o link show master "$br")"
}

one_guest sysvinit sv1 s1 10.79.1.2 sv2 s2
one_guest openrc or1 o1 10.79.1.3

for d in sv1 sv2 or1; do vsh undefine "$d" >/dev/null; done
for v in s1 s2 o1 bw-sysvinit bw-openrc; do vsh vol-delete --pool sp "$v" >/dev/null; done
vsh pool-destroy sp >/dev/null; vsh pool-undefine sp >/dev/null

tap_done
