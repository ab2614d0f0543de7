#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bridge/demo.sh BUILDDIR — two buses on one machine as two "hosts" (alpha and beta), bridged
# by two busd-bridge processes through a 3-node nats-server cluster on loopback ports: a call
# from alpha to examples/echo-service on beta, and beta's Tick signal crossing to alpha.
# Meant to follow the local demo of `./quickstart.sh demo`; runs on its own too. Everything
# lives in a fresh mktemp -d directory, removed on exit, with every process it started.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
WAIT_TIMEOUT=${QUICKSTART_WAIT_TIMEOUT:-10}
BUSDCTL="$BUILD/tools/busdctl"
PIDS=()
RUN=

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'bridge demo: %s\n' "$*" >&2; exit 1; }

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
        [[ -z $RUN ]] || rm -rf -- "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION COMMAND...: polling with a deadline (fine for a demo, not for tests).
wait_for() {
        local what=$1 deadline=$((SECONDS + WAIT_TIMEOUT))
        shift
        until "$@" >/dev/null 2>&1; do
                ((SECONDS < deadline)) || { info "timed out waiting for $what"; return 1; }
                sleep 0.05
        done
}
spawn() {
        local log=$1
        shift
        "$@" >"$log" 2>&1 &
        PIDS+=("$!")
}
show_logs() { for f in "$RUN"/*.log; do sed "s|^|    $(basename "$f" .log): |" "$f"; done; }

[[ -x $NATS_SERVER ]] || die "nats-server is not installed (apt-get install nats-server)"
[[ -x $BUILD/bridge/busd-bridge ]] || die "$BUILD/bridge/busd-bridge not built (libnats-dev missing?)"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/busd-bridge-demo.XXXXXX")

# A ports file appears once a node listens: its client URL, and its route URL.
ports_file() { ls "$RUN"/ports-$1/*.ports 2>/dev/null | head -1; }
port_of() { sed -n "s|.*\"$2\": *\[\"[a-z]*://127.0.0.1:\([0-9]*\)\".*|\1|p" "$(ports_file "$1")"; }
have_ports() { [[ -n $(ports_file "$1") && -n $(port_of "$1" cluster) ]]; }
start_nats() { # start_nats N [ROUTE_PORT]
        mkdir -p "$RUN/ports-$1"
        spawn "$RUN/nats$1.log" "$NATS_SERVER" -a 127.0.0.1 -p -1 -n "nats$1" \
                --cluster_name busd-demo --cluster nats://127.0.0.1:-1 \
                ${2:+--routes nats://127.0.0.1:$2} --ports_file_dir "$RUN/ports-$1"
        wait_for "nats-server $1" have_ports "$1" || { show_logs; die "nats-server $1 did not start"; }
}

step "A 3-node NATS cluster on loopback (random ports)"
start_nats 0
SEED=$(port_of 0 cluster)
start_nats 1 "$SEED"
start_nats 2 "$SEED"
for n in 0 1 2; do info "node $n: clients on 127.0.0.1:$(port_of $n nats)"; done

pings() { "$BUSDCTL" --address="$1" --timeout=1 call org.busd.Bus /org/busd/Bus org.busd.Bus Ping; }
for host in alpha beta; do
        step "busd for host $host on $RUN/$host.sock"
        echo '{}' >"$RUN/busd-$host.json"
        spawn "$RUN/busd-$host.log" "$BUILD/daemon/busd" --address="$RUN/$host.sock" \
                --config="$RUN/busd-$host.json"
        wait_for "busd $host" pings "$RUN/$host.sock" || { show_logs; die "busd $host did not start"; }
done

cat >"$RUN/bridge-beta.json" <<JSON
{"nats": {"servers": ["nats://127.0.0.1:$(port_of 1 nats)", "nats://127.0.0.1:$(port_of 2 nats)"]},
 "domain": "demo", "host": "beta", "bus": "$RUN/beta.sock",
 "exports": {"names": [{"name": "org.example.Echo", "interfaces": ["org.example.Echo"]}],
             "signals": ["type='signal',interface='org.example.Echo',member='Tick'"]}}
JSON
cat >"$RUN/bridge-alpha.json" <<JSON
{"nats": {"servers": ["nats://127.0.0.1:$(port_of 0 nats)"]},
 "domain": "demo", "host": "alpha", "bus": "$RUN/alpha.sock",
 "imports": {"names": [{"name": "org.example.Echo", "objects": [
                {"path": "/org/example/Echo", "interface": "org.example.Echo",
                 "methods": ["Echo", "Fail"]}]}],
             "signals": [{"host": "beta", "interface": "org.example.Echo", "member": "Tick"}]}}
JSON
owns_echo() { "$BUSDCTL" --address="$RUN/alpha.sock" --timeout=1 call org.busd.Bus /org/busd/Bus \
                org.busd.Bus GetNameOwner '{"name": "org.example.Echo"}'; }
step "busd-bridge on each host (beta exports org.example.Echo, alpha imports it)"
spawn "$RUN/bridge-beta.log" "$BUILD/bridge/busd-bridge" --config "$RUN/bridge-beta.json"
spawn "$RUN/bridge-alpha.log" "$BUILD/bridge/busd-bridge" --config "$RUN/bridge-alpha.json"
wait_for "alpha's bridge to own org.example.Echo" owns_echo || { show_logs; die "bridge not up"; }
info "on alpha, org.example.Echo is owned by the bridge: $(owns_echo 2>/dev/null | tr -d '\n')"

step "examples/echo-service on beta"
BUSD_ADDRESS="$RUN/beta.sock" spawn "$RUN/echo-service.log" "$BUILD/examples/echo-service"
wait_for "echo-service" "$BUSDCTL" --address="$RUN/beta.sock" --timeout=1 wait org.example.Echo ||
        { show_logs; die "echo-service did not start"; }

echo_works() { BUSD_ADDRESS="$RUN/alpha.sock" "$BUILD/examples/echo-client" '{"warm": "up"}'; }
# NATS spreads a new subscription's interest over the cluster's routes in a moment.
wait_for "the first call across" echo_works || { show_logs; die "no call across hosts"; }

step "On alpha: echo-client calls org.example.Echo (served on beta), then waits for a Tick from beta"
BUSD_ADDRESS="$RUN/alpha.sock" "$BUILD/examples/echo-client" -t 1 '{"hello": "from host alpha"}'

step "On alpha: a method that fails on beta keeps its error name"
BUSD_ADDRESS="$RUN/alpha.sock" "$BUILD/examples/echo-client" -m Fail || true

step "Stopping everything"
cleanup
RUN=
info "done: see docs/BRIDGE.md for the subjects, the semantics and the configuration."
