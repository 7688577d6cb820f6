#!/bin/bash
# The host's libvirt drivers on a vserver connection: network, nwfilter,
# node device, secret and interface calls of vserver:///system reach the
# daemon that serves them (virt<drv>d's socket where it exists, else
# libvirtd's; vserver.conf's host_socket_dir), an error names both sockets
# when neither exists, and virt-install --network network=NAME makes a
# running context on that network.
#
# A private libvirtd (Debian's, with only the network, nwfilter, nodedev,
# secret and interface drivers) plays the host's.  The whole test runs in a
# private network and mount namespace of its own (it re-executes itself
# under unshare), with libvirt's system dirs covered by tmpfs: the private
# libvirtd's networks, secrets, filters, bridges and firewall rules never
# touch the host's, and vanish with the namespace.
set -u

if [ "${VSERVER_HOSTDRV_HOSTNS:-}" = "" ]; then
    VSERVER_HOSTDRV_HOSTNS=$(readlink /proc/self/ns/net)
    export VSERVER_HOSTDRV_HOSTNS
    exec unshare --net --mount --propagation private -- "$BASH" "$0" "$@"
fi
if [ "$(readlink /proc/self/ns/net)" = "$VSERVER_HOSTDRV_HOSTNS" ]; then
    echo "Bail out! not in a private network namespace"
    exit 1
fi

. "$(dirname "$0")/lib.sh"

libvirtd=/usr/sbin/libvirtd
drvdir=$(dirname "$(ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_network.so 2>/dev/null | head -n 1)")
hostdrvs="network nwfilter nodedev secret interface"
for d in $hostdrvs; do
    if [ ! -x "$libvirtd" ] || [ ! -f "$drvdir/libvirt_driver_$d.so" ]; then
        echo "1..0 # SKIP libvirtd or its $d driver is not installed (libvirt-daemon, scripts/install-deps.sh)"
        exit 0
    fi
done

ip link set lo up
for d in /run/libvirt /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
    mkdir -p "$d"
    mount -t tmpfs -o mode=0755 tmpfs "$d" || { echo "Bail out! cannot cover $d"; exit 1; }
done

lvd_pid=
hostdrv_cleanup() {
    inst_cleanup
    if [ -n "$lvd_pid" ]; then
        kill "$lvd_pid" 2>/dev/null
        wait_until 10 pid_gone "$lvd_pid"
        kill -KILL "$lvd_pid" 2>/dev/null
    fi
}
inst_setup
trap hostdrv_cleanup EXIT
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"
ro_uri="vserver:///system?socket=$inst_dir/run/libvirt/virtvserverd-sock-ro"

diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

# vs_host_sockets [DIR]: restart the instance with host_socket_dir = DIR
# (none: the default)
vs_host_sockets() {
    {
        echo "cgroup_partition = \"/vserver-instance-$(basename "$inst_dir")\""
        [ -n "${1:-}" ] && echo "host_socket_dir = \"$1\""
    } > "$inst_dir/etc/libvirt/vserver.conf"
    "$instance" start "$inst_dir" >/dev/null
}

# --- no daemon at all: the default directory is /run/libvirt (an empty
# tmpfs here)
out=$(vsh net-list --all 2>&1)
contains "default host_socket_dir, nothing listening: net-list names virtnetworkd's socket" \
    "/run/libvirt/virtnetworkd-sock (virtnetworkd)" "$out"
contains "... and libvirtd's" "/run/libvirt/libvirt-sock (libvirtd)" "$out"
for d in nwfilter nodedev secret interface; do
    out=$(vsh "$( [ "$d" = interface ] && echo iface || echo "$d")-list" 2>&1)
    contains "... the same for $d" \
        "neither /run/libvirt/virt${d}d-sock (virt${d}d) nor /run/libvirt/libvirt-sock (libvirtd) exists" "$out"
done

# --- the "host's" libvirtd: its own config, sockets, pid file and log,
# only the five host drivers
lvd=$work/lvd
lvsock=$lvd/sock
mkdir -p "$lvd/drv" "$lvsock"
for d in $hostdrvs; do
    ln -s "$drvdir/libvirt_driver_$d.so" "$lvd/drv/"
done
cat > "$lvd/libvirtd.conf" <<EOF
unix_sock_dir = "$lvsock"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$lvd/libvirtd.log"
EOF
lvuri="network:///system?socket=$lvsock/libvirt-sock"
LIBVIRT_DRIVER_DIR=$lvd/drv "$libvirtd" -d -f "$lvd/libvirtd.conf" -p "$lvd/libvirtd.pid"
wait_until 20 virsh -q -c "$lvuri" uri
lvd_pid=$(cat "$lvd/libvirtd.pid" 2>/dev/null)
if ! check "a private libvirtd serves network:///system on $lvsock" -- virsh -q -c "$lvuri" net-list --all; then
    tail -n 5 "$lvd/libvirtd.log" 2>/dev/null | sed 's/^/#   /'
    echo "Bail out! the private libvirtd did not come up"
    exit 1
fi

# --- host_socket_dir = the private libvirtd's directory (monolithic)
vs_host_sockets "$lvsock"

cat > "$work/net.xml" <<EOF
<network><name>vshost</name><bridge name='vshbr0' stp='off'/></network>
EOF
check "net-define through the vserver connection" -- vsh net-define "$work/net.xml"
check "net-start" -- vsh net-start vshost
out=$(vsh net-list --all 2>&1)
contains "net-list shows the network active" "vshost" "$out"
contains "... active" "active" "$(printf '%s\n' "$out" | grep vshost)"
out=$(vsh net-info vshost 2>&1)
contains "net-info: the network's bridge" "vshbr0" "$out"
contains "net-info: active" "Active:         yes" "$out"
contains "net-dumpxml: the bridge" "<bridge name='vshbr0'" "$(vsh net-dumpxml vshost 2>&1)"
check "the network lives in the private libvirtd (its own connection lists it)" -- \
    sh -c "virsh -q -c '$lvuri' net-list --name | grep -qx vshost"
