#!/bin/bash
# Real contexts (root): what a context sees and what it cannot do.  Most
# probes run in the init's own process tree (init is a script that writes
# its findings to a bind-mounted host dir), where nothing else joins.  Every escape is tried, not just
# the setting that should prevent it read back.
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"
base=vserver-instance-$(basename "$inst_dir")
marker=$((900000 + $$ % 99999)).5
host_hostname=$(hostname)

extra_cleanup() {
    [ -n "${host_sleep:-}" ] && kill "$host_sleep" 2>/dev/null
    ip link del vsprobe0 2>/dev/null
    rmdir "/etc/vs-evil-$$" "/etc/vs-evil2-$$" 2>/dev/null
    [ "$(hostname)" = "$host_hostname" ] || hostname "$host_hostname"
    return 0
}
trap 'extra_cleanup; inst_cleanup' EXIT

# a static helper for the escapes busybox has no applet for (built by
# meson: tests/context-escape.c)
escape_bin=$rootfs/bin/context-escape
have_escape=0
if [ -x "${CONTEXT_ESCAPE:-}" ] && cp "$CONTEXT_ESCAPE" "$escape_bin"; then
    have_escape=1
else
    echo "# no static tests/context-escape helper (CONTEXT_ESCAPE='${CONTEXT_ESCAPE:-}')"
fi

# a host device the host's root can open but a context must not, and a
# writable sysfs attribute (only ever opened for writing, never written)
hostdev=
for f in loop-control fuse autofs btrfs-control net/tun; do
    if [ -c "/dev/$f" ] && dd if="/dev/$f" of=/dev/null bs=1 count=0 2>/dev/null; then
        hostdev=$f
        break
    fi
done
sysfile=/sys/kernel/mm/transparent_hugepage/enabled
[ -w "$sysfile" ] || sysfile=$(find /sys/kernel -maxdepth 3 -type f -perm -200 2>/dev/null | head -n 1)

# a host process with a unique argument, to be looked for inside
sleep "$marker" &
host_sleep=$!

# --- the probe: runs as the init of "iso"; one result per case in /out
cat > "$rootfs/probe.sh" <<EOF
r() { n=\$1; shift; ( "\$@" ) > /out/\$n.out 2>&1; echo \$? > /out/\$n.rc; }
r pid1 sh -c 'tr "\\0" " " < /proc/1/cmdline'
r ps ps -o pid,args
r hostname hostname
r mountinfo cat /proc/self/mountinfo
r sys_ro touch /sys/vserver-probe
r procsys_ro sh -c 'echo evil > /proc/sys/kernel/hostname'
r mknod_blk mknod /tmp/sda b 8 0
r sysrq_exists test -e /proc/sysrq-trigger
r sysrq sh -c 'echo h > /proc/sysrq-trigger'
r capbnd sh -c 'grep CapBnd /proc/self/status | cut -f2'
r insmod sh -c 'printf garbage > /tmp/x.ko; insmod /tmp/x.ko'
r release_agent sh -c 'mkdir -p /mnt/cg && mount -t cgroup -o memory cgroup /mnt/cg && echo /tmp/x > /mnt/cg/release_agent'
umount /mnt/cg 2>/dev/null
r root_list sh -c 'ls -a / | sort'
r root_walk sh -c 'cd /../../.. && pwd && ls -a . | sort'
r proc1root sh -c 'ls -a /proc/1/root/ | sort'
r dotdot sh -c 'stat -c %d:%i / /.. /proc/1/root/..'
r dev sh -c 'ls -A /dev | sort | tr "\\n" " "'
r ro_bind touch /mnt/ro/probe
r ram_df sh -c 'df -k /mnt/ram | tail -n 1'
r extra cat /mnt/extra/marker
r netadmin ip link add vsprobe0 type dummy
r uts sh -c 'hostname evil-probe && hostname'
r procsys_core sh -c ': >> /proc/sys/kernel/core_pattern'
r sys_attr sh -c ': >> $sysfile'
r devopen_before sh -c 'mkdir -p /mnt/d0 && mount -t devtmpfs devtmpfs /mnt/d0 && dd if=/mnt/d0/$hostdev of=/dev/null bs=1 count=0'
. /escapes.sh
EOF

