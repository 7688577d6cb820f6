#!/bin/bash
# Real contexts (root): entering a running context with vserver-enter is
# safe by construction.  While an admin enters (on a pty of its own, and
# with pipes), the context's root (tests/context-enter-attack.c, run by
# init) finds the entered process and tries ptrace, its /proc fds, cwd,
# root and environment, and TIOCSTI on every terminal it can reach: once
# right after the process appears (VSERVER_ENTER_STOP holds it there,
# before its exec) and once after the exec.  The process must hold
# nothing of the host at either moment: init's capabilities and seccomp
# filter, fds 0-2 only, on the context's own pty or on pipes.  Without
# and with <idmap>.  And virsh lxc-enter-namespace: refused by default,
# allowed with allow_lxc_enter_namespace = 1.
set -u
. "$(dirname "$0")/lib.sh"

attack=${CONTEXT_ENTER_ATTACK:-$BUILDDIR/tests/context-enter-attack}
if [ ! -x "$attack" ]; then
    echo "1..0 # SKIP no $attack (built by meson)"
    exit 0
fi
export VSERVER_SHIM_PATH=$BUILDDIR/src/libvirt_vserver_shim
enter=$top/tools/vserver-enter

inst_setup
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"
cp "$attack" "$rootfs/bin/enter-attack"
chmod 0755 "$inst_dir"
# a host file outside every context's root, to be read through the process
secret=$inst_dir/host-secret
echo "host secret" > "$secret"
chmod 0644 "$secret"

# --- the context's root, waiting for an admin: armed by /out/arm, then
# the process before its exec (comm libvirt_vserver), then after (its
# command line has /out/stop)
cat > "$rootfs/attack.sh" <<EOF
while :; do
    if [ -e /out/arm ]; then
        rm -f /out/arm
        /bin/enter-attack /out/pre.txt libvirt_vserver 60 '$secret'
        /bin/enter-attack /out/post.txt /out/stop 60 '$secret'
    fi
    sleep 0.1
done
EOF

# --- the admin's terminal: a pty of the test's own
cat > "$work/admin.py" <<'EOF'
import os, sys, subprocess, select, time, termios, fcntl, struct
# admin.py OUTFILE INFOFILE SECONDS -- COMMAND...: run COMMAND in a session
# of its own whose controlling terminal is a new pty, as an admin's
# terminal.  OUTFILE: what the terminal showed.  INFOFILE: tty=DEV:INO of
# the terminal, pid= of COMMAND, and at the end rc=, termios-restored=
# (1: the terminal's settings are back as they were), pending= (bytes of
# input left in the terminal, which a shell would read next).
out, info, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
cmd = sys.argv[5:]
m, s = os.openpty()
fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 101, 0, 0))
before = termios.tcgetattr(s)
st = os.fstat(s)
inf = open(info, 'w')
inf.write("tty=%d:%d\n" % (st.st_dev, st.st_ino))
inf.flush()
def pre():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen(cmd, stdin=s, stdout=s, stderr=s, start_new_session=True,
                     preexec_fn=pre, close_fds=True)
inf.write("pid=%d\n" % p.pid)
inf.flush()
buf = b''
deadline = time.monotonic() + secs
while True:
    if select.select([m], [], [], 0.1)[0]:
        try:
            buf += os.read(m, 65536)
        except OSError:
            pass
    rc = p.poll()
    if rc is not None:
        while select.select([m], [], [], 0.2)[0]:
            try:
                d = os.read(m, 65536)
            except OSError:
                break
            if not d:
                break
            buf += d
        break
    if time.monotonic() > deadline:
        p.kill()
        p.wait()
        rc = 'timeout'
        break
after = termios.tcgetattr(s)
pending = struct.unpack('i', fcntl.ioctl(s, termios.FIONREAD, b'\0' * 4))[0]
open(out, 'wb').write(buf)
inf.write("rc=%s\ntermios-restored=%d\npending=%d\n" % (rc, before == after, pending))
inf.close()
EOF

# enter_ctx NAME OUTDIR ROOTFS [DOMAIN-XML]: start an attacking context
enter_ctx() {
    mkdir -p "$2"
    ctx_xml "$1" "$3" "exec /bin/sh /attack.sh" "${4:-}" "$(ctx_bind "$2" /out)" \
        > "$work/$1.xml"
    if o=$(vsh create "$work/$1.xml" 2>&1); then
        ok 0 "the context '$1' starts"
    else
        ok 1 "the context '$1' starts"; printf "%s\n" "$o" | sed "s/^/# /"
        return 1
    fi
}

