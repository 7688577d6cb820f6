#!/bin/bash
# Hashify pools through virsh on a private instance: define, build, start,
# list, info, dumpxml, autostart, refresh, destroy, delete, undefine,
# transient pools, persistence across a clean restart and a SIGKILL of the
# daemon, lifecycle events seen by python-libvirt, and bad input that must
# fail with a clear message and leave the config dir as it was.
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
work=$inst_dir/work
mkdir -p "$work"
# pools on the file system of /var/tmp, like a real store
pools=$(mktemp -d /var/tmp/vserver-pooltest.XXXXXX)
events=$work/events.log
listener=

pool_cleanup() {
    [ -n "$listener" ] && kill "$listener" 2>/dev/null
    rm -rf "$pools"
    inst_cleanup
}
trap pool_cleanup EXIT

storedir=$confdir/storage
statusdir=$inst_dir/run/libvirt/vserver/storage

# pool_xml NAME PATH [UUID] [HASHIFY-XML]
pool_xml() {
    cat <<XML
<pool type='hashify'>
  <name>$1</name>
  ${3:+<uuid>$3</uuid>}
  <target>
    <path>$2</path>
  </target>
  ${4:-}
</pool>
XML
}

# the storage config dir: every entry with type, size, link target and
# content checksum
confsnap() {
    (cd "$storedir" 2>/dev/null &&
        find . -printf '%p %y %s %l\n' | sort &&
        find . -type f -exec sha256sum {} + | sort)
}

# pool_field NAME FIELD: a field of pool-info --bytes
pool_field() {
    vsh pool-info --bytes "$1" 2>/dev/null | awk -F': *' -v f="$2" '$1 == f {print $2}'
}

# every pool's name, active and inactive, from two listings that do not
# depend on --all
all_names() {
    { vsh pool-list --name; vsh pool-list --inactive --name; } 2>&1 | sed '/^$/d' | sort
}

# list_row NAME: the pool's row of pool-list --all --details, blanks squeezed
list_row() {
    vsh pool-list --all --details 2>&1 | awk -v n="$1" '$1 == n' | tr -s ' ' | sed 's/^ //; s/ $//'
}

# --- lifecycle events through python-libvirt, one line per event
cat > "$work/events.py" <<'PY'
import sys
import threading
import libvirt

names = {libvirt.VIR_STORAGE_POOL_EVENT_DEFINED: "defined",
         libvirt.VIR_STORAGE_POOL_EVENT_UNDEFINED: "undefined",
         libvirt.VIR_STORAGE_POOL_EVENT_STARTED: "started",
         libvirt.VIR_STORAGE_POOL_EVENT_STOPPED: "stopped",
         libvirt.VIR_STORAGE_POOL_EVENT_CREATED: "created",
         libvirt.VIR_STORAGE_POOL_EVENT_DELETED: "deleted"}

libvirt.virEventRegisterDefaultImpl()


def loop():
    while True:
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=loop, daemon=True).start()
conn = libvirt.open(sys.argv[1])


def out(line):
    print(line)
    sys.stdout.flush()


def lifecycle(conn_, pool, event, detail, opaque):
    out("%s %s" % (pool.name(), names.get(event, "event-%d" % event)))


def refresh(conn_, pool, opaque):
    out("%s refresh" % pool.name())


conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
                                 lifecycle, None)
conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
                                 refresh, None)
out("ready")
threading.Event().wait()
PY
: > "$events"
# pyenv shims on PATH cannot import Debian's python3-libvirt
/usr/bin/python3 "$work/events.py" "$uri" >> "$events" 2>"$work/events.err" &
listener=$!
wait_until 10 grep -qx ready "$events"
ok $? "python-libvirt registered lifecycle and refresh callbacks"

# has_event POOL EVENT: the listener saw it (waits a little: events are
# delivered asynchronously)
has_event() { wait_until 5 grep -qx "$1 $2" "$events"; }

# ===================================================================
# define, build, start
p1=$pools/p1
pool_xml p1 "$p1" 6f1c8a3e-0d2b-4c5a-9e7f-1a2b3c4d5e6f \
    "<hashify><minsize unit='KiB'>1</minsize><excludes><rule>-/var/cache/*</rule></excludes></hashify>" > "$work/p1.xml"
