#!/bin/bash
# vserver-hashify on real trees (TAP): what is linked and what is kept
# apart, excludes, hardlinks, dry run, garbage collection, and SIGKILL at
# random points.  Needs root (chown, setcap, mknod, mount) and the attr and
# acl tools.  Everything lives below one temporary directory in /var/tmp,
# removed at exit.
#
#   hashifytest.sh PATH-TO-vserver-hashify
set -u

. "$(dirname "$0")/tap.sh" "$@"
need_programs "attr, acl, libcap2-bin" getfattr setfattr setfacl setcap getcap

work=$(mktemp -d /var/tmp/hashifytest.XXXXXX)
mounted=""
cleanup() {
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# --- helpers

ino() { stat -c %i "$1"; }
same() { [ "$(ino "$1")" = "$(ino "$2")" ]; }
hv() { "$tool" --no-progress "$@"; }
field() {  # field NAME OUTPUT: the number after "NAME: "
    printf '%s\n' "$2" | sed -n "s/^$1: \([0-9]*\).*/\1/p" | head -n1
}

# listing DIR [nodirtime]: everything a tree's user can see, one line per
# entry, sorted: type, mode, owner, size, mtime, link target, content hash,
# xattrs (ACLs and capabilities included).  Not inode numbers or link
# counts, not ctime or atime; directory mtimes are left out with
# "nodirtime" (a killed run cannot put them back); directory sizes never
# mean anything.  Leftover temporaries are not part of the tree.
listing() {
    local dir=$1 nodirtime=${2:-}
    (
        cd "$dir" || exit 1
        find . -path ./.hash -prune -o ! -name '.vhtmp.*' \
            -printf '%p|%y|%m|%U|%G|%s|%T@|%l\n' |
            awk -F'|' -v nd="$nodirtime" 'BEGIN { OFS = "|" }
                $2 == "d" { $6 = "-"; if (nd != "") $7 = "-" } { print }'
        find . -path ./.hash -prune -o -type f ! -name '.vhtmp.*' -print0 |
            xargs -0 -r sha256sum | awk '{ print $2 "|sha256|" $1 }'
        find . -path ./.hash -prune -o ! -type l ! -name '.vhtmp.*' -print0 |
            xargs -0 -r getfattr -P -d -m - -e hex 2>/dev/null |
            awk '/^# file: / { f = substr($0, 9); next }
                 /=/ { print f "|xattr|" $0 }'
    ) | sort
}

# listing with inode numbers and link counts: for the dry run
rawlisting() {
    (cd "$1" && find . -printf '%p %i %n %y %m %U %G %s %T@ %C@ %l\n' | sort)
}

# the inode numbers of all objects
objinos() {
    find "$1/.hash" -mindepth 2 -type f -regextype egrep \
        -regex '.*/[0-9a-f]{2}/[0-9a-f]{62}' -printf '%i\n' | sort -u
}
nobjects() { objinos "$1" | wc -l; }

# write FILE SIZE TAG: SIZE bytes whose content depends on TAG (builtins
# only, so that thousands of files are quick to make)
mkf() {
    mkdir -p "$(dirname "$1")"
    printf '%s\n%*s' "$3" $(($2 - ${#3} - 1)) '' > "$1"
}

# the same time stamps everywhere below DIR, so that mtime keeps nothing apart
fixtimes() { find "$1" -exec touch -h -d '2020-01-02 03:04:05.123456789' {} +; }

# A tree with a bit of everything, every time stamp fixed.
mtree() {
    local t=$1
    mkdir -p "$t"
    mkf "$t/usr/bin/tool" 20000 tool
    mkf "$t/usr/lib/libx.so" 50000 libx
    mkf "$t/usr/share/doc/readme" 3000 readme
    mkf "$t/usr/share/doc/copy1" 4000 same
    mkf "$t/usr/share/doc/copy2" 4000 same
    mkf "$t/etc/config" 500 config
    mkf "$t/etc/ssh/ssh_host_ed25519_key" 400 hostkey
    mkf "$t/etc/ssh/ssh_host_ed25519_key.pub" 100 hostkeypub
    mkf "$t/etc/ssl/private/site.pem" 1700 sitekey
    mkf "$t/tmp/scratch" 2000 scratch
    mkf "$t/var/tmp/scratch" 2000 vscratch
    mkf "$t/proc/fake" 2000 proc
    mkf "$t/root/.ssh/id_rsa" 1600 idrsa
    mkf "$t/small/one" 2 x
    : > "$t/small/empty"
    mkf "$t/mode/m" 3000 mode
    mkf "$t/owner/o" 3000 owner
    mkf "$t/xattr/x" 3000 xattr
    mkf "$t/cap/c" 3000 cap
    mkf "$t/acl/a" 3000 acl
    mkf "$t/mtime/t" 3000 mtime
    mkf "$t/hard/h1" 6000 hard
    ln "$t/hard/h1" "$t/hard/h2"
    ln -s ../usr/bin/tool "$t/hard/symlink"
    mkfifo "$t/hard/fifo"
    mknod "$t/hard/null" c 1 3
    chmod 4755 "$t/usr/bin/tool"
    chown 0:0 -R "$t"
    setfattr -n user.origin -v tree "$t/usr/lib/libx.so"
    fixtimes "$t"
}

# --- 1. two identical trees share every eligible file

t=$work/p1
mkdir -p "$t"
mtree "$t/a"
cp -a "$t/a" "$t/b"
# the b copies differ in exactly one piece of shared metadata each
chmod 0600 "$t/b/mode/m"
chown 1234:1234 "$t/b/owner/o"
setfattr -n user.flavour -v b "$t/b/xattr/x"
setcap cap_net_raw+ep "$t/b/cap/c"
setfacl -m u:1234:r "$t/b/acl/a"
touch -d '2021-01-01' "$t/b/mtime/t"
for f in mode/m owner/o xattr/x cap/c acl/a mtime/t; do
    touch -d '2020-01-02 03:04:05.123456789' "$t/b/$(dirname $f)"
done

before=$(listing "$t")
rawbefore=$(rawlisting "$t")
dry=$(hv -n "$t/a" "$t/b" -s "$t" 2>&1)
ok $? "dry run succeeds"
ok "$([ "$(rawlisting "$t")" = "$rawbefore" ]; echo $?)" \
    "a dry run changes nothing (inode numbers, link counts, ctimes, contents)"
ok "$([ ! -e "$t/.hash" ]; echo $?)" "a dry run does not even create the store"

out=$(hv -s "$t" "$t/a" "$t/b" 2>&1)
ok $? "hashify of two trees succeeds"
diag "$out"
ok "$([ "$(field files-linked "$dry")" = "$(field files-linked "$out")" ] &&
      [ "$(field objects-created "$dry")" = "$(field objects-created "$out")" ] &&
      [ "$(field bytes-saved "$dry")" = "$(field bytes-saved "$out")" ]; echo $?)" \
    "the dry run predicted the real run's links, objects and bytes saved"

rc=0
for f in usr/bin/tool usr/lib/libx.so usr/share/doc/readme etc/config hard/h1; do
    same "$t/a/$f" "$t/b/$f" || { rc=1; diag "not shared: $f"; }
done
ok $rc "identical files in two trees are one inode"
ok "$(same "$t/a/usr/share/doc/copy1" "$t/a/usr/share/doc/copy2"; echo $?)" \
    "identical files within one tree are one inode"
ok "$(same "$t/a/usr/share/doc/copy1" "$t/b/usr/share/doc/copy2"; echo $?)" \
    "... and the same inode as the other tree's copies"

ok "$(! same "$t/a/mode/m" "$t/b/mode/m"; echo $?)" "a different mode keeps files apart"
ok "$(! same "$t/a/owner/o" "$t/b/owner/o"; echo $?)" "a different owner keeps files apart"
ok "$(! same "$t/a/xattr/x" "$t/b/xattr/x"; echo $?)" "a different user xattr keeps files apart"
ok "$(! same "$t/a/cap/c" "$t/b/cap/c"; echo $?)" \
    "a file capability (setcap) keeps files apart"
ok "$(! same "$t/a/acl/a" "$t/b/acl/a"; echo $?)" "a POSIX ACL (setfacl) keeps files apart"
ok "$(! same "$t/a/mtime/t" "$t/b/mtime/t"; echo $?)" \
    "a different mtime keeps files apart when mtime is keyed (the default)"

after=$(listing "$t")
ok "$([ "$after" = "$before" ]; echo $?)" \
    "every path has the same content, metadata, xattrs, ACLs, capabilities and directory mtimes as before"
[ "$after" = "$before" ] || diag "$(diff <(echo "$before") <(echo "$after") | head -n 20)"
ok "$([ "$(getcap "$t/b/cap/c")" = "$t/b/cap/c cap_net_raw=ep" ]; echo $?)" \
    "the capability is still on the file"

ok "$(same "$t/a/hard/h1" "$t/a/hard/h2" && same "$t/a/hard/h1" "$t/b/hard/h2"; echo $?)" \
    "existing hardlinks stay hardlinks and join the other tree's copies"
ok "$([ -L "$t/a/hard/symlink" ] && [ -p "$t/a/hard/fifo" ] && [ -c "$t/a/hard/null" ] &&
      ! same "$t/a/hard/fifo" "$t/b/hard/fifo" && ! same "$t/a/hard/null" "$t/b/hard/null" &&
      ! same "$t/a/hard/symlink" "$t/b/hard/symlink"; echo $?)" \
    "symlinks, fifos and device nodes are never linked"
if same "$t/a/small/one" "$t/b/small/one" && ! same "$t/a/small/empty" "$t/b/small/empty"; then
    rc=0; else rc=1; fi
ok $rc "default minimum size: non-empty files are linked, empty files never"

rc=0
for f in etc/ssh/ssh_host_ed25519_key etc/ssl/private/site.pem root/.ssh/id_rsa \
         tmp/scratch var/tmp/scratch proc/fake; do
    same "$t/a/$f" "$t/b/$f" && { rc=1; diag "linked: $f"; }
done
ok $rc "default excludes: private keys, /tmp, /var/tmp, /proc are not linked"
ok "$(same "$t/a/etc/ssh/ssh_host_ed25519_key.pub" "$t/b/etc/ssh/ssh_host_ed25519_key.pub"; echo $?)" \
    "a public key is linked"

# bytes saved: each object that both trees share saves its size once
expect=0
while read -r i; do
    n=$(find "$t/a" "$t/b" -inum "$i" | wc -l)
    s=$(find "$t/.hash" -inum "$i" -printf '%s\n' | head -n1)
    # names in the trees minus the inodes they had before: a and b each had
    # one inode per distinct file (copy1/copy2 were two, h1/h2 one)
    expect=$((expect + (n - 1) * s))
done < <(objinos "$t")
# h1/h2 were already one inode in each tree: only one copy was saved there
expect=$((expect - 2 * 6000))
ok "$([ "$(field bytes-saved "$out")" = "$expect" ]; echo $?)" \
    "bytes saved = the sizes of the inodes freed ($(field bytes-saved "$out") = $expect)"

stats=$(hv --stats -s "$t")
n=$(nobjects "$t")
ok "$([ "$(field objects "$stats")" = "$n" ]; echo $?)" "--stats counts $n objects"
expect=0
while read -r i; do
    l=$(find "$t/.hash" -inum "$i" -printf '%n %s\n' | head -n1)
    expect=$((expect + (${l% *} - 2) * ${l#* }))
done < <(objinos "$t")
ok "$([ "$(field bytes-saved "$stats")" = "$expect" ]; echo $?)" \
    "store bytes saved = sum of (nlink - 2) * size over objects ($expect)"

again=$(hv -s "$t" "$t/a" "$t/b" 2>&1)
ok "$([ "$(field files-hashed "$again")" = 0 ] && [ "$(field files-linked "$again")" = 0 ]; echo $?)" \
    "a second run hashes nothing: linked files are recognised by inode"

# --- 2. mtime not in the key

t=$work/p2
mkdir -p "$t"
mkf "$t/a/f" 5000 f
mkf "$t/b/f" 5000 f
touch -d '2020-01-01' "$t/a/f"
touch -d '2022-02-02' "$t/b/f"
hv -q -s "$t" "$t/a" "$t/b"
ok "$(! same "$t/a/f" "$t/b/f"; echo $?)" "mtime keyed: different mtimes stay apart"
rm -rf "$t/.hash"
hv -q --ignore-mtime -s "$t" "$t/a" "$t/b"
ok "$(same "$t/a/f" "$t/b/f"; echo $?)" "--ignore-mtime: different mtimes are linked"
k1=$(hv --print-key -s "$t" "$t/a/f" | cut -d' ' -f1)
k2=$(hv --print-key --ignore-mtime -s "$t" "$t/a/f" | cut -d' ' -f1)
ok "$([ "$k1" != "$k2" ]; echo $?)" "keys with and without mtime differ"

# --- 3. the key is SHA-256 of the documented serialisation

t=$work/p3
mkdir -p "$t"
printf 'hello, world\n' > "$t/k"
chown 1000:2000 "$t/k"
chmod 0640 "$t/k"
setfattr -n user.b -v 2 "$t/k"
setfattr -n user.a -v xy "$t/k"
touch -d '@1600000000.5' "$t/k"
be32() { printf '%08x' "$1"; }
be64() { printf '%016x' "$1"; }
str() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
hdr() {  # hdr FLAGS
    printf '%s' "$(str vserver-hashify1)$(be32 "$1")$(be32 $((0100000)))$(be32 $((0640)))"
    printf '%s' "$(be32 1000)$(be32 2000)$(be64 13)$(be32 2)"
    printf '%s' "$(be32 6)$(str user.a)$(be32 2)$(str xy)$(be32 6)$(str user.b)$(be32 1)$(str 2)"
    [ "$1" = 1 ] && printf '%s' "$(be64 1600000000)$(be32 500000000)"
    str 'hello, world'; printf '0a'
}
unhex() { printf "$(sed 's/../\\x&/g')"; }
want=$(hdr 0 | unhex | sha256sum | cut -d' ' -f1)
got=$(hv --print-key --ignore-mtime -s "$t" "$t/k" | cut -d' ' -f1)
ok "$([ "$want" = "$got" ]; echo $?)" "key without mtime = sha256 of the documented bytes"
want=$(hdr 1 | unhex | sha256sum | cut -d' ' -f1)
got=$(hv --print-key -s "$t" "$t/k" | cut -d' ' -f1)
ok "$([ "$want" = "$got" ]; echo $?)" "key with mtime = sha256 of the documented bytes"

# --- 4. minimum size and exclude patterns

t=$work/p4
# fresh trees for every case: a run changes them
p4tree() {
    rm -rf "$t"
    mkdir -p "$t"
    for x in a b; do
        mkf "$t/$x/small" 3000 small
        mkf "$t/$x/big" 5000 big
        mkf "$t/$x/data/skipme" 3000 skipme
        mkf "$t/$x/data/keep/f" 3000 keepf
        mkf "$t/$x/data/keep/g" 3000 keepg
        mkf "$t/$x/data/other" 3000 other
        mkf "$t/$x/cache/c1" 3000 c1
        mkf "$t/$x/cache/c2" 3000 c2
        mkf "$t/$x/tmp/linkme" 3000 linkme
        mkf "$t/$x/x.pem" 3000 pem
        mkf "$t/$x/deep/er/y.pem" 3000 pem2
    done
    fixtimes "$t"
}
p4tree
out=$(hv -s "$t" -m 4k "$t/a" "$t/b")
ok "$(! same "$t/a/small" "$t/b/small" && same "$t/a/big" "$t/b/big"; echo $?)" \
    "--min-size 4k: a 3000-byte file is not linked, a 5000-byte file is"
small=$(find "$t/a" "$t/b" -path '*/tmp' -prune -o -type f -size -4096c -print | wc -l)
ok "$([ "$(sed -n 's/^skipped (too small): //p' <<<"$out")" = "$small" ]; echo $?)" \
    "the summary counts the $small files too small"
p4tree

out=$(hv -s "$t" -x '-/data/skip*' -x '+/data/keep/g' -x '-/data/keep' \
      -x '+/tmp/linkme' -x '*.pem' "$t/a" "$t/b")
ok "$(! same "$t/a/data/skipme" "$t/b/data/skipme"; echo $?)" "'-PATTERN' excludes"
ok "$(same "$t/a/data/keep/g" "$t/b/data/keep/g" && ! same "$t/a/data/keep/f" "$t/b/data/keep/f"; echo $?)" \
    "'+PATTERN' before '-DIR' takes a file back in; the rest of the directory stays out"
ok "$(same "$t/a/data/other" "$t/b/data/other"; echo $?)" "files no pattern matches are linked"
ok "$(! same "$t/a/x.pem" "$t/b/x.pem" && ! same "$t/a/deep/er/y.pem" "$t/b/deep/er/y.pem"; echo $?)" \
    "a pattern without prefix excludes, and '*' matches across directories"
ok "$(! same "$t/a/tmp/linkme" "$t/b/tmp/linkme"; echo $?)" \
    "'~/tmp' of the defaults is never read, so '+' cannot take a file below it back"
ok "$(same "$t/a/cache/c1" "$t/b/cache/c1"; echo $?)" "cache/ is linked without a pattern"
p4tree

out=$(hv -s "$t" -x '-/data/keep/f' -x '+/data/keep' -x '-/data' "$t/a" "$t/b")
ok "$(! same "$t/a/data/keep/f" "$t/b/data/keep/f" && same "$t/a/data/keep/g" "$t/b/data/keep/g" &&
      ! same "$t/a/data/other" "$t/b/data/other"; echo $?)" "the first matching pattern wins"
p4tree

minus=$(hv -n -s "$t" -x '+/nothing' -x '-/cache' "$t/a" "$t/b")
tilde=$(hv -n -s "$t" -x '+/nothing' -x '~/cache' "$t/a" "$t/b")
ok "$([ $(( $(field files-scanned "$minus") - $(field files-scanned "$tilde") )) = 4 ]; echo $?)" \
    "after a '+' pattern, '-DIR' is still read (its files count as excluded), '~DIR' is not"
out=$(hv -s "$t" -x '~/cache' "$t/a" "$t/b")
ok "$(! same "$t/a/cache/c1" "$t/b/cache/c1"; echo $?)" "'~DIR' files are not linked"
p4tree

out=$(hv -s "$t" --no-default-excludes "$t/a" "$t/b")
ok "$(same "$t/a/tmp/linkme" "$t/b/tmp/linkme"; echo $?)" \
    "--no-default-excludes drops the default list"
out=$(hv --show-excludes)
ok "$(grep -qx '~/proc' <<<"$out" && grep -qx -- '-\*/etc/ssl/private' <<<"$out"; echo $?)" \
    "--show-excludes prints the defaults"
hv -s "$t" -x 'tmp' "$t/a" >/dev/null 2>&1
ok "$([ $? = 2 ]; echo $?)" "a pattern that is not anchored is a usage error"

# cron skips a crontab with more than one link: those stay files of their own
t=$work/p4c
for g in a b; do
    mkdir -p "$t/$g/etc/cron.d" "$t/$g/var/spool/cron/crontabs" "$t/$g/etc/cron.daily"
    mkf "$t/$g/etc/crontab" 3000 crontab
    mkf "$t/$g/etc/cron.d/e2scrub_all" 3000 e2scrub
    mkf "$t/$g/var/spool/cron/crontabs/root" 3000 userct
    mkf "$t/$g/etc/cron.daily/dpkg" 3000 daily
done
fixtimes "$t"
hv -s "$t" "$t/a" "$t/b" >/dev/null
links=$(stat -c %h "$t"/[ab]/etc/crontab "$t"/[ab]/etc/cron.d/e2scrub_all \
          "$t"/[ab]/var/spool/cron/crontabs/root | tr '\n' ' ')
ok "$([ "$links" = "1 1 1 1 1 1 " ]; echo $?)" \
    "the system crontab, cron.d and users' crontabs keep one link each ($links)"
ok "$(same "$t/a/etc/cron.daily/dpkg" "$t/b/etc/cron.daily/dpkg"; echo $?)" \
    "... while the scripts they run are shared as usual"

# --- 5. hardlinks to outside the trees

t=$work/p5
mkdir -p "$t/a" "$t/b" "$t/outside"
mkf "$t/a/f" 5000 f
mkf "$t/b/f" 5000 f
ln "$t/a/f" "$t/outside/f"
fixtimes "$t"
out=$(hv -s "$t" "$t/a" "$t/b")
ok "$(same "$t/a/f" "$t/outside/f" && ! same "$t/a/f" "$t/b/f" &&
      [ "$(sed -n 's/^skipped (has hardlinks outside the trees): //p' <<<"$out")" = 1 ]; echo $?)" \
    "a file also linked from outside the trees is left alone by default"
out=$(hv -s "$t" --outside-links relink "$t/a" "$t/b")
ok "$(same "$t/a/f" "$t/b/f"; echo $?)" \
    "--outside-links relink links its tree names"
ok "$([ "$(field bytes-saved "$out")" = 0 ]; echo $?)" \
    "... and counts nothing as saved when the outside name keeps the old inode"
ok "$(same "$t/a/f" "$t/outside/f" || [ "$(stat -c %h "$t/outside/f")" = 1 ]; echo $?)" \
    "... the outside name keeps its own inode"

# --- 6. another file system below a tree

t=$work/p6
mkdir -p "$t/a/mnt" "$t/b"
mkf "$t/b/f" 5000 f
if mount -t tmpfs -o size=1m tmpfs "$t/a/mnt" 2>/dev/null; then
    mounted=$t/a/mnt
    mkf "$t/a/mnt/f" 5000 f
    fixtimes "$t"
    out=$(hv -s "$t" "$t/a" "$t/b")
    ok "$(! same "$t/a/mnt/f" "$t/b/f" &&
          [ "$(sed -n 's/^skipped (on another file system): //p' <<<"$out")" = 1 ]; echo $?)" \
        "a mount point below a tree is not entered"
    umount "$mounted"; mounted=""
else
    skip "cannot mount tmpfs"
fi

# --- 7. leftover temporaries and garbage collection

t=$work/p1
obj=$(find "$t/.hash" -mindepth 2 -type f -size +40k | head -n1)
ln "$obj" "$t/a/usr/.vhtmp.0123456789abcdef"
mkf "$t/a/usr/.vhtmp.fedcba9876543210" 100 notours
out=$(hv -s "$t" "$t/a" "$t/b" 2>&1)
ok "$([ ! -e "$t/a/usr/.vhtmp.0123456789abcdef" ] && [ "$(field temporaries-removed "$out")" = 1 ]; echo $?)" \
    "a run removes a leftover temporary name of an object"
ok "$([ -e "$t/a/usr/.vhtmp.fedcba9876543210" ] && grep -q 'not a store object' <<<"$out"; echo $?)" \
    "a temporary-looking file that is not an object is left alone, with a warning"
rm -f "$t/a/usr/.vhtmp.fedcba9876543210"
ln "$obj" "$t/b/usr/.vhtmp.00000000000000aa"
ln "$obj" "$t/.hash/.vhtmp.00000000000000bb"
out=$(hv --gc -s "$t" "$t")
ok "$([ ! -e "$t/b/usr/.vhtmp.00000000000000aa" ] && [ ! -e "$t/.hash/.vhtmp.00000000000000bb" ] &&
      [ "$(field temporaries-removed "$out")" = 2 ]; echo $?)" \
    "gc removes leftover temporaries below the trees and in the store"
ok "$([ "$(field objects-removed "$out")" = 0 ]; echo $?)" "gc keeps objects that trees use"

before=$(listing "$t/a")
nb=$(nobjects "$t")
only_b=$(for i in $(objinos "$t"); do
    [ -z "$(find "$t/a" -inum "$i" -print -quit)" ] && echo "$i"; done | wc -l)
rm -rf "$t/b"
out=$(hv --gc --verify -s "$t" "$t")
ok "$([ "$(field objects-removed "$out")" = "$only_b" ] &&
      [ "$(nobjects "$t")" = $((nb - only_b)) ] && [ "$(field bad-objects "$out")" = 0 ]; echo $?)" \
    "gc removes exactly the $only_b objects only the removed tree used"
