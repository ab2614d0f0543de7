#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/policy-cost.sh — what the policy costs the broker (issue #11, docs/POLICY.md
# "Cost"): broker CPU time per method call round trip (bench-busd --workload rtt
# --size 0 --broker-pid) with no policy and with a policy of 1000 rules, alternating,
# REPS times each; prints every run, the medians and the best runs (the least
# disturbed by a busy machine).
#
#   bench/policy-cost.sh [REPS] [ITERATIONS]      (defaults: 5, 20000)
#
# The 1000 rules: 250 services each with a call grant to one user and one group,
# an owner rule and a mandatory member denial, like tests/test-policy.c's big
# policy; call and own fall back to deny; two more rules let the benchmark's
# service (com.example.Bench) be owned and called. The build directory is
# $BUSD_BUILD_DIR, else the current directory.
set -euo pipefail

REPS=${1:-5}
ITER=${2:-20000}
BUILD=${BUSD_BUILD_DIR:-$PWD}
[[ -x $BUILD/daemon/busd && -x $BUILD/bench/bench-busd ]] ||
        { echo "policy-cost.sh: build daemon/busd and bench/bench-busd in $BUILD first" >&2; exit 2; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/busd-policy-cost.XXXXXX")
BUSD_PID=
cleanup() {
        [[ -n $BUSD_PID ]] && kill "$BUSD_PID" 2>/dev/null && wait "$BUSD_PID" 2>/dev/null
        rm -rf "$DIR"
}
trap cleanup EXIT

{
        printf '{"defaults": {"call": "deny", "own": "deny"}, "rules": [\n'
        for ((i = 0; i < 249; i++)); do
                printf '{"allow": "call", "destination": "org.svc%d.S", "user": %d},\n' $i $((1000 + i))
                printf '{"allow": "call", "destination": "org.svc%d.S", "group": %d},\n' $i $((1000 + i))
                printf '{"allow": "own", "name_prefix": "org.svc%d", "user": %d},\n' $i $((1000 + i))
                printf '{"deny": "call", "destination": "org.svc%d.S", "member": "Reboot", "mandatory": true},\n' $i
        done
        printf '{"allow": "call", "destination": "org.svc249.S", "user": 1249},\n'
        printf '{"deny": "call", "destination": "org.svc249.S", "member": "Reboot", "mandatory": true},\n'
        printf '{"id": "bench-own", "allow": "own", "name": "com.example.Bench"},\n'
        printf '{"id": "bench-call", "allow": "call", "destination": "com.example.Bench"}\n'
        printf ']}\n'
} >"$DIR/policy.json"
echo '{}' >"$DIR/busd.json"

run() { # run none|policy → prints cpu_us_per_op
        local sock=$DIR/bus.sock line
        rm -f "$sock"
        if [[ $1 == policy ]]; then
                "$BUILD/daemon/busd" --address "$sock" --config "$DIR/busd.json" --policy "$DIR/policy.json" \
                        >>"$DIR/busd.log" 2>&1 &
        else
                "$BUILD/daemon/busd" --address "$sock" --config "$DIR/busd.json" >>"$DIR/busd.log" 2>&1 &
        fi
        BUSD_PID=$!
        for ((t = 0; t < 200; t++)); do [[ -S $sock ]] && break; sleep 0.05; done
        line=$("$BUILD/bench/bench-busd" --system busd --workload rtt --size 0 --address "$sock" \
                --broker-pid "$BUSD_PID" --iterations "$ITER" --warmup 2000)
        kill "$BUSD_PID"
        wait "$BUSD_PID" || true
        BUSD_PID=
        sed -n 's/.*"cpu_us_per_op":\([0-9.]*\).*/\1/p' <<<"$line"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "rules in the policy: $(grep -c '^{"\(allow\|deny\|id\)"' "$DIR/policy.json")" >&2
: >"$DIR/none" ; : >"$DIR/policy"
for ((r = 1; r <= REPS; r++)); do
        n=$(run none); p=$(run policy)
        echo "run $r: no policy ${n} us/call, 1000 rules ${p} us/call" >&2
        echo "$n" >>"$DIR/none"; echo "$p" >>"$DIR/policy"
done
mn=$(median <"$DIR/none"); mp=$(median <"$DIR/policy")
ln=$(sort -n "$DIR/none" | head -1); lp=$(sort -n "$DIR/policy" | head -1)
awk -v n="$mn" -v p="$mp" 'BEGIN { printf "broker CPU per call (median): no policy %.2f us, 1000-rule policy %.2f us (%+.1f%%)\n", n, p, (p - n) * 100 / n }'
awk -v n="$ln" -v p="$lp" 'BEGIN { printf "broker CPU per call (best run): no policy %.2f us, 1000-rule policy %.2f us (%+.1f%%)\n", n, p, (p - n) * 100 / n }'
