# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# busdctl-lib.sh — what the busdctl shell tests share (sourced by
# tests/test-busdctl*.sh; not run on its own): the binaries under test, a
# private directory with the bus socket and the captured output, cleanup of
# everything started, and the check helpers.
#
# Use: TEST_NAME=test-xyz; busdctl_lib_init [EXTRA-BINARY...]. The test then
# starts busd itself (busd_pid=$("$BUSD_LAUNCH" start "$dir" ...)) and puts
# the pids of what else it starts in bg_pids (or stops them in a function
# test_cleanup of its own); everything is stopped on exit.
#   run CMD...        CMD with stdout/stderr in $out/$err, status in $rc
#   ctl ARGS...       run busdctl ARGS
#   check DESC COND   COND (eval'd, usually [[ ]]) decides ok or FAIL
#   has_out RE, has_err RE, lines_out
#   busdctl_lib_finish   "N passed, M failed[, K skipped]" and the verdict

builddir=$(pwd)
srcdir=${srcdir:-.}
BUSD_BINARY=${BUSD_BINARY:-$builddir/daemon/busd}
BUSDCTL=${BUSDCTL:-$builddir/tools/busdctl}
BUSD_LAUNCH=${BUSD_LAUNCH:-$builddir/tests/busd-launch}
# Upper bound for anything awaited (seconds); a deadline, never a delay.
WAIT=10

passed=0
failed=0
skipped=0
busd_pid=
bg_pids=()
dir=
rc=0

busdctl_lib_cleanup() {
        local p
        declare -F test_cleanup >/dev/null && test_cleanup
        for p in "${bg_pids[@]}"; do
                kill "$p" 2>/dev/null
        done
        [ -n "$busd_pid" ] && "$BUSD_LAUNCH" stop "$busd_pid"
        [ -n "$dir" ] && rm -rf "$dir"
}

busdctl_lib_init() { # busdctl_lib_init [EXTRA-BINARY...]
        local f
        for f in "$BUSD_BINARY" "$BUSDCTL" "$BUSD_LAUNCH" "$@"; do
                if [ ! -x "$f" ]; then
                        echo "$TEST_NAME: $f is missing; build it first (make check does)" >&2
                        echo "0 passed, 1 failed"
                        exit 1
                fi
        done
        # The bus under test is ours alone.
        unset BUSD_ADDRESS NO_COLOR
        dir=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME-XXXXXX") || exit 1
        out=$dir/out
        err=$dir/err
        bus=$dir/bus.sock
        trap busdctl_lib_cleanup EXIT
}

ok() {
        passed=$((passed + 1))
        echo "ok - $1"
}

not_ok() {
        failed=$((failed + 1))
        echo "FAIL - $1"
        echo "  exit status: $rc"
        sed 's/^/  stdout: /' "$out"
        sed 's/^/  stderr: /' "$err"
}

skip() {
        skipped=$((skipped + 1))
        echo "skip - $1"
}

run() {
        "$@" >"$out" 2>"$err"
        rc=$?
}

ctl() {
        run "$BUSDCTL" "$@"
}

check() {
        local desc=$1
        shift
        if eval "$@"; then
                ok "$desc"
        else
                not_ok "$desc"
        fi
}

has_out() { grep -qE -- "$1" "$out"; }
has_err() { grep -qE -- "$1" "$err"; }
lines_out() { wc -l <"$out"; }

busdctl_lib_finish() {
        if [ "$skipped" -gt 0 ]; then
                echo "$passed passed, $failed failed, $skipped skipped"
        else
                echo "$passed passed, $failed failed"
        fi
        [ "$failed" -eq 0 ]
        exit
}