kv() { awk -F= -v k="$2" '$1 == k {sub(/^[^=]*=/, ""); print; exit}' "$1" 2>/dev/null; }
status_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }
fd_list() { ls "/proc/$1/fd" 2>/dev/null | sort -n | tr '\n' ' '; }
dev_ino() { stat -L -c '%d:%i' "$1" 2>/dev/null; }
# the stopped process of the session whose relay is $1 (relay -> enterer
# -> command)
session_command() {
    local e c
    for e in $(pgrep -P "$1"); do
        for c in $(pgrep -P "$e"); do
            [ "$(awk '$1 == "State:" {print $2}' "/proc/$c/status")" = T ] &&
                { echo "$c"; return 0; }
        done
    done
    return 1
}
file_has() { grep -q "$2" "$1" 2>/dev/null; }
# has_ptrace CAPMASK: CAP_SYS_PTRACE (19) is in the hex mask
has_ptrace() { [ $(( 0x$1 >> 19 & 1 )) = 1 ]; }
# extra_fds FILE: the fds beyond 0-2 the attacker could open (EACCES: none)
extra_fds() {
    local n v
    for n in 3 4 5 6 7; do
        v=$(kv "$1" fd-$n)
        [ -z "$v" ] || [ "$v" = EACCES ] || echo "fd-$n=$v"
    done
}
# tiocsti_ok FILE: the ttys, besides the attacker's own console and
# controlling tty, that TIOCSTI worked on
tiocsti_ok() {
    grep '^tiocsti-\|^fd-[0-9]*-tiocsti' "$1" | grep -v '^tiocsti-/dev/console=\|^tiocsti-/dev/tty=' |
        grep '=ok$' | tr '\n' ' '
}
# pty_fds CMD TTY PTSDEV: fds 0-2 of CMD that are not a pty of the devpts
# PTSDEV, or are the terminal TTY (DEV:INO)
pty_fds() {
    local n v
    for n in 0 1 2; do
        v=$(dev_ino "/proc/$1/fd/$n")
        [ -n "$v" ] && [ "$v" != "$2" ] && [ "${v%%:*}" = "$3" ] || echo "fd $n: $v"
    done
}
# not_ok_value DESC VALUE: VALUE is an errno (the attempt failed)
fails() {
    case "$2" in
        E[A-Z]*) ok 0 "$1 ($2)" ;;
        *) ok 1 "$1"; echo "# got '$2'" ;;
    esac
}

# The command the admin runs: the context's pty size and name, then it
# waits until the test is done with it (bounded), then a last word.
target_cmd='stty size 2>&1; tty; i=0; while [ ! -e /out/stop ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo entered-done; exit 3'

