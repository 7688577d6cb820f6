#!/bin/bash
# libvirt's job model across a client-driven migration (root, CRIU): two
# daemons on this host, a context on a directory root both see; the
# client (tests/migrate-steps.c) stops between Perform and Confirm, when
# the context is in its images and about to run on the destination.
#  - meanwhile, on the source: virsh start, undefine and setmem are
#    refused at once with an error naming the migration (a start would
#    run the context twice), while list and domstate answer;
#  - Confirm ends the job: the context runs on the destination;
#  - a client that goes away between Perform and Confirm cancels the
#    migration: the context runs again on the source from its images,
#    and the destination drops what it prepared.
#  - a context with <idmap> migrates there and back (no gap, the same id
#    map); with a veth on a bridge too (the guest keeps its address and
#    answers ping, the host end is on the bridge); with a macvlan too
#    (eth0 keeps its ifindex, MAC, mode and address and answers ping).
# Skipped when the build has no CRIU.
#
# The whole test runs in a private network and mount namespace (it
# re-executes itself under unshare): both daemons, the bridge, the
# macvlan's parent and the veths live and die there, and no packet
# reaches the real network.
set -u

if [ "${VSERVER_NETTEST_HOSTNS:-}" = "" ]; then
    VSERVER_NETTEST_HOSTNS=$(readlink /proc/self/ns/net)
    export VSERVER_NETTEST_HOSTNS
    exec unshare --net --mount --propagation private -- "$BASH" "$0" "$@"
fi
if [ "$(readlink /proc/self/ns/net)" = "$VSERVER_NETTEST_HOSTNS" ]; then
    echo "Bail out! not in a private network namespace"
    exit 1
fi
. "$(dirname "$0")/lib.sh"

steps=${MIGRATE_STEPS:-$BUILDDIR/tests/migrate-steps}
if [ ! -x "$BUILDDIR/criu/sbin/criu" ]; then
    echo "1..0 # SKIP CRIU was not built (meson option criu)"
    exit 0
fi
if [ ! -x "$steps" ]; then
    echo "1..0 # SKIP no $steps (built by meson)"
    exit 0
fi

ip link set lo up
inst_setup
dirA=$inst_dir
uriA=$uri
dirB=$(mktemp -d /tmp/vserver-test.XXXXXX)
holder=
jobs_cleanup() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
    exec 7>&- 2>/dev/null
    inst_dir=$dirB uri=$uriB inst_contexts_cleanup
    "$instance" stop "$dirB" >/dev/null 2>&1 || "$instance" kill "$dirB" >/dev/null 2>&1
    rm -rf "$dirB"
    inst_dir=$dirA uri=$uriA
    inst_cleanup
}
trap jobs_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
# each daemon's contexts in a cgroup partition of its own (as
# vserver-instance makes it); an incoming migration listens on loopback
for d in "$dirA" "$dirB"; do
    mkdir -p "$d/etc/libvirt"
    printf 'cgroup_partition = "/vserver-instance-%s"\nmigration_address = "127.0.0.1"\n' \
        "$(basename "$d")" > "$d/etc/libvirt/vserver.conf"
    "$instance" start "$d" >/dev/null
done
uriB=$("$instance" uri "$dirB")
vA() { virsh -q -c "$uriA" "$@"; }
vB() { virsh -q -c "$uriB" "$@"; }

work=$dirA/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"
chmod 0755 "$dirA"
counter='i=0; while :; do i=$((i+1)); echo $i >> /count; sleep 0.2; done'
ctx_xml jc "$rootfs" "$counter" > "$work/jc.xml"
vA define "$work/jc.xml" >/dev/null
check "start the counting context on A" -- vA start jc
wait_until 10 test -s "$rootfs/count"

state_is() { [ "$(virsh -q -c "$1" domstate --reason jc 2>&1)" = "$2" ]; }
last_count() { tail -n 1 "$rootfs/count"; }
above_count() { [ "$(last_count)" -gt "$1" ]; }
counts_on() { local a; a=$(last_count); wait_until 10 above_count "$(( a + 2 ))"; }

