#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-busdctl.sh — busdctl end to end against a real busd on a private socket.
#
# Starts busd in a fresh mktemp -d directory (tests/busd-launch waits for its
# READY=1), starts peers (tests/busdctl-peer) that own names and serve
# methods, and drives every verb in human and --json forms, checking output
# and exit statuses. Ends with "N passed, M failed" and exits 1 on failure.
#
# Run from the top of the build tree (as "make check" does), or set
# BUSD_BINARY, BUSDCTL, BUSD_LAUNCH, BUSDCTL_PEER.
set -u

TEST_NAME=test-busdctl
. "${srcdir:-.}/tests/busdctl-lib.sh"
BUSDCTL_PEER=${BUSDCTL_PEER:-$builddir/tests/busdctl-peer}
busdctl_lib_init "$BUSDCTL_PEER"
peer_pids=()
test_cleanup() {
        local p
        for p in "${peer_pids[@]}"; do
                kill "$p" 2>/dev/null
        done
}

# start_peer VAR [--fork] NAME...: start a peer; sets VAR_unique and VAR_pid and
# VAR_results from its READY line.
start_peer() {
        local var=$1 fifo word unique pid results launched
        shift
        fifo=$dir/peer-$var
        mkfifo "$fifo" || return 1
        if [ "${1:-}" = --fork ]; then
                shift
                "$BUSDCTL_PEER" --fork "$bus" "$@" >"$fifo" 2>>"$dir/peers.log" &
        else
                "$BUSDCTL_PEER" "$bus" "$@" >"$fifo" 2>>"$dir/peers.log" &
        fi
        launched=$!
        if ! read -r -t "$WAIT" word unique pid results <"$fifo" || [ "$word" != READY ]; then
                echo "test-busdctl: peer $var did not start" >&2
                kill "$launched" 2>/dev/null
                cat "$dir/peers.log" >&2
                return 1
        fi
        # With --fork the serving process is the child it reported.
        peer_pids+=("$pid")
        [ "$launched" = "$pid" ] || wait "$launched"
        printf -v "${var}_unique" '%s' "$unique"
        printf -v "${var}_pid" '%s' "$pid"
        printf -v "${var}_results" '%s' "$results"
}

# await_match_rules PID N: until the bus reports N match rules for the busdctl
# with that PID (so a background "wait" is listening before we change names).
# Each try is a round trip to the bus, never a sleep.
await_match_rules() {
        local i
        for ((i = 0; i < 500; i++)); do
                if "$BUSDCTL" --json=short status "$1" 2>/dev/null | grep -q "\"match_rules\":$2"; then
                        return 0
                fi
                kill -0 "$1" 2>/dev/null || return 1
        done
        return 1
}

# json_int FILE KEY: the integer value of "KEY": in a compact JSON document.
json_int() {
        sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1" | head -n1
}

# ---- running busdctl as another user (uid 65534) ----
# The build tree may sit in a 0700 directory (a clone in /root or in a
# mktemp -d), which uid 65534 cannot enter: it could not run $BUSDCTL nor load
# libbusclient from there. nobody_setup copies the real busdctl binary (not
# libtool's wrapper script) and each library it loads that uid 65534 cannot
# read into $dir/nobody-bin (the directories of those it can read go on its
# library path), and proves the copy runs as that user. On success
# "nobody_ctl ARGS..." runs busdctl as uid 65534 like ctl; on failure
# nobody_why says why (the caller skips with it).
NOBODY=65534
nobody_ready=
nobody_why=
nobody_libpath=
as_nobody() {
        setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"
}
nobody_setup() {
        local real lib bin=$dir/nobody-bin
        [ -n "$nobody_ready" ] && return 0
        if [ "$(id -u)" != 0 ]; then
                nobody_why="not root"
                return 1
        fi
        if ! command -v setpriv >/dev/null 2>&1; then
                nobody_why="setpriv(1) not installed"
                return 1
        fi
        # The test directory holds the bus socket: uid 65534 must reach it.
        chmod 0755 "$dir"
        if ! as_nobody test -x "$dir"; then
                nobody_why="uid $NOBODY cannot reach $dir (TMPDIR=${TMPDIR:-} is not searchable by others)"
                return 1
        fi
        real=$BUSDCTL
        if ! head -c4 "$real" | grep -q ELF; then
                real=$(dirname "$BUSDCTL")/.libs/$(basename "$BUSDCTL")
        fi
        mkdir -p "$bin" && chmod 0755 "$bin" && cp "$real" "$bin/busdctl" && chmod 0755 "$bin/busdctl" ||
                { nobody_why="cannot copy $real to $bin"; return 1; }
        # The libraries as libtool's wrapper would load them: the build tree's first.
        nobody_libpath=$bin
        while read -r lib; do
                if as_nobody test -r "$lib"; then
                        nobody_libpath+=:$(dirname "$lib")
                elif ! cp "$lib" "$bin/"; then
                        nobody_why="cannot copy $lib to $bin"
                        return 1
                fi
        done < <(LD_LIBRARY_PATH=$builddir/client/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
                ldd "$bin/busdctl" | sed -n 's/.* => \(\/[^ ]*\) .*/\1/p')
        chmod -R a+rX "$bin"
        if ! as_nobody env LD_LIBRARY_PATH="$nobody_libpath" "$bin/busdctl" --version \
                >"$dir/nobody.out" 2>&1; then
                nobody_why="busdctl copied to $bin does not run as uid $NOBODY: $(head -n3 "$dir/nobody.out")"
                return 1
        fi
        nobody_ready=1
}
nobody_ctl() {
        run as_nobody env LD_LIBRARY_PATH="$nobody_libpath" "$dir/nobody-bin/busdctl" "$@"
}

