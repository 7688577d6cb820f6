#!/bin/bash
# Real distributions (root): Debian 12 with systemd as init, unprivileged
# (<idmap> 0 -> 200000, its own network namespace), on a directory root
# owned by the mapped ids (tests/distro/mkguest.sh, cached outside the
# repository).
#  - it boots to "running" with no failed unit and no ACL error (the
#    tree's ACL ids moved with its owners), in unified cgroup mode:
#    /sys/fs/cgroup is its own cgroup2 tree, delegated (owned by its root
#    on the host), where systemd makes its slices and scopes, while the
#    limits stay enforced from outside;
#  - its console shows a getty login prompt;
#  - virsh shutdown is a clean poweroff by systemd itself (SIGRTMIN+3,
#    chosen because init is systemd): it stops by itself, reason
#    shutdown; virsh reboot boots it again;
#  - destroy leaves nothing (the cgroups it made below its own too);
#  - the same guest without <idmap> is refused at start, naming why;
#  - two guests on clones of one template in a hashify pool, each with an
#    id range of its own, both running: one libc.so.6 inode for both and
#    the template, owned by the host's ids on disk and by root inside;
#    writes land in each one's upper layer under its ids; a clone written
#    under one range is refused under another;
#  - <vserver:idmap/> makes the driver pick a free id range per domain,
#    kept in the definition, freed at undefine; such a guest boots.
# Skipped when the Debian archive cannot be reached and no tree is cached.
set -u
. "$(dirname "$0")/lib.sh"

distro_tree systemd
shift_by=$distro_shift
cache=$distro_cache

inst_setup
base=vserver-instance-$(basename "$inst_dir")
unified=$(cg_v2_root)

distro_xml bw "$tree" > "$inst_dir/bw.xml"
vsh define "$inst_dir/bw.xml" >/dev/null

# inside CMD...: run in the context through the enter helper
inside() { in_ctx bw "$@"; }
sys_state() { inside /bin/systemctl is-system-running; }
sys_settled() { distro_settled bw; }
console() {   # console SECONDS [SEND EXPECT]...
    /usr/bin/python3 "$top/tests/distro/console-expect.py" "$uri" bw "$@" 2>&1
}

# --- without a user namespace systemd cannot run: refused at once
sed -e 's/<name>bw</<name>bwpriv</' -e '/<idmap>/,/<\/idmap>/d' "$inst_dir/bw.xml" \
    > "$inst_dir/bwpriv.xml"
vsh define "$inst_dir/bwpriv.xml" >/dev/null
out=$(vsh start bwpriv 2>&1)
ok $([ "$(ctx_st bwpriv)" = "shut off" ] || [ "$(ctx_st bwpriv)" = "shut off (failed)" ]; echo $?) \
    "a systemd guest without <idmap> is refused at start"
contains "... with an error naming the way out" "needs CAP_SYS_ADMIN: give the context a user namespace with <idmap>" "$out"
ctx_nothing_left "... and nothing of it is left" bwpriv "$tree"
vsh undefine bwpriv >/dev/null

# --- boot
t0=${EPOCHREALTIME/[.,]/}
check "the bookworm systemd guest starts (unprivileged)" -- vsh start bw
p=$(ctx_initpid bw)
wait_until 120 sys_settled
t1=${EPOCHREALTIME/[.,]/}
echo "# start to settled: $(( (t1 - t0) / 1000 )) ms"
equals "systemd reports the system running" "running" "$(sys_state)"
equals "... with no failed unit" "" "$(inside /bin/systemctl --failed --no-legend --plain)"
equals "systemd-tmpfiles set every ACL (the tree's ACL ids are mapped)" "" \
    "$(inside /bin/journalctl -b -q --no-pager -t systemd-tmpfiles | grep ACL)"
equals "its /sys/fs/cgroup is a cgroup2 tree (unified mode)" "cgroup2fs" \
    "$(inside /usr/bin/stat -f -c %T /sys/fs/cgroup)"
equals "... rooted at the context: init is in /init.scope" "0::/init.scope" \
    "$(inside /bin/cat /proc/1/cgroup | tail -n 1)"
cgdir=$unified/$base/bw.libvirt-vserver
equals "on the host the context's cgroup2 group is delegated to its root" \
    "$shift_by:$shift_by" "$(stat -c %u:%g "$cgdir" 2>&1)"
check "... and systemd made its slices there" -- test -d "$cgdir/system.slice"
equals "... while its limits stay the host's (the memory limit, read on the host)" \
    "$(( 512 * 1024 * 1024 ))" "$(ctx_cg_value bw memory.limit_in_bytes)"