# session PREFIX DOMAIN OUT MODE USERNS: one admin session (MODE pty:
# on the admin's pty; pipe: stdin a host file, stdout a host file, and a
# host directory open as fd 5) attacked at both moments
session() {
    local pre=$1 dom=$2 out=$3 mode=$4 userns=$5
    local ipid relay cmd info=$work/$dom-$mode.info tout=$work/$dom-$mode.out
    local v initEff initBnd initNnp initSec ttydev ptsdev f n
    rm -f "$out"/pre.txt "$out"/post.txt "$out"/stop "$info" "$tout"
    ipid=$(vsh domid "$dom")
    initEff=$(status_field "$ipid" CapEff)
    initBnd=$(status_field "$ipid" CapBnd)
    initNnp=$(status_field "$ipid" NoNewPrivs)
    initSec=$(status_field "$ipid" Seccomp)

    touch "$out/arm"
    wait_until 10 test ! -e "$out/arm" || echo "# ${pre}the attacker did not arm"
    if [ "$mode" = pty ]; then
        TERM=xterm VSERVER_ENTER_STOP=1 VSERVER_ENTER_CALLER=admin-secret \
            /usr/bin/python3 "$work/admin.py" "$tout" "$info" 90 -- \
            "$enter" -c "$uri" "$dom" -- /bin/sh -c "$target_cmd" &
        wait_until 10 file_has "$info" '^pid='
        relay=$(kv "$info" pid)
    else
        echo "line from the admin" > "$work/stdin"
        env -u TERM VSERVER_ENTER_STOP=1 VSERVER_ENTER_CALLER=admin-secret \
            "$enter" -c "$uri" "$dom" -- /bin/sh -c "read l; echo got:\$l; $target_cmd" \
            < "$work/stdin" > "$tout" 2>&1 5< "$inst_dir" &
        relay=$!
    fi

    # 1. right after the process appeared, before its exec
    wait_until 30 session_command "$relay" || echo "# ${pre}no stopped command below relay $relay"
    cmd=$(session_command "$relay")
    wait_until 60 test -e "$out/pre.txt"
    f=$out/pre.txt
    equals "${pre}before exec: the context's root finds the entered process" \
        libvirt_vserver "$(kv "$f" comm)"
    if [ "$userns" = 1 ] || ! has_ptrace "$initBnd"; then
        equals "${pre}before exec: PTRACE_SEIZE fails" EPERM "$(kv "$f" ptrace-seize)"
        equals "${pre}before exec: PTRACE_ATTACH fails" EPERM "$(kv "$f" ptrace-attach)"
        # without a user namespace the directory is the host root's, and
        # so the attacker's, to list: only the opens are checked
        [ "$userns" = 1 ] &&
            equals "${pre}before exec: its /proc fd directory cannot be listed" EACCES "$(kv "$f" fd-dir)"
        equals "${pre}before exec: its fd 0 cannot be opened through /proc" EACCES "$(kv "$f" fd-0)"
        equals "${pre}before exec: its cwd cannot be opened through /proc" EACCES "$(kv "$f" cwd)"
        equals "${pre}before exec: its root cannot be opened through /proc" EACCES "$(kv "$f" root)"
        equals "${pre}before exec: its environment cannot be read" EACCES "$(kv "$f" environ)"
    else
        # the context's root has CAP_SYS_PTRACE in the host's user
        # namespace: it reaches the process, which holds nothing
        equals "${pre}before exec: PTRACE_ATTACH works (CAP_SYS_PTRACE of the host's user namespace)" \
            ok "$(kv "$f" ptrace-attach)"
        if [ "$mode" = pty ]; then
            equals "${pre}before exec: its fd 0 can be opened, and is a pty of the context's devpts" \
                "ok 1 $(kv "$f" pts-dev)" "$(kv "$f" fd-0) $(kv "$f" fd-0-tty) $(kv "$f" fd-0-dev)"
            equals "${pre}before exec: TIOCSTI on that pty fails (not the attacker's terminal)" \
                EPERM "$(kv "$f" fd-0-tiocsti)"
        else
            equals "${pre}before exec: its fd 0 can be opened, and is a pipe, no terminal" \
                "ok 0" "$(kv "$f" fd-0) $(kv "$f" fd-0-tty)"
        fi
        equals "${pre}before exec: its cwd is the context's root, if reachable" "1" \
            "$(v=$(kv "$f" cwd-same); echo "${v:-1}")"
        equals "${pre}before exec: its root is the context's root, if reachable" "1" \
            "$(v=$(kv "$f" root-same); echo "${v:-1}")"
        equals "${pre}before exec: no caller's variable in its environment" "0" \
            "$(v=$(kv "$f" environ-caller); echo "${v:-0}")"
    fi
    fails "${pre}before exec: the host file is out of reach through its root" \
        "$(kv "$f" secret-via-root)"
    fails "${pre}before exec: the host file is out of reach through its cwd" \
        "$(kv "$f" secret-via-cwd)"
    equals "${pre}before exec: the context reaches no fd beyond 0-2 (the caller's fd 5 included)" \
        "" "$(extra_fds "$f")"
    equals "${pre}before exec: CapEff (seen inside) is init's" "$initEff" "$(kv "$f" status-CapEff)"
    equals "${pre}before exec: CapPrm (seen inside) is init's CapEff" "$initEff" "$(kv "$f" status-CapPrm)"
    equals "${pre}before exec: CapBnd is init's" "$initBnd" "$(kv "$f" status-CapBnd)"
    equals "${pre}before exec: NoNewPrivs is init's" "$initNnp" "$(kv "$f" status-NoNewPrivs)"
    equals "${pre}before exec: Seccomp is init's ($initSec)" "$initSec" "$(kv "$f" status-Seccomp)"
    equals "${pre}before exec: TIOCSTI fails on every tty but the attacker's own" \
        "" "$(tiocsti_ok "$f")"
    echo "# ${pre}before exec: $(grep 'tiocsti' "$f" | tr '\n' ' ')"

    # the host's view of the same moment
    if [ -n "$cmd" ]; then
        equals "${pre}before exec (host view): fds 0-2 only" "0 1 2 " "$(fd_list "$cmd")"
        equals "${pre}before exec (host view): CapEff is init's" "$initEff" "$(status_field "$cmd" CapEff)"
        equals "${pre}before exec (host view): Seccomp is init's" "$initSec" "$(status_field "$cmd" Seccomp)"
        equals "${pre}before exec (host view): in init's pid namespace" \
            "$(readlink /proc/"$ipid"/ns/pid)" "$(readlink /proc/"$cmd"/ns/pid)"
        equals "${pre}before exec (host view): the relay stays in the host's mount namespace" \
            "$(readlink /proc/self/ns/mnt)" "$(readlink /proc/"$relay"/ns/mnt)"
        # its environment is in memory it has not replaced yet (exec does)
        equals "${pre}before exec (host view): the caller's environment is wiped from its memory" \
            "" "$(tr '\0' '\n' < "/proc/$cmd/environ" 2>/dev/null | grep .)"
        if [ "$mode" = pty ]; then
            ttydev=$(kv "$info" tty)
            ptsdev=$(kv "$f" pts-dev)
            equals "${pre}before exec: fds 0-2 are a pty of the context's devpts ($ptsdev), not the admin's terminal ($ttydev)" \
                "" "$(pty_fds "$cmd" "$ttydev" "$ptsdev")"
        else
            v=$(for n in 0 1 2; do readlink "/proc/$cmd/fd/$n"; done | grep -vc '^pipe:')
            equals "${pre}before exec: fds 0-2 are pipes, not the caller's file" 0 "$v"
        fi
        kill -CONT "$cmd"
    fi

    # 2. after the exec: a process of the context like any other
    wait_until 60 test -e "$out/post.txt"
    f=$out/post.txt
    equals "${pre}after exec: the context's root finds the command" sh "$(kv "$f" comm)"
    if [ -n "$cmd" ]; then
        v=$(tr '\0' '\n' < "/proc/$cmd/environ" 2>/dev/null | sed 's/=.*//' | sort | tr '\n' ' ')
        equals "${pre}after exec (host view): a clean environment" \
            "HOME LOGNAME PATH $([ "$mode" = pty ] && echo "TERM ")USER container " "$v"
    fi
    equals "${pre}after exec: CapEff is init's" "$initEff" "$(kv "$f" status-CapEff)"
    equals "${pre}after exec: Seccomp is init's" "$initSec" "$(kv "$f" status-Seccomp)"
    equals "${pre}after exec: NoNewPrivs is init's" "$initNnp" "$(kv "$f" status-NoNewPrivs)"
    fails "${pre}after exec: the host file is out of reach through its root" \
        "$(kv "$f" secret-via-root)"
    equals "${pre}after exec: its root is the context's" 1 "$(kv "$f" root-same)"
    equals "${pre}after exec: no caller's variable in its environment" 0 "$(kv "$f" environ-caller)"
    equals "${pre}after exec: no fd beyond 0-2" "" "$(extra_fds "$f")"
    if [ "$mode" = pty ]; then
        ptsdev=$(kv "$f" pts-dev)
        equals "${pre}after exec: fd 0 is a terminal of the context's devpts" \
            "1 $ptsdev" "$(kv "$f" fd-0-tty) $(kv "$f" fd-0-dev)"
    fi

    touch "$out/stop"
    wait_until 30 pid_gone "$relay"
    if [ "$mode" = pty ]; then
        wait_until 10 file_has "$info" '^pending='
        equals "${pre}the admin's session ends with the command's status" 3 "$(kv "$info" rc)"
        equals "${pre}the admin's terminal settings are restored" 1 "$(kv "$info" termios-restored)"
        equals "${pre}nothing was pushed into the admin's terminal" 0 "$(kv "$info" pending)"
        v=$(tr -d '\r' < "$tout")
        contains "${pre}the pty has the admin's window size" "33 101" "$v"
        contains "${pre}the command's terminal is a pty of the context" "/dev/pts/" "$v"
        contains "${pre}the command's last output reaches the admin" "entered-done" "$v"
    else
        wait "$relay"
        equals "${pre}pipes: the session ends with the command's status" 3 "$?"
        v=$(cat "$tout")
        contains "${pre}pipes: the admin's stdin reaches the command" "got:line from the admin" "$v"
        contains "${pre}pipes: without a terminal, stty says so" "not a tty" "$v"
        contains "${pre}pipes: the command's last output reaches the admin" "entered-done" "$v"
    fi
}