############################################################################
# Without a bus
############################################################################

ctl --version
check "--version prints the version" '[[ $rc == 0 ]] && has_out "^busdctl [0-9]+\.[0-9]+"'

ctl --help
check "--help lists every verb" '[[ $rc == 0 ]] && has_out "^  list " && has_out "^  status " &&
        has_out "^  call " && has_out "^  emit " && has_out "^  wait " && has_out "^  stats "'
check "--help offers monitor" 'has_out "^  monitor +Show the bus.s traffic"'
check "--help offers reload" 'has_out "^  reload +Make the bus re-read its configuration file"'
ctl reload --help
check "reload --help names the driver method" '[[ $rc == 0 ]] && has_out "busdctl \[OPTIONS...\] reload$" &&
        has_out "ReloadConfig"'
ctl --address "$dir/nobus.sock" reload now
check "reload takes no arguments" '[[ $rc == 2 ]] && has_err "reload got too many arguments"'
ctl monitor --help
check "monitor --help shows --limit, --pcap and the capture format" '[[ $rc == 0 ]] &&
        has_out "busdctl \[OPTIONS...\] monitor \[MATCH...\]" && has_out "--limit=N" &&
        has_out "--pcap=FILE" && has_out "USER0 = 147"'
ctl --address "$dir/nobus.sock" monitor "type='bogus'"
check "monitor refuses an invalid match rule before connecting" '[[ $rc == 2 ]] &&
        has_err "invalid match rule" && ! has_err "no bus"'
ctl --address "$dir/nobus.sock" monitor --limit 0
check "monitor refuses --limit 0" '[[ $rc == 2 ]] && has_err "invalid --limit"'
ctl list --limit 1
check "--limit is for monitor only" '[[ $rc == 2 ]] && has_err "list does not take --limit"'

ctl call --help
check "call --help shows the verb's usage" '[[ $rc == 0 ]] &&
        has_out "busdctl \[OPTIONS...\] call DEST PATH INTERFACE METHOD \[JSON\|@FILE\|-\]" &&
        has_out "--no-reply" && has_out "--no-check"'
ctl wait --help
check "wait --help shows --gone" '[[ $rc == 0 ]] && has_out "--gone"'

ctl
check "no verb is a usage error" '[[ $rc == 2 ]] && has_err "no verb" && has_err "busdctl --help"'
ctl frobnicate
check "an unknown verb is a usage error with a hint" '[[ $rc == 2 ]] &&
        has_err "unknown verb .frobnicate." && has_err "Try .busdctl --help."'
ctl list --gone
check "a verb option on the wrong verb is refused" '[[ $rc == 2 ]] && has_err "list does not take --gone"'
ctl --timeout abc stats
check "an invalid --timeout is refused" '[[ $rc == 2 ]] && has_err "invalid --timeout"'
for t in 0 -1 inf; do
        ctl --timeout "$t" stats
        check "--timeout $t is refused" '[[ $rc == 2 ]] && has_err "invalid --timeout"'
done
ctl --json=yaml stats
check "an invalid --json value is refused" '[[ $rc == 2 ]] && has_err "invalid --json"'
ctl call org.example.A /a org.example.A
check "call with too few arguments is refused" '[[ $rc == 2 ]] && has_err "needs more arguments"'

ctl --address "$dir/nobus.sock" list
check "no bus: the error says where and what to do" '[[ $rc == 1 ]] &&
        grep -qxF "busdctl: no bus at $dir/nobus.sock: is busd running? set BUSD_ADDRESS or pass --address" "$err"'
BUSD_ADDRESS=$dir/other.sock run "$BUSDCTL" stats
check "BUSD_ADDRESS is the default address" '[[ $rc == 1 ]] && has_err "no bus at $dir/other.sock"'

ctl --address "$dir/nobus.sock" call org.example.A /a org.example.A M '{"a": '
check "invalid JSON exits 2 before connecting" '[[ $rc == 2 ]] && has_err "not valid JSON" &&
        ! has_err "no bus"'
