#!/bin/bash
# Build a minimal busybox rootfs from Debian's busybox-static:
#   bench/mkrootfs.sh DIR
# /bin/busybox plus one symlink per applet at its usual path (what
# `busybox --install -s` does, but relative to DIR), /etc/passwd, /etc/group
# and the empty mount points every container runtime expects.
set -euo pipefail

dir=${1:?usage: mkrootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkrootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }

mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev dev/pts run tmp root var/tmp
chmod 1777 tmp var/tmp
cp "$bb" bin/busybox
# --list-full prints e.g. "usr/bin/awk"; link every applet to /bin/busybox.
"$bb" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$(dirname "$applet")"
    ln -sf /bin/busybox "$applet"
done
cat > etc/passwd <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > etc/group <<'GR'
root:x:0:
nogroup:x:65534:
GR
echo bench > etc/hostname
: > etc/resolv.conf
