#!/bin/bash
# The project's CRIU (build-aux/prepare-criu.sh): it passes `criu check` on
# this kernel, libcriu answers criu_feature_check(), and a namespaced
# process tree holding a listening and an established TCP connection is
# dumped and restored through libcriu and goes on counting over that same
# connection.  The dump of inet sockets needs our SO_PASSCRED/SO_PASSSEC
# patch on Linux >= 6.16.
#
#   criutest.sh CRIU_PREFIX CRIUPROBE
#
# Needs root.  Everything lives below one temporary directory, removed at
# exit with every process the test started.
set -u
. "$(dirname "$0")/../session.sh"

prefix=$1
probe=$2
criu=$prefix/sbin/criu
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3

tap_n=0 tap_failed=0
ok() {
    local rc=$1; shift
    tap_n=$((tap_n + 1))
    if [ "$rc" -eq 0 ]; then echo "ok $tap_n - $*"
    else tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; fi
}
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

if [ ! -x "$criu" ]; then
    echo "1..0 # SKIP CRIU was not built (meson option criu, build-aux/prepare-criu.sh)"
    exit 0
fi

work=$(mktemp -d /var/tmp/criutest.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    [ -f "$work/restored" ] && kill -KILL "$(cat "$work/restored")" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. criu check, libcriu
out=$("$criu" check 2>&1)
ok $? "criu check passes on $(uname -r)"
[ "$out" = "Looks good." ] || diag "$out"

feat=$(cd "$work" && "$probe" "$criu" features 2>&1)
ok $? "libcriu: criu_feature_check() answers ($feat)"
case "$feat" in
    *mem_track=1*) diag "memory tracking is available: iterative pre-copy possible" ;;
    *) diag "no memory tracking (soft-dirty) in this kernel: no pre-dump" ;;
esac

# --- 1b. a dump finishes on this processor.  compel catches a parasite's
# sigreturn with a hardware breakpoint; on some VMs (AMD Zen 5 guests) the
# trap never comes and an unpatched CRIU waits forever.  Our kerndat probe
# (build-aux/criu-patches/0002-*) finds that out here, at run time.
setsid sleep 1000 </dev/null >/dev/null 2>&1 &
sleeper=$!
pids+=("$sleeper")
mkdir "$work/bp"
timeout 60 "$criu" dump -t "$sleeper" -D "$work/bp" --shell-job -v4 -o dump.log 2>/dev/null
rc=$?
ok $rc "a dump of a plain process finishes within 60 s on this processor ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
[ $rc -eq 124 ] && diag "criu dump hung: $(tail -n 2 "$work/bp/dump.log")"
if grep -q 'Hardware breakpoints do not trap' "$work/bp/dump.log" 2>/dev/null; then
    diag "hardware breakpoints do not trap here: CRIU steps with PTRACE_SYSCALL"
elif grep -q 'Loaded kdat cache' "$work/bp/dump.log" 2>/dev/null; then
    diag "kerndat came from CRIU's cache (the probe ran earlier this boot)"
else
    diag "hardware breakpoints trap here"
fi

# --- 2. a TCP counter in its own pid, mount and net namespaces
out_file=$work/count
setsid unshare -pfnm --mount-proc sh -c \
    "ip link set lo up && exec setsid $py $here/counter.py $out_file </dev/null >/dev/null 2>&1" &
outer=$!
pids+=("$outer")
init=""
for _ in $(seq 1 100); do
    init=$(pgrep -P "$outer" 2>/dev/null | head -n 1)
    [ -n "$init" ] && [ -s "$out_file" ] && break
    sleep 0.1
done
[ -n "$init" ] && grep -q "NSpid:.*[[:space:]]1$" "/proc/$init/status" &&
    [ "$(ps -o sid= -p "$init" | tr -d ' ')" = "$init" ]
ok $? "the counter runs as PID 1 and session leader of its namespaces (host pid $init)"
pids+=("$init")
sleep 1

# --- 3. dump through libcriu
mkdir "$work/img"
"$probe" "$criu" dump "$init" "$work/img" 2>"$work/dump.err"
rc=$?
ok $rc "criu_dump() of a tree holding a listening and an established TCP socket"
[ $rc = 0 ] || { diag "$(cat "$work/dump.err")"; grep -E 'Error' "$work/img/dump.log" | head -5 | sed 's/^/# /'; }
grep -q 'not supported by socket .*, dumped as unset' "$work/img/dump.log"
ok $? "the dump went through our SO_PASSCRED/SO_PASSSEC fix (the kernel refused the option)"
sleep 0.3
! kill -0 "$init" 2>/dev/null
ok $? "after the dump the tree is gone"
at_dump=$(wc -l < "$out_file")
sleep 1
[ "$(wc -l < "$out_file")" = "$at_dump" ]
ok $? "nothing counts while the tree is only an image ($at_dump lines)"

# --- 4. restore as our child
"$probe" "$criu" restore "$work/img" > "$work/restored" 2>"$work/restore.err" &
pids+=("$!")
for _ in $(seq 1 100); do
    [ -s "$work/restored" ] && break
    sleep 0.1
done
new=$(cat "$work/restored" 2>/dev/null)
[ -n "$new" ] && kill -0 "$new" 2>/dev/null &&
    grep -q "NSpid:.*[[:space:]]1$" "/proc/$new/status"
ok $? "criu_restore_child(): the tree is back, PID 1 of its namespaces again (host pid $new)"
[ -n "$new" ] || diag "$(cat "$work/restore.err")" "$(grep Error "$work/img/restore.log" | head -5)"
sleep 1.5
# every line "<n> <n as received>": one sequence without gap or repeat
# across the dump, each number received intact over the restored
# connection
total=$(wc -l < "$out_file")
awk 'BEGIN { e = 1 } $1 != e || $2 != $1 { bad = 1 } { e++ } END { exit bad }' "$out_file" &&
    [ "$total" -gt $((at_dump + 5)) ]
ok $? "the counter goes on over the same TCP connection: $at_dump lines at the dump, $total now, no gap"
ss=$(nsenter -t "$new" -n ss -tanH 2>&1)
grep -q 'LISTEN.*127.0.0.1:5555' <<<"$ss" && [ "$(grep -c ESTAB <<<"$ss")" = 2 ]
ok $? "the restored netns has the listener and both ends of the connection"
[ $? = 0 ] || diag "$ss"

kill -KILL "$new" 2>/dev/null
echo "1..$tap_n"
[ "$tap_failed" = 0 ]
