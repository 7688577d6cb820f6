#!/bin/bash
# One entry point for a fresh Debian 12 machine (run as root):
#
#   bash scripts/bootstrap.sh demo   install, build, start virtvserverd as the
#                                    system instance (vserver:///system) from
#                                    the build tree and define a demo context
#   bash scripts/bootstrap.sh test   install, build, run the test suite
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$top/build
mode=${1:-}

# libvirt's build scripts and python-libvirt need Debian's python, not a
# pyenv shim that may sit first on PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

case "$mode" in
    demo|test) ;;
    *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

bash "$top/scripts/install-deps.sh"

if [ -f "$builddir/build.ninja" ]; then
    meson setup --reconfigure "$builddir" "$top" >/dev/null
else
    meson setup "$builddir" "$top"
fi
ninja -C "$builddir"

if [ "$mode" = test ]; then
    exec meson test -C "$builddir" --print-errorlogs
fi

# --- demo: the system instance, from the build tree
pidfile=/run/virtvserverd.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "stopping the running virtvserverd ($(cat "$pidfile"))"
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 100); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
fi
# the daemon logs to /var/log/libvirt/virtvserverd.log by default
mkdir -p /run/libvirt /var/log/libvirt /var/lib/libvirt
LIBVIRT_DRIVER_DIR=$builddir/src VSERVER_SCHEMA_DIR=$top/xml/schemas \
    VSERVER_SHIM_PATH=$builddir/src/libvirt_vserver_shim \
    VSERVER_HASHIFY_PATH=$builddir/src/hashify/vserver-hashify \
    VSERVER_CRIU_DIR=$builddir/criu \
    "$builddir/src/daemon/virtvserverd" -d -p "$pidfile"
ready=0
for _ in $(seq 1 100); do
    if virsh -q -c vserver:///system uri >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    echo "virtvserverd did not start; see /var/log/libvirt/virtvserverd.log:" >&2
    tail -n 20 /var/log/libvirt/virtvserverd.log >&2 || true
    exit 1
fi

# a busybox root for the demo context
rootfs=/var/lib/libvirt/vserver/demo-rootfs
if [ ! -x "$rootfs/bin/busybox" ]; then
    mkdir -p "$rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,root}
    cp /bin/busybox "$rootfs/bin/busybox"
    for app in $("$rootfs/bin/busybox" --list); do
        [ -e "$rootfs/bin/$app" ] || ln -s busybox "$rootfs/bin/$app"
    done
    ln -sf ../bin/busybox "$rootfs/sbin/init"
    echo "demo" > "$rootfs/etc/hostname"
fi
# busybox init: a root shell on the context's console, clean reboot/halt
[ -f "$rootfs/etc/inittab" ] || cat > "$rootfs/etc/inittab" <<'TAB'
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/true
TAB
[ -f "$rootfs/etc/passwd" ] || echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
[ -f "$rootfs/etc/group" ] || echo 'root:x:0:' > "$rootfs/etc/group"

cat > /tmp/vserver-demo.xml <<XML
<domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>
  <name>demo</name>
  <memory unit='MiB'>128</memory>
  <os>
    <type>exe</type>
    <init>/sbin/init</init>
  </os>
  <devices>
    <filesystem type='mount'>
      <source dir='$rootfs'/>
      <target dir='/'/>
    </filesystem>
    <console type='pty'/>
  </devices>
  <vserver:context>
    <vserver:pids max='256'/>
  </vserver:context>
</domain>
XML
if ! virsh -q -c vserver:///system dominfo demo >/dev/null 2>&1; then
    virsh -c vserver:///system define --validate /tmp/vserver-demo.xml
fi
if [ "$(virsh -q -c vserver:///system domstate demo)" != running ]; then
    virsh -c vserver:///system start demo
fi

cat <<MSG

virtvserverd is running (pid $(cat "$pidfile")) and serves vserver:///system;
the context "demo" runs busybox init.
  virsh -c vserver:///system list --all
  virsh -c vserver:///system console demo          (leave with Ctrl+])
  $top/tools/vserver-enter demo -- /bin/sh
  $top/tools/vserver-ps
  virsh -c vserver:///system domstats demo
  virsh -c vserver:///system dumpxml demo
  /usr/bin/python3 -c 'import libvirt; c = libvirt.open("vserver:///system"); print(c.getType(), [d.name() for d in c.listAllDomains()])'
  virt-admin -c virtvserverd:///system srv-list
Contexts outlive the daemon: stop them first, then the daemon:
  virsh -c vserver:///system destroy demo; kill \$(cat $pidfile)
MSG
