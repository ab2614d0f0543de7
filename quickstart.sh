#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# quickstart.sh: the two-command developer experience for busd.
#
#   ./quickstart.sh demo       install build deps, build into ./build, run a bus with the echo
#                              example service and client on a private socket, stop everything
#   ./quickstart.sh check      build into ./build (-Werror) and ./build-asan (ASan+UBSan), run
#                              "make check" in both, compile and run the README example, and end
#                              with one line "N passed, M failed" (exit status 1 if M > 0)
#   ./quickstart.sh distcheck  build into ./build and run "make distcheck"
#
# Runs as root on a fresh Debian 12 (it installs what is missing with apt-get), or as any user
# once the packages are there. Everything it starts is stopped by PID when it exits; its sockets
# live in a fresh mktemp -d directory that is removed on exit.
set -euo pipefail

SRCDIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
cd "$SRCDIR"

PACKAGES=(build-essential autoconf automake libtool pkg-config libsystemd-dev libevent-dev
          libjansson-dev check systemd libnats-dev nats-server)
BUILD=build
BUILD_ASAN=build-asan
BUSDCTL="$BUILD/tools/busdctl"
CONFIGURE_ARGS=(--enable-werror --enable-bridge)
CONFIGURE_ARGS_ASAN=(--enable-werror --enable-sanitizers --enable-bridge)
JOBS=$(nproc 2>/dev/null || echo 2)
# Upper bound for every wait on a started process (seconds); a wait is a deadline, not a delay.
WAIT_TIMEOUT=${QUICKSTART_WAIT_TIMEOUT:-10}

PIDS=()
TMPDIR_RUN=
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

