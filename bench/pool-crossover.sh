#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/pool-crossover.sh [REPS] — where a JSON body should leave the message for the
# connection's payload pool (BUS_CLIENT_POOL_BODY_THRESHOLD, docs/PERFORMANCE.md "Inline, pool
# and sealed memfd crossover"): the median p50 round trip of an Echo call through busd with a
# body of each size, inline (BUSD_PAYLOAD_MODE=sealed: inline up to
# BUS_BODY_INLINE_THRESHOLD, a sealed memfd above), and in a slice of the pool
# (BUSD_POOL_BODY_THRESHOLD=0: every body). Needs a configured build ($BUSD_BUILD_DIR or the
# current directory) with daemon/busd and bench/bench-busd built.
set -euo pipefail
REPS=${1:-3}
BUILD=${BUSD_BUILD_DIR:-$PWD}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/busd-crossover.XXXXXX")
"$BUILD/daemon/busd" --address "$DIR/bus" >"$DIR/log" 2>&1 &
BUSD=$!
trap 'kill $BUSD 2>/dev/null; wait $BUSD 2>/dev/null; rm -rf "$DIR"' EXIT
"$BUILD/bench/bench-busd" --ping "$DIR/bus"
p50() { sed -n 's/.*"p50_us":\([0-9.]*\).*/\1/p'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%10s %12s %12s\n' size inline-or-memfd pool
for size in 4096 8192 16384 32768 49152 65536 98304 131072 262144 1048576; do
        for mode in sealed pool; do
                for ((i = 0; i < REPS; i++)); do
                        if [[ $mode == pool ]]; then
                                BUSD_POOL_BODY_THRESHOLD=0 "$BUILD/bench/bench-busd" --system busd \
                                        --address "$DIR/bus" --workload rtt --size $size | p50
                        else
                                BUSD_PAYLOAD_MODE=sealed "$BUILD/bench/bench-busd" --system busd \
                                        --address "$DIR/bus" --workload rtt --size $size | p50
                        fi
                done | median >"$DIR/$mode"
        done
        printf '%10s %12s %12s\n' "$size" "$(cat "$DIR/sealed")" "$(cat "$DIR/pool")"
done