# the escapes, shared by "iso" and its <idmap> twin; each must fail.
# "writable" means open(O_WRONLY) works (": >>"; nothing is written): the
# busybox test -w says yes to root without asking the kernel.
cat > "$rootfs/escapes.sh" <<EOF
r() { n=\$1; shift; ( "\$@" ) > /out/\$n.out 2>&1; echo \$? > /out/\$n.rc; }
r esc_handle /bin/context-escape handle /
r esc_newproc sh -c 'mkdir -p /tmp/p && mount -t proc proc /tmp/p && : >> /tmp/p/sys/kernel/core_pattern'
r esc_umount_procsys sh -c 'umount /proc/sys || umount -l /proc/sys; : >> /proc/sys/kernel/core_pattern'
r esc_sysfs_rw sh -c 'mount -o remount,rw /sys; : >> $sysfile'
r esc_newsysfs sh -c 'mkdir -p /tmp/s && mount -t sysfs sysfs /tmp/s && : >> /tmp/s${sysfile#/sys}'
r esc_ro_bind sh -c 'mount -o remount,rw,bind /mnt/ro; touch /mnt/ro/escaped'
r esc_memlimit sh -c 'mkdir -p /tmp/cgm && mount -t cgroup -o memory cgroup /tmp/cgm && echo 9223372036854771712 > /tmp/cgm/memory.limit_in_bytes'
r esc_memlimit_v2 sh -c 'mount -o remount,rw /sys/fs/cgroup 2>/dev/null; echo max > /sys/fs/cgroup/memory.max'
r esc_devices_v1 sh -c 'mkdir -p /tmp/cgd && mount -t cgroup -o devices cgroup /tmp/cgd && echo a > /tmp/cgd/devices.allow'
r esc_bpf sh -c 'mkdir -p /tmp/c2 && mount -t cgroup2 none /tmp/c2 && /bin/context-escape bpf-detach /tmp/c2'
r esc_devopen sh -c 'mkdir -p /tmp/d && mount -t devtmpfs devtmpfs /tmp/d && dd if=/tmp/d/$hostdev of=/dev/null bs=1 count=0'
touch /out/done
exec sleep 100000
EOF

rootfs_u=$work/rootfs-u
cp -a "$rootfs" "$rootfs_u"
mkdir -p "$rootfs_u/out" "$rootfs_u/mnt/ro"

out=$work/out
mkdir -p "$out" "$work/robind" "$work/extra"
echo "extra-$$" > "$work/extra/marker"
memlimit=$((100 * 1024 * 1024))
ctx_xml iso "$rootfs" "exec /bin/sh /probe.sh" \
    "<memtune><hard_limit unit='KiB'>$((memlimit / 1024))</hard_limit></memtune>" \
    "$(ctx_bind "$out" /out)$(ctx_bind "$work/robind" /mnt/ro ro)$(ctx_bind "$work/extra" /mnt/extra)
     <filesystem type='ram'><source usage='16384' units='KiB'/><target dir='/mnt/ram'/></filesystem>" \
    > "$work/iso.xml"

release_agent_before=$(cat /sys/fs/cgroup/memory/release_agent 2>/dev/null)
check "start the probing context" -- vsh create "$work/iso.xml"
iso_pid=$(vsh domid iso)
wait_until 20 test -e "$out/done" || echo "# the probe did not finish: $(ls "$out")"

res() { cat "$out/$1.out" 2>/dev/null; }
rc() { cat "$out/$1.rc" 2>/dev/null || echo none; }
# refused DESC CASE ERROR-TEXT: the probe CASE failed with ERROR-TEXT
refused() {
    if [ "$(rc "$2")" = 0 ]; then
        ok 1 "$1"; echo "# it worked: $(res "$2" | head -n 5 | tr '\n' '|')"
    else
        contains "$1" "$3" "$(res "$2")"
    fi
}
# failed DESC CASE: the probe CASE did not succeed (any reason)
failed() {
    if [ "$(rc "$2")" = 0 ]; then
        ok 1 "$1"; res "$2" | head -n 10 | sed 's/^/#   /'
    else
        ok 0 "$1"
    fi
}

