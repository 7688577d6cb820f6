#!/bin/bash
# Real distributions (root), the inits other than systemd: Debian 12 with
# sysvinit, and with OpenRC (which runs under sysvinit's init), each
# unprivileged (<idmap> 0 -> 200000, its own network namespace) on a
# directory root made by tests/distro/mkguest.sh (the inittab made for a
# context as tools/vserver-template makes it).  For each:
#  - it boots to runlevel 2 with its rc scripts done, sshd running and a
#    getty on the console (a login prompt on virsh console);
#  - OpenRC reports no crashed service;
#  - virsh shutdown is a clean halt by the guest (SIGPWR, its inittab's
#    powerfail action, chosen because init is sysvinit's): it stops by
#    itself, reason shutdown, with no SIGKILL (its init ended by the
#    SIGINT that reboot(2) sends a pid namespace's init);
#  - destroy leaves nothing.
# The same guests on guest volumes, with a driver-picked id range, a console
# login and sshd over a bridge: context-distro-sysv-volume.sh.
# Skipped when the Debian archive cannot be reached and nothing is cached.
set -u
. "$(dirname "$0")/lib.sh"

declare -A trees
for init in sysvinit openrc; do
    distro_tree "$init"
    trees[$init]=$tree
done

inst_setup

inside() { in_ctx "$@"; }   # inside DOMAIN COMMAND...
# booted: runlevel 2, no rc script still running, a getty on the console
booted() {
    [ "$(inside "$1" /sbin/runlevel)" = "N 2" ] &&
        ! inside "$1" /bin/ps -eo args | grep -q '^/bin/sh /etc/init.d/rc' &&
        inside "$1" /bin/ps -eo args | grep -q 'getty.*console'
}

for init in sysvinit openrc; do
    d=bw-$init
    tree=${trees[$init]}
    distro_xml "$d" "$tree" 256 > "$inst_dir/$d.xml"
    vsh define "$inst_dir/$d.xml" >/dev/null
    t0=${EPOCHREALTIME/[.,]/}
    check "$init: the bookworm guest starts (unprivileged)" -- vsh start "$d"
    wait_until 120 booted "$d"
    t1=${EPOCHREALTIME/[.,]/}
    echo "# $init: start to booted: $(( (t1 - t0) / 1000 )) ms"
    ok $(booted "$d"; echo $?) "$init: runlevel 2, rc scripts done, a getty on the console"
    contains "$init: sshd runs" "sshd" "$(inside "$d" /bin/ps -eo comm)"
    if [ "$init" = openrc ]; then
        equals "openrc: no crashed service" "" \
            "$(inside "$d" /bin/sh -c 'PATH=/sbin:/bin:/usr/sbin:/usr/bin; rc-status --crashed' 2>&1 | grep -v '^ *$')"
        contains "openrc: OpenRC ran the default runlevel" "default" \
            "$(inside "$d" /bin/sh -c 'PATH=/sbin:/bin:/usr/sbin:/usr/bin; rc-status --runlevel' 2>&1)"
    fi
    out=$(/usr/bin/python3 "$top/tests/distro/console-expect.py" "$uri" "$d" 30 "" "login:" 2>&1)
    rc=$?
    ok $rc "$init: the console shows a getty login prompt"
    [ $rc -ne 0 ] && printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'

    t0=${EPOCHREALTIME/[.,]/}
    check "$init: virsh shutdown" -- vsh shutdown "$d"
    ctx_wait_state "$d" "shut off (shutdown)" 120
    t1=${EPOCHREALTIME/[.,]/}
    equals "$init: the guest halted by itself" "shut off (shutdown)" "$(ctx_st "$d")"
    echo "# $init: shutdown took $(( (t1 - t0) / 1000 )) ms"
    ok $(grep -q 'graceful stop timed out' "$inst_dir/var/log/libvirt/vserver/$d.log"; [ $? -ne 0 ]; echo $?) \
        "$init: ... with no SIGKILL from the shim"
    # a stop the shim asked for is "shutdown" however it ended; the wait
    # status tells: reboot(2) halting a pid namespace ends its init by SIGINT
    equals "$init: ... its init halted the context itself (init ended by SIGINT)" "wait status 2" \
        "$(sed -n 's/.*context stopped: [a-z]*, \(wait status [0-9]*\)$/\1/p' \
               "$inst_dir/var/log/libvirt/vserver/$d.log" | tail -n 1)"
    ctx_nothing_left "$init: after the shutdown nothing is left" "$d" "$tree"

    vsh start "$d" >/dev/null
    wait_until 120 booted "$d"
    check "$init: destroy" -- vsh destroy "$d"
    ctx_nothing_left "$init: destroy leaves nothing" "$d" "$tree"
    vsh undefine "$d" >/dev/null
done

tap_done
