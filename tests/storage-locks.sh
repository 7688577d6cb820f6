#!/bin/bash
# Storage locking (issue 16): a long operation on one pool holds up
# neither the other pools, nor the rest of its own pool, nor contexts
# starting on volumes; a busy volume or pool refuses to be deleted or
# stopped, naming the job; a ready template's facts and a pool's store
# counters are computed once and dropped when the pool changes.
#
# The long operations are real ones, held at an honest point:
# pool-dumpxml (its store counters) and pool-refresh of pool A wait for
# A's object store while an outside
# `vserver-hashify --gc` would hold it (here: an exclusive flock on
# .hash/.lock, which is what such a run takes); a vol-upload waits for the
# rest of its tarball, fed through a FIFO.  Every answer meanwhile must
# come within a deadline (reported; the deadline is generous, not a
# timing goal).  Needs root and `vserver-hashify import`.
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
base=$(mktemp -d /var/tmp/vserver-locktest.XXXXXX)
bgpids=
locks_cleanup() {
    local p
    for p in $bgpids; do kill "$p" 2>/dev/null; done
    inst_cleanup
    rm -rf "$base"
}
trap locks_cleanup EXIT

deadline=5          # seconds, for a query or a refusal
start_deadline=10   # seconds, for a context's start on a loaded host
hashify=$BUILDDIR/src/hashify/vserver-hashify
now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }
vol_xml() { printf '<volume><name>%s</name></volume>\n' "$1" > "$base/$1.vol.xml"; echo "$base/$1.vol.xml"; }
vol_alloc() { vsh vol-info --bytes --pool "$1" "$2" 2>/dev/null | awk '/^Allocation:/ {print $2}'; }
stats() {
    vsh pool-dumpxml "$1" 2>/dev/null | sed -n "s|.*<stats objects='\([0-9]*\)' stored='\([0-9]*\)' saved='\([0-9]*\)'/>.*|\1 \2 \3|p"
}

# bounded SECONDS COMMAND...: COMMAND ("vsh ..." for virsh on the
# instance), killed after SECONDS
bounded() {
    local secs=$1; shift
    if [ "$1" = vsh ]; then
        shift
        set -- virsh -q -c "$uri" "$@"
    fi
    timeout -k 1 "$secs" "$@"
}

# within SECONDS DESC COMMAND...: COMMAND succeeds before SECONDS have
# passed (it is killed then); its output is left in $out
within() {
    local secs=$1 desc=$2 t0 rc; shift 2
    t0=$(now_ms)
    out=$(bounded "$secs" "$@" 2>&1); rc=$?
    ok $rc "$desc ($(( $(now_ms) - t0 )) ms, deadline $secs s)"
    [ $rc -eq 0 ] || printf '%s\n' "$out" | head -n 5 | sed 's/^/# /'
}

# refused_within SECONDS DESC NEEDLE COMMAND...: COMMAND fails before
# SECONDS have passed, with NEEDLE in its message
refused_within() {
    local secs=$1 desc=$2 needle=$3 t0 rc; shift 3
    t0=$(now_ms)
    out=$(bounded "$secs" "$@" 2>&1); rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ]
    ok $? "$desc ($(( $(now_ms) - t0 )) ms, deadline $secs s)"
    contains "... saying: $needle" "$needle" "$out"
}

# store_waiters LOCKFILE: processes of the daemon waiting for the flock on
# LOCKFILE (blocked requests are the "->" lines of /proc/locks)
store_waiters() {
    local ino pid
    ino=$(stat -c %i "$1") pid=$(inst_daemon_pid)
    awk -v ino="$ino" -v pid="$pid" \
        '$2 == "->" && $3 == "FLOCK" { split($7, f, ":"); if (f[3] == ino && $6 == pid) n++ } END { print n + 0 }' /proc/locks
}
# waiters_at_least LOCKFILE N
waiters_at_least() { [ "$(store_waiters "$1")" -ge "$2" ]; }
# importing TREE: an importer writes into TREE
importing() { pgrep -f "vserver-hashify import .*$1\$" >/dev/null; }

ctx_vol_xml() {
    cat <<XML
<domain type='lxc'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg><initarg>while :; do sleep 1; done</initarg></os>
  <devices>
    <filesystem type='volume'><source pool='$2' volume='$3'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
XML
}

if ! "$hashify" --help 2>&1 | grep -q import; then
    echo "1..0 # SKIP $hashify has no import"
    exit 0
