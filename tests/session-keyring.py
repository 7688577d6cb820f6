#!/usr/bin/python3
"""Run a command in a session keyring of its own.

    session-keyring.py COMMAND [ARG]...

A process started without a session keyring (no PAM session, as under CI)
gets a private one from add_key(), which dies with it: a key a test adds
"to the daemon's session keyring" would then be nobody's, and a check that
a context cannot read it would prove nothing.  This joins a new anonymous
session keyring (keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)) and execs the
command, so the test and the daemon it starts share one.
"""

import ctypes
import os
import platform
import sys

# keyctl(2) system call numbers
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING = 1

nr = SYS_KEYCTL.get(platform.machine())
if nr is None:
    sys.exit("session-keyring.py: no keyctl number for %s" % platform.machine())
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(nr, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
    err = ctypes.get_errno()
    sys.exit("session-keyring.py: keyctl: %s" % os.strerror(err))
os.execvp(sys.argv[1], sys.argv[1:])
