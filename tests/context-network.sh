#!/bin/bash
# Real contexts (root): networking.  Veth pairs on a test bridge (type
# 'bridge'), a veth left to the administrator ('ethernet'), macvlan
# ('direct'), libvirt networks ('network'); addresses, routes, MTU and link
# state read inside; ping and TCP between contexts and the "host"; the
# address binding trap; domiflist/domifstat/domifaddr; hotplug; bad input;
# every host-side device gone after each kind of stop.
#
# The whole test runs in a private network and mount namespace of its own
# (it re-executes itself under unshare): the "host" is that namespace, and
# its bridges, veths, routes, the test's daemons and their sockets vanish
# with it.  No packet reaches the real network.  Devices of the test
# namespace are read over netlink (ip), never in /sys/class/net, which
# shows the devices of the namespace /sys was mounted in.
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

ip link set lo up

# type='network' needs libvirt's network driver; a private libvirtd (only
# that driver) serves it, with libvirt's system dirs covered by tmpfs in
# this mount namespace so that neither the host's configs nor its sockets
# are seen or touched.  The dirs are covered before the vserver daemon
# starts, so that it too sees only the private ones.
libvirtd=/usr/sbin/libvirtd
lvdrv=$(ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_network.so 2>/dev/null | head -n 1)
have_libvirtd=0
if [ -x "$libvirtd" ] && [ -n "$lvdrv" ]; then
    have_libvirtd=1
    for d in /run/libvirt /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
        mkdir -p "$d"
        mount -t tmpfs -o mode=0755 tmpfs "$d" || { echo "Bail out! cannot cover $d"; exit 1; }
    done
fi

inst_setup
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"

bg_pids=
lvd_pid=
net_cleanup() {
    local p
    for p in $bg_pids; do kill "$p" 2>/dev/null; done
    [ -n "$lvd_pid" ] && kill "$lvd_pid" 2>/dev/null
    inst_cleanup
}
trap net_cleanup EXIT
# a test runner's SIGTERM must clean up too (else the daemon, the shims
# and with them this namespace would outlive the test)
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# --- the test topology: the "host" side of everything
# vsbr0: the contexts' bridge, with the host's addresses on it
ip link add vsbr0 type bridge
ip link set vsbr0 up
ip addr add 10.77.0.1/24 dev vsbr0
ip -6 addr add fd77::1/64 dev vsbr0 nodad
# vsmv0: parent of the macvlans (the kernel may lack the dummy driver: a
# veth end, its peer up for carrier); vspt0: a parent for passthrough
ip link add vsmv0 type veth peer name vsmv0p
ip link add vspt0 type veth peer name vspt0p
for d in vsmv0 vsmv0p vspt0 vspt0p; do ip link set "$d" up; done
# vsexist0: a device that exists before any context asks for its name
ip link add vsexist0 type veth peer name vsexist1
# vsnetbr0: the bridge of the libvirt network 'vstest'
ip link add vsnetbr0 type bridge
ip link set vsnetbr0 up
ip addr add 10.76.0.1/24 dev vsnetbr0

# links: the test namespace's device names, sorted
# (without the fallback tunnel devices some kernels put in every netns)
fallback_devs='tunl0|sit0|ip6tnl0|ip6gre0|gre0|gretap0|erspan0|ip_vti0|ip6_vti0'
link_names() {
    awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -vxE "$fallback_devs" | sort | tr '\n' ' '
}
links() { ip -o link | link_names; }
links_are() { [ "$(links)" = "$1" ]; }
# links_plus NAME...: the topology's devices and NAMEs, as links prints them
links_plus() {
    printf '%s\n' $base_links "$@" | sort | tr '\n' ' '
}
base_links=$(links)
equals "the test topology is in place (netlink view of the test namespace)" \
    "lo vsbr0 vsexist0 vsexist1 vsmv0 vsmv0p vsnetbr0 vspt0 vspt0p " "$base_links"

# --- helpers
# diag TEXT: TEXT as TAP diagnostics, every line
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
# ctx_pid DOMAIN: init's host pid (one virsh call; cache it in loops)
ctx_pid() { vsh domid "$1" 2>/dev/null; }
# ctx_ip PID ARGS...: the host's iproute2 in the netns of PID (for what
# busybox's ip cannot show: -d details)
ctx_ip() { local p=$1; shift; nsenter -t "$p" -n ip "$@"; }
# live_dev DOMAIN MAC [--inactive]: the host-side device (<target dev>)
# of the interface with MAC
live_dev() {
    vsh dumpxml "$1" ${3:-} 2>/dev/null |
        xmllint --xpath "string(//devices/interface[mac/@address='$2']/target/@dev)" - 2>/dev/null
}
xml_mac() {   # xml_mac DOMAIN N [--inactive]: the MAC of the Nth interface
    vsh dumpxml "$1" ${3:-} 2>/dev/null |
        xmllint --xpath "string(//devices/interface[$2]/mac/@address)" - 2>/dev/null
}
dev_exists() { ip link show dev "$1" >/dev/null 2>&1; }
# dev_gone NAME: NAME is known and no longer exists
dev_gone() { [ -n "$1" ] && ! dev_exists "$1"; }
# ctx_ping DOMAIN ADDR: ping from inside, retried for a few seconds (IPv6
# duplicate address detection, first ARP); prints the last attempt on failure
ctx_ping() {
    ctx_enter "$1" "i=0; while [ \$i -lt 10 ]; do
        out=\$(ping -c 1 -W 1 $2 2>&1) && exit 0; i=\$((i+1)); sleep 0.2; done
        echo \"\$out\"; exit 1"
}
# host_ping ADDR: the same from the test namespace (busybox's ping)
host_ping() {
    local i out
    for i in $(seq 1 10); do
        out=$(busybox ping -c 1 -W 1 "$1" 2>&1) && return 0
        sleep 0.2
    done
    echo "$out"
    return 1
}
# flags_of "IP -o LINK LINE": the link flags, one per line
flags_of() { printf '%s\n' "$1" | sed -n 's/^[^<]*<\([^>]*\)>.*/\1/p' | tr ',' '\n'; }
# is_up "IP -o LINK LINE": the administrative UP flag is set
is_up() { flags_of "$1" | grep -qx UP; }
# ctx_serve DOMAIN PORT FILE: a one-shot TCP server inside (busybox nc)
# that writes what it receives to /out/FILE and answers "served-by-DOMAIN";
# returns when it listens
ctx_serve() {
    local p
    rm -f "$work/out-$1/$3"
    ctx_enter "$1" "exec nc -l -p $2 -e /bin/sh -c 'cat > /out/$3; echo served-by-$1'" \
        >/dev/null 2>&1 &
    bg_pids="$bg_pids $!"
    p=$(ctx_pid "$1")
    wait_until 10 ctx_listening "$p" "$2"
}
# ctx_send DOMAIN ADDR PORT DATA: a TCP client inside; prints the answer
ctx_send() { ctx_enter "$1" "echo $4 | nc -w 5 $2 $3"; }
host_send() { echo "$3" | busybox nc -w 5 "$1" "$2"; }
# out_of DOMAIN FILE: what the context's server wrote (waits for it)
out_of() {
    wait_until 5 test -s "$work/out-$1/$2"
    cat "$work/out-$1/$2" 2>/dev/null
}
# in_links DOMAIN: device names inside, sorted
in_links() { ctx_enter "$1" 'ip -o link' 2>&1 | link_names; }