# --- 1. what the context sees
equals "PID 1 inside is the context's init" "/bin/sh /probe.sh " "$(res pid1)"
ps_out=$(res ps)
contains "ps inside works and shows init as 1" "    1 /bin/sh /probe.sh" "$ps_out"
case "$ps_out" in
    *"$marker"*) ok 1 "host processes are invisible inside"; echo "# saw sleep $marker" ;;
    *) ok 0 "host processes are invisible inside" ;;
esac
nproc_in=$(printf '%s\n' "$ps_out" | grep -c '^ *[0-9]')
[ "$nproc_in" -le 4 ]; ok $? "only the context's own processes are listed ($nproc_in)"
equals "hostname inside is the domain name" "iso" "$(res hostname)"
equals "the host's hostname is untouched by 'hostname' inside" "$host_hostname" "$(hostname)"
# without a user namespace the context has no sys_admin: sethostname is
# refused (the hostname is set by the supervisor before init starts)
refused "hostname cannot be changed inside (no sys_admin)" uts "Operation not permitted"

mounts_in=$(res mountinfo | awk '{print $5}' | LC_ALL=C sort | tr '\n' ' ')
# plus the /proc entries made read-only, where this kernel has them
proc_covers=
for p in bus fs irq sysrq-trigger; do
    [ -e "/proc/$p" ] && proc_covers="$proc_covers /proc/$p"
done
# and the masks over the host's kernel and hardware files (the shim's
# maskedFiles and maskedDirs), where this host has them
for p in /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list \
         /proc/timer_stats /proc/sched_debug /proc/acpi /proc/asound /proc/scsi \
         /sys/firmware /sys/devices/virtual/powercap; do
    [ -e "$p" ] && proc_covers="$proc_covers $p"
done
equals "the mount table inside is exactly the context's own" \
    "$(printf '%s\n' / /dev /dev/console /dev/pts /dev/shm /mnt/extra /mnt/ram /mnt/ro /out /proc /proc/sys /sys $proc_covers | LC_ALL=C sort | tr '\n' ' ')" \
    "$mounts_in"
case "$mounts_in" in
    *"$inst_dir"*|*/work*|*/tmp/vserver-test*) ok 1 "no host path is a mount point inside"; echo "# $mounts_in" ;;
    *) ok 0 "no host path is a mount point inside" ;;
esac
root_src=$(res mountinfo | awk '$5 == "/" {print $4}')
echo "# informational: mountinfo's root field of / is '$root_src' (the bind source's path in its file system, as with every bind-mounted root)"

refused "/sys is read-only (touch gets EROFS)" sys_ro "Read-only file system"
refused "/proc/sys is read-only (write to kernel/hostname gets EROFS)" procsys_ro "Read-only file system"
if [ -e /proc/sysrq-trigger ]; then
    refused "/proc/sysrq-trigger is not writable" sysrq "Read-only file system"
else
    equals "/proc/sysrq-trigger: absent on this kernel, absent inside too" 1 "$(rc sysrq_exists)"
fi
refused "mknod of a block device from init's tree is denied" mknod_blk "Operation not permitted"
if [ -e /proc/modules ]; then
    refused "module loading from init's tree is denied" insmod "Operation not permitted"
else
    failed "module loading from init's tree fails (kernel without module support)" insmod
    echo "# insmod said: $(res insmod)"
fi
failed "cgroup release_agent cannot be written from a cgroup mount inside" release_agent
echo "# release_agent attempt said: $(res release_agent | tail -n 1)"
equals "the host's memory release_agent is unchanged" "$release_agent_before" \
    "$(cat /sys/fs/cgroup/memory/release_agent 2>/dev/null)"

