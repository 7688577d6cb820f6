#!/bin/bash
# A Debian guest tree for the distribution tests, cached outside the
# repository:
#
#   tests/distro/mkguest.sh CACHEDIR SUITE INIT SHIFT
#
# SUITE is a Debian code name (bookworm and trixie are tested).
#
# CACHEDIR/SUITE-INIT-rN.tar    mmdebstrap --variant=minbase SUITE with the
#                               init (systemd: systemd-sysv; sysvinit:
#                               sysvinit-core; openrc: sysvinit-core and
#                               openrc), dbus, iproute2, procps,
#                               openssh-server, cron; the mirror is the one
#                               this machine's apt uses for SUITE, else its
#                               Debian mirror (bench/hashify-mirror.py);
#                               sysvinit's inittab made for a context as
#                               tools/vserver-template does (unlike it,
#                               the build host's /etc/hostname is kept:
#                               context-guestinfo.sh reads it)
# CACHEDIR/SUITE-INIT-rN-SHIFT/ that tree with every owner moved up by
#                               SHIFT (a directory root for <idmap> with
#                               target SHIFT), file capabilities kept, the
#                               user and group ids of POSIX ACLs moved too
#                               (else the guest sees them unmapped, and
#                               systemd-tmpfiles cannot add to the ACL of
#                               /var/log/journal)
#
# Prints the tree's path.  A complete cache is reused (stamp files); an
# interrupted one is made again.  Exit 3 when the archive cannot be reached
# and nothing is cached.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 4 ] || { echo "usage: $0 CACHEDIR SUITE INIT SHIFT" >&2; exit 2; }
cache=$1 suite=$2 init=$3 shift_by=$4
case "$init" in
    systemd) pkgs=systemd-sysv ;;
    sysvinit) pkgs=sysvinit-core ;;
    openrc) pkgs=sysvinit-core,openrc ;;
    *) echo "mkguest: unknown init '$init' (systemd, sysvinit, openrc)" >&2; exit 2 ;;
esac
pkgs=$pkgs,dbus,iproute2,procps,openssh-server,passwd,cron

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

# bump when what is built changes: old caches are then not used
# (r3: cron; ACL ids shifted with the owners)
recipe=3
tar=$cache/$suite-$init-r$recipe.tar
if [ ! -f "$tar.done" ]; then
    # a suite this host's apt does not use (trixie on a bookworm host):
    # its Debian mirror carries every suite
    mirror=$(/usr/bin/python3 "$top/bench/hashify-mirror.py" "$suite" 2>/dev/null ||
             /usr/bin/python3 "$top/bench/hashify-mirror.py" bookworm)
    echo "mkguest: mmdebstrap $suite ($init) from $mirror, once (cached in $cache)" >&2
    rm -f "$tar" "$tar.tmp"
    # the same inittab for a context as tools/vserver-template makes
    hook=$(/usr/bin/python3 -c 'import sys, importlib.machinery as m
t = m.SourceFileLoader("t", sys.argv[1]).load_module()
print(t.SYSVINIT_HOOK)' "$top/tools/vserver-template")
    if ! mmdebstrap --format=tar --variant=minbase --include="$pkgs" "$hook" \
            "$suite" "$tar.tmp" "$mirror" >"$cache/$suite-$init-r$recipe.log" 2>&1; then
        echo "mkguest: mmdebstrap failed; the end of $cache/$suite-$init-r$recipe.log:" >&2
        tail -n 5 "$cache/$suite-$init-r$recipe.log" >&2
        grep -qiE 'Could not resolve|Temporary failure|Failed to fetch|unable to connect' \
            "$cache/$suite-$init-r$recipe.log" && exit 3
        exit 1
    fi
    mv "$tar.tmp" "$tar"
    touch "$tar.done"
fi

tree=$cache/$suite-$init-r$recipe-$shift_by
if [ ! -f "$tree.done" ]; then
    rm -rf --one-file-system "$tree"
    mkdir "$tree"
    tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar" -C "$tree"
    /usr/bin/python3 - "$tree" "$shift_by" <<'PY'
import os, stat, struct, sys
root, shift = sys.argv[1], int(sys.argv[2])
CAP = "security.capability"
ACLS = ("system.posix_acl_access", "system.posix_acl_default")

def shift_acl(value):
    # struct posix_acl_xattr_header (u32 version), then entries (u16 tag,
    # u16 perm, u32 id); ACL_USER (2) and ACL_GROUP (8) carry an id
    out = bytearray(value[:4])
    for off in range(4, len(value), 8):
        tag, perm, xid = struct.unpack_from("<HHI", value, off)
        if tag in (0x02, 0x08):
            xid += shift
        out += struct.pack("<HHI", tag, perm, xid)
    return bytes(out)
for d, dirs, files in os.walk(root):
    names = dirs + files + (["."] if d == root else [])
    for n in names:
        p = os.path.normpath(os.path.join(d, n))
        st = os.lstat(p)
        cap = None
        if stat.S_ISREG(st.st_mode):
            try:
                cap = os.getxattr(p, CAP, follow_symlinks=False)
            except OSError:
                pass
        os.lchown(p, st.st_uid + shift, st.st_gid + shift)
        # chown clears set-id bits and file capabilities: put them back
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o6000:
            os.chmod(p, stat.S_IMODE(st.st_mode))
        if cap is not None:
            os.setxattr(p, CAP, cap, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            continue
        for name in ACLS:
            try:
                acl = os.getxattr(p, name, follow_symlinks=False)
            except OSError:
                continue
            os.setxattr(p, name, shift_acl(acl), follow_symlinks=False)
PY
    touch "$tree.done"
fi
echo "$tree"