ctl --address "$dir/nobus.sock" call org.example.A bad/path org.example.A M
check "an invalid object path exits 2 before connecting" '[[ $rc == 2 ]] &&
        has_err "invalid object path" && ! has_err "no bus"'
ctl --address "$dir/nobus.sock" wait "not a name"
check "wait refuses an invalid name" '[[ $rc == 2 ]] && has_err "invalid name"'

############################################################################
# A real bus
############################################################################

# Our own configuration file (for reload below), never the host's.
config=$dir/busd.json
echo '{}' >"$config"
busd_pid=$("$BUSD_LAUNCH" start "$dir" "$BUSD_BINARY" --address "$bus" --config "$config" \
        --log-level debug)
if [ -z "$busd_pid" ]; then
        echo "test-busdctl: busd did not start" >&2
        cat "$dir/busd.log" >&2
        echo "$passed passed, $((failed + 1)) failed"
        exit 1
fi
export BUSD_ADDRESS=$bus

ctl --json=short stats
base_names=$(json_int "$out" names)
check "stats --json=short is one document" '[[ $rc == 0 ]] && [[ $(lines_out) == 1 ]] &&
        has_out "^\{.*\"peers\":1[,}]" && [[ -n $base_names ]]'

start_peer A org.example.Alpha org.example.Shared || exit 1
start_peer B org.example.Beta org.example.Shared || exit 1
check "peers got their names (B is queued for Shared)" '[[ $A_results == "1 1" && $B_results == "1 2" ]]'

# ---- list ----
ctl list
check "list: header and no colour off a terminal" '[[ $rc == 0 ]] &&
        has_out "^NAME +UNIQUE +PID +UID +USER +PROCESS +CONNECTED +QUEUED$" && ! grep -q $'"'"'\e'"'"' "$out"'
check "list: a well-known name with its owner, PID, user and process" \
        'has_out "^org\.example\.Alpha +$A_unique +$A_pid +$(id -u) +$(id -un) +(lt-)?busdctl-peer +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +0$"'
check "list: queued owners are counted" 'has_out "^org\.example\.Shared +$A_unique .* 1$"'
check "list: the bus itself and unique names are listed" 'has_out "^org\.busd\.Bus " &&
        has_out "^$A_unique +$A_unique " && has_out "^$B_unique +$B_unique "'
first_unique=$(grep -n '^:' "$out" | head -n1 | cut -d: -f1)
last_wellknown=$(grep -n '^[a-z]' "$out" | tail -n1 | cut -d: -f1)
check "list: well-known names sort before unique names" '[[ $last_wellknown -lt $first_unique ]]'
check "list: a footer counts the names" 'has_out "^[0-9]+ names listed\.$"'

ctl --no-legend list
check "list --no-legend: no header, no footer" '[[ $rc == 0 ]] && ! has_out "^NAME" && ! has_out "listed"'
ctl --no-legend list --unique
check "list --unique: only unique names" '[[ $rc == 0 ]] && [[ $(lines_out) -ge 2 ]] &&
        ! grep -qv "^:" "$out"'
ctl --no-legend list --acquired
check "list --acquired: only well-known names" '[[ $rc == 0 ]] && has_out "^org\.example\.Beta " &&
        ! grep -q "^:" "$out"'
ctl list --json=short
check "list --json=short: one compact array of objects" '[[ $rc == 0 ]] && [[ $(lines_out) == 1 ]] &&
        has_out "^\[\{.*\}\]$" &&
        has_out "\{\"name\":\"org\.example\.Alpha\",\"unique_name\":\"$A_unique\",\"pid\":$A_pid,\"uid\":$(id -u),"'
check "list --json=short: queued and comm fields" \
        'has_out "\"name\":\"org\.example\.Shared\"[^}]*\"comm\":\"(lt-)?busdctl-peer\"[^}]*\"queued\":1\}"'
ctl --json=pretty list
check "list --json=pretty is indented" '[[ $rc == 0 ]] && [[ $(lines_out) -gt 10 ]] &&
        has_out "^    \"name\": \"org\.example\.Alpha\","'

# More names than one ListNames page holds (512, PROTOCOL.md section 7):
# busdctl list follows the pages and shows every one of them once.
many_pids=()
for i in 1 2 3 4 5 6 7 8 9; do
        names=()
        for j in $(seq 1 500); do names+=("org.example.Many$i.N$j"); done
        start_peer "M$i" "${names[@]}" || exit 1
        many_pids+=("$(eval echo "\$M${i}_pid")")
done
ctl --no-legend list --acquired
check "list follows ListNames's pages: 4500 extra names, each once" '[[ $rc == 0 ]] &&
        [[ $(grep -c "^org\.example\.Many" "$out") == 4500 ]] &&
        [[ $(grep "^org\.example\.Many" "$out" | cut -d" " -f1 | sort -u | wc -l) == 4500 ]] &&
        has_out "^org\.example\.Alpha "'
