#!/bin/bash
# virsh save / restore / managedsave of contexts with <idmap> (a user
# namespace), with CRIU (root); docs/dev/criu-idmap.md.
#  - A counting busybox context with a private network, a read-only bind
#    and a writable one is saved and restored: the counter goes on with no
#    gap, the id maps inside are the same, the read-only bind still refuses
#    a read-write remount from inside (its flag is locked) while the
#    context's own mounts can be remounted, nothing of the restore's stage
#    is left on the host.
#  - The same on the host's network (the host's /sys, read-only, locked),
#    through managedsave and start.
#  - A <readonly/> root comes back read-only and locked.
#  - Every restore (with <idmap> or not) runs in a fresh session keyring:
#    the restored tasks cannot read a key of the daemon's.
# Each probe runs in init's own (restored) tree on request and writes its
# findings to the writable bind; tests/context-syscalls.c makes the key
# system calls.  Skipped when the build has no CRIU.
set -u
. "$(dirname "$0")/lib.sh"
# the test and the daemon it starts share a session keyring, so that a key
# the test adds is the daemon's
in_session_keyring "$@"

if [ ! -x "$BUILDDIR/criu/sbin/criu" ]; then
    echo "1..0 # SKIP CRIU was not built (meson option criu)"
    exit 0
fi
helper=${CONTEXT_SYSCALLS:-$BUILDDIR/tests/context-syscalls}
if [ ! -x "$helper" ]; then
    echo "1..0 # SKIP no $helper (built by meson)"
    exit 0
fi

# a key in the session keyring the daemon inherits (it is started below)
keydesc=vserver-secret-$$
keyid=$("$helper" key-add "$keydesc" 2>/dev/null)

inst_setup
work=$inst_dir/work
mkdir -p "$work"
chmod 0755 "$inst_dir"
img=$work/ctx.save
idmap="<idmap><uid start='0' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>"
keysok="<vserver:context><vserver:seccomp><vserver:syscall name='keyctl' action='allow'/></vserver:seccomp></vserver:context>"
mkrootfs "$work/rootfs0"
cp "$helper" "$work/rootfs0/bin/context-syscalls"
mkdir -p "$work/rosrc"
echo "host data" > "$work/rosrc/file"

# init counts into $O/count; when $O/go appears, it runs the probe in its
# own tree, writing NAME.out / NAME.rc into $O, and then $O/done
probe_init() {  # probe_init OUTDIR-INSIDE
    cat <<EOF
O=$1
r() { n=\$1; shift; ( "\$@" ) > \$O/\$n.out 2>&1; echo \$? > \$O/\$n.rc; }
i=0
while :; do
  i=\$((i+1)); echo \$i >> \$O/count
  if [ -e \$O/go ]; then
    rm -f \$O/go
    r keys /bin/context-syscalls key-read '${keyid:-0}' '$keydesc'
    r uidmap cat /proc/self/uid_map
    r gidmap cat /proc/self/gid_map
    r ro_remount sh -c 'mount -o remount,rw,bind /mnt/ro && touch /mnt/ro/written'
    r own_remount sh -c 'mount -o remount,ro,bind /dev/shm && mount -o remount,rw,bind /dev/shm'
    r root_remount sh -c 'mount -o remount,rw,bind / && touch /written'
    r root_opts sh -c "awk '\\\$5 == \"/\" {print \\\$6}' /proc/self/mountinfo"
    r sys_remount sh -c 'mount -o remount,rw,bind /sys && echo remounted'
    r ro_read cat /mnt/ro/file
    touch \$O/done
  fi
  sleep 0.2
done
EOF
}

# ctx_make NAME ROOTRO(0|1) DOMAIN-XML [IDMAP(1|0)]: writes $work/NAME.xml,
# sets $root (the host's root dir) and $out (the host dir of the results)
ctx_make() {
    local name=$1 u=${4:-1}
    root=$work/root-$name
    rm -rf "$root"; cp -a "$work/rootfs0" "$root"
    out=$root
    if [ "$u" = 1 ]; then
        out=$work/out-$name
        mkdir -p "$out"
        chown -R 100000:100000 "$root" "$out"
    fi
    if [ "$u" = 1 ]; then
        ctx_xml "$name" "$root" "$(probe_init /out)" "$idmap$3" \
            "$(ctx_bind "$work/rosrc" /mnt/ro ro)$(ctx_bind "$out" /out)"
    else
        ctx_xml "$name" "$root" "$(probe_init '')" "$3"
    fi | sed -e "s|<domain type='lxc'>|<domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>|" \
             -e "s|</domain>|$keysok</domain>|" > "$work/$name.xml"
    if [ "$2" = 1 ]; then
        sed -i "0,\|<target dir='/'/>|s||<target dir='/'/><readonly/>|" "$work/$name.xml"
    fi
}