# every context gets its own /out (shared rootfs: its /tmp is common)
mkctx() {   # mkctx NAME INIT-SCRIPT DOMAIN-XML DEVICES-XML: writes $work/NAME.xml
    mkdir -p "$work/out-$1"
    ctx_xml "$1" "$rootfs" "$2" "$3" "$(ctx_bind "$work/out-$1" /out)$4" > "$work/$1.xml"
}

# --- the host's listener for the address binding trap: every address of
# the test namespace, port 7100, one line per connection in host.log
cat > "$work/listen.py" <<'EOF'
import socket, sys
port, log = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(8)
while True:
    c, peer = s.accept()
    c.settimeout(5)
    data = b""
    try:
        while True:
            b = c.recv(4096)
            if not b:
                break
            data += b
        c.sendall(b"served-by-host\n")
    except OSError:
        pass
    c.close()
    with open(log, "a") as f:
        f.write("%s %s\n" % (peer[0], data.decode(errors="replace").strip()))
EOF
: > "$work/host.log"
/usr/bin/python3 "$work/listen.py" 7100 "$work/host.log" &
bg_pids="$bg_pids $!"
wait_until 5 ctx_listening $$ 7100
check "the host listens on 0.0.0.0:7100 (test namespace)" -- \
    sh -c "ss -Hltn 'sport = :7100' | grep -q '0.0.0.0:7100'"

# --- two contexts on the test bridge
mac_a=52:54:00:77:00:11
mkctx a "" "<on_reboot>restart</on_reboot>" "
    <interface type='bridge'>
      <source bridge='vsbr0'/>
      <mac address='$mac_a'/>
      <ip address='10.77.0.11' prefix='24'/>
      <ip address='fd77::11' prefix='64'/>
      <route address='0.0.0.0' prefix='0' gateway='10.77.0.1'/>
      <route family='ipv6' address='::' prefix='0' gateway='fd77::1'/>
      <guest dev='eth0'/>
      <mtu size='1400'/>
      <link state='up'/>
    </interface>"
# b: no <mac>, no <guest dev>; a second interface of type 'ethernet'
mkctx b "exec sleep 100000" "" "
    <interface type='bridge'>
      <source bridge='vsbr0'/>
      <ip address='10.77.0.12' prefix='24'/>
      <ip address='fd77::12' prefix='64'/>
    </interface>
    <interface type='ethernet'>
      <target dev='vsx0'/>
      <source><ip address='10.78.0.1' prefix='24'/></source>
      <ip address='10.78.0.2' prefix='24'/>
    </interface>"

check "define a (bridge, MAC, MTU, IPv4+IPv6, routes)" -- vsh define "$work/a.xml"
check "define b (bridge without MAC, plus type='ethernet')" -- vsh define "$work/b.xml"
mac_b=$(xml_mac b 1 --inactive)
case "$mac_b" in
    [0-9a-f][0-9a-f]:*:*:*:*:[0-9a-f][0-9a-f]) ok 0 "a MAC is generated and saved in the persistent XML ($mac_b)" ;;
    *) ok 1 "a MAC is generated and saved in the persistent XML"; echo "# got '$mac_b'" ;;
esac
check "start a" -- vsh start a
check "start b" -- vsh start b
pa=$(ctx_pid a)
pb=$(ctx_pid b)
dev_a=$(live_dev a "$mac_a")
dev_b=$(live_dev b "$mac_b")
echo "# host ends: a=$dev_a b=$dev_b"
[ -n "$dev_a" ] && [ "$dev_a" != "$dev_b" ]
ok $? "the live XML names each host end (<target dev>): '$dev_a' '$dev_b'"
equals "generated host end names are not saved in the persistent XML" "" \
    "$(live_dev a "$mac_a" --inactive)$(live_dev b "$mac_b" --inactive)"

