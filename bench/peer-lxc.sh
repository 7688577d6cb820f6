#!/bin/bash
# LXC (lxc-start) containers for the benchmark, under a private lxcpath.
#
#   bench/peer-lxc.sh prepare DIR ROOTFS N   write configs vbench-lxc-0..N-1
#   bench/peer-lxc.sh cleanup DIR            lxc-stop -k every container of
#                                            DIR, remove their cgroups
#
# The init command is not in the config: the benchmark passes it on the
# lxc-start command line (lxc-start -d -P DIR -n NAME -- /bin/sh -c ...),
# which is run as PID 1 directly (no lxc-init).  With lxc.init.cmd =
# /bin/sh -c "SCRIPT" the init exits with status 2: liblxc's splitting of
# that value does not hand the script to sh as one argument.
#
# On this host lxc-start works without a private mount namespace: liblxc's
# cgfsng driver handles the v1 controllers plus the empty cgroup2 at
# /sys/fs/cgroup/unified (it creates lxc.monitor.NAME, lxc.payload.NAME
# and lxc.pivot in every hierarchy).
set -euo pipefail

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
cgroot=/sys/fs/cgroup

prepare() {
    local rootfs=$1 n=$2 i name
    mkdir -p "$dir"
    : > "$dir/cgroups-before"
    for c in "$cgroot"/*/lxc.pivot; do
        [ -d "$c" ] && echo "$c" >> "$dir/cgroups-before"
    done
    for i in $(seq 0 $((n - 1))); do
        name=vbench-lxc-$i
        mkdir -p "$dir/$name"
        cat > "$dir/$name/config" <<EOF
# written by bench/peer-lxc.sh
lxc.uts.name = $name
lxc.rootfs.path = dir:$rootfs
lxc.net.0.type = empty
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
lxc.tty.max = 0
lxc.pty.max = 1
lxc.apparmor.profile = unconfined
lxc.cgroup.memory.limit_in_bytes = 64M
lxc.log.file = $dir/$name.log
lxc.log.level = WARN
EOF
    done
}

cleanup() {
    local name c p
    [ -d "$dir" ] || return 0
    for c in "$dir"/vbench-lxc-*/config; do
        [ -f "$c" ] || continue
        name=$(basename "$(dirname "$c")")
        if lxc-info -P "$dir" -n "$name" -s 2>/dev/null | grep -q RUNNING; then
            lxc-stop -k -P "$dir" -n "$name" >/dev/null 2>&1 || true
        fi
        # A monitor killed mid-start may leave payload cgroups with tasks.
        # shellcheck disable=SC2013
        for p in $(cat "$cgroot"/*/lxc.payload."$name"/cgroup.procs 2>/dev/null | sort -u); do
            kill -KILL "$p" 2>/dev/null || true
        done
        for c2 in "$cgroot"/*/lxc.payload."$name" "$cgroot"/*/lxc.monitor."$name"; do
            [ -d "$c2" ] || continue
            for _ in $(seq 1 40); do rmdir "$c2" 2>/dev/null && break; sleep 0.05; done
            [ -d "$c2" ] && echo "peer-lxc: cannot remove $c2" >&2
        done
    done
    for c in "$cgroot"/*/lxc.pivot; do
        [ -d "$c" ] || continue
        grep -qxF "$c" "$dir/cgroups-before" 2>/dev/null && continue
        rmdir "$c" 2>/dev/null || true
    done
    return 0
}

case "$cmd" in
    prepare) [ $# -eq 4 ] || usage; prepare "$3" "$4" ;;
    cleanup) cleanup ;;
    *) usage ;;
esac
