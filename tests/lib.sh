# Shared helpers for the integration tests (sourced). TAP output.
# Each test gets its own private virtvserverd instance below a fresh
# temporary directory, removed at exit.

. "$(dirname "${BASH_SOURCE[0]}")/session.sh"

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BUILDDIR=${BUILDDIR:-$top/build}
export VSERVER_SCHEMA_DIR=${VSERVER_SCHEMA_DIR:-$top/xml/schemas}
instance=$top/tools/vserver-instance

tap_n=0
tap_failed=0

ok() {   # ok CONDITION-EXIT-STATUS DESCRIPTION
    local rc=$1; shift
    tap_n=$((tap_n + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $tap_n - $*"
    else
        tap_failed=$((tap_failed + 1))
        echo "not ok $tap_n - $*"
    fi
}

# check DESCRIPTION -- COMMAND...: passes when COMMAND exits 0
check() {
    local desc=$1; shift
    [ "$1" = "--" ] && shift
    local out
    if out=$("$@" 2>&1); then
        ok 0 "$desc"
    else
        ok 1 "$desc"
        printf '%s\n' "$out" | sed 's/^/# /'
    fi
}

# contains DESCRIPTION NEEDLE HAYSTACK
contains() {
    case "$3" in
        *"$2"*) ok 0 "$1" ;;
        *) ok 1 "$1"; echo "# expected to find: $2"; printf '%s\n' "$3" | head -n 20 | sed 's/^/#   /' ;;
    esac
}

# equals DESCRIPTION EXPECTED ACTUAL
equals() {
    if [ "$2" = "$3" ]; then ok 0 "$1"; else ok 1 "$1"; echo "# expected '$2', got '$3'"; fi
}

tap_done() {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
}

# in_session_keyring "$@": run this test again in a session keyring of its
# own, which the daemon it starts inherits (context-syscalls in-session
# says why)
in_session_keyring() {
    [ -n "${VSERVER_TEST_KEYRING:-}" ] && return 0
    export VSERVER_TEST_KEYRING=1
    exec "${CONTEXT_SYSCALLS:-$BUILDDIR/tests/context-syscalls}" in-session \
        "$BASH" "$0" "$@"
}

inst_setup() {
    inst_dir=$(mktemp -d /tmp/vserver-test.XXXXXX)
    trap inst_cleanup EXIT
    "$instance" start "$inst_dir" >/dev/null
    uri=$("$instance" uri "$inst_dir")
    admin_uri="virtvserverd:///system?socket=$inst_dir/run/libvirt/virtvserverd-admin-sock"
    confdir=$inst_dir/etc/libvirt/vserver
}

inst_cleanup() {
    inst_contexts_cleanup
    "$instance" stop "$inst_dir" >/dev/null 2>&1 || "$instance" kill "$inst_dir" >/dev/null 2>&1
    rm -rf "$inst_dir"
}

vsh() {
    virsh -q -c "$uri" "$@"
}

