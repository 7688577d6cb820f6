#!/bin/bash
# Real contexts (root): the hook script ($root/etc/libvirt/hooks/vserver)
# and definitions that cannot start.  Every refused start names the
# problem and leaves no shim, cgroup, run-dir file or mount behind.
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"
hookdir=$inst_dir/etc/libvirt/hooks
hooklog=$work/hook.log
mkdir -p "$hookdir"

nothing_left() {   # nothing_left DESC DOMAIN
    equals "$1" "" "$(ctx_leftovers "$2" "$rootfs")"
}

# --- hooks
cat > "$hookdir/vserver" <<EOF
#!/bin/sh
# test hook: log the call and whether the domain XML came on stdin
if grep -q '<domain' 2>/dev/null; then xml=xml; else xml=no-xml; fi
echo "\$1 \$2 \$3 \$xml" >> '$hooklog'
if [ -e "$work/fail-\$2" ]; then
    echo "vetoed by the test hook at \$2" >&2
    exit 1
fi
exit 0
EOF
chmod 0755 "$hookdir/vserver"

ctx_xml h "$rootfs" "exec sleep 100000" > "$work/h.xml"
vsh define "$work/h.xml" >/dev/null
vsh start h >/dev/null
vsh destroy h >/dev/null
equals "hooks for one start and destroy, in order, each with the XML on stdin" \
    "h prepare begin xml|h start begin xml|h started begin xml|h stopped end xml|h release end xml|" \
    "$(tr '\n' '|' < "$hooklog")"

vsh start h >/dev/null
: > "$hooklog"
"$instance" stop "$inst_dir"
"$instance" start "$inst_dir" >/dev/null
equals "a daemon restart calls the reconnect hook" "h reconnect begin xml|" "$(tr '\n' '|' < "$hooklog")"
vsh destroy h >/dev/null

: > "$hooklog"
touch "$work/fail-prepare"
out=$(vsh start h 2>&1)
if [ $? -eq 0 ]; then ok 1 "a failing prepare hook makes start fail"; else ok 0 "a failing prepare hook makes start fail"; fi
contains "... with the hook's message" "vetoed by the test hook at prepare" "$out"
equals "... the domain stays shut off" "shut off" "$(vsh domstate h)"
equals "... no hook runs after the veto" "h prepare begin xml|" "$(tr '\n' '|' < "$hooklog")"
nothing_left "... and leaves no process, cgroup or run file" h
rm -f "$work/fail-prepare"

: > "$hooklog"
touch "$work/fail-start"
out=$(vsh start h 2>&1)
if [ $? -eq 0 ]; then ok 1 "a failing start hook makes start fail"; else ok 0 "a failing start hook makes start fail"; fi
contains "... with the hook's message" "vetoed by the test hook at start" "$out"
nothing_left "... and the cgroups made before it are removed" h
contains "... the stopped and release hooks still run" "h stopped end xml|h release end xml|" "$(tr '\n' '|' < "$hooklog")"
rm -f "$work/fail-start"

: > "$hooklog"
touch "$work/fail-started" "$work/fail-stopped" "$work/fail-release"
check "a failing started hook does not stop the context" -- vsh start h
equals "... it runs" "running" "$(vsh domstate h)"
check "failing stopped and release hooks do not stop destroy" -- vsh destroy h
nothing_left "... nothing is left" h
rm -f "$work"/fail-* "$hookdir/vserver"

# the end of a context is handled off the event loop: while its stopped
# hook runs (held here until the test lets it go), the daemon keeps
# answering other clients, and the domain already reads as shut off (its
# hooks run with it unlocked, after its cgroups and interfaces are gone)
printf '#!/bin/sh\n[ "$2" = stopped ] || exit 0\ntouch %s\nwhile [ ! -e %s ]; do sleep 0.1; done\ntouch %s\n' \
    "$work/hook-waiting" "$work/hook-release" "$work/hook-done" > "$hookdir/vserver"