ok "$([ "$(listing "$t/a")" = "$before" ]; echo $?)" "gc leaves the remaining tree as it was"
rm -rf "$t/a"
out=$(hv --gc -s "$t" "$t")
ok "$([ "$(nobjects "$t")" = 0 ]; echo $?)" "with no tree left, gc empties the store"

# --- 8. progress

t=$work/p8
mkdir -p "$t/a"
mkf "$t/a/f" 5000 f
err=$("$tool" --progress -s "$t" "$t/a" 2>&1 >/dev/null)
ok "$(grep -q 'files, .* hashed' <<<"$err"; echo $?)" "--progress reports on stderr"

# --- 9. SIGKILL at random points

t=$work/k
pristine=$work/kpristine
mkdir -p "$pristine"
# two trees of 1000 files each: contents repeat across and within trees,
# some with xattrs, other owners and modes, and hardlinked pairs.  (Freeing
# blocks that were written back is slow on some file systems, so the files
# are small and the trees are not remade after every kill.)
for d in $(seq 0 9); do
    mkdir -p "$pristine/t1/d$d" "$pristine/t1/e$d"
    for i in $(seq 0 49); do
        printf 'c%d\n%*s' $((i % 40)) $((1000 + (i % 7) * 700)) '' > "$pristine/t1/d$d/f$i"
    done
    for i in $(seq 0 49); do
        printf 'e%d\n%*s' $(((i + d) % 60)) $((200 + (i % 5) * 1500)) '' > "$pristine/t1/e$d/g$i"
    done