for p in "${many_pids[@]}"; do
        kill "$p" 2>/dev/null
done
gone=0
for i in 1 2 3 4 5 6 7 8 9; do
        ctl --timeout "$WAIT" wait --gone "$(eval echo "\$M${i}_unique")"
        [[ $rc == 0 ]] || gone=1
done
check "the many-names peers are gone" '[[ $gone == 0 ]]'

# ---- status ----
ctl status org.example.Alpha
check "status NAME: unique name, PID, names, process" '[[ $rc == 0 ]] &&
        has_out "^UniqueName=$A_unique$" && has_out "^PID=$A_pid$" &&
        has_out "^Names=.*org\.example\.Alpha" && has_out "^Names=.*org\.example\.Shared" &&
        has_out "^UID=$(id -u)$" && has_out "^Comm=(lt-)?busdctl-peer$" &&
        has_out "^CommandLine=.*busdctl-peer $bus org\.example\.Alpha org\.example\.Shared$" &&
        has_out "^Connected=.* ago\)$" && has_out "^MatchRules=1$" && ! has_out "^Process="'
ctl status "$B_unique"
check "status UNIQUE: queued names" '[[ $rc == 0 ]] && has_out "^QueuedFor=org\.example\.Shared$" &&
        has_out "^Names=.*org\.example\.Beta"'
ctl status "$A_pid"
check "status PID finds the peer of that process" '[[ $rc == 0 ]] && has_out "^UniqueName=$A_unique$"'
ctl --json=short status org.example.Beta
check "status --json=short: merged credentials and stats" '[[ $rc == 0 ]] && [[ $(lines_out) == 1 ]] &&
        has_out "\"unique_name\":\"$B_unique\"" && has_out "\"queued_names\":\[\"org\.example\.Shared\"\]" &&
        has_out "\"process\":\"running\"" && has_out "\"cmdline\":\[" && has_out "\"pid_id\":[1-9]"'
ctl status org.example.Nobody
check "status of an unowned name fails clearly" '[[ $rc == 1 ]] && has_err "org\.example\.Nobody has no owner"'
ctl status 999999999
check "status of an unknown PID fails clearly" '[[ $rc != 0 ]] && has_err "no peer|neither"'

start_peer G --fork org.example.Orphan || exit 1
ctl status org.example.Orphan
check "status: a peer whose connecting process exited is shown as gone" '[[ $rc == 0 ]] &&
        has_out "^Process=gone" && ! has_out "^Comm=" && ! has_out "^CommandLine="'
ctl --json=short status org.example.Orphan
check "status --json: process gone, no comm" '[[ $rc == 0 ]] && has_out "\"process\":\"gone\"" &&
        ! has_out "\"comm\""'

ctl status
check "status without argument describes the bus" '[[ $rc == 0 ]] && has_out "^BusID=[0-9a-f]{32}$" &&
        has_out "^Version=" && has_out "^Started=.*\(up .*\)$" && has_out "^Peers=[0-9]+$" &&
        has_out "^Limit\."'
ctl --json=short status
check "status --json without argument" '[[ $rc == 0 ]] && has_out "\"uptime_usec\":[0-9]+" &&
        has_out "\"limits\":\{"'

# ---- call ----
ctl call org.example.Alpha /org/example/Peer org.example.Peer Echo '{"a": [1, 2], "b": "x"}'
check "call prints the reply compactly off a terminal" '[[ $rc == 0 ]] &&
        [[ "$(cat "$out")" == "{\"a\":[1,2],\"b\":\"x\"}" ]] && [[ ! -s $err ]]'
ctl --json=pretty call org.example.Alpha /org/example/Peer org.example.Peer Echo '{"a": 1}'
check "call --json=pretty indents" '[[ $rc == 0 ]] && [[ $(lines_out) == 3 ]] && has_out "^  \"a\": 1$"'
ctl call "$B_unique" /org/example/Peer org.example.Peer Echo
check "call a unique name without an argument" '[[ $rc == 0 ]] && [[ "$(cat "$out")" == "{}" ]]'
ctl call org.busd.Bus /org/busd/Bus org.busd.Bus GetNameOwner '{"name": "org.example.Shared"}'
check "call the bus driver" '[[ $rc == 0 ]] && [[ "$(cat "$out")" == "{\"owner\":\"$A_unique\"}" ]]'
ctl call org.example.Alpha /org/example/Peer org.example.Peer Fail
check "call: an error reply exits 1 with Error NAME: message" '[[ $rc == 1 ]] && [[ ! -s $out ]] &&
        grep -qxF "Error org.example.Error.Failed: failing on purpose" "$err"'