check "the network's bridge exists in the test namespace" -- ip link show dev vshbr0
equals "no network driver in virtvserverd itself" "" \
    "$(grep -o 'libvirt_driver_network[^ ]*' "/proc/$(inst_daemon_pid)/maps" | sort -u)"
contains "a read-only vserver connection lists it too (libvirtd's read-only socket)" \
    "vshost" "$(virsh -q -r -c "$ro_uri" net-list --all 2>&1)"

cat > "$work/filter.xml" <<EOF
<filter name='vshost-accept' chain='root'>
  <rule action='accept' direction='out' priority='500'><all/></rule>
</filter>
EOF
check "nwfilter-define" -- vsh nwfilter-define "$work/filter.xml"
contains "nwfilter-list shows the filter" "vshost-accept" "$(vsh nwfilter-list 2>&1)"
check "nwfilter-undefine" -- vsh nwfilter-undefine vshost-accept

contains "nodedev-list shows the host ('computer')" "computer" "$(vsh nodedev-list 2>&1)"
contains "nodedev-dumpxml computer" "<name>computer</name>" "$(vsh nodedev-dumpxml computer 2>&1)"

sec_uuid=6b1a0f4e-6f2d-4c43-9d47-7a1e0f0e5a11
cat > "$work/secret.xml" <<EOF
<secret ephemeral='no' private='no'>
  <uuid>$sec_uuid</uuid>
  <usage type='volume'><volume>/srv/vshost.img</volume></usage>
</secret>
EOF
check "secret-define" -- vsh secret-define "$work/secret.xml"
contains "secret-list shows it" "$sec_uuid" "$(vsh secret-list 2>&1)"
value=$(printf 'vshost-secret' | base64)
check "secret-set-value" -- vsh secret-set-value "$sec_uuid" --base64 "$value"
equals "secret-get-value gives the value back" "$value" "$(vsh secret-get-value "$sec_uuid" 2>&1)"
check "secret-undefine" -- vsh secret-undefine "$sec_uuid"

out=$(vsh iface-list --all 2>&1)
equals "iface-list --all lists the loopback device" "lo" \
    "$(printf '%s\n' "$out" | awk '$1 == "lo" {print $1}')"

# --- virt-install, end to end, on the network
if command -v virt-install >/dev/null 2>&1; then
    if o=$(virt-install --connect "$uri" --container --name vinet --memory 64 \
            --filesystem "$rootfs,/" --boot init=/bin/sh \
            --network network=vshost,mac=52:54:00:77:02:01 --noautoconsole 2>&1); then
        ok 0 "virt-install --container --network network=vshost"
    else
        ok 1 "virt-install --container --network network=vshost"; diag "$o"
    fi
    equals "the context runs" "running" "$(vsh domstate vinet 2>&1)"
    equals "domiflist: its interface is on network vshost" "network vshost 52:54:00:77:02:01" \
        "$(vsh domiflist vinet 2>&1 | awk '{print $2, $3, $5}')"
    dev=$(vsh dumpxml vinet 2>/dev/null |
          xmllint --xpath "string(//devices/interface[mac/@address='52:54:00:77:02:01']/target/@dev)" - 2>/dev/null)
    contains "its host end '$dev' is enslaved to the network's bridge" "master vshbr0" \
        "$(ip -o link show dev "${dev:-none}" 2>&1)"
    equals "net-port-list (through the vserver connection) has its port" 1 \
        "$(vsh net-port-list vshost 2>&1 | grep -c .)"
    check "destroy" -- vsh destroy vinet
    equals "... gives the port back to the host's network driver" "" \
        "$(virsh -q -c "$lvuri" net-port-list vshost 2>&1)"
    check "undefine" -- vsh undefine vinet
else
    echo "# virt-install is not installed: its case is left out"
fi

check "net-destroy" -- vsh net-destroy vshost
check "net-undefine" -- vsh net-undefine vshost
equals "the private libvirtd has no network left" "" "$(virsh -q -c "$lvuri" net-list --all --name 2>&1)"

# --- a modular daemon's socket is preferred, driver by driver: here
# virtnetworkd-sock leads to the private libvirtd and libvirt-sock to
# nothing (a plain file)
mod=$work/modular
mkdir -p "$mod"
ln -s "$lvsock/libvirt-sock" "$mod/virtnetworkd-sock"
: > "$mod/libvirt-sock"
vs_host_sockets "$mod"
check "virtnetworkd's socket is taken for networks when it exists" -- vsh net-list --all
out=$(vsh nwfilter-list 2>&1)
contains "... while nwfilter, without virtnwfilterd, goes to libvirtd's socket" "$mod/libvirt-sock" "$out"

# --- neither socket in the configured directory
mkdir -p "$work/none"
vs_host_sockets "$work/none"
out=$(vsh net-list 2>&1)
contains "host_socket_dir with neither socket: the error names virtnetworkd's" \
    "$work/none/virtnetworkd-sock (virtnetworkd)" "$out"
contains "... and libvirtd's" "$work/none/libvirt-sock (libvirtd)" "$out"
contains "... and domain calls still work" "vserver" "$(vsh uri 2>&1)"

tap_done