# the host side
l=$(ip -o link show dev "$dev_a" 2>&1)
contains "a's host end is enslaved to vsbr0" "master vsbr0" "$l"
contains "a's host end has the <mtu> too" " mtu 1400 " "$l"
is_up "$l"; ok $? "a's host end is up"; is_up "$l" || diag "$l"
contains "b's host end is enslaved to vsbr0" "master vsbr0" "$(ip -o link show dev "$dev_b" 2>&1)"

# inside a
equals "inside a: lo and eth0" "eth0 lo " "$(in_links a)"
l=$(ctx_enter a 'ip -o link show eth0' 2>&1)
contains "inside a: eth0 has the MAC of the XML" "link/ether $mac_a " "$l"
contains "inside a: eth0 has the <mtu> of the XML" " mtu 1400 " "$l"
is_up "$l"; ok $? "inside a: eth0 is up (<link state='up'/>)"
addrs=$(ctx_enter a 'ip -o addr show eth0' 2>&1)
contains "inside a: eth0 has 10.77.0.11/24" "inet 10.77.0.11/24 " "$addrs"
contains "inside a: eth0 has fd77::11/64" "inet6 fd77::11/64 " "$addrs"
l=$(ctx_enter a 'ip -o link show lo' 2>&1)
is_up "$l"; ok $? "inside a: lo is up"; is_up "$l" || diag "$l"
contains "inside a: lo has 127.0.0.1/8" "inet 127.0.0.1/8 " "$(ctx_enter a 'ip -o addr show lo' 2>&1)"
contains "inside a: the default route goes via 10.77.0.1" "default via 10.77.0.1 dev eth0" \
    "$(ctx_enter a 'ip route' 2>&1)"
contains "inside a: the IPv6 default route goes via fd77::1" "default via fd77::1 dev eth0" \
    "$(ctx_enter a 'ip -6 route' 2>&1)"
[ "$(readlink "/proc/$pa/ns/net")" != "$(readlink /proc/self/ns/net)" ]
ok $? "a has a network namespace of its own"

# inside b: names in order, the generated MAC, the ethernet interface
equals "inside b: eth0, eth1 in the order of the XML" "eth0 eth1 lo " "$(in_links b)"
contains "inside b: eth0 has the generated MAC of the persistent XML" "link/ether $mac_b " \
    "$(ctx_enter b 'ip -o link show eth0' 2>&1)"
contains "inside b: eth1 (type='ethernet') has 10.78.0.2/24" "inet 10.78.0.2/24 " \
    "$(ctx_enter b 'ip -o addr show eth1' 2>&1)"

# reachability
check "a pings b (IPv4)" -- ctx_ping a 10.77.0.12
check "b pings a (IPv4)" -- ctx_ping b 10.77.0.11
check "a pings the host (IPv4)" -- ctx_ping a 10.77.0.1
check "the host pings a (IPv4)" -- host_ping 10.77.0.11
check "a pings b (IPv6)" -- ctx_ping a fd77::12
check "a pings the host (IPv6)" -- ctx_ping a fd77::1
check "the host pings b (IPv6)" -- host_ping fd77::12
check "a reaches a host address off its subnet through the default route" -- ctx_ping a 10.78.0.1

# TCP: the bytes arrive, the answer comes back
if ctx_serve b 7001 tcp1; then
    r=$(ctx_send a 10.77.0.12 7001 a-to-b-v4 2>&1)
    equals "TCP a -> b (IPv4): b's server got the bytes" "a-to-b-v4" "$(out_of b tcp1)"
    equals "TCP a -> b (IPv4): a got b's answer" "served-by-b" "$r"
else
    ok 1 "TCP a -> b (IPv4): b's server listens"
fi
if ctx_serve b 7002 tcp2; then
    r=$(ctx_send a fd77::12 7002 a-to-b-v6 2>&1)
    equals "TCP a -> b (IPv6): b's server got the bytes" "a-to-b-v6" "$(out_of b tcp2)"
    equals "TCP a -> b (IPv6): a got b's answer" "served-by-b" "$r"
else
    ok 1 "TCP a -> b (IPv6): b's server listens"
fi
if ctx_serve a 7003 tcp3; then
    r=$(host_send 10.77.0.11 7003 host-to-a 2>&1)
    equals "TCP host -> a: a's server got the bytes" "host-to-a" "$(out_of a tcp3)"
    equals "TCP host -> a: the host got a's answer" "served-by-a" "$r"
else
    ok 1 "TCP host -> a: a's server listens"
fi
r=$(ctx_send a 10.77.0.1 7100 a-to-host 2>&1)
equals "TCP a -> host: the host's answer came back" "served-by-host" "$r"
wait_until 5 grep -q a-to-host "$work/host.log"
equals "TCP a -> host: the host's listener got the bytes from 10.77.0.11" "10.77.0.11 a-to-host" \
    "$(cat "$work/host.log")"

# --- the address binding trap: the host holds 0.0.0.0:7100; a context
# binds the same port, and connections to its address reach it
if ctx_serve a 7100 trap1; then
    ok 0 "a context listens on port 7100 while the host holds 0.0.0.0:7100"
    r=$(host_send 10.77.0.11 7100 trap-from-host 2>&1)
    equals "trap: the host connecting to a's address is answered by a, not by itself" "served-by-a" "$r"
    equals "trap: a's server got the host's bytes" "trap-from-host" "$(out_of a trap1)"
else
    ok 1 "a context listens on port 7100 while the host holds 0.0.0.0:7100"
fi
if ctx_serve a 7100 trap2; then
    r=$(ctx_send b 10.77.0.11 7100 trap-from-b 2>&1)
    equals "trap: b connecting to a's address is answered by a" "served-by-a" "$r"
    equals "trap: a's server got b's bytes" "trap-from-b" "$(out_of a trap2)"
else
    ok 1 "a context listens on port 7100 again"
