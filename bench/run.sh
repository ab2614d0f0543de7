#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/run.sh — the busd benchmark suite, one command (docs/PERFORMANCE.md).
#
#   bench/run.sh [--quick] [--reps N] [--only REGEX] [--systems "LIST"] [--out DIR]
#   bench/run.sh --syscalls          syscalls, page faults and wakeups per message of each
#                                    broker during the 1->1 signal workload (strace -c -f)
#
# Measures busd (through libbusclient; busd-sealed is the same with BUSD_PAYLOAD_MODE=sealed,
# payloads in sealed one-shot memfds instead of the connection's payload pool), dbus-broker
# and dbus-daemon (through sd-bus) and three floors (a socketpair ping-pong, a two-hop epoll
# relay, and floor-pool: a copy into a warm shared mapping, a 16-byte notice through the
# relay, a copy out) with the same workloads. Systems
# run back to back for each workload and the whole sequence is repeated (3 times, 1 with
# --quick); the report gives medians, since this kind of machine drifts by ±20% over minutes.
# Every broker is started fresh for each measurement, on a socket in a private temporary
# directory, and stopped by PID afterwards.
#
# Output: one JSON object per measurement on stdout as it is made, then a Markdown report.
# Files in --out (default BUILD/bench-results): results.jsonl (every run), summary.jsonl
# (medians), report.md.
#
# The build directory is $BUSD_BUILD_DIR, else the current directory if it holds a build,
# else ./build (what quickstart.sh makes), else the source tree. The bench programs and
# daemon/busd are (re)built there with make first.
set -euo pipefail

SRCDIR=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
REPS=
QUICK=
ONLY=.
SYSTEMS="busd busd-sealed dbus-broker dbus-daemon floor-relay floor-direct floor-pool"
OUT=
SYSCALLS=
SYSTEMS_GIVEN=
# Upper bound on one driver invocation; a hung broker becomes an error row, not a hung run.
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
# Upper bound on waiting for a broker to stop after SIGTERM.
STOP_TIMEOUT=10

usage() {
        sed -n '4,22p' "$0" | sed 's/^# \{0,1\}//'
}

while (($#)); do
        case $1 in
        --quick) QUICK=--quick ;;
        --reps) REPS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --systems) SYSTEMS=$2; SYSTEMS_GIVEN=1; shift ;;
        --out) OUT=$2; shift ;;
        --syscalls) SYSCALLS=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        esac
        shift
done
[[ -n $REPS ]] || { [[ -n $QUICK ]] && REPS=1 || REPS=3; }

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

# ---- Build -------------------------------------------------------------------------------

find_build() {
        local d
        for d in "${BUSD_BUILD_DIR:-}" "$PWD" "$SRCDIR/build" "$SRCDIR"; do
                [[ -n $d && -f $d/Makefile && -f $d/config.status ]] && { echo "$d"; return; }
        done
        return 1
}
BUILD=$(find_build) ||
        die "no configured build found; run ./quickstart.sh demo (builds ./build) or configure one and set BUSD_BUILD_DIR"
BUILD=$(cd "$BUILD" && pwd)
OUT=${OUT:-$BUILD/bench-results}

BENCH_PROGS=(bench/bench-floor bench/bench-sdbus bench/bench-report bench/bench-journal-sink
             bench/bench-listen-exec)
JOBS=$(nproc 2>/dev/null || echo 2)
say "==> building in $BUILD"
make -C "$BUILD" -s -j"$JOBS" "${BENCH_PROGS[@]}" >&2 || die "build failed"
SKIP_REASON_busd=
make -C "$BUILD" -s -j"$JOBS" bench/bench-busd daemon/busd >&2 ||
        SKIP_REASON_busd="daemon/busd or libbusclient does not build"
B=$BUILD/bench

# ---- Anchors: install or skip --------------------------------------------------------------

have_pkg_bins() { command -v dbus-daemon >/dev/null && command -v dbus-broker-launch >/dev/null; }
if ! have_pkg_bins && ((EUID == 0)) && command -v apt-get >/dev/null; then
        say "==> installing dbus-daemon and dbus-broker (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q dbus-daemon dbus-broker >&2 || true
