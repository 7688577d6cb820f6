#!/bin/sh
# Obtain libvirt's source for exactly the installed libvirt0 with apt-get
# source (Debian's patch series applied), configure it with every feature off
# and generate only the headers and RPC stubs the driver and daemon need.
#
# Usage: prepare-libvirt.sh CACHEDIR EXPECTED_VERSION
# Prints two lines on success: the source dir and the configured build dir.
# Everything lives in CACHEDIR/<version>/, prepared once and reused.
set -eu

cache=$1
want=$2

# libvirt's own build scripts must run with Debian's python, not a pyenv shim.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
export DEBIAN_FRONTEND=noninteractive

log() { echo "prepare-libvirt: $*" >&2; }
die() { log "$*"; exit 1; }

have=$(dpkg-query -W -f='${Version}' libvirt0 2>/dev/null || true)
[ -n "$have" ] || die "libvirt0 is not installed; this driver needs libvirt0 $want (run scripts/install-deps.sh)"
[ "$have" = "$want" ] || die "installed libvirt0 is $have but this driver is built for libvirt0 $want: libvirt's private ABI must match exactly"

dir="$cache/$want"
src="$dir/libvirt-${want%%-*}"
bld="$dir/build"

generated="src/rpc/virnetprotocol.h src/rpc/virkeepaliveprotocol.h
 src/access/viraccessapicheck.h src/access/viraccessapichecklxc.h
 src/access/viraccessapicheckqemu.h
 src/remote/remote_protocol.h src/remote/qemu_protocol.h src/remote/lxc_protocol.h
 src/remote/remote_daemon_dispatch_stubs.h src/remote/qemu_daemon_dispatch_stubs.h
 src/remote/lxc_daemon_dispatch_stubs.h
 src/admin/admin_protocol.h src/admin/admin_protocol.c
 src/admin/admin_server_dispatch_stubs.h"

if [ -f "$dir/.prepared" ]; then
    echo "$src"
    echo "$bld"
    exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.prep.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ensure_deb_src() {
    if apt-cache showsrc libvirt 2>/dev/null | grep -qx "Version: $want"; then
        return 0
    fi
    log "adding deb-src entries mirroring the machine's apt sources"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case "$f" in *vserver-deb-src*) continue ;; esac
        grep -q '^Types:.*\bdeb\b' "$f" || continue
        sed -e 's/^Types:.*/Types: deb-src/' "$f"
        echo
    done > "$tmp/vserver-deb-src.sources"
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list > "$tmp/vserver-deb-src.list"
        [ -s "$tmp/vserver-deb-src.list" ] &&
            cp "$tmp/vserver-deb-src.list" /etc/apt/sources.list.d/vserver-deb-src.list
    fi
    [ -s "$tmp/vserver-deb-src.sources" ] &&
        cp "$tmp/vserver-deb-src.sources" /etc/apt/sources.list.d/vserver-deb-src.sources
    apt-get update -qq >&2
    apt-cache showsrc libvirt 2>/dev/null | grep -qx "Version: $want" ||
        die "apt has no source package libvirt=$want even with deb-src entries"
}

command -v dpkg-source >/dev/null 2>&1 || {
    log "installing dpkg-dev (needed by apt-get source)"
    apt-get install -y -qq dpkg-dev >&2
}
ensure_deb_src

# A directory without .prepared is a leftover of an interrupted run.
rm -rf "$dir"
mkdir -p "$dir"

log "fetching libvirt $want source with apt-get source"
(cd "$dir" && apt-get source -qq "libvirt=$want" >&2) ||
    die "apt-get source libvirt=$want failed"
[ -d "$src" ] || die "apt-get source did not unpack $src"

log "configuring libvirt (features off) to generate headers"
meson setup "$bld" "$src" \
    -Dauto_features=disabled -Ddriver_remote=enabled -Ddriver_libvirtd=enabled \
    -Dsasl=enabled -Dpolkit=enabled -Ddocs=disabled -Dtests=disabled \
    -Dnls=disabled -Dsystem=true --prefix=/usr \
    --libdir=lib/x86_64-linux-gnu -Drunstatedir=/run > "$dir/meson-setup.log" 2>&1 ||
    { cat "$dir/meson-setup.log" >&2; die "libvirt meson setup failed"; }
# shellcheck disable=SC2086
ninja -C "$bld" $generated > "$dir/ninja.log" 2>&1 ||
    { cat "$dir/ninja.log" >&2; die "generating libvirt headers failed"; }
touch "$dir/.prepared"

echo "$src"
echo "$bld"
