#!/bin/bash
# vserver-hashify import, export and flatten (TAP): round trips that keep
# every bit of metadata, compressions, sharing across templates, hostile
# tarballs (each refused with its message, nothing written outside the
# destination, the destination left empty), flatten against a real
# overlayfs mount, and SIGKILL at random points.  Needs root (chown,
# mknod, setcap, mount) and the acl, attr, libcap2-bin, xz-utils and zstd
# tools.  Everything lives below one temporary directory in /var/tmp,
# removed at exit.
#
#   archivetest.sh PATH-TO-vserver-hashify
set -u

. "$(dirname "$0")/tap.sh" "$@"
need_programs "python3, attr, acl, libcap2-bin, xz-utils, zstd" python3 getfattr setfattr setfacl getfacl setcap getcap xz zstd gzip tar

work=$(mktemp -d /var/tmp/archivetest.XXXXXX)
tmpout=/tmp/archivetest-outside.$$
mounts=()
cleanup() {
    local m
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
    rm -rf "$work" "$tmpout"
}
trap cleanup EXIT

pool=$work/pool             # store root: .hash/ lives here
outside=$work/outside       # where hostile archives aim
mkdir -p "$pool" "$outside"
echo sentinel > "$outside/keep"

hv() { "$tool" "$@"; }

# --- helpers

# listing TREE: one line per entry, sorted by path: type, mode, owner,
# size, mtime (ns), device numbers, link target, sha256, every xattr
# (ACLs and capabilities included, overlayfs's own left out), and which
# earlier name the inode was first seen under (the hard link structure).
# Names are shown with Python's escapes, so newlines are fine.
cat > "$work/listing.py" <<'EOF'
import hashlib, os, stat, sys

root = os.fsencode(sys.argv[1])
links = "nolinks" not in sys.argv[2:]
secs = "secs" in sys.argv[2:]           # mtimes to the second only
noxattrs = "noxattrs" in sys.argv[2:]
seen = {}
out = []

def xattrs(p):
    res = []
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return res
    for n in sorted(names):
        if n.startswith("trusted.overlay."):
            continue
        res.append("%s=%s" % (n, os.getxattr(p, n, follow_symlinks=False).hex()))
    return res

