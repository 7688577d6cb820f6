# Sourced by the vserver-hashify tests: the tool's path from $1, TAP
# helpers, and the checks every one of them makes first (root, the
# programs it needs).
#
#   . tap.sh "$@"; need_programs "PACKAGES" PROGRAM...

. "$(dirname "${BASH_SOURCE[0]}")/../session.sh"

tool=${1:-${VSERVER_HASHIFY:-}}
if [ -z "$tool" ] || [ ! -x "$tool" ]; then
    echo "Bail out! usage: $0 PATH-TO-vserver-hashify"
    exit 1
fi
tool=$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")
export LC_ALL=C

tap_n=0
tap_failed=0
ok() {   # ok EXIT-STATUS DESCRIPTION
    local rc=$1; shift
    tap_n=$((tap_n + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $tap_n - $*"
    else
        tap_failed=$((tap_failed + 1))
        echo "not ok $tap_n - $*"
    fi
}
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - # SKIP $*"; }

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root"
    exit 0
fi

need_programs() {   # need_programs "PACKAGES" PROGRAM...
    local pkgs=$1 p; shift
    for p in "$@"; do
        if ! command -v "$p" >/dev/null; then
            echo "Bail out! $p is missing (packages $pkgs)"
            exit 1
        fi
    done
}
