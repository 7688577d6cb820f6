#!/bin/bash
# virsh save / restore / managedsave with CRIU (root).
#  - A transient context whose init counts into a file, with a TCP
#    connection inside it (a client streaming numbers to a server over
#    127.0.0.1) and a listener, is saved (it stops, reason saved, nothing
#    left behind); the image names its domain (save-image-dumpxml); a
#    restore brings the same processes back: the counter goes on from
#    where it was, the connection carries on, the listener accepts, the
#    console works.
#  - save-image-define edits the image's XML and its resume state;
#    restore --paused / --running; a damaged image restores nothing.
#  - managedsave of a persistent context, across a daemon restart: start
#    resumes from the image and removes it; autostart resumes from it;
#    managedsave-remove, --force-boot, undefine with an image.
# Skipped when the build has no CRIU.
set -u
. "$(dirname "$0")/lib.sh"

if [ ! -x "$BUILDDIR/criu/sbin/criu" ]; then
    echo "1..0 # SKIP CRIU was not built (meson option criu)"
    exit 0
fi

inst_setup
bgpids=
base=$(mktemp -d /var/tmp/vserver-savetest.XXXXXX)
save_cleanup() { kill $bgpids 2>/dev/null; inst_cleanup; rm -rf "$base"; }
trap save_cleanup EXIT
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"

# a counter as init, in a private network namespace of its own, with a
# TCP server (port 7000) fed by a client counting over 127.0.0.1, and a
# listener (port 7001) nobody has connected to yet; the client connects
# once the server listens (state 0A on :1B58 = 7000), waited for up to 5 s
counter='i=0; while :; do i=$((i+1)); echo $i >> /count; echo "tick $i"; sleep 0.2; done'
tcp='sleep 1000000 | nc -l -p 7000 > /recv & nc -l -p 7001 > /recv2 &
w=0; until cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ":1B58 [0-9A-F]*:0000 0A " || [ $w -ge 100 ]; do w=$((w+1)); sleep 0.05; done;
(j=0; while :; do j=$((j+1)); echo $j; sleep 0.2; done) | nc 127.0.0.1 7000 & '
ctx_xml cnt "$rootfs" "$tcp $counter" \
    "<features><privnet/></features>" > "$work/cnt.xml"
check "start the counting context" -- vsh create "$work/cnt.xml"
p=$(ctx_initpid cnt)
wait_until 10 test -s "$rootfs/count"
wait_until 10 test -s "$rootfs/recv"

count_advances() {  # count_advances FILE: FILE grows (3 lines) within 5 s
    lines_grow "$1" 3 5
}
# estab PID: the established TCP connections on port 7000 in PID's netns
estab() {
    nsenter -t "$1" -n ss -Htn state established '( sport = :7000 or dport = :7000 )' 2>/dev/null | wc -l
}
wait_until 10 above 1 estab "$p"
equals "before the save: the connection inside the context (both ends)" 2 "$(estab "$p")"

