#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-systemd-boot.sh — the shipped units under a real systemd.
#
# Boots systemd as PID 1 of private pid/mount/cgroup/uts namespaces (fresh
# tmpfs on /run, /tmp, /var/tmp and /var/log before systemd starts, so its
# boot-time cleanup cannot touch the machine's), with systemd/busd.socket and
# systemd/busd.service (all its sandboxing kept; only ExecStart points at the
# binary under test). systemd's own READY=1 (via tests/busd-launch) says when
# boot is done. Then, driven with systemctl inside the namespaces and
# busdctl from outside (through /proc/PID/root):
#  - the socket is listening and the service not started before a client;
#  - the first client starts busd (Type=notify reaches "active") and is
#    served; the service reports its status text and logs to the journal;
#  - systemctl reload (ExecReload: SIGHUP) leaves the same busd running;
#  - systemctl stop ends busd cleanly (Result=success, exit 0) while the
#    socket stays; the next client starts it again;
#  - stopping the socket removes the socket file.
# Needs root, unshare and systemd; skips (77) otherwise. Ends with
# "N passed, M failed".
set -u

builddir=$(pwd)
srcdir=${srcdir:-$(dirname "$0")/..}
BUSD_BINARY=${BUSD_BINARY:-$builddir/daemon/busd}
BUSDCTL=${BUSDCTL:-$builddir/tools/busdctl}
BUSD_LAUNCH=${BUSD_LAUNCH:-$builddir/tests/busd-launch}
SYSTEMD=${SYSTEMD:-/lib/systemd/systemd}
WAIT=20 # upper bound (seconds) for anything awaited; a deadline, not a delay

skip() { echo "test-systemd-boot: $1; skipping"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create namespaces"
[ -x "$SYSTEMD" ] || skip "$SYSTEMD not found"
for tool in unshare nsenter systemctl; do
        command -v "$tool" >/dev/null || skip "$tool not installed"
done
unset BUSD_ADDRESS LISTEN_FDS LISTEN_PID NOTIFY_SOCKET

passed=0
failed=0
upid=
dir=$(mktemp -d "${TMPDIR:-/tmp}/busd-boot-XXXXXX") || exit 1
cleanup() {
        # unshare --kill-child turns this SIGTERM into SIGKILL for the
        # namespace's PID 1, which ends everything inside.
        [ -n "$upid" ] && "$BUSD_LAUNCH" stop "$upid" >/dev/null 2>&1
        rm -rf "$dir"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
check() { # check DESCRIPTION COMMAND...
        local what=$1
        shift
        if "$@"; then ok "$what"; else not_ok "$what"; fi
}
equals() { [ "$1" = "$2" ] || { echo "    expected '$2', got '$1'"; return 1; }; }

# ---- the machine inside --------------------------------------------------------
mkdir "$dir/units"
cp "$srcdir/systemd/busd.socket" "$dir/units/"
sed -e "s|@bindir@/busd|/run/busd-test/busd|" -e "s|@docdir@|/usr/share/doc/busd|" \
        "$srcdir/systemd/busd.service.in" >"$dir/units/busd.service"
cat >"$dir/units/busd-test.target" <<'UNIT'
[Unit]
Description=busd test boot target
Wants=busd.socket
After=busd.socket
UNIT
cp "$BUSD_BINARY" "$dir/busd"

cat >"$dir/boot.sh" <<'BOOT'
#!/bin/bash
# Runs as PID 1 of the new namespaces, then becomes systemd.
set -eu
dir=$1
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/busd-test /run/systemd/system /run/host
cp "$dir/busd" /run/busd-test/busd
cp "$dir/units/"* /run/systemd/system/
# Keep the notify socket reachable once /tmp is covered.
mount --bind "$dir" /run/host
export NOTIFY_SOCKET=/run/host/${NOTIFY_SOCKET##*/}
for d in /tmp /var/tmp /var/log; do mount -t tmpfs tmpfs "$d"; done
exec "$SYSTEMD" --unit=busd-test.target
BOOT
chmod +x "$dir/boot.sh"

if ! upid=$(SYSTEMD=$SYSTEMD "$BUSD_LAUNCH" start "$dir" /usr/bin/unshare --fork --kill-child \
        --pid --mount --cgroup --uts --mount-proc --propagation private "$dir/boot.sh" "$dir"); then
        upid=
        sed 's/^/    boot: /' "$dir/busd.log"
        not_ok "systemd boots in private namespaces and reports READY=1"
        echo "$passed passed, $failed failed"
        exit 1
fi
ok "systemd boots in private namespaces and reports READY=1"
read -r sd _ <"/proc/$upid/task/$upid/children"
ns() { nsenter -t "$sd" -m -p -- "$@"; }
prop() { ns systemctl show -P "$1" "$2"; }
sock=/proc/$sd/root/run/busd/system.sock
busdctl() { timeout "$WAIT" "$BUSDCTL" --address "$sock" "$@"; }

# ---- socket activation under systemd ------------------------------------------------
check "busd.socket is active" equals "$(prop ActiveState busd.socket)" active
check "busd.service waits for its first client" equals "$(prop ActiveState busd.service)" inactive
check "the socket is world-connectable (0666)" equals "$(stat -c %a "$sock")" 666

out=$(busdctl call org.busd.Bus /org/busd/Bus org.busd.Bus GetId)
check "the first client starts busd and is served" grep -Eq '"id": ?"[0-9a-f]{32}"' <<<"$out"
check "busd.service is active (Type=notify READY=1 reached systemd)" \
        equals "$(prop ActiveState busd.service)" active
check "busd.service runs as Type=notify" equals "$(prop Type busd.service)" notify
check "busd told systemd its status" grep -q "socket passed by systemd" <<<"$(prop StatusText busd.service)"
check "busd's log reaches the journal" \
        grep -q "socket passed by systemd" <<<"$(ns journalctl -u busd.service -o cat --no-pager)"
out=$(busdctl --json=short list)
check "busdctl list sees the bus under systemd" grep -q '"org.busd.Bus"' <<<"$out"

# ---- reload ---------------------------------------------------------------------------
# ExecReload sends SIGHUP; busd re-reads its (here absent) /etc/busd/busd.json
# and answers RELOADING=1 then READY=1. Had SIGHUP killed it, the Ping below
# would be served by a new busd that systemd started for it: compare MainPIDs.
mainpid=$(prop MainPID busd.service)
ns systemctl reload busd.service
check "systemctl reload busd.service succeeds (ExecReload)" equals "$?" 0
out=$(busdctl call org.busd.Bus /org/busd/Bus org.busd.Bus Ping)
check "busd answers after the reload" equals "$out" "{}"
check "the same busd survived SIGHUP" equals "$(prop MainPID busd.service)" "$mainpid"
check "busd.service is active after the reload" equals "$(prop ActiveState busd.service)" active

# ---- stop and restart without losing the socket -------------------------------------
ns systemctl stop busd.service
check "systemctl stop: busd exits cleanly" equals "$(prop Result busd.service)" success
check "systemctl stop: exit status 0" equals "$(prop ExecMainStatus busd.service)" 0
check "the socket survives a service stop" equals "$(prop ActiveState busd.socket)" active
out=$(busdctl call org.busd.Bus /org/busd/Bus org.busd.Bus Ping)
check "the next client starts busd again" equals "$out" "{}"
check "busd.service is active again" equals "$(prop ActiveState busd.service)" active

ns systemctl stop busd.socket busd.service
check "stopping the socket removes it (RemoveOnStop)" test ! -e "$sock"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
