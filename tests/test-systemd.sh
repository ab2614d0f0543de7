#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-systemd.sh — busd under systemd's own tools, on a private socket:
#  - socket activation: systemd-socket-activate owns the listening socket and
#    execs busd on the first connection; that first client must be served
#    (nothing lost while busd starts), busd must say it took the passed
#    socket, and on SIGTERM exit 0 without unlinking a socket it did not
#    create;
#  - the shipped units pass systemd-analyze verify (busd.service with its
#    ExecStart pointed at the binary under test).
# Skips (exit 77) where systemd's tools are missing. Ends with
# "N passed, M failed".
set -u

builddir=$(pwd)
srcdir=${srcdir:-$(dirname "$0")/..}
BUSD_BINARY=${BUSD_BINARY:-$builddir/daemon/busd}
BUSDCTL=${BUSDCTL:-$builddir/tools/busdctl}
WAIT=10 # upper bound (seconds) for anything awaited; a deadline, not a delay

for tool in systemd-socket-activate systemd-analyze; do
        if ! command -v "$tool" >/dev/null; then
                echo "test-systemd: $tool not installed; skipping"
                exit 77
        fi
done
unset BUSD_ADDRESS LISTEN_FDS LISTEN_PID LISTEN_FDNAMES NOTIFY_SOCKET

passed=0
failed=0
act_pid=
dir=$(mktemp -d "${TMPDIR:-/tmp}/busd-systemd-XXXXXX") || exit 1
cleanup() {
        [ -n "$act_pid" ] && kill "$act_pid" 2>/dev/null && wait "$act_pid" 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
        failed=$((failed + 1))
        echo "not ok - $1"
        [ -f "$dir/log" ] && sed 's/^/    log: /' "$dir/log"
}
check() { # check DESCRIPTION COMMAND...
        local what=$1
        shift
        if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# ---- socket activation ---------------------------------------------------------
sock=$dir/bus.sock
mkfifo "$dir/events"
systemd-socket-activate -l "$sock" "$BUSD_BINARY" --log-level debug 2>"$dir/events" &
act_pid=$!
# Copy the activator's (then busd's) stderr to a log, and wait for the event
# "Listening on" from the activator: the socket exists from then on.
exec 3<"$dir/events"
listening=no
while IFS= read -r -t "$WAIT" line <&3; do
        echo "$line" >>"$dir/log"
        case $line in *"Listening on"*) listening=yes; break ;; esac
done
cat <&3 >>"$dir/log" &
log_pid=$!
check "systemd-socket-activate listens on the private socket" test "$listening" = yes

# The first connection is what starts busd: it must be answered.
if out=$(timeout "$WAIT" "$BUSDCTL" --address "$sock" call org.busd.Bus /org/busd/Bus org.busd.Bus GetId); then
        ok "first client served by the socket-activated busd"
else
        not_ok "first client served by the socket-activated busd"
fi
check "GetId answers a 32-digit bus id" grep -Eq '"id": ?"[0-9a-f]{32}"' <<<"$out"
check "the activator exec'd busd in place" \
        test "$(readlink "/proc/$act_pid/exe")" = "$(readlink -f "$BUSD_BINARY")"
check "busd reports that it took the socket passed by systemd" \
        grep -q "socket passed by systemd" "$dir/log"
if out=$(timeout "$WAIT" "$BUSDCTL" --address "$sock" --json=short list); then
        ok "busdctl list works through the activated socket"
else
        not_ok "busdctl list works through the activated socket"
fi
check "the bus lists itself" grep -q '"org.busd.Bus"' <<<"$out"

kill -TERM "$act_pid"
wait "$act_pid"
status=$?
act_pid=
check "SIGTERM: busd exits 0 (got $status)" test "$status" -eq 0
check "busd leaves the socket it did not create in place" test -S "$sock"
wait "$log_pid" 2>/dev/null
exec 3<&-

# ---- unit files -------------------------------------------------------------------
units=$dir/units
mkdir "$units"
cp "$srcdir/systemd/busd.socket" "$units/"
sed -e "s|@bindir@/busd|$(readlink -f "$BUSD_BINARY")|" -e "s|@docdir@|/usr/share/doc/busd|" \
        "$srcdir/systemd/busd.service.in" >"$units/busd.service"
if systemd-analyze verify "$units/busd.socket" "$units/busd.service" >"$dir/verify" 2>&1; then
        ok "systemd-analyze verify accepts busd.socket and busd.service"
else
        sed 's/^/    /' "$dir/verify"
        not_ok "systemd-analyze verify accepts busd.socket and busd.service"
fi
check "busd.service is Type=notify" grep -qx 'Type=notify' "$units/busd.service"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