fi
SKIP_REASON_dbus_daemon=
SKIP_REASON_dbus_broker=
command -v dbus-daemon >/dev/null || SKIP_REASON_dbus_daemon="dbus-daemon is not installed"
command -v dbus-broker-launch >/dev/null ||
        SKIP_REASON_dbus_broker="dbus-broker is not installed"
# dbus-broker-launch wants systemd's journal socket: we give it one in a private mount
# namespace, which needs root or an unprivileged user namespace.
if [[ -z $SKIP_REASON_dbus_broker ]]; then
        if ((EUID == 0)); then
                UNSHARE=(unshare --mount --propagation private)
        else
                UNSHARE=(unshare --user --map-root-user --mount --propagation private)
        fi
        "${UNSHARE[@]}" true 2>/dev/null ||
                SKIP_REASON_dbus_broker="cannot make a private mount namespace (${UNSHARE[*]})"
fi
SKIP_REASON_busd_sealed=$SKIP_REASON_busd
for s in busd dbus-daemon dbus-broker; do
        v=SKIP_REASON_${s//-/_}
        [[ -z ${!v} ]] || say "==> skipping $s: ${!v}"
done

# ---- Brokers ---------------------------------------------------------------------------------

RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/busd-bench.XXXXXX")
STOP_PID=
BROKER_PID=
BUS=

stop_broker() {
        [[ -n $STOP_PID ]] || return 0
        kill -TERM "$STOP_PID" 2>/dev/null || true
        timeout "$STOP_TIMEOUT" tail --pid="$STOP_PID" -f /dev/null 2>/dev/null ||
                kill -KILL "$STOP_PID" 2>/dev/null || true
        wait "$STOP_PID" 2>/dev/null || true
        STOP_PID=
        BROKER_PID=
        rm -f "$BUS"
}

cleanup() {
        stop_broker
        rm -rf -- "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The child of @1 whose command name is @2 (dbus-broker under its launcher).
child_named() {
        local c
        for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
                [[ $(cat "/proc/$c/comm" 2>/dev/null) == "$2" ]] && { echo "$c"; return 0; }
        done
        return 1
}

# Start a fresh broker for @1; sets BUS, STOP_PID (what we SIGTERM) and BROKER_PID (whose
# RSS is measured). Waits until it answers a handshake.
start_broker() {
        local sys=$1 log=$RUNDIR/$1.log
        BUS=$RUNDIR/$sys.sock
        case $sys in
        busd | busd-sealed)
                "$BUILD/daemon/busd" --address "$BUS" >>"$log" 2>&1 &
                STOP_PID=$! BROKER_PID=$!
                "$B/bench-busd" --ping "$BUS" 2>>"$log" || return 1
                ;;
        dbus-daemon)
                dbus-daemon --session --address="unix:path=$BUS" --nofork --print-address \
                        >>"$log" 2>&1 &
                STOP_PID=$! BROKER_PID=$!
                "$B/bench-sdbus" --ping "$BUS" 2>>"$log" || return 1
                ;;
        dbus-broker)
                # The stock session.conf (same as dbus-daemon's), a socket passed as
                # LISTEN_FDS, DBUS_SESSION_BUS_ADDRESS for the launcher's own connection, and
                # a journal socket on a tmpfs only this mount namespace sees.
                DBUS_SESSION_BUS_ADDRESS="unix:path=$BUS" "${UNSHARE[@]}" sh -c '
                        if [ -d /run/systemd ]; then t=/run/systemd; else t=/run; fi
                        mount -t tmpfs -o mode=0755 tmpfs "$t" &&
                        mkdir -p /run/systemd/journal &&
                        exec "$0" /run/systemd/journal/socket "$1" "$2" \
                                dbus-broker-launch --scope user' \
                        "$B/bench-journal-sink" "$B/bench-listen-exec" "$BUS" >>"$log" 2>&1 &
                STOP_PID=$!
                "$B/bench-sdbus" --ping "$BUS" 2>>"$log" || return 1
                BROKER_PID=$(child_named "$STOP_PID" dbus-broker) || return 1
                ;;
        esac
}

