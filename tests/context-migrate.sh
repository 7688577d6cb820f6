#!/bin/bash
# Live migration of a context between two daemons (root), each a "host"
# of its own: its own network namespace (a bridge br0 with an uplink to a
# shared LAN namespace) and its own mount namespace.  A third namespace on
# the LAN is a TCP client of a server inside the context.
#  - virsh migrate --live --p2p A -> B (the source daemon drives it over
#    vserver+tcp://): the counter inside goes on with no gap, the TCP
#    connection from the third namespace carries on in both directions,
#    nothing is left on A, the downtime is reported (domjobinfo).
#  - an <idmap> context on a guest volume migrates with its private
#    layer, the same id map on B, its counter going on.
#  - virsh migrate --live B -> A (client driven, unix sockets).
#  - failures leave the context running on the source and nothing on the
#    destination: the destination refuses (name taken), CRIU is killed
#    while it dumps, the destination's restore fails after the dump.
# Skipped when the build has no CRIU.
set -u
. "$(dirname "$0")/lib.sh"

if [ ! -x "$BUILDDIR/criu/sbin/criu" ]; then
    echo "1..0 # SKIP CRIU was not built (meson option criu)"
    exit 0
fi

tag=$$
lan=vsmlan$tag nsa=vsma$tag nsb=vsmb$tag nsc=vsmc$tag
dirA=$(mktemp -d /tmp/vserver-test.XXXXXX)
dirB=$(mktemp -d /tmp/vserver-test.XXXXXX)
work=$(mktemp -d /tmp/vserver-test.XXXXXX)
bgpids=

# per-instance helpers: lib.sh's work on $inst_dir/$uri, switched here
use() {   # use A|B
    if [ "$1" = A ]; then inst_dir=$dirA; else inst_dir=$dirB; fi
    uri=$("$instance" uri "$inst_dir")
}
uriA=$("$instance" uri "$dirA")
uriB=$("$instance" uri "$dirB")
vA() { virsh -q -c "$uriA" "$@"; }
vB() { virsh -q -c "$uriB" "$@"; }