done
for d in 0 3 6; do
    chmod 0600 "$pristine"/t1/d$d/f1*
    chown 1234:5678 "$pristine"/t1/e$d/g2*
    for i in 5 15 25; do setfattr -n user.k -v "$d" "$pristine/t1/d$d/f$i"; done
    ln "$pristine/t1/d$d/f7" "$pristine/t1/d$d/f7.hard"
done
find "$pristine/t1" -exec touch -h -d '2019-05-06 07:08:09.987654321' {} +
cp -a "$pristine/t1" "$pristine/t2"
nfiles=$(find "$pristine" -type f | wc -l)
diag "SIGKILL tree: $nfiles files"
orig=$(listing "$pristine" nodirtime)

reset_tree() {
    rm -rf "$t"
    mkdir -p "$t"
    cp -a "$pristine/t1" "$pristine/t2" "$t/"
}
now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }

# How long a run takes, to aim the kills inside it: a run on fresh trees
# (creating objects) and a run that continues where a killed one stopped
# (mostly relinking).  Both are learnt again from every run that ends
# before its kill: how long they take depends on the file system's
# writeback more than on this tool.
reset_tree
s=$(now_ms)
"$tool" -q -j 2 -s "$t" "$t/t1" "$t/t2"
fresh_ms=$(( $(now_ms) - s ))
[ "$fresh_ms" -lt 10 ] && fresh_ms=10
cont_ms=$fresh_ms
diag "a full run takes $fresh_ms ms"