root_list=$(res root_list)
contains "/ inside is the rootfs (has probe.sh)" "probe.sh" "$root_list"
equals "cd /../../.. stays at the context's root" "/
$root_list" "$(res root_walk)"
equals "/proc/1/root is the context's root" "$root_list" "$(res proc1root)"
dd_ids=$(res dotdot | sort -u | wc -l)
equals "/, /.. and /proc/1/root/.. are one inode" 1 "$dd_ids"
equals "/dev holds exactly the minimal nodes" \
    "console fd full null ptmx pts random shm stderr stdin stdout tty urandom zero " "$(res dev)"
refused "net_admin is gone without a private network (ip link add fails)" netadmin "Operation not permitted"

# --- mounts of the definition
refused "a <readonly/> bind mount gets EROFS" ro_bind "Read-only file system"
check "the read-only bind source on the host got no file" -- test ! -e "$work/robind/probe"
ram_total=$(res ram_df | awk '{print $2}')
equals "type='ram' is a tmpfs of the requested 16 MiB (df)" 16384 "$ram_total"
contains "type='ram' mount options carry the size" "size=16384k" \
    "$(res mountinfo | awk '$5 == "/mnt/ram"')"
equals "an extra bind mount shows the host dir" "extra-$$" "$(res extra)"

# --- escapes
refused "a host sysctl is not writable (open for writing gets EROFS)" procsys_core "Read-only file system"
if [ -n "$sysfile" ]; then
    refused "a host sysfs attribute is not writable ($sysfile, EROFS)" sys_attr "Read-only file system"
fi
if [ -n "$hostdev" ]; then
    failed "a host device (/dev/$hostdev) is closed to the context (devtmpfs mount inside)" \
        devopen_before
fi

# escape_cases PREFIX DOMAIN ROBIND: the results of escapes.sh in $out
escape_cases() {
    local pre=$1 dom=$2 robind=$3 c
    if [ "$have_escape" = 1 ]; then
        failed "${pre}open_by_handle_at cannot reach the host's file system root (CAP_DAC_READ_SEARCH)" esc_handle
    else
        echo "# SKIP open_by_handle_at escape: no static helper"
    fi
    failed "${pre}a fresh procfs mount inside does not make host sysctls writable" esc_newproc
    failed "${pre}unmounting /proc/sys does not make host sysctls writable" esc_umount_procsys
    if [ -n "$sysfile" ]; then
        failed "${pre}remounting /sys rw does not make host sysfs writable ($sysfile)" esc_sysfs_rw
        failed "${pre}a fresh sysfs mount inside is not writable" esc_newsysfs
    fi
    failed "${pre}a <readonly/> bind mount cannot be remounted rw from inside" esc_ro_bind
    check "${pre}the read-only bind source got no file after the remount attempt" -- test ! -e "$robind/escaped"
    if [ -d /sys/fs/cgroup/memory/"$base" ]; then
        failed "${pre}the context cannot raise its memory limit through a cgroup mount" esc_memlimit
        equals "${pre}the memory limit read on the host is still the domain's" "$memlimit" \
            "$(cat /sys/fs/cgroup/memory/"$base"/"$dom".libvirt-vserver/memory.limit_in_bytes)"
    fi
    # a pure cgroup2 host: the context's own group, limits included, is
    # the root of its /sys/fs/cgroup
    if [ -e "$(ctx_cg_dir "$dom" memory)/memory.max" ]; then
        failed "${pre}the context cannot raise its memory limit through its cgroup2 tree (memory.max)" esc_memlimit_v2
        equals "${pre}memory.max read on the host is still the domain's" "$memlimit" \
            "$(cat "$(ctx_cg_dir "$dom" memory)/memory.max")"
    fi
    if [ -d /sys/fs/cgroup/devices/"$base" ]; then
        failed "${pre}the context cannot widen its devices cgroup (devices.allow)" esc_devices_v1
        equals "${pre}devices.list read on the host allows only the minimal nodes" "" \
            "$(grep -v -x -e 'c 1:[35789] rwm' -e 'c 5:[012] rwm' -e 'c 136:\* rwm' \
                 /sys/fs/cgroup/devices/"$base"/"$dom".libvirt-vserver/devices.list | tr '\n' '|')"
    fi
    if [ "$have_escape" = 1 ]; then
        failed "${pre}the context cannot detach its BPF device filter" esc_bpf
    fi
    if [ -n "$hostdev" ]; then
        failed "${pre}after those attempts /dev/$hostdev is still closed to the context" esc_devopen
    fi
    for c in esc_handle esc_newproc esc_umount_procsys esc_sysfs_rw esc_newsysfs esc_ro_bind esc_memlimit esc_memlimit_v2 esc_devices_v1 esc_bpf esc_devopen; do
        [ "$(rc $c)" = 0 ] && echo "# ${pre}escape $c worked: $(res $c | head -n 4 | tr '\n' '|')"
    done
    return 0
}
escape_cases "" iso "$work/robind"