ctl call org.example.Alpha /org/example/Peer org.example.Peer NoSuchMethod
check "call: unknown method" '[[ $rc == 1 ]] && has_err "^Error org\.busd\.Error\.UnknownMethod: "'
ctl call org.example.Nobody /org/example/Peer org.example.Peer Echo
check "call: no such service" '[[ $rc == 1 ]] && has_err "^Error org\.busd\.Error\.ServiceUnknown: "'
start=$SECONDS
ctl --timeout 0.5 call org.example.Alpha /org/example/Peer org.example.Peer Hang
check "call --timeout: a call nobody answers times out" '[[ $rc == 1 ]] &&
        has_err "^Error org\.busd\.Error\.Timeout" && [[ $((SECONDS - start)) -lt $WAIT ]]'
# --timeout bounds the handshake too: a stopped bus (its listener still takes
# connections into the backlog; nothing answers) fails after it, not after
# the library's 25 s default.
kill -STOP "$busd_pid"
start=$SECONDS
ctl --timeout 0.5 list
kill -CONT "$busd_pid"
check "--timeout bounds the handshake with a stopped bus" '[[ $rc == 1 ]] &&
        grep -qxF "busdctl: the bus at $bus did not complete the handshake" "$err" &&
        [[ $((SECONDS - start)) -lt 5 ]]'
ctl --timeout "$WAIT" list
check "the bus serves again once continued" '[[ $rc == 0 ]] && has_out "^org\.example\.Alpha "'
ctl call --no-reply org.example.Alpha /org/example/Peer org.example.Peer Echo '{"x": 1}'
check "call --no-reply prints nothing and succeeds" '[[ $rc == 0 ]] && [[ ! -s $out ]]'
ctl call org.example.Alpha /org/example/Peer org.example.Peer Echo -- '-1'
check "call: -- before a JSON argument that starts with -" '[[ $rc == 0 ]] && [[ "$(cat "$out")" == "-1" ]]'

# ---- payloads ----
head -c 300000 /dev/urandom >"$dir/p0" && printf 'second' >"$dir/p1" && : >"$dir/p2"
mkdir -p "$dir/saved"
ctl call org.example.Alpha /org/example/Peer org.example.Peer EchoPayloads --payload "$dir/p0" \
        --payload "$dir/p1" --payload "$dir/p2" --save-payloads "$dir/saved"
check "call --payload --save-payloads: three payloads there and back" '[[ $rc == 0 ]] &&
        has_out "^\{\"payloads\":3\}$" && [[ $(grep -c "^$dir/saved/[0-9]*-[012] " "$out") == 3 ]] &&
        cmp -s "$dir/p0" "$(sed -n "s/ 300000$//p" "$out")" &&
        cmp -s "$dir/p1" "$(sed -n "s/ 6$//p" "$out")" && has_out "-2 0$"'
ctl call org.example.Alpha /org/example/Peer org.example.Peer EchoPayloads --payload "$dir/nonexistent"
check "call --payload: a missing file fails before calling" '[[ $rc == 1 ]] && has_err "nonexistent"'
ctl call org.example.Alpha /org/example/Peer org.example.Peer Echo --save-payloads "$dir/p1"
check "call --save-payloads: not a directory is a usage error" '[[ $rc == 2 ]] &&
        has_err "not a directory"'

# ---- emit ----
ctl emit /org/example/Source org.example.Signals Changed '{"n": 1}' --key k1
check "emit broadcasts" '[[ $rc == 0 ]] && [[ ! -s $out ]]'
# busdctl emit returns after a round trip to the bus, so the signal is queued
# to the peers before this call is.
ctl call org.example.Alpha /org/example/Peer org.example.Peer LastSignal
check "emit: a subscriber received member, key and body" '[[ $rc == 0 ]] &&
        has_out "\"member\":\"Changed\"" && has_out "\"key\":\"k1\"" && has_out "\"body\":\{\"n\":1\}"'
ctl emit --destination org.example.Beta /org/example/Source org.example.Signals Direct
check "emit --destination" '[[ $rc == 0 ]]'
ctl call org.example.Beta /org/example/Peer org.example.Peer LastSignal
check "emit --destination: the destination received it" '[[ $rc == 0 ]] && has_out "\"member\":\"Direct\""'
ctl call org.example.Alpha /org/example/Peer org.example.Peer LastSignal
check "emit --destination: nobody else did" '[[ $rc == 0 ]] && has_out "\"member\":\"Changed\""'
ctl emit /org/example/Source org.example.Signals Changed --key ""
check "emit refuses an empty key" '[[ $rc == 2 ]] && has_err "invalid key"'

