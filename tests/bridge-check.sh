#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# busd-bridge --check: a valid file is accepted with a summary; an invalid
# one is refused with exit status 1 and an error naming the file and the
# JSON path; a missing file likewise names the file. No NATS, no bus needed.
set -euo pipefail

BRIDGE=${BRIDGE_BINARY:-${abs_top_builddir:-.}/bridge/busd-bridge}
dir=$(mktemp -d "${TMPDIR:-/tmp}/bridge-check.XXXXXX")
trap 'rm -rf -- "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$dir/good.json" <<'JSON'
{"nats": {"servers": ["nats://127.0.0.1:4222"]}, "host": "alpha",
 "exports": {"names": [{"name": "org.example.A", "interfaces": ["org.example.A"]}]}}
JSON
out=$("$BRIDGE" --check --config "$dir/good.json") || fail "good config refused: $out"
[[ $out == *"OK (host alpha, domain busd, 1 exports, 0 imports)"* ]] || fail "summary: $out"

cat >"$dir/bad.json" <<'JSON'
{"nats": {"servers": ["nats://127.0.0.1:4222"]}, "host": "alpha",
 "imports": {"names": [{"name": "org.example.B", "objects": [{"path": "nope",
   "interface": "org.example.B", "methods": ["M"]}]}]}}
JSON
rc=0
out=$("$BRIDGE" --check --config "$dir/bad.json" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "bad config: exit $rc ($out)"
[[ $out == *"$dir/bad.json: imports.names[0].objects[0].path: 'nope' is not a valid object path"* ]] ||
        fail "bad config message: $out"

rc=0
out=$("$BRIDGE" --check --config "$dir/missing.json" 2>&1) || rc=$?
[[ $rc == 1 && $out == *"$dir/missing.json"* ]] || fail "missing file: exit $rc ($out)"

rc=0
out=$("$BRIDGE" --bogus 2>&1) || rc=$?
[[ $rc == 2 ]] || fail "unknown option: exit $rc"
echo "PASS: busd-bridge --check"