fi
r=$(ctx_send b 10.77.0.1 7100 b-to-host 2>&1)
equals "trap: b connecting to the host's address is answered by the host" "served-by-host" "$r"
wait_until 5 grep -q b-to-host "$work/host.log"
equals "trap: the host's listener got exactly the connections for the host's address" \
    "10.77.0.11 a-to-host|10.77.0.12 b-to-host|" "$(tr '\n' '|' < "$work/host.log")"

# --- type='ethernet': the host end is the administrator's
l=$(ip -o link show dev vsx0 2>&1)
is_up "$l"; ok $? "type='ethernet': the host end has the <target dev> name (vsx0) and is up"
is_up "$l" || diag "$l"
case "$l" in
    *" master "*|"") ok 1 "type='ethernet': the host end is on no bridge"; diag "$l" ;;
    *vsx0*) ok 0 "type='ethernet': the host end is on no bridge" ;;
    *) ok 1 "type='ethernet': the host end is on no bridge"; diag "$l" ;;
esac
contains "type='ethernet': the host end has the <source><ip> address 10.78.0.1/24" \
    "inet 10.78.0.1/24 " "$(ip -o addr show dev vsx0 2>&1)"
check "type='ethernet': the host pings b through vsx0" -- host_ping 10.78.0.2
equals "type='ethernet': the live XML keeps the target dev" "vsx0" "$(live_dev b "$(xml_mac b 2)")"

# --- domiflist, domifstat, domifaddr
iflist=$(vsh domiflist a 2>&1)
echo "# domiflist a: $(printf '%s' "$iflist" | tr -s ' ' | tr '\n' '|')"
equals "domiflist a: the host end, type, source, model, MAC" "$dev_a bridge vsbr0 - $mac_a" \
    "$(printf '%s\n' "$iflist" | awk -v m="$mac_a" '$NF == m {print $1, $2, $3, $4, $5}')"
iflist=$(vsh domiflist b 2>&1)
equals "domiflist b: two interfaces" 2 "$(printf '%s\n' "$iflist" | grep -c ':')"
contains "domiflist b: the ethernet interface as vsx0" "vsx0" \
    "$(printf '%s\n' "$iflist" | awk '$2 == "ethernet"')"

stat_of() {   # stat_of DOMAIN DEV FIELD
    vsh domifstat "$1" "$2" 2>/dev/null | awk -v f="$3" '$2 == f {print $3}'
}
# guest_rx PID: bytes received by eth0 in the netns of PID (netlink)
guest_rx() {
    ctx_ip "$1" -s -o link show eth0 2>/dev/null | sed -n 's/.*RX:[^\\]*\\ *\([0-9][0-9]*\) .*/\1/p'
}
rxb0=$(stat_of a "$dev_a" rx_bytes)
txb0=$(stat_of a "$dev_a" tx_bytes)
rxp0=$(stat_of a "$dev_a" rx_packets)
busybox ping -c 5 -i 0.2 -W 1 -q 10.77.0.11 >/dev/null 2>&1
rxb1=$(stat_of a "$dev_a" rx_bytes)
txb1=$(stat_of a "$dev_a" tx_bytes)
rxp1=$(stat_of a "$dev_a" rx_packets)
[ -n "$rxb0" ] && [ -n "$rxb1" ] && [ "$rxb1" -ge $((rxb0 + 5 * 84)) ]
ok $? "domifstat: rx_bytes grows by at least 5 pings ($rxb0 -> $rxb1)"
[ -n "$txb0" ] && [ -n "$txb1" ] && [ "$txb1" -ge $((txb0 + 5 * 84)) ]
ok $? "domifstat: tx_bytes grows by at least 5 replies ($txb0 -> $txb1)"
[ -n "$rxp0" ] && [ -n "$rxp1" ] && [ "$rxp1" -ge $((rxp0 + 5)) ]
ok $? "domifstat: rx_packets grows by at least 5 ($rxp0 -> $rxp1)"
# one-way traffic tells the directions apart: the host sends 100 kB
if ctx_serve a 7004 bulk; then
    head -c 100000 /dev/zero | busybox nc -w 5 10.77.0.11 7004 >/dev/null 2>&1
    wait_until 5 sh -c "[ \$(stat -c %s '$work/out-a/bulk') -ge 100000 ]"
    rxb2=$(stat_of a "$dev_a" rx_bytes)
    txb2=$(stat_of a "$dev_a" tx_bytes)
    [ -n "$rxb2" ] && [ "$rxb2" -ge $((rxb1 + 100000)) ] && [ "$txb2" -lt $((txb1 + 50000)) ]
    ok $? "domifstat is the context's view: 100 kB sent to it are received bytes (rx +$((rxb2 - rxb1)), tx +$((txb2 - txb1)))"
else
    ok 1 "domifstat: a's bulk server listens"
fi
g0=$(guest_rx "$pa")
d=$(stat_of a "$dev_a" rx_bytes)
g1=$(guest_rx "$pa")
[ -n "$g0" ] && [ -n "$d" ] && [ "$g0" -le "$d" ] && [ "$d" -le "$g1" ]
ok $? "domifstat: rx_bytes is what eth0 inside received (inside $g0..$g1, domifstat $d)"

ifaddr=$(vsh domifaddr a 2>&1)
echo "# domifaddr a: $(printf '%s' "$ifaddr" | tr -s ' ' | tr '\n' '|')"
contains "domifaddr a: eth0 with its MAC" "$mac_a" "$(printf '%s\n' "$ifaddr" | grep -w eth0)"
contains "domifaddr a: the IPv4 address" "10.77.0.11/24" "$ifaddr"
contains "domifaddr a: the IPv6 address" "fd77::11/64" "$ifaddr"
ctx_enter a 'ip addr add 10.77.0.111/24 dev eth0' >/dev/null 2>&1
contains "domifaddr a: an address added inside after start is listed (read from the netns)" \
    "10.77.0.111/24" "$(vsh domifaddr a 2>&1)"