if [ -e "$cgdir/memory.max" ]; then
    # a pure cgroup2 host: the controllers come with the delegated group
    ctrls=$(inside /bin/cat /sys/fs/cgroup/cgroup.controllers)
    contains "inside, the group's cgroup2 root offers the memory controller" memory "$ctrls"
    contains "... and pids" pids "$ctrls"
    out=$(inside /bin/sh -c 'echo max > /sys/fs/cgroup/memory.max 2>/dev/null; echo $?')
    ok $([ "$out" != 0 ]; echo $?) "root inside cannot raise its memory limit (memory.max of its group)"
    equals "... which the host still owns" "0:0" "$(stat -c %u:%g "$cgdir/memory.max" 2>&1)"
    echo "# controllers systemd enabled below its group: $(cat "$cgdir/cgroup.subtree_control")"
fi
out=$(inside /bin/sh -c 'echo 1 > /sys/fs/cgroup/cgroup.max.depth 2>/dev/null; echo $?')
ok $([ "$out" != 0 ]; echo $?) "root inside cannot change what the host keeps of its group (cgroup.max.depth)"
equals "... which the host still owns" "0:0" "$(stat -c %u:%g "$cgdir/cgroup.max.depth" 2>&1)"

# --- the console: a getty prompt
out=$(console 30 "" "login:")
rc=$?
ok $rc "the console shows a getty login prompt"
[ $rc -ne 0 ] && printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'

# --- a clean shutdown by systemd itself
t0=${EPOCHREALTIME/[.,]/}
check "virsh shutdown" -- vsh shutdown bw
ctx_wait_state bw "shut off (shutdown)" 60
t1=${EPOCHREALTIME/[.,]/}
equals "systemd powered the context off by itself" "shut off (shutdown)" "$(ctx_st bw)"
echo "# shutdown took $(( (t1 - t0) / 1000 )) ms"
ok $(grep -q 'graceful stop timed out' "$inst_dir/var/log/libvirt/vserver/bw.log"; [ $? -ne 0 ]; echo $?) \
    "... with no SIGKILL from the shim"
ctx_nothing_left "after the shutdown nothing is left (systemd's cgroups too)" bw "$tree"

# --- reboot, then destroy
vsh start bw >/dev/null
p=$(ctx_initpid bw)
wait_until 120 sys_settled
check "virsh reboot" -- vsh reboot bw
wait_until 60 ctx_domid_changed bw "$p"
wait_until 120 sys_settled
equals "after virsh reboot: a new init, running again" "running" "$(sys_state)"
check "destroy" -- vsh destroy bw
ctx_nothing_left "destroy leaves nothing" bw "$tree"

vsh undefine bw >/dev/null

# --- two unprivileged guests on one shared template (a hashify pool): the
# template stays owned by the host's ids on disk and is idmapped for each
# context, whose own writes land in its upper layer under its own ids
pool=$inst_dir/pool
cat > "$inst_dir/pool.xml" <<XML
<pool type='hashify'>
  <name>dp</name>
  <target><path>$pool</path></target>
  <hashify><import devices='skip'/></hashify>
</pool>
XML
vsh pool-define "$inst_dir/pool.xml" >/dev/null && vsh pool-build dp >/dev/null &&
    vsh pool-start dp >/dev/null
printf '<volume><name>bookworm</name></volume>\n' > "$inst_dir/tpl.xml"
vsh vol-create dp "$inst_dir/tpl.xml" >/dev/null
check "the bookworm tarball uploads into a template" -- \
    vsh vol-upload --pool dp bookworm "${tree%-$shift_by}.tar"
check "two guest volumes cloned from it" -- \
    sh -c "virsh -q -c '$uri' vol-clone --pool dp bookworm g1 && virsh -q -c '$uri' vol-clone --pool dp bookworm g2"
for n in 1 2; do
    t=$(( (n + 2) * 100000 ))
    cat > "$inst_dir/v$n.xml" <<XML
<domain type='lxc'>
  <name>v$n</name>
  <memory unit='MiB'>512</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <idmap>
    <uid start='0' target='$t' count='65536'/>
    <gid start='0' target='$t' count='65536'/>
  </idmap>
  <features><privnet/></features>
  <devices>
    <filesystem type='volume'><source pool='dp' volume='g$n'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
XML
    vsh define "$inst_dir/v$n.xml" >/dev/null
