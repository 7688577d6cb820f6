#!/bin/bash
# python-libvirt (Debian's, hence /usr/bin/python3) against real contexts:
# console stream and lifecycle events (tests/context-console.py).
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
mkrootfs "$inst_dir/rootfs"
/usr/bin/python3 "$top/tests/context-console.py" "$uri" "$inst_dir/rootfs" \
    "$inst_dir" "$instance"
rc=$?
left=$(ctx_leftovers "" "$inst_dir/rootfs")
if [ -n "$left" ]; then
    echo "# left behind: $left"
    rc=1
fi
exit $rc
