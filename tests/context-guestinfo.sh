#!/bin/bash
# Guest facts and chores without an agent (root), on the Debian 12 systemd
# guest of context-distro (tests/distro/mkguest.sh, cached outside the
# repository; <idmap> 0 -> 200000, its own network namespace):
#  - every API on a stopped domain fails with "domain is not running";
#  - set-user-password runs the guest's chpasswd inside: the hash in the
#    guest's /etc/shadow verifies the password (host python's crypt);
#    --encrypted stores the given hash as it is; an unknown user fails,
#    naming it; the password logs root in on the console, and then `who`
#    inside and guestinfo --user list root;
#  - domhostname is the context's UTS name (the domain name, or what
#    `hostname` inside set);
#  - guestinfo: os.* from the guest's os-release, hostname, timezone
#    (name and offset, also after the guest changes its zone), a file
#    system entry for / whose size is df's inside; domfsinfo lists /;
#  - a symlink planted in the guest's /etc cannot point the reader at a
#    host file, and a FIFO there does not block it.
# Restores what the test changes in the cached tree (shadow, localtime,
# os-release) at exit.
set -u
. "$(dirname "$0")/lib.sh"

distro_tree systemd
shift_by=$distro_shift

# the cached tree is shared: keep its files as they were
saved=$(mktemp -d /tmp/vserver-guestinfo.XXXXXX)
for f in shadow shadow- localtime os-release; do
    [ -e "$tree/etc/$f" ] || [ -L "$tree/etc/$f" ] && cp -a "$tree/etc/$f" "$saved/"
done
guestinfo_cleanup() {
    inst_cleanup
    for f in shadow shadow- localtime os-release; do
        [ -e "$saved/$f" ] || [ -L "$saved/$f" ] || continue
        rm -f "$tree/etc/$f"
        cp -a "$saved/$f" "$tree/etc/$f"
    done
    rm -rf "$saved"
}
inst_setup
trap guestinfo_cleanup EXIT

distro_xml bw "$tree" > "$inst_dir/bw.xml"
vsh define "$inst_dir/bw.xml" >/dev/null

inside() { in_ctx bw "$@"; }
sys_settled() { distro_settled bw; }
console() {   # console SECONDS [SEND EXPECT]...
    /usr/bin/python3 "$top/tests/distro/console-expect.py" "$uri" bw "$@" 2>&1
}
# gi_field KEY [GUESTINFO-OPTION...]: the value of KEY in virsh guestinfo
gi_field() {
    local key=$1; shift
    vsh guestinfo bw "$@" 2>&1 | sed -n "s/^$key *: //p"
}
# verify PASSWORD HASH: the host's crypt(3) agrees
verify() {
    /usr/bin/python3 -W ignore -c 'import crypt, sys; sys.exit(crypt.crypt(sys.argv[1], sys.argv[2]) != sys.argv[2])' "$1" "$2"
}
# one CMD...: CMD's output and errors on one line (a TAP diagnostic stays one)
one() { "$@" 2>&1 | paste -sd' '; }
shadow_hash() { inside /bin/sh -c "grep '^$1:' /etc/shadow | cut -d: -f2"; }

# --- a stopped domain
for cmd in "set-user-password bw root secret" "domhostname bw" "guestinfo bw" "domfsinfo bw"; do
    out=$(vsh $cmd 2>&1)
    contains "virsh ${cmd%% bw*} on a stopped domain: domain is not running" \
        "domain is not running" "$out"
done

# --- boot
check "the bookworm systemd guest starts" -- vsh start bw
wait_until 120 sys_settled
equals "systemd reports the system running" "running" "$(one inside /bin/systemctl is-system-running)"

# --- set-user-password
pw="Vs-$RANDOM-pass word"
check "set-user-password sets root's password" -- vsh set-user-password bw root "$pw"
hash=$(shadow_hash root)
check "... the hash in the guest's /etc/shadow verifies it ($(echo "$hash" | cut -c1-3)...)" -- verify "$pw" "$hash"
check "... and no other password" -- sh -c "! /usr/bin/python3 -W ignore -c 'import crypt, sys; sys.exit(crypt.crypt(\"wrong\", sys.argv[1]) != sys.argv[1])' '$hash'"
equals "... the shadow file keeps its owner inside (root:shadow) and mode" "root:shadow 640" \
    "$(one inside /usr/bin/stat -c '%U:%G %a' /etc/shadow)"

