#!/bin/sh
# Install every Debian package libvirt-vserver needs to build, run and test.
# Idempotent; safe to run on a fresh Debian 12 machine as root.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
lvver=$(cat "$top/build-aux/libvirt-version")

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: must run as root (apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# libvirt's private ABI is version-exact: install precisely the libvirt the
# driver is built for, and the headers of that same version.
libvirt_pkgs="libvirt0=$lvver libvirt-dev=$lvver libvirt-clients=$lvver
 libvirt-daemon=$lvver libvirt-daemon-driver-lxc=$lvver
 libvirt-daemon-driver-qemu=$lvver"

build_pkgs="meson ninja-build gcc pkg-config dpkg-dev perl xsltproc
 libxml2-utils rpcsvc-proto libglib2.0-dev libxml2-dev libgnutls28-dev
 libtirpc-dev libsasl2-dev libcap-dev libarchive-dev libssl-dev
 libc6-dev python3-docutils libseccomp-dev
 clang-14 libclang-rt-14-dev"

# CRIU 4.1.1, built by build-aux/prepare-criu.sh (`make criu lib`).
# Required by criu's Makefile: protobuf-c (library, protoc-c), protoc and
# libprotobuf-dev (images/opts.proto imports google/protobuf/descriptor.proto),
# libnl-3, libnet, libcap, uuid. Optional features Debian's criu also
# enables: libbsd (setproctitle), libnftables (nftables network lock and
# netns nft rules), gnutls (already above, TLS page server). make and patch
# drive the build; pkg-config (above) is pkgconf. Not needed for
# `make criu lib`: asciidoc/xmlto (man pages), python3-protobuf (crit only).
build_pkgs="$build_pkgs make patch libprotobuf-c-dev protobuf-c-compiler
 protobuf-compiler libprotobuf-dev libnl-3-dev libnet1-dev uuid-dev
 libbsd-dev libnftables-dev"

runtime_pkgs="busybox-static iproute2 iputils-ping python3 python3-libvirt virtinst
 libxml2-utils util-linux procps attr acl libcap2-bin xz-utils zstd bzip2
 man-db mmdebstrap gpg"

# criu's shared libraries, and iptables: criu's default network lock for
# --tcp-established runs iptables-restore, and dumping/restoring a network
# namespace saves/restores its rules with iptables-save/-restore.
runtime_pkgs="$runtime_pkgs iptables libprotobuf-c1 libnl-3-200 libnet1
 libnftables1 libbsd0"

# Perl's Sys::Virt, a client the tests drive (tests/daemon-perl.pl);
# libvirtd and its network, nwfilter, nodedev, secret and interface drivers
# (tests/daemon-hostdrivers.sh) come with libvirt-daemon above
runtime_pkgs="$runtime_pkgs libsys-virt-perl"

# tests/vm/purev2.sh: a pure cgroup v2 host in a virtual machine
runtime_pkgs="$runtime_pkgs qemu-system-x86"

# virt-manager driven under Xvfb through AT-SPI (tests/virt-manager.sh):
# dogtail, the accessibility bus, a private session bus, screenshots
runtime_pkgs="$runtime_pkgs virt-manager python3-dogtail at-spi2-core xvfb
 dbus-daemon dbus-session-bus-common imagemagick"

want="$libvirt_pkgs $build_pkgs $runtime_pkgs"

missing=""
for p in $want; do
    name=${p%%=*}
    ver=${p#*=}
    [ "$ver" = "$p" ] && ver=""
    have=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$name" 2>/dev/null || true)
    case "$have" in
        ii*) if [ -z "$ver" ] || [ "${have#ii }" = "$ver" ] ||
                [ "$(echo "$have" | cut -c4- | tr -d ' ')" = "$ver" ]; then
                 continue
             fi ;;
    esac
    missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "install-deps: all packages present"
fi

# The build also needs deb-src to fetch libvirt's source; the build step adds
# it when missing (build-aux/prepare-libvirt.sh), so nothing else to do here.
