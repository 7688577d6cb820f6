#!/bin/bash
# virt-manager (Debian's) against a private virtvserverd, scripted through
# AT-SPI (dogtail) under Xvfb: the connection, its details pages
# (overview, virtual networks, storage with a hashify pool and its
# volumes) without an error dialog, Run of a busybox context on a guest
# volume of that pool, its text console (shell prompt, a command), the CPU
# and memory graphs under load, Shut Down (tests/virt-manager-ui.py).
# Screenshots go to BUILDDIR/meson-logs/virt-manager/, with virt-manager's
# debug log.  Xvfb, the session bus (and the accessibility bus it starts)
# and virt-manager are killed on exit, also when the test is killed.
set -u
. "$(dirname "$0")/lib.sh"

for p in virt-manager:virt-manager Xvfb:xvfb dbus-daemon:dbus import:imagemagick \
         /usr/libexec/at-spi-bus-launcher:at-spi2-core; do
    if ! command -v "${p%%:*}" >/dev/null 2>&1; then
        echo "1..0 # SKIP ${p%%:*} is not installed (package ${p#*:}, scripts/install-deps.sh)"
        exit 0
    fi
done
if ! /usr/bin/python3 -c 'import dogtail.config, dogtail.rawinput' >/dev/null 2>&1; then
    echo "1..0 # SKIP dogtail is not importable by /usr/bin/python3 (package python3-dogtail, scripts/install-deps.sh)"
    exit 0
fi