fi

# ===================================================================
# two pools, a template in each, a guest of B's with a context on it
for P in A B; do
    mkdir -p "$base/pool$P"
    cat > "$base/pool$P.xml" <<XML
<pool type='hashify'>
  <name>$P</name>
  <target><path>$base/pool$P</path></target>
</pool>
XML
    vsh pool-define "$base/pool$P.xml" >/dev/null && vsh pool-build "$P" >/dev/null &&
        vsh pool-start "$P" >/dev/null
    ok $? "pool $P defined, built and started"
done
mkrootfs "$base/rootfs"
tarball=$base/rootfs.tar
tar --numeric-owner -cf "$tarball" -C "$base/rootfs" .
ok $? "a busybox root tarball ($(( $(stat -c %s "$tarball") / 1024 )) KiB)"
for P in A B; do
    vsh vol-create "$P" "$(vol_xml T$P)" >/dev/null &&
        vsh vol-upload --pool "$P" "T$P" "$tarball" >/dev/null
    ok $? "template T$P uploaded into pool $P"
done
check "guest GB cloned from TB" -- vsh vol-clone --pool B TB GB
ctx_vol_xml cb B GB > "$base/cb.xml"
check "context cb defined on GB" -- vsh define "$base/cb.xml"

# ===================================================================
# pool A's store held by an outside collector: pool-dumpxml (counting the
# store) and pool-refresh of A wait for it inside the daemon
lock=$base/poolA/.hash/.lock
( exec 9>>"$lock"; flock -x 9 && : > "$base/held" && exec sleep 600 ) &
holder=$!
bgpids="$bgpids $holder"
wait_until "$deadline" test -e "$base/held"
ok $? "an outside process holds pool A's store exclusively"

vsh pool-dumpxml A > "$base/info.out" 2>&1 &
info=$!
vsh pool-refresh A > "$base/refresh.out" 2>&1 &
refresh=$!
bgpids="$bgpids $info $refresh"
wait_until 10 waiters_at_least "$lock" 2
ok $? "pool-dumpxml A and pool-refresh A wait for the store inside the daemon ($(store_waiters "$lock") waiting)"

within "$deadline" "meanwhile pool-list answers" vsh pool-list --all
contains "... listing pool A" " A " " $(echo $out) "
contains "... and pool B" " B " " $(echo $out) "
within "$deadline" "vol-list of pool B answers" vsh vol-list B
contains "... listing TB and GB" "GB" "$out"
within "$deadline" "vol-list of pool A answers too" vsh vol-list A
contains "... listing TA" "TA" "$out"
within "$deadline" "vol-info of pool B's template answers" vsh vol-info --pool B TB
within "$deadline" "vol-dumpxml of pool A's template answers (a walk of its tree, not of the store)" \
    vsh vol-dumpxml --pool A TA
within "$deadline" "vol-clone in pool B answers" vsh vol-clone --pool B TB GB2
within "$start_deadline" "a context on pool B's guest volume starts" vsh start cb
equals "... and runs" "running" "$(vsh domstate cb 2>&1)"
within "$deadline" "pool-info of pool A answers (the file system's figures)" vsh pool-info A
within "$deadline" "pool-dumpxml of pool B answers (its own store)" vsh pool-dumpxml B
refused_within "$deadline" "pool-destroy of pool A is refused at once" \
    "is busy: pool-refresh is collecting its store" vsh pool-destroy A
refused_within "$deadline" "vol-delete of pool A's template, which the refresh sweeps, is refused at once" \
    "is busy" vsh vol-delete --pool A TA
refused_within "$deadline" "a second pool-refresh of pool A is refused at once" \
    "another pool-refresh is running" vsh pool-refresh A
within "$deadline" "the context on pool B is destroyed" vsh destroy cb
kill -0 "$info" 2>/dev/null && kill -0 "$refresh" 2>/dev/null
ok $? "pool-dumpxml A and pool-refresh A were still waiting all along"

kill "$holder"
wait "$holder" 2>/dev/null
wait_until 20 pid_gone "$info"
ok $? "once the store is free, pool-dumpxml A ends"
wait "$info"
ok $? "... successfully"
contains "... with the store's counters" "<stats objects=" "$(cat "$base/info.out")"
wait_until 20 pid_gone "$refresh"
ok $? "pool-refresh A ends too"
wait "$refresh"
ok $? "... successfully"
[ -s "$base/refresh.out" ] && sed 's/^/# refresh: /' "$base/refresh.out"

