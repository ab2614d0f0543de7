#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-systemd-activation.sh — service activation's systemd backend against a
# real systemd (docs/DAEMON.md "Activation").
#
# Boots systemd as PID 1 of private namespaces with tests/systemd-ns.sh (fresh tmpfs on /run, /tmp, /var/tmp and
# /var/log before systemd starts, so nothing of the machine's is touched),
# with the shipped busd.socket and busd.service (ExecStart pointed at the
# binary under test, with --config /run/busd-test/busd.json so that its
# service files are /run/busd-test/services) and a few test units. Then,
# with busdctl from outside (through /proc/PID/root):
#  - an activatable unit is started by the first call, which it answers;
#  - a unit whose start job fails, a masked unit, a unit that does not exist
#    and a unit that exits before taking its name are each answered at once
#    (well below the start deadline) with their failure class and reason;
#  - busd's own status (GetActivation) says what happened.
# The user manager (--user) is not covered here: a user manager needs a
# logged-in user's runtime directory, which the booted namespace does not
# provide (reported as a skip line).
# Needs root, unshare and systemd; skips (77) otherwise. Ends with
# "N passed, M failed".
set -u

. "${srcdir:-$(dirname "$0")/..}/tests/systemd-ns.sh"
SERVICE=${ACTIVATION_SERVICE:-$builddir/tests/activation-service}
FAST_MS=2000 # "at once": far below the 20 s start deadline, with room for a loaded host
[ -x "$SERVICE" ] || { echo "test-systemd-activation: $SERVICE not built; skipping"; exit 77; }
sdns_init busd-sdact
contains() { grep -qF -- "$2" <<<"$1" || { echo "    '$2' not in: $1"; return 1; }; }
below() { [ "$1" -lt "$2" ] || { echo "    $1 is not below $2"; return 1; }; }

# ---- the machine inside --------------------------------------------------------
# busd reads /run/busd-test/busd.json and the service files beside it.
mkdir -p "$dir/stage/services"
sdns_units -e "s|@bindir@/busd --system|/run/busd-test/busd --system --config /run/busd-test/busd.json|"
unit() { # unit NAME [Service] lines...
        local name=$1
        shift
        { printf '[Unit]\nDescription=busd activation test: %s\n\n[Service]\n' "$name"
          printf '%s\n' "$@"; } >"$dir/units/$name.service"
}
unit busd-act-ok "ExecStart=/run/busd-test/activation-service serve org.example.SdOk"
unit busd-act-fail "Type=oneshot" "ExecStart=/bin/sh -c 'exit 4'"
unit busd-act-exit "ExecStart=/bin/sh -c 'exit 3'"
# Runs, but never takes its name: the start's deadline (probe: its reason
# said the service "was killed", which only the exec backend does).
unit busd-act-hang "ExecStart=/run/busd-test/activation-service hang"
# Exits before taking its name, and systemd restarts it (Restart=): the unit
# goes to activating/auto-restart, never inactive (probe: callers waited for
# the whole start deadline).
unit busd-act-restart "ExecStart=/bin/sh -c 'exit 5'" "Restart=on-failure" "RestartSec=30s"
# Masked as "systemctl mask --runtime" does it: a link to /dev/null.
ln -s /dev/null "$dir/units/busd-act-masked.service"
service() { # service FILE NAME UNIT
        printf '{"names": ["%s"], "unit": "%s", "description": "systemd test"}\n' "$2" "$3" \
                >"$dir/stage/services/$1.json"
}
service ok org.example.SdOk busd-act-ok.service
service fail org.example.SdFail busd-act-fail.service
service exit org.example.SdExit busd-act-exit.service
service masked org.example.SdMasked busd-act-masked.service
service none org.example.SdNone busd-act-none.service
service restart org.example.SdRestart busd-act-restart.service
printf '{"names": ["org.example.SdHang"], "unit": "busd-act-hang.service", "start_timeout_ms": 300}\n' \
        >"$dir/stage/services/hang.json"
# The exec backend inside busd.service's sandbox (capabilities bounded to
# setuid/setgid/kill, system call filter), as nobody: the service is copied
# into the namespace's /run/busd-test (0755), so any checkout works.
exec_user=root
id nobody >/dev/null 2>&1 && exec_user=nobody
printf '{"names": ["org.example.SdExec"], "exec": ["%s", "serve", "org.example.SdExec"], "user": "%s"}\n' \
        /run/busd-test/activation-service "$exec_user" >"$dir/stage/services/exec.json"
# busd --system runs under the shipped system policy, where only root owns
# names: the exec service's user is granted its name, as a service's
# policy drop-in would.
printf '{"policy": {"rules": [{"id": "test-exec-own", "allow": "own", "name": "org.example.SdExec", "user": "%s"}]}}\n' \
        "$exec_user" >"$dir/stage/busd.json"