chmod 0755 "$hookdir/vserver"
rm -f "$work/hook-waiting" "$work/hook-release" "$work/hook-done"
vsh start h >/dev/null
kill -KILL "$(ctx_initpid h)"
if wait_until 20 test -e "$work/hook-waiting"; then
    t0=${EPOCHREALTIME/[.,]/}
    out=$(timeout 10 virsh -q -c "$uri" version 2>&1)
    rc=$?
    ms=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 ))
    ok $rc "while a context's stopped hook runs, the daemon answers another client (virsh version, ${ms} ms)"
    ok $(( ms > 5000 )) "... at once, not after the hook"
    t0=${EPOCHREALTIME/[.,]/}
    st=$(timeout 10 virsh -q -c "$uri" domstate --reason h 2>&1)
    ms=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 ))
    equals "... and that domain already reads as shut off (crashed) (${ms} ms)" \
        "shut off (crashed)" "$st"
else
    ok 1 "the stopped hook of the crashed context runs"
fi
touch "$work/hook-release"
check "the hook ends once let go" -- wait_until 20 test -e "$work/hook-done"
check "... the context is shut off (crashed)" -- \
    wait_until 20 ctx_state_is h "shut off (crashed)"
rm -f "$hookdir/vserver" "$work/hook-waiting" "$work/hook-release" "$work/hook-done"

# a hook that never ends, and leaves a child holding its output: killed,
# with its child, at hook_timeout; the start fails naming the bound
echo "hook_timeout = 2" >> "$inst_dir/etc/libvirt/vserver.conf"
"$instance" start "$inst_dir" >/dev/null
hang_marker=$((800000 + $$ % 99999)).5
printf '#!/bin/sh\n[ "$2" = prepare ] || exit 0\nsleep %s &\nexec sleep %s\n' \
    "$hang_marker" "$hang_marker" > "$hookdir/vserver"
chmod 0755 "$hookdir/vserver"
t0=$SECONDS
out=$(timeout 60 virsh -q -c "$uri" start h 2>&1)
rc=$?
took=$(( SECONDS - t0 ))
ok $(( rc == 0 )) "a hook that hangs makes start fail (after ${took} s)"
ok $(( took > 10 )) "... within hook_timeout (2 s) and the 5 s grace"
contains "... naming the bound" "did not finish within hook_timeout (2 s) and was killed" "$out"
equals "... the domain stays shut off" "shut off" "$(vsh domstate h)"
hook_gone() { ! pgrep -f "^sleep $hang_marker" >/dev/null; }
check "... the hook and the child it left are gone" -- wait_until 10 hook_gone
pkill -f "^sleep $hang_marker" 2>/dev/null
rm -f "$hookdir/vserver"
vsh undefine h >/dev/null

# --- refused starts
refused_start() {   # refused_start DESC NAME EXPECTED-ERROR [DOMAIN-XML [DEVICES-XML [INIT-SCRIPT [ROOT]]]]
    local desc=$1 name=$2 err=$3 o
    ctx_xml "$name" "${7:-$rootfs}" "${6-exec sleep 100000}" "${4:-}" "${5:-}" > "$work/$name.xml"
    case "$name" in
        init_*) sed -i "s|<init>/bin/sh</init><initarg>-c</initarg><initarg>[^<]*</initarg>|<init>$initpath</init>|" "$work/$name.xml" ;;
    esac
    [ -n "${xmlfix:-}" ] && sed -i "$xmlfix" "$work/$name.xml"
    if ! o=$(vsh define "$work/$name.xml" 2>&1); then
        ok 1 "$desc (define failed)"; echo "# $o"; return
    fi
    if o=$(vsh start "$name" 2>&1); then
        ok 1 "$desc (it started)"
        vsh destroy "$name" >/dev/null 2>&1
    else
        contains "$desc" "$err" "$o"
    fi
    equals "$desc: the domain is shut off" "shut off" "$(vsh domstate "$name" 2>&1)"
    nothing_left "$desc: nothing left" "$name"
    vsh undefine "$name" >/dev/null 2>&1
}

refused_start "missing root dir" noroot \
    "filesystem '/' source '$work/nonexistent' is not accessible: No such file or directory" \
    "" "" "exec sleep 100000" "$work/nonexistent"
