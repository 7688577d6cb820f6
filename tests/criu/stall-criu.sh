#!/bin/bash
# A CRIU that hangs, for the tests of checkpoint_timeout/restore_timeout:
# a directory laid out like the CRIU the driver uses (sbin/criu,
# lib/libcriu.so.2) whose criu is the real one with an action script
# (through CRIU_CONFIG_FILE) that stops CRIU for good (SIGSTOP) at one
# stage: on a dump at "post-dump" (the context's tasks seized, its
# network locked, everything dumped), on a restore at "pre-resume" (the
# tree restored, not yet running).  That is where CRIU waited forever on
# processors whose debug registers never trap.
#
#   stall-criu.sh REAL_CRIU_DIR DIR     lay out DIR
set -eu
[ $# -eq 2 ] || { echo "usage: $0 REAL_CRIU_DIR DIR" >&2; exit 2; }
real=$(cd "$1" && pwd)
mkdir -p "$2/sbin" "$2/lib"
dir=$(cd "$2" && pwd)
ln -sf "$real/lib/libcriu.so.2" "$dir/lib/libcriu.so.2"

cat > "$dir/sbin/stall-action" <<'SH'
#!/bin/sh
# CRIU runs its action scripts as its own children and waits for them
case "$CRTOOLS_SCRIPT_ACTION" in
    post-dump|pre-resume) kill -STOP "$PPID" ;;
esac
exit 0
SH
echo "action-script $dir/sbin/stall-action" > "$dir/stall.conf"
cat > "$dir/sbin/criu" <<SH
#!/bin/sh
CRIU_CONFIG_FILE=$dir/stall.conf exec "$real/sbin/criu" "\$@"
SH
chmod +x "$dir/sbin/criu" "$dir/sbin/stall-action"
