#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-systemd-boot.sh — the shipped units under a real systemd.
#
# Boots systemd as PID 1 of private namespaces (tests/systemd-ns.sh: fresh
# tmpfs on /run, /tmp, /var/tmp and /var/log before systemd starts, so its
# boot-time cleanup cannot touch the machine's), with systemd/busd.socket (as
# configure generated it) and systemd/busd.service (all its sandboxing kept;
# only ExecStart points at the binary under test). systemd's own READY=1 (via tests/busd-launch) says when
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

. "${srcdir:-$(dirname "$0")/..}/tests/systemd-ns.sh"
sdns_init busd-boot
sdns_units
sdns_boot
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

sdns_finish
