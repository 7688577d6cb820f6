"""TAP output for the python tests, the twin of ok/equals/tap_done in
tests/lib.sh (and of tests/tap.h for C).  A test in tests/ imports it from
its own directory (sys.path[0] when run as a script):

    from taplib import ok, equals, done
    ...
    sys.exit(done())"""
import sys

_count = 0
_failed = 0


def ok(cond, desc, diag=None):
    """One case: "ok N - DESC", or "not ok N - DESC" followed by the last
    15 lines of DIAG (when given) as "# " comments."""
    global _count, _failed
    _count += 1
    if not cond:
        _failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", _count, desc))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[-15:]:
            print("# %s" % line)
    sys.stdout.flush()


def equals(desc, want, got):
    ok(want == got, desc, "expected %r, got %r" % (want, got))


def done():
    """Print the plan; the exit status: 0 when every case passed."""
    print("1..%d" % _count)
    sys.stdout.flush()
    return 1 if _failed else 0
