#!/bin/bash
# python-libvirt (Debian's, hence /usr/bin/python3) against a private
# virtvserverd.
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
mkdir -p "$inst_dir/rootfs"
# pyenv shims on PATH cannot import Debian's python3-libvirt
/usr/bin/python3 "$top/tests/daemon-python.py" "$uri" "$inst_dir/rootfs"
