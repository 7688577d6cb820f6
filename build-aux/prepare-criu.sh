#!/bin/sh
# Build the CRIU the driver uses for checkpoint/restore: upstream CRIU 4.1.x
# from the release tarball Debian trixie ships (criu_4.1.1.orig.tar.xz of
# source package criu 4.1.1-1), plus our patches in build-aux/criu-patches/.
# Debian 12's own criu (3.17) cannot be used: it fails `criu check` on
# current kernels (vDSO) and cannot dump inet sockets on Linux >= 6.16.
#
# Usage: prepare-criu.sh CACHEDIR PREFIX
#
# The tarball is fetched by apt's own means, never from a hard-coded mirror:
# the mirror is the one this machine's apt configuration uses for bookworm;
# a private apt configuration (temp dir, the system's lists and sources are
# not touched) with a trixie deb-src entry is updated, apt verifies the
# InRelease signature against debian-archive-keyring, the sha256 of the orig
# tarball is read from the signed Sources index, and apt-helper downloads it
# verifying that hash.
#
# Cache (CACHEDIR, e.g. /var/cache/libvirt-vserver/criu):
#   source/current        "<file> <sha256> <debian version>" of the tarball
#   source/<file>         the verified tarball (no network once present;
#                         delete source/ to look at trixie again)
#   <upstream>-<key>/     one build; <key> hashes the tarball's sha256, the
#                         patch files and this script's build recipe, so a
#                         changed patch rebuilds. .complete marks a finished
#                         build; a directory without it is redone.
#     stage/              what upstream's install-criu/install-lib install
#
# The staged tree is copied into PREFIX (PREFIX/sbin/criu,
# PREFIX/lib/libcriu.so*, PREFIX/include/criu/criu.h + rpc.pb-c.h,
# version.h, ...). The last line on stdout is PREFIX; everything else goes
# to stderr.
set -eu

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

