#!/bin/bash
# LXC (Debian's lxc 5.0.2, privileged, as root) containers of a Debian 12
# systemd tree for bench/distro, under a private lxcpath.
#
#   bench/distro-lxc.sh dir LXCPATH NAME BASEROOT   a `dir` container: its
#                                                  own copy (cp -a) of BASEROOT
#   bench/distro-lxc.sh base LXCPATH NAME BASEROOT  a `dir` container on
#                                                  BASEROOT itself (no copy),
#                                                  the base of the clones
#   bench/distro-lxc.sh ovl LXCPATH NAME BASE       an overlay snapshot clone
#                                                  of container BASE
#                                                  (lxc-copy -s: overlayfs)
#   bench/distro-lxc.sh cgclean LXCPATH NAME       remove NAME's cgroups
#   bench/distro-lxc.sh cleanup LXCPATH             lxc-stop -k every
#                                                  container, unmount, remove
#                                                  their cgroups
#
# The config is what a Debian container gets: debian.common.conf (which
# includes common.conf), no network (lxc.net.0.type = empty, as the
# other peer has only lo), apparmor unconfined (the host runs no
# AppArmor), and lxc.signal.halt = SIGRTMIN+3: lxc-stop's default halt
# signal is SIGPWR, which Debian 12's systemd maps to sigpwr.target and
# no unit shuts down on, so lxc-stop would wait for its timeout and kill.
# LXC_INIT_CMD (environment), when set, becomes lxc.init.cmd.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 lxcpath=$2
cgroot=/sys/fs/cgroup

write_config() {   # write_config NAME ROOTFS-SPEC
    local name=$1 spec=$2
    mkdir -p "$lxcpath/$name"
    cat > "$lxcpath/$name/config" <<EOF
# written by bench/distro-lxc.sh
lxc.include = /usr/share/lxc/config/debian.common.conf
lxc.arch = linux64
lxc.uts.name = $name
lxc.rootfs.path = $spec
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.signal.halt = SIGRTMIN+3
lxc.log.file = $lxcpath/$name.log
lxc.log.level = WARN
EOF
    # LXC_INIT_CMD: another init (bench/distro-breakdown.py's bare contexts)
    if [ -n "${LXC_INIT_CMD:-}" ]; then
        echo "lxc.init.cmd = $LXC_INIT_CMD" >> "$lxcpath/$name/config"
    fi
}

case "$cmd" in
    dir)
        [ $# -eq 4 ] || usage
        name=$3 base=$4
        mkdir -p "$lxcpath/$name"
        cp -a "$base" "$lxcpath/$name/rootfs"
        write_config "$name" "dir:$lxcpath/$name/rootfs"
        ;;
    base)
        [ $# -eq 4 ] || usage
        write_config "$3" "dir:$4"
        ;;
    ovl)
        [ $# -eq 4 ] || usage
        name=$3 base=$4
        lxc-copy -P "$lxcpath" -n "$base" -N "$name" -s -B overlay >/dev/null
        # lxc-copy keeps the base's log file and uts name lines: point them
        # at the clone
        sed -i -e "s|^lxc.log.file = .*|lxc.log.file = $lxcpath/$name.log|" \
            -e "s|^lxc.uts.name = .*|lxc.uts.name = $name|" "$lxcpath/$name/config"
        if [ -n "${LXC_INIT_CMD:-}" ]; then
            echo "lxc.init.cmd = $LXC_INIT_CMD" >> "$lxcpath/$name/config"
        fi
        ;;
    cgclean)
        # the groups of container NAME (after lxc-destroy: systemd's own
        # below lxc.payload.NAME in the name=systemd hierarchy stay)
        [ $# -eq 3 ] || usage
        # (NAME-1, NAME-2, ...: lxc-start's names when a restart finds
        # systemd's groups of the last boot still in name=systemd)
        for c2 in "$cgroot"/*/lxc.payload."$3" "$cgroot"/*/lxc.monitor."$3" \
                  "$cgroot"/*/lxc.payload."$3"-[0-9]* "$cgroot"/*/lxc.monitor."$3"-[0-9]*; do
            [ -d "$c2" ] || continue
            for _ in $(seq 1 40); do
                find "$c2" -depth -type d -exec rmdir {} \; 2>/dev/null
                [ -d "$c2" ] || break
                sleep 0.05
            done
            [ -d "$c2" ] && echo "distro-lxc: cannot remove $c2" >&2
        done
        ;;
    cleanup)
        [ -d "$lxcpath" ] || exit 0
        for c in "$lxcpath"/*/config; do
            [ -f "$c" ] || continue
            name=$(basename "$(dirname "$c")")
            if lxc-info -P "$lxcpath" -n "$name" -s 2>/dev/null | grep -q -e RUNNING -e STARTING -e STOPPING; then
                lxc-stop -k -P "$lxcpath" -n "$name" >/dev/null 2>&1 || true
            fi
            # shellcheck disable=SC2013
            for p in $(cat "$cgroot"/*/lxc.payload."$name"/cgroup.procs \
                           "$cgroot"/*/lxc.payload."$name"/*/cgroup.procs \
                           "$cgroot"/*/lxc.monitor."$name"/cgroup.procs 2>/dev/null | sort -u); do
                kill -KILL "$p" 2>/dev/null || true
            done
            for c2 in "$cgroot"/*/lxc.payload."$name" "$cgroot"/*/lxc.monitor."$name" \
                      "$cgroot"/*/lxc.payload."$name"-[0-9]* "$cgroot"/*/lxc.monitor."$name"-[0-9]*; do
                [ -d "$c2" ] || continue
                for _ in $(seq 1 40); do
                    find "$c2" -depth -type d -exec rmdir {} \; 2>/dev/null
                    [ -d "$c2" ] || break
                    sleep 0.05
                done
                [ -d "$c2" ] && echo "distro-lxc: cannot remove $c2" >&2
            done
        done
        findmnt -rn -o TARGET | grep -F "$lxcpath/" | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        ;;
    *) usage ;;
esac
exit 0