ctx_enter a 'ip addr del 10.77.0.111/24 dev eth0' >/dev/null 2>&1

# --- hotplug on the running context a
mac_h1=52:54:00:77:00:31
check "attach-interface --live (bridge vsbr0)" -- vsh attach-interface a bridge vsbr0 --mac "$mac_h1" --live
dev_h1=$(live_dev a "$mac_h1")
[ -n "$dev_h1" ]; ok $? "attach-interface: the live XML has the interface (host end '$dev_h1')"
contains "attach-interface: eth1 appears inside with the MAC" "link/ether $mac_h1 " \
    "$(ctx_enter a 'ip -o link show eth1' 2>&1)"
contains "attach-interface: the host end is enslaved to vsbr0" "master vsbr0" \
    "$(ip -o link show dev "$dev_h1" 2>&1)"
equals "attach-interface --live: the persistent XML is unchanged" 0 "$(vsh dumpxml a --inactive | grep -c "$mac_h1")"
check "detach-interface --live" -- vsh detach-interface a bridge --mac "$mac_h1" --live
equals "detach-interface: inside only eth0 and lo are left" "eth0 lo " "$(in_links a)"
check "detach-interface: the host end is gone" -- wait_until 5 dev_gone "$dev_h1"
equals "detach-interface: the live XML no longer has it" 0 "$(vsh dumpxml a | grep -c "$mac_h1")"

mac_h2=52:54:00:77:00:32
cat > "$work/hp2.xml" <<EOF
<interface type='bridge'>
  <source bridge='vsbr0'/>
  <mac address='$mac_h2'/>
  <ip address='10.77.0.32' prefix='24'/>
</interface>
EOF
links_before=$(links)
check "attach-device --config" -- vsh attach-device a "$work/hp2.xml" --config
equals "attach-device --config: the persistent XML has it" 1 "$(vsh dumpxml a --inactive | grep -c "$mac_h2")"
equals "attach-device --config: the live XML has not" 0 "$(vsh dumpxml a | grep -c "$mac_h2")"
equals "attach-device --config: nothing new inside" "eth0 lo " "$(in_links a)"
equals "attach-device --config: no new host device" "$links_before" "$(links)"
check "detach-device --config" -- vsh detach-device a "$work/hp2.xml" --config
equals "detach-device --config: the persistent XML no longer has it" 0 "$(vsh dumpxml a --inactive | grep -c "$mac_h2")"

mac_h3=52:54:00:77:00:33
sed -e "s/$mac_h2/$mac_h3/" -e 's/10.77.0.32/10.77.0.33/' "$work/hp2.xml" > "$work/hp3.xml"
check "attach-device --live --config" -- vsh attach-device a "$work/hp3.xml" --live --config
equals "attach-device --live --config: the persistent XML has it" 1 "$(vsh dumpxml a --inactive | grep -c "$mac_h3")"
dev_h3=$(live_dev a "$mac_h3")
[ -n "$dev_h3" ]; ok $? "attach-device --live --config: the live XML has it (host end '$dev_h3')"
l=$(ctx_enter a 'ip -o link' 2>&1 | grep "$mac_h3")
contains "attach-device --live --config: eth1 appears inside with the MAC" "eth1" "$l"
contains "attach-device --live --config: eth1 has the XML's address" "inet 10.77.0.33/24 " \
    "$(ctx_enter a 'ip -o addr show eth1' 2>&1)"
check "attach-device --live --config: the host pings the new address" -- host_ping 10.77.0.33
contains "attach-device --live --config: the host end is enslaved to vsbr0" "master vsbr0" \
    "$(ip -o link show dev "$dev_h3" 2>&1)"
check "detach-device --live --config" -- vsh detach-device a "$work/hp3.xml" --live --config
equals "detach-device --live --config: gone from both XMLs" "0 0" \
    "$(vsh dumpxml a --inactive | grep -c "$mac_h3") $(vsh dumpxml a | grep -c "$mac_h3")"
equals "detach-device --live --config: inside only eth0 and lo are left" "eth0 lo " "$(in_links a)"
check "detach-device --live --config: the host end is gone" -- wait_until 5 dev_gone "$dev_h3"

# a refused hot-plug changes nothing: not the host, not the context, not
# the live XML
refused_hotplug() {   # refused_hotplug DESC ERROR-TEXT VIRSH-ARGS...
    local desc=$1 err=$2 before in_before xml_before o
    shift 2
    before=$(links)
    in_before=$(in_links a)
    xml_before=$(vsh dumpxml a | grep -c '<interface')
    if o=$(vsh "$@" 2>&1); then
        ok 1 "$desc (it was attached)"
    else
        contains "$desc" "$err" "$o"
    fi
    equals "$desc: the test namespace's devices are as before" "$before" "$(links)"
    equals "$desc: the devices inside are as before" "$in_before" "$(in_links a)"
    equals "$desc: the live XML is as before" "$xml_before" "$(vsh dumpxml a | grep -c '<interface')"
}
refused_hotplug "hot-plug onto a missing bridge: the error names it" vsnobr0 \
    attach-interface a bridge vsnobr0 --mac 52:54:00:77:00:35 --live
refused_hotplug "hot-plug onto a device that is not a bridge: the error names it" vsexist0 \
    attach-interface a bridge vsexist0 --mac 52:54:00:77:00:36 --live
refused_hotplug "hot-plug with the MAC of an existing interface: the error names it" "$mac_a" \
    attach-interface a bridge vsbr0 --mac "$mac_a" --live
