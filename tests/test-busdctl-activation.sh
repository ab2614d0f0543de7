#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-busdctl-activation.sh — what busdctl shows of service activation and
# reloads is what the bus verified (docs/DAEMON.md "Activation", "Reload"),
# against a real busd on a private socket with its own service directory:
#  - list --activatable: a name of an invalid service file is shown with
#    state "invalid" and its error, never as an idle activatable name
#    (table and --json agree); status NAME says the same; status of the bus
#    counts invalid service files;
#  - reload with a bad configuration: the bus's reason on stderr, exit 1,
#    nothing in force (a new service file stays unlisted), and the bus's log
#    claims no part of the reload happened;
#  - a driver call the bus refuses (limits.driver_call_bytes) makes list
#    --activatable and status NAME fail with the bus's error instead of
#    leaving a name out or showing a state nobody checked;
#  - one command starts a service at most once: call (its argument check
#    included), get-property of two properties, introspect and tree of a
#    service that fails to start each count one start and one failure in
#    GetStats.
# Ends with "N passed, M failed" and exits 1 on failure.
#
# Run from the top of the build tree (as "make check" does), or set
# BUSD_BINARY, BUSDCTL, BUSD_LAUNCH.
set -u

TEST_NAME=test-busdctl-activation
. "${srcdir:-.}/tests/busdctl-lib.sh"
busdctl_lib_init

config=$dir/busd.json
services=$dir/services
mkdir "$services" || exit 1
echo '{}' >"$config"
cat >"$services/good.json" <<'JSON'
{"names": ["org.example.ActGood"], "exec": ["/bin/true"], "description": "a valid file"}
JSON
cat >"$services/bad.json" <<'JSON'
{"names": ["org.example.ActBad"], "exec": ["relative/path"]}
JSON
echo '{"names": [' >"$services/garbage.json"

busd_pid=$("$BUSD_LAUNCH" start "$dir" "$BUSD_BINARY" --address "$bus" --config "$config" \
        --log-level info)
if [ -z "$busd_pid" ]; then
        echo "$TEST_NAME: busd did not start" >&2
        cat "$dir/busd.log" >&2
        echo "$passed passed, $((failed + 1)) failed"
        exit 1
fi
export BUSD_ADDRESS=$bus
log=$dir/busd.log

check "the bus counts only valid files' names as activatable" \
        'grep -qF "service files loaded: 1 activatable names, 2 invalid files" "$log"'

# ---- list --activatable ----
ctl list --activatable
check "list --activatable: the invalid file's name is shown invalid, the valid one idle" \
        '[[ $rc == 0 ]] &&
        has_out "^org\.example\.ActBad +invalid +- +0 +0 +$services/bad\.json$" &&
        has_out "^org\.example\.ActGood +idle +- +0 +0 +$services/good\.json$"'
check "list --activatable: the legend counts them apart and gives the reason" \
        'has_out "^1 activatable names listed, and 1 names of invalid service files\.$" &&
        has_out "^org\.example\.ActBad: $services/bad\.json: exec\[0\]: must be an absolute path$"'
ctl list --activatable --no-legend
check "list --activatable --no-legend: rows only" '[[ $rc == 0 ]] && [[ $(lines_out) == 2 ]]'
ctl --json=short list --activatable
check "list --activatable --json: the same state and the error" \
        '[[ $rc == 0 ]] && [[ $(lines_out) == 1 ]] &&
        has_out "\{\"name\":\"org\.example\.ActBad\",\"state\":\"invalid\",[^}]*\"error\":\"$services/bad\.json: exec\[0\]: must be an absolute path\"" &&
        has_out "\{\"name\":\"org\.example\.ActGood\",\"state\":\"idle\"" &&
        ! has_out "\"name\":\"org\.example\.ActGood\"[^}]*\"error\""'

# ---- status ----
ctl status org.example.ActBad
check "status NAME of an invalid file: state invalid and the error" \
        '[[ $rc == 0 ]] && has_out "^Activation\.State=invalid$" &&
        has_out "^Activation\.FileError=$services/bad\.json: exec\[0\]: must be an absolute path$"'
ctl status
check "status of the bus: activatable names and invalid service files apart" \
        '[[ $rc == 0 ]] && has_out "^ActivatableNames=1$" &&
        has_out "^Activation\.InvalidServiceFiles=2$"'

# ---- calls still hear the error ----
ctl call org.example.ActBad /x org.example.X M
check "a call to the invalid file's name: ActivationFailed naming the file" \
        '[[ $rc != 0 ]] && has_err "org\.busd\.Error\.ActivationFailed: invalid-service-file: org\.example\.ActBad: $services/bad\.json"'
ctl list --activatable --no-legend
check "after the failed call it is still invalid (not failed, not idle), the failure counted" \
        'has_out "^org\.example\.ActBad +invalid +- +0 +[1-9][0-9]* "'

