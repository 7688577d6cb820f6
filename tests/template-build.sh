#!/bin/bash
# Templates from Debian's archive with tools/vserver-template on a private
# instance: a bookworm minbase systemd template built by mmdebstrap and
# streamed into a hashify pool (vol-create + vol-upload), its recipe kept
# in the tree and read back, a rebuild from that recipe with the same
# package set and no package downloads, /dev's nodes left out by the
# pool's default, a guest volume cloned from it whose /sbin/init resolves
# inside the tree and which boots unprivileged to systemd's "running" and
# powers off cleanly on virsh shutdown, and bad input, a failing build and
# a killed build that leave no volume.  Needs root, mmdebstrap and the
# archive mirror of the host's apt sources; skipped only when that archive
# is unreachable.
# Packages and lists are cached in /var/cache/libvirt-vserver/templates
# (VSERVER_TEMPLATE_CACHE), outside the repository.
set -u
. "$(dirname "$0")/lib.sh"

tmpl=$top/tools/vserver-template
export VSERVER_TEMPLATE_CACHE=${VSERVER_TEMPLATE_CACHE:-/var/cache/libvirt-vserver/templates}
cache=$VSERVER_TEMPLATE_CACHE

# the archive first: nothing else is worth starting without it
if ! probe=$("$tmpl" --dry-run --suite bookworm 2>&1); then
    case $probe in
        *"is unreachable"*)
            echo "1..0 # SKIP the Debian archive is unreachable: $(printf '%s' "$probe" | tail -n 1)"
            exit 0 ;;
    esac
fi
if ! command -v mmdebstrap >/dev/null; then
    echo "not ok 1 - mmdebstrap is installed (scripts/install-deps.sh)"
    echo "1..1"
    exit 1
fi

bgpid=
base=
tb_cleanup() {
    [ -n "$bgpid" ] && kill -TERM "$bgpid" 2>/dev/null && wait "$bgpid" 2>/dev/null
    inst_cleanup
    [ -n "$base" ] && rm -rf --one-file-system "$base"
}
inst_setup
trap tb_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
work=$inst_dir/work
mkdir -p "$work"
base=$(mktemp -d /var/tmp/vserver-tmpltest.XXXXXX)
export TMPDIR=$base/tmp
mkdir "$TMPDIR"
P=tp
pool=$base/pool