# steps N SRC DST: the client migrates jc from SRC to DST and stops after
# Perform, holding on until fd 7 is written or closed
steps() {
    rm -f "$work/hold$1"
    mkfifo "$work/hold$1"
    "$steps" "$2" "$3" jc < "$work/hold$1" > "$work/steps$1.out" 2>&1 &
    holder=$!
    exec 7> "$work/hold$1"
    wait_until 60 grep -q -e '^performed' -e '^error=' "$work/steps$1.out"
}

# --- 1. A -> B, paused between Perform and Confirm
steps 1 "$uriA" "$uriB"
if grep -q '^performed' "$work/steps1.out"; then
    ok 0 "Begin, Prepare and Perform A -> B"
    equals "after Perform the context is in its images on A" "shut off (migrated)" \
        "$(vA domstate --reason jc 2>&1)"
    out=$(vA start jc 2>&1)
    rc=$?
    ok $(( rc == 0 )) "meanwhile, virsh start on A is refused (the context would run twice)"
    contains "... at once, with an error naming the migration" "busy: an outgoing migration in progress" "$out"
    out=$(vA undefine jc 2>&1)
    ok $(( $? == 0 )) "meanwhile, virsh undefine on A is refused"
    contains "... naming the migration" "an outgoing migration" "$out"
    out=$(vA setmem jc 64M --config 2>&1)
    ok $(( $? == 0 )) "meanwhile, virsh setmem on A is refused"
    check "meanwhile, virsh list on A answers" -- vA list --all
    equals "... and no second init runs on A" "shut off (migrated)" "$(vA domstate --reason jc 2>&1)"

    echo confirm >&7
    check "Finish and Confirm end the migration" -- wait_until 60 grep -q '^confirmed' "$work/steps1.out"
    wait "$holder" 2>/dev/null
    holder=
    exec 7>&-
    check "the context runs on B" -- wait_until 20 state_is "$uriB" "running (migrated)"
    check "... and counts on" -- counts_on
    check "A takes changes again once the job has ended" -- vA setmem jc 128M --config
else
    ok 1 "Begin, Prepare and Perform A -> B"; sed 's/^/# /' "$work/steps1.out"
fi

# --- 2. B -> A, and the client goes away after Perform
steps 2 "$uriB" "$uriA"
if grep -q '^performed' "$work/steps2.out"; then
    ok 0 "Begin, Prepare and Perform B -> A"
    exec 7>&-
    wait "$holder" 2>/dev/null
    holder=
    check "the client gone before Confirm, the context runs on B again, from its images" -- \
        wait_until 60 state_is "$uriB" "running (migration canceled)"
    check "... and counts on" -- counts_on
    check "... B says why" -- grep -q "outgoing migration of 'jc' abandoned" \
        "$dirB/var/log/libvirt/virtvserverd.log"
    check "A dropped the migration it prepared" -- \
        wait_until 20 sh -c "! ls -d '$dirA'/run/libvirt/vserver/incoming.* >/dev/null 2>&1"
    check "B takes changes again" -- vB setmem jc 120M
else
    ok 1 "Begin, Prepare and Perform B -> A"; sed 's/^/# /' "$work/steps2.out"
fi

vB destroy jc >/dev/null 2>&1
vA undefine jc >/dev/null 2>&1
vB undefine jc >/dev/null 2>&1