# ===================================================================
# an upload held half way: its volume and pool are busy
mkfifo "$base/up.fifo" "$base/go.fifo"
check "vol-create TU in pool B" -- vsh vol-create B "$(vol_xml TU)"
size=$(stat -c %s "$tarball")
( head -c 65536 "$tarball"; read -r _ < "$base/go.fifo"; tail -c +65537 "$tarball" ) > "$base/up.fifo" &
writer=$!
vsh vol-upload --pool B TU "$base/up.fifo" > "$base/up.out" 2>&1 &
upload=$!
bgpids="$bgpids $writer $upload"
wait_until 10 importing "$base/poolB/TU/tree"
ok $? "the upload into TU has begun (its importer runs; $(( size / 1024 )) KiB in all, 64 KiB sent)"
refused_within "$deadline" "vol-delete of TU while it is uploaded is refused" \
    "volume 'TU' of pool 'B' is busy: it is being uploaded (vol-upload)" vsh vol-delete --pool B TU
refused_within "$deadline" "pool-destroy of pool B is refused" \
    "uploads or downloads running" vsh pool-destroy B
refused_within "$deadline" "pool-refresh of pool B is refused" \
    "uploads or downloads running" vsh pool-refresh B
within "$deadline" "vol-info of TU answers during the upload" vsh vol-info --pool B TU
within "$deadline" "vol-list of pool B answers" vsh vol-list B
within "$start_deadline" "a context on pool B's guest volume starts during the upload" vsh start cb
within "$deadline" "... and is destroyed" vsh destroy cb
kill -0 "$upload" 2>/dev/null
ok $? "the upload was still running all along"
echo go > "$base/go.fifo"
wait_until 60 pid_gone "$upload"
ok $? "fed the rest, the upload ends"
wait "$upload"
ok $? "... successfully"
within "$deadline" "then vol-delete of TU works" vsh vol-delete --pool B TU

# ===================================================================
# a ready template's usage is computed once; pool-refresh drops it
a0=$(vol_alloc B TB)
head -c 1048576 /dev/urandom > "$base/poolB/TB/tree/behind-the-back"
a1=$(vol_alloc B TB)
equals "a ready template's allocation is the one computed first (a file added behind the driver's back is not seen)" "$a0" "$a1"
check "pool-refresh B" -- vsh pool-refresh B
a2=$(vol_alloc B TB)
[ -n "$a2" ] && [ -n "$a0" ] && [ "$a2" -ge $(( a0 + 1048576 )) ]
ok $? "after pool-refresh the template's usage is computed again ($a0 -> $a2)"
rm -f "$base/poolB/TB/tree/behind-the-back"
vsh pool-refresh B >/dev/null

# a pool's store counters are kept until the pool changes
s0=$(stats A)
mkdir -p "$base/extra"
head -c 1048576 /dev/urandom > "$base/extra/object"
"$hashify" -s "$base/poolA" "$base/extra" >/dev/null 2>&1
ok $? "an object added to pool A's store behind the driver's back"
equals "pool-dumpxml shows the counters computed before" "$s0" "$(stats A)"
check "pool-refresh A" -- vsh pool-refresh A
s1=$(stats A)
[ -n "$s1" ] && [ "$s1" != "$s0" ]
ok $? "after pool-refresh the counters are counted again ($s0 -> $s1)"
rm -rf "$base/extra"
vsh pool-refresh A >/dev/null
s2=$(stats A)
printf 'new\n' > "$base/rootfs/new-file"
tar --numeric-owner -cf "$base/rootfs2.tar" -C "$base/rootfs" .
check "vol-create TA2" -- vsh vol-create A "$(vol_xml TA2)"
check "vol-upload of a tarball with one more file into TA2" -- vsh vol-upload --pool A TA2 "$base/rootfs2.tar"
s3=$(stats A)
[ -n "$s3" ] && [ "$s3" != "$s2" ]
ok $? "an upload changes the counters at once, without a refresh ($s2 -> $s3)"
check "vol-delete TA2" -- vsh vol-delete --pool A TA2
s4=$(stats A)
[ -n "$s4" ] && [ "$s4" != "$s3" ]
ok $? "so does a delete ($s3 -> $s4)"

tap_done