kills=0
attempts=0
bad=0
phases=""
fresh=1
reset_tree
while [ "$kills" -lt 22 ] && [ "$attempts" -lt 120 ]; do
    attempts=$((attempts + 1))
    if [ "$fresh" = 1 ]; then span=$fresh_ms; else span=$cont_ms; fi
    delay=$(( RANDOM % span ))
    s=$(now_ms)
    "$tool" -q -j 2 -s "$t" "$t/t1" "$t/t2" &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    if [ "$rc" != 137 ]; then
        # it finished first: aim earlier, and start over so there is work
        took=$(( $(now_ms) - s ))
        took=$(( took > 10 ? took * 9 / 10 : 10 ))
        if [ "$fresh" = 1 ]; then fresh_ms=$took; else cont_ms=$took; fi
        reset_tree
        fresh=1
        continue
    fi
    kills=$((kills + 1))
    nobj=$(nobjects "$t")
    ntmp=$(find "$t" -name '.vhtmp.*' | wc -l)
    phases="$phases ${delay}ms:${nobj}obj/${ntmp}tmp"
    now=$(listing "$t" nodirtime)
    if [ "$now" != "$orig" ]; then
        bad=$((bad + 1))
        diag "after kill $kills at $delay ms the tree differs:"
        diag "$(diff <(echo "$orig") <(echo "$now") | head -n 10)"
    fi
    # a temporary name must always be an extra name of a store object
    oi=$(objinos "$t")
    while IFS= read -r -d '' tmpf; do
        if [ "$(stat -c %h "$tmpf")" -lt 2 ] || ! grep -qx "$(stat -c %i "$tmpf")" <<<"$oi"; then
            bad=$((bad + 1))
            diag "temporary $tmpf is a sole copy or not an object"
        fi
    done < <(find "$t" -name '.vhtmp.*' -print0)
    # every eighth kill starts over with fresh trees and an empty store, so
    # that kills land in object creation as well as in relinking
    if [ $((kills % 8)) = 0 ]; then
        reset_tree
        fresh=1
    else
        fresh=0
    fi
