#!/bin/sh
# The man pages, as built or installed: each renders without groff
# warnings and with every @VAR@ filled in, and vserver-hashify(1) lists
# exactly the options that `vserver-hashify [SUBCOMMAND] --help` prints,
# so that the page and the program cannot drift apart.
#
#   mantest.sh MANDIR VSERVER-HASHIFY
#
# MANDIR holds the pages (NAME.SECTION), directly or in manN/ directories
# (an installed share/man); they may be gzipped. TAP on stdout.
set -u

mandir=${1:?usage: mantest.sh MANDIR VSERVER-HASHIFY}
hashify=${2:?usage: mantest.sh MANDIR VSERVER-HASHIFY}

LC_ALL=C.UTF-8
export LC_ALL
unset MANPAGER PAGER MANOPT

n=0
failed=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    failed=1
    echo "not ok $n - $1"
}
diag() {
    sed 's/^/# /'
}

pages=$(find "$mandir" -maxdepth 2 -type f \
            \( -name '*.[1-8]' -o -name '*.[1-8].gz' \) | sort)
if [ -z "$pages" ]; then
    echo "1..0 # SKIP no man pages in $mandir (built without rst2man?)"
    exit 0
fi

# --- each page renders cleanly

if command -v man >/dev/null 2>&1; then
    render() { MANWIDTH=80 man --warnings -l "$1"; }
else
    # man-db missing: groff is what man would run, with man's warnings
    render() { zcat -f "$1" | groff -man -Tutf8 -wmac; }
fi

for page in $pages; do
    name=$(basename "$page" .gz)
    if ! out=$(render "$page" 2>&1 >/dev/null); then
        not_ok "$name: renders"
        echo "$out" | diag
    elif [ -n "$out" ]; then
        not_ok "$name: renders without groff warnings"
        echo "$out" | diag
    else
        ok "$name: renders without groff warnings"
    fi
    # an @VAR@ the build did not fill in, or docutils' own error text
    bad=$(render "$page" 2>/dev/null |
          grep -nE '@[A-Z_]+@|System Message|\(ERROR/|\(WARNING/')
    if [ -n "$bad" ]; then
        not_ok "$name: no unfilled placeholder or docutils error in the text"
        echo "$bad" | diag
    else
        ok "$name: no unfilled placeholder or docutils error in the text"
    fi
done

# --- vserver-hashify(1) and --help list the same options

hpage=
for page in $pages; do
    case $(basename "$page") in
        vserver-hashify.1|vserver-hashify.1.gz) hpage=$page ;;
    esac
done

# The option names (-x, --long) of the tags of the page's option lists
# in one part: "main" is the OPTIONS section, a subcommand its subsection.
page_options() {
    zcat -f "$hpage" | awk -v want="$1" '
        /^\.SH / { cur = ($2 == "OPTIONS") ? "main" : ""; next }
        /^\.SS / { cur = $2; gsub(/"/, "", cur); next }
        /^\.TP/ { tag = 1; next }
        tag { tag = 0; if (cur == want) print }' |
    sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\ / /g' \
        -e 's/^\.[A-Z]* *//' |
    grep -oE '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' |
    sed 's/^[^-]*//' | sort -u
}

# The same from the program: option lines are indented a little (their
# wrapped descriptions much more), and the option column ends at the first
# run of two blanks.
help_options() {
    # shellcheck disable=SC2086
    "$hashify" $1 --help |
    grep -E '^ {1,8}-' |
    sed -e 's/^ *//' -e 's/  .*//' |
    grep -oE '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' |
    sed 's/^[^-]*//' | sort -u
}

if [ -z "$hpage" ]; then
    not_ok "vserver-hashify.1 is among the pages"
elif [ ! -x "$hashify" ]; then
    not_ok "vserver-hashify is built ($hashify)"
else
    for part in main import export flatten; do
        if [ "$part" = main ]; then
            cmd=
            what="vserver-hashify --help"
        else
            cmd=$part
            what="vserver-hashify $part --help"
        fi
        if ! help=$(help_options "$cmd"); then
            not_ok "$what succeeds"
            continue
        fi
        page=$(page_options "$part")
        if [ "$part" != export ] && [ -z "$page" ]; then
            not_ok "vserver-hashify(1) lists options for $part"
            continue
        fi
        extra=$(printf '%s\n' "$page" | grep -vxF -e "$help" | grep .)
        missing=$(printf '%s\n' "$help" | grep -vxF -e "$page" | grep .)
        [ -n "$help" ] || extra=$page
        [ -n "$page" ] || missing=$help
        if [ -n "$extra" ]; then
            not_ok "every option vserver-hashify(1) lists for $part is in $what"
            echo "$extra" | sed 's/^/not in --help: /' | diag
        else
            ok "every option vserver-hashify(1) lists for $part is in $what"
        fi
        if [ -n "$missing" ]; then
            not_ok "every option of $what is in vserver-hashify(1)"
            echo "$missing" | sed 's/^/not in the page: /' | diag
        else
            ok "every option of $what is in vserver-hashify(1)"
        fi
    done
fi

echo "1..$n"
exit $failed
