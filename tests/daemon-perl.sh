#!/bin/bash
# Perl Sys::Virt (Debian's libsys-virt-perl) against a private virtvserverd:
# a context's whole lifecycle (tests/daemon-perl.pl).
set -u
. "$(dirname "$0")/lib.sh"

if ! /usr/bin/perl -MSys::Virt -e 1 2>/dev/null; then
    echo "1..0 # SKIP Sys::Virt is not installed (libsys-virt-perl, scripts/install-deps.sh)"
    exit 0
fi

inst_setup
mkrootfs "$inst_dir/rootfs"
/usr/bin/perl "$top/tests/daemon-perl.pl" "$uri" "$inst_dir/rootfs"