pw2="second-$RANDOM"
hash2=$(/usr/bin/python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))' "$pw2")
check "set-user-password --encrypted" -- vsh set-user-password bw root "$hash2" --encrypted
equals "... stores the given hash as it is" "$hash2" "$(one shadow_hash root)"

out=$(vsh set-user-password bw nosuchuser "$pw" 2>&1)
ok $([ -n "$out" ] && [ "$(shadow_hash root)" = "$hash2" ]; echo $?) \
    "set-user-password for an unknown user fails and changes nothing"
contains "... naming the user" "user 'nosuchuser' does not exist in 'bw'" "$out"
out=$(vsh set-user-password bw 'ro:ot' "$pw" 2>&1)
contains "a user name with ':' is refused before anything runs" "invalid user name 'ro:ot'" "$out"

check "set-user-password back to the first password" -- vsh set-user-password bw root "$pw"

# --- domhostname
# the shim names the context after the domain; systemd then sets the
# guest's /etc/hostname (mmdebstrap wrote the build host's name there)
name_inside=$(one inside /bin/hostname)
equals "domhostname is the context's UTS name, as 'hostname' inside says" \
    "$name_inside" "$(one vsh domhostname bw)"
equals "... which is the guest's /etc/hostname" "$(cat "$tree/etc/hostname")" "$name_inside"
equals "... also with --source agent" "$name_inside" "$(one vsh domhostname bw --source agent)"
inside /bin/hostname renamed-inside >/dev/null
equals "... and what 'hostname' inside set" "renamed-inside" "$(one vsh domhostname bw)"
equals "... which guestinfo --hostname shows too" "renamed-inside" "$(gi_field hostname --hostname)"
inside /bin/hostname "$name_inside" >/dev/null

# --- guestinfo
gi=$(vsh guestinfo bw 2>&1)
echo "$gi" | grep -E '^(os|timezone|hostname|fs\.0|user\.count|if\.count)' | sed 's/^/# /'
equals "guestinfo: os.id from the guest's os-release" "debian" "$(gi_field os.id)"
equals "guestinfo: os.version-id" "12" "$(gi_field os.version-id)"
equals "guestinfo: os.pretty-name" "Debian GNU/Linux 12 (bookworm)" "$(gi_field os.pretty-name --os)"
equals "guestinfo: os.kernel-release is the kernel the context runs on" "$(uname -r)" \
    "$(gi_field os.kernel-release --os)"
equals "guestinfo: hostname" "$name_inside" "$(gi_field hostname)"
equals "guestinfo: timezone.name from /etc/localtime's link" "Etc/UTC" "$(gi_field timezone.name)"
equals "guestinfo: timezone.offset" "0" "$(gi_field timezone.offset --timezone)"
inside /bin/ln -sf /usr/share/zoneinfo/Europe/Berlin /etc/localtime >/dev/null
equals "after the guest changes its zone: the new name" "Europe/Berlin" \
    "$(gi_field timezone.name --timezone)"
berlin=$(TZ=Europe/Berlin date +%z | sed -E 's/^([+-])0?([0-9]+)([0-9]{2})$/\1 \2 \3/' |
         awk '{ s = $2 * 3600 + $3 * 60; print ($1 == "-" ? -s : s) }')
equals "... and its offset now, in seconds" "$berlin" "$(gi_field timezone.offset --timezone)"
inside /bin/ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime >/dev/null

root_idx=$(echo "$gi" | sed -n 's/^fs\.\([0-9]*\)\.mountpoint *: \/$/\1/p')
ok $([ -n "$root_idx" ]; echo $?) "guestinfo: a file system entry for / (fs.$root_idx)"
df_size=$(inside /bin/df -B1 --output=size / | tail -n 1 | tr -d ' ')
equals "... its total-bytes is df's size inside" "$df_size" \
    "$(echo "$gi" | sed -n "s/^fs\.$root_idx\.total-bytes *: //p")"
used=$(echo "$gi" | sed -n "s/^fs\.$root_idx\.used-bytes *: //p")
ok $([ -n "$used" ] && [ "$used" -gt 0 ] && [ "$used" -le "$df_size" ]; echo $?) "... and used-bytes is within it ($used)"
ok $(echo "$gi" | grep -qE '^fs\.[0-9]+\.fstype *: (proc|sysfs|cgroup2?|devpts|mqueue)$'; [ $? -ne 0 ]; echo $?) \
    "... kernel interfaces (proc, sysfs, cgroup, devpts, mqueue) are not listed"
