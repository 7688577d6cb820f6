# Sourced by the distribution tests that run in a network and mount
# namespace of their own (context-distro-trixie.sh,
# context-distro-sysv-volume.sh): their bridge, its address, the daemon
# and the shims live there and vanish with it; no packet reaches the real
# network.  Needs $top, $cache and $shift_by.

# distro_private_ns TAG SUITE tree|tar INIT...: outside, make (or take
# from the cache) SUITE's tree of each INIT with ids shifted by $shift_by
# (tests/distro/mkguest.sh), export VSERVER_<TAG>_<INIT> (the shifted
# tree, or the tarball it was made from) and run this test again under
# unshare; inside, make sure it is in a namespace of its own.  A TAP skip
# when the archive is unreachable and nothing is cached.  The tests take
# no arguments.
distro_private_ns() {
    local tag=$1 suite=$2 kind=$3 init t rc hostns=VSERVER_${1}_HOSTNS
    shift 3
    if [ -z "${!hostns:-}" ]; then
        for init in "$@"; do
            if ! t=$(bash "$top/tests/distro/mkguest.sh" "$cache" "$suite" "$init" "$shift_by"); then
                rc=$?
                if [ "$rc" = 3 ]; then
                    echo "1..0 # SKIP the Debian archive is unreachable and no $suite $init tree is cached"
                    exit 0
                fi
                echo "Bail out! cannot make the $suite $init tree (mkguest.sh exit $rc)"
                exit 1
            fi
            [ "$kind" = tar ] && t=${t%-$shift_by}.tar
            export "VSERVER_${tag}_$init=$t"
        done
        export "$hostns=$(readlink /proc/self/ns/net)"
        exec unshare --net --mount --propagation private -- "$BASH" "$0"
    fi
    if [ "$(readlink /proc/self/ns/net)" = "${!hostns}" ]; then
        echo "Bail out! not in a private network namespace"
        exit 1
    fi
}

# private_ns_host BRIDGE ADDRESS/PREFIX: after lib.sh (whose session.sh
# turns the runner's signals into the EXIT trap's cleanup), in the
# namespace: loopback up, the test's daemon, and the "host" side, a bridge
# with no uplink and the host's address on it
private_ns_host() {
    ip link set lo up
    inst_setup
    br=$1
    ip link add "$br" type bridge
    ip link set "$br" up
    ip addr add "$2" dev "$br"
}

ms_since() { echo $(( (${EPOCHREALTIME/[.,]/} - $1) / 1000 )); }
