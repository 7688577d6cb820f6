#!/bin/bash
# libvirt's job model on one daemon (root): while a job has a domain
# unlocked (a start waiting in its start hook or for the shim, a stopped
# context's stopped hook), the hook held here
# until the test lets it go:
#  - virsh list and dominfo of that domain answer at once;
#  - a define of the same name waits for the start and changes the
#    definition, not the context being started; a create of the same name
#    waits and is then refused (never a second copy);
#  - a destroy during a start makes the start give up, and leaves
#    nothing;
#  - a start while the last run's hooks run waits for them;
#  - during a save (its CRIU dump held here at post-dump): list and
#    dominfo answer, an undefine waits for the save and then succeeds,
#    and the image restores;
#  - while contexts are torn down over and over, what reads them answers
#    or says they are stopping or gone.
set -u
. "$(dirname "$0")/lib.sh"

# info messages: the daemon's log says when a destroy meets a start
export VSERVER_LOG_LEVEL=2
inst_setup
log=$inst_dir/var/log/libvirt/virtvserverd.log
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"
hookdir=$inst_dir/etc/libvirt/hooks
mkdir -p "$hookdir"

# the hook holds an operation while $work/hold-OP exists, until
# $work/release-OP appears (hook_timeout, 30 s, bounds it anyway)
printf '#!/bin/sh\n[ -e %s/hold-$2 ] || exit 0\ntouch %s/waiting-$2\nwhile [ ! -e %s/release-$2 ]; do sleep 0.1; done\n' \
    "$work" "$work" "$work" > "$hookdir/vserver"
chmod 0755 "$hookdir/vserver"
hold() { rm -f "$work/release-$1" "$work/waiting-$1"; touch "$work/hold-$1"; }
release() { touch "$work/release-$1"; rm -f "$work/hold-$1"; }
held() { wait_until 20 test -e "$work/waiting-$1"; }

# answers_at_once DESC COMMAND...: COMMAND ends well within 5 s (a held
# lock would keep it until the hook is let go); prints its output
answers_at_once() {
    local desc=$1 t0 ms rc out; shift
    t0=${EPOCHREALTIME/[.,]/}
    out=$(timeout 15 "$@" 2>&1)
    rc=$?
    ms=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 ))
    ok $(( rc != 0 || ms > 5000 )) "$desc (${ms} ms)"
    [ "$rc" -eq 0 ] || printf '%s\n' "$out" | sed 's/^/# /'
    answer=$out
}
# bg_wait PID: its exit status, bounded (a hung client fails the case)
bg_wait() {
    wait_until 60 pid_gone "$1" || { kill "$1" 2>/dev/null; return 124; }
    wait "$1"
}
no_leftovers() { [ -z "$(ctx_leftovers j "$rootfs")" ]; }
mem_kib() { vsh dumpxml ${2:+"$2"} "$1" | sed -n "s|.*<memory unit='KiB'>\([0-9]*\)</memory>.*|\1|p"; }

ctx_xml j "$rootfs" "exec sleep 100000" > "$work/j.xml"
vsh define "$work/j.xml" >/dev/null
# the same domain (its UUID) with less memory
sed -e 's|<memory unit=.MiB.>128</memory>|<memory unit="MiB">96</memory>|' \
    -e "s|<name>j</name>|<name>j</name><uuid>$(vsh domuuid j)</uuid>|" \
    "$work/j.xml" > "$work/j96.xml"

# --- a start held in its start hook
hold start
vsh start j > "$work/start.out" 2>&1 &
spid=$!
if held start; then
    ok 0 "a start waits in its start hook"
    answers_at_once "meanwhile virsh list answers" virsh -q -c "$uri" list --all
    contains "... and shows the domain shut off" "shut off" "$answer"
    answers_at_once "meanwhile dominfo of that domain answers" virsh -q -c "$uri" dominfo j
    vsh define "$work/j96.xml" > "$work/define.out" 2>&1 &
    dpid=$!
    vsh create "$work/j.xml" > "$work/create.out" 2>&1 &
    cpid=$!
    ok $(( ! $(wait_until "$still_window" pid_gone "$dpid"; echo $?) )) \
        "a define of the same name waits for the start"
else
    ok 1 "a start waits in its start hook"
    dpid= cpid=
