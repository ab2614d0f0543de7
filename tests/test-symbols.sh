#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The dynamic symbols libbusclient exports must be exactly the functions
# declared in client/busclient.h, and the version script must list exactly
# those too. Run by `make check` from the top build directory; the automake
# test harness exports $srcdir. Override with srcdir=... builddir=...
set -eu

srcdir=${srcdir:-.}
builddir=${builddir:-.}
header="$srcdir/client/busclient.h"
symfile="$srcdir/client/libbusclient.sym"
lib="$builddir/client/.libs/libbusclient.so"

for f in "$header" "$symfile" "$lib"; do
        if [ ! -r "$f" ]; then
                echo "test-symbols: missing $f" >&2
                exit 99 # hard error: the test cannot run
        fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Functions declared in the header: comments stripped, then every
# "bus_xxx(" preceded by a space or '*' (a return type); function pointer
# typedefs "(*bus_xxx)" do not match.
perl -0777 -ne 's{/\*.*?\*/}{}gs; print "$1\n" while /[\s*](bus_[A-Za-z0-9_]+)\s*\(/g' \
        "$header" | sort -u >"$tmp/header"

# Global names in the version script.
sed -n 's/^[[:space:]]*\(bus_[A-Za-z0-9_]*\);.*/\1/p' "$symfile" | sort -u >"$tmp/versionscript"

# Defined dynamic symbols, whatever their type, except version nodes (A);
# drop "@@VERSION" suffixes that newer binutils print.
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u \
        >"$tmp/library"

status=0
if [ ! -s "$tmp/header" ]; then
        echo "test-symbols: no functions found in $header" >&2
        exit 99
fi
if ! diff -u "$tmp/header" "$tmp/library" >"$tmp/diff1"; then
        echo "test-symbols: exported symbols differ from busclient.h (+ = exported only):" >&2
        cat "$tmp/diff1" >&2
        status=1
fi
if ! diff -u "$tmp/header" "$tmp/versionscript" >"$tmp/diff2"; then
        echo "test-symbols: libbusclient.sym differs from busclient.h:" >&2
        cat "$tmp/diff2" >&2
        status=1
fi
[ $status -eq 0 ] && echo "test-symbols: $(wc -l <"$tmp/header") symbols match"
exit $status
