# Sourced first by every shell test: the test runs in a session of its own
# below a small wrapper that stays in the runner's process group.
#
# meson's timeout sends SIGTERM to the test's process group and SIGKILL
# half a second later, which is too short for a test to destroy its
# contexts, stop its daemon and remove its cgroups, mounts and network
# namespaces.  The wrapper passes the SIGTERM on to the test's session
# (the test's shell and what runs in its foreground: virsh, sleep...) and
# the test's EXIT trap then cleans up out of reach of the SIGKILL.  A test
# run by hand behaves the same on Ctrl-C.
if [ -z "${VSERVER_TEST_SESSION:-}" ]; then
    export VSERVER_TEST_SESSION=1
    setsid "$BASH" "$0" "$@" &
    session_child=$!
    trap 'kill -TERM -- "-$session_child" 2>/dev/null' TERM INT HUP
    while :; do
        wait "$session_child"
        session_rc=$?
        kill -0 "$session_child" 2>/dev/null || exit "$session_rc"
    done
fi
# inside the session: a signal ends the test through its EXIT trap
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