fi
release start
bg_wait "$spid"
ok $? "the start ends once its hook does"
if [ -n "$dpid" ]; then
    bg_wait "$dpid"
    rc=$?
    ok $rc "the define then succeeds"
    [ "$rc" -eq 0 ] || sed 's/^/# /' "$work/define.out"
    bg_wait "$cpid"
    ok $(( ! $? )) "a create of the same name during the start is refused"
    contains "... as the domain is running" "already" "$(cat "$work/create.out")"
fi
equals "one shim runs the context: never a second copy" 1 "$(ctx_shims j | wc -l)"
equals "the running context keeps the definition it started with" 131072 "$(mem_kib j)"
equals "the define changed the persistent definition" 98304 "$(mem_kib j --inactive)"
vsh destroy j >/dev/null

# --- destroy during a start
hold start
vsh start j > "$work/start.out" 2>&1 &
spid=$!
if held start; then
    vsh destroy j > "$work/destroy.out" 2>&1 &
    dpid=$!
    check "the destroy asks the start to give up" -- \
        wait_until 30 grep -q "destroy of 'j' during its start" "$log"
    release start
    bg_wait "$spid"
    ok $(( ! $? )) "a start that a destroy interrupts fails"
    contains "... saying so" "cancelled by a destroy" "$(cat "$work/start.out")"
    bg_wait "$dpid"
    rc=$?
    ok $rc "the destroy succeeds"
    [ "$rc" -eq 0 ] || sed 's/^/# /' "$work/destroy.out"
else
    ok 1 "a start waits in its start hook"
    release start
    bg_wait "$spid"
fi
equals "the domain is shut off" "shut off" "$(vsh domstate j)"
wait_until 10 no_leftovers
equals "nothing of it is left" "" "$(ctx_leftovers j "$rootfs")"

# --- the teardown of a stopped context, held in its stopped hook
vsh start j >/dev/null
hold stopped
vsh destroy j > "$work/destroy.out" 2>&1 &
dpid=$!
if held stopped; then
    ok 0 "the teardown of a destroyed context waits in its stopped hook"
    answers_at_once "meanwhile virsh list answers" virsh -q -c "$uri" list --all
    contains "... and shows the domain shut off" "shut off" "$answer"
    answers_at_once "meanwhile dominfo of that domain answers" virsh -q -c "$uri" dominfo j
    equals "... and nothing of the context is left on the host: it reads shut off only then" \
        "" "$(ctx_leftovers j "$rootfs")"
    vsh start j > "$work/start.out" 2>&1 &
    spid=$!
    ok $(( ! $(wait_until "$still_window" pid_gone "$spid"; echo $?) )) \
        "a start waits for the teardown"
    release stopped
    bg_wait "$dpid"
    ok $? "the destroy succeeds"
    bg_wait "$spid"
    rc=$?
    ok $rc "the start then succeeds"
    [ "$rc" -eq 0 ] || sed 's/^/# /' "$work/start.out"
    equals "one shim runs the context" 1 "$(ctx_shims j | wc -l)"
else
    ok 1 "the teardown of a destroyed context waits in its stopped hook"
    release stopped
    bg_wait "$dpid"
fi
rm -f "$hookdir/vserver"
vsh destroy j >/dev/null 2>&1