# ---- wait ----
ctl wait org.example.Alpha
check "wait returns at once for an owned name" '[[ $rc == 0 ]]'
ctl wait --gone org.example.Nobody
check "wait --gone returns at once for an unowned name" '[[ $rc == 0 ]]'
start=$SECONDS
ctl --timeout 0.5 wait org.example.Later
check "wait --timeout gives up with a message" '[[ $rc == 1 ]] &&
        grep -qxF "busdctl: timed out after 500ms waiting for org.example.Later to get an owner" "$err" &&
        [[ $((SECONDS - start)) -lt $WAIT ]]'

"$BUSDCTL" --timeout "$WAIT" wait org.example.Later >"$dir/wait.out" 2>&1 &
wait_pid=$!
bg_pids+=("$wait_pid")
if await_match_rules "$wait_pid" 1; then
        start_peer C org.example.Later || exit 1
        wait "$wait_pid"
        rc=$?
        check "wait returns when the name gets an owner" '[[ $rc == 0 ]]'
else
        rc=-1
        not_ok "wait did not install its match rule"
fi

"$BUSDCTL" --timeout "$WAIT" wait --gone org.example.Later >"$dir/wait.out" 2>&1 &
wait_pid=$!
bg_pids+=("$wait_pid")
if await_match_rules "$wait_pid" 1; then
        kill "$C_pid"
        wait "$wait_pid"
        rc=$?
        check "wait --gone returns when the owner leaves" '[[ $rc == 0 ]]'
else
        rc=-1
        not_ok "wait --gone did not install its match rule"
fi

# ---- stats ----
ctl stats
check "stats: a counter table" '[[ $rc == 0 ]] && has_out "^COUNTER +VALUE$" &&
        has_out "^peers +[0-9]+$" && has_out "^messages_routed +[0-9]+$" && has_out "^version +"'
ctl --no-legend stats
check "stats --no-legend" '[[ $rc == 0 ]] && ! has_out "^COUNTER"'

# ---- reload ----
echo '{"limits": {"matches_per_connection": 100}}' >"$config"
ctl reload
check "reload: a valid file is applied, quietly" '[[ $rc == 0 ]] && [[ ! -s $out ]] && [[ ! -s $err ]]'
ctl --json=short stats
check "reload: stats report the new limit" 'has_out "\"matches_per_connection\":100[,}]"'
ctl --json=short reload
check "reload --json prints the reply" '[[ $rc == 0 ]] && [[ $(cat "$out") == "{}" ]]'
echo '{"limits": {"matches_per_connection": 0}}' >"$config"
ctl reload
check "reload: an invalid file is refused with the bus's reason" '[[ $rc == 1 ]] &&
        grep -qxF "busdctl: reload failed: org.busd.Error.ConfigInvalid: $config: limits.matches_per_connection: must be an integer from 1 to 65536" "$err"'
echo '{"limits": {"matches_per_connection": 100, "matches_per_connection": 5}}' >"$config"
ctl reload
check "reload: a duplicate key is refused" '[[ $rc == 1 ]] && has_err "ConfigInvalid: .*duplicate"'
ctl --json=short stats
check "reload: the old configuration stays in force" '[[ $rc == 0 ]] &&
        has_out "\"matches_per_connection\":100[,}]"'
if nobody_setup; then
        nobody_ctl --address "$bus" reload
        check "reload as another user: AccessDenied" '[[ $rc == 1 ]] &&
                has_err "^busdctl: reload failed: org.busd.Error.AccessDenied: "'
else
        skip "reload by another user not tested: $nobody_why"
fi
echo '{}' >"$config"
ctl reload
check "reload: back to the defaults" '[[ $rc == 0 ]]'

# ---- a refusal is not absence ----
# limits.driver_call_bytes 8: "{}" (ListNames, ReloadConfig) passes, {"name":
# ...} is refused LimitsExceeded. What busdctl is refused it says, and exits
# 1: never "no peer of PID", a row left out, or "-" for what the bus would not
# give.
echo '{"limits": {"driver_call_bytes": 8}}' >"$config"
ctl reload
check "reload: driver calls over 8 bytes refused from now on" '[[ $rc == 0 ]]'
ctl status "$A_pid"
check "status PID: a refused GetConnectionCredentials is the bus's error, not 'no peer'" \
        '[[ $rc == 1 ]] && [[ ! -s $out ]] && ! has_err "no peer" &&
        has_err "^busdctl: GetConnectionCredentials :1\.[0-9]+ failed: org\.busd\.Error\.LimitsExceeded: "'
ctl list
check "list: a refused GetConnectionCredentials is an error, not a row of dashes" \
        '[[ $rc == 1 ]] && [[ ! -s $out ]] &&
        has_err "^busdctl: GetConnectionCredentials [^ ]+ failed: org\.busd\.Error\.LimitsExceeded: "'
echo '{}' >"$config"
ctl reload
ctl status "$A_pid"
check "with the limit back, status PID finds the peer again" \
        '[[ $rc == 0 ]] && has_out "^UniqueName=$A_unique$"'