# the same escapes from a context with a user namespace (<idmap>): the
# shim maps the context's root to 100000, which must reach the rootfs
chmod 0755 "$inst_dir"
mkdir -p "$work/out-u" "$work/robind-u"
chown 100000:100000 "$work/out-u"
ctx_xml isou "$rootfs_u" "exec /bin/sh /escapes.sh" \
    "<memtune><hard_limit unit='KiB'>$((memlimit / 1024))</hard_limit></memtune>
     <idmap><uid start='0' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>" \
    "$(ctx_bind "$work/out-u" /out)$(ctx_bind "$work/robind-u" /mnt/ro ro)" > "$work/isou.xml"
if o=$(vsh create "$work/isou.xml" 2>&1); then
    ok 0 "a context with <idmap> starts"
    out=$work/out-u
    wait_until 20 test -e "$out/done" || echo "# the <idmap> probe did not finish: $(ls "$out")"
    escape_cases "with <idmap>: " isou "$work/robind-u"
    out=$work/out
    vsh destroy isou >/dev/null
else
    ok 1 "a context with <idmap> starts"; echo "# $o"
fi

# --- 2. capabilities: the init's bounding set, read on the host
bnd() { grep CapBnd "/proc/$1/status" | cut -f2; }
hasbit() { echo $(( (0x$1 >> $2) & 1 )); }
iso_bnd=$(res capbnd)
equals "the init's tree sees the bounding set the host sees" "$(bnd "$iso_pid")" "$iso_bnd"
for c in sys_module:16 sys_time:25 mknod:27 sys_rawio:17 audit_control:30 mac_admin:33 sys_ptrace:19 sys_nice:23 net_raw:13; do
    equals "default bounding set lacks ${c%:*}" 0 "$(hasbit "$iso_bnd" "${c#*:}")"
done
echo "# default bounding set: $(capsh --decode="$iso_bnd" 2>/dev/null || echo "$iso_bnd")"

daemon_bnd=$(bnd "$(cat "$inst_dir/run/virtvserverd.pid")")
caps_ctx() {   # caps_ctx NAME FEATURES-XML [SCRIPT]
    mkdir -p "$work/out-$1"
    ctx_xml "$1" "$rootfs" "${3:-exec sleep 100000}" "<features>$2</features>" \
        "$(ctx_bind "$work/out-$1" /out)" > "$work/$1.xml"
    vsh create "$work/$1.xml" >/dev/null
}
caps_ctx capmknod "<capabilities policy='default'><mknod state='on'/></capabilities>" \
    "mknod /tmp/null c 1 3 > /out/chr 2>&1; echo \$? >> /out/chr; mknod /tmp/sda b 8 0 > /out/blk 2>&1; echo \$? >> /out/blk; exec sleep 100000"
p=$(vsh domid capmknod)
equals "policy default + mknod on keeps mknod" 1 "$(hasbit "$(bnd "$p")" 27)"
equals "... and sys_module stays dropped" 0 "$(hasbit "$(bnd "$p")" 16)"
wait_until 5 grep -q '^[0-9]' "$work/out-capmknod/blk"
equals "with mknod, init may create an allowed char node (null)" 0 "$(tail -n 1 "$work/out-capmknod/chr")"
contains "with mknod, the devices cgroup still refuses a block node" \
    "Operation not permitted" "$(cat "$work/out-capmknod/blk")"
caps_ctx capdeny "<capabilities policy='deny'><chown state='on'/></capabilities>"
p=$(vsh domid capdeny)
equals "policy deny + chown on leaves only chown" "0000000000000001" "$(bnd "$p")"
equals "... and the effective set of root init is that too" "0000000000000001" \
    "$(grep CapEff "/proc/$p/status" | cut -f2)"
caps_ctx capallow "<capabilities policy='allow'><sys_module state='off'/></capabilities>"
p=$(vsh domid capallow)
equals "policy allow + sys_module off drops only sys_module" \
    "$(printf '%016x' $((0x$daemon_bnd & ~(1 << 16))))" "$(bnd "$p")"
for d in capmknod capdeny capallow; do vsh destroy "$d" >/dev/null; done

# --- private network only with <privnet/>
ctx_xml net "$rootfs" "exec sleep 100000" "<features><privnet/></features>" > "$work/net.xml"
vsh create "$work/net.xml" >/dev/null
p=$(vsh domid net)
links=$(ctx_enter net 'ip -o link' 2>&1)
equals "with <privnet/> only lo exists inside" "lo" "$(printf '%s\n' "$links" | awk -F': ' '{print $2}' | tr -d '\n')"
contains "with <privnet/> lo is up" "UP" "$(printf '%s\n' "$links" | grep ' lo:')"
[ "$(readlink "/proc/$p/ns/net")" != "$(readlink /proc/self/ns/net)" ]
ok $? "with <privnet/> the init has its own network namespace"
equals "without <privnet/> the context shares the host's network namespace" \
    "$(readlink /proc/self/ns/net)" "$(readlink "/proc/$iso_pid/ns/net")"
vsh destroy net >/dev/null

# --- a symlink in the rootfs must not carry a mount target onto the host
evilroot=$work/evilroot
cp -a "$rootfs" "$evilroot"
ln -s /etc "$evilroot/mnt/evil"
ln -s ../../../../../../../../../etc "$evilroot/mnt/evil2"
mkdir -p "$work/evilsrc" "$work/out-evil"
echo "evil-$$" > "$work/evilsrc/marker"
ctx_xml evil "$evilroot" "cat /etc/vs-evil-$$/marker /etc/vs-evil2-$$/marker > /out/seen 2>&1; exec sleep 100000" "" \
    "$(ctx_bind "$work/evilsrc" "/mnt/evil/vs-evil-$$")$(ctx_bind "$work/evilsrc" "/mnt/evil2/vs-evil2-$$")$(ctx_bind "$work/out-evil" /out)" \
    > "$work/evil.xml"
out_evil=$(vsh create "$work/evil.xml" 2>&1)
# the shim resolves mount targets inside the root (openat2 RESOLVE_IN_ROOT,
# vserver_shim_mount.c): the context starts and the binds land in the
# rootfs's own /etc; the host's /etc is checked below either way
if vsh domid evil >/dev/null 2>&1; then
    ok 0 "a context with bind targets below planted symlinks starts"
    wait_until 5 test -s "$work/out-evil/seen"
    equals "the binds landed in the rootfs's /etc (absolute and ../ symlinks)" "evil-$$
evil-$$" "$(cat "$work/out-evil/seen")"
    check "the target dirs were made inside the rootfs" -- test -d "$evilroot/etc/vs-evil-$$" -a -d "$evilroot/etc/vs-evil2-$$"
    vsh destroy evil >/dev/null
else
    ok 1 "a context with bind targets below planted symlinks starts"
    printf '%s\n' "$out_evil" | head -n 5 | sed 's/^/# refused: /'
fi
check "the host's /etc got no directory from the absolute symlink" -- test ! -e "/etc/vs-evil-$$"
check "the host's /etc got no directory from the ../ symlink" -- test ! -e "/etc/vs-evil2-$$"

# --- init user, environment, directory
mkdir -p "$work/out-who"
chmod 0777 "$work/out-who"
ctx_xml who "$rootfs" '{ id -u; id -g; echo "FOO=$FOO"; pwd; grep NoNewPrivs /proc/self/status | cut -f2; } > /out/who 2>&1; exec sleep 100000' "" \
    "$(ctx_bind "$work/out-who" /out)" |
    sed "s|</os>|<inituser>user</inituser><initenv name='FOO'>bar</initenv><initdir>/tmp</initdir></os>|" > "$work/who.xml"
vsh create "$work/who.xml" >/dev/null
p=$(vsh domid who)
wait_until 5 test -s "$work/out-who/who"
equals "<inituser>user</inituser>: init runs as uid/gid 1000, with <initenv> and <initdir>" \
    "1000 1000 FOO=bar /tmp 1" "$(tr '\n' ' ' < "$work/out-who/who" | sed 's/ $//')"
equals "the host sees init's uids as 1000" "1000 1000 1000 1000" \
    "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$p/status")"