log() { echo "prepare-criu: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ $# -eq 2 ] || die "usage: $0 CACHEDIR PREFIX"
cache=$1
prefix=$2
case "$cache" in /*) ;; *) cache=$(pwd)/$cache ;; esac
case "$prefix" in /*) ;; *) prefix=$(pwd)/$prefix ;; esac

top=$(cd "$(dirname "$0")/.." && pwd)
patchdir=$top/build-aux/criu-patches

srcpkg=criu
want_version=4.1.1-1      # what trixie shipped when this was written
min_upstream=4.1          # accepted instead if trixie moved on
suite=trixie
component=main
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# Compiled-in default plugin directory. `make criu lib` builds no plugin;
# pointing it at a directory of ours keeps this criu from loading the
# plugins of a distribution criu of another version from /usr/lib/criu.
plugindir=/usr/lib/libvirt-vserver/criu-plugins
# Bump when the build/install commands below change: part of the cache key.
recipe=1

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# One preparation at a time per cache.
exec 9>"$cache/.lock"
flock 9

# Leftovers of runs that were killed (we hold the lock, nobody uses them).
rm -rf "$cache"/.tmp.*
tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
# apt's download methods run as _apt and must reach the private dirs.
chmod 755 "$tmp"

upstream_of() {     # Debian version -> upstream version
    v=${1#*:}
    echo "${v%-*}"
}

# ---------------------------------------------------------------------------
# The mirror this machine's apt uses for bookworm.
mirror_uri() {
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            # deb822: the stanza (Enabled != no) whose Suites has "bookworm".
            awk 'BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""; enabled = "yes"; key = ""
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^#/) continue
                    if (match(line, /^[A-Za-z0-9-]+:/)) {
                        key = tolower(substr(line, 1, RLENGTH - 1))
                        val = substr(line, RLENGTH + 1)
                    } else if (line ~ /^[ \t]/) {
                        val = line
                    } else continue
                    if (key == "types") types = types " " val
                    else if (key == "uris") uris = uris " " val
                    else if (key == "suites") suites = suites " " val
                    else if (key == "enabled") enabled = val
                }
                gsub(/[ \t]/, "", enabled)
                if (tolower(enabled) == "no") next
                ok = 0; n = split(suites, s, /[ \t]+/)
                for (j = 1; j <= n; j++) if (s[j] == "bookworm") ok = 1
                deb = 0; n = split(types, t, /[ \t]+/)
                for (j = 1; j <= n; j++) if (t[j] == "deb" || t[j] == "deb-src") deb = 1
                if (ok && deb) {
                    n = split(uris, u, /[ \t]+/)
                    for (j = 1; j <= n; j++) if (u[j] != "") print u[j]
                }
            }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            # one-line style: deb [options] URI SUITE COMPONENTS...
            awk '$1 == "deb" || $1 == "deb-src" {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == "bookworm") print $i
            }' "$f"
        done
    } | while read -r u; do
        case "$u" in
            http://* | https://*) echo "${u%/}"; break ;;
        esac
    done
}

# ---------------------------------------------------------------------------
# Fetch the orig tarball with a private apt configuration.
fetch_tarball() {
    mirror=$(mirror_uri)
    [ -n "$mirror" ] ||
        die "no http(s) URI for suite bookworm in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources"
    log "mirror from this machine's apt configuration: $mirror"

    [ -r "$keyring" ] || die "$keyring missing (install debian-archive-keyring)"
    if command -v gpg >/dev/null 2>&1; then
        mkdir -m 700 "$tmp/gnupg"
        GNUPGHOME="$tmp/gnupg" gpg --batch --quiet --with-colons --show-keys "$keyring" 2>/dev/null |
            grep -q '^uid:.*(13/trixie)' ||
            die "$keyring has no Debian 13/trixie archive key: upgrade debian-archive-keyring"
        log "$keyring has the trixie archive key"
    fi

    apt="$tmp/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
    : > "$apt/status"
    echo "deb-src [signed-by=$keyring] $mirror $suite $component" > "$apt/sources.list"
    set -- -o Dir::Etc::SourceList="$apt/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::Preferences=/dev/null \
        -o Dir::Etc::PreferencesParts=/dev/null \
        -o Dir::State::Lists="$apt/lists" \
        -o Dir::State::status="$apt/status" \
        -o Dir::Cache="$apt/cache" \
        -o APT::Get::List-Cleanup=false \
        -o Acquire::Languages=none \
        -o Acquire::AllowInsecureRepositories=false \
        -o Acquire::AllowDowngradeToInsecureRepositories=false

    log "apt-get update (private configuration): deb-src $mirror $suite $component"
    # --error-on=any: a signature apt cannot verify is an error, not a warning.
    apt-get "$@" --error-on=any update >&2 ||
        die "apt-get update of $suite failed (InRelease signature not verifiable against $keyring?); refusing to go on"
    ls "$apt/lists/"*"_dists_${suite}_InRelease" >/dev/null 2>&1 ||
        die "apt kept no verified InRelease for $suite"

    apt-cache "$@" showsrc --only-source "$srcpkg" > "$apt/showsrc" 2>/dev/null ||
        die "$suite's Sources has no source package $srcpkg"
    # One line per record: VERSION DIRECTORY ORIG-FILE SHA256
    awk 'BEGIN { RS = ""; FS = "\n" }
    {
        ver = ""; dir = ""; file = ""; sha = ""; insha = 0
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^Version: /) ver = substr($i, 10)
            else if ($i ~ /^Directory: /) dir = substr($i, 12)
            if ($i ~ /^Checksums-Sha256:/) { insha = 1; continue }
            if (insha && $i ~ /^ /) {
                split($i, f, " ")
                if (f[3] ~ /\.orig\.tar\.[a-z0-9]+$/) { sha = f[1]; file = f[3] }
            } else insha = 0
        }
        if (ver != "" && dir != "" && file != "" && length(sha) == 64 && sha ~ /^[0-9a-f]+$/)
            print ver, dir, file, sha
    }' "$apt/showsrc" > "$apt/records"

    # Candidates: exactly $want_version first, then every other version
    # with upstream >= $min_upstream, newest first.
    : > "$apt/candidates"
    awk -v v="$want_version" '$1 == v' "$apt/records" >> "$apt/candidates"
    while read -r ver dir file sha; do
        [ "$ver" = "$want_version" ] && continue
        dpkg --compare-versions "$(upstream_of "$ver")" ge "$min_upstream" || continue
        echo "$ver $dir $file $sha"
    done < "$apt/records" | sort -r -V -k1,1 >> "$apt/candidates"
    [ -s "$apt/candidates" ] || {
        log "$suite lists these $srcpkg versions:"
        cut -d' ' -f1 "$apt/records" >&2
        die "no $srcpkg version with upstream >= $min_upstream in $suite"
    }
    [ "$(head -n 1 "$apt/candidates" | cut -d' ' -f1)" = "$want_version" ] ||
        log "$suite no longer lists $srcpkg $want_version; trying: $(cut -d' ' -f1 "$apt/candidates" | tr '\n' ' ')"

    # apt's sandbox user downloads into this directory.
    if id _apt >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        chown _apt "$apt/dl"
    fi

    while read -r ver dir file sha; do
        uri="$mirror/$dir/$file"
        log "downloading $uri (apt verifies SHA256 $sha)"
        rm -f "$apt/dl/$file"
        /usr/lib/apt/apt-helper download-file "$uri" "$apt/dl/$file" "SHA256:$sha" >&2 ||
            die "apt-helper could not download $uri with the signed hash"
        echo "$sha  $apt/dl/$file" | sha256sum -c --status ||
            die "$file does not match SHA256 $sha"
        if patches_apply "$apt/dl/$file"; then
            mkdir -p "$cache/source"
            mv -f "$apt/dl/$file" "$cache/source/$file"
            echo "$file $sha $ver" > "$cache/source/current.new"
            mv -f "$cache/source/current.new" "$cache/source/current"
            log "using $srcpkg $ver from $suite ($file)"
            return 0
        fi
        log "our patches do not apply to $srcpkg $ver; skipping it"
    done < "$apt/candidates"
    die "our patches in $patchdir apply to no $srcpkg version in $suite"
}

patch_files() {
    ls "$patchdir"/*.patch 2>/dev/null | sort
}

# patches_apply TARBALL: do all our patches apply (dry run)?
patches_apply() {
    t=$tmp/try
    rm -rf "$t"
    mkdir -p "$t"
    tar -C "$t" -xf "$1" || return 1
    d=$(find "$t" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    [ -n "$d" ] || return 1
    for p in $(patch_files); do
        patch -d "$d" -p1 --batch --forward --quiet < "$p" >&2 || {
            log "$(basename "$p") does not apply"
            rm -rf "$t"
            return 1
        }
    done
    rm -rf "$t"
    return 0
}

# ---------------------------------------------------------------------------
# The verified tarball: from the cache, else fetched.
if [ -f "$cache/source/current" ]; then
    read -r file sha debver < "$cache/source/current"
    if echo "$sha  $cache/source/$file" | sha256sum -c --status 2>/dev/null; then
        log "cached $file ($srcpkg $debver from $suite, SHA256 $sha)"
    else
        log "cached $file is missing or corrupt; fetching again"
        rm -f "$cache/source/current"
        fetch_tarball
    fi
else
    fetch_tarball
fi
read -r file sha debver < "$cache/source/current"
upstream=$(upstream_of "$debver")

key=$( {
    echo "tarball $sha"
    echo "recipe $recipe plugindir $plugindir"
    for p in $(patch_files); do
        echo "patch $(basename "$p") $(sha256sum < "$p" | cut -d' ' -f1)"
    done
} | sha256sum | cut -c1-16)
bdir=$cache/$upstream-$key
stage=$bdir/stage

# ---------------------------------------------------------------------------
# Build and stage, unless a complete build is cached.
if [ -f "$bdir/.complete" ]; then
    log "cached build $bdir"
else
    [ -d "$bdir" ] && log "removing incomplete build $bdir"
    rm -rf "$bdir"
    mkdir -p "$bdir"
    tar -C "$bdir" -xf "$cache/source/$file"
    src=$(find "$bdir" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    [ -n "$src" ] && [ -f "$src/Makefile" ] || die "unexpected layout of $file"
    for p in $(patch_files); do
        log "applying $(basename "$p")"
        patch -d "$src" -p1 --batch --forward < "$p" >&2 ||
            die "$(basename "$p") does not apply to $srcpkg $upstream"
    done

    jobs=$(nproc 2>/dev/null || echo 1)
    log "building criu $upstream (make -j$jobs criu lib; log: $bdir/build.log)"
    # PREFIX/LIBDIR/... only matter to the install step; stage there, the
    # staged tree is copied to each PREFIX afterwards.
    mk() {
        env -u CFLAGS -u LDFLAGS -u CPPFLAGS -u PREFIX -u DESTDIR \
            make -C "$src" PLUGINDIR="$plugindir" PREFIX="$stage" \
            LIBDIR="$stage/lib" SKIP_PIP_INSTALL=1 "$@"
    }
    mk -j"$jobs" criu lib > "$bdir/build.log" 2>&1 || {
        tail -n 40 "$bdir/build.log" >&2
        die "building criu failed (full log: $bdir/build.log)"
    }
    mk install-criu install-lib >> "$bdir/build.log" 2>&1 || {
        tail -n 40 "$bdir/build.log" >&2
        die "installing criu into the stage failed (full log: $bdir/build.log)"
    }
    [ -x "$stage/sbin/criu" ] && [ -f "$stage/include/criu/criu.h" ] &&
        ls "$stage/lib/libcriu.so"* >/dev/null 2>&1 ||
        die "the staged criu tree is incomplete"
    (cd "$stage" && find . ! -type d | sed 's,^\./,,' | sort) > "$bdir/manifest"
    echo "$srcpkg $debver $file $sha" > "$bdir/source"
    # The build tree is no longer needed; the stage is the cached result.
    rm -rf "$src"
    touch "$bdir/.complete"
    log "built criu $upstream"
fi

# ---------------------------------------------------------------------------
# Install into PREFIX (unless it already holds this very build).
if [ -f "$prefix/.prepare-criu" ] && [ "$(cat "$prefix/.prepare-criu")" = "$key" ] &&
    [ -x "$prefix/sbin/criu" ]; then
    log "$prefix already holds build $key"
else
    # Remove what a previous run put there, and only that.
    if [ -f "$prefix/.prepare-criu.manifest" ]; then
        while read -r f; do
            rm -f "$prefix/$f"
        done < "$prefix/.prepare-criu.manifest"
    fi
    mkdir -p "$prefix"
    cp -a "$stage/." "$prefix/"
    # pkg-config data records the stage's paths.
    if [ -f "$prefix/lib/pkgconfig/criu.pc" ]; then
        sed -i "s,$stage,$prefix,g" "$prefix/lib/pkgconfig/criu.pc"
    fi
    cp "$bdir/manifest" "$prefix/.prepare-criu.manifest"
    echo "$key" > "$prefix/.prepare-criu"
    log "installed criu $upstream into $prefix"
fi
"$prefix/sbin/criu" --version >&2 || die "$prefix/sbin/criu does not run"

echo "$prefix"