check "pool-define" -- vsh pool-define "$work/p1.xml"
check "the definition is saved as storage/p1.xml in the instance's config dir" -- test -f "$storedir/p1.xml"
contains "the saved definition holds the pool's settings" "<rule>-/var/cache/*</rule>" "$(cat "$storedir/p1.xml" 2>&1)"
equals "the saved definition is the pool's inactive XML" "$(vsh pool-dumpxml --inactive p1 2>&1)" "$(cat "$storedir/p1.xml" 2>&1)"
check "pool-define: 'defined' event" -- has_event p1 defined
equals "pool-list --all --details: defined pool is inactive, no autostart, persistent" \
    "p1 inactive no yes - - -" "$(list_row p1)"
equals "pool-info of an inactive pool: state" "inactive" "$(pool_field p1 State)"

before=$(confsnap)
out=$(vsh pool-start p1 2>&1)
ok $(( ! $? )) "pool-start before pool-build fails"
contains "... saying to build the pool first" "build the pool first" "$out"
check "... and the pool stays inactive" -- test "$(pool_field p1 State)" = inactive
equals "... and the config dir is unchanged" "$before" "$(confsnap)"
check "... and no status file is written" -- test ! -e "$statusdir/p1.xml"

check "pool-build" -- vsh pool-build p1
check "pool-build creates the pool directory" -- test -d "$p1"
check "pool-build creates the object store p1/.hash" -- test -d "$p1/.hash"
check "pool-build: 'created' event" -- has_event p1 created
check "pool-build of a built, empty pool is accepted again" -- vsh pool-build p1

check "pool-start" -- vsh pool-start p1
check "pool-start: 'started' event" -- has_event p1 started
check "an active pool has a status file in the run dir" -- test -f "$statusdir/p1.xml"
equals "pool-info: state running" "running" "$(pool_field p1 State)"
equals "pool-info: persistent" "yes" "$(pool_field p1 Persistent)"
equals "pool-info: no autostart" "no" "$(pool_field p1 Autostart)"
out=$(vsh pool-start p1 2>&1)
ok $(( ! $? )) "pool-start of an active pool fails"
contains "... saying it is already active" "already active" "$out"

row=$(list_row p1)
set -- $row
equals "pool-list --all --details: running, no autostart, persistent" "p1 running no yes" "${1:-} ${2:-} ${3:-} ${4:-}"
[ $# -ge 10 ]; ok $? "pool-list --all --details shows capacity, allocation and available ($row)"

# --- pool-info against df (both statvfs of the pool's file system)
cap=$(pool_field p1 Capacity)
avail=$(pool_field p1 Available)
alloc=$(pool_field p1 Allocation)
read -r dfsize dfavail <<<"$(df -B1 --output=size,avail "$p1" | tail -n 1)"
equals "pool-info capacity is the file system's size (df)" "$dfsize" "$cap"
diff=$(( ${avail:-0} - dfavail )); diff=${diff#-}
[ -n "$avail" ] && [ "$diff" -le $(( dfsize / 100 )) ]
ok $? "pool-info available is within 1% of df's ($avail vs $dfavail)"
[ -n "$alloc" ] && [ "$alloc" -gt 0 ] && [ "$alloc" -le "$cap" ] && [ $(( alloc + avail )) -le "$cap" ]
ok $? "pool-info allocation is plausible: 0 < $alloc <= capacity - available"

# --- pool-dumpxml
vsh pool-dumpxml p1 > "$work/p1.dump.xml" 2>&1
dump=$(cat "$work/p1.dump.xml")
contains "pool-dumpxml of an active pool shows the capacity" "<capacity unit='bytes'>$cap</capacity>" "$dump"
contains "pool-dumpxml of an empty active pool shows zero objects" "<stats objects='0' stored='0' saved='0'/>" "$dump"
contains "pool-dumpxml shows the target path" "<path>$p1</path>" "$dump"
check "pool-dumpxml output validates against vserver-pool.rng" -- \
    xmllint --noout --relaxng "$VSERVER_SCHEMA_DIR/vserver-pool.rng" "$work/p1.dump.xml"
inactive=$(vsh pool-dumpxml --inactive p1 2>&1)
case "$inactive" in *"<stats"*|*"<capacity"*) ok 1 "pool-dumpxml --inactive has no figures" ;; *) ok 0 "pool-dumpxml --inactive has no figures" ;; esac
check "pool-define of pool-dumpxml's output (figures included) is accepted" -- vsh pool-define "$work/p1.dump.xml"
equals "... and gives the same definition" "$inactive" "$(vsh pool-dumpxml --inactive p1 2>&1)"
equals "... and the same saved file" "$inactive" "$(cat "$storedir/p1.xml" 2>&1)"
# the dump as a new pool: other name, uuid and path
sed -e "s|<name>p1</name>|<name>p1copy</name>|" -e "/<uuid>/d" -e "s|$p1<|$pools/p1copy<|" \
    "$work/p1.dump.xml" > "$work/p1copy.xml"
