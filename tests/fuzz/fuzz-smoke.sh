#!/bin/bash
# Short run of every fuzz target (docs/dev/fuzzing.md): each one over its
# seed corpus in tests/fuzz/corpus/<target>/ (which holds every crash found
# so far) and then for a few seconds of new inputs, with ASan and UBSan.
# TAP: one line per target; a crash, leak or sanitizer report is "not ok".
#
# Usage: fuzz-smoke.sh [--seconds N] [--libvirt-cache DIR] FUZZ_BUILDDIR
#
# FUZZ_BUILDDIR is a build directory configured with -Dfuzzing=true; when
# it does not exist yet it is set up here (clang-14, sanitizers, no CRIU),
# so that the normal build's `meson test` can run this script with a
# directory below its own.  Only the fuzz targets are built in it.
set -u

seconds=${FUZZ_SMOKE_SECONDS:-15}
cache=
while [ $# -gt 1 ]; do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --libvirt-cache) cache=$2; shift 2 ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--seconds N] [--libvirt-cache DIR] FUZZ_BUILDDIR" >&2; exit 2; }
builddir=$1
srcdir=$(cd "$(dirname "$0")/../.." && pwd)

targets="domainxml poolxml config shimconf shimproto hashifyimport saveimage"

# the largest input each target takes: above every seed, small enough to
# keep executions fast
max_len() {
    case $1 in
    hashifyimport|saveimage) echo 32768 ;;
    shimproto) echo 4096 ;;
    *) echo 16384 ;;
    esac
}

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

if [ ! -f "$builddir/build.ninja" ]; then
    command -v clang-14 >/dev/null || skip_all "clang-14 is not installed (scripts/install-deps.sh)"
    ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
        skip_all "libFuzzer is not installed (libclang-rt-14-dev)"
    opts=(-Dfuzzing=true -Dcriu=disabled -Db_sanitize=address,undefined -Db_lundef=false)
    [ -n "$cache" ] && opts+=("-Dlibvirt_cache=$cache")
    if ! CC=clang-14 meson setup "${opts[@]}" "$builddir" "$srcdir" > "$builddir.setup.log" 2>&1; then
        echo "1..1"
        echo "not ok 1 - fuzzing build set up (see $builddir.setup.log)"
        sed 's/^/# /' "$builddir.setup.log" | tail -20
        exit 1
    fi
fi
if ! nice -n 10 ninja -C "$builddir" fuzzers > "$builddir/fuzzers-build.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - fuzz targets build (see $builddir/fuzzers-build.log)"
    grep -E 'error|FAILED' "$builddir/fuzzers-build.log" | head -20 | sed 's/^/# /'
    exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

out="$builddir/tests/fuzz/smoke"
rm -rf "$out"
mkdir -p "$out"

echo "1..$(echo $targets | wc -w)"
n=0
failed=0
for t in $targets; do
    n=$((n + 1))
    exe="$builddir/tests/fuzz/fuzz-$t"
    seeds="$srcdir/tests/fuzz/corpus/$t"
    # new inputs go to a scratch corpus, never into the source tree
    mkdir -p "$out/$t.corpus"
    nice -n 10 "$exe" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -timeout=25 -rss_limit_mb=2048 -close_fd_mask=2 \
        -print_final_stats=1 -artifact_prefix="$out/$t-" \
        "$out/$t.corpus" "$seeds" > "$out/$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    if [ $rc -eq 0 ]; then
        echo "ok $n - $t: no crash in ${runs:-?} executions (${seconds} s after the corpus)"
    else
        failed=1
        echo "not ok $n - $t: exit $rc, crash input and report in $out/$t-*, $out/$t.log"
        grep -E '^fuzz: |ERROR: |runtime error|SUMMARY|^    #[0-9] ' "$out/$t.log" | head -15 | sed 's/^/# /'
    fi
done
exit $failed