cat > "$work/hp-exist.xml" <<EOF
<interface type='ethernet'><mac address='52:54:00:77:00:37'/><target dev='vsexist0'/></interface>
EOF
refused_hotplug "hot-plug with a <target dev> that exists on the host: the error names it" vsexist0 \
    attach-device a "$work/hp-exist.xml" --live

# --- link state down
mkctx c "exec sleep 100000" "" "
    <interface type='bridge'>
      <source bridge='vsbr0'/>
      <mac address='52:54:00:77:00:13'/>
      <ip address='10.77.0.13' prefix='24'/>
      <link state='down'/>
    </interface>"
if o=$(vsh create "$work/c.xml" 2>&1); then
    l=$(ctx_enter c 'ip -o link show eth0' 2>&1)
    case "$l" in
        *"link/ether 52:54:00:77:00:13 "*) ! is_up "$l" ;;
        *) false ;;
    esac
    ok $? "<link state='down'/>: eth0 inside exists and is down"
    diag "$l"
    if busybox ping -c 1 -W 1 10.77.0.13 >/dev/null 2>&1; then
        ok 1 "<link state='down'/>: the host cannot reach the context"
    else
        ok 0 "<link state='down'/>: the host cannot reach the context"
    fi
    dev_c=$(live_dev c 52:54:00:77:00:13)
    check "domif-setlink up on the running context" -- vsh domif-setlink c "$dev_c" up
    l=$(ctx_enter c 'ip -o link show eth0' 2>&1)
    is_up "$l"; ok $? "domif-setlink up: eth0 inside is up"; is_up "$l" || diag "$l"
    check "domif-setlink up: the host reaches the context" -- host_ping 10.77.0.13
    vsh destroy c >/dev/null
else
    ok 1 "a context with <link state='down'/> starts"; diag "$o"
fi

# --- type='direct': macvlan
macvlan_ctx() {   # macvlan_ctx NAME IFACES-XML
    mkctx "$1" "exec sleep 100000" "" "$2"
    vsh create "$work/$1.xml"
}
direct() {   # direct PARENT MODE [IP]
    printf "<interface type='direct'><source dev='%s' mode='%s'/>%s</interface>" \
        "$1" "$2" "${3:+<ip address='$3' prefix='24'/>}"
}
check "start m1 (macvlan, bridge mode, on vsmv0)" -- macvlan_ctx m1 "$(direct vsmv0 bridge 10.79.0.21)"
check "start m2 (macvlan, bridge mode, on vsmv0)" -- macvlan_ctx m2 "$(direct vsmv0 bridge 10.79.0.22)"
check "macvlan: m1 pings m2" -- ctx_ping m1 10.79.0.22
check "macvlan: m2 pings m1" -- ctx_ping m2 10.79.0.21
pm1=$(ctx_pid m1)
d=$(ctx_ip "$pm1" -d -o link show eth0 2>&1)
contains "macvlan: eth0 inside m1 is a macvlan in bridge mode (ip -d link)" "macvlan mode bridge " "$d"
contains "macvlan: its parent is vsmv0 (link index of the host device)" \
    "eth0@if$(ip -o link show dev vsmv0 | cut -d: -f1)" "$d"
check "start m3 (macvlan private and vepa on vsmv0, passthrough on vspt0)" -- macvlan_ctx m3 \
    "$(direct vsmv0 private)$(direct vsmv0 vepa)$(direct vspt0 passthrough)"
pm3=$(ctx_pid m3)
for i in 0:private 1:vepa 2:passthru; do
    contains "macvlan: eth${i%%:*} inside m3 is in ${i#*:} mode" "macvlan mode ${i#*:} " \
        "$(ctx_ip "$pm3" -d -o link show "eth${i%%:*}" 2>&1)"
done
vsh destroy m3 >/dev/null
vsh destroy m2 >/dev/null
vsh destroy m1 >/dev/null
equals "macvlan: destroying the contexts leaves the test namespace's devices as they were" \
    "$(links_plus "$dev_a" "$dev_b" vsx0)" "$(links)"

# --- bad input: a clear error, no device created or removed on the
# host, the domain not running, nothing of it left
# refused DESC NAME ERROR-TEXT DEVICES-XML: a valid interface first, so
# that the failing one is not the first device made
good_if="<interface type='bridge'><source bridge='vsbr0'/><ip address='10.77.0.50' prefix='24'/></interface>"
refused() {
    local desc=$1 name=$2 err=$3 before o
    before=$(links)
    mkctx "$name" "exec sleep 100000" "" "$4"
    if o=$(vsh create "$work/$name.xml" 2>&1); then
        ok 1 "$desc (it started)"
        vsh destroy "$name" >/dev/null 2>&1
    else
        contains "$desc" "$err" "$o"
    fi
    equals "$desc: the domain does not run" "" "$(vsh list --name | grep -x "$name")"
    equals "$desc: the test namespace's devices are as before" "$before" "$(links)"
    equals "$desc: no shim, cgroup, run file or mount left" "" \
        "$(ctx_leftovers "$name" "$work/out-$name")"
}
refused "source bridge missing: the error names it" badbr "vsnobr0" \
    "$good_if<interface type='bridge'><source bridge='vsnobr0'/></interface>"
refused "source bridge that is not a bridge: the error names it" notbr "vsexist0" \
    "$good_if<interface type='bridge'><source bridge='vsexist0'/></interface>"
refused "direct: parent device missing: the error names it" baddirect "vsnodev0" \
    "$good_if<interface type='direct'><source dev='vsnodev0' mode='bridge'/></interface>"