check "a dumped active pool defines a new pool" -- vsh pool-define "$work/p1copy.xml"
contains "... with the dumped settings" "<rule>-/var/cache/*</rule>" "$(vsh pool-dumpxml p1copy 2>&1)"
check "... which undefines" -- vsh pool-undefine p1copy
check "... and its file is gone" -- test ! -e "$storedir/p1copy.xml"

# --- redefining an active pool: the new definition is for the next start
sed "s|<minsize unit='KiB'>1</minsize>|<minsize unit='KiB'>8</minsize>|" "$work/p1.xml" > "$work/p1-8k.xml"
check "pool-define of an active pool with changed settings" -- vsh pool-define "$work/p1-8k.xml"
contains "... the running definition keeps the old setting" "<minsize unit='bytes'>1024</minsize>" "$(vsh pool-dumpxml p1 2>&1)"
contains "... pool-dumpxml --inactive shows the new one" "<minsize unit='bytes'>8192</minsize>" "$(vsh pool-dumpxml --inactive p1 2>&1)"

# --- refresh
check "pool-refresh" -- vsh pool-refresh p1
check "pool-refresh: 'refresh' event" -- has_event p1 refresh

# --- autostart
check "pool-autostart" -- vsh pool-autostart p1
equals "the autostart link points to the definition" "$storedir/p1.xml" "$(readlink "$storedir/autostart/p1.xml" 2>&1)"
equals "pool-info: autostart yes" "yes" "$(pool_field p1 Autostart)"
equals "pool-list --all --details: autostart yes" "p1 running yes yes" "$(list_row p1 | cut -d' ' -f1-4)"

# --- destroy
check "pool-destroy" -- vsh pool-destroy p1
check "pool-destroy: 'stopped' event" -- has_event p1 stopped
equals "pool-info after destroy: inactive" "inactive" "$(pool_field p1 State)"
check "the status file is gone after destroy" -- test ! -e "$statusdir/p1.xml"
check "the pool directory stays after destroy" -- test -d "$p1/.hash"
contains "after destroy the definition changed while active is in force" "<minsize unit='bytes'>8192</minsize>" "$(vsh pool-dumpxml p1 2>&1)"
out=$(vsh pool-destroy p1 2>&1)
ok $(( ! $? )) "pool-destroy of an inactive pool fails"
contains "... saying it is not active" "is not active" "$out"

# --- autostart at daemon start
"$instance" start "$inst_dir" >/dev/null
equals "an autostart pool is started when the daemon starts" "running" "$(pool_field p1 State)"
check "pool-autostart --disable" -- vsh pool-autostart --disable p1
check "... removes the autostart link" -- test ! -e "$storedir/autostart/p1.xml"
equals "... pool-info: autostart no" "no" "$(pool_field p1 Autostart)"

# the listener's connection died with the daemon: a new listener
kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null
: > "$events"
/usr/bin/python3 "$work/events.py" "$uri" >> "$events" 2>"$work/events.err" &
listener=$!
wait_until 10 grep -qx ready "$events"
ok $? "a new listener after the daemon restart"

