#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-systemd-bridge.sh — busd-bridge.service under a real systemd.
#
# Boots systemd in private namespaces as tests/test-systemd-boot.sh does
# (tests/systemd-ns.sh), with the bus's units and systemd/busd-bridge.service
# as configure made it — all its sandboxing kept; only ExecStart points at the
# binary under test (and its configuration at a file in /run/busd-test/, not
# the machine's /etc), with the library it links beside it. A nats-server
# started by the test on a loopback port stands for the cluster (the
# namespaces share the machine's network). Then, with systemctl inside:
#  - the bridge starts and reaches "active" (Type=notify: READY=1 once both
#    the bus and NATS are connected), owns its imported name on the bus, and
#    logs to the journal;
#  - systemctl reload with an unusable file keeps the same process and the
#    name; with a good file without the import, the same process drops it;
#  - systemctl stop ends it cleanly (Result=success);
#  - a bridge NATS refuses (a token the server does not take) fails with
#    status 2 and is not restarted (RestartPreventExitStatus=2).
# Needs root, unshare, systemd, a bridge build and nats-server; skips (77)
# otherwise. Ends with "N passed, M failed".
set -u

. "${srcdir:-$(dirname "$0")/..}/tests/systemd-ns.sh"
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/bin/nats-server)}
bridge_elf=$builddir/bridge/.libs/busd-bridge
[ -x "$bridge_elf" ] || bridge_elf=$builddir/bridge/busd-bridge
if [ ! -f "$builddir/systemd/busd-bridge.service" ] || [ ! -x "$bridge_elf" ]; then
        echo "test-systemd-bridge: busd-bridge not built (configure --enable-bridge); skipping"
        exit 77
fi
if [ ! -x "$NATS_SERVER" ]; then
        echo "test-systemd-bridge: nats-server not installed; skipping"
        exit 77
fi
sdns_init busd-bridge-boot

nats_pid=
trap '[ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null; sdns_cleanup' EXIT
# It wants a token: the refused bridge below has another.
"$NATS_SERVER" -a 127.0.0.1 -p -1 --auth boot-token >"$dir/nats.log" 2>&1 &
nats_pid=$!
timeout "$WAIT" tail -F "$dir/nats.log" 2>/dev/null | grep -m1 -q "Server is ready"
port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/nats.log")
if [ -z "$port" ]; then
        sed 's/^/    nats: /' "$dir/nats.log"
        not_ok "nats-server listens on a loopback port"
        sdns_finish
fi

# The bridge and the library it links, beside busd in /run/busd-test.
cp "$bridge_elf" "$dir/stage/busd-bridge"
cp -L "$builddir/client/.libs/libbusclient.so.0" "$dir/stage/" 2>/dev/null
config() { # config NAME IMPORTS-JSON [NATS-EXTRA]
        cat >"$dir/stage/$1" <<JSON
{"nats": {"servers": ["nats://127.0.0.1:$port"], "reconnect_wait_ms": 100$3},
 "host": "alpha", "domain": "boot"$2}
JSON
        chmod 0600 "$dir/stage/$1"
}
import=', "imports": {"names": [{"name": "org.example.Remote", "objects":
   [{"path": "/org/example/Remote", "interface": "org.example.Remote", "methods": ["Ping"]}]}]}'
config bridge.json "$import" ', "token": "boot-token"'
config noimport.json "" ', "token": "boot-token"'
config refused.json "" ', "token": "not-the-servers"'
echo '{"nats": {"servers": []}}' >"$dir/stage/bad.json"

sdns_units
unit=$dir/units/busd-bridge.service
sed -e "s|^ExecStart=.*|ExecStart=/run/busd-test/busd-bridge --config /run/busd-test/bridge.json|" \
        "$builddir/systemd/busd-bridge.service" >"$unit"
printf '\n[Service]\nEnvironment=LD_LIBRARY_PATH=/run/busd-test\n' >>"$unit"
# The refused bridge: the same unit with another file.
sed -e "s|/run/busd-test/bridge.json|/run/busd-test/refused.json|" "$unit" \
        >"$dir/units/busd-bridge-refused.service"