vol_names() { vsh vol-list "$P" 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ' | sed 's/ $//'; }
now_s() { echo $(( ${EPOCHREALTIME%[.,]*} )); }
build() { "$tmpl" -c "$uri" --pool "$P" "$@"; }
# pkgs TREE: "Package Version" of every installed package, sorted
pkgs() {
    awk '/^Package: /{p=$2} /^Status: /{s=$0} /^Version: /{v=$2}
         /^$/{if (s ~ / installed$/) print p, v; p=s=v=""}
         END{if (s ~ / installed$/) print p, v}' "$1/var/lib/dpkg/status" | sort
}
# recipe_core TEXT: the recipe without what only says when it was built
recipe_core() { printf '%s\n' "$1" | grep -v -e '^#' -e '^built=' -e '^archive-date='; }
# mmdebstrap's temporary trees: below a TMPDIR of the test's own, apart
# from any other mmdebstrap on the host
mmdeb_tmp() { ls -A "$TMPDIR"; }

cat > "$work/resolve.py" <<'PY'
# resolve.py ROOT PATH: PATH's final target with ROOT as "/", every
# symlink (absolute ones too) followed inside ROOT, as the context sees it
import os
import sys

root, path = sys.argv[1], sys.argv[2]
parts, done, hops = path.strip("/").split("/"), [], 0
while parts:
    name = parts.pop(0)
    if name in ("", "."):
        continue
    if name == "..":
        if done:
            done.pop()
        continue
    full = os.path.join(root, *done, name)
    if os.path.islink(full):
        hops += 1
        if hops > 40:
            sys.exit("too many links")
        target = os.readlink(full)
        if target.startswith("/"):
            done = []
        parts = target.strip("/").split("/") + parts
        continue
    if not os.path.lexists(full):
        sys.exit("/%s does not exist in the tree" % "/".join(done + [name]))
    done.append(name)
print("/" + "/".join(done))
PY

cat > "$work/pool.xml" <<XML
<pool type='hashify'>
  <name>$P</name>
  <target><path>$pool</path></target>
</pool>
XML
vsh pool-define "$work/pool.xml" >/dev/null && vsh pool-build "$P" >/dev/null && vsh pool-start "$P" >/dev/null
ok $? "a hashify pool with default settings: defined, built, started"
contains "its default for device nodes is skip" "<import devices='skip'>" "$(vsh pool-dumpxml "$P" 2>&1)"

# ===================================================================
# bad input: refused before anything is built, no volume
bad() {   # bad DESC EXPECTED-MESSAGE ARGS...
    local desc=$1 msg=$2 out rc
    shift 2
    out=$(build "$@" 2>&1)
    rc=$?
    ok $(( rc == 0 )) "$desc: refused"
    contains "... with the error '$msg'" "$msg" "$out"
    equals "... no volume was created" "" "$(vol_names)"
}
bad "an unknown suite" "unknown suite 'potato': expected one of" --name x --suite potato
bad "a moving suite alias" "suite 'stable' is an alias that moves" --name x --suite stable
bad "a component the suite does not have" "component 'nosuch' is not in suite 'bookworm'" --name x --components main,nosuch
bad "an unknown init" "unknown init 'upstart': expected systemd, sysvinit or openrc" --name x --init upstart
bad "a bad package name" "bad package name 'Bad_Pkg!'" --name x --include 'less,Bad_Pkg!'
bad "a bad volume name" "bad volume name '.hidden'" --name .hidden
printf 'suite=bookworm\nflavour=vanilla\n' > "$work/bad.recipe"
bad "a recipe with an unknown key" "bad.recipe:2: unknown key 'flavour'" --name x --recipe "$work/bad.recipe"
out=$("$tmpl" -c "$uri" --pool nosuch --name x 2>&1)
ok $(( $? == 0 )) "a missing pool: refused"
contains "... with the error naming it" "storage pool 'nosuch' not found" "$out"

# ===================================================================
# the template
t0=$(now_s)
build --name bw --suite bookworm --init systemd > "$work/bw.out" 2> "$work/bw.err"
rc=$?
echo "# build of bw: $(( $(now_s) - t0 )) s"
ok $rc "vserver-template builds a bookworm minbase systemd template 'bw'"
[ $rc -eq 0 ] || tail -n 20 "$work/bw.err" | sed 's/^/# /'
contains "... and says where it is" "template 'bw' in pool '$P'" "$(cat "$work/bw.out")"
contains "... it is a hashify template" "<format type='hashify-template'/>" "$(vsh vol-dumpxml --pool "$P" bw 2>&1)"
tree=$(vsh vol-path --pool "$P" bw 2>/dev/null)
equals "... its path is the tree in the pool" "$pool/bw/tree" "$tree"
contains "... systemd-sysv is installed" "systemd-sysv " "$(pkgs "$tree")"
contains "... it was streamed into the pool (progress shown)" "uploading to $P/bw:" "$(cat "$work/bw.err")"
check "... no tarball was left behind in the pool or the cache" -- \
    test -z "$(find "$pool" "$cache" -maxdepth 2 -name '*.tar*' -print -quit)"

# /dev: the context gets its own; the pool's default leaves the nodes out
check "... its /dev exists" -- test -d "$tree/dev"
equals "... /dev has no device nodes (skipped by the pool's default)" "" \
    "$(find "$tree/dev" \( -type c -o -type b \) -print)"

# the recipe, in the tree and through the API
recipe=$(build --name bw --print-recipe 2>&1)
ok $? "--print-recipe reads the template's recipe"
equals "... it is the tree's /etc/vserver-template.recipe" "$(cat "$tree/etc/vserver-template.recipe" 2>&1)" "$recipe"
for kv in suite=bookworm init=systemd variant=minbase architecture=$(dpkg --print-architecture) \
          "mirror=$("$tmpl" --show-mirror bookworm)"; do
    contains "... it records $kv" "$kv" "$recipe"
done
contains "... and the archive's date" "archive-date=" "$recipe"
check "... no /etc/hostname of the build host" -- test ! -e "$tree/etc/hostname"

# ===================================================================
# failures once the volume exists: nothing stays
out=$(build --name bw 2>&1)
ok $(( $? == 0 )) "a second template named 'bw': refused"
contains "... with the error 'already exists'" "volume 'bw' already exists in pool '$P'" "$out"
equals "... the first one is untouched" "$recipe" "$(cat "$tree/etc/vserver-template.recipe" 2>&1)"

# mmdebstrap failing once the volume exists: a mirror whose InRelease is
# the real one (from the cache) but that has no package lists
mkdir -p "$base/mirror/dists/bookworm"
cp "$cache"/lists/*_dists_bookworm_InRelease "$base/mirror/dists/bookworm/InRelease"
t0=$(now_s)
out=$(build --name broken --mirror "file://$base/mirror" 2>&1)
ok $(( $? == 0 )) "a build whose mirror has no package lists fails"
echo "# failed build: $(( $(now_s) - t0 )) s"
contains "... with mmdebstrap's failure" "mmdebstrap failed" "$out"
contains "... once the volume existed, which it deleted" "cleaning up: volume 'broken'" "$out"
equals "... no volume is left" "bw" "$(vol_names)"
equals "... nor mmdebstrap's temporary tree" "" "$(mmdeb_tmp)"

# a build killed while it runs (SIGTERM to the tool alone: $! must be
# its pid, not a subshell's)
"$tmpl" -c "$uri" --pool "$P" --name killed > "$work/killed.log" 2>&1 &
bgpid=$!
wait_until 60 eval 'vol_names | grep -qw killed'
ok $? "a build that is running has reserved its volume"
# the worst moment: mmdebstrap has mounted /proc in its temporary tree
wait_until 120 eval 'grep -q " $TMPDIR/mmdebstrap[^ ]*/proc " /proc/mounts'
ok $? "... mmdebstrap runs, with its mounts in its temporary tree"
t0=$(now_s)
kill -TERM "$bgpid"
wait_until 300 pid_gone "$bgpid"
ok $? "... SIGTERM stops it within its deadline"
wait "$bgpid"
equals "... with status 143" "143" "$?"
echo "# killed build: $(( $(now_s) - t0 )) s from SIGTERM to exit"
bgpid=
equals "... and no volume is left" "bw" "$(vol_names)"
contains "... it said it cleaned up" "cleaning up: volume 'killed'" "$(cat "$work/killed.log")"
equals "... nor mmdebstrap's temporary tree" "" "$(mmdeb_tmp)"
equals "... nor a mount of it" "" "$(grep -F " $TMPDIR/" /proc/mounts)"

# ===================================================================
# the same template again, from its recipe, from the cache
printf '%s\n' "$recipe" > "$work/bw.recipe"
debs_before=$(ls "$cache/archives" 2>/dev/null | grep '\.deb$')
t0=$(now_s)
build --name bw2 --recipe "$work/bw.recipe" > "$work/bw2.out" 2> "$work/bw2.err"
rc=$?
echo "# rebuild of bw2 from the recipe: $(( $(now_s) - t0 )) s"
ok $rc "--recipe builds the template again as 'bw2'"
[ $rc -eq 0 ] || tail -n 20 "$work/bw2.err" | sed 's/^/# /'
tree2=$(vsh vol-path --pool "$P" bw2 2>/dev/null)
equals "... the same packages, the same versions (dpkg status)" "$(pkgs "$tree")" "$(pkgs "$tree2")"
equals "... the same recipe" "$(recipe_core "$recipe")" \
    "$(recipe_core "$(cat "$tree2/etc/vserver-template.recipe" 2>&1)")"
equals "... no package was downloaded: every .deb came from the cache" \
    "$debs_before" "$(ls "$cache/archives" 2>/dev/null | grep '\.deb$')"
equals "... identical files of both templates are one inode in the store" \
    "$(stat -c %i "$tree/usr/bin/bash")" "$(stat -c %i "$tree2/usr/bin/bash" 2>&1)"

# ===================================================================
# a guest volume of it, as a context's root
check "vol-clone makes a guest volume of bw" -- vsh vol-clone --pool "$P" bw g1
gxml=$(vsh vol-dumpxml --pool "$P" g1 2>&1)
contains "... its backing store is bw's tree" "<path>$tree</path>" "$gxml"
init=$(/usr/bin/python3 "$work/resolve.py" "$tree" /sbin/init 2>&1)
ok $? "/sbin/init resolves inside the tree: $init"
check "... to an executable file of the tree" -- test -f "$tree$init" -a -x "$tree$init"
contains "... systemd's" "systemd" "$init"

# the guest volume boots: an unprivileged context (an id range the driver
# picks) reaches "running" and powers off cleanly on virsh shutdown
cat > "$work/g1.xml" <<XML
<domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>
  <name>g1</name>
  <memory unit='MiB'>512</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <features><privnet/></features>
  <devices>
    <filesystem type='volume'><source pool='$P' volume='g1'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
  <vserver:context><vserver:idmap/></vserver:context>
</domain>
XML
vsh define "$work/g1.xml" >/dev/null
t0=${EPOCHREALTIME/[.,]/}
check "a context on the clone starts (unprivileged: <vserver:idmap/>)" -- vsh start g1
wait_until 120 distro_settled g1
echo "# start to settled: $(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 )) ms"
equals "... systemd reports the system running" "running" \
    "$(in_ctx g1 /bin/systemctl is-system-running)"
equals "... with no failed unit" "" "$(in_ctx g1 /bin/systemctl --failed --no-legend --plain)"
t0=${EPOCHREALTIME/[.,]/}
check "virsh shutdown" -- vsh shutdown g1
ctx_wait_state g1 "shut off (shutdown)" 60
echo "# shutdown took $(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 )) ms"
equals "... systemd powered it off by itself" "shut off (shutdown)" "$(ctx_st g1)"
ok $(grep -q 'graceful stop timed out' "$inst_dir/var/log/libvirt/vserver/g1.log"; [ $? -ne 0 ]; echo $?) \
    "... with no SIGKILL from the shim"
ctx_nothing_left "... and nothing of it is left" g1 "$pool"
vsh undefine g1 >/dev/null
check "vol-delete of the guest, then of both templates" -- \
    eval 'vsh vol-delete --pool "$P" g1 && vsh vol-delete --pool "$P" bw2 && vsh vol-delete --pool "$P" bw'

tap_done