# --- delete: refused while active, refused with volumes
before=$(confsnap)
out=$(vsh pool-delete p1 2>&1)
ok $(( ! $? )) "pool-delete of an active pool fails"
contains "... saying to stop it first" "is active: stop it before deleting it" "$out"
check "... and the pool directory is still there" -- test -d "$p1/.hash"
printf '<volume><name>vol1</name></volume>\n' > "$work/vol1.xml"
check "vol-create (an empty template) in the active pool" -- vsh vol-create p1 "$work/vol1.xml"
check "pool-destroy with a volume" -- vsh pool-destroy p1
out=$(vsh pool-delete p1 2>&1)
ok $(( ! $? )) "pool-delete of a pool that holds volumes fails"
contains "... naming the volume and saying to delete volumes first" "still holds 'vol1': delete its volumes first" "$out"
check "... and the volume is still there" -- test -d "$p1/vol1"
check "... and the store is still there" -- test -d "$p1/.hash"
equals "refused deletes leave the config dir unchanged" "$before" "$(confsnap)"
check "pool-start again" -- vsh pool-start p1
equals "the volume is listed after the restart of the pool" "vol1" "$(vsh vol-list p1 2>&1 | awk '{print $1}')"
check "vol-delete" -- vsh vol-delete --pool p1 vol1
check "pool-destroy" -- vsh pool-destroy p1
check "pool-delete" -- vsh pool-delete p1
check "pool-delete removes the pool directory" -- test ! -e "$p1"
check "pool-delete: 'deleted' event" -- has_event p1 deleted
check "the definition survives pool-delete" -- test -f "$storedir/p1.xml"

# --- undefine
check "pool-undefine" -- vsh pool-undefine p1
check "pool-undefine removes the definition file" -- test ! -e "$storedir/p1.xml"
check "pool-undefine: 'undefined' event" -- has_event p1 undefined
out=$(all_names)
case "$out" in *p1*) ok 1 "the undefined pool is no longer listed" ;; *) ok 0 "the undefined pool is no longer listed" ;; esac

# --- undefine of an active pool: it goes on, transient
pool_xml p4 "$pools/p4" > "$work/p4.xml"
vsh pool-define "$work/p4.xml" >/dev/null && vsh pool-build p4 >/dev/null && vsh pool-start p4 >/dev/null
check "pool-undefine of an active pool" -- vsh pool-undefine p4
equals "... it stays running" "running" "$(pool_field p4 State)"
equals "... as a transient pool" "no" "$(pool_field p4 Persistent)"
check "... its definition file is gone" -- test ! -e "$storedir/p4.xml"
check "pool-destroy of the now transient pool" -- vsh pool-destroy p4
out=$(vsh pool-info p4 2>&1)
ok $(( ! $? )) "... and it is gone"

# --- transient pools: pool-create
pool_xml tp "$pools/tp" > "$work/tp.xml"
before=$(confsnap)
out=$(vsh pool-create "$work/tp.xml" 2>&1)
ok $(( ! $? )) "pool-create of a pool whose directory does not exist fails"
contains "... saying to build it first" "build the pool first" "$out"
out=$(vsh pool-info tp 2>&1)
ok $(( ! $? )) "... and no pool is left"
check "pool-create --build" -- vsh pool-create --build "$work/tp.xml"
check "pool-create --build made the directory and its store" -- test -d "$pools/tp/.hash"
check "pool-create: 'started' event" -- has_event tp started
equals "the created pool is running" "running" "$(pool_field tp State)"
equals "the created pool is transient" "no" "$(pool_field tp Persistent)"
equals "pool-list --all --details: running, no autostart, transient" "tp running no no" "$(list_row tp | cut -d' ' -f1-4)"
equals "pool-create writes nothing to the config dir" "$before" "$(confsnap)"
out=$(vsh pool-autostart tp 2>&1)
ok $(( ! $? )) "pool-autostart of a transient pool fails"
contains "... saying it is transient" "transient" "$out"
out=$(vsh pool-undefine tp 2>&1)
ok $(( ! $? )) "pool-undefine of a transient pool fails"
check "pool-destroy of the transient pool" -- vsh pool-destroy tp
check "pool-destroy: 'stopped' event" -- has_event tp stopped
out=$(vsh pool-info tp 2>&1)
ok $(( ! $? )) "a destroyed transient pool is gone"
check "its directory stays" -- test -d "$pools/tp/.hash"
check "pool-create of the built pool (no --build)" -- vsh pool-create "$work/tp.xml"
equals "... running" "running" "$(pool_field tp State)"

