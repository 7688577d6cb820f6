#!/bin/bash
# What the test suite left behind on this host; .ci/run fails when this
# prints anything.  Every test instance lives below /tmp/vserver-test.* or
# /var/tmp/<name>test.*, runs binaries from BUILDDIR and makes cgroups
# named vserver-instance-* (the cgroup unit test: vserver-test-PID and
# /tmp/vserver-cgtest-*); the migration test's network namespaces are
# vsm*.  Nothing else on the host is looked at.
#
#   leftovers.sh BUILDDIR
set -u
builddir=$(cd "${1:?usage: $0 BUILDDIR}" && pwd)
found=0
say() { found=1; printf '%s\n' "$*"; }

tmp_re='^(/tmp/vserver-test\.|/var/tmp/(vserver-[a-z]*test|criutest|archivetest|hashifytest)\.)'

# processes running this build's programs (daemons, shims, CRIU) or
# holding a test directory as their cwd or root
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    cmd=$( { tr "\0" " " < "$p/cmdline"; } 2>/dev/null) || continue
    exe=$(readlink "$p/exe" 2>/dev/null)
    cwd=$(readlink "$p/cwd" 2>/dev/null)
    case "$exe $cmd" in
        *"$builddir/"*) say "process $pid: $cmd"; continue ;;
    esac
    if [[ $cwd =~ $tmp_re ]]; then
        say "process $pid (cwd $cwd): $cmd"
    fi
done

# cgroups of test instances, in every hierarchy (v1 and v2)
while read -r d; do
    say "cgroup $d (procs: $(cat $(find "$d" -name cgroup.procs) 2>/dev/null | tr '\n' ' '))"
done < <(find /sys/fs/cgroup -maxdepth 3 -type d \( -name 'vserver-instance-*' -o \
              -name 'vserver-test-*' \) 2>/dev/null)

# mounts below test directories, in any mount namespace
while read -r m; do
    say "mount $m"
done < <(cat /proc/[0-9]*/mountinfo 2>/dev/null | awk '{print $5}' | sort -u |
         grep -E "$tmp_re")

# test directories
for d in /tmp/vserver-test.* /var/tmp/vserver-*test.* /var/tmp/criutest.* \
         /var/tmp/archivetest.* /var/tmp/hashifytest.* /tmp/vserver-cgtest-*; do
    [ -e "$d" ] && say "directory $d"
done

# network namespaces of the migration test
while read -r ns _; do
    case "$ns" in vsm*) say "network namespace $ns" ;; esac
done < <(ip netns list 2>/dev/null)

exit $found