cp "$SERVICE" "$dir/stage/activation-service"
sdns_boot
busdctl() { timeout "$WAIT" "$BUSDCTL" --address "$sock" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

check "the masked test unit is masked" equals "$(prop LoadState busd-act-masked.service)" masked

# The first client starts busd itself (socket activation), then asks for the list.
out=$(busdctl list --activatable --no-legend)
check "busd lists the activatable names from its service files" contains "$out" org.example.SdOk

# ---- an activatable unit, started on the first call -----------------------------------
check "busd-act-ok.service is not running before the call" \
        equals "$(prop ActiveState busd-act-ok.service)" inactive
out=$(busdctl call org.example.SdOk /org/example/Act org.example.Act Echo '{"x": 1}' 2>&1)
check "the first call starts the unit and is answered by it" contains "$out" '"args"'
check "busd-act-ok.service is active after the call" \
        equals "$(prop ActiveState busd-act-ok.service)" active
out=$(busdctl status org.example.SdOk)
check "busdctl status shows the name running" contains "$out" "Activation.State=running"

# ---- the exec backend under busd.service's sandbox ----------------------------------------
out=$(busdctl call org.example.SdExec /org/example/Act org.example.Act Echo '{}' 2>&1)
check "an exec service starts on the first call under the sandboxed busd.service" \
        contains "$out" "BUSD_ACTIVATION_NAME=org.example.SdExec"
out=$(busdctl status org.example.SdExec)
check "it runs as its service file's user ($exec_user)" contains "$out" "User=$exec_user"

# ---- failures, each answered at once with its reason ------------------------------------
failure() { # failure DESCRIPTION NAME EXPECTED-TEXT...
        local what=$1 name=$2 t0 t1 out
        shift 2
        t0=$(now_ms)
        out=$(busdctl call "$name" /org/example/Act org.example.Act Echo 2>&1)
        t1=$(now_ms)
        echo "    $name answered in $((t1 - t0)) ms: $out"
        check "$what: ActivationFailed" contains "$out" "org.busd.Error.ActivationFailed"
        for text in "$@"; do
                check "$what: says \"$text\"" contains "$out" "$text"
        done
        check "$what: answered at once ($((t1 - t0)) ms < $FAST_MS ms)" below $((t1 - t0)) $FAST_MS
}
failure "a unit whose start job fails" org.example.SdFail "start-failed:" \
        'result "failed"' "Result=exit-code"
failure "a masked unit" org.example.SdMasked "masked:" "busd-act-masked.service is masked"
failure "a unit that does not exist" org.example.SdNone "not-found:" "busd-act-none.service"
failure "a unit that exits before taking its name" org.example.SdExit "exited:" \
        "went inactive before taking the name" "status 3"
failure "a unit that exits before taking its name and is restarted by systemd" \
        org.example.SdRestart "exited:" "status 5" "systemd restarts it"

out=$(busdctl call --no-check org.example.SdHang /org/example/Act org.example.Act Echo '{}' 2>&1)
check "a unit that never takes its name: the start's deadline" contains "$out" \
        "timeout: org.example.SdHang: the service did not take the name within"
check "a unit that never takes its name: left to systemd, not killed by busd" contains "$out" \
        "its unit is left to systemd"
check "a unit that never takes its name: still running under systemd" \
        equals "$(prop ActiveState busd-act-hang.service)" active

out=$(busdctl status org.example.SdExit)
check "busdctl status shows the failure" contains "$out" "Activation.LastFailure=exited:"
# (busdctl call introspects its destination first: two calls, two failures.)
out=$(busdctl --json=short status)
check "GetStats counts the failures by class" grep -Eq '"masked":[1-9].*"start-failed":[1-9]' <<<"$out"
# ---- structured journal records (docs/DAEMON.md "Logging") -------------------------
# A denial (a reserved name) and a forced disconnect (garbage instead of the
# preamble), then each kind read back by its MESSAGE_ID.
busdctl call org.busd.Bus /org/busd/Bus org.busd.Bus RequestName \
        '{"name": "org.busd.Mine", "flags": 0}' >/dev/null 2>&1
if command -v python3 >/dev/null; then
        python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall(b"\xff" * 64); s.settimeout(5)
while s.recv(4096): pass' "$sock" 2>/dev/null
fi
ns journalctl --sync 2>/dev/null
journal() { ns journalctl -o export --no-pager "MESSAGE_ID=$1" 2>/dev/null; }
out=$(journal 41db95f2db0d4c29a1d110cb516a583a)
check "activation failure record: BUSD_NAME" contains "$out" "BUSD_NAME=org.example.SdMasked"
check "activation failure record: BUSD_FAILURE" contains "$out" "BUSD_FAILURE=masked"
check "activation failure record: BUSD_SERVICE_FILE" contains "$out" \
        "BUSD_SERVICE_FILE=/run/busd-test/services/masked.json"
check "activation failure record: a timeout's class" contains "$out" "BUSD_FAILURE=timeout"
check "activation failure record: the caller's uid" contains "$out" "BUSD_UID=0"
# busdctl runs outside the namespace's pid namespace: pid 0, comm "-" there.
check "activation failure record: the caller's pid" contains "$out" "BUSD_PID="
check "activation failure record: the caller's comm" contains "$out" "BUSD_COMM="
check "activation failure record: the caller's gid" contains "$out" "BUSD_GID=0"
check "activation failure record: priority warning" contains "$out" "PRIORITY=4"
out=$(journal e2d9821984394426ae6173f9cf97aa24)
check "denial record: BUSD_REASON" contains "$out" "BUSD_REASON=AccessDenied"
check "denial record: BUSD_PEER" grep -q '^BUSD_PEER=:1\.' <<<"$out"
if command -v python3 >/dev/null; then
        out=$(journal 8e7574d2c62d4c288ba7ea9cd86a6124)
        check "forced disconnect record: BUSD_REASON" contains "$out" \
                "BUSD_REASON=protocol-violation"
else
        echo "test-systemd-activation: no python3 to send garbage: forced disconnect record not checked (skip)"
fi

echo "test-systemd-activation: the user manager (--user) is not tested: no user session in the namespace (skip)"

[ "$failed" -eq 0 ] || ns journalctl -u busd.service -o cat --no-pager | sed 's/^/    busd: /'
sdns_finish