# --- contexts (used by tests/context-*.sh)

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s until it
# succeeds, for at most SECONDS of wall time
wait_until() {
    local end=$(( ${EPOCHREALTIME/[.,]/} + $1 * 1000000 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "${EPOCHREALTIME/[.,]/}" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# above N COMMAND...: COMMAND prints a whole number greater than N
above() {
    local n=$1 v; shift
    v=$("$@" 2>/dev/null) && [ -n "$v" ] && [ "$v" -gt "$n" ] 2>/dev/null
}

# counter_value FILE: the number on FILE's last line (a counter a context
# writes, one number a line or just the latest one); empty if none yet
counter_value() { tail -n 1 "$1" 2>/dev/null; }

# counter_grows FILE [BY] [SECONDS]: FILE's counter goes up by at least BY
# (default 1) from its value now, within SECONDS (default 5)
counter_grows() {
    local from
    from=$(counter_value "$1")
    wait_until "${3:-5}" above "$(( ${from:-0} + ${2:-1} - 1 ))" counter_value "$1"
}

# lines_grow FILE [BY] [SECONDS]: FILE gains at least BY lines (default 1)
# within SECONDS (default 5)
lines_grow() {
    wait_until "${3:-5}" above "$(( $(wc -l < "$1") + ${2:-1} - 1 ))" line_count "$1"
}
line_count() { wc -l < "$1"; }

# seq_ok FILE: FILE holds 1, 2, 3, ... with no gap and no repeat
seq_ok() {
    awk 'NR != $1 { bad = 1 } END { exit bad || NR == 0 }' "$1"
}

# ctx_listening PID PORT: a TCP listener on PORT in the network namespace
# of PID
ctx_listening() { nsenter -t "$1" -n ss -Hltn "sport = :$2" 2>/dev/null | grep -q .; }

# the fixed time a negative check watches for something NOT to happen (a
# paused or saved context's counter staying put): no condition can end
# such a wait early, so it is a window, not a deadline
still_window=1

# xml_escape TEXT: TEXT made safe for XML character data and attributes
xml_escape() {
    printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' \
        -e "s/'/\&apos;/g" -e 's/"/\&quot;/g'
}

# mkrootfs DIR: a busybox root file system (tests/mkrootfs.sh)
mkrootfs() {
    bash "$top/tests/mkrootfs.sh" "$1"
}

# ctx_xml NAME ROOTFS SCRIPT [DOMAIN-XML [DEVICES-XML]]: a context whose
# init is "/bin/sh -c SCRIPT" (SCRIPT empty: /sbin/init); DOMAIN-XML goes
# below <domain> (features, memtune, on_*), DEVICES-XML into <devices>.
ctx_xml() {
    local init="<init>/sbin/init</init>"
    [ -n "$3" ] && init="<init>/bin/sh</init><initarg>-c</initarg><initarg>$(xml_escape "$3")</initarg>"
    cat <<XML
<domain type='lxc'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <os><type>exe</type>$init</os>
  ${4:-}
  <devices>
    <filesystem type='mount'><source dir='$2'/><target dir='/'/></filesystem>
    ${5:-}
    <console type='pty'/>
  </devices>
</domain>
XML
}

# ctx_bind HOSTDIR TARGET [ro]: a <filesystem> bind mount for ctx_xml
ctx_bind() {
    printf "<filesystem type='mount'><source dir='%s'/><target dir='%s'/>%s</filesystem>" \
        "$1" "$2" "${3:+<readonly/>}"
}

# ctx_enter DOMAIN COMMAND: run "sh -c COMMAND" inside a running context
ctx_enter() {
    # the safe way in (lxc-enter-namespace is refused by default); pipes,
    # not a pty: the tests read what the command prints
    VSERVER_SHIM_PATH=$BUILDDIR/src/libvirt_vserver_shim \
        "$top/tools/vserver-enter" -T -c "$uri" "$1" -- /bin/sh -c "$2"
}

# ctx_shims [NAME]: pids of this instance's shims (of one context)
ctx_shims() {
    pgrep -f "libvirt_vserver_shim --config $inst_dir/run/libvirt/vserver/${1:+$1\\.shim }" | sort -n
}

# cg_roots: the roots of the host's cgroup hierarchies: /sys/fs/cgroup
# itself on a pure cgroup2 host, else each hierarchy mounted below it (the
# v1 controllers' and the cgroup2 one)
cg_roots() {
    local d
    if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
        echo /sys/fs/cgroup
        return
    fi
    for d in /sys/fs/cgroup/*/; do
        echo "${d%/}"
    done
}

# cg_v2_root: the host's cgroup2 hierarchy (on a hybrid host the one
# without controllers), empty when there is none
cg_v2_root() {
    awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo
}

# ctx_cgroups [NAME]: this instance's cgroup dirs (of one context), in
# every hierarchy
ctx_cgroups() {
    local base=vserver-instance-$(basename "$inst_dir")
    find $(cg_roots | sed "s|\$|/$base|") -mindepth 1 -type d \
        -name "${1:-*}.libvirt-vserver" 2>/dev/null | sort
}

# ctx_cg_dir NAME CONTROLLER: the group of context NAME in the hierarchy
# that serves CONTROLLER: its v1 hierarchy where the host has one, else
# the cgroup2 one (a pure v2 host)
ctx_cg_dir() {
    local base=vserver-instance-$(basename "$inst_dir")
    if [ -d "/sys/fs/cgroup/$2/$base" ]; then
        echo "/sys/fs/cgroup/$2/$base/$1.libvirt-vserver"
    else
        echo "$(cg_v2_root)/$base/$1.libvirt-vserver"
    fi
}

# ctx_cg_value NAME FILE: a limit or state of context NAME as cgroup v1's
# FILE states it, read from that file where the host's v1 hierarchy has
# it, else from the cgroup2 files that hold the same (a pure v2 host):
# memory.max/high for the byte limits (v1's figure for "max"), memory.max
# plus memory.swap.max for memory+swap, cpu.weight for the shares, the
# halves of cpu.max ("max" is v1's -1), cgroup.events' "frozen" for the
# freezer's state
ctx_cg_value() {
    local d f=$2 v m s unlimited=9223372036854771712
    d=$(ctx_cg_dir "$1" "${f%%.*}")
    if [ -e "$d/$f" ] || [ "${d#/sys/fs/cgroup/${f%%.*}/}" != "$d" ]; then
        cat "$d/$f" 2>&1
        return
    fi
    v2max() {
        v=$(cat "$d/$1" 2>&1) || { echo "$v"; return; }
        [ "$v" = max ] && v=$unlimited
        echo "$v"
    }
    case "$f" in
    memory.limit_in_bytes) v2max memory.max ;;
    memory.soft_limit_in_bytes) v2max memory.high ;;
    memory.memsw.limit_in_bytes)
        m=$(v2max memory.max) s=$(v2max memory.swap.max)
        if [ "$m" = $unlimited ] || [ "$s" = $unlimited ]; then
            echo $unlimited
        else
            echo $((m + s))
        fi ;;
    cpu.shares) cat "$d/cpu.weight" 2>&1 ;;
    cpu.cfs_quota_us)
        v=$(cut -d' ' -f1 "$d/cpu.max" 2>&1)
        [ "$v" = max ] && v=-1
        echo "$v" ;;
    cpu.cfs_period_us) cut -d' ' -f2 "$d/cpu.max" 2>&1 ;;
    freezer.state)
        if grep -qx 'frozen 1' "$d/cgroup.events" 2>/dev/null; then
            echo FROZEN
        else
            echo THAWED
        fi ;;
    *) cat "$d/$f" 2>&1 ;;
    esac
}

# ctx_runfiles [NAME]: files of this instance's run dir (of one context)
ctx_runfiles() {
    ls "$inst_dir/run/libvirt/vserver/" 2>/dev/null | grep "^${1:-.*}\." | sort
}

# ctx_mounts PATH: mounts, in any mount namespace of the host, of PATH or
# below (a leaked namespace keeps the context's mounts alive)
ctx_mounts() {
    cat /proc/[0-9]*/mountinfo 2>/dev/null | awk -v p="$1" \
        'index($4, p) == 1 || index($5, p) == 1' | sort -u
}

# ctx_leftovers NAME ROOTFS: what is left of a context that should be
# gone; empty when nothing is
ctx_leftovers() {
    local s
    s=$(ctx_shims "$1")
    [ -n "$s" ] && echo "shim process(es): $s"
    s=$(ctx_cgroups "$1")
    [ -n "$s" ] && echo "cgroups: $s"
    s=$(ctx_runfiles "$1")
    [ -n "$s" ] && echo "run dir files: $s"
    s=$(ctx_mounts "$2")
    [ -n "$s" ] && echo "mounts: $s"
    return 0
}

# Shims outlive the daemon by design: destroy every context of the
# instance while its daemon still runs, then kill what is left (shims, the
# processes of the instance's cgroups) and remove its cgroup partition.
inst_contexts_cleanup() {
    local base d pid part
    [ -n "${inst_dir:-}" ] && [ -d "$inst_dir" ] || return 0
    if "$instance" status "$inst_dir" 2>/dev/null; then
        for d in $(virsh -q -c "$uri" list --name 2>/dev/null); do
            timeout 20 virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1
        done
    fi
    for pid in $(ctx_shims); do
        kill -KILL "$pid" 2>/dev/null
    done
    base=vserver-instance-$(basename "$inst_dir")
    for part in $(cg_roots | sed "s|\$|/$base|"); do
        [ -d "$part" ] || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            for pid in $(cat $(find "$part" -name cgroup.procs) 2>/dev/null); do
                kill -KILL "$pid" 2>/dev/null
            done
            find "$part" -depth -type d -exec rmdir {} \; 2>/dev/null
            [ -d "$part" ] || break
            sleep 0.1
        done
    done
}

# --- lifecycle helpers (context-lifecycle.sh, context-daemon.sh)

ctx_st() { vsh domstate --reason "$1" 2>&1; }
ctx_state_is() { [ "$(ctx_st "$1")" = "$2" ]; }
# ctx_wait_state DOMAIN STATE [SECONDS]
ctx_wait_state() { wait_until "${3:-10}" ctx_state_is "$1" "$2"; }
ctx_initpid() { vsh domid "$1" 2>/dev/null; }
# cheap kernel-side waits first; virsh is slow to start on a busy host
ctx_shim_gone() { [ -z "$(ctx_shims "$1")" ]; }
# ctx_new_init SHIM OLD-INIT: the shim has a child that is not OLD-INIT
ctx_new_init() { local c; c=$(pgrep -P "$1"); [ -n "$c" ] && [ "$c" != "$2" ]; }
ctx_domid_changed() { local v; v=$(ctx_initpid "$1"); [ -n "$v" ] && [ "$v" != "$2" ] && [ "$v" != - ]; }
pid_alive() { kill -0 "$1" 2>/dev/null; }
pid_gone() { ! pid_alive "$1"; }
# ctx_nothing_left DESC DOMAIN ROOTFS: a case that nothing of DOMAIN is left
ctx_nothing_left() {
    equals "$1" "" "$(ctx_leftovers "$2" "$3")"
}
inst_daemon_pid() { cat "$inst_dir/run/virtvserverd.pid"; }

# --- distribution guests (context-distro*.sh, context-guestinfo.sh)

distro_shift=200000
distro_cache=${VSERVER_DISTRO_CACHE:-/var/cache/libvirt-vserver/distro}

# distro_tree INIT: sets $tree to the cached bookworm tree with INIT
# (systemd, sysvinit, openrc), owned by ids from $distro_shift
# (tests/distro/mkguest.sh); the test is skipped when the archive cannot
# be reached and nothing is cached
distro_tree() {
    local rc
    if ! tree=$(bash "$top/tests/distro/mkguest.sh" "$distro_cache" bookworm "$1" "$distro_shift"); then
        rc=$?
        if [ "$rc" = 3 ]; then
            echo "1..0 # SKIP the Debian archive is unreachable and no bookworm $1 tree is cached"
            exit 0
        fi
        echo "Bail out! cannot make the bookworm $1 tree (mkguest.sh exit $rc)"
        exit 1
    fi
}

# distro_xml NAME TREE [MEMORY-MIB]: an unprivileged context (<idmap> 0 ->
# $distro_shift, its own network namespace) on the directory root TREE
distro_xml() {
    cat <<XML
<domain type='lxc'>
  <name>$1</name>
  <memory unit='MiB'>${3:-512}</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <idmap>
    <uid start='0' target='$distro_shift' count='65536'/>
    <gid start='0' target='$distro_shift' count='65536'/>
  </idmap>
  <features><privnet/></features>
  <devices>
    <filesystem type='mount'><source dir='$2'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
XML
}

# in_ctx DOMAIN COMMAND...: run COMMAND inside, through the enter helper
in_ctx() {
    local d=$1; shift
    VSERVER_SHIM_PATH=$BUILDDIR/src/libvirt_vserver_shim \
        "$top/tools/vserver-enter" -c "$uri" "$d" -- "$@" 2>&1
}

# distro_settled DOMAIN: systemd inside has finished starting up: running,
# degraded or maintenance.  Not "offline": systemctl says so before
# systemd has made /run/systemd/system (sd_booted()), early in a boot
# on a fresh /run; nor starting, initializing, or a failed connection.
distro_settled() {
    case $(in_ctx "$1" /bin/systemctl is-system-running) in
        running|degraded|maintenance) return 0 ;;
        *) return 1 ;;
    esac
}