ok $(echo "$gi" | grep -qE '^fs\.[0-9]+\.mountpoint *: /(proc|sys)(/|$)'; [ $? -ne 0 ]; echo $?) \
    "... nor the masks mounted below /proc and /sys"
run_idx=$(echo "$gi" | sed -n 's/^fs\.\([0-9]*\)\.mountpoint *: \/run$/\1/p')
equals "... /run, which only the context's namespace has, is there as tmpfs" "tmpfs" \
    "$(echo "$gi" | sed -n "s/^fs\.${run_idx:-x}\.fstype *: //p")"
equals "guestinfo: the loopback interface of its own network namespace" "lo" \
    "$(echo "$gi" | sed -n 's/^if\.0\.name *: //p')"
out=$(vsh guestinfo bw --disk 2>&1)
contains "guestinfo --disk: unsupported, said so" "unsupported guest information types" "$out"

# --- domfsinfo
fsinfo=$(vsh domfsinfo bw 2>&1)
echo "$fsinfo" | sed 's/^/# /'
ok $(echo "$fsinfo" | grep -qE '^ */ +[^ ]+ +[^ ]+'; echo $?) "domfsinfo lists /"

# --- what the guest plants in its own /etc cannot reach the host or block
probe=$(mktemp -d /tmp/vserver-probe.XXXXXX)
printf 'ID=host-escape\nVERSION_ID=99\n' > "$probe/os-release"
inside /bin/ln -sf "$probe/os-release" /etc/os-release >/dev/null
equals "an /etc/os-release symlink to a host path resolves in the guest's root (falls back to /usr/lib)" \
    "debian" "$(gi_field os.id --os)"
inside /bin/ln -sf "../../../../../../../../..$probe/os-release" /etc/os-release >/dev/null
equals "... a relative one climbing out too" "debian" "$(gi_field os.id --os)"
inside /bin/rm -f /etc/os-release >/dev/null
inside /usr/bin/mkfifo /etc/os-release >/dev/null
t0=${EPOCHREALTIME/[.,]/}
equals "a FIFO as /etc/os-release is skipped, not read" "debian" "$(gi_field os.id --os)"
t1=${EPOCHREALTIME/[.,]/}
ok $([ $(( (t1 - t0) / 1000 )) -lt 5000 ]; echo $?) "... without waiting on it ($(( (t1 - t0) / 1000 )) ms)"
inside /bin/rm -f /etc/os-release >/dev/null
inside /bin/ln -s ../usr/lib/os-release /etc/os-release >/dev/null
rm -rf "$probe"

# --- a console login with the password set above
out=$(console 60 "" "login:" "root" "Password:" "$pw" "# ")
rc=$?
ok $rc "root logs in on the console with the password from set-user-password"
[ $rc -ne 0 ] && printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
who_out=$(inside /usr/bin/who)
contains "... and 'who' inside lists root on the console" "root     console" "$who_out"
gu=$(vsh guestinfo bw --user 2>&1)
echo "$gu" | sed 's/^/# /'
equals "guestinfo --user: one user" "1" "$(echo "$gu" | sed -n 's/^user\.count *: //p')"
equals "... root" "root" "$(echo "$gu" | sed -n 's/^user\.0\.name *: //p')"
lt=$(echo "$gu" | sed -n 's/^user\.0\.login-time *: //p')
now=$(( ${EPOCHREALTIME/[.,]/} / 1000 ))
ok $([ -n "$lt" ] && [ "$lt" -le "$now" ] && [ "$lt" -gt $(( now - 600000 )) ]; echo $?) \
    "... logged in within the last minutes (login-time in ms: $lt)"

# --- stopped again
check "destroy" -- vsh destroy bw
for cmd in "set-user-password bw root secret" "domhostname bw" "guestinfo bw" "domfsinfo bw"; do
    out=$(vsh $cmd 2>&1)
    contains "virsh ${cmd%% bw*} after destroy: domain is not running" \
        "domain is not running" "$out"
done
vsh undefine bw >/dev/null
tap_done