equals "a non-root init has no effective capabilities" "0000000000000000" \
    "$(grep CapEff "/proc/$p/status" | cut -f2)"
contains "the host sees FOO=bar in init's environment" "FOO=bar" "$(tr '\0' '\n' < "/proc/$p/environ")"
# nothing of the host leaks to init as an open file (the shim's pid file
# lock did, once)
equals "init has only its console open: fds 0 1 2" "0 1 2" \
    "$(ls "/proc/$p/fd" | sort -n | tr '\n' ' ' | sed 's/ $//')"
vsh destroy who >/dev/null

# --- 8. vserver-enter (ctx_enter): the command runs confined like init
ctx_xml enter "$rootfs" "exec sleep 100000" > "$work/enter.xml"
vsh create "$work/enter.xml" >/dev/null
p=$(vsh domid enter)
equals "vserver-enter runs the command inside (hostname)" "enter" "$(ctx_enter enter hostname)"
contains "vserver-enter: ps shows the context's init as 1" "    1 sleep 100000" \
    "$(ctx_enter enter 'ps -o pid,args')"
# the entered process seen from the host (its own /proc/self/cgroup is
# relative to the context's cgroup namespace)
emarker=$((700000 + $$ % 99999)).25
ctx_enter enter "exec sleep $emarker" 2>/dev/null &
enter_bg=$!
wait_until 5 pgrep -f "^sleep $emarker"
ep=$(pgrep -f "^sleep $emarker" | head -n 1)
entered_cg=$(cat "/proc/$ep/cgroup" 2>/dev/null)
init_cg=$(cat "/proc/$p/cgroup")
while IFS=: read -r _ h _; do
    case "$h" in name=*) continue ;; esac
    want=$(printf '%s\n' "$init_cg" | awk -F: -v h="$h" '$2 == h {print $3}')
    got=$(printf '%s\n' "$entered_cg" | awk -F: -v h="$h" '$2 == h {print $3}')
    equals "the entered process is in the context's ${h:-cgroup2} group" "$want" "$got"
done <<< "$init_cg"
equals "the entered process has init's bounding set" "$(bnd "$p")" "$(bnd "$ep")"
equals "the entered process has init's effective set" \
    "$(grep CapEff "/proc/$p/status" | cut -f2)" "$(grep CapEff "/proc/$ep/status" | cut -f2)"
equals "the entered process is in the context's pid namespace" \
    "$(readlink "/proc/$p/ns/pid")" "$(readlink "/proc/$ep/ns/pid")"
equals "the entered process is in the context's mount namespace" \
    "$(readlink "/proc/$p/ns/mnt")" "$(readlink "/proc/$ep/ns/mnt")"
equals "the entered process is in the context's cgroup namespace" \
    "$(readlink "/proc/$p/ns/cgroup")" "$(readlink "/proc/$ep/ns/cgroup")"
kill "$ep" 2>/dev/null
wait "$enter_bg" 2>/dev/null
vsh destroy enter >/dev/null

vsh destroy iso >/dev/null
equals "after destroying all: nothing left of the instance's contexts" "" \
    "$(ctx_leftovers "" "$work")"
tap_done