ctl list
check "with the limit back, list has its rows" '[[ $rc == 0 ]] && has_out "^org\.example\.Alpha "'

# ---- monitor ----
# await_monitors N: until the bus counts N monitors (a round trip each, no sleeps).
await_monitors() {
        local i
        for ((i = 0; i < 500; i++)); do
                "$BUSDCTL" --json=short stats 2>/dev/null | grep -q "\"monitors\":$1[,}]" && return 0
        done
        return 1
}

# pcap_records FILE: count the records of a classic pcap file (a tiny reader:
# 24-byte file header, then 16-byte record headers with the captured length
# at offset 8); prints nothing if the records do not end exactly at the end.
pcap_records() {
        local size offset=24 n=0 len
        size=$(stat -c %s "$1") || return
        while ((offset + 16 <= size)); do
                len=$(od -An -tu4 -j $((offset + 8)) -N4 "$1" | tr -d ' ')
                offset=$((offset + 16 + len))
                n=$((n + 1))
        done
        ((offset == size)) && echo "$n"
}

mon_rules=("sender='org.example.Alpha'" "interface='org.example.Peer'" "interface='org.example.Signals'")
"$BUSDCTL" monitor --limit 3 "${mon_rules[@]}" >"$dir/mon.out" 2>"$dir/mon.err" &
mon_pids=($!)
"$BUSDCTL" --json monitor --limit 3 "${mon_rules[@]}" >"$dir/monj.out" 2>"$dir/monj.err" &
mon_pids+=($!)
"$BUSDCTL" monitor --limit 3 --pcap "$dir/cap.pcap" "${mon_rules[@]}" >"$dir/monp.out" 2>"$dir/monp.err" &
mon_pids+=($!)
bg_pids+=("${mon_pids[@]}")
if await_monitors 3; then
        # --no-check: the call alone, without call's Introspect round trip.
        ctl call --no-check org.example.Alpha /org/example/Peer org.example.Peer Echo '{"m": 1}'
        ctl emit /org/example/Source org.example.Signals Changed '{"n": 2}' --key k2
        mon_rc=()
        for p in "${mon_pids[@]}"; do
                wait "$p"
                mon_rc+=($?)
        done
        rc=${mon_rc[*]}
        cp "$dir/mon.out" "$out"
        cp "$dir/mon.err" "$err"
        uid=$(id -u) gid=$(id -g)
        call_serial=$(sed -nE '1s/.* call +serial=([0-9]+) .*/\1/p' "$out")
        check "monitor --limit 3: a call, its return and a signal, one line each" \
                '[[ $rc == "0 0 0" ]] && [[ $(lines_out) == 3 ]] &&
                grep -qE "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} call +serial=[0-9]+ sender=:1\.[0-9]+ uid=$uid gid=$gid pid=[0-9]+ destination=org\.example\.Alpha path=/org/example/Peer interface=org\.example\.Peer member=Echo body=\{\"m\":1\}$" <(sed -n 1p "$out") &&
                grep -qE "^[0-9:.]+ return serial=[0-9]+ reply_serial=[0-9]+ sender=$A_unique uid=$uid gid=$gid pid=$A_pid destination=:1\.[0-9]+ body=\{\"m\":1\}$" <(sed -n 2p "$out") &&
                grep -qE "^[0-9:.]+ signal serial=[0-9]+ sender=:1\.[0-9]+ uid=$uid gid=$gid pid=[0-9]+ path=/org/example/Source interface=org\.example\.Signals member=Changed key=k2 body=\{\"n\":2\}$" <(sed -n 3p "$out")'
        check "monitor: the return names the call's serial" \
                '[[ -n $call_serial ]] && grep -q "reply_serial=$call_serial " <(sed -n 2p "$out")'

        cp "$dir/monj.out" "$out"
        cp "$dir/monj.err" "$err"
        check "monitor --json: one object per line with type, serials, sender credentials, origin, body" \
                '[[ $(lines_out) == 3 ]] &&
                grep -qE "^\{\"timestamp_usec\":[0-9]+,\"type\":\"call\",\"serial\":$call_serial,\"reply_serial\":0,\"sender\":\{\"name\":\":1\.[0-9]+\",\"uid\":$uid,\"gid\":$gid,\"pid\":[0-9]+\},\"destination\":\"org\.example\.Alpha\",\"path\":\"/org/example/Peer\",\"interface\":\"org\.example\.Peer\",\"member\":\"Echo\",\"error\":null,\"key\":null,\"bridge\":false,\"origin\":null,\"no_reply\":false,\"payloads\":\[\],\"body_in_payload\":false,\"body\":\{\"m\":1\}\}$" <(sed -n 1p "$out") &&
                grep -q "\"type\":\"return\",\"serial\":[0-9]*,\"reply_serial\":$call_serial,\"sender\":{\"name\":\"$A_unique\",\"uid\":$uid,\"gid\":$gid,\"pid\":$A_pid}" <(sed -n 2p "$out") &&
                grep -q "\"type\":\"signal\".*\"member\":\"Changed\",\"error\":null,\"key\":\"k2\".*\"body\":{\"n\":2}}$" <(sed -n 3p "$out")'

        cp "$dir/monp.out" "$out"
        cp "$dir/monp.err" "$err"
        check "monitor --pcap: lines as without it, and a classic pcap file (magic, version, USER0)" \
                '[[ $(lines_out) == 3 ]] &&
                [[ $(od -An -tx4 -N4 "$dir/cap.pcap" | tr -d " ") == a1b2c3d4 ]] &&
                [[ $(od -An -tu2 -j4 -N4 "$dir/cap.pcap" | tr -s " ") == " 2 4" ]] &&
                [[ $(od -An -tu4 -j20 -N4 "$dir/cap.pcap" | tr -d " ") == 147 ]]'
        check "monitor --pcap: one record per message, the bytes as routed" \
                '[[ $(pcap_records "$dir/cap.pcap") == 3 ]] && grep -q "org.example.Peer" "$dir/cap.pcap" &&
                grep -q "{\"n\":2}" "$dir/cap.pcap"'
        if command -v tcpdump >/dev/null 2>&1; then
                # One line per packet, then its bytes as indented hex lines.
                run tcpdump -r "$dir/cap.pcap"
                check "tcpdump reads the capture: 3 packets, link type 147" \
                        '[[ $rc == 0 ]] && [[ $(grep -c "^[0-9]" "$out") == 3 ]] &&
                        has_err "link-type 147"'
        else
                skip "tcpdump not installed: capture not read back with it"
        fi