# ---- a reload that fails changes nothing and claims nothing ----
cat >"$services/later.json" <<'JSON'
{"names": ["org.example.ActLater"], "exec": ["/bin/true"]}
JSON
echo '{"limits": {"names_per_connection": 0}}' >"$config"
ctl reload
check "reload with a bad file: the bus's reason, exit 1" '[[ $rc == 1 ]] &&
        has_err "^busdctl: reload failed: org\.busd\.Error\.ConfigInvalid: $config: limits\.names_per_connection: must be an integer from 1 to 512$"'
ctl list --activatable --no-legend
check "reload failed: the new service file is not in force" \
        '[[ $rc == 0 ]] && ! has_out "ActLater"'
check "reload failed: logged with the reason, and no part claims it was reloaded" \
        'grep -qF "configuration reload failed, the old configuration stays in force (with the policy and service files): $config: limits.names_per_connection" "$log" &&
        ! grep -qE "service files reloaded|configuration reloaded|policy re-read" "$log"'

# ---- fixed: each part says what changed ----
echo '{}' >"$config"
ctl reload
check "reload fixed: quiet, exit 0" '[[ $rc == 0 ]] && [[ ! -s $out ]] && [[ ! -s $err ]]'
ctl list --activatable --no-legend
check "reload fixed: the new file is in force" 'has_out "^org\.example\.ActLater +idle "'
check "reload fixed: each part's line" 'grep -qF "configuration reloaded: unchanged" "$log" &&
        grep -qF "policy re-read: 0 rules (0 before)" "$log" &&
        grep -qF "service files reloaded: 2 activatable names (1 added, 0 removed, 0 changed), 2 invalid files" "$log"'

# ---- a state the bus did not give is never shown ----
# limits.driver_call_bytes 8: "{}" (ListActivatableNames, ReloadConfig)
# passes, {"name": ...} (GetActivation) is refused LimitsExceeded.
echo '{"limits": {"driver_call_bytes": 8}}' >"$config"
ctl reload
check "reload: driver calls over 8 bytes refused from now on" '[[ $rc == 0 ]]'
ctl list --activatable
check "list --activatable: a refused GetActivation is an error, not a row" \
        '[[ $rc == 1 ]] && [[ ! -s $out ]] &&
        has_err "^busdctl: GetActivation org\.example\.ActBad failed: org\.busd\.Error\.LimitsExceeded: "'
ctl status org.example.ActBad
check "status NAME: a refused GetActivation is an error, not a guess" \
        '[[ $rc == 1 ]] && ! has_out "Activation\.State" &&
        has_err "^busdctl: GetActivation failed: org\.busd\.Error\.LimitsExceeded: "'
echo '{}' >"$config"
ctl reload
ctl list --activatable --no-legend
check "with the limit back, the rows are back" '[[ $rc == 0 ]] && [[ $(lines_out) == 3 ]]'

# ---- one command, at most one start ----
# GetStats' activation.starts and the sum of activation.failures.*.
activation_counts() {
        "$BUSDCTL" stats | awk '$1 == "activation.starts" { s = $2 }
                $1 ~ /^activation\.failures\./ { f += $2 } END { print s + 0, f + 0 }'
}
# The growth of both since $before, as "STARTS FAILURES".
counted() {
        local now
        now=$(activation_counts)
        echo $((${now% *} - ${before% *})) $((${now#* } - ${before#* }))
}
cat >"$services/fail.json" <<'JSON'
{"names": ["org.example.ActFail"], "exec": ["/bin/false"]}
JSON
ctl reload
check "reload: a service that exits at once is activatable" '[[ $rc == 0 ]]'
# Three failures in a row start back-off (limits.activation_backoff_failures);
# a reload that changes the file clears it, so each command starts afresh.
fresh() {
        echo "{\"names\": [\"org.example.ActFail\"], \"exec\": [\"/bin/false\", \"$1\"]}" \
                >"$services/fail.json"
        "$BUSDCTL" reload && before=$(activation_counts)
}
fresh 1
ctl call org.example.ActFail /x org.example.X M '{"a": 1}'
check "call: one start and one failure (the argument check starts nothing)" \
        '[[ $rc == 1 ]] && has_err "org\.busd\.Error\.ActivationFailed" && [[ $(counted) == "1 1" ]]'
fresh 2
ctl call --no-check org.example.ActFail /x org.example.X M '{"a": 1}'
check "call --no-check: the same one start" '[[ $rc == 1 ]] && [[ $(counted) == "1 1" ]]'
fresh 3
ctl get-property org.example.ActFail /x org.example.X A B
check "get-property of two: one start, the second is not started again" \
        '[[ $rc == 1 ]] && has_err "ActivationFailed" && has_err "ServiceUnknown" &&
        [[ $(counted) == "1 1" ]]'
fresh 4
ctl introspect org.example.ActFail /x
check "introspect: one start" '[[ $rc == 1 ]] && [[ $(counted) == "1 1" ]]'
fresh 5
ctl tree org.example.ActFail
check "tree NAME: one start" '[[ $(counted) == "1 1" ]]'

run "$BUSD_LAUNCH" stop "$busd_pid"
check "busd stops on SIGTERM" '[[ $rc == 0 ]]'
busd_pid=

busdctl_lib_finish
