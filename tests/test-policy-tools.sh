#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# busdctl policy check|explain|test (tools/verb-policy.c): the shipped
# defaults (policy/) against their golden cases, lint findings and exit
# statuses, explain's decision, winning rule and near misses. Offline: no bus
# is started. Run by `make check` (automake exports $srcdir).
set -u

srcdir=${srcdir:-.}
busdctl=${BUSDCTL_BINARY:-./tools/busdctl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

check() { # check NAME EXPECTED-STATUS COMMAND...  (output in $tmp/out)
        name=$1 want=$2
        shift 2
        "$@" >"$tmp/out" 2>&1
        got=$?
        if [ "$got" != "$want" ]; then
                echo "FAIL $name: exit $got, expected $want:"
                sed 's/^/  | /' "$tmp/out"
                fail=1
        fi
}
contains() { # contains NAME TEXT
        if ! grep -qF -- "$2" "$tmp/out"; then
                echo "FAIL $1: output lacks '$2':"
                sed 's/^/  | /' "$tmp/out"
                fail=1
        fi
}

# Golden cases of the shipped defaults.
check golden-system 0 "$busdctl" policy test "$srcdir/policy/golden-system.json"
contains golden-system "17 cases, 0 failed"
check golden-user 0 "$busdctl" policy test "$srcdir/policy/golden-user.json"
contains golden-user "5 cases, 0 failed"
check lint-shipped 0 "$busdctl" policy check "$srcdir/policy/policy.d" \
        "$srcdir/examples/policy"
check lint-shipped-user 0 "$busdctl" policy check "$srcdir/policy/user-policy.d"

# A failing golden case names the case and the rule that decided.
cat >"$tmp/cases.json" <<'JSON'
{ "policy": ["p.json"],
  "cases": [ { "uid": 5, "action": "own", "name": "a.b", "expect": "allow" } ] }
JSON
cat >"$tmp/p.json" <<'JSON'
{ "rules": [ { "id": "no-a", "deny": "own", "name_prefix": "a" },
             { "id": "never", "allow": "own", "name": "a.b" },
             { "id": "ghost", "allow": "call", "user": "no-such-user-busd-test" } ] }
JSON
check golden-fails 1 "$busdctl" policy test "$tmp/cases.json"
contains golden-fails 'FAIL cases[0] (uid 5): expected allow, got: own a.b denied by rule "no-a"'

# Lint: a shadowed rule and a user that does not resolve; exit 1.
check lint-findings 1 "$busdctl" policy check "$tmp/p.json"
contains lint-findings 'rule "never": shadowed: rule "no-a"'
contains lint-findings 'rule "ghost": user "no-such-user-busd-test" does not resolve'
# Load errors name the file and the JSON path.
echo '{ "rules": [ { "allow": "own", "nmae": "x.y" } ] }' >"$tmp/bad.json"
check lint-bad 1 "$busdctl" policy check "$tmp/bad.json"
contains lint-bad "$tmp/bad.json: rules[0]: nmae: unknown key"

# Explain: decision, winning rule, every rule with why it missed.
check explain-deny 1 "$busdctl" policy explain --uid 5 --policy "$tmp/p.json" own name=a.b
contains explain-deny "decision: deny"
contains explain-deny 'WINS    deny  default   "no-a"'
contains explain-deny 'matches allow default   "never"'
check explain-miss 0 "$busdctl" policy explain --uid 5 --policy "$tmp/p.json" own name=b.c
contains explain-miss 'misses  deny  default   "no-a"'
contains explain-miss "name_prefix a: not b.c"
contains explain-miss "the fallback defaults.own decides (built-in)"
check explain-usage 2 "$busdctl" policy explain --policy "$tmp/p.json" own name=b.c
check explain-shipped 0 "$busdctl" policy explain --uid 65534 --gid 65534 \
        --policy "$srcdir/policy/policy.d" --policy "$srcdir/examples/policy" \
        call destination=org.example.Echo member=Echo path=/org/example/Echo
contains explain-shipped 'allowed by rule "echo-call"'

# A remote caller (through busd-bridge) is judged by the remote rules, not
# by the local uid's.
cat >"$tmp/remote.json" <<'JSON'
{ "rules": [ { "id": "uid5", "allow": "call", "user": 5, "destination": "a.b" },
             { "id": "no-remote", "deny": "call", "remote": true, "destination": "a.b" } ] }
JSON
check explain-local 0 "$busdctl" policy explain --uid 5 --policy "$tmp/remote.json" call \
        destination=a.b
check explain-remote 1 "$busdctl" policy explain --uid 5 --policy "$tmp/remote.json" call \
        destination=a.b remote_host=beta remote_uid=5
contains explain-remote 'by remote uid 5 on host beta'
contains explain-remote 'WINS    deny  group     "no-remote"'
contains explain-remote 'a remote caller is judged by remote rules'

# receive rules name remote senders too; their subject stays the receiver.
cat >"$tmp/rrecv.json" <<'JSON'
{ "rules": [ { "id": "svc-no-remote", "deny": "receive", "user": 5, "remote": true },
             { "id": "from-gamma", "allow": "receive", "user": 5, "remote_host": "gamma",
               "mandatory": true },
             { "id": "svc-no-remote", "deny": "receive", "user": 6, "remote": true } ] }
JSON
check check-rrecv-dup 1 "$busdctl" policy check "$tmp/rrecv.json"
contains check-rrecv-dup 'id: "svc-no-remote" is used twice'
cat >"$tmp/rrecv.json" <<'JSON'
{ "rules": [ { "id": "svc-no-remote", "deny": "receive", "user": 5, "remote": true },
             { "id": "from-gamma", "allow": "receive", "user": 5, "remote_host": "gamma",
               "mandatory": true } ] }
JSON
check check-rrecv 0 "$busdctl" policy check "$tmp/rrecv.json"
check explain-rrecv-local 0 "$busdctl" policy explain --uid 5 --policy "$tmp/rrecv.json" \
        receive sender=:1.7 member=Set
contains explain-rrecv-local 'misses  deny  user      "svc-no-remote"'
check explain-rrecv-remote 1 "$busdctl" policy explain --uid 5 --policy "$tmp/rrecv.json" \
        receive sender=:1.7 member=Set remote_host=beta remote_uid=1000
contains explain-rrecv-remote 'sent by remote uid 1000 on host beta'
contains explain-rrecv-remote 'WINS    deny  user      "svc-no-remote"'
check explain-rrecv-gamma 0 "$busdctl" policy explain --uid 5 --policy "$tmp/rrecv.json" \
        receive sender=:1.7 member=Set remote_host=gamma remote_uid=1000
contains explain-rrecv-gamma 'WINS    allow mandatory "from-gamma"'
check explain-rrecv-other 0 "$busdctl" policy explain --uid 6 --policy "$tmp/rrecv.json" \
        receive sender=:1.7 member=Set remote_host=beta remote_uid=1000

# Two --policy directories are one merge: the later 10-a.json replaces the
# earlier one (whose deny would win the tie), as /etc replaces the shipped.
mkdir "$tmp/d1" "$tmp/d2"
echo '{ "rules": [ { "id": "d1-deny", "deny": "own", "name": "a.b" } ] }' >"$tmp/d1/10-a.json"
echo '{ "rules": [ { "id": "d2-allow", "allow": "own", "name": "a.b" } ] }' >"$tmp/d2/10-a.json"
check explain-replaced 0 "$busdctl" policy explain --uid 5 --policy "$tmp/d1" \
        --policy "$tmp/d2" own name=a.b
contains explain-replaced 'allowed by rule "d2-allow"'
if grep -qF d1-deny "$tmp/out"; then
        echo "FAIL explain-replaced: the replaced file was read"
        fail=1
fi

# The verb's help: an option name too long for its column is not run into
# its description.
check help-layout 0 "$busdctl" policy --help
contains help-layout "  --uid=U --gid=G --policy=WHAT"
if grep -q -- "--policy=WHAT[a-z]" "$tmp/out"; then
        echo "FAIL help-layout: an option runs into its description"
        fail=1
fi

exit $fail