refused "two interfaces with one MAC: the error names the MAC" dupmac "52:54:00:77:00:99" \
    "<interface type='bridge'><source bridge='vsbr0'/><mac address='52:54:00:77:00:99'/></interface>
     <interface type='bridge'><source bridge='vsbr0'/><mac address='52:54:00:77:00:99'/></interface>"
refused "two interfaces with one <target dev>: the error names it" duptarget "vsdup0" \
    "<interface type='ethernet'><target dev='vsdup0'/></interface>
     <interface type='ethernet'><target dev='vsdup0'/></interface>"
refused "a <target dev> that exists on the host: the error names it" existtarget "vsexist0" \
    "$good_if<interface type='ethernet'><target dev='vsexist0'/></interface>"
refused "a <target dev> of a running context: the error names it" taken "vsx0" \
    "$good_if<interface type='ethernet'><target dev='vsx0'/></interface>"
check "... and the running context's vsx0 still works (host pings b)" -- host_ping 10.78.0.2

# --- type='network' through libvirt's network driver
if [ "$have_libvirtd" = 1 ]; then
    mkdir -p "$work/lvdrv" "$work/lvd"
    ln -s "$lvdrv" "$work/lvdrv/"
    printf 'log_outputs = "3:file:%s"\n' "$work/lvd/libvirtd.log" > "$work/lvd/libvirtd.conf"
    # only the network driver: the others (qemu wants its system user) are
    # not needed and would slow the start
    LIBVIRT_DRIVER_DIR=$work/lvdrv "$libvirtd" -d -f "$work/lvd/libvirtd.conf" \
        -p "$work/lvd/libvirtd.pid"
    wait_until 10 test -S /run/libvirt/libvirt-sock
    lvd_pid=$(cat "$work/lvd/libvirtd.pid" 2>/dev/null)
    cat > "$work/vstest.xml" <<EOF