done
diag "kills (delay:objects/temporaries):$phases"
ok "$([ "$kills" -ge 20 ]; echo $?)" "the tool was SIGKILLed mid-run $kills times ($attempts attempts)"
ok "$bad" "after every kill each path has its old content and metadata or the identical object, and every temporary is an extra name of an object"

out=$(hv -s "$t" "$t/t1" "$t/t2" 2>&1)
ok $? "a run after the kills completes"
gcout=$(hv --gc --verify -s "$t" "$t" 2>&1)
ok $? "gc --verify after the kills completes"
diag "$gcout"
ok "$([ "$(listing "$t" nodirtime)" = "$orig" ]; echo $?)" \
    "after the final run and gc the trees are identical to the originals"
ok "$([ -z "$(find "$t" -name '.vhtmp.*' -print -quit)" ]; echo $?)" "no temporary name is left"
ok "$([ "$(field bad-objects "$gcout")" = 0 ]; echo $?)" \
    "every object's content and metadata still hash to its name"
rc=0
oi=$(objinos "$t")
for i in $oi; do
    [ -z "$(find "$t/t1" "$t/t2" -inum "$i" -print -quit)" ] && { rc=1; diag "object inode $i has no tree name"; }
done
ok $rc "every object left in the store has a name in a tree"
rc=0
while read -r f; do
    key=$(hv --print-key -s "$t" "$f" | cut -d' ' -f1)
    o=$t/.hash/${key:0:2}/${key:2}
    if [ ! -e "$o" ] || ! same "$o" "$f"; then rc=1; diag "not linked to its key: $f"; fi
done < <(find "$t/t1" "$t/t2" -type f | awk 'NR % 50 == 1')
ok $rc "tree files are linked to the object named by their own key (a sample of one in 50)"
ns=$(hv --stats -s "$t")
ok "$([ "$(field unreferenced "$ns")" = 0 ] && [ "$(field stray-entries "$ns")" = 0 ]; echo $?)" \
    "the store has no unreferenced objects and no stray names"

echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