idmap="<idmap><uid start='0' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>"

# --- 1. a context without a user namespace
out=$work/out-plain
if enter_ctx plain "$out" "$rootfs"; then
    session "" plain "$out" pty 0
    session "" plain "$out" pipe 0
fi

# --- 2. without a user namespace, its root granted CAP_SYS_PTRACE
out=$work/out-ptrace
if enter_ctx ptrace "$out" "$rootfs" \
    "<features><capabilities policy='default'><sys_ptrace state='on'/></capabilities></features>"; then
    session "with sys_ptrace: " ptrace "$out" pty 0
    session "with sys_ptrace: " ptrace "$out" pipe 0
fi
vsh destroy ptrace >/dev/null 2>&1

# --- 3. a context with <idmap>
rootfs_u=$work/rootfs-u
cp -a "$rootfs" "$rootfs_u"
chown -R 100000:100000 "$rootfs_u"
out=$work/out-mapped
mkdir -p "$out"
chown 100000:100000 "$out"
if enter_ctx mapped "$out" "$rootfs_u" "$idmap"; then
    session "with <idmap>: " mapped "$out" pty 1
    session "with <idmap>: " mapped "$out" pipe 1
fi

# --- 4. exit statuses, -t / -T
in_plain() { "$enter" -c "$uri" plain "$@" </dev/null 2>&1; }
in_plain /nonexistent >/dev/null
equals "a command not found inside: 127" 127 "$?"
in_plain /etc/passwd >/dev/null
equals "a command that cannot be executed: 126" 126 "$?"
in_plain /bin/sh -c 'kill -TERM $$' >/dev/null
equals "a command killed by SIGTERM: 143" 143 "$?"
contains "-t without a terminal: the command gets a pty of the context" "/dev/pts/" \
    "$("$enter" -c "$uri" -t plain tty </dev/null 2>&1)"