shots=$BUILDDIR/meson-logs/virt-manager
mkdir -p "$shots"
rm -f "$shots"/*.png "$shots"/*.log

pools=
xvfb_pid=
bus_pid=
vmm_pid=
ui_pid=

# kill PID and wait a bounded time for it; SIGKILL if it lingers
stop_pid() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || return 0
    wait_until 5 pid_gone "$1" || kill -KILL "$1" 2>/dev/null
}

vmm_cleanup() {
    local p
    stop_pid "$ui_pid"
    stop_pid "$vmm_pid"
    # the session bus forked into a session of its own; the accessibility
    # bus launcher, its bus and the registry it activated are in it
    if [ -n "$bus_pid" ]; then
        for p in $(ps -o pid= -s "$bus_pid" 2>/dev/null); do
            stop_pid "$p"
        done
    fi
    stop_pid "$xvfb_pid"
    inst_cleanup
    [ -n "$pools" ] && rm -rf "$pools"
}

inst_setup
trap vmm_cleanup EXIT
work=$inst_dir/work
gui=$inst_dir/gui
mkdir -p "$work" "$gui/home" "$gui/runtime"
chmod 700 "$gui/runtime"

# --- a hashify pool (on /var/tmp, like a real store) with a busybox
# template and a guest volume of it; the context runs on the guest volume
pools=$(mktemp -d /var/tmp/vserver-vmmtest.XXXXXX)
mkrootfs "$work/rootfs"
tar --numeric-owner -czf "$work/busybox.tar.gz" -C "$work/rootfs" .
cat > "$work/pool.xml" <<XML
<pool type='hashify'>
  <name>vmm</name>
  <target><path>$pools/vmm</path></target>
</pool>
XML
echo "<volume><name>busybox</name></volume>" > "$work/busybox.vol.xml"
check "a hashify pool vmm: defined, built, started" -- \
    sh -c "virsh -q -c '$uri' pool-define '$work/pool.xml' && virsh -q -c '$uri' pool-build vmm &&
           virsh -q -c '$uri' pool-start vmm"
check "a template volume busybox imported from a tarball" -- \
    sh -c "virsh -q -c '$uri' vol-create vmm '$work/busybox.vol.xml' &&
           virsh -q -c '$uri' vol-upload --pool vmm busybox '$work/busybox.tar.gz'"
check "a guest volume web1 cloned from it" -- vsh vol-clone --pool vmm busybox web1
cat > "$work/web1.xml" <<XML
<domain type='lxc'>
  <name>web1</name>
  <memory unit='MiB'>128</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <devices>
    <filesystem type='volume'><source pool='vmm' volume='web1'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
XML
check "a busybox context web1 on the guest volume, defined" -- vsh define "$work/web1.xml"

# --- X server, session bus, virt-manager
export HOME=$gui/home XDG_RUNTIME_DIR=$gui/runtime
export XDG_CONFIG_HOME=$gui/home/.config XDG_CACHE_HOME=$gui/home/.cache
export GSETTINGS_BACKEND=memory
unset NO_AT_BRIDGE WAYLAND_DISPLAY
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$gui/display" \
    >"$gui/xvfb.log" 2>&1 &
xvfb_pid=$!
if ! wait_until 20 test -s "$gui/display"; then
    echo "Bail out! Xvfb did not come up: $(tail -n 3 "$gui/xvfb.log")"
    exit 1
fi
export DISPLAY=:$(head -n 1 "$gui/display")
dbus-daemon --session --fork --print-address=3 --print-pid=4 \
    3>"$gui/bus.addr" 4>"$gui/bus.pid" 2>"$gui/bus.log"
bus_pid=$(cat "$gui/bus.pid" 2>/dev/null)
if [ -z "$bus_pid" ] || [ ! -s "$gui/bus.addr" ]; then
    echo "Bail out! no session bus: $(cat "$gui/bus.log")"
    exit 1
fi
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$gui/bus.addr")
export DBUS_SESSION_BUS_ADDRESS

# virt-manager's own settings from a key file (its --test-options hook):
# memory polling on (off by default), one update a second
cat > "$gui/settings.ini" <<'INI'
[org/virt-manager/virt-manager/stats]
enable-memory-poll=true
update-interval=1
INI
vmmlog=$shots/virt-manager.log
virt-manager --debug --no-fork --test-options="gsettings-keyfile=$gui/settings.ini" \
    --connect "$uri" >"$vmmlog" 2>&1 &
vmm_pid=$!
ok 0 "Xvfb on $DISPLAY, a session bus, virt-manager --connect (pid $vmm_pid)"

# --- the UI steps
t0=$SECONDS
# in the background: "wait" returns at once when the test is signalled
# (timeout(1) puts its child in a process group of its own, which the
# session's SIGTERM does not reach; vmm_cleanup stops it)
timeout -k 5 150 /usr/bin/python3 "$top/tests/virt-manager-ui.py" "$uri" web1 vmm "$shots" \
    >"$work/ui.out" 2>"$work/ui.err" &
ui_pid=$!
wait "$ui_pid"
ui_rc=$?
ui_pid=
n_before=$tap_n
while IFS= read -r line; do
    case $line in
        "ok - "*) ok 0 "${line#ok - }" ;;
        "not ok - "*) ok 1 "${line#not ok - }" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$work/ui.out"
if [ "$ui_rc" -ne 0 ] || [ "$tap_n" -eq "$n_before" ]; then
    ok 1 "virt-manager-ui.py ran to its end (exit $ui_rc after $((SECONDS - t0)) s)"
    sed 's/^/# /' "$work/ui.err" | tail -n 30
else
    echo "# the UI steps took $((SECONDS - t0)) s"
fi
wait_until 10 pid_gone "$vmm_pid"
ok $? "virt-manager exited"

# --- its debug log: what it tried and was refused
tb=$(grep -c '^Traceback' "$vmmlog")
known=$(grep -c "Could not define storage pool: unsupported configuration: pool type 'dir'" "$vmmlog")
grep -E "Unable to list all networks|Building default pool failed|ERROR \(" "$vmmlog" |
    cut -c1-400 | sed 's/^/# virt-manager.log: /'
# the one traceback expected: the 'default' dir pool it offers to create
equals "virt-manager logged no traceback but the refused 'default' dir pool" \
    "$([ "$known" -gt 0 ] && echo 1 || echo 0)" "$tb"
equals "virt-manager logged no ERROR" "" "$(grep 'ERROR (' "$vmmlog" | head -n 5)"

ctx_nothing_left "nothing of web1 is left" web1 "$pools/vmm/web1"
tap_done