# console_read: two seconds of the console through the stream API
console_read() {
    timeout 10 /usr/bin/python3 -c '
import sys, threading, time, libvirt
libvirt.virEventRegisterDefaultImpl()
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
c = libvirt.open(sys.argv[1])
st = c.newStream(libvirt.VIR_STREAM_NONBLOCK)
c.lookupByName("cnt").openConsole(None, st, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
got, end = b"", time.time() + 3
while time.time() < end:
    try:
        d = st.recv(4096)
    except libvirt.libvirtError:
        break
    if d == -2:
        time.sleep(0.05)
        continue
    if not d:
        break
    got += d
    if b"tick" in got:
        break
sys.stdout.write(got.decode(errors="replace"))
' "$uri" 2>&1 | tr -d '\r' | tail -c 300
}
ttyout=$(console_read)
contains "before the save: the ticks arrive on the console" "tick" "$ttyout"

img=$work/cnt.save
vsh suspend cnt >/dev/null
out=$(vsh save cnt "$img" 2>&1)
ok $(( ! $? )) "save of a suspended context fails"
contains "... saying to resume it first" "resume it first" "$out"
check "... leaving it as it was (no file, still paused)" -- \
    test ! -e "$img" -a "$(ctx_st cnt)" = "paused (user)"
vsh resume cnt >/dev/null
# CRIU killed while it dumps: the save fails, the context runs on
( while :; do for s in $(ctx_shims cnt); do pkill -KILL -x -P "$s" criu; done; sleep 0.005; done ) &
killer=$!
out=$(vsh save cnt "$img" 2>&1)
rc=$?
kill "$killer"; wait "$killer" 2>/dev/null
ok $(( ! rc )) "save with CRIU killed during the dump fails"
printf "%s\n" "${out:0:200}" | sed "s/^/# /"
same_init_counting() { [ "$(ctx_initpid cnt)" = "$p" ] && counter_grows "$rootfs/count"; }
check "... the context runs on as before (same init, counting)" -- same_init_counting
check "... no save file, no partial one" -- test ! -e "$img" -a ! -e "$img.part"
check "... its TCP connection still carries data" -- count_advances "$rootfs/recv"
out=$(vsh save cnt "$img" 2>&1)
ok $? "virsh save"
[ -n "$out" ] && printf "%s\n" "$out" | head -5 | sed "s/^/# /"
at_save=$(tail -n 1 "$rootfs/count")
equals "after the save the domain is gone (a transient one)" "" "$(vsh list --all --name 2>&1 | grep -x cnt)"
check "its init is gone" -- pid_gone "$p"
check "and its shim" -- ctx_shim_gone cnt
sleep "$still_window"   # a negative check: a fixed window (lib.sh)
equals "nothing counts meanwhile" "$at_save" "$(tail -n 1 "$rootfs/count")"
check "the save file exists" -- test -s "$img"
contains "save-image-dumpxml names the domain" "<name>cnt</name>" "$(vsh save-image-dumpxml "$img" 2>&1)"

out=$(vsh restore "$img" 2>&1)
ok $? "virsh restore"
if [ -n "$out" ]; then
    printf "%s\n" "$out" | head -5 | sed "s/^/# /"
    find "$inst_dir" -name 'cnt.restore.log' -exec grep -h -B3 -E 'Error|BUG' {} + 2>/dev/null | head -20 | sed 's/^/# /'
fi
equals "the domain runs again, restored" "running (restored)" "$(ctx_st cnt)"
np=$(ctx_initpid cnt)
wait_until 10 test "$(tail -n 1 "$rootfs/count")" -gt "$((at_save + 3))"
after=$(tail -n 1 "$rootfs/count")
[ "$after" -gt "$((at_save + 3))" ] &&
    awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { exit bad }' "$rootfs/count"
ok $? "the counter goes on from $at_save (now $after), no gap, no restart"
check "the TCP connection carries on: the server still receives" -- \
    count_advances "$rootfs/recv"
check "... every number once, in order, from 1 (no reconnect)" -- seq_ok "$rootfs/recv"
equals "... over the same established connection (both ends restored)" 2 "$(estab "$np")"
ctx_enter cnt 'echo hello-after-restore | nc 127.0.0.1 7001' >/dev/null 2>&1
wait_until 20 grep -q hello-after-restore "$rootfs/recv2"
check "the listener restored accepts a new connection" -- \
    grep -qx hello-after-restore "$rootfs/recv2"
missing=
for d in $(ctx_cgroups cnt); do
    grep -qx "$np" "$d/cgroup.procs" || missing="$missing $d"
done
equals "the restored init is in each of the context's cgroups" "" "$missing"
equals "... with its memory limit (read back from the cgroup)" 134217728 \
    "$(ctx_cg_value cnt memory.limit_in_bytes)"
equals "the shim is init's parent again" "libvirt_vserver" \
    "$(ps -o comm= -p "$(ps -o ppid= -p "${np:-0}" | tr -d ' ')" 2>/dev/null | cut -c1-15)"

ttyout=$(console_read)
contains "the console is the context's again: its ticks arrive" "tick" "$ttyout"

check "destroy the restored context" -- vsh destroy cnt
ctx_nothing_left "nothing left after it" cnt "$rootfs"

# damage IMAGE OUT: a copy of the save file IMAGE whose memory pages are
# cut in half
damage() {
    local d=$work/damage
    rm -rf "$d" && mkdir "$d" && tar -xf "$1" -C "$d" &&
        for f in "$d"/pages-*.img; do truncate -s $(( $(stat -c %s "$f") / 2 )) "$f"; done &&
        tar -cf "$2" -C "$d" . && rm -rf "$d"
}

# --- save --paused, save-image-define, restore --running / --paused
rm -f "$rootfs/count" "$rootfs/recv" "$rootfs/recv2"
ctx_xml cnt "$rootfs" "$counter" "<features><privnet/></features>" > "$work/cnt.xml"
vsh create "$work/cnt.xml" >/dev/null
wait_until 10 test -s "$rootfs/count"
check "save --paused" -- vsh save --paused cnt "$img"
check "restore of an image saved --paused" -- vsh restore "$img"
equals "... leaves the context paused" "paused (user)" "$(ctx_st cnt)"
a=$(tail -n 1 "$rootfs/count"); sleep "$still_window"   # a fixed window: a negative check
equals "... and frozen: nothing counts" "$a" "$(tail -n 1 "$rootfs/count")"
vsh resume cnt >/dev/null
check "after resume it counts on" -- count_advances "$rootfs/count"
check "save (running)" -- vsh save cnt "$img"
vsh save-image-dumpxml "$img" | sed 's|<name>cnt</name>|<name>cnt</name><description>edited in the image</description>|' > "$work/edit.xml"
check "save-image-define --paused with an edited description" -- \
    vsh save-image-define "$img" "$work/edit.xml" --paused
contains "save-image-dumpxml shows the new XML" "edited in the image" "$(vsh save-image-dumpxml "$img")"
sum=$(sha256sum < "$img")
sed 's|<name>cnt</name>|<name>other</name>|' "$work/edit.xml" > "$work/other.xml"
out=$(vsh save-image-define "$img" "$work/other.xml" 2>&1)
ok $(( ! $? )) "save-image-define with another domain's XML fails"
contains "... naming the two domains" "describes domain 'other', the image holds 'cnt'" "$out"
equals "... and leaves the image as it was" "$sum" "$(sha256sum < "$img")"
check "restore --running of the image now marked paused" -- vsh restore --running "$img"
equals "... runs it" "running (restored)" "$(ctx_st cnt)"
contains "... with the XML defined into the image" "edited in the image" "$(vsh dumpxml cnt)"
check "... counting" -- count_advances "$rootfs/count"
check "save once more" -- vsh save cnt "$img"
damage "$img" "$work/bad.save"
out=$(vsh restore "$work/bad.save" 2>&1)
ok $(( ! $? )) "restore of an image with damaged memory pages fails"
contains "... before CRIU reads it: the image is damaged (its manifest)" "is damaged: 'pages-" "$out"
equals "... and no domain is left" "" "$(vsh list --all --name | grep -x cnt)"
ctx_nothing_left "... nor anything of the context" cnt "$rootfs"
# CRIU killed during the restore: nothing may stay, not even CRIU's own
# mounts (its cgroup yard below the unpacked image)
( while :; do for s in $(ctx_shims cnt); do pkill -KILL -x -P "$s" criu; done; sleep 0.005; done ) &
killer=$!
bgpids="$bgpids $killer"
out=$(vsh restore "$img" 2>&1)
rc=$?
kill "$killer"; wait "$killer" 2>/dev/null
ok $(( ! rc )) "restore with CRIU killed half way fails"
printf "%s\n" "${out:0:200}" | sed "s/^/# /"
equals "... no domain is left" "" "$(vsh list --all --name | grep -x cnt)"
ctx_nothing_left "... nor anything of the context" cnt "$rootfs"
equals "... no mount below the daemon's run dir, in any namespace" "" "$(ctx_mounts "$inst_dir/run")"
equals "... and no unpacked image" "" "$(ls "$inst_dir/run/libvirt/vserver" | grep '^restore\.')"
check "the intact image still restores" -- vsh restore "$img"
check "... and destroy it" -- vsh destroy cnt

# --- managedsave of a persistent context, across daemon restarts
rm -f "$rootfs/count"
ctx_xml mcnt "$rootfs" "$counter" "<features><privnet/></features>" > "$work/mcnt.xml"
managed=$inst_dir/var/lib/libvirt/vserver/save/mcnt.save
msave() {
    vsh managedsave mcnt >/dev/null && ctx_state_is mcnt "shut off (saved)" && test -s "$managed"
}
has_image() { vsh dominfo mcnt | grep -q "^Managed save: *yes"; }
vsh define "$work/mcnt.xml" >/dev/null
vsh start mcnt >/dev/null
wait_until 10 test -s "$rootfs/count"
check "managedsave: the context stops (saved) into its image" -- msave
check "dominfo says it has a managed save image" -- has_image
equals "list --managed-save lists it" "mcnt" "$(vsh list --all --managed-save --name)"
contains "managedsave-dumpxml shows its XML" "<name>mcnt</name>" "$(vsh managedsave-dumpxml mcnt)"
out=$(vsh undefine mcnt 2>&1)
ok $(( ! $? )) "undefine while the image exists fails"
contains "... saying why" "managed save image exists" "$out"
at=$(tail -n 1 "$rootfs/count")
"$instance" stop "$inst_dir" >/dev/null && "$instance" start "$inst_dir" >/dev/null
check "after a daemon restart it still has the image" -- has_image
sleep "$still_window"   # a fixed window: a negative check
equals "... and nothing counted meanwhile" "$at" "$(tail -n 1 "$rootfs/count")"
check "start resumes from the image" -- vsh start mcnt
equals "... restored, not booted" "running (restored)" "$(ctx_st mcnt)"
wait_until 5 above "$at" counter_value "$rootfs/count"
check "... the counter goes on with no gap and no restart" -- \
    sh -c "test \$(tail -n 1 '$rootfs/count') -gt $at && awk 'NR != \$1 { exit 1 }' '$rootfs/count'"
check "... and the image is gone" -- test ! -e "$managed" -a -z "$(has_image && echo y)"

vsh autostart mcnt >/dev/null
check "managedsave of an autostarted context" -- msave
at=$(tail -n 1 "$rootfs/count")
"$instance" stop "$inst_dir" >/dev/null && "$instance" start "$inst_dir" >/dev/null
check "the daemon's autostart resumes it from the image" -- ctx_wait_state mcnt "running (restored)"
wait_until 5 above "$at" counter_value "$rootfs/count"
check "... counting on from $at, no gap" -- \
    sh -c "test \$(tail -n 1 '$rootfs/count') -gt $at && awk 'NR != \$1 { exit 1 }' '$rootfs/count'"
check "... image gone" -- test ! -e "$managed"
vsh autostart --disable mcnt >/dev/null

check "managedsave again" -- msave
damage "$managed" "$work/mbad.save" && cp "$managed" "$work/mgood.save" && cp "$work/mbad.save" "$managed"
out=$(vsh start mcnt 2>&1)
ok $(( ! $? )) "start from a damaged managed image fails"
contains "... saying it is damaged" "is damaged" "$out"
equals "... the domain stays shut off" "shut off" "$(vsh domstate mcnt)"
check "... keeping the image" -- has_image
ctx_nothing_left "... with nothing of the context left" mcnt "$rootfs"
cp "$work/mgood.save" "$managed"
check "managedsave-remove" -- vsh managedsave-remove mcnt
check "... removes the image" -- test ! -e "$managed" -a -z "$(has_image && echo y)"
rm -f "$rootfs/count"
check "start then boots afresh" -- vsh start mcnt
equals "... booted" "running (booted)" "$(ctx_st mcnt)"
wait_until 10 test -s "$rootfs/count"
check "managedsave once more" -- msave
check "start --force-boot ignores and removes the image" -- vsh start --force-boot mcnt
equals "... booted" "running (booted)" "$(ctx_st mcnt)"
check "... image gone" -- test ! -e "$managed"
check "managedsave, then" -- msave
check "undefine --managed-save" -- vsh undefine --managed-save mcnt
check "... removes domain and image" -- \
    test ! -e "$managed" -a -z "$(vsh list --all --name | grep -x mcnt)"
vsh create "$work/cnt.xml" >/dev/null
out=$(vsh managedsave cnt 2>&1)
ok $(( ! $? )) "managedsave of a transient context fails"
contains "... saying why" "cannot do managed save for transient domain" "$out"
check "... and leaves it running" -- ctx_state_is cnt "running (booted)"
vsh destroy cnt >/dev/null
ctx_nothing_left "nothing of mcnt is left" mcnt "$rootfs"

# --- a veth (type='ethernet': host end with an address) and a TCP client
# on the host side of it, connected to a server in the context
rm -f "$rootfs/count" "$rootfs/recvx"
ctx_xml vcnt "$rootfs" "sleep 1000000 | nc -l -p 7002 > /recvx & $counter" "" "
    <interface type='ethernet'>
      <target dev='vsvsave0'/>
      <source><ip address='10.79.0.1' prefix='24'/></source>
      <ip address='10.79.0.2' prefix='24'/>
    </interface>" > "$work/vcnt.xml"
vsh create "$work/vcnt.xml" >/dev/null
wait_until 10 test -s "$rootfs/count"
wait_until 10 ctx_listening "$(ctx_initpid vcnt)" 7002
(j=0; while :; do j=$((j+1)); echo $j; sleep 0.2; done) | busybox nc 10.79.0.2 7002 &
client=$!
bgpids="$bgpids $client"
wait_until 10 test -s "$rootfs/recvx"
host_end() { ip -o addr show dev vsvsave0 2>/dev/null | awk '$3 == "inet" {print $4}'; }
equals "before the save: the host end has its address" "10.79.0.1/24" "$(host_end)"
check "save of a context with a veth" -- vsh save vcnt "$img"
check "... its host end is gone with it" -- test -z "$(ip -o link show dev vsvsave0 2>/dev/null)"
check "restore" -- vsh restore "$img"
equals "... the host end is back, with its address" "10.79.0.1/24" "$(host_end)"
check "... and up" -- sh -c "ip -o link show dev vsvsave0 | grep -q 'state UP'"
equals "... with the MAC the driver gave it" "$(vsh domiflist vcnt | awk '{print "fe" substr($5, 3)}')" \
    "$(cat /sys/class/net/vsvsave0/address 2>/dev/null)"
equals "inside, eth0 has its address again" "10.79.0.2/24" \
    "$(nsenter -t "$(ctx_initpid vcnt)" -n ip -o addr show dev eth0 | awk '$3 == "inet" {print $4}')"
check "the connection from the host carries on across save and restore" -- count_advances "$rootfs/recvx"
check "... every number once, in order (no reconnect)" -- seq_ok "$rootfs/recvx"
check "... the client never gave up" -- pid_alive "$client"
check "the counter goes on" -- seq_ok "$rootfs/count"
kill "$client" 2>/dev/null
check "destroy it" -- vsh destroy vcnt
check "... its host end goes" -- test -z "$(ip -o link show dev vsvsave0 2>/dev/null)"
ctx_nothing_left "... and nothing is left" vcnt "$rootfs"

# --- an overlay root (a guest volume of a hashify pool)
rm -f "$rootfs/count" "$rootfs/recv" "$rootfs/recv2" "$rootfs/recvx"
tar -czf "$base/root.tar.gz" -C "$rootfs" .
printf "<pool type='hashify'><name>sp</name><target><path>%s</path></target></pool>" \
    "$base/pool" > "$work/pool.xml"
vsh pool-define "$work/pool.xml" >/dev/null && vsh pool-build sp >/dev/null &&
    vsh pool-start sp >/dev/null &&
    vsh vol-create sp <(echo "<volume><name>T</name></volume>") >/dev/null &&
    vsh vol-upload --pool sp T "$base/root.tar.gz" >/dev/null &&
    vsh vol-clone --pool sp T G >/dev/null
ok $? "a template volume T and its guest volume G"
ctx_xml ocnt "$rootfs" "$tcp $counter" "<features><privnet/></features>" |
    sed "s|<filesystem type='mount'><source dir='$rootfs'/>|<filesystem type='volume'><source pool='sp' volume='G'/>|" \
    > "$work/ocnt.xml"
vsh create "$work/ocnt.xml" >/dev/null
inside() { ctx_enter ocnt "$1" 2>/dev/null; }
wait_until 10 inside "test -s /count && test -s /recv"
check "save of a context on an overlay root" -- vsh save ocnt "$img"
check "restore" -- vsh restore "$img"
at=$(inside 'tail -n 1 /count')
wait_until 5 above "$((at + 2))" inside 'tail -n 1 /count'
equals "the counter in the overlay goes on, no gap, no restart" "ok" \
    "$(inside 'awk "NR != \$1 { bad = 1 } END { print (bad || NR < 5) ? \"bad \" NR : \"ok\" }" /count')"
a=$(inside 'wc -l < /recv')
wait_until 10 above "$((a + 2))" inside 'wc -l < /recv'
b=$(inside 'wc -l < /recv')
ok $(( ! (b > a + 2) )) "the TCP connection in it carries on ($a then $b numbers received)"
equals "... both ends established" 2 "$(estab "$(ctx_initpid ocnt)")"
check "... every number once, in order" -- inside 'awk "NR != \$1 { exit 1 }" /recv' 
check "the template has no trace of it" -- test ! -e "$base/pool/T/tree/count"
equals "no overlay of it is mounted in the host's namespace" "" \
    "$(grep "$base" /proc/self/mountinfo)"
check "destroy it" -- vsh destroy ocnt
ctx_nothing_left "... and nothing is left" ocnt "$base/pool"

# bad input
echo "not a save image" > "$work/bogus"
out=$(vsh restore "$work/bogus" 2>&1)
ok $(( ! $? )) "restore of a file that is not a save image fails"
contains "... saying so" "is not a libvirt-vserver save image" "$out"

inst_cleanup
tap_done
