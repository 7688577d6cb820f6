#!/bin/bash
# The Debian 12 minbase tree of bench/hashify and its tarball, cached:
#
#   bench/hashify-rootfs.sh CACHEDIR
#
# makes (once) CACHEDIR/bookworm-minbase/ with
#   debootstrap --variant=minbase bookworm TREE MIRROR
# (MIRROR: what this machine's apt uses, bench/hashify-mirror.py) and
# CACHEDIR/bookworm-minbase.tar.gz of it (numeric owners, xattrs), and
# prints both paths.  A complete cache is reused as is; an interrupted one
# (no stamp file) is made again.
set -euo pipefail

bench=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: hashify-rootfs.sh CACHEDIR}
tree=$cache/bookworm-minbase
tarball=$cache/bookworm-minbase.tar.gz
stamp=$cache/bookworm-minbase.done

mkdir -p "$cache"
# two benches at once must not debootstrap into one directory
exec 9>"$cache/.lock"
flock 9

if [ ! -f "$stamp" ]; then
    mirror=$(/usr/bin/python3 "$bench/hashify-mirror.py" bookworm)
    echo "hashify-rootfs: debootstrap --variant=minbase bookworm from $mirror (once; cached in $cache)" >&2
    rm -rf --one-file-system "$tree" "$tarball" "$tarball.tmp"
    log=$cache/debootstrap.log
    if ! debootstrap --variant=minbase bookworm "$tree" "$mirror" >"$log" 2>&1; then
        echo "hashify-rootfs: debootstrap failed; last lines of $log:" >&2
        tail -n 20 "$log" >&2
        # debootstrap may leave its proc/sys mounts behind on failure
        findmnt -rn -o TARGET | grep -F "$tree/" | sort -r |
            while read -r m; do umount -l "$m"; done
        exit 1
    fi
    touch "$stamp"
fi

if [ ! -f "$tarball" ]; then
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$tree" \
        -czf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
fi
echo "$tree"
echo "$tarball"
