#!/bin/bash
# An incoming migration whose client goes away between Prepare and Finish
# (virsh killed, the source's daemon gone) is dropped at once: its
# listener closed, its directory removed, and the same domain can be
# prepared again.  And where Prepare listens: migration_address and the
# migration_port_min..max range of vserver.conf, refused with the range
# named when every port is taken.  The client is tests/migrate-prepare.c:
# Prepare, then gone without Finish.
set -u
. "$(dirname "$0")/lib.sh"

prep=${MIGRATE_PREPARE:-$BUILDDIR/tests/migrate-prepare}
if [ ! -x "$prep" ]; then
    echo "1..0 # SKIP no $prep (built by meson)"
    exit 0
fi

inst_setup
work=$inst_dir/work
rootfs=$work/rootfs
mkdir -p "$work"
mkrootfs "$rootfs"
ctx_xml ab "$rootfs" "exec sleep 100000" > "$work/ab.xml"
log=$inst_dir/var/log/libvirt/virtvserverd.log
rundir=$inst_dir/run/libvirt/vserver

incoming() { ls -d "$rundir"/incoming.* 2>/dev/null; }
listening() { ss -Hltn "sport = :$1" | grep -q .; }
not_listening() { ! listening "$1"; }
no_incoming() { [ -z "$(incoming)" ]; }
abandoned_logged() { grep -q "incoming migration of 'ab' abandoned" "$log"; }

holder=
cleanup_client() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
    for h in ${holders:-}; do kill "$h" 2>/dev/null; done
    exec 7>&- 8>&- 9>&- 2>/dev/null
}
trap 'cleanup_client; inst_cleanup' EXIT

# prepare N [DOMAIN-XML]: a client prepares the migration of 'ab' (or of
# DOMAIN-XML's domain) and holds on until fd 7 is closed; sets $port
prepare() {
    local out=$work/prep$1.out
    rm -f "$work/hold$1"
    mkfifo "$work/hold$1"
    "$prep" "$uri" "${2:-$work/ab.xml}" < "$work/hold$1" > "$out" 2>&1 &
    holder=$!
    exec 7> "$work/hold$1"
    if ! wait_until 20 grep -q -e '^uri=' -e '^error=' "$out"; then
        ok 1 "Prepare $1 answers"; return 1
    fi
    port=$(sed -n 's/^uri=.*:\([0-9][0-9]*\)$/\1/p' "$out")
    [ -n "$port" ]
    ok $? "Prepare $1 returns a URI with a port ($(head -n 1 "$out"))"
}

# --- 1. a client prepares, then goes away
if prepare 1; then
    check "the destination listens on port $port for the source" -- listening "$port"
    check "the incoming migration has its directory" -- test -n "$(incoming)"
    exec 7>&-
    wait "$holder" 2>/dev/null
    holder=
    check "once the client is gone, the listener closes" -- wait_until 20 not_listening "$port"
    check "... and the incoming directory is removed" -- wait_until 20 no_incoming
    check "... and the daemon says why" -- wait_until 10 abandoned_logged
fi

# --- 2. the same domain can be prepared again; a client that ends the
# same way is dropped the same way
if prepare 2; then
    check "a second Prepare of the same domain is accepted" -- listening "$port"
    exec 7>&-
    wait "$holder" 2>/dev/null
    holder=
    check "the second is dropped too when its client goes" -- wait_until 20 no_incoming
fi
# --- 3. where it listens: migration_address, migration_port_min/max
printf 'migration_address = "127.0.0.1"\nmigration_port_min = 49390\nmigration_port_max = 49391\n' \
    > "$inst_dir/etc/libvirt/vserver.conf"
"$instance" start "$inst_dir" >/dev/null
for n in 2 3; do
    ctx_xml "ab$n" "$rootfs" "exec sleep 100000" > "$work/ab$n.xml"
done
listening_on() { ss -Hltn "sport = :$2" | awk '{print $4}' | grep -qx "$1:$2"; }
holders=
if prepare 3; then
    equals "with migration_address set, the source is told to connect to it, on the first port of the range" \
        "uri=tcp://127.0.0.1:49390" "$(head -n 1 "$work/prep3.out")"
    check "... and the destination listens on that address only" -- listening_on 127.0.0.1 49390
    holders=$holder
    exec 8>&7
    if prepare 4 "$work/ab2.xml"; then
        equals "a second incoming migration takes the next port of the range" \
            "uri=tcp://127.0.0.1:49391" "$(head -n 1 "$work/prep4.out")"
        holders="$holders $holder"
        exec 9>&7
        "$prep" "$uri" "$work/ab3.xml" < /dev/null > "$work/prep5.out" 2>&1
        contains "with every port of the range taken, a third is refused, naming the range" \
            "every port from migration_port_min 49390 to migration_port_max 49391 is in use" \
            "$(cat "$work/prep5.out")"
    fi
    exec 7>&- 8>&- 9>&-
    for h in $holders; do wait "$h" 2>/dev/null; done
    holder=
    check "both are dropped when their clients go" -- wait_until 20 no_incoming
fi

check "the daemon still answers" -- vsh list --all
equals "nothing of the instance's contexts is left" "" "$(ctx_leftovers "" "$work")"
tap_done
