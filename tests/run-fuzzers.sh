#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the libFuzzer targets (tests/fuzzers.mk): make check's short run, and
# the long runs of docs/TESTING.md "Fuzzing".
#
# Every target in $BUSD_FUZZERS (set by make check when configured with
# --enable-fuzzers; the test is skipped, exit 77, otherwise) runs for
# $BUSD_FUZZ_SECONDS (default 10) over its seed corpus tests/corpus/TARGET/
# (with the dictionary tests/corpus/TARGET.dict where there is one). What it
# finds goes to a scratch corpus, never into the source tree; with
# $BUSD_FUZZ_WORKDIR set, the corpus and the log are kept in
# $BUSD_FUZZ_WORKDIR/TARGET/ and TARGET.log (a later run goes on from
# there). $BUSD_FUZZ_OPTIONS adds libFuzzer options. Run from the build tree
# (srcdir: the source tree, as make check sets it).
#
# A crash, leak, sanitizer report or timeout fails the run; the input is kept
# in tests/fuzz-artifacts/TARGET/ of the build tree and the command that
# reproduces it is printed. Per target one line: executions, the time
# libFuzzer reports, coverage (cov: edges, ft: features), corpus size, peak
# RSS.
set -u

if [ -z "${BUSD_FUZZERS:-}" ]; then
        echo "SKIP: libFuzzer targets not built (configure CC=clang --enable-fuzzers)"
        exit 77
fi

srcdir=${srcdir:-.}
seconds=${BUSD_FUZZ_SECONDS:-10}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/busd-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
work=${BUSD_FUZZ_WORKDIR:-$scratch}
failed=0

# The longest input worth making, per target: a message's header and fields
# take at most 2120 bytes, and a longer body only lengthens the one UTF-8
# pass over it; a frame script cuts a stream of several messages; a match
# rule is at most 1 KiB plus the message it is tried on; a configuration
# file at most BUS_CONFIG_FILE_MAX (64 KiB); a policy of 16 KiB holds ~150
# rules, more than any case needs.
max_len() {
        case $1 in
        message) echo 8192 ;;
        frame) echo 65536 ;;
        match-rule) echo 4096 ;;
        policy) echo 16384 ;;
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
        mkdir -p "$work/$target" "$artifacts" || exit 1
        log=$work/$target.log
        dict=
        [ -f "$seeds.dict" ] && dict=-dict=$seeds.dict
        # shellcheck disable=SC2086 # $dict and the options are split on purpose
        "$bin" -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
                -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
                $dict ${BUSD_FUZZ_OPTIONS:-} "$work/$target" "$seeds" >"$log" 2>&1
        rc=$?
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
        took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
        cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1)
        if [ "$rc" -ne 0 ]; then
                echo "FAIL $target (exit $rc): last 40 lines of its log:"
                tail -n 40 "$log"
                for a in "$artifacts"/*; do
                        [ -e "$a" ] && echo "reproduce: $bin $a"
                done
                failed=1
        else
                echo "PASS $target: ${runs:-?} runs in ${took:-?} s, ${cov:-cov: ?}," \
                        "peak RSS ${rss:-?} MB, 0 crashes"
                rmdir "$artifacts" 2>/dev/null
        fi
done
rmdir tests/fuzz-artifacts 2>/dev/null
exit $failed
