# Shared helpers for the integration tests (sourced). TAP output.
# Each test gets its own private virtvserverd instance below a fresh
# temporary directory, removed at exit.

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

inst_setup() {
    inst_dir=$(mktemp -d /tmp/vserver-test.XXXXXX)
    trap inst_cleanup EXIT
    "$instance" start "$inst_dir" >/dev/null
    uri=$("$instance" uri "$inst_dir")
    admin_uri="virtvserverd:///system?socket=$inst_dir/run/libvirt/virtvserverd-admin-sock"
    confdir=$inst_dir/etc/libvirt/vserver
}

inst_cleanup() {
    "$instance" stop "$inst_dir" >/dev/null 2>&1 || "$instance" kill "$inst_dir" >/dev/null 2>&1
    rm -rf "$inst_dir"
}

vsh() {
    virsh -q -c "$uri" "$@"
}
