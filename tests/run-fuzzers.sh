#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make check's short run of each libFuzzer target (tests/fuzzers.mk): every
# target in $BUSD_FUZZERS (set by make check when configured with
# --enable-fuzzers; skipped, exit 77, otherwise) runs for
# $BUSD_FUZZ_SECONDS (default 10) over its seed corpus tests/corpus/TARGET/,
# writing what it finds to a scratch corpus, never into the source tree.
# A crash, leak, sanitizer report or timeout fails the test; the input is
# kept in tests/fuzz-artifacts/TARGET/ of the build tree, with the command
# that reproduces it. Long runs: docs/TESTING.md "Fuzzing".
set -u

if [ -z "${BUSD_FUZZERS:-}" ]; then
        echo "SKIP: libFuzzer targets not built (configure CC=clang --enable-fuzzers)"
        exit 77
fi

srcdir=${srcdir:-.}
seconds=${BUSD_FUZZ_SECONDS:-10}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/busd-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
failed=0

# The longest input worth making, per target: a message's header and fields
# take at most 2120 bytes, and a longer body only lengthens the one UTF-8
# pass over it; a frame script cuts a stream of several messages; a match
# rule is at most 1 KiB plus the message it is tried on; a configuration
# file at most BUS_CONFIG_FILE_MAX (64 KiB).
max_len() {
        case $1 in
        message) echo 8192 ;;
        frame) echo 65536 ;;
        match-rule) echo 4096 ;;
        *) echo 65536 ;;
        esac
}

for target in $BUSD_FUZZERS; do
        bin=tests/fuzz-$target-libfuzzer
        seeds=$srcdir/tests/corpus/$target
        artifacts=tests/fuzz-artifacts/$target
        if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
                echo "FAIL $target: $bin or $seeds missing"
                failed=1
                continue
        fi
        mkdir -p "$scratch/$target" "$artifacts"
        log=$scratch/$target.log
        "$bin" -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
                -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
                "$scratch/$target" "$seeds" >"$log" 2>&1
        rc=$?
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        if [ "$rc" -ne 0 ]; then
                echo "FAIL $target (exit $rc): last 40 lines of its log:"
                tail -n 40 "$log"
                for a in "$artifacts"/*; do
                        [ -e "$a" ] && echo "reproduce: $bin $a"
                done
                failed=1
        else
                echo "PASS $target: ${runs:-?} runs in ${seconds}s, ${cov:-cov: ?}"
                rmdir "$artifacts" 2>/dev/null
        fi
done
rmdir tests/fuzz-artifacts 2>/dev/null
exit $failed