# ===================================================================
# persistence: clean restart and SIGKILL
pool_xml pa "$pools/pa" 3c1d6e2a-1111-4222-8333-944455566677 > "$work/pa.xml"
pool_xml pi "$pools/pi" 3c1d6e2a-2222-4222-8333-944455566677 \
    "<hashify><key mtime='yes'/><import devices='skip'/></hashify>" > "$work/pi.xml"
vsh pool-define "$work/pa.xml" >/dev/null && vsh pool-build pa >/dev/null &&
    vsh pool-start pa >/dev/null && vsh vol-create pa "$work/vol1.xml" >/dev/null
ok $? "an active pool pa with a volume"
vsh pool-define "$work/pi.xml" >/dev/null
ok $? "an inactive pool pi"
state() {
    local p
    for p in pa pi tp; do
        echo "$p $(pool_field $p State) persistent=$(pool_field $p Persistent) autostart=$(pool_field $p Autostart)"
        vsh pool-dumpxml --inactive $p 2>&1
    done
    vsh vol-list pa 2>&1 | awk '{print "pa vol", $1}'
    all_names
}
snap=$(state)
equals "pool-list --all --name lists active and inactive pools" "pa pi tp" "$(vsh pool-list --all --name 2>&1 | awk 'NF {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')"
equals "pool-list --all --persistent --transient lists them all too" "pa pi tp" "$(vsh pool-list --all --persistent --transient --name 2>&1 | awk 'NF {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')"
equals "pool-list --persistent lists pa and pi" "pa pi" "$(vsh pool-list --all --persistent --name 2>&1 | awk 'NF {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')"
pa_def=$(vsh pool-dumpxml --inactive pa 2>&1)
conf=$(confsnap)
kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null; listener=

"$instance" stop "$inst_dir"
"$instance" start "$inst_dir" >/dev/null
ok $? "a clean daemon restart"
equals "after a clean restart: the same pools, states, definitions and volumes" "$snap" "$(state)"
equals "after a clean restart: the config dir is unchanged" "$conf" "$(confsnap)"
equals "an active pool stays active across a restart" "running" "$(pool_field pa State)"
equals "a transient active pool stays, transient, across a restart" "running no" "$(pool_field tp State) $(pool_field tp Persistent)"

"$instance" kill "$inst_dir"
"$instance" status "$inst_dir"; ok $(( ! $? )) "the daemon is SIGKILLed"
"$instance" start "$inst_dir" >/dev/null
ok $? "the daemon starts after a SIGKILL"
equals "after a SIGKILL: the same pools, states, definitions and volumes" "$snap" "$(state)"
equals "after a SIGKILL: the config dir is unchanged" "$conf" "$(confsnap)"

# an active pool whose directory is gone when the daemon comes back: a
# persistent one is listed inactive with its definition, a transient one
# is gone
"$instance" stop "$inst_dir"
mv "$pools/pa" "$pools/pa.away"; mv "$pools/tp" "$pools/tp.away"
"$instance" start "$inst_dir" >/dev/null
ok $? "the daemon starts with the directories of two active pools gone"
equals "the persistent pool is inactive and persistent" "inactive yes" \
    "$(pool_field pa State) $(pool_field pa Persistent)"
equals "... with its definition" "$pa_def" "$(vsh pool-dumpxml --inactive pa 2>&1)"
equals "the transient pool is gone" "pa pi" "$(vsh pool-list --all --name 2>&1 | awk 'NF {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')"
mv "$pools/pa.away" "$pools/pa"; mv "$pools/tp.away" "$pools/tp"
vsh pool-start pa >/dev/null && vsh pool-create "$work/tp.xml" >/dev/null
ok $? "with the directories back, pa starts and tp is created again"
# (tp, created again without a uuid, has a new one)
equals "... the same pools, states, definitions and volumes as before" \
    "$(grep -v '<uuid>' <<<"$snap")" "$(state | grep -v '<uuid>')"