sdns_boot
busdctl() { timeout "$WAIT" "$BUSDCTL" --address "$sock" "$@"; }
owner() { busdctl call org.busd.Bus /org/busd/Bus org.busd.Bus NameHasOwner \
        '{"name": "org.example.Remote"}' 2>/dev/null; }
journal() { ns journalctl -u "$1" -o cat --no-pager; }

# ---- start --------------------------------------------------------------------------
ns timeout "$WAIT" systemctl start busd-bridge.service
check "systemctl start busd-bridge.service succeeds" equals "$?" 0
check "busd-bridge.service is active (READY=1 reached systemd)" \
        equals "$(prop ActiveState busd-bridge.service)" active
check "it runs as Type=notify" equals "$(prop Type busd-bridge.service)" notify
check "its status names the host and domain" \
        grep -q "host alpha in domain boot" <<<"$(prop StatusText busd-bridge.service)"
check "it owns its imported name on the bus" grep -q true <<<"$(owner)"
check "its log reaches the journal" grep -q "ready: host alpha" <<<"$(journal busd-bridge.service)"

# ---- reload -------------------------------------------------------------------------
mainpid=$(prop MainPID busd-bridge.service)
cp "$dir/stage/bad.json" "/proc/$sd/root/run/busd-test/bridge.json"
ns timeout "$WAIT" systemctl reload busd-bridge.service
check "reload with an unusable file succeeds as a job" equals "$?" 0
check "the unusable file is refused in the journal" \
        grep -q "reload refused, the running configuration stays" <<<"$(journal busd-bridge.service)"
check "the same process goes on" equals "$(prop MainPID busd-bridge.service)" "$mainpid"
check "its status says the reload was refused" \
        grep -q "reload refused: .*bad.json\|reload refused: .*bridge.json" <<<"$(prop StatusText busd-bridge.service)"
check "the name is still owned" grep -q true <<<"$(owner)"

cp "$dir/stage/noimport.json" "/proc/$sd/root/run/busd-test/bridge.json"
ns timeout "$WAIT" systemctl reload busd-bridge.service
check "reload with a good file succeeds" equals "$?" 0
check "the same process took it" equals "$(prop MainPID busd-bridge.service)" "$mainpid"
check "it says so in the journal" \
        grep -q "0 imports; reconnecting" <<<"$(journal busd-bridge.service)"
check "its status no longer mentions the refused reload" \
        test -z "$(grep "refused" <<<"$(prop StatusText busd-bridge.service)")"
check "busd-bridge.service is active after the reload" \
        equals "$(prop ActiveState busd-bridge.service)" active
gone=no
for _ in $(seq 1 200); do # each NameHasOwner is a round trip: a bounded wait, no sleep
        grep -q false <<<"$(owner)" && { gone=yes; break; }
done
check "the import is gone with the new file" equals "$gone" yes

# ---- stop ---------------------------------------------------------------------------
ns timeout "$WAIT" systemctl stop busd-bridge.service
check "systemctl stop: the bridge exits cleanly" equals "$(prop Result busd-bridge.service)" success
check "systemctl stop: exit status 0" equals "$(prop ExecMainStatus busd-bridge.service)" 0

# ---- refused by NATS: status 2, no restart -------------------------------------------
ns timeout "$WAIT" systemctl start busd-bridge-refused.service
started=$?
[ "$started" -ne 0 ] || journal busd-bridge-refused.service | sed 's/^/    journal: /'
check "a bridge NATS refuses does not start" test "$started" -ne 0
check "it failed with status 2" equals "$(prop ExecMainStatus busd-bridge-refused.service)" 2
check "it is not restarted (RestartPreventExitStatus=2)" \
        equals "$(prop NRestarts busd-bridge-refused.service)" 0
check "the journal says why" \
        grep -q "Authorization Violation" <<<"$(journal busd-bridge-refused.service)"

sdns_finish
