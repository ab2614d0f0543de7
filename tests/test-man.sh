#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-man.sh — busd(8) and busd.json(5) say what the code does: every
# option busd --help lists is in busd(8); every configuration key of the
# table in daemon/process/config-file.c is in busd.json(5); every journal
# MESSAGE_ID of daemon/process/log.h is in busd(8) and docs/DAEMON.md; the
# generated pages have no groff warnings. Ends with "N passed, M failed".
set -u

builddir=$(pwd)
srcdir=${srcdir:-$(dirname "$0")/..}
BUSD_BINARY=${BUSD_BINARY:-$builddir/daemon/busd}
busd8=$builddir/daemon/busd.8
busdjson5=$builddir/daemon/busd.json.5
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
check() {
        local what=$1
        shift
        if "$@"; then ok "$what"; else not_ok "$what"; fi
}
in_page() { grep -qF -- "$2" "$1" || { echo "    '$2' not in ${1##*/}"; return 1; }; }

[ -f "$busd8" ] && [ -f "$busdjson5" ] || { echo "test-man: pages not built; skipping"; exit 77; }

for opt in $("$BUSD_BINARY" --help | grep -o -- '--[a-z-]*' | sort -u); do
        check "busd(8) documents $opt" in_page "$busd8" "$(sed 's/-/\\-/g' <<<"$opt")"
done
# The keys: LIMIT(name, ...) are "limits.name"; TIMEOUT("key_ms", ...) "timeouts.key_ms".
keys=$(sed -n 's/^ *LIMIT(\([a-z_]*\),.*/limits.\1/p; s/^ *TIMEOUT("\([a-z_]*\)".*/timeouts.\1/p' \
        "$srcdir/daemon/process/config-file.c")
[ -n "$keys" ] || not_ok "configuration keys found in config-file.c"
for key in $keys; do
        check "busd.json(5) documents $key" in_page "$busdjson5" "$key"
done
for id in $(sed -n 's/^#define LOG_MESSAGE_ID_[A-Z_]* "\([0-9a-f]*\)"/\1/p' "$srcdir/daemon/process/log.h"); do
        check "busd(8) lists MESSAGE_ID $id" in_page "$busd8" "$id"
        check "DAEMON.md lists MESSAGE_ID $id" in_page "$srcdir/docs/DAEMON.md" "$id"
done
if command -v groff >/dev/null; then
        for page in "$busd8" "$busdjson5"; do
                out=$(groff -man -ww -z "$page" 2>&1)
                check "${page##*/} formats without groff warnings" test -z "$out"
        done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