/usr/bin/python3 "$work/admin.py" "$work/T.out" "$work/T.info" 30 -- \
    "$enter" -c "$uri" -T plain tty
contains "-T on a terminal: the command gets pipes" "not a tty" "$(cat "$work/T.out")"
v=$(vsh domid plain)
o=$(VSERVER_ENTER_PTY=sometimes "$VSERVER_SHIM_PATH" --enter "$v" -- true 2>&1)
equals "a wrong VSERVER_ENTER_PTY is refused with 125" "125" "$?"

# --- 5. virsh lxc-enter-namespace: refused unless allowed (by default:
# this instance's vserver.conf must not set the key)
conf=$inst_dir/etc/libvirt/vserver.conf
if grep -q '^allow_lxc_enter_namespace' "$conf"; then
    sed -i '/^allow_lxc_enter_namespace/d' "$conf"
    "$instance" start "$inst_dir" >/dev/null
fi
o=$(vsh lxc-enter-namespace plain --noseclabel -- /bin/hostname 2>&1)
rc=$?
[ "$rc" != 0 ]
ok $? "lxc-enter-namespace is refused by default"
contains "the refusal names vserver-enter" "vserver-enter plain COMMAND" "$o"
contains "the refusal names the switch" "allow_lxc_enter_namespace = 1" "$o"

echo "allow_lxc_enter_namespace = 1" >> "$conf"
"$instance" start "$inst_dir" >/dev/null
o=$(vsh lxc-enter-namespace plain --noseclabel -- /bin/hostname 2>&1)
equals "with allow_lxc_enter_namespace = 1, lxc-enter-namespace runs the command" plain "$o"

vsh destroy plain >/dev/null 2>&1
vsh destroy mapped >/dev/null 2>&1
equals "after destroying all: nothing left of the instance's contexts" "" \
    "$(ctx_leftovers "" "$work")"
tap_done
