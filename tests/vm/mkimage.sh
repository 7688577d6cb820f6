#!/bin/bash
# A Debian 12 host as a virtual machine disk, for the tests that need a
# host unlike the one they run on (tests/vm/purev2.sh: a pure cgroup v2
# host with systemd as PID 1), cached outside the repository:
#
#   tests/vm/mkimage.sh CACHEDIR
#
# CACHEDIR/host-rN/root.img   ext4, the root file system: mmdebstrap of
#                             bookworm (with bookworm-updates and
#                             bookworm-security, from the mirrors this
#                             machine's apt uses) with Debian's kernel,
#                             systemd as init and what the driver and its
#                             tests use at run time (the packages
#                             scripts/install-deps.sh installs, less the
#                             compiler and the desktop)
# CACHEDIR/host-rN/vmlinuz, initrd.img   the image's kernel and initramfs,
#                             for qemu's direct kernel boot
#
# The image boots to multi-user.target and runs vserver-vmtest.service,
# which mounts the host's shares (9p tags "out" at /run/vmtest-out,
# "cache" at /var/cache/libvirt-vserver, "src" at the path the "srcpath"
# file of the out share names) and runs the "cmd" file of the out share,
# then powers the machine off.  Prints CACHEDIR/host-rN.  A complete cache is reused; an
# interrupted one is made again.  Exit 3 when the archive cannot be
# reached and nothing is cached.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 CACHEDIR" >&2; exit 2; }
cache=$1
lvver=$(cat "$top/build-aux/libvirt-version")

# bump when what is built changes: old images are then not used
recipe=1
out=$cache/host-r$recipe
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/.done" ]; then
    echo "$out"
    exit 0
fi
rm -rf --one-file-system "$out"
mkdir -p "$out"

pkgs="linux-image-amd64 initramfs-tools systemd-sysv udev kmod dbus
 libvirt0=$lvver libvirt-clients=$lvver libvirt-daemon=$lvver
 libvirt-daemon-driver-lxc=$lvver
 busybox-static iproute2 iputils-ping python3 python3-libvirt
 libxml2-utils util-linux procps attr acl libcap2-bin xz-utils zstd bzip2
 iptables libprotobuf-c1 libnl-3-200 libnet1 libnftables1 libbsd0
 libarchive13 libseccomp2 libsys-virt-perl meson ninja-build
 openssh-client mmdebstrap"
pkgs=$(echo $pkgs | tr ' ' ',')

mirror() {
    /usr/bin/python3 "$top/bench/hashify-mirror.py" "$1"
}
main=$(mirror bookworm)
security=$(mirror bookworm-security 2>/dev/null || true)

cat > "$out/vserver-vmtest.service" <<'UNIT'
[Unit]
Description=libvirt-vserver test run of this virtual machine
After=multi-user.target
[Service]
Type=oneshot
StandardOutput=journal+console
StandardError=journal+console
ExecStart=/usr/local/sbin/vserver-vmtest
[Install]
WantedBy=multi-user.target
UNIT

cat > "$out/vserver-vmtest" <<'RUNNER'
#!/bin/sh
# mount the shares of the machine that started this one, run its command,
# power off whatever happens
set -u
trap 'systemctl --no-block poweroff' EXIT
share() {
    mkdir -p "$2"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,access=any,cache=none \
        "$1" "$2" || { echo "vmtest: cannot mount share $1 at $2" >&2; exit 1; }
}
share out /run/vmtest-out
share cache /var/cache/libvirt-vserver
share src "$(cat /run/vmtest-out/srcpath)"
if [ -x /run/vmtest-out/cmd ]; then
    /run/vmtest-out/cmd >/run/vmtest-out/cmd.log 2>&1
    echo $? > /run/vmtest-out/cmd.rc
fi
sync
RUNNER

tree=$out/tree
mkdir "$tree"
echo "mkimage: mmdebstrap bookworm from $main, once (cached in $out)" >&2
set +e
mmdebstrap --variant=apt --include="$pkgs" \
    --customize-hook='echo vmhost > "$1/etc/hostname"' \
    --customize-hook='echo "/dev/vda / ext4 rw,relatime 0 1" > "$1/etc/fstab"' \
    --customize-hook="upload $out/vserver-vmtest.service /etc/systemd/system/vserver-vmtest.service" \
    --customize-hook='mkdir -p "$1/etc/systemd/system/multi-user.target.wants"; ln -s /etc/systemd/system/vserver-vmtest.service "$1/etc/systemd/system/multi-user.target.wants/vserver-vmtest.service"' \
    --customize-hook="upload $out/vserver-vmtest /usr/local/sbin/vserver-vmtest" \
    --customize-hook='chmod 755 "$1/usr/local/sbin/vserver-vmtest"' \
    --customize-hook='printf "9p\n9pnet_virtio\n" > "$1/etc/modules-load.d/vmtest.conf"' \
    --customize-hook='printf "9p\n9pnet\n9pnet_virtio\nvirtio_pci\nvirtio_blk\next4\n" >> "$1/etc/initramfs-tools/modules"; chroot "$1" update-initramfs -u -k all' \
    --customize-hook='passwd --root "$1" -d root' \
    bookworm "$tree" "deb $main bookworm main" "deb $main bookworm-updates main" \
    ${security:+"deb $security bookworm-security main"} >"$out/mmdebstrap.log" 2>&1
rc=$?
set -e
if [ $rc != 0 ]; then
    echo "mkimage: mmdebstrap failed; the end of $out/mmdebstrap.log:" >&2
    tail -n 5 "$out/mmdebstrap.log" >&2
    grep -qiE 'Could not resolve|Temporary failure|Failed to fetch|unable to connect' \
        "$out/mmdebstrap.log" && exit 3
    exit 1
fi
cp "$(readlink -f "$tree/vmlinuz")" "$out/vmlinuz"
cp "$(readlink -f "$tree/initrd.img")" "$out/initrd.img"
# room for the tests' pools and contexts; the file is sparse
mke2fs -q -t ext4 -L vmroot -d "$tree" "$out/root.img.tmp" 12G
mv "$out/root.img.tmp" "$out/root.img"
rm -rf --one-file-system "$tree"
touch "$out/.done"
echo "$out"