mig_cleanup() {
    local d p
    kill $bgpids 2>/dev/null
    pkill -f "vsm-killer-$tag" 2>/dev/null
    for d in A B; do
        use "$d"
        inst_contexts_cleanup
        "$instance" stop "$inst_dir" >/dev/null 2>&1 || "$instance" kill "$inst_dir" >/dev/null 2>&1
    done
    for p in $(ip netns pids "$nsc" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    for d in "$nsa" "$nsb" "$nsc" "$lan"; do ip netns del "$d" 2>/dev/null; done
    rm -rf "$dirA" "$dirB" "$work"
}
trap mig_cleanup EXIT

# --- the network: LAN bridge, two hosts with br0, a client
ip netns add "$lan" && ip netns add "$nsa" && ip netns add "$nsb" && ip netns add "$nsc"
ip -n "$lan" link add lan0 type bridge
ip -n "$lan" link set lan0 up
for x in a b c; do
    ns=$(eval echo \$ns$x)
    ip -n "$lan" link add "l$x" type veth peer name up0 netns "$ns"
    ip -n "$lan" link set "l$x" master lan0 up
    ip -n "$ns" link set lo up
done
for x in a b; do
    ns=$(eval echo \$ns$x)
    ip -n "$ns" link add br0 type bridge
    ip -n "$ns" link set up0 master br0
    ip -n "$ns" link set up0 up
    ip -n "$ns" link set br0 up
done
ip -n "$nsa" addr add 10.80.0.1/24 dev br0
ip -n "$nsb" addr add 10.80.0.2/24 dev br0
ip -n "$nsc" addr add 10.80.0.3/24 dev up0
ip -n "$nsc" link set up0 up
ip netns exec "$nsa" ping -c 1 -W 2 10.80.0.2 >/dev/null 2>&1 &&
    ip netns exec "$nsc" ping -c 1 -W 2 10.80.0.1 >/dev/null 2>&1
ok $? "three namespaces on a LAN: host A 10.80.0.1, host B 10.80.0.2, client 10.80.0.3"

# each daemon in its host's network namespace and a mount namespace of
# its own, listening on TCP there
start_host() {   # start_host A|B NETNS ADDR [env...]
    local d=$1 ns=$2 addr=$3; shift 3
    use "$d"
    env "$@" VSERVER_LISTEN_TCP="$addr" nsenter --net="/run/netns/$ns" \
        unshare --mount --propagation slave "$instance" start "$inst_dir" >/dev/null
}
start_host A "$nsa" 10.80.0.1 && start_host B "$nsb" 10.80.0.2
ok $? "a daemon on each host"
in_ns() { [ "$(readlink "/proc/$1/ns/$2")" = "$(readlink "/proc/self/ns/$2" 2>/dev/null)" ]; }
pa=$(cat "$dirA/run/virtvserverd.pid"); pb=$(cat "$dirB/run/virtvserverd.pid")
check "... in network and mount namespaces of their own" -- \
    test "$(readlink /proc/$pa/ns/net)" != "$(readlink /proc/$pb/ns/net)" -a \
         "$(readlink /proc/$pa/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" -a \
         "$(readlink /proc/$pb/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" -a \
         "$(readlink /proc/$pa/ns/mnt)" != "$(readlink /proc/$pb/ns/mnt)"
contains "B answers on vserver+tcp://10.80.0.2/system from host A" "vserver" \
    "$(ip netns exec "$nsa" virsh -c vserver+tcp://10.80.0.2/system uri 2>&1)"

# --- the context: a counter, and a TCP server streaming to its client
rootfs=$work/rootfs
mkrootfs "$rootfs"
counter='i=0; while :; do i=$((i+1)); echo $i >> /count; sleep 0.2; done'
server='(k=0; while :; do k=$((k+1)); echo $k; sleep 0.2; done) | nc -l -p 7000 > /recv & '
ctx_xml cnt "$rootfs" "$server$counter" "" "
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='52:54:00:80:00:10'/>
      <ip address='10.80.0.10' prefix='24'/>
    </interface>" > "$work/cnt.xml"
check "start the context on A" -- vA create "$work/cnt.xml"
wait_until 10 test -s "$rootfs/count"
# the client, in the third namespace
ip netns exec "$nsc" sh -c \
    '(j=0; while :; do j=$((j+1)); echo $j; sleep 0.2; done) | exec busybox nc 10.80.0.10 7000' \
    > "$work/crecv" 2>/dev/null &
client=$!
bgpids="$bgpids $client"
wait_until 10 test -s "$rootfs/recv" && wait_until 10 test -s "$work/crecv"
ok $? "the client in the third namespace talks to the context (both ways)"

advances() { lines_grow "$1" 3 8; }   # FILE grows (3 lines) within 8 s
shim_of() { pgrep -f "libvirt_vserver_shim --config $1/run/libvirt/vserver/cnt\\.shim "; }
netns_of() { ip netns identify "$1" 2>/dev/null; }
# still_runs_on A|B: the context runs there, and counts
still_runs_on() {
    local v=v$1
    $v domstate cnt 2>/dev/null | grep -q running && advances "$rootfs/count"
}

# --- p2p A -> B
out=$(vA migrate --live --p2p --verbose cnt vserver+tcp://10.80.0.2/system \
      --migrateuri tcp://10.80.0.2 2>&1)
ok $? "virsh migrate --live --p2p cnt A -> B"
[ -n "$out" ] && echo "$out" | sed 's/^/# /' | tail -5
equals "on B it runs, reason migrated" "running (migrated)" "$(vB domstate --reason cnt 2>&1)"
equals "on A it is gone" "" "$(vA list --all --name | grep -x cnt)"
equals "... no shim left on A" "" "$(shim_of "$dirA")"
use A
equals "... no cgroup left on A" "" "$(ctx_cgroups cnt)"
equals "... no host end left on A's bridge" "" "$(ip -n "$nsa" -o link show master br0 | grep -v up0)"
check "the shim on B lives in B's network namespace" -- \
    test "$(netns_of "$(shim_of "$dirB")")" = "$nsb"
check "... and the context's host end is on B's bridge" -- \
    sh -c "ip -n '$nsb' -o link show master br0 | grep -qv up0"
use B
missing=
np=$(vB domid cnt)
for d in $(ctx_cgroups cnt); do grep -qx "$np" "$d/cgroup.procs" || missing="$missing $d"; done
equals "... init in each of B's cgroups for it" "" "$missing"
equals "... with its memory limit (read back)" 134217728 "$(ctx_cg_value cnt memory.limit_in_bytes)"
check "the counter goes on on B" -- advances "$rootfs/count"
check "... every number once, no restart" -- seq_ok "$rootfs/count"
check "the TCP connection from the third namespace carries on: the server receives" -- advances "$rootfs/recv"
check "... and the client receives" -- advances "$work/crecv"
check "... both streams intact, in order, never reconnected" -- \
    sh -c "awk 'NR != \$1 { exit 1 }' '$rootfs/recv' && awk 'NR != \$1 { exit 1 }' '$work/crecv'"
check "... the client never gave up" -- pid_alive "$client"
job=$(vB domjobinfo --completed cnt 2>&1)
down=$(echo "$job" | awk -F: '/^Total downtime/ {print $2+0}')
ok $(( ! (${down:-0} > 0) )) "domjobinfo --completed on B reports the downtime (${down:-?} ms)"
echo "$job" | sed 's/^/# /'

# stranger_start HOST PORT: from host C, connect to HOST:PORT again and
# again with a header of another migration; stranger_stop: end it
stranger_stop=$work/stranger.stop
stranger_start() {
    rm -f "$stranger_stop"
    ip netns exec "$nsc" /usr/bin/python3 -c '
import os, socket, sys, time
stop, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
while not os.path.exists(stop):
    try:
        s = socket.create_connection((host, port), timeout=1)
        s.sendall(b"PART images 0123456789abcdef0123456789abcdef\n" + bytes(65536))
        s.close()
    except OSError:
        time.sleep(0.002)
' "$stranger_stop" "$1" "$2" 2>/dev/null &
    stranger=$!
    bgpids="$bgpids $stranger"
}
stranger_stop() { touch "$stranger_stop"; wait "$stranger" 2>/dev/null; }

# --- client-driven B -> A over the unix sockets
out=$(vB migrate --live cnt "$uriA" --migrateuri tcp://10.80.0.1 2>&1)
ok $? "virsh migrate --live cnt B -> A (client-driven)"
[ -n "$out" ] && echo "$out" | sed 's/^/# /' | tail -5
equals "on A it runs again (migrated)" "running (migrated)" "$(vA domstate --reason cnt 2>&1)"
equals "on B it is gone" "" "$(vB list --all --name | grep -x cnt)"
counter_grows "$rootfs/count" 3
check "the counter goes on, no gap" -- sh -c "awk 'NR != \$1 { exit 1 }' '$rootfs/count'"
check "the TCP connection survived the round trip" -- advances "$work/crecv"
check "... intact" -- seq_ok "$work/crecv"

# --- a context on a hashify guest volume: only what the destination lacks
# travels (the template goes only when no template of the same content is
# there, whatever its name)
tar -czf "$work/root.tar.gz" -C "$rootfs" --exclude=./count --exclude=./recv .
pool_on() {   # pool_on A|B: a hashify pool "mp" of that host
    local v=v$1
    printf "<pool type='hashify'><name>mp</name><target><path>%s</path></target></pool>" \
        "$work/pool$1" > "$work/pool$1.xml"
    $v pool-define "$work/pool$1.xml" >/dev/null && $v pool-build mp >/dev/null &&
        $v pool-start mp >/dev/null
}
template_on() {   # template_on A|B NAME: NAME imported from the tarball
    local v=v$1
    $v vol-create mp <(echo "<volume><name>$2</name></volume>") >/dev/null &&
        $v vol-upload --pool mp "$2" "$work/root.tar.gz" >/dev/null
}
vols() { virsh -q -c "$1" vol-list mp 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ' | sed 's/ $//'; }
pool_on A && pool_on B && template_on A T && vA vol-clone --pool mp T G >/dev/null
ok $? "pools on A and B; on A a template T and its guest volume G; B has no template"
ctx_xml vcnt "$rootfs" "$counter" "" "
    <interface type='bridge'><source bridge='br0'/><ip address='10.80.0.11' prefix='24'/></interface>" |
    sed "s|<filesystem type='mount'><source dir='$rootfs'/>|<filesystem type='volume'><source pool='mp' volume='G'/>|" \
    > "$work/vcnt.xml"
check "start a context on G on A" -- vA create "$work/vcnt.xml"
inside() {   # inside URI COMMAND: as lib.sh's ctx_enter, on either host
    VSERVER_SHIM_PATH=$BUILDDIR/src/libvirt_vserver_shim \
        "$top/tools/vserver-enter" -T -c "$1" vcnt -- /bin/sh -c "$2" 2>/dev/null
}
# counts_on URI: the counter inside goes up within 8 s, 1, 2, 3... no gap
counts_on() {
    local a b
    a=$(inside "$1" 'tail -n 1 /count')
    [ -n "$a" ] && wait_until 8 above "$a" inside "$1" 'tail -n 1 /count'
    b=$(inside "$1" 'tail -n 1 /count')
    [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] &&
        inside "$1" 'awk "NR != \$1 { exit 1 }" /count'
}
wait_until 10 inside "$uriA" 'test -s /count'
# a stranger on the LAN keeps connecting to B's migration port meanwhile;
# the receiver takes the parts' connections one after the other, so the
# stranger's queued ones come between them: each must be dropped
stranger_start 10.80.0.2 49301
out=$(vA migrate --live --p2p vcnt vserver+tcp://10.80.0.2/system --migrateuri tcp://10.80.0.2:49301 2>&1)
ok $? "migrate it to B, which lacks the template (a stranger hammering B's migration port)"
stranger_stop
dropped=$(grep -c 'dropped a connection that did not show its token' \
          "$dirB/var/log/libvirt/virtvserverd.log" 2>/dev/null)
ok $(( ${dropped:-0} == 0 )) "B dropped the stranger's connections (${dropped:-0}: no token of this migration)"
[ -n "$out" ] && echo "$out" | sed 's/^/# /' | tail -3
equals "... it runs on B" "running (migrated)" "$(vB domstate --reason vcnt 2>&1)"
equals "... B now holds the template, under its name, and the guest volume" "G T" "$(vols "$uriB")"
equals "... the template is the same content on both (digest)" \
    "$(cat "$work/poolA/T/digest" 2>/dev/null)" "$(cat "$work/poolB/T/digest" 2>/dev/null)"
kib() { virsh -q -c "$1" domjobinfo --completed --keep-completed vcnt | awk '/^Data total/ {
    v = $3; if ($4 == "MiB") v *= 1024; if ($4 == "B") v /= 1024; if ($4 == "GiB") v *= 1048576; printf "%d", v }'; }
sent1=$(kib "$uriB")
tsize=$(du -sk --apparent-size "$work/poolA/T/tree" | cut -f1)
ok $(( ! (sent1 >= tsize) )) "... B received the template: ${sent1} KiB in all, the template is ${tsize} KiB"
check "... the counter in the overlay goes on with no gap" -- counts_on "$uriB"
check "... its private layer came along (the count file is in B's upper)" -- \
    test -s "$work/poolB/G/upper/count"
equals "... and is not in B's template" "" "$(ls "$work/poolB/T/tree/count" 2>/dev/null)"
# back to A, which holds the same template under another name only
vA vol-delete --pool mp G >/dev/null && vA vol-delete --pool mp T >/dev/null &&
    template_on A Tother
ok $? "on A: G and T deleted, the same tarball imported as Tother"
out=$(vB migrate --live --p2p vcnt vserver+tcp://10.80.0.1/system --migrateuri tcp://10.80.0.1 2>&1)
ok $? "migrate it back to A"
[ -n "$out" ] && echo "$out" | sed 's/^/# /' | tail -3
equals "... it runs on A" "running (migrated)" "$(vA domstate --reason vcnt 2>&1)"
equals "... on Tother: no template was sent (identity by content, not name)" "G Tother" "$(vols "$uriA")"
sent2=$(kib "$uriA")
ok $(( ! (sent2 < tsize) )) "... A received only the private layer and the images: ${sent2} KiB"
check "... the counter goes on with no gap" -- counts_on "$uriA"
equals "... the volume left behind on B stays (a migration keeps source volumes)" "G T" "$(vols "$uriB")"
# failure: the destination already has a volume G
out=$(vA migrate --live --p2p vcnt vserver+tcp://10.80.0.2/system --migrateuri tcp://10.80.0.2 2>&1)
ok $(( ! $? )) "migration to B, where a volume G exists, fails"
contains "... saying so" "already exists in pool" "$out"
check "... the context still runs on A" -- sh -c "virsh -q -c '$uriA' domstate vcnt | grep -q running"
equals "... B's volumes untouched" "G T" "$(vols "$uriB")"
vB vol-delete --pool mp G >/dev/null
vB vol-delete --pool mp T >/dev/null
check "destroy it" -- vA destroy vcnt

# --- an <idmap> context on a guest volume (unprivileged: its layers
# mapped into its user namespace): migrates with its private layer, the
# template follows, the same id map on B
vA vol-clone --pool mp Tother GI >/dev/null
ok $? "on A a guest volume GI of Tother"
idmap="<idmap><uid start='0' target='300000' count='65536'/><gid start='0' target='300000' count='65536'/></idmap>"
ctx_xml vid "$rootfs" "$counter" "<features><privnet/></features>$idmap" |
    sed "s|<filesystem type='mount'><source dir='$rootfs'/>|<filesystem type='volume'><source pool='mp' volume='GI'/>|" \
    > "$work/vid.xml"
check "start an <idmap> context on GI on A" -- vA create "$work/vid.xml"
inside_vid() { VSERVER_SHIM_PATH=$BUILDDIR/src/libvirt_vserver_shim \
    "$top/tools/vserver-enter" -T -c "$1" vid -- /bin/sh -c "$2" 2>/dev/null; }
vid_counts_on() {
    local a b
    a=$(inside_vid "$1" 'tail -n 1 /count')
    [ -n "$a" ] && wait_until 8 above "$a" inside_vid "$1" 'tail -n 1 /count'
    b=$(inside_vid "$1" 'tail -n 1 /count')
    [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] &&
        inside_vid "$1" 'awk "NR != \$1 { exit 1 }" /count'
}
vid_map() { tr -s ' ' < "/proc/$(virsh -q -c "$1" domid vid)/uid_map"; }
if wait_until 10 inside_vid "$uriA" 'test -s /count'; then
    want_map=$(vid_map "$uriA")
    out=$(vA migrate --live --p2p vid vserver+tcp://10.80.0.2/system --migrateuri tcp://10.80.0.2 2>&1)
    ok $? "migrate it to B, which has no template"
    [ -n "$out" ] && echo "$out" | sed 's/^/# /' | tail -3
    equals "... it runs on B" "running (migrated)" "$(vB domstate --reason vid 2>&1)"
    equals "... with the same id map" "$want_map" "$(vid_map "$uriB")"
    check "... the counter goes on with no gap" -- vid_counts_on "$uriB"
    equals "... its private layer on B is owned by its root's host id" \
        "300000" "$(stat -c %u "$work/poolB/GI/upper/count" 2>/dev/null)"
    check "destroy it on B" -- vB destroy vid
else
    ok 1 "the <idmap> context counts on A"
    vA destroy vid >/dev/null 2>&1
fi
vB vol-delete --pool mp GI >/dev/null 2>&1
vB vol-delete --pool mp Tother >/dev/null 2>&1
vA vol-delete --pool mp GI >/dev/null 2>&1

# --- failure: the destination refuses (a domain of that name runs there)
mkdir -p "$work/other"
mkrootfs "$work/other"
ctx_xml cnt "$work/other" "exec sleep 100000" > "$work/other.xml"
vB create "$work/other.xml" >/dev/null
otherid=$(vB domid cnt)
out=$(vA migrate --live --p2p cnt vserver+tcp://10.80.0.2/system --migrateuri tcp://10.80.0.2 2>&1)
ok $(( ! $? )) "migration to a host where the name is taken fails"
contains "... saying so" "already exists here" "$out"
check "... the context runs on A as before" -- still_runs_on A
equals "... and B's own domain is untouched" "$otherid" "$(vB domid cnt)"
vB destroy cnt >/dev/null
equals "... nothing of the migration on B" "" "$(ls "$dirB/run/libvirt/vserver" | grep -E '^incoming')"

# --- failure: CRIU killed while it dumps
# only the CRIU of this context's shim on A (criu swrk is its child)
shimA=$(shim_of "$dirA")
( exec -a "vsm-killer-$tag" bash -c "while :; do pkill -KILL -x -P $shimA criu; sleep 0.005; done" ) &
killer=$!
bgpids="$bgpids $killer"
# the killer loops once it has its name (exec -a)
wait_until 5 pgrep -f "^vsm-killer-$tag "
out=$(vA migrate --live --p2p cnt vserver+tcp://10.80.0.2/system --migrateuri tcp://10.80.0.2 2>&1)
rc=$?
kill "$killer" 2>/dev/null; wait "$killer" 2>/dev/null
ok $(( ! rc )) "migration with CRIU killed during the dump fails"
printf "%s\n" "${out:0:300}" | sed "s/^/# /"
check "... the context runs on A" -- still_runs_on A
check "... counting on without a gap" -- seq_ok "$rootfs/count"
check "... its TCP connection still carries data" -- advances "$work/crecv"
equals "... nothing on B" "" "$(vB list --all --name | grep -x cnt)"
use B
equals "... no cgroup of it on B" "" "$(ctx_cgroups cnt)"

# --- failure after the dump: B's CRIU cannot restore
mkdir -p "$work/badcriu/sbin"
cp -a "$BUILDDIR/criu/lib" "$work/badcriu/"
printf '#!/bin/sh\necho "criu: broken on purpose" >&2\nexit 1\n' > "$work/badcriu/sbin/criu"
chmod +x "$work/badcriu/sbin/criu"
# --- failure: the destination has no CRIU
use B
"$instance" stop "$inst_dir" >/dev/null
start_host B "$nsb" 10.80.0.2 VSERVER_CRIU_DIR="$work/nocriu"
out=$(vA migrate --live --p2p cnt vserver+tcp://10.80.0.2/system --migrateuri tcp://10.80.0.2 2>&1)
ok $(( ! $? )) "migration to a host without CRIU fails"
contains "... saying so" "unsupported on this host: CRIU is missing" "$out"
check "... the context runs on A, never stopped" -- still_runs_on A
check "... counting without a gap" -- seq_ok "$rootfs/count"

use B
"$instance" stop "$inst_dir" >/dev/null
start_host B "$nsb" 10.80.0.2 VSERVER_CRIU_DIR="$work/badcriu"
out=$(vA migrate --live --p2p cnt vserver+tcp://10.80.0.2/system --migrateuri tcp://10.80.0.2 2>&1)
ok $(( ! $? )) "migration to a host whose restore fails (after the dump) fails"
printf "%s\n" "${out:0:300}" | sed "s/^/# /"
check "... the context runs on A again, from its images" -- still_runs_on A
check "... counting on from where it stopped, no gap" -- seq_ok "$rootfs/count"
check "... its TCP connection still carries data" -- advances "$work/crecv"
check "... intact" -- seq_ok "$work/crecv"
equals "... nothing on B" "" "$(vB list --all --name | grep -x cnt)"
equals "... no cgroup of it on B" "" "$(ctx_cgroups cnt)"
equals "... no images left on B" "" "$(ls "$dirB/run/libvirt/vserver" | grep -E '^incoming')"
equals "... nor on A" "" "$(ls "$dirA/run/libvirt/vserver" | grep -E '^migrate')"

check "destroy it on A" -- vA destroy cnt
use A
ctx_nothing_left "nothing left on A" cnt "$rootfs"
use B
ctx_nothing_left "nothing left on B" cnt "$rootfs"

tap_done