def walk(rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    m = st.st_mode
    f = [repr(rel or b"."), "%o" % stat.S_IFMT(m), "%04o" % stat.S_IMODE(m),
         "%d:%d" % (st.st_uid, st.st_gid),
         "mtime=%d" % (st.st_mtime_ns // 10**9 if secs else st.st_mtime_ns)]
    if stat.S_ISREG(m):
        h = hashlib.sha256()
        with open(p, "rb") as fp:
            for chunk in iter(lambda: fp.read(1 << 20), b""):
                h.update(chunk)
        f += ["size=%d" % st.st_size, h.hexdigest()]
    elif stat.S_ISLNK(m):
        f.append("-> " + repr(os.readlink(p)))
    elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
        f.append("dev=%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    if not noxattrs:
        f += xattrs(p)
    if links and not stat.S_ISDIR(m):
        key = (st.st_dev, st.st_ino)
        if key in seen:
            f.append("link=" + repr(seen[key]))
        else:
            seen[key] = rel
    out.append(" ".join(f))
    if stat.S_ISDIR(m):
        for n in sorted(os.listdir(p)):
            if rel == b"" and n == b".hash":
                continue
            walk(os.path.join(rel, n) if rel else n)

walk(b"")
sys.stdout.write("\n".join(out) + "\n")
EOF
listing() { python3 "$work/listing.py" "$@"; }
same_tree() {   # same_tree A B [OPTION...]: diff of the listings as diagnostics
    local a b x=$1 y=$2
    shift 2
    a=$(listing "$x" "$@") || return 1
    b=$(listing "$y" "$@") || return 1
    [ "$a" = "$b" ] && return 0
    diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -n 20 | sed 's/^/# /'
    return 1
}
ino() { stat -c %i "$1"; }
empty_dir() { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }

# Everything of the work area except the store and the given destination:
# what a run may not touch.
snapshot() {   # snapshot DEST
    (cd "$work" && find . -path './*/.hash' -prune -o -path "./${1#$work/}" -prune \
        -o -path ./err -prune \
        -o -printf '%p %y %m %U %G %s %T@ %l\n' | sort)
    [ -e "$tmpout" ] && echo "$tmpout exists"
}

# A fresh empty destination below the pool.
newdest() { rm -rf "$pool/$1"; mkdir "$pool/$1"; echo "$pool/$1"; }

# import_fails NAME TARBALL MESSAGE [OPTIONS...]: refused with MESSAGE as
# the last stderr line, the destination empty, nothing else touched.
import_fails() {
    local name=$1 tarball=$2 msg=$3; shift 3
    local dest before after rc last
    dest=$(newdest "hostile")
    before=$(snapshot "$dest")
    hv import --store "$pool" "$@" "$dest" < "$tarball" 2> "$work/err"
    rc=$?
    after=$(snapshot "$dest")
    last=$(tail -n 1 "$work/err")
    # MESSAGE is a glob pattern
    if [ $rc -eq 1 ] && [[ "$last" == "vserver-hashify: "$msg ]] && empty_dir "$dest" &&
       [ "$before" = "$after" ] && [ ! -e "$tmpout" ] && [ ! -e "$outside/pwned" ]; then
        ok 0 "$name: refused, destination empty, nothing written outside"
    else
        diag "exit $rc, stderr:" "$(cat "$work/err")" "expected: vserver-hashify: $msg"
        [ "$before" = "$after" ] || diag "something outside the destination changed"
        empty_dir "$dest" || diag "destination not empty:" "$(ls -A "$dest")"
        ok 1 "$name: refused, destination empty, nothing written outside"
    fi
}

# mktar OUT SPEC...: a pax tarball with python's tarfile.  SPEC is
# file:NAME:TEXT, sym:NAME:TARGET, hard:NAME:TARGET, dir:NAME,
# chr:NAME:MAJ:MIN, big:NAME:SIZE (a header only, the data missing).
cat > "$work/mktar.py" <<'EOF'
import io, sys, tarfile, time
out = sys.argv[1]
with open(out, "wb") as fp:
    t = tarfile.open(fileobj=fp, mode="w", format=tarfile.PAX_FORMAT)
    for spec in sys.argv[2:]:
        kind, name, *rest = spec.split(":")
        ti = tarfile.TarInfo(name)
        ti.mtime = 1600000000
        if kind == "file":
            data = rest[0].encode()
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        elif kind == "dir":
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            t.addfile(ti)
        elif kind == "sym":
            ti.type = tarfile.SYMTYPE
            ti.linkname = rest[0]
            t.addfile(ti)
        elif kind == "hard":
            ti.type = tarfile.LNKTYPE
            ti.linkname = rest[0]
            t.addfile(ti)
        elif kind == "chr":
            ti.type = tarfile.CHRTYPE
            ti.devmajor, ti.devminor = int(rest[0]), int(rest[1])
            t.addfile(ti)
        elif kind == "big":
            # the header of a huge file and nothing after it
            ti.size = int(rest[0])
            fp.write(ti.tobuf(tarfile.PAX_FORMAT))
            fp.flush()
            sys.exit(0)
    t.close()
EOF
mktar() { python3 "$work/mktar.py" "$@"; }

# A tree with a bit of everything, at odd owners and nanosecond mtimes.
srctree() {
    local t=$1
    mkdir -p "$t/etc/ssh" "$t/usr/bin" "$t/dir/sub/deeper" "$t/empty" "$t/sticky" "$t/sgid"
    printf 'config\n' > "$t/etc/config"
    printf 'private host key\n' > "$t/etc/ssh/ssh_host_rsa_key"
    head -c 70000 /dev/urandom > "$t/usr/bin/tool"
    head -c 9000 /dev/urandom > "$t/usr/bin/suid"
    chmod 4755 "$t/usr/bin/suid"
    head -c 5000 /dev/urandom > "$t/usr/bin/ping"
    setcap cap_net_raw+ep "$t/usr/bin/ping"
    head -c 3000 /dev/urandom > "$t/dir/acl"
    setfacl -m u:1234:rw,g:4321:r "$t/dir/acl"
    setfacl -d -m u:1234:rwx "$t/dir/sub"
    head -c 3000 /dev/urandom > "$t/dir/sub/deeper/xattr"
    setfattr -n user.origin -v "tree one" "$t/dir/sub/deeper/xattr"
    setfattr -n trusted.something -v 0x00ff01 "$t/dir/sub/deeper/xattr"
    head -c 8000 /dev/urandom > "$t/dir/hard1"
    ln "$t/dir/hard1" "$t/dir/hard2"
    ln "$t/dir/hard1" "$t/usr/hard3"
    ln -s /etc/passwd "$t/abs-link"
    ln -s ../etc/config "$t/usr/rel-link"
    ln -s "dangling target" "$t/dangling"
    mkfifo "$t/dir/fifo"
    mknod "$t/dir/null" c 1 3
    mknod "$t/dir/loop" b 7 200
    printf 'space\n' > "$t/name with spaces"
    printf 'newline\n' > "$t/name
with newline"
    printf 'latin1\n' > "$t/$(printf 'caf\351')"
    printf 'long\n' > "$t/$(printf 'l%.0s' {1..150})"
    head -c 100 /dev/urandom > "$t/dir/sub/deeper/$(printf 'd%.0s' {1..120})"
    truncate -s 50M "$t/sparse"
    printf 'middle' | dd of="$t/sparse" bs=1 seek=1000000 conv=notrunc status=none
    : > "$t/emptyfile"
    chmod 1777 "$t/sticky"
    chmod 2755 "$t/sgid"
    chmod 700 "$t/dir/sub"
    chown 100000:100001 "$t/dir/sub/deeper/xattr"
    chown 1000:2000 "$t/dir" "$t/usr/rel-link"
    chmod 640 "$t/etc/config"
    find "$t" -exec touch -h -d '2021-03-04 05:06:07.123456789' {} +
    touch -h -d '2019-01-01 00:00:00.5' "$t/usr/bin/tool" "$t/abs-link"
}

# --- round trip

src=$work/src
srctree "$src"
tar --xattrs --xattrs-include='*' --acls --format=posix --sparse -C "$src" \
    -cf "$work/src.tar" . || { echo "Bail out! cannot tar the source"; exit 1; }

t1=$(newdest t1)
hv import --store "$pool" --devices=allow "$t1" < "$work/src.tar" 2> "$work/err"
ok $? "import of a GNU tar archive (xattrs, ACLs, sparse)" || diag "$(cat "$work/err")"
same_tree "$src" "$t1" nolinks
ok $? "the import equals the source: content, modes, owners, mtimes, xattrs, devices"
[ "$(ino "$t1/dir/hard1")" = "$(ino "$t1/dir/hard2")" ] &&
    [ "$(ino "$t1/dir/hard1")" = "$(ino "$t1/usr/hard3")" ]
ok $? "hard links of the archive are one inode"
[ "$(getcap "$t1/usr/bin/ping")" = "$t1/usr/bin/ping cap_net_raw=ep" ]
ok $? "the file capability survives (getcap)"
[ "$(cd "$src" && getfacl -R -p -n . 2>/dev/null)" = "$(cd "$t1" && getfacl -R -p -n . 2>/dev/null)" ]
ok $? "POSIX ACLs survive, access and default (getfacl)"
[ "$(stat -c %b "$t1/sparse")" -lt 1000 ]
ok $? "a sparse file stays sparse"
[ "$(stat -c %h "$t1/usr/bin/tool")" = 2 ] && [ "$(stat -c %h "$t1/etc/ssh/ssh_host_rsa_key")" = 1 ] &&
    [ "$(stat -c %h "$t1/emptyfile")" = 1 ]
ok $? "files are linked into the store while written; excluded and empty ones are not"

hv export "$t1" > "$work/t1.tar" 2> "$work/err"
ok $? "export" || diag "$(cat "$work/err")"
tar -tf "$work/t1.tar" > "$work/names" 2>/dev/null && grep -qx './usr/bin/tool' "$work/names" &&
    ! grep -q '^[^.]' "$work/names"
ok $? "the export is a tar GNU tar reads, names relative"
t2=$(newdest t2)
hv import --store "$pool" --devices=allow "$t2" < "$work/t1.tar" 2> "$work/err"
ok $? "import of the export" || diag "$(cat "$work/err")"
same_tree "$t1" "$t2"
ok $? "export + import reproduces the tree: metadata, xattrs, hard link structure"
[ "$(cd "$t1" && getfacl -R -p -n . 2>/dev/null; getcap -r . 2>/dev/null)" = \
  "$(cd "$t2" && getfacl -R -p -n . 2>/dev/null; getcap -r . 2>/dev/null)" ]
ok $? "getcap and getfacl agree after the round trip"
[ "$(ino "$t1/usr/bin/tool")" = "$(ino "$t2/usr/bin/tool")" ] &&
    [ "$(ino "$t1/dir/acl")" = "$(ino "$t2/dir/acl")" ] &&
    [ "$(ino "$t1/usr/bin/ping")" = "$(ino "$t2/usr/bin/ping")" ]
ok $? "identical files of two templates are one inode in the store"
mkdir -p "$work/pool2/t"
[ "$(stat -c %s "$work/t1.tar")" -lt $((5 << 20)) ] &&
    hv import --store "$work/pool2" --devices=allow "$work/pool2/t" < "$work/t1.tar" &&
    [ "$(stat -c %b "$work/pool2/t/sparse")" -lt 1000 ] && cmp -s "$src/sparse" "$work/pool2/t/sparse"
ok $? "the export keeps holes: a sparse file leaves and comes back sparse"
rm -rf "$work/pool2"

# the key computed while extracting is the one hashify computes on disk
key=$(hv --print-key --ignore-mtime -s "$pool" "$t1/usr/bin/tool" | cut -d' ' -f1)
[ -n "$key" ] && [ "$(ino "$pool/.hash/${key:0:2}/${key:2}")" = "$(ino "$t1/usr/bin/tool")" ]
ok $? "the object's name is the key vserver-hashify computes for the file"
out=$(hv --no-progress --ignore-mtime -s "$pool" "$t1" "$t2")
[ "$(printf '%s\n' "$out" | sed -n 's/^files-linked: //p')" = 0 ] &&
    [ "$(printf '%s\n' "$out" | sed -n 's/^objects-created: //p')" = 0 ]
ok $? "a hashify run over imported trees has nothing left to link" || diag "$out"

t3=$(newdest t3)
hv import --store "$pool" --key-mtime --devices=allow "$t3" < "$work/t1.tar" &&
    same_tree "$t1" "$t3" && [ "$(ino "$t1/usr/bin/tool")" != "$(ino "$t3/usr/bin/tool")" ] &&
    [ "$(stat -c %h "$t3/usr/bin/tool")" = 2 ]
ok $? "--key-mtime: same tree, objects keyed apart"

t3=$(newdest t3)
hv import --store "$pool" --min-size=10000 --exclude=/usr/bin/ping --devices=allow \
    "$t3" < "$work/t1.tar" &&
    [ "$(stat -c %h "$t3/dir/acl")" = 1 ] && [ "$(stat -c %h "$t3/usr/bin/ping")" = 1 ] &&
    [ "$(ino "$t3/usr/bin/tool")" = "$(ino "$t1/usr/bin/tool")" ]
ok $? "--min-size and --exclude keep files out of the store"

t3=$(newdest t3)
hv import --store "$pool" --devices=skip "$t3" < "$work/t1.tar" 2> "$work/err" &&
    [ ! -e "$t3/dir/null" ] && [ ! -e "$t3/dir/loop" ] && [ -p "$t3/dir/fifo" ] &&
    grep -q "entry './dir/null': device node left out" "$work/err"
ok $? "--devices=skip leaves device nodes out with a warning" || diag "$(cat "$work/err")"

# python's tarfile writes other headers than GNU tar and libarchive
python3 - "$src" "$work/py.tar" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[2], "w", format=tarfile.GNU_FORMAT) as t:
    t.add(sys.argv[1], arcname=".")
EOF
t3=$(newdest t3)
hv import --store "$pool" --devices=allow "$t3" < "$work/py.tar" 2> "$work/err"
ok $? "import of a python tarfile (GNU format) archive" || diag "$(cat "$work/err")"
# tarfile's GNU format keeps neither xattrs nor nanoseconds
same_tree "$src" "$t3" nolinks secs noxattrs
ok $? "...with names, owners, modes, mtimes and content intact"

# --- compressions

gzip -c "$work/t1.tar" > "$work/t1.tar.gz"
xz -T1 -c "$work/t1.tar" > "$work/t1.tar.xz"
zstd -q -c "$work/t1.tar" > "$work/t1.tar.zst"
bzip2 -c "$work/t1.tar" > "$work/t1.tar.bz2" 2>/dev/null || rm -f "$work/t1.tar.bz2"
for c in gz xz zst bz2; do
    if [ ! -f "$work/t1.tar.$c" ]; then
        skip "$c: no compressor"
        continue
    fi
    t3=$(newdest t3)
    hv import --store "$pool" --devices=allow "$t3" < "$work/t1.tar.$c" 2> "$work/err" &&
        same_tree "$t1" "$t3"
    ok $? "a .tar.$c stream imports to the same tree" || diag "$(cat "$work/err")"
done

# --- refusals and containment

d=$(newdest busy); echo x > "$d/there"
hv import --store "$pool" "$d" < "$work/t1.tar" 2> "$work/err"
[ $? = 1 ] && [ -f "$d/there" ] &&
    [ "$(tail -n 1 "$work/err")" = "vserver-hashify: the destination '$d' is not empty" ]
ok $? "a destination that is not empty is refused and left alone" || diag "$(cat "$work/err")"

mktar "$work/h1.tar" "file:../x:escape"
import_fails "'../x'" "$work/h1.tar" "entry '../x': '..' is not allowed in a name"
mktar "$work/h2.tar" "dir:a" "file:a/../../x:escape"
import_fails "'a/../../x'" "$work/h2.tar" "entry 'a/../../x': '..' is not allowed in a name"
mktar "$work/h3.tar" "file:ok:fine" "sym:evil:$outside" "file:evil/pwned:gotcha"
import_fails "a file through a symlink to an absolute path" "$work/h3.tar" \
    "entry 'evil/pwned': a component of its path is a symbolic link (nothing is written through one)"
mktar "$work/h4.tar" "sym:evil:$tmpout" "dir:evil/sub" "file:evil/sub/pwned:gotcha"
import_fails "a directory through a symlink to /tmp" "$work/h4.tar" \
    "entry 'evil/sub/': a component of its path is a symbolic link (nothing is written through one)"
mktar "$work/h5.tar" "dir:d" "sym:d/up:.." "file:d/up/up/outside/pwned:gotcha"
import_fails "a file through a symlink to '..'" "$work/h5.tar" \
    "entry 'd/up/up/outside/pwned': a component of its path is a symbolic link (nothing is written through one)"
mktar "$work/h6.tar" "hard:passwd:/etc/passwd"
import_fails "a hard link to /etc/passwd" "$work/h6.tar" \
    "entry 'passwd': the hard link target '/etc/passwd' is not in the tree (a hard link must point to an earlier entry)"
mktar "$work/h7.tar" "hard:x:../outside/keep"
import_fails "a hard link to ../outside" "$work/h7.tar" \
    "entry 'x': the hard link target '../outside/keep': '..' is not allowed in a name"
mktar "$work/h8.tar" "sym:l:$outside" "hard:x:l/keep"
import_fails "a hard link through a symlink" "$work/h8.tar" \
    "entry 'x': the hard link target 'l/keep': a component of its path is a symbolic link (nothing is written through one)"
mktar "$work/h9.tar" "dir:dev" "chr:dev/sda:8:0"
import_fails "a device node in a pool that denies them" "$work/h9.tar" \
    "entry 'dev/sda': device nodes are not allowed in this pool"
mktar "$work/h10.tar" "file:small:x" "big:huge:$((10 << 30))"
import_fails "a 10 GiB header over --limit=1G" "$work/h10.tar" \
    "entry 'huge': the archive unpacks to more than 1073741824 bytes (pool limit)" --limit=1G
truncate -s 10G "$work/sparse10g"
tar --sparse --format=posix -C "$work" -cf "$work/h11.tar" sparse10g
rm -f "$work/sparse10g"
import_fails "a 10 GiB sparse file over --limit=1G" "$work/h11.tar" \
    "entry 'sparse10g': the archive unpacks to more than 1073741824 bytes (pool limit)" --limit=1G
# a decompression bomb: a tar of a 2 GiB file of zeros, gzip'd.  Made
# quickly as a multi-member gzip stream (which gzip -d and libarchive read
# as one): the header, 128 times the same 16 MiB of zeros, the end.
python3 -c '
import sys, tarfile
ti = tarfile.TarInfo("zeros"); ti.size = 2 << 30; ti.mtime = 1600000000
sys.stdout.buffer.write(ti.tobuf(tarfile.PAX_FORMAT))' | gzip -1 > "$work/bomb.tar.gz"
head -c $((16 << 20)) /dev/zero | gzip -1 > "$work/zeros16m.gz"
[ "$(gzip -dc "$work/zeros16m.gz" | wc -c)" = $((16 << 20)) ]
ok $? "the bomb: each of its 128 gzip members unpacks to 16 MiB of zeros"
for i in $(seq 1 128); do cat "$work/zeros16m.gz"; done >> "$work/bomb.tar.gz"
head -c 1024 /dev/zero | gzip -1 >> "$work/bomb.tar.gz"
rm -f "$work/zeros16m.gz"
import_fails "a decompression bomb ($(stat -c %s "$work/bomb.tar.gz") bytes of gzip for 2 GiB)" \
    "$work/bomb.tar.gz" \
    "entry 'zeros': the archive unpacks to more than 1073741824 bytes (pool limit)" --limit=1G
python3 - "$work/bomb2.tar.gz" <<'EOF'
import gzip, io, sys, tarfile
with gzip.open(sys.argv[1], "wb", compresslevel=1) as fp:
    t = tarfile.open(fileobj=fp, mode="w|", format=tarfile.PAX_FORMAT)
    for i in range(4):
        ti = tarfile.TarInfo("part%d" % i); ti.size = 3 << 20
        t.addfile(ti, io.BytesIO(bytes(ti.size)))
    t.close()
EOF
import_fails "many files adding up over --limit=10M" "$work/bomb2.tar.gz" \
    "entry 'part3': the archive unpacks to more than 10485760 bytes (pool limit)" --limit=10M
head -c 30000 "$work/t1.tar" > "$work/trunc.tar"
import_fails "a truncated archive" "$work/trunc.tar" "entry './*': *runcated*" \
    --devices=allow
# cut between two entries: libarchive alone would call that the end
python3 - "$work/t1.tar" "$work/trunc2.tar" <<'EOF'
import sys, tarfile
with open(sys.argv[1], "rb") as fp:
    t = tarfile.open(fileobj=fp)
    members = t.getmembers()
    # right after a file of random bytes, so the stream does not end in zeros
    i = [m.name for m in members].index("./usr/bin/tool")
    cut = members[i + 1].offset
    fp.seek(0)
    data = fp.read(cut)
open(sys.argv[2], "wb").write(data)
EOF
import_fails "an archive cut between two entries" "$work/trunc2.tar" \
    "entry '*': the archive ends after this entry without the end-of-archive blocks: it is truncated" \
    --devices=allow
gzip -c "$work/t1.tar" | head -c 20000 > "$work/trunc.tar.gz"
import_fails "a truncated .tar.gz" "$work/trunc.tar.gz" \
    "cannot read the archive (after * entries): truncated gzip input" --devices=allow
printf 'this is not a tarball at all\n%.0s' {1..40} > "$work/junk"
import_fails "not an archive" "$work/junk" "cannot read the archive: Unrecognized archive format"
import_fails "an empty upload" /dev/null "cannot read the archive*"

mktar "$work/abs.tar" "dir:/abs" "file:/abs/file:contained" "file://etc/./x:also"
d=$(newdest abs)
before=$(snapshot "$d")
hv import --store "$pool" "$d" < "$work/abs.tar" 2> "$work/err" &&
    [ "$(cat "$d/abs/file")" = contained ] && [ "$(cat "$d/etc/x")" = also ] &&
    [ ! -e /abs ] && [ "$before" = "$(snapshot "$d")" ]
ok $? "absolute names are stripped and contained below the destination" || diag "$(cat "$work/err")"

mktar "$work/dup.tar" "file:a:one" "sym:b:a" "file:b:two" "dir:c" "file:c/x:three" \
    "dir:c" "file:a:four"
d=$(newdest dup)
hv import --store "$pool" "$d" < "$work/dup.tar" 2> "$work/err" &&
    [ "$(cat "$d/a")" = four ] && [ -f "$d/b" ] && [ ! -L "$d/b" ] && [ "$(cat "$d/c/x")" = three ]
ok $? "a later entry replaces an earlier one of the same name, as tar does" || diag "$(cat "$work/err")"

# --- flatten: the merged view of a real overlayfs mount

fl=$work/fl
mkdir -p "$fl"/{lsrc,upper,work,mnt}
l=$fl/lsrc
mkdir -p "$l"/{etc,bin,data/dir1,data/dir2,rmd,ren,keep,dev}
printf 'conf\n' > "$l/etc/conf"; printf 'gone soon\n' > "$l/etc/old"
head -c 100000 /dev/urandom > "$l/bin/tool"
head -c 20000 /dev/urandom > "$l/bin/other"
head -c 3000 /dev/urandom > "$l/data/dir1/f1"; head -c 3000 /dev/urandom > "$l/data/dir2/f2"
printf 'x\n' > "$l/rmd/x"; printf 'y\n' > "$l/rmd/y"
printf 'rename me\n' > "$l/ren/old"
head -c 4000 /dev/urandom > "$l/keep/chm"; head -c 4000 /dev/urandom > "$l/keep/own"
head -c 4000 /dev/urandom > "$l/keep/h1"; ln "$l/keep/h1" "$l/keep/h2"
head -c 4000 /dev/urandom > "$l/keep/xa"
setcap cap_net_admin+ep "$l/bin/other"
ln -s ../bin/tool "$l/etc/link"
mknod "$l/dev/null" c 1 3
find "$l" -exec touch -h -d '2022-02-02 02:02:02.2' {} +
lower=$(newdest lower)
tar --xattrs --xattrs-include='*' --acls -C "$l" -cf - . |
    hv import --store "$pool" --devices=allow "$lower"
ok $? "flatten: the lower template is imported"

m=$fl/mnt
ovl_opts="lowerdir=$lower,upperdir=$fl/upper,workdir=$fl/work,index=off,redirect_dir=off,metacopy=off"
if mount -t overlay overlay -o "$ovl_opts" "$m" 2>"$work/err"; then
    mounts+=("$m")
    (
        set -e
        printf 'appended\n' >> "$m/etc/conf"
        rm "$m/etc/old"
        rm -r "$m/data/dir2"
        mv "$m/data/dir1" "$m/data/dir1-moved"
        mv "$m/ren/old" "$m/ren/new"
        chmod 600 "$m/keep/chm"
        chown 321:654 "$m/keep/own"
        chmod 750 "$m/etc"
        setfattr -n user.guest -v yes "$m/keep/xa"
        rm -r "$m/rmd"; mkdir "$m/rmd"; printf 'new z\n' > "$m/rmd/z"
        head -c 50000 /dev/urandom > "$m/newfile"
        ln "$m/newfile" "$m/newlink"
        mkdir -p "$m/newdir/deep"; printf 'deep\n' > "$m/newdir/deep/f"
        ln -s /nowhere "$m/newdir/sym"
        mkfifo "$m/newdir/fifo"
        setfacl -m u:777:r "$m/newdir/deep/f"
        head -c 12000 /dev/urandom > "$m/bin/other2"
        setcap cap_sys_time+ep "$m/bin/other2"
        truncate -s 20M "$m/newdir/sparse"
        printf 'z' >> "$m/newdir/sparse"
        touch -d '2023-03-03 03:03:03.3' "$m/bin/other"
    )
    ok $? "flatten: guest writes, deletes, renames, chmod/chown, rmdir+mkdir through the mount"
    umount "$m"; mounts=()
    [ -c "$fl/upper/etc/old" ] && [ "$(getfattr --only-values -n trusted.overlay.opaque "$fl/upper/rmd" 2>/dev/null)" = y ]
    ok $? "flatten: the upper dir has whiteouts and an opaque directory"

    # with mtime in the key, so that a file the guest only touched keeps
    # its own mtime instead of sharing the template's object
    d=$(newdest flat)
    hv flatten --store "$pool" --key-mtime "$lower" "$fl/upper" "$d" 2> "$work/err"
    ok $? "flatten" || diag "$(cat "$work/err")"
    if mount -t overlay overlay -o "ro,lowerdir=$fl/upper:$lower" "$m" 2>"$work/err"; then
        mounts+=("$m")
        same_tree "$m" "$d"
        ok $? "flatten: the result equals the overlay's merged view (content, metadata, xattrs, links)"
        umount "$m"; mounts=()
    else
        skip "cannot mount the overlay read-only: $(cat "$work/err")"
    fi
    [ "$(ino "$d/bin/tool")" = "$(ino "$lower/bin/tool")" ] &&
        [ "$(ino "$d/keep/h2")" = "$(ino "$lower/keep/h1")" ] &&
        [ "$(ino "$d/keep/chm")" != "$(ino "$lower/keep/chm")" ] &&
        [ "$(ino "$d/etc/conf")" != "$(ino "$lower/etc/conf")" ]
    ok $? "flatten: unchanged lower files are the same inode, copied-up ones are not"
    [ ! -e "$d/etc/old" ] && [ ! -e "$d/rmd/x" ] && [ -f "$d/rmd/z" ] && [ ! -e "$d/data/dir2" ] &&
        [ "$(ino "$d/newfile")" = "$(ino "$d/newlink")" ] && [ "$(stat -c %h "$d/newfile")" = 3 ] &&
        [ "$(stat -c %b "$d/newdir/sparse")" -lt 1000 ]
    ok $? "flatten: deletions and opaque dirs resolved, guest hard links kept, new files in the store"
    ! getfattr -R -P -d -m 'trusted.overlay' "$d" 2>/dev/null | grep -q overlay
    ok $? "flatten: no trusted.overlay.* attribute is copied"

    d4=$(newdest flat4)
    hv flatten --store "$pool" "$lower" "$fl/upper" "$d4" &&
        [ "$(ino "$d4/bin/other")" = "$(ino "$lower/bin/other")" ] &&
        [ "$(ino "$d/bin/other")" != "$(ino "$lower/bin/other")" ]
    ok $? "flatten: without --key-mtime a file only touched by the guest shares the template's object"

    d2=$(newdest flat2)
    hv export "$d" | hv import --store "$pool" --key-mtime --devices=allow "$d2" &&
        same_tree "$d" "$d2"
    ok $? "flatten: the new template exports and re-imports the same"

    # what the driver's mounts never make is refused
    cp -a "$fl/upper" "$fl/upper-redirect"
    setfattr -n trusted.overlay.redirect -v /data/dir1 "$fl/upper-redirect/newdir"
    d3=$(newdest flat3)
    hv flatten --store "$pool" "$lower" "$fl/upper-redirect" "$d3" 2> "$work/err"
    [ $? = 1 ] && empty_dir "$d3" && [ "$(tail -n 1 "$work/err")" = \
        "vserver-hashify: entry 'newdir': the directory was renamed with overlayfs's redirect_dir (trusted.overlay.redirect): not supported" ]
    ok $? "flatten: a redirect_dir upper is refused, the destination left empty" || diag "$(cat "$work/err")"
    setfattr -x trusted.overlay.redirect "$fl/upper-redirect/newdir"
    setfattr -n trusted.overlay.metacopy "$fl/upper-redirect/keep/chm"
    hv flatten --store "$pool" "$lower" "$fl/upper-redirect" "$d3" 2> "$work/err"
    [ $? = 1 ] && empty_dir "$d3" && tail -n 1 "$work/err" | grep -q "entry 'keep/chm': it is a metacopy-only upper file"
    ok $? "flatten: a metacopy upper file is refused" || diag "$(cat "$work/err")"
    rm -rf "$fl/upper-redirect"
    hv flatten --store "$pool" --devices=deny "$lower" "$fl/upper" "$d3" 2> "$work/err" &&
        [ -c "$d3/dev/null" ]
    ok $? "flatten: --devices is about the guest's nodes; the template's stay" || diag "$(cat "$work/err")"
else
    diag "$(cat "$work/err")"
    for i in 1 2 3 4 5 6 7 8 9 10 11 12; do skip "cannot mount overlayfs"; done
fi

# --- SIGKILL at random points, with a store of its own (gc --verify
# re-hashes every object after each kill)

pool=$work/kpool
mkdir -p "$pool"

kt=$work/ktree
for i in $(seq 1 60); do
    mkdir -p "$kt/d$i/s"
    for j in $(seq 1 50); do
        # a quarter of the files are the same in every directory
        if [ $((j % 4)) = 0 ]; then
            printf 'shared %d %*s\n' "$j" $((j * 300)) '' > "$kt/d$i/f$j"
        else
            printf 'file %d %d %*s\n' "$i" "$j" $((j * 200)) '' > "$kt/d$i/s/f$j"
        fi
    done
    ln -s "../d$i/s" "$kt/d$i/link"
done
find "$kt" -exec touch -h -d '2020-01-01 00:00:00' {} +
tar -C "$kt" -czf "$work/kill.tar.gz" .
ref=$(newdest killref)
start=$(date +%s%N)
hv import --store "$pool" "$ref" < "$work/kill.tar.gz"
ok $? "SIGKILL: a reference import of $(tar -tzf "$work/kill.tar.gz" | wc -l) entries"
dur=$(( ($(date +%s%N) - start) / 1000 ))   # microseconds
diag "a complete import takes $((dur / 1000)) ms; kills fall in the first $((dur * 6 / 5000)) ms"
# the progress display: entries, bytes written, files linked, on stderr
pd=$(newdest progress)
perr=$(hv import --store "$pool" --progress "$pd" < "$work/kill.tar.gz" 2>&1 >/dev/null)
n=$(tar -tzf "$work/kill.tar.gz" | wc -l)
tr '\r' '\n' <<<"$perr" | grep -q "^import: $n entries, .* written, [0-9]* files linked to the store" &&
    ! hv import --store "$pool" --no-progress "$(newdest progress2)" < "$work/kill.tar.gz" 2>&1 | grep -q .
ok $? "import --progress shows entries, bytes and links on stderr; --no-progress nothing"
rm -rf "$pd" "$pool/progress2"

# after a kill: nothing outside the destination changed, and the store
# verifies (every object hashes to its name) once gc has run
killcheck() {   # killcheck WHAT DEST BEFORE
    local out after
    after=$(snapshot "$2")
    [ "$3" = "$after" ] || { diag "$1: something outside the destination changed"; return 1; }
    out=$(hv --gc --verify -s "$pool" 2>&1) || { diag "$1: gc failed: $out"; return 1; }
    [ "$(printf '%s\n' "$out" | sed -n 's/^bad-objects: //p')" = 0 ] ||
        { diag "$1: $out"; return 1; }
}

fails=0
d=$pool/killed
for i in $(seq 1 20); do
    rm -rf "$d"; mkdir "$d"
    before=$(snapshot "$d")
    delay=$(( (RANDOM * 32768 + RANDOM) % (dur + dur / 5 + 1) ))
    "$tool" import --store "$pool" "$d" < "$work/kill.tar.gz" 2>/dev/null &
    pid=$!
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    killcheck "import kill $i after ${delay}us" "$d" "$before" || fails=$((fails + 1))
done
ok $fails "SIGKILL of import at 20 random points: nothing outside touched, the store verifies"
rm -rf "$d"; mkdir "$d"
hv import --store "$pool" "$d" < "$work/kill.tar.gz" && same_tree "$ref" "$d"
ok $? "SIGKILL: a complete import afterwards gives the exact tree"

# flatten: the killtree as lower, an upper made by hand as a guest would
ku=$work/kupper
mkdir -p "$ku"
for i in $(seq 1 60 | shuf -n 30 --random-source=<(yes)); do
    mkdir -p "$ku/d$i/s"
    for j in $(seq 1 10); do printf 'changed %d %d %*s\n' "$i" "$j" $((j * 500)) '' > "$ku/d$i/s/f$((j * 3))"; done
    mknod "$ku/d$i/s/f1" c 0 0
    [ $((i % 2)) = 1 ] || setfattr -n trusted.overlay.opaque -v y "$ku/d$i/s"
done
kref=$(newdest killflatref)
start=$(date +%s%N)
hv flatten --store "$pool" "$ref" "$ku" "$kref"
ok $? "SIGKILL: a reference flatten"
dur=$(( ($(date +%s%N) - start) / 1000 ))
diag "a complete flatten takes $((dur / 1000)) ms; kills fall in the first $((dur * 6 / 5000)) ms"
lsnap=$(listing "$ref"; listing "$ku")
fails=0
d=$pool/killedflat
for i in $(seq 1 20); do
    rm -rf "$d"; mkdir "$d"
    before=$(snapshot "$d")
    delay=$(( (RANDOM * 32768 + RANDOM) % (dur + dur / 5 + 1) ))
    "$tool" flatten --store "$pool" "$ref" "$ku" "$d" 2>/dev/null &
    pid=$!
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    killcheck "flatten kill $i after ${delay}us" "$d" "$before" || fails=$((fails + 1))
done
[ "$lsnap" = "$(listing "$ref"; listing "$ku")" ] || fails=$((fails + 1))
ok $fails "SIGKILL of flatten at 20 random points: LOWER, UPPER and the rest untouched, the store verifies"
rm -rf "$d"; mkdir "$d"
hv flatten --store "$pool" "$ref" "$ku" "$d" && same_tree "$kref" "$d"
ok $? "SIGKILL: a complete flatten afterwards gives the exact tree"

echo "1..$tap_n"
[ "$tap_failed" = 0 ]
