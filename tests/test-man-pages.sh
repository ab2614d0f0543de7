#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# libbusclient's man pages (client/man/) say what client/busclient.h says:
# every function the header declares has a page (its group's, or an alias
# to it); the committed pages are exactly what client/man/generate.py makes
# from the header now (when python3 is there to run it); and each page
# formats without a groff warning (when groff is there). Run by "make check"
# from the top build directory; the test harness exports $srcdir.
set -eu

srcdir=${srcdir:-.}
header="$srcdir/client/busclient.h"
man="$srcdir/client/man"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

perl -0777 -ne 's{/\*.*?\*/}{}gs; print "$1\n" while /[\s*](bus_[A-Za-z0-9_]+)\s*\(/g' \
        "$header" | sort -u >"$tmp/functions"
while read -r f; do
        if [ ! -f "$man/$f.3" ]; then
                echo "test-man-pages: $f has no page (run client/man/generate.py)" >&2
                failed=1
        fi
done <"$tmp/functions"
echo "functions with a page: $(wc -l <"$tmp/functions")"

if command -v python3 >/dev/null 2>&1; then
        python3 "$man/generate.py" "$srcdir" "$tmp/gen"
        for f in "$tmp"/gen/*; do
                if ! cmp -s "$f" "$man/$(basename "$f")"; then
                        echo "test-man-pages: client/man/$(basename "$f") is not what busclient.h" \
                                "says now (run client/man/generate.py)" >&2
                        failed=1
                fi
        done
        for f in "$man"/*.3; do
                if [ ! -f "$tmp/gen/$(basename "$f")" ]; then
                        echo "test-man-pages: client/man/$(basename "$f") documents nothing" \
                                "busclient.h declares" >&2
                        failed=1
                fi
        done
else
        echo "python3 not installed: pages not compared with a fresh generation"
fi

if command -v groff >/dev/null 2>&1; then
        for f in "$man"/*.3; do
                grep -q '^\.so ' "$f" && continue
                if groff -t -man -ww -z "$f" 2>"$tmp/warn" && [ ! -s "$tmp/warn" ]; then
                        :
                else
                        echo "test-man-pages: $(basename "$f"):" >&2
                        cat "$tmp/warn" >&2
                        failed=1
                fi
        done
else
        echo "groff not installed: pages not formatted"
fi
exit $failed