done
in_v() { in_ctx "$@"; }
settled_v() { distro_settled "$1"; }
check "v1 (ids 300000+) starts on guest volume g1" -- vsh start v1
check "v2 (ids 400000+) starts on guest volume g2" -- vsh start v2
wait_until 120 settled_v v1
wait_until 120 settled_v v2
equals "v1 is running, no failed unit" "running" "$(in_v v1 /bin/systemctl is-system-running)"
equals "v2 is running, no failed unit" "running" "$(in_v v2 /bin/systemctl is-system-running)"
libc=/usr/lib/x86_64-linux-gnu/libc.so.6
tpl_ino=$(stat -L -c %i "$pool/bookworm/tree$libc" 2>&1)
equals "v1 sees the template's libc.so.6 (one inode: one page cache)" "$tpl_ino" \
    "$(in_v v1 /usr/bin/stat -L -c %i "$libc")"
equals "... and so does v2" "$tpl_ino" "$(in_v v2 /usr/bin/stat -L -c %i "$libc")"
# an unchanged file of a guest volume is a link to its store object, and
# cron skips a crontab with more than one ("NUMBER OF HARD LINKS > 1")
equals "cron's system crontab and cron.d have one link each (else cron skips them)" "1 1" \
    "$(in_v v1 /usr/bin/stat -c %h /etc/crontab /etc/cron.d/e2scrub_all | tr '\n' ' ' | sed 's/ $//')"
equals "inside, the template's files belong to the context's root" "0:0" \
    "$(in_v v1 /usr/bin/stat -L -c %u:%g "$libc")"
equals "on disk the template keeps the host's ids" "0:0" \
    "$(stat -L -c %u:%g "$pool/bookworm/tree$libc")"
in_v v1 /bin/sh -c 'echo mine > /root/written-by-v1' >/dev/null
equals "a file v1 writes lands in its upper layer under its own ids" "300000:300000" \
    "$(stat -c %u:%g "$pool/g1/upper/root/written-by-v1" 2>&1)"
check "... and v2 does not see it" -- test -z "$(in_v v2 /bin/ls /root/written-by-v1 2>/dev/null | grep -v 'No such')"
vsh destroy v1 >/dev/null
# a guest volume written under one range is refused under another
vsh dumpxml --inactive v1 | sed -e 's/300000/500000/g' > "$inst_dir/v1b.xml"
check "v1 redefined with ids 500000+" -- vsh define "$inst_dir/v1b.xml"
out=$(vsh start v1 2>&1)
contains "g1, written under 300000, is refused for another range" \
    "was written under other ids" "$out"
vsh destroy v2 >/dev/null
ctx_nothing_left "v1 and v2 destroyed: nothing left of v2" v2 "$pool"
ctx_nothing_left "... nor of v1" v1 "$pool"
for d in v1 v2; do vsh undefine "$d" >/dev/null; done

# --- id ranges the driver picks: <vserver:idmap/> instead of <idmap>
auto_xml() {   # auto_xml NAME VOLUME
    cat <<XML
<domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>
  <name>$1</name>
  <memory unit='MiB'>512</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <features><privnet/></features>
  <devices>
    <filesystem type='volume'><source pool='dp' volume='$2'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
  <vserver:context><vserver:idmap/></vserver:context>
</domain>
XML
}
uid_target() { vsh dumpxml --inactive "$1" | sed -n "s/.*<uid start='0' target='\([0-9]*\)' count='65536'\/>.*/\1/p"; }
vsh vol-clone --pool dp bookworm g3 >/dev/null
auto_xml v3 g3 > "$inst_dir/v3.xml"; auto_xml v4 g2 > "$inst_dir/v4.xml"
check "a domain with <vserver:idmap/> defines" -- vsh define "$inst_dir/v3.xml"
equals "... and gets the lowest free range of 65536 ids from 1000000, aligned" \
    "1048576" "$(uid_target v3)"
vsh define "$inst_dir/v4.xml" >/dev/null
equals "a second one gets the next range" "1114112" "$(uid_target v4)"
check "v3 starts on its clone with the range it was given" -- vsh start v3
wait_until 120 settled_v v3
equals "... and runs systemd to 'running'" "running" "$(in_v v3 /bin/systemctl is-system-running)"
vsh destroy v3 >/dev/null
vsh undefine v4 >/dev/null
auto_xml v5 g2 > "$inst_dir/v5.xml"
vsh define "$inst_dir/v5.xml" >/dev/null
equals "undefine frees a range: the next domain gets v4's" "1114112" "$(uid_target v5)"
for d in v3 v5; do vsh undefine "$d" >/dev/null; done
for v in g1 g2 g3 bookworm; do vsh vol-delete --pool dp "$v" >/dev/null; done
vsh pool-destroy dp >/dev/null; vsh pool-undefine dp >/dev/null
tap_done