# ---- Running one measurement -----------------------------------------------------------------

driver_for() {
        case $1 in
        busd | busd-sealed) echo "$B/bench-busd" ;;
        dbus-*) echo "$B/bench-sdbus" ;;
        floor-*) echo "$B/bench-floor" ;;
        esac
}

emit() {
        printf '%s\n' "$1" >>"$OUT/results.jsonl"
        printf '%s\n' "$1"
}

# run_one SYSTEM DRIVER-ARGS...: one measurement, one result line.
run_one() {
        local sys=$1; shift
        local drv line rc v args=(--system "$sys" "$@" $QUICK) mode=pool
        drv=$(driver_for "$sys")
        [[ $sys == busd-sealed ]] && mode=sealed
        v=SKIP_REASON_${sys//-/_}
        if [[ -n ${!v:-} ]]; then
                return 0
        fi
        if [[ $sys != floor-* ]]; then
                if ! start_broker "$sys"; then
                        stop_broker
                        emit "$("$drv" "${args[@]}" --address "$BUS" \
                                --report-error "broker did not start (see its log)")"
                        tail -n 5 "$RUNDIR/$sys.log" >&2 || true
                        return 0
                fi
                args+=(--address "$BUS" --broker-pid "$BROKER_PID")
        fi
        rc=0
        line=$(BUSD_PAYLOAD_MODE=$mode timeout "$RUN_TIMEOUT" "$drv" "${args[@]}" \
                2>>"$RUNDIR/driver.log") || rc=$?
        if [[ -z $line ]]; then
                ((rc == 124)) && why="timed out after $RUN_TIMEOUT s" || why="driver exited $rc"
                line=$("$drv" "${args[@]}" --report-error "$why")
                tail -n 5 "$RUNDIR/driver.log" >&2 || true
        fi
        emit "$line"
        stop_broker
}

# ---- The workloads ---------------------------------------------------------------------------
#
# name | systems (all = every system in --systems but busd-sealed, which differs from busd
# only where payloads travel: all+sealed; --systems naming busd-sealed includes it in every
# row) | driver arguments
WORKLOADS=(
        "rtt-0|all|--workload rtt --size 0"
        "rtt-1k|all|--workload rtt --size 1024"
        "rtt-64k|all+sealed|--workload rtt --size 65536"
        "rtt-1m|all+sealed|--workload rtt --size 1048576"
        "rtt-16m|all+sealed|--workload rtt --size 16777216"
        "rtt-256m|busd busd-sealed floor-relay floor-pool|--workload rtt --size 268435456"
        "rtt-1g|busd busd-sealed floor-relay floor-pool|--workload rtt --size 1073741824"
        "signal|all|--workload signal --receivers 1"
        "signal-corked|busd|--workload signal --receivers 1 --corked-sender"
        "fanout-10|all|--workload signal --receivers 10"
        "fanout-50|all|--workload signal --receivers 50"
        "fanout-10-16m|all+sealed|--workload signal --receivers 10 --size 16777216"
        "broadcast-65536|busd dbus-broker dbus-daemon|--workload signal --receivers 1 --rules 65536"
        "connect|busd dbus-broker dbus-daemon floor-direct|--workload connect"
        "idle-rss|busd dbus-broker dbus-daemon|--workload idle-rss --conns 1000"
)

in_list() { [[ " $2 " == *" $1 "* ]]; }

# The systems of a workload, rotated by @2 so no system always runs first.
systems_for() {
        local allowed=$1 rot=$2 list=() s i n
        for s in $SYSTEMS; do
                [[ $allowed == all && $s == busd-sealed && -z $SYSTEMS_GIVEN ]] && continue
                [[ $allowed == all || $allowed == all+sealed ]] || in_list "$s" "$allowed" || continue
                list+=("$s")
        done
        n=${#list[@]}
        for ((i = 0; i < n; i++)); do
                echo "${list[(i + rot) % n]}"
        done
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- --syscalls: what each broker does per message ---------------------------------------------

if [[ -n $SYSCALLS ]]; then
        command -v perf >/dev/null || die "--syscalls needs perf (linux-perf)"
        mkdir -p "$OUT"
        N=10240 BATCH=1024 # BENCH_SIGNAL_BATCH (bench/bench.h)
        MSGS=$(((N + BATCH) + 2 * ((N + BATCH) / BATCH)))
        say "==> per message routed by each broker (perf stat on the broker process): syscalls,"
        say "    minor page faults, context switches; 1 sender -> 1 receiver, $N+$BATCH signals of"
        say "    64 bytes and a Sync round trip every $BATCH ($MSGS messages); then strace -c for the"
        say "    breakdown (strace slows the broker, so it batches more: counts differ a little)"
        # measure SYSTEM TOOL...: run the signal workload with TOOL attached to the broker.
        measure() {
                local sys=$1 tpid; shift
                start_broker "$sys" || { say "$sys did not start"; stop_broker; return 1; }
                "$@" -p "$BROKER_PID" 2>/dev/null &
                tpid=$!
                # perf and strace attach asynchronously and print nothing to wait on; the
                # pause only has to cover attaching, the counts include a little setup.
                sleep 0.5
                "$(driver_for "$sys")" --system "$sys" --address "$BUS" --workload signal \
                        --iterations "$N" --warmup "$BATCH" --budget-ms 600000 >/dev/null
                kill -INT "$tpid"
                wait "$tpid" 2>/dev/null || true
                stop_broker
        }
        for sys in busd dbus-broker dbus-daemon; do
                in_list "$sys" "$SYSTEMS" || continue
                v=SKIP_REASON_${sys//-/_}
                [[ -z ${!v:-} ]] || continue
                measure "$sys" perf stat -x, -o "$OUT/perf-$sys.txt" \
                        -e raw_syscalls:sys_enter,page-faults,context-switches || continue
                awk -F, -v s="$sys" -v m="$MSGS" '
                        $3 == "raw_syscalls:sys_enter" { sc = $1 }
                        $3 == "page-faults" { pf = $1 }
                        $3 == "context-switches" { cs = $1 }
                        END { printf "%-12s %6.2f syscalls/msg  %6.3f page faults/msg  " \
                                     "%6.3f context switches/msg\n", s, sc / m, pf / m, cs / m }' \
                        "$OUT/perf-$sys.txt"
                command -v strace >/dev/null || continue
                measure "$sys" strace -c -f -o "$OUT/strace-$sys.txt" || continue
                # Columns: % time, seconds, usecs/call, calls, [errors], syscall.
                awk -v m="$MSGS" 'NR > 2 && $1 !~ /^-/ && $NF != "total" {
                        printf "             %-16s %8.3f per msg (strace)\n", $NF, $4 / m }' \
                        "$OUT/strace-$sys.txt" | sort -k2 -n -r | head -5
        done
        exit 0
fi

# ---- Main loop ---------------------------------------------------------------------------------

mkdir -p "$OUT"
: >"$OUT/results.jsonl"
say "==> $REPS repetition(s)${QUICK:+, quick}; results in $OUT"
START=$(date +%s)
for ((rep = 0; rep < REPS; rep++)); do
        say "==> repetition $((rep + 1))/$REPS"
        for w in "${WORKLOADS[@]}"; do
                IFS='|' read -r name allowed args <<<"$w"
                [[ $name =~ $ONLY ]] || continue
                say "    $name"
                for sys in $(systems_for "$allowed" "$rep"); do
                        # shellcheck disable=SC2086 # args is a word list by design
                        run_one "$sys" $args
                done
        done
done

"$B/bench-report" --json "$OUT/results.jsonl" >"$OUT/summary.jsonl"
{
        echo "Machine: $(nproc) CPUs, Linux $(uname -r), $(date -u +%Y-%m-%d);" \
                "$REPS repetition(s)${QUICK:+ (--quick)}; took $(($(date +%s) - START)) s."
        echo
        "$B/bench-report" "$OUT/results.jsonl"
} >"$OUT/report.md"
echo
cat "$OUT/report.md"