# ===================================================================
# bad input: a clear error, and nothing changes
before=$(confsnap)
listing=$(all_names)
# reject DESC EXPECTED-MESSAGE virsh-args...
reject() {
    local desc=$1 msg=$2 out rc; shift 2
    out=$(vsh "$@" 2>&1); rc=$?
    ok $(( ! rc )) "$desc fails"
    contains "... with '$msg'" "$msg" "$out"
    equals "... and leaves the config dir unchanged" "$before" "$(confsnap)"
}
printf "<pool type='hashify'>\n  <name>broken</name>\n  <target><path>/var/tmp/x</path>\n</pool>\n" > "$work/malformed.xml"
reject "pool-define of malformed XML" "Opening and ending tag mismatch" pool-define "$work/malformed.xml"
reject "pool-create of malformed XML" "Opening and ending tag mismatch" pool-create "$work/malformed.xml"
pool_xml dirpool "$pools/dirpool" | sed "s/type='hashify'/type='dir'/" > "$work/dir.xml"
reject "pool-define of <pool type='dir'>" \
    "pool type 'dir' is not supported by the vserver storage driver: use <pool type='hashify'>" \
    pool-define "$work/dir.xml"
reject "pool-create of <pool type='dir'>" "pool type 'dir' is not supported" pool-create "$work/dir.xml"
pool_xml pa "$pools/pa-other" 99999999-8888-4777-8666-555544443333 > "$work/dupname.xml"
reject "pool-define of an existing name with another uuid" "already exists with uuid" pool-define "$work/dupname.xml"
pool_xml pb "$pools/pb" 3c1d6e2a-1111-4222-8333-944455566677 > "$work/dupuuid.xml"
reject "pool-define of another name with an existing uuid" "already has the uuid" pool-define "$work/dupuuid.xml"
pool_xml pc "$pools/pa/" > "$work/duppath.xml"
reject "pool-define of an existing pool's target path (with a trailing /)" \
    "already uses the target path '$pools/pa'" pool-define "$work/duppath.xml"
reject "pool-create of an existing pool's target path" "already uses the target path" pool-create "$work/duppath.xml"
pool_xml pa "$pools/pa" 3c1d6e2a-1111-4222-8333-944455566677 > "$work/pa-again.xml"
reject "pool-create of a defined pool's XML" "already" pool-create "$work/pa-again.xml"
pool_xml 'p/x' "$pools/px" > "$work/slash.xml"
reject "pool-define of a name with '/'" "must be a plain file name" pool-define "$work/slash.xml"
reject "pool-start of pi, whose directory does not exist" "build the pool first" pool-start pi
check "... no status file for it" -- test ! -e "$statusdir/pi.xml"
reject "pool-info of an unknown pool" "no storage pool with matching name 'nosuch'" pool-info nosuch
reject "pool-start of an unknown pool" "no storage pool with matching name 'nosuch'" pool-start nosuch
reject "pool-destroy of an unknown pool" "no storage pool with matching name 'nosuch'" pool-destroy nosuch
reject "pool-undefine of an unknown pool" "no storage pool with matching name 'nosuch'" pool-undefine nosuch
reject "pool-delete of an unknown pool" "no storage pool with matching name 'nosuch'" pool-delete nosuch
equals "after the bad input: the same pools" "$listing" "$(all_names)"
equals "after the bad input: pa is unchanged" "$pa_def" "$(vsh pool-dumpxml --inactive pa 2>&1)"

# --- clean up through the API
vsh pool-destroy tp >/dev/null
vsh vol-delete --pool pa vol1 >/dev/null
vsh pool-destroy pa >/dev/null && vsh pool-delete pa >/dev/null && vsh pool-undefine pa >/dev/null
vsh pool-undefine pi >/dev/null
equals "every pool is gone at the end" "" "$(all_names)"
equals "the config dir holds no definition at the end" "" "$(ls "$storedir"/*.xml 2>/dev/null)"

tap_done