# --- undefine during a save: a CRIU whose action script holds the dump
# at post-dump (everything dumped, the context frozen) until let go
if [ -x "$BUILDDIR/criu/sbin/criu" ]; then
    held=$work/held-criu
    mkdir -p "$held/sbin" "$held/lib"
    ln -sf "$BUILDDIR/criu/lib/libcriu.so.2" "$held/lib/libcriu.so.2"
    printf '#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0\ntouch %s\nwhile [ ! -e %s ]; do sleep 0.1; done\nexit 0\n' \
        "$work/waiting-dump" "$work/release-dump" > "$held/sbin/hold-action"
    echo "action-script $held/sbin/hold-action" > "$held/hold.conf"
    printf '#!/bin/sh\nCRIU_CONFIG_FILE=%s exec %s "$@"\n' \
        "$held/hold.conf" "$BUILDDIR/criu/sbin/criu" > "$held/sbin/criu"
    chmod +x "$held/sbin/criu" "$held/sbin/hold-action"
    VSERVER_CRIU_DIR=$held "$instance" start "$inst_dir" >/dev/null
    vsh start j >/dev/null
    vsh save j "$work/j.save" > "$work/save.out" 2>&1 &
    svpid=$!
    if held dump; then
        ok 0 "a save waits with its dump held"
        answers_at_once "meanwhile virsh list answers" virsh -q -c "$uri" list --all
        answers_at_once "meanwhile dominfo of that domain answers" virsh -q -c "$uri" dominfo j
        vsh undefine j > "$work/undefine.out" 2>&1 &
        upid=$!
        ok $(( ! $(wait_until "$still_window" pid_gone "$upid"; echo $?) )) \
            "an undefine during the save waits for it"
        release dump
        bg_wait "$svpid"
        rc=$?
        ok $rc "the save then completes"
        [ "$rc" -eq 0 ] || sed 's/^/# /' "$work/save.out"
        bg_wait "$upid"
        rc=$?
        ok $rc "the undefine then succeeds"
        [ "$rc" -eq 0 ] || sed 's/^/# /' "$work/undefine.out"
        equals "... the domain is gone" "" "$(vsh list --all --name | grep -x j)"
        check "the image restores (a transient domain)" -- vsh restore "$work/j.save"
        equals "... running" "running" "$(vsh domstate j 2>&1)"
        vsh destroy j >/dev/null 2>&1
    else
        ok 1 "a save waits with its dump held"
        release dump
        bg_wait "$svpid"
        vsh destroy j >/dev/null 2>&1
        vsh undefine j >/dev/null 2>&1
    fi
else
    echo "# no CRIU in the build: the undefine during a save is not tried"
    vsh undefine j >/dev/null
fi
# --- queries while contexts are torn down: a stopped context's shim,
# processes and cgroups go with the domain unlocked while it still reads
# as running; what reads it meanwhile answers (without usage figures) or
# says the context is stopping or gone, and never fails otherwise
for i in 0 1 2; do ctx_xml "tq$i" "$rootfs" "exec sleep 100000" > "$work/tq$i.xml"; done
/usr/bin/python3 - "$uri" "$work" > "$work/teardown.out" 2>&1 <<'PY'
import sys, threading, time, libvirt
uri, work = sys.argv[1:3]
libvirt.registerErrorHandler(lambda ctx, err: None, None)
fine = (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID)
stop = threading.Event()
errors, cycles, polls = [], [0], [0]

def cycler(i):
    conn = libvirt.open(uri)
    xml = open("%s/tq%d.xml" % (work, i)).read()
    try:
        while not stop.is_set():
            dom = conn.createXML(xml, 0)
            dom.destroy()
            cycles[0] += 1
    except libvirt.libvirtError as e:
        errors.append("cycle: %s" % e)
    finally:
        conn.close()

threads = [threading.Thread(target=cycler, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
conn = libvirt.open(uri)
deadline = time.monotonic() + 20
while time.monotonic() < deadline and (cycles[0] < 60 or polls[0] < 60) and not errors:
    try:
        conn.getAllDomainStats(0)
    except libvirt.libvirtError as e:
        errors.append("domstats: %s" % e)
    for dom in conn.listAllDomains(0):
        for what, call in (("info", dom.info),
                           ("cpu-stats", lambda: dom.getCPUStats(True)),
                           ("dommemstat", dom.memoryStats),
                           ("schedinfo", dom.schedulerParameters)):
            try:
                call()
            except libvirt.libvirtError as e:
                if e.get_error_code() not in fine:
                    errors.append("%s: %s (code %d)" % (what, e, e.get_error_code()))
    polls[0] += 1
stop.set()
for t in threads:
    t.join(30)
print("cycles %d polls %d errors %d" % (cycles[0], polls[0], len(errors)))
for e in errors[:5]:
    print("error: %s" % e)
PY
sed 's/^/# /' "$work/teardown.out"
grep -q "errors 0$" "$work/teardown.out" &&
    [ "$(sed -n 's/^cycles \([0-9]*\) .*/\1/p' "$work/teardown.out")" -ge 20 ]
ok $? "while 3 contexts start and are destroyed over and over, dominfo, domstats, cpu-stats, dommemstat and schedinfo of them never fail but for 'stopping' or 'gone'"
for i in 0 1 2; do vsh destroy "tq$i" >/dev/null 2>&1; done

wait_until 10 no_leftovers
equals "nothing is left" "" "$(ctx_leftovers j "$rootfs")"
for i in 0 1 2; do
    equals "nothing is left of tq$i" "" "$(ctx_leftovers "tq$i" "$rootfs")"
done

tap_done