# --- 3. a context with <idmap> (a user namespace) migrates, there and back
idroot=$work/rootfs-id
cp -a "$rootfs" "$idroot"
rm -f "$idroot/count"
chown -R 100000:100000 "$idroot"
idmap="<idmap><uid start='0' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>"
ctx_xml mi "$idroot" "$counter" "<features><privnet/></features>$idmap" > "$work/mi.xml"
id_count() { tail -n 1 "$idroot/count"; }
id_above() { [ "$(id_count)" -gt "$1" ]; }
id_counts_on() { local a; a=$(id_count); wait_until 10 id_above "$(( a + 2 ))"; }
mi_state() { [ "$(virsh -q -c "$1" domstate --reason mi 2>&1)" = "$2" ]; }
uidmap_of() { tr -s ' ' < "/proc/$(virsh -q -c "$1" domid mi)/uid_map"; }
if vA create "$work/mi.xml" >/dev/null && wait_until 10 test -s "$idroot/count"; then
    want_map=$(uidmap_of "$uriA")
    check "virsh migrate --live of an <idmap> context A -> B" -- vA migrate --live mi "$uriB"
    check "... it runs on B" -- wait_until 20 mi_state "$uriB" "running (migrated)"
    check "... and counts on" -- wait_until 10 id_counts_on
    equals "... with the same id map" "$want_map" "$(uidmap_of "$uriB")"
    check "and back B -> A" -- vB migrate --live mi "$uriA"
    check "... it runs on A" -- wait_until 20 mi_state "$uriA" "running (migrated)"
    check "... and counts on" -- wait_until 10 id_counts_on
    check "... with no gap and no repeat" -- seq_ok "$idroot/count"
else
    ok 1 "an <idmap> context starts on A"
fi
vA destroy mi >/dev/null 2>&1
vB destroy mi >/dev/null 2>&1

# ... with a veth on a bridge: the destination pre-creates the pair for
# CRIU (the same bridge serves both daemons here)
ip link add vsjbr0 type bridge && ip link set vsjbr0 up &&
    ip addr add 10.81.0.1/24 dev vsjbr0
ok $? "a bridge vsjbr0 (10.81.0.1/24) in the test's namespace"
rm -f "$idroot/count"
ctx_xml mv "$idroot" "$counter" "<features><privnet/></features>$idmap" \
    "<interface type='bridge'><source bridge='vsjbr0'/><ip address='10.81.0.2' prefix='24'/></interface>" > "$work/mv.xml"
mv_state() { [ "$(virsh -q -c "$1" domstate --reason mv 2>&1)" = "$2" ]; }
mv_pings() { ping -c 1 -W 1 10.81.0.2 >/dev/null 2>&1; }
# mv_host_end URI: the host end that URI's definition names, if on vsjbr0
mv_host_end() {
    local dev
    dev=$(virsh -q -c "$1" domiflist mv 2>/dev/null | awk '{print $1}')
    [ -n "$dev" ] && ip -o link show master vsjbr0 | grep -q ": $dev@.*state UP" && echo "$dev"
}
mv_addr() { nsenter -t "$(virsh -q -c "$1" domid mv)" -n ip -o -4 addr show dev eth0 | awk '{print $4}'; }
if vA create "$work/mv.xml" >/dev/null && wait_until 10 test -s "$idroot/count"; then
    check "an <idmap> context with a veth on the bridge answers ping on A" -- wait_until 10 mv_pings
    check "virsh migrate --live of it A -> B" -- vA migrate --live mv "$uriB"
    check "... it runs on B" -- wait_until 20 mv_state "$uriB" "running (migrated)"
    check "... and counts on" -- wait_until 10 id_counts_on
    equals "... eth0 keeps its address" "10.81.0.2/24" "$(mv_addr "$uriB")"
    check "... its host end is on the bridge and up" -- wait_until 10 mv_host_end "$uriB"
    check "... it answers ping from the bridge" -- wait_until 10 mv_pings
    check "and back B -> A" -- vB migrate --live mv "$uriA"
    check "... it runs on A" -- wait_until 20 mv_state "$uriA" "running (migrated)"
    check "... its host end is on the bridge and up" -- wait_until 10 mv_host_end "$uriA"
    check "... it answers ping from the bridge" -- wait_until 10 mv_pings
    check "... and counts on" -- wait_until 10 id_counts_on
    check "... with no gap and no repeat" -- seq_ok "$idroot/count"
    check "destroy it" -- vA destroy mv
    check "... no device left on the bridge" -- \
        wait_until 10 sh -c '[ -z "$(ip -o link show master vsjbr0)" ]'
    equals "... no temporary device left" "" \
        "$(ip -o link show | awk -F': ' '{print $2}' | grep '^vsr')"
else
    ok 1 "an <idmap> context with a veth on the bridge starts on A"
fi
vA destroy mv >/dev/null 2>&1
vB destroy mv >/dev/null 2>&1

