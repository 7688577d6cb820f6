#!/usr/bin/python3
"""Print the Debian mirror this machine's apt uses for SUITE (default
bookworm): the first enabled "deb" entry of /etc/apt/sources.list or
/etc/apt/sources.list.d/*.list / *.sources whose suite is exactly SUITE.
No entry for SUITE itself: the first one for SUITE-something that is not a
security archive.  Exit 1 when there is none.

The bench never names a mirror itself: debootstrap fetches from wherever
the host's packages come from (a local mirror, a proxy, a snapshot).
"""

import glob
import sys

SCHEMES = ("http://", "https://", "ftp://", "file:/")


def one_line(path):
    """deb [opt=val ...] URI SUITE COMPONENT..."""
    out = []
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return out
    for line in lines:
        line = line.split("#", 1)[0].strip()
        words = line.split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            # options, possibly spread over several words
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 2:
            out.append((words[0], [words[1]]))
    return out


def deb822(path):
    out = []
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return out
    stanza = {}
    key = None

    def flush():
        if ("deb" in stanza.get("types", "").split() and
                stanza.get("enabled", "yes").strip().lower() != "no"):
            for uri in stanza.get("uris", "").split():
                out.append((uri, stanza.get("suites", "").split()))

    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanza:
                flush()
            stanza, key = {}, None
            continue
        if raw[0] in " \t" and key:
            stanza[key] += " " + raw.strip()
            continue
        if ":" in raw:
            key, val = raw.split(":", 1)
            key = key.strip().lower()
            stanza[key] = val.strip()
    return out


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else "bookworm"
    entries = one_line("/etc/apt/sources.list")
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*")):
        if path.endswith(".list"):
            entries += one_line(path)
        elif path.endswith(".sources"):
            entries += deb822(path)
    entries = [(u.rstrip("/"), s) for u, s in entries if u.startswith(SCHEMES)]
    for uri, suites in entries:
        if suite in suites:
            print(uri)
            return 0
    for uri, suites in entries:
        if "security" not in uri and any(s.startswith(suite + "-") and
                                         "security" not in s for s in suites):
            print(uri)
            return 0
    sys.stderr.write("no apt source for '%s' in /etc/apt/sources.list{,.d/}\n" % suite)
    return 1


if __name__ == "__main__":
    sys.exit(main())
