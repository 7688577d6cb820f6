#!/bin/bash
# A private libvirtd serving libvirt's own LXC driver, for the benchmark.
#
#   bench/peer-libvirt-lxc.sh start DIR   start; prints the lxc:/// URI
#   bench/peer-libvirt-lxc.sh stop DIR    destroy its domains, stop it, and
#                                         remove what it left (cgroups, ...)
#
# Domains must say <resource><partition>P</partition></resource> with P
# from DIR/partition: a cgroup partition of this instance's own, created
# by start and removed by stop, instead of libvirt's shared /machine.
#
# libvirt's LXC driver cannot start a container on this host's cgroup
# layout (v1 controllers plus an empty cgroup2 at /sys/fs/cgroup/unified),
# so libvirtd runs in its own mount namespace where that cgroup2 is
# unmounted.  In that namespace every libvirt path (/run/libvirt,
# /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt) is
# private, so it never meets another libvirtd or virtvserverd.  Only the
# client socket directory and the log directory are below DIR, visible
# from the host.  Debian 12 has no virtlxcd; libvirtd is given a driver
# directory holding only the LXC driver, so the QEMU driver (which wants
# the libvirt-qemu user) and the others are never loaded.
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

drvsrc=/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_lxc.so
sockdir=$dir/sock
pidfile=$dir/libvirtd.pid
uri="lxc:///system?socket=$sockdir/libvirt-sock"
cgroot=/sys/fs/cgroup

running_pid() {
    local pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    [ -f "$drvsrc" ] || { echo "peer-libvirt-lxc: $drvsrc missing (libvirt-daemon-driver-lxc)" >&2; exit 1; }
    mkdir -p "$sockdir" "$dir/drv" "$dir/log" "$dir/etc"
    ln -sf "$drvsrc" "$dir/drv/"
    # Host libvirt client/daemon configs, copied into the private /etc/libvirt.
    for f in libvirt.conf lxc.conf; do
        [ -f "/etc/libvirt/$f" ] && cp "/etc/libvirt/$f" "$dir/etc/"
    done
    # libvirt creates only /machine itself; another partition must exist in
    # every v1 hierarchy (the name has a '.', so libvirt uses it unescaped).
    part=vbench.$(basename "$(dirname "$dir")")-$$
    echo "/$part" > "$dir/partition"
    for h in "$cgroot"/*/; do
        [ "$h" = "$cgroot/unified/" ] && continue
        mkdir "$h$part"
        if [ -f "$h$part/cpuset.cpus" ]; then
            cat "${h}cpuset.cpus" > "$h$part/cpuset.cpus"
            cat "${h}cpuset.mems" > "$h$part/cpuset.mems"
        fi
    done
    cat > "$dir/libvirtd.conf" <<EOF
# private libvirtd for bench/start-destroy, written by peer-libvirt-lxc.sh
unix_sock_dir = "$sockdir"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$dir/log/libvirtd.log"
EOF
    cat > "$dir/inner.sh" <<EOF
set -e
if mountpoint -q $cgroot/unified; then umount $cgroot/unified; fi
for d in /run/libvirt /etc/libvirt /var/lib/libvirt /var/cache/libvirt; do
    mkdir -p "\$d"
    mount -t tmpfs -o mode=0755 tmpfs "\$d"
done
# /var/run is a symlink to /run on Debian 12; cover it only if it is not.
if [ ! -L /var/run ]; then
    mkdir -p /var/run/libvirt
    mount -t tmpfs -o mode=0755 tmpfs /var/run/libvirt
fi
# Per-domain logs (/var/log/libvirt/lxc/NAME.log) stay readable from the host.
mkdir -p /var/log/libvirt "$dir/log"
mount --bind "$dir/log" /var/log/libvirt
cp -a "$dir/etc/." /etc/libvirt/
export LIBVIRT_DRIVER_DIR="$dir/drv"
exec /usr/sbin/libvirtd -f "$dir/libvirtd.conf" -p "$pidfile"
EOF
    rm -f "$sockdir"/libvirt-*sock "$pidfile"
    # unshare execs sh which execs libvirtd: one pid, recorded in the pid file.
    setsid unshare -m --propagation private sh "$dir/inner.sh" \
        </dev/null >"$dir/log/stdout" 2>&1 &
    echo $! > "$dir/unshare.pid"
    for _ in $(seq 1 200); do
        if ! kill -0 "$(cat "$dir/unshare.pid")" 2>/dev/null; then
            break
        fi
        if [ -S "$sockdir/libvirt-sock" ] &&
           virsh -q -c "$uri" uri >/dev/null 2>&1; then
            readlink "/proc/$(cat "$dir/unshare.pid")/ns/mnt" > "$dir/mntns"
            echo "$uri"
            return 0
        fi
        sleep 0.05
    done
    echo "peer-libvirt-lxc: libvirtd did not come up; log:" >&2
    tail -n 20 "$dir/log/stdout" "$dir/log/libvirtd.log" >&2 2>/dev/null || true
    exit 1
}

# Processes living in the private mount namespace (libvirtd, libvirt_lxc).
ns_pids() {
    local ns p
    [ -f "$dir/mntns" ] || return 0
    ns=$(cat "$dir/mntns")
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
    done
    return 0
}

wait_gone() {   # wait_gone PID...: up to 5 s
    local p alive
    for _ in $(seq 1 100); do
        alive=""
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -z "$alive" ] && return 0
        sleep 0.05
    done
    return 1
}

stop() {
    local pid doms d p c part
    if pid=$(running_pid); then
        doms=$(virsh -q -c "$uri" list --name 2>/dev/null || true)
        for d in $doms; do
            virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true
        done
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    part=$(cat "$dir/partition" 2>/dev/null) || part=""
    # libvirt_lxc controllers left behind (bench killed mid-run) keep the
    # namespace alive; kill the containers (in the partition), then them.
    if [ -n "$part" ]; then
        find "$cgroot"/*"$part" -name cgroup.procs -exec cat {} + 2>/dev/null |
            while read -r p; do kill -KILL "$p" 2>/dev/null || true; done
    fi
    p=$(ns_pids)
    if [ -n "$p" ]; then
        # shellcheck disable=SC2086
        kill -KILL $p 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_gone $p || echo "peer-libvirt-lxc: processes still alive: $p" >&2
    fi
    if [ -n "$part" ]; then
        for c in "$cgroot"/*"$part"; do
            [ -d "$c" ] || continue
            for _ in $(seq 1 20); do
                find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
                [ -d "$c" ] || break
                sleep 0.1
            done
            [ -d "$c" ] && echo "peer-libvirt-lxc: cannot remove $c" >&2
        done
    fi
    return 0
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