<network><name>vstest</name><forward mode='bridge'/><bridge name='vsnetbr0'/></network>
EOF
    mkctx n "exec sleep 100000" "" "
        <interface type='network'>
          <source network='vstest'/>
          <mac address='52:54:00:77:00:51'/>
          <ip address='10.76.0.51' prefix='24'/>
        </interface>"
    if o=$(virsh -q -c network:///system net-define "$work/vstest.xml" 2>&1) &&
       o=$(virsh -q -c network:///system net-start vstest 2>&1); then
        ok 0 "a private libvirtd serves the network 'vstest' (bridge vsnetbr0)"
        if o=$(vsh create "$work/n.xml" 2>&1); then
            ok 0 "type='network': a context on 'vstest' starts"
            dev_n=$(live_dev n 52:54:00:77:00:51)
            contains "type='network': its host end '$dev_n' is enslaved to the network's bridge" \
                "master vsnetbr0" "$(ip -o link show dev "$dev_n" 2>&1)"
            contains "type='network': eth0 inside has the MAC" "link/ether 52:54:00:77:00:51 " \
                "$(ctx_enter n 'ip -o link show eth0' 2>&1)"
            check "type='network': the host pings it over the network's bridge" -- host_ping 10.76.0.51
            equals "type='network': the network driver lists the context's port" 1 \
                "$(virsh -q -c network:///system net-port-list vstest 2>&1 | grep -c .)"
            vsh destroy n >/dev/null
            check "type='network': destroy removes the host end" -- dev_gone "$dev_n"
            equals "type='network': destroy gives the port back to the network driver" "" \
                "$(virsh -q -c network:///system net-port-list vstest 2>&1)"
        else
            ok 1 "type='network': a context on 'vstest' starts"; diag "$o"
        fi
        refused "type='network' with an undefined network: the error names it" nonet "vsnonet" \
            "$good_if<interface type='network'><source network='vsnonet'/></interface>"
    else
        ok 1 "a private libvirtd serves the network 'vstest' (bridge vsnetbr0)"; diag "$o"
        tail -n 5 "$work/lvd/libvirtd.log" 2>/dev/null | sed 's/^/#   /'
    fi
    # without any network driver
    if [ -n "$lvd_pid" ]; then
        kill "$lvd_pid"
        wait_until 10 pid_gone "$lvd_pid"
        check "the private libvirtd is stopped" -- pid_gone "$lvd_pid"
        lvd_pid=
    fi
    before=$(links)
    if o=$(vsh create "$work/n.xml" 2>&1); then
        ok 1 "type='network' without a network driver: start fails"
        vsh destroy n >/dev/null 2>&1
    else
        ok 0 "type='network' without a network driver: start fails"
        diag "$o"
        contains "... with an error that names the network" "vstest" "$o"
    fi
    equals "... leaving no device behind" "$before" "$(links)"
    equals "... and the domain does not run" "" "$(vsh list --name | grep -x n)"
else
    echo "# SKIP type='network': no $libvirtd with its network driver"
fi

# --- contexts started at the same time get distinct host ends
for i in 1 2 3; do
    mkctx "x$i" "exec sleep 100000" "" \
        "<interface type='bridge'><source bridge='vsbr0'/><ip address='10.77.0.7$i' prefix='24'/></interface>"
done
before=$(links)
xpids=
for i in 1 2 3; do
    vsh create "$work/x$i.xml" > "$work/x$i.out" 2>&1 &
    xpids="$xpids $!"
done
wait $xpids
running_x=$(vsh list --name | grep -x 'x[123]' | sort | tr '\n' ' ' | sed 's/ $//')
equals "three contexts started at once all run" "x1 x2 x3" "$running_x"
[ "$running_x" = "x1 x2 x3" ] || cat "$work"/x[123].out | sed 's/^/#   /'
devs_x=$(for i in 1 2 3; do vsh domiflist "x$i" 2>/dev/null | awk 'NF == 5 && $5 ~ /:/ {print $1}'; done)
equals "... with three distinct host ends" 3 "$(printf '%s\n' $devs_x | sort -u | wc -l)"
check "... each reachable (host pings x3)" -- host_ping 10.77.0.73
# an init killed from the host (a crash): the host ends go with it
px=$(ctx_pid x1)
kill -KILL "$px"
wait_until 10 ctx_shim_gone x1
wait_until 5 sh -c "! virsh -q -c '$uri' list --name | grep -qx x1"
for i in 2 3; do vsh destroy "x$i" >/dev/null 2>&1; done
wait_until 5 links_are "$before"
equals "... and after a crashed init and two destroys their host ends are gone" "$before" "$(links)"

# --- a context with a user namespace (<idmap>) gets its interface too
chmod 0755 "$inst_dir"
mkctx u "exec sleep 100000" \
    "<idmap><uid start='0' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>" "
    <interface type='bridge'>
      <source bridge='vsbr0'/>
      <ip address='10.77.0.60' prefix='24'/>
    </interface>"
if o=$(vsh create "$work/u.xml" 2>&1); then
    ok 0 "a context with <idmap> and an interface starts"
    contains "with <idmap>: eth0 inside has its address" "inet 10.77.0.60/24 " \
        "$(ctx_enter u 'ip -o addr show eth0' 2>&1)"
    check "with <idmap>: the host pings the context" -- host_ping 10.77.0.60
    dev_u=$(vsh domiflist u 2>/dev/null | awk 'NF == 5 && $5 ~ /:/ {print $1}')
    vsh destroy u >/dev/null
    check "with <idmap>: destroy removes the host end ('$dev_u')" -- dev_gone "$dev_u"
else
    ok 1 "a context with <idmap> and an interface starts"; diag "$o"
fi

# --- no interface: <privnet/> or the test namespace itself
mkctx p "exec sleep 100000" "<features><privnet/></features>" ""
vsh create "$work/p.xml" >/dev/null
equals "<privnet/> without interfaces: only lo inside" "lo " "$(in_links p)"
is_up "$(ctx_enter p 'ip -o link show lo' 2>&1)"; ok $? "<privnet/> without interfaces: lo is up"
vsh destroy p >/dev/null
mkctx s "exec sleep 100000" "" ""
vsh create "$work/s.xml" >/dev/null
contains "no interface, no <privnet/>: the context sees the test namespace's bridge" "vsbr0" \
    "$(in_links s)"
equals "no interface, no <privnet/>: the context is in the test's network namespace" \
    "$(readlink /proc/self/ns/net)" "$(readlink "/proc/$(ctx_pid s)/ns/net" 2>&1)"
vsh destroy s >/dev/null

# --- every stop removes the host side, also after a daemon restart
# (the driver must find b's devices again from its status)
"$instance" start "$inst_dir" >/dev/null
equals "after a daemon restart domiflist b still shows both host ends" "$dev_b vsx0" \
    "$(vsh domiflist b 2>&1 | awk 'NF == 5 && $5 ~ /:/ {print $1}' | tr '\n' ' ' | sed 's/ $//')"
vsh destroy b >/dev/null
check "destroy b: its bridge port is gone" -- wait_until 5 dev_gone "$dev_b"
check "destroy b: its type='ethernet' host end vsx0 is gone" -- dev_gone vsx0

# reboot from virsh: the context comes back with its network
shim_a=$(ctx_shims a)
check "virsh reboot a" -- vsh reboot a
wait_until 15 ctx_new_init "$shim_a" "$pa"
wait_until 5 ctx_domid_changed a "$pa"
pa2=$(ctx_pid a)
[ -n "$pa2" ] && [ "$pa2" != "$pa" ] && [ "$pa2" != - ]
ok $? "virsh reboot: a has a new init ($pa -> $pa2)"
rebooted_net() {   # rebooted_net DESC DOMAIN
    local dev
    contains "$1: eth0 inside has its address again" "inet 10.77.0.11/24 " \
        "$(ctx_enter "$2" 'ip -o addr show eth0' 2>&1)"
    check "$1: the host reaches the context again" -- host_ping 10.77.0.11
    dev=$(live_dev "$2" "$mac_a")
    equals "$1: vsbr0's only context port is the live XML's host end" "$dev " \
        "$(ip -o link show master vsbr0 | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | tr '\n' ' ')"
}
rebooted_net "virsh reboot" a
# reboot(2) inside, on_reboot=restart
ctx_enter a 'reboot -f' >/dev/null 2>&1
wait_until 15 ctx_new_init "$shim_a" "$pa2"
wait_until 5 ctx_domid_changed a "$pa2"
pa3=$(ctx_pid a)
[ -n "$pa3" ] && [ "$pa3" != "$pa2" ] && [ "$pa3" != - ]
ok $? "reboot -f inside: a has a new init ($pa2 -> $pa3)"
rebooted_net "reboot -f inside" a

# a device attached live must go with the context too
dev_a=$(live_dev a "$mac_a")
vsh attach-interface a bridge vsbr0 --mac 52:54:00:77:00:34 --live >/dev/null
dev_h4=$(live_dev a 52:54:00:77:00:34)
check "shutdown a (with a device attached live)" -- vsh shutdown a
wait_until 15 ctx_shim_gone a
ctx_wait_state a "shut off (shutdown)" 5
equals "shutdown: a is shut off" "shut off (shutdown)" "$(ctx_st a)"
check "shutdown: a's host end is gone" -- dev_gone "$dev_a"
check "shutdown: the host end of the device attached live ('$dev_h4') is gone" -- dev_gone "$dev_h4"

equals "at the end: the test namespace has exactly the devices the test made" "$base_links" "$(links)"
equals "at the end: nothing left of any context" "" "$(ctx_leftovers "" "$work")"
tap_done