else
        rc=-1
        not_ok "the monitors did not attach"
fi
ctl --json=short stats
check "stats: the monitor count" '[[ $rc == 0 ]] && has_out "\"monitors\":[0-9]+" &&
        has_out "\"monitors_per_uid\":[0-9]+"'
ctl status
check "status shows the monitor count" '[[ $rc == 0 ]] && has_out "^Monitors=[0-9]+$"'

# ---- colour on a terminal (needs script(1)) ----
if command -v script >/dev/null 2>&1; then
        run script -qec "$BUSDCTL list" /dev/null
        check "list on a terminal: the header is bold" '[[ $rc == 0 ]] && grep -q $'"'"'\e\[1mNAME'"'"' "$out"'
        NO_COLOR=1 run script -qec "$BUSDCTL list" /dev/null
        check "NO_COLOR turns colour off" '[[ $rc == 0 ]] && has_out "NAME" && ! grep -q $'"'"'\e'"'"' "$out"'
else
        skip "script(1) not installed: colour not tested"
fi

# ---- permission hint (needs an unprivileged uid) ----
if nobody_setup; then
        # The socket alone is closed to others (the directory stays reachable,
        # so the busdctl copy beside it still runs).
        sock_mode=$(stat -c %a "$bus")
        chmod 0600 "$bus"
        nobody_ctl --address "$bus" stats
        chmod "$sock_mode" "$bus"
        check "a socket we may not use: permission hint" '[[ $rc == 1 ]] &&
                has_err "permission denied connecting to $bus: run as a user allowed"'
else
        skip "permission hint not tested: $nobody_why"
fi

############################################################################
# Everything the peers made the bus hold is released
############################################################################

for p in "${peer_pids[@]}"; do
        kill "$p" 2>/dev/null
done
for u in "$A_unique" "$B_unique" "$G_unique" "${C_unique:-}"; do
        [ -n "$u" ] || continue
        ctl --timeout "$WAIT" wait --gone "$u"
        check "the bus saw $u leave" '[[ $rc == 0 ]]'
done
peer_pids=()
# The clients above (each busdctl run) hang up without telling anyone; each
# try is a round trip that lets the bus process those hang-ups (no sleeps).
for ((i = 0; i < 200; i++)); do
        ctl --json=short stats
        if has_out '"peers":1[,}]' && has_out '"match_rules":0[,}]' && has_out '"pending_replies":0[,}]' &&
                [[ $(json_int "$out" names) == "$base_names" ]]; then
                break
        fi
done
check "the bus is back to one peer, no rules, no pending replies, its names" \
        'has_out "\"peers\":1[,}]" && has_out "\"match_rules\":0[,}]" && has_out "\"pending_replies\":0[,}]" &&
        [[ $(json_int "$out" names) == "$base_names" ]]'

run "$BUSD_LAUNCH" stop "$busd_pid"
check "busd stops on SIGTERM and removes its socket" '[[ $rc == 0 ]] && [[ ! -e $bus ]]'
busd_pid=

ctl list
check "after the bus stops: the no-bus hint" '[[ $rc == 1 ]] && has_err "no bus at $bus: is busd running\?"'

busdctl_lib_finish