cleanup() {
        local i pid
        for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
                pid=${PIDS[i]}
                kill -TERM "$pid" 2>/dev/null || continue
                timeout "$WAIT_TIMEOUT" tail --pid="$pid" -f /dev/null 2>/dev/null ||
                        kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        PIDS=()
        if [[ -n $TMPDIR_RUN ]]; then
                rm -rf -- "$TMPDIR_RUN"
                TMPDIR_RUN=
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Packages ------------------------------------------------------------------------------

ensure_packages() {
        local missing=() p
        step "Checking build dependencies"
        if ! command -v dpkg-query >/dev/null; then
                info "no dpkg-query: not Debian; make sure these are installed: ${PACKAGES[*]}"
                return 0
        fi
        for p in "${PACKAGES[@]}"; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
                        missing+=("$p")
        done
        if ((${#missing[@]} == 0)); then
                info "all installed"
                return 0
        fi
        info "installing: ${missing[*]}"
        local sudo=()
        if ((EUID != 0)); then
                command -v sudo >/dev/null ||
                        die "missing packages (${missing[*]}); run as root or install them"
                sudo=(sudo)
        fi
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---- Build ---------------------------------------------------------------------------------

# Regenerate configure when it is missing or older than its inputs.
bootstrap() {
        local newer=
        if [[ -x configure ]]; then
                newer=$(find . \( -path ./.git -o -path "./$BUILD" -o -path './build-*' \) -prune \
                        -o \( -name configure.ac -o -name Makefile.am -o -name '*.mk' \) \
                        -newer configure -print -quit)
                [[ -z $newer ]] && return 0
        fi
        step "Bootstrapping (autoreconf -fi)${newer:+: $newer changed}"
        mkdir -p m4 # ACLOCAL_AMFLAGS names it before libtoolize creates it
        autoreconf -fi
}

# configure_dir DIR ARGS...: (re)configure the VPATH build in DIR when needed.
configure_dir() {
        local dir=$1 stamp
        shift
        stamp="$dir/.quickstart-configure-args"
        if [[ -f $dir/config.status && -f $dir/Makefile && ! configure -nt $dir/config.status &&
              -f $stamp && "$(cat "$stamp")" == "$*" ]]; then
                return 0
        fi
        step "Configuring $dir/ ($*)"
        mkdir -p "$dir"
        (cd "$dir" && "$SRCDIR/configure" -q "$@")
        printf '%s' "$*" >"$stamp"
}

build_dir() {
        local dir=$1
        shift
        bootstrap
        configure_dir "$dir" "$@"
        step "Building in $dir/ (make -j$JOBS)"
        make -C "$dir" -j"$JOBS"
}

# ---- Running a bus -------------------------------------------------------------------------

# wait_for DESCRIPTION COMMAND...: run COMMAND until it succeeds, for at most WAIT_TIMEOUT
# seconds (polling with a deadline: fine for a shell demo, not for the test suite).
wait_for() {
        local what=$1
        shift
        local deadline=$((SECONDS + WAIT_TIMEOUT))
        until "$@" >/dev/null 2>&1; do
                if ((SECONDS >= deadline)); then
                        info "timed out after ${WAIT_TIMEOUT}s waiting for $what"
                        return 1
                fi
                sleep 0.05
        done
}

# spawn LOGFILE COMMAND...: start COMMAND in the background, remember its PID in PIDS and $!.
spawn() {
        local log=$1
        shift
        "$@" >"$log" 2>&1 &
        PIDS+=("$!")
}

socket_ready() { [[ -S $1 ]]; }

# The driver answers Ping once busd is listening and serving (the socket file appears at bind(),
# a moment before listen()).
bus_pings() {
        "$1/tools/busdctl" --timeout=1 call org.busd.Bus /org/busd/Bus org.busd.Bus Ping
}

pid_alive() { kill -0 "$1" 2>/dev/null; }

monitor_attached() { "$BUSDCTL" --json=short stats | grep -q '"monitors": *[1-9]'; }

# start_bus BUILDDIR: start busd on a private socket; sets BUSD_ADDRESS (exported) and BUSD_PID.
# Its configuration is $TMPDIR_RUN/busd.json ({}), its service files $TMPDIR_RUN/services
# (the directory next to the configuration; docs/DAEMON.md "Activation").
# Returns 1 (after showing busd's log) if it does not come up.
start_bus() {
        local dir=$1
        [[ -n $TMPDIR_RUN ]] || TMPDIR_RUN=$(mktemp -d "${TMPDIR:-/tmp}/busd-quickstart.XXXXXX")
        export BUSD_ADDRESS="$TMPDIR_RUN/bus.sock"
        [[ -f $TMPDIR_RUN/busd.json ]] || echo '{}' >"$TMPDIR_RUN/busd.json"
        mkdir -p "$TMPDIR_RUN/services"
        spawn "$TMPDIR_RUN/busd.log" "$dir/daemon/busd" --address="$BUSD_ADDRESS" \
                --config="$TMPDIR_RUN/busd.json"
        BUSD_PID=$!
        if ! wait_for "busd to create $BUSD_ADDRESS" socket_ready "$BUSD_ADDRESS" ||
           ! wait_for "busd to answer Ping" bus_pings "$dir" || ! pid_alive "$BUSD_PID"; then
                info "busd did not come up; its log:"
                sed 's/^/    busd: /' "$TMPDIR_RUN/busd.log"
                return 1
        fi
}

# ---- demo ----------------------------------------------------------------------------------

cmd_demo() {
        ensure_packages
        build_dir "$BUILD" "${CONFIGURE_ARGS[@]}"

        step "Starting busd on a private socket, with a service file for echo-service"
        # examples/services/echo.json.in: org.example.Echo is started on its first call.
        [[ -n $TMPDIR_RUN ]] || TMPDIR_RUN=$(mktemp -d "${TMPDIR:-/tmp}/busd-quickstart.XXXXXX")
        mkdir -p "$TMPDIR_RUN/services"
        sed "s|@EXAMPLES_DIR@|$(cd "$BUILD/examples" && pwd)|" examples/services/echo.json.in \
                >"$TMPDIR_RUN/services/echo.json"
        start_bus "$BUILD" || die "busd did not start"
        info "busd pid $BUSD_PID, BUSD_ADDRESS=$BUSD_ADDRESS"
        "$BUSDCTL" list --activatable

        step "Activation: the first call to org.example.Echo starts echo-service"
        info "nobody owns org.example.Echo yet: $("$BUSDCTL" status org.example.Echo | grep State=)"
        "$BUILD/examples/echo-client" -t 1 '{"hello": "from quickstart"}'
        "$BUSDCTL" status org.example.Echo | grep -E '^(PID|Comm|Activation\.(State|Starts))=' |
                sed 's/^/    /'

        step "Activation that fails: a broken service file is answered at once, with its reason"
        echo '{"names": ["org.example.Broken"], "exec": ["/nonexistent/broken-service"]}' \
                >"$TMPDIR_RUN/services/broken.json"
        "$BUSDCTL" reload
        local t0=$(date +%s%N)
        "$BUSDCTL" call org.example.Broken /org/example/Broken org.example.Broken Hello 2>&1 |
                sed 's/^/    /' || true
        info "answered in $((($(date +%s%N) - t0) / 1000000)) ms (not at a timeout)"

        step "echo-client: a method that fails (-m Fail)"
        "$BUILD/examples/echo-client" -m Fail || true

        step "echo-client: hand a 64 MiB payload (a sealed memfd) to Checksum, verify it there"
        "$BUILD/examples/echo-client" --payload-mib 64

        step "busdctl monitor: an Echo call and its reply, as the bus routes them"
        "$BUSDCTL" --timeout="$WAIT_TIMEOUT" monitor --limit 2 \
                "type='method_call',member='Echo'" "type='method_return',sender='org.example.Echo'" \
                >"$TMPDIR_RUN/monitor.out" 2>&1 &
        local monitor_pid=$!
        wait_for "the monitor to attach" monitor_attached || die "busdctl monitor did not attach"
        "$BUILD/examples/echo-client" '{"seen": "by the monitor"}' >/dev/null
        wait "$monitor_pid" || die "busdctl monitor failed: $(cat "$TMPDIR_RUN/monitor.out")"
        sed 's/^/    /' "$TMPDIR_RUN/monitor.out"

        step "busdctl list"
        "$BUSDCTL" list

        step "Stopping everything"
        cleanup

        # Beyond one machine: two buses bridged through a NATS cluster on loopback.
        "$SRCDIR/bridge/demo.sh" "$BUILD"

        info "done. To run a bus yourself:"
        info "  $BUILD/daemon/busd --address=/tmp/bus.sock &"
        info "  export BUSD_ADDRESS=/tmp/bus.sock"
        info "  $BUILD/examples/echo-service &   # or a service file: docs/DAEMON.md \"Activation\""
        info "  $BUILD/examples/echo-client -t 3"
        info "  $BUSDCTL list"
}

# ---- check ---------------------------------------------------------------------------------

FAILED_LOGS=()
BROKEN_BUILDS=()
EXTRA_PASSED=0
EXTRA_FAILED=0

# check_dir DIR ARGS...: configure + make check in DIR; never exits on test failure.
check_dir() {
        local dir=$1 rc=0
        shift
        bootstrap
        configure_dir "$dir" "$@"
        step "make -j2 check in $dir/"
        # Results of an earlier run must not stand in for a build that fails now.
        if [[ -d $dir ]]; then
                find "$dir" -name '*.trs' -not -path '*/_build/*' -print0 |
                        while IFS= read -r -d '' trs; do rm -f -- "$trs" "${trs%.trs}.log"; done
                rm -f -- "$dir/test-suite.log"
        fi
        make -C "$dir" -j2 check || rc=$?
        step "Test-suite summary for $dir/"
        if [[ -f $dir/test-suite.log ]]; then
                sed -n '/^# TOTAL:/,/^# ERROR:/p' "$dir/test-suite.log" | sed 's/^/    /'
        else
                info "no test-suite.log: the build failed before any test ran (make exit $rc)"
                BROKEN_BUILDS+=("$dir")
        fi
}

# The README's code block must be docs/readme-example.c verbatim, compile against the built
# library, and work against a real bus.
check_readme_example() {
        local dir=$BUILD exe="$BUILD/readme-example" out lib
        step "README example (docs/readme-example.c)"
        if ! awk '/^<!-- begin docs\/readme-example.c -->$/ { on = 1; next }
                  /^<!-- end docs\/readme-example.c -->$/ { on = 0 }
                  on && !/^```/' README.md | diff -u docs/readme-example.c - >"$dir/readme-diff.log"
        then
                info "README.md's code block differs from docs/readme-example.c:"
                sed 's/^/    /' "$dir/readme-diff.log"
                ((++EXTRA_FAILED))
                return 0
        fi
        lib=$(readlink -f "$dir/client/.libs/libbusclient.so" 2>/dev/null || true)
        # shellcheck disable=SC2046  # pkg-config output is meant to split into words
        if [[ -z $lib ]] || ! ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -Iclient -Iprotocol \
                $(pkg-config --cflags jansson) docs/readme-example.c -o "$exe" \
                "$lib" -Wl,-rpath,"$(dirname "$lib")" $(pkg-config --libs jansson) \
                >"$dir/readme-example.log" 2>&1; then
                info "does not compile against $dir/client/.libs/libbusclient.so:"
                sed 's/^/    /' "$dir/readme-example.log"
                ((++EXTRA_FAILED))
                return 0
        fi
        info "compiles; running it against a private bus"
        if ! start_bus "$dir"; then
                cleanup
                ((++EXTRA_FAILED))
                return 0
        fi
        spawn "$TMPDIR_RUN/readme-service.log" "$exe" service
        if ! "$dir/tools/busdctl" --timeout="$WAIT_TIMEOUT" wait org.example.Greeter; then
                info "the service never owned org.example.Greeter:"
                sed 's/^/    service: /' "$TMPDIR_RUN/readme-service.log"
                cleanup
                ((++EXTRA_FAILED))
                return 0
        fi
        out=$("$exe" client quickstart 2>&1) || true
        printf '%s\n' "$out" | sed 's/^/    /'
        cleanup
        if grep -q '^reply: Hello, quickstart!$' <<<"$out" &&
           grep -q '^signal Greeted from :' <<<"$out"; then
                ((++EXTRA_PASSED))
        else
                info "unexpected output"
                ((++EXTRA_FAILED))
        fi
}

# tally DIR...: add up Check's per-suite lines ("NN%: Checks: N, Failures: F, Errors: E") from
# each test's .log, and the automake result (.trs) of tests that print none (shell tests).
# A test whose .trs says FAIL/ERROR counts as at least one failure even if its Check lines are
# clean (a sanitizer report or crash after the suite ran). Sets TALLY_PASSED, TALLY_FAILED and
# appends the logs of failing tests to FAILED_LOGS.
TALLY_PASSED=0
TALLY_FAILED=0
tally() {
        local trs log res c f e lines p q bad
        while IFS= read -r trs; do
                log=${trs%.trs}.log
                res=$(sed -n 's/^:test-result: //p' "$trs" | sort -u | tr '\n' ' ')
                lines=$(grep -oE '[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' \
                        "$log" 2>/dev/null || true)
                p=0 q=0 bad=0
                if [[ $res == *FAIL* || $res == *ERROR* || $res == *XPASS* ]]; then
                        bad=1
                fi
                if [[ -n $lines ]]; then
                        while read -r _ _ c _ f _ e; do
                                c=${c%,} f=${f%,}
                                p=$((p + c - f - e)) q=$((q + f + e))
                        done <<<"$lines"
                        if ((bad && q == 0)); then
                                q=1
                        fi
                elif ((bad)); then
                        q=1
                elif [[ $res == *PASS* ]]; then
                        p=1
                fi
                TALLY_PASSED=$((TALLY_PASSED + p)) TALLY_FAILED=$((TALLY_FAILED + q))
                if ((q > 0)); then
                        FAILED_LOGS+=("$log")
                fi
        done < <(find "$@" -name '*.trs' -not -path '*/_build/*' 2>/dev/null | sort)
}

cmd_check() {
        ensure_packages
        check_dir "$BUILD" "${CONFIGURE_ARGS[@]}"
        check_readme_example
        check_dir "$BUILD_ASAN" "${CONFIGURE_ARGS_ASAN[@]}"

        local passed failed log
        tally "$BUILD" "$BUILD_ASAN"
        passed=$((TALLY_PASSED + EXTRA_PASSED))
        failed=$((TALLY_FAILED + EXTRA_FAILED + ${#BROKEN_BUILDS[@]}))

        if ((${#FAILED_LOGS[@]} > 0)); then
                step "Failing tests (last 30 lines of each log)"
                for log in "${FAILED_LOGS[@]}"; do
                        printf -- '--- %s\n' "$log"
                        tail -n 30 "$log" 2>/dev/null || echo "(no log)"
                done
        fi
        ((${#BROKEN_BUILDS[@]} == 0)) || info "build failed in: ${BROKEN_BUILDS[*]} (see above)"
        step "Result (Check suites + shell tests in $BUILD/ and $BUILD_ASAN/, + README example)"
        echo "$passed passed, $failed failed"
        ((failed == 0))
}

# ---- distcheck -----------------------------------------------------------------------------

cmd_distcheck() {
        ensure_packages
        build_dir "$BUILD" "${CONFIGURE_ARGS[@]}"
        step "make distcheck in $BUILD/"
        make -C "$BUILD" -j2 distcheck DISTCHECK_CONFIGURE_FLAGS="${CONFIGURE_ARGS[*]}"
}

usage() {
        sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

case ${1:-} in
demo) cmd_demo ;;
check) cmd_check ;;
distcheck) cmd_distcheck ;;
-h | --help | help) usage ;;
*)
        usage >&2
        exit 2
        ;;
esac