touch "$work/rootfile"
refused_start "root that is a file" fileroot \
    "root filesystem source '$work/rootfile' is not a directory" "" "" "exec sleep 100000" "$work/rootfile"
initpath=/sbin/nope
refused_start "init not found" init_nope "init '/sbin/nope' not found in the context root"
printf '#!/bin/sh\nexit 0\n' > "$rootfs/bin/noexec"
chmod 0644 "$rootfs/bin/noexec"
initpath=/bin/noexec
refused_start "init not executable" init_noexec "init '/bin/noexec' is not executable"
refused_start "bind source missing" nobind \
    "filesystem '/mnt/x' source '$work/missing' is not accessible: No such file or directory" \
    "" "$(ctx_bind "$work/missing" /mnt/x)"
xmlfix="s|</os>|<inituser>ghost</inituser></os>|" \
    refused_start "init user unknown" ghost "user 'ghost' not found in the context's /etc/passwd"
xmlfix="s|</os>|<initdir>/nope</initdir></os>|" \
    refused_start "init dir missing" nodir "cannot change to the init directory '/nope'"
refused_start "memory hard limit of 1 KiB" mem1 "memory limit of 1 KiB is below 1 MiB" \
    "<memtune><hard_limit unit='KiB'>1</hard_limit></memtune>"
refused_start "soft limit above the hard limit" memsoft \
    "memory soft limit 131072 KiB exceeds the hard limit 65536 KiB" \
    "<memtune><hard_limit unit='MiB'>64</hard_limit><soft_limit unit='MiB'>128</soft_limit></memtune>"
refused_start "swap limit below the memory limit" memswap \
    "swap hard limit 32768 KiB is below the memory limit 65536 KiB" \
    "<memtune><hard_limit unit='MiB'>64</hard_limit><swap_hard_limit unit='MiB'>32</swap_hard_limit></memtune>"
refused_start "on_reboot=preserve" preserve "<on_reboot>preserve</on_reboot> is not supported" \
    "<on_reboot>preserve</on_reboot>"
refused_start "a block filesystem" blockfs "filesystem type 'block' (target '/mnt/b') is not supported" \
    "" "<filesystem type='block'><source dev='/dev/null'/><target dir='/mnt/b'/></filesystem>"

# unknown capability: libvirt's parser refuses the definition itself
ctx_xml badcap "$rootfs" "exec sleep 100000" \
    "<features><capabilities policy='default'><bogus state='on'/></capabilities></features>" > "$work/badcap.xml"
out=$(vsh define "$work/badcap.xml" 2>&1)
contains "an unknown capability name is refused at define" "unexpected capability feature 'bogus'" "$out"
out=$(vsh create "$work/badcap.xml" 2>&1)
contains "... and at create" "unexpected capability feature 'bogus'" "$out"
nothing_left "... nothing left" badcap

# starting twice
ctx_xml twice "$rootfs" "exec sleep 100000" > "$work/twice.xml"
vsh define "$work/twice.xml" >/dev/null
vsh start twice >/dev/null
p=$(vsh domid twice)
out=$(vsh start twice 2>&1)
contains "starting a running domain is refused" "is already active" "$out"
equals "... the same init runs" "$p" "$(vsh domid twice)"
equals "... one shim" 1 "$(ctx_shims twice | wc -l)"
out=$(vsh create "$work/twice.xml" 2>&1)
contains "creating a running domain again is refused" "already" "$out"
equals "... still one shim" 1 "$(ctx_shims twice | wc -l)"
vsh destroy twice >/dev/null
nothing_left "destroyed: nothing left" twice

# a failed start is not a crash: the domain starts afterwards
xmlfix="s|</os>|<initdir>/nope</initdir></os>|" \
    refused_start "init dir missing (again)" again "cannot change to the init directory '/nope'"
ctx_xml again "$rootfs" "exec sleep 100000" > "$work/again.xml"
vsh define "$work/again.xml" >/dev/null
check "after a failed start, the fixed definition starts" -- vsh start again
vsh destroy again >/dev/null

equals "at the end: nothing left of any context" "" "$(ctx_leftovers "" "$work")"
tap_done
