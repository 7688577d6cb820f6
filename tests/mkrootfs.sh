#!/bin/bash
# Build a minimal busybox root file system for test contexts.
#
#   tests/mkrootfs.sh DIR
#
# DIR gets Debian's static busybox (package busybox-static) with a symlink
# per applet, /sbin/init -> busybox, users root / user (1000) / nobody
# (65534), and an inittab for busybox init in a context: no getty, a shell
# respawned on the console, and reboot/poweroff working from inside.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
root=$1
bb=${BUSYBOX:-/bin/busybox}

if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
    # without file(1), trust ldd: a static binary has no dependencies
    if ldd "$bb" 2>&1 | grep -q '=>'; then
        echo "mkrootfs: $bb is not a static busybox (install busybox-static)" >&2
        exit 1
    fi
fi

mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp run root home/user mnt var/log
chmod 1777 tmp
chmod 0700 root
cp "$bb" bin/busybox
chmod 0755 bin/busybox

# one symlink per applet, at the place busybox itself would install it:
# busybox --install run chrooted (no fork per applet, this runs for every
# test rootfs; /proc is empty there, so the link target is argv[0])
mkdir -p $("$bb" --list-full | sed -n 's|/[^/]*$||p' | sort -u)
if ! chroot . /bin/busybox --install -s 2>/dev/null; then
    "$bb" --list-full | while read -r applet; do
        [ "$applet" = bin/busybox ] || [ -e "$applet" ] || [ -L "$applet" ] ||
            ln -s /bin/busybox "$applet"
    done
fi
ln -sf /bin/busybox sbin/init

cat > etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > etc/group <<'EOF'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
EOF
chown 1000:1000 home/user
echo "busybox" > etc/hostname
: > etc/fstab

# busybox init in a context: nothing to mount or fsck (the shim made /proc,
# /sys, /dev), a shell on the console, and the actions reboot/poweroff need
# (busybox's reboot and poweroff signal init, which runs "shutdown" entries,
# kills everything and then calls reboot(2)).
cat > etc/inittab <<'EOF'
::sysinit:/bin/true
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/true
EOF