# probe: run the probe in init's tree, wait for its results
probe() {
    rm -f "$out/done" "$out"/*.out "$out"/*.rc; touch "$out/go"
    wait_until 20 test -e "$out/done" || echo "# the probe did not finish: $(ls "$out")"
}
res() { cat "$out/$1.out" 2>/dev/null; }
rc() { cat "$out/$1.rc" 2>/dev/null || echo none; }
refused() {  # refused DESC CASE: the probe's command CASE failed
    if [ "$(rc "$2")" != 0 ] && [ "$(rc "$2")" != none ]; then
        ok 0 "$1"; echo "#   $(res "$2" | head -n 1)"
    else
        ok 1 "$1"; res "$2" | head -n 5 | sed 's/^/#   /'
    fi
}
key_cases() {  # key_cases PREFIX
    local v
    [ -n "$keyid" ] || { echo "# SKIP keyring cases: no key could be added on the host"; return 0; }
    v=$(res keys | awk -F= '$1 == "key-read" {print $2}')
    [ -n "$v" ] && [ "$v" != ok ]
    ok $? "${1}the daemon's session key cannot be read ($v)"
    equals "${1}the session keyring is a fresh one (search: ENOKEY)" \
        ENOKEY "$(res keys | awk -F= '$1 == "key-search" {print $2}')"
}
stage_left() { ls -d /run/vserver-criu.* 2>/dev/null; }
# no_gap FILE AT: FILE counts 1, 2, 3 ... past AT + 3 with no gap or repeat
no_gap() {
    wait_until 10 above "$(($2 + 3))" counter_value "$1"
    [ "$(counter_value "$1")" -gt "$(($2 + 3))" ] && seq_ok "$1"
}
restore_log() {
    find "$inst_dir" -name "$1.restore.log" -exec grep -h -B3 -E 'Error|BUG' {} + 2>/dev/null | head -20 | sed 's/^/# /'
}

# --- 1. <idmap>, a private network, a read-only and a writable bind
ctx_make ia 0 "<features><privnet/></features>"
check "start a counting context with <idmap> and a private network" -- vsh create "$work/ia.xml"
wait_until 10 test -s "$out/count"
probe
uid_before=$(res uidmap); gid_before=$(res gidmap)
refused "before the save: the read-only bind refuses a read-write remount" ro_remount
equals "before the save: the context's own /dev/shm can be remounted (control)" 0 "$(rc own_remount)"
out_saved=$(vsh save ia "$img" 2>&1)
ok $? "virsh save of the <idmap> context"
[ -n "$out_saved" ] && printf "%s\n" "$out_saved" | head -5 | sed "s/^/# /"
at=$(counter_value "$out/count")
check "... it is gone, and its shim" -- ctx_shim_gone ia
o=$(vsh restore "$img" 2>&1)
ok $? "virsh restore of it"
[ -n "$o" ] && { printf "%s\n" "$o" | head -5 | sed "s/^/# /"; restore_log ia; }
equals "... running (restored)" "running (restored)" "$(ctx_st ia)"
check "the counter goes on from $at with no gap, no restart" -- no_gap "$out/count" "$at"
probe
equals "the uid map inside is the same ($uid_before)" "$uid_before" "$(res uidmap)"
equals "the gid map inside is the same" "$gid_before" "$(res gidmap)"
contains "... and maps 0 to 100000" "100000" "$(res uidmap)"
equals "the read-only bind still shows the host's file" "host data" "$(res ro_read)"
refused "the read-only bind still refuses a read-write remount from inside (locked)" ro_remount
check "... nothing was written into its source" -- test ! -e "$work/rosrc/written"
equals "the context's own /dev/shm can still be remounted (control: the refusal is the lock)" 0 "$(rc own_remount)"
key_cases "restored with <idmap>: "
equals "the restore's stage is gone from the host" "" "$(stage_left)"
check "save once more (a restored context)" -- vsh save ia "$img"
check "... and restore again" -- vsh restore "$img"
check "... counting on" -- no_gap "$out/count" "$(counter_value "$out/count")"
check "destroy it" -- vsh destroy ia
ctx_nothing_left "... nothing left of it" ia "$work"
equals "... and no stage" "" "$(stage_left)"

# --- 2. on the host's network (the host's /sys), managedsave
ctx_make ib 0 ""
vsh define "$work/ib.xml" >/dev/null
check "start a persistent <idmap> context on the host's network" -- vsh start ib
wait_until 10 test -s "$out/count"
probe
refused "before the save: /sys refuses a read-write remount" sys_remount
check "managedsave of it" -- vsh managedsave ib
equals "... saved" "shut off (saved)" "$(ctx_st ib)"
at=$(counter_value "$out/count")
o=$(vsh start ib 2>&1)
ok $? "start resumes it from the image"
[ -n "$o" ] && { printf "%s\n" "$o" | head -5 | sed "s/^/# /"; restore_log ib; }
equals "... restored" "running (restored)" "$(ctx_st ib)"
check "the counter goes on from $at with no gap" -- no_gap "$out/count" "$at"
probe
contains "the uid map inside maps 0 to 100000" "100000" "$(res uidmap)"
refused "the host's /sys still refuses a read-write remount (locked)" sys_remount
refused "the read-only bind still refuses a read-write remount" ro_remount
key_cases "managedsave with <idmap> on the host's network: "
check "destroy it" -- vsh destroy ib
vsh undefine ib >/dev/null
ctx_nothing_left "... nothing left of it" ib "$work"
equals "... and no stage" "" "$(stage_left)"

# --- 3. a <readonly/> root
ctx_make ic 1 "<features><privnet/></features>"
check "start an <idmap> context with a read-only root" -- vsh create "$work/ic.xml"
wait_until 10 test -s "$out/count"
probe
refused "before the save: the root refuses a read-write remount" root_remount
check "save it" -- vsh save ic "$img"
at=$(counter_value "$out/count")
o=$(vsh restore "$img" 2>&1)
ok $? "restore it"
[ -n "$o" ] && { printf "%s\n" "$o" | head -5 | sed "s/^/# /"; restore_log ic; }
check "the counter goes on from $at with no gap" -- no_gap "$out/count" "$at"
probe
contains "the root comes back read-only ($(res root_opts))" "ro" "$(res root_opts | cut -d, -f1)"
refused "the root still refuses a read-write remount (locked)" root_remount
check "... nothing was written into it" -- test ! -e "$root/written"
refused "the read-only bind still refuses a read-write remount" ro_remount
check "destroy it" -- vsh destroy ic
ctx_nothing_left "... nothing left of it" ic "$work"

# --- 4. without <idmap>: the restored tree has a fresh keyring too
ctx_make nk 0 "<features><privnet/></features>" 0
check "start a context without <idmap>" -- vsh create "$work/nk.xml"
wait_until 10 test -s "$out/count"
check "save it" -- vsh save nk "$img"
at=$(counter_value "$out/count")
check "restore it" -- vsh restore "$img"
check "the counter goes on from $at with no gap" -- no_gap "$out/count" "$at"
probe
key_cases "restored without <idmap>: "
check "destroy it" -- vsh destroy nk
ctx_nothing_left "... nothing left of it" nk "$work"

# --- 5. <idmap> and an interface: refused before the dump
ctx_make iv 0 "" 1
sed -i "s|<console type='pty'/>|<interface type='ethernet'><target dev='vsvsavu0'/></interface><console type='pty'/>|" "$work/iv.xml"
if vsh create "$work/iv.xml" >/dev/null 2>&1; then
    p=$(ctx_initpid iv)
    wait_until 10 test -s "$out/count"
    o=$(vsh save iv "$img" 2>&1)
    ok $(( ! $? )) "save of an <idmap> context with an interface fails"
    contains "... saying why" "with <idmap> (a user namespace) and an <interface>" "$o"
    check "... and it runs on (same init, counting)" -- \
        sh -c "[ \"\$(virsh -q -c '$uri' domid iv)\" = '$p' ] && kill -0 $p"
    check "... counting" -- counter_grows "$out/count"
    vsh destroy iv >/dev/null
else
    echo "# SKIP the interface case: the context does not start"
fi

# --- 6. <idmap> on a hashify guest volume (overlay, idmapped template)
rm -rf "$work/tpl"; cp -a "$work/rootfs0" "$work/tpl"
tar -czf "$work/root.tar.gz" -C "$work/tpl" .
printf "<pool type='hashify'><name>sp</name><target><path>%s</path></target></pool>" \
    "$work/pool" > "$work/pool.xml"
vsh pool-define "$work/pool.xml" >/dev/null && vsh pool-build sp >/dev/null &&
    vsh pool-start sp >/dev/null &&
    vsh vol-create sp <(echo "<volume><name>T</name></volume>") >/dev/null &&
    vsh vol-upload --pool sp T "$work/root.tar.gz" >/dev/null &&
    vsh vol-clone --pool sp T G >/dev/null
ok $? "a template volume T and its guest volume G"
ctx_make iw 0 "<features><privnet/></features>"
sed -i "s|<filesystem type='mount'><source dir='$root'/>|<filesystem type='volume'><source pool='sp' volume='G'/>|" "$work/iw.xml"
check "start an <idmap> context on the guest volume" -- vsh create "$work/iw.xml"
wait_until 10 test -s "$out/count"
check "save it" -- vsh save iw "$img"
at=$(counter_value "$out/count")
o=$(vsh restore "$img" 2>&1)
ok $? "restore it"
[ -n "$o" ] && { printf "%s\n" "$o" | head -5 | sed "s/^/# /"; restore_log iw; }
check "the counter goes on from $at with no gap" -- no_gap "$out/count" "$at"
probe
contains "the uid map inside maps 0 to 100000" "100000" "$(res uidmap)"
refused "the read-only bind still refuses a read-write remount" ro_remount
equals "no overlay of it is mounted in the host's namespace" "" \
    "$(grep "$work/pool" /proc/self/mountinfo)"
check "destroy it" -- vsh destroy iw
ctx_nothing_left "... nothing left of it" iw "$work"
vsh pool-destroy sp >/dev/null 2>&1

equals "no mount of the test's dirs left in any namespace" "" "$(ctx_mounts "$work")"
inst_cleanup
tap_done