# ... and with a macvlan (type='direct'): CRIU makes it again on the
# destination (build-aux/criu-patches/0003); both daemons' contexts use
# the same parent here.  The parent is a veth end (the kernel may lack
# the dummy driver); its peer, with the gateway's address, pings the guest.
ip link add vsjmv0 type veth peer name vsjmv0p && ip link set vsjmv0 up &&
    ip link set vsjmv0p up && ip addr add 10.82.0.1/24 dev vsjmv0p
ok $? "a macvlan parent vsjmv0 (its peer vsjmv0p: 10.82.0.1/24)"
rm -f "$idroot/count"
ctx_xml mn "$idroot" "$counter" "$idmap" \
    "<interface type='direct'><source dev='vsjmv0' mode='bridge'/><mac address='52:54:00:82:00:02'/><ip address='10.82.0.2' prefix='24'/></interface>" > "$work/mn.xml"
mn_state() { [ "$(virsh -q -c "$1" domstate --reason mn 2>&1)" = "$2" ]; }
mn_pings() { ping -c 1 -W 1 10.82.0.2 >/dev/null 2>&1; }
# URI's eth0: ifindex, MAC, macvlan mode; its address
mn_link() { nsenter -t "$(virsh -q -c "$1" domid mn)" -n ip -o -d link show dev eth0 2>&1 | grep -o -e '^[0-9]*:' -e 'link/ether [0-9a-f:]*' -e 'macvlan mode [a-z]*' | tr '\n' ' '; }
mn_addr() { nsenter -t "$(virsh -q -c "$1" domid mn)" -n ip -o -4 addr show dev eth0 | awk '{print $4}'; }
# the MAC is free on vsjmv0 again (the kernel tears a namespace down
# asynchronously)
mn_mac_free() {
    ip link add link vsjmv0 name vsjmvchk address 52:54:00:82:00:02 type macvlan mode bridge &&
        ip link set vsjmvchk up
    local rc=$?
    ip link del vsjmvchk 2>/dev/null
    return $rc
}
if vA create "$work/mn.xml" >/dev/null && wait_until 10 test -s "$idroot/count"; then
    check "an <idmap> context with a macvlan answers ping on A" -- wait_until 10 mn_pings
    link_before=$(mn_link "$uriA")
    contains "... eth0 is a bridge-mode macvlan with the MAC of the definition ($link_before)" \
        "link/ether 52:54:00:82:00:02 macvlan mode bridge" "$link_before"
    # what stock CRIU 4.1.1 failed on: its request for eth0 went to the
    # host's device of that index
    idx=${link_before%%:*}
    check "... a device of the test's namespace has eth0's ifindex ($idx) too" -- \
        sh -c "ip -o link | grep -q '^$idx: '"
    check "virsh migrate --live of it A -> B" -- vA migrate --live mn "$uriB"
    check "... it runs on B" -- wait_until 20 mn_state "$uriB" "running (migrated)"
    check "... and counts on" -- wait_until 10 id_counts_on
    check "... it answers ping from the parent's peer" -- wait_until 10 mn_pings
    equals "... eth0 keeps its ifindex, MAC and mode" "$link_before" "$(mn_link "$uriB")"
    equals "... and its address" "10.82.0.2/24" "$(mn_addr "$uriB")"
    check "and back B -> A" -- vB migrate --live mn "$uriA"
    check "... it runs on A" -- wait_until 20 mn_state "$uriA" "running (migrated)"
    check "... it answers ping from the parent's peer" -- wait_until 10 mn_pings
    equals "... eth0 keeps its ifindex, MAC and mode" "$link_before" "$(mn_link "$uriA")"
    check "... and counts on" -- wait_until 10 id_counts_on
    check "... with no gap and no repeat" -- seq_ok "$idroot/count"
    check "destroy it" -- vA destroy mn
    check "... its macvlan is gone: the MAC is free on vsjmv0 again" -- wait_until 10 mn_mac_free
else
    ok 1 "an <idmap> context with a macvlan starts on A"
fi
vA destroy mn >/dev/null 2>&1
vB destroy mn >/dev/null 2>&1
tap_done
