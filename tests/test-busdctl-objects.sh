#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-busdctl-objects.sh — busdctl's object model verbs (issue #13):
# introspect, tree, get-property, set-property, check-interface, call's
# argument checking and @FILE/- arguments, monitor NAME, and the shell
# completion of paths, interfaces and members, in human and --json forms, against a real busd on a
# private socket serving examples/echo-service (which declares its interface
# with libbusclient's object model and ships examples/org.example.Echo.json).
# Ends with "N passed, M failed" and exits 1 on failure.
#
# Run from the top of the build tree (as "make check" does), or set
# BUSD_BINARY, BUSDCTL, BUSD_LAUNCH, ECHO_SERVICE; srcdir for the
# description file.
set -u

TEST_NAME=test-busdctl-objects
. "${srcdir:-.}/tests/busdctl-lib.sh"
ECHO_SERVICE=${ECHO_SERVICE:-$builddir/examples/echo-service}
DESCRIPTION=$srcdir/examples/org.example.Echo.json
busdctl_lib_init "$ECHO_SERVICE"
svc_pid=
test_cleanup() {
        [ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null
}

D=org.example.Echo
P=/org/example/Echo
I=org.example.Echo

############################################################################
# Without a bus
############################################################################

ctl check-interface "$DESCRIPTION"
check "check-interface shows the shipped description" '[[ $rc == 0 ]] &&
        has_out "^\.Greet +method +\{\"name\":\{\"type\":\"string\",\"max_length\":64\}" &&
        has_out "^\.Greeting +property +\"string\" +- +writable,emits-change" &&
        has_out "^\.Tick +signal +\{\"count\":\"integer\"\}"'
echo '{"interfaces": [{"name": "a.b", "methods": {"M": {"args": {"x": "integr"}}}}]}' >"$dir/bad.json"
ctl check-interface "$DESCRIPTION" "$dir/bad.json"
check "check-interface names what is wrong in a bad file, exit 1" '[[ $rc == 1 ]] &&
        has_err "^busdctl: .*/bad\.json: interfaces\[0\]\.methods\.M\.args\.x: unknown type .integr.$"'
printf '{"interfaces": [{"name": "a.b", "methods": {"\\u001b]0;x\\u0007\\u009b": {}}}]}' >"$dir/esc.json"
ctl check-interface "$dir/esc.json"
check "check-interface escapes the file's bytes in its error" '[[ $rc == 1 ]] &&
        has_err "interfaces\[0\]\.methods\.\\\\x1b\]0;x\\\\x07\\\\xc2\\\\x9b: invalid member name" &&
        ! grep -q "$(printf "\033")" "$err" && ! grep -q "$(printf "\007")" "$err"'
ctl check-interface "$dir/missing.json"
check "check-interface of a missing file names it, exit 1" '[[ $rc == 1 ]] &&
        has_err "^busdctl: .*/missing\.json: No such file or directory$"'
ctl --address "$dir/nobus.sock" introspect $D not/a/path
check "introspect refuses an invalid path before connecting (exit 2)" '[[ $rc == 2 ]] &&
        has_err "invalid object path"'
ctl --address "$dir/nobus.sock" set-property $D $P $I Greeting 'not json'
check "set-property refuses a value that is not JSON (exit 2)" '[[ $rc == 2 ]] &&
        has_err "not valid JSON"'

############################################################################
# A real bus and echo-service
############################################################################

echo '{}' >"$dir/busd.json"
busd_pid=$("$BUSD_LAUNCH" start "$dir" "$BUSD_BINARY" --address "$bus" --config "$dir/busd.json")
if [ -z "$busd_pid" ]; then
        echo "test-busdctl-objects: busd did not start" >&2
        cat "$dir/busd.log" >&2
        echo "$passed passed, $((failed + 1)) failed"
        exit 1
fi
export BUSD_ADDRESS=$bus
mkfifo "$dir/svc"
"$ECHO_SERVICE" "$bus" >"$dir/svc" 2>"$dir/svc.log" &
svc_pid=$!
if ! read -r -t "$WAIT" line <"$dir/svc" || [[ $line != *"ready as"* ]]; then
        echo "test-busdctl-objects: echo-service did not start" >&2
        cat "$dir/svc.log" >&2
        echo "$passed passed, $((failed + 1)) failed"
        exit 1
fi

ctl introspect $D $P
check "introspect lists the standard and the declared interfaces" '[[ $rc == 0 ]] &&
        has_out "^NAME +TYPE +SCHEMA +RESULT/VALUE +FLAGS" &&
        has_out "^org\.busd\.Peer +interface" && has_out "^org\.busd\.Properties +interface" &&
        has_out "^org\.busd\.Introspectable +interface" && has_out "^org\.example\.Echo +interface"'
check "introspect shows methods with schemas, properties with values and access" '
        has_out "^\.Greet +method +\{\"name\":\{\"type\":\"string\",\"max_length\":64\},\"shout\":\{\"type\":\"boolean\",\"optional\":true\}\} +\{\"greeting\":\"string\"\}" &&
        has_out "^\.Greeting +property +\"string\" +\"nobody greeted yet\" +writable,emits-change" &&
        has_out "^\.Ticks +property +\"integer\" +[0-9]+ +read-only,emits-change" &&
        has_out "^\.Tick +signal +\{\"count\":\"integer\"\}"'
ctl --no-legend introspect $D $P $I
check "introspect INTERFACE shows that interface only" '[[ $rc == 0 ]] &&
        ! has_out "^NAME" && ! has_out "org\.busd\.Peer" && has_out "^org\.example\.Echo +interface" &&
        [[ $(lines_out) == 8 ]]'
ctl introspect $D $P org.example.Nope
check "introspect of an interface the object lacks exits 1" '[[ $rc == 1 ]] &&
        has_err "has no interface org\.example\.Nope"'
ctl --json=short introspect $D $P $I
check "introspect --json: the declaration plus current values" '[[ $rc == 0 ]] &&
        [[ $(lines_out) == 1 ]] && has_out "^\{\"path\":\"/org/example/Echo\",\"interfaces\":\[\{\"name\":\"org\.example\.Echo\"" &&
        has_out "\"values\":\{\"Ticks\":[0-9]+,\"Greeting\":\"nobody greeted yet\"\}" &&
        has_out "\"children\":\[\]"'
if command -v python3 >/dev/null 2>&1; then
        cp "$out" "$dir/introspect.json"
        ctl --json=short check-interface "$DESCRIPTION"
        check "the shipped description file is what the service declares" '[[ $rc == 0 ]] &&
                python3 -c "import json,sys
live = json.load(open(sys.argv[1]))[\"interfaces\"][0]
del live[\"values\"]
shipped = json.load(open(sys.argv[2]))[\"interfaces\"][0]
sys.exit(0 if live == shipped else 1)" "$dir/introspect.json" "$out"'
else
        echo "skip - description file vs introspection (no python3)"
fi
ctl introspect $D /org/nothing
check "introspect of an unknown path: UnknownObject, exit 1" '[[ $rc == 1 ]] &&
        has_err "org\.busd\.Error\.UnknownObject"'

ctl tree $D
check "tree draws the object paths" '[[ $rc == 0 ]] && has_out "^Service org\.example\.Echo:" &&
        has_out "^└─ /$" && has_out "^   └─ /org$" && has_out "^      └─ /org/example$" &&
        has_out "^         └─ /org/example/Echo$"'
ctl tree
check "tree without DEST walks every well-known name" '[[ $rc == 0 ]] &&
        has_out "^Service org\.example\.Echo:" && ! has_out "org\.busd\.Bus"'
ctl tree org.example.Nobody
check "tree of a name nobody owns: the error, no tree, exit 1" '[[ $rc == 1 ]] &&
        has_err "ServiceUnknown" && ! has_out "─"'
ctl --json=short tree org.example.Nobody
check "tree --json of a name nobody owns lists no path" '[[ $rc == 1 ]] &&
        has_out "^\{\"org\.example\.Nobody\":\[\]\}$"'
ctl --json=short tree $D
check "tree --json" '[[ $rc == 0 ]] &&
        has_out "^\{\"org\.example\.Echo\":\[\"/\",\"/org\",\"/org/example\",\"/org/example/Echo\"\]\}$"'

# What the bus refuses is not absent: with a policy that denies the
# Introspect of /org/example and every GetAll of the service, tree and
# introspect say so and exit 1, never an empty subtree or a property without
# its value passed off as complete.
cat >"$dir/busd.json" <<'JSON'
{"policy": {"rules": [
  {"deny": "call", "destination": "org.example.Echo", "path": "/org/example",
   "interface": "org.busd.Introspectable"},
  {"deny": "call", "destination": "org.example.Echo", "interface": "org.busd.Properties",
   "member": "GetAll"}]}}
JSON
ctl reload
check "reload: a policy that refuses part of the introspection" '[[ $rc == 0 ]]'
ctl tree $D
check "tree: a subtree the bus refuses is said, exit 1" '[[ $rc == 1 ]] &&
        has_out "^      └─ /org/example$" && ! has_out "/org/example/Echo" &&
        has_err "Introspect /org/example.*org\.busd\.Error\.AccessDenied"'
ctl introspect $D $P $I
check "introspect: values the bus refuses are said, exit 1" '[[ $rc == 1 ]] &&
        has_err "GetAll.*org\.busd\.Error\.AccessDenied" && has_out "^org\.example\.Echo +interface"'
echo '{}' >"$dir/busd.json"
ctl reload
ctl tree $D
check "without the policy, the whole tree again" '[[ $rc == 0 ]] && has_out "/org/example/Echo$"'

ctl get-property $D $P $I Greeting Ticks
check "get-property prints one JSON value per line" '[[ $rc == 0 ]] && [[ $(lines_out) == 2 ]] &&
        has_out "^\"nobody greeted yet\"$" && has_out "^[0-9]+$"'
ctl set-property $D $P $I Greeting '"hello there"'
check "set-property of a writable property" '[[ $rc == 0 ]] && [[ $(lines_out) == 0 ]]'
ctl --json=short get-property $D $P $I Greeting
check "get-property --json shows the new value" '[[ $rc == 0 ]] &&
        has_out "^\{\"Greeting\":\"hello there\"\}$"'
ctl set-property $D $P $I Ticks 5
check "set-property of a read-only property: PropertyReadOnly, exit 1" '[[ $rc == 1 ]] &&
        has_err "org\.busd\.Error\.PropertyReadOnly"'
ctl set-property $D $P $I Greeting 5
check "set-property against the schema: InvalidArgs naming the property" '[[ $rc == 1 ]] &&
        has_err "org\.busd\.Error\.InvalidArgs: property Greeting: expected a string, got an integer"'
ctl get-property $D $P $I Greeting Nope
check "get-property of an unknown property: the others printed, exit 1" '[[ $rc == 1 ]] &&
        has_out "^\"hello there\"$" && has_err "org\.busd\.Error\.UnknownProperty"'

ctl call $D $P $I Greet '{"name": "Ada", "shout": true}'
check "call Greet with good arguments" '[[ $rc == 0 ]] && has_out "Hello, Ada!!!"'
ctl get-property $D $P $I Greeting
check "Greet changed the Greeting property" '[[ $rc == 0 ]] && has_out "^\"Hello, Ada!!!\"$"'
ctl call $D $P $I Greet '{"name": "Ada", "shout": "yes"}'
check "call checks the argument against the declaration and does not send it" '[[ $rc == 1 ]] &&
        has_err "the argument does not fit org\.example\.Echo\.Greet: field .shout.: expected a boolean, got a string" &&
        has_err "not sent"'
ctl call --no-check $D $P $I Greet '{"name": "Ada", "shout": "yes"}'
check "with --no-check the service refuses it, naming the field" '[[ $rc == 1 ]] &&
        has_err "org\.busd\.Error\.InvalidArgs: field .shout.: expected a boolean, got a string"'
ctl call $D $P $I Greet '{"name": "Bob", "extra": 1}'
check "call names an undeclared field" '[[ $rc == 1 ]] && has_err "field .extra.: not expected here"'

# Arguments from a file or standard input: past the ~128 KiB a single
# command-line argument may hold.
big=$(head -c 200000 /dev/zero | tr '\0' x)
printf '{"big": "%s"}' "$big" >"$dir/big.json"
ctl --json=short call $D $P $I Echo @"$dir/big.json"
check "call @FILE sends a 200 kB argument" '[[ $rc == 0 ]] && [[ $(wc -c <"$out") -gt 200000 ]] &&
        has_out "^\{\"big\":\"xxxx"'
run "$BUSDCTL" --json=short call $D $P $I Greet - <<<'{"name": "Stdin"}'
check "call - reads the argument from standard input" '[[ $rc == 0 ]] && has_out "Hello, Stdin!"'
ctl call $D $P $I Echo @"$dir/missing.json"
check "call @FILE of a missing file exits 2" '[[ $rc == 2 ]] && has_err "cannot open"'
echo '{"a": ' >"$dir/broken.json"
ctl call $D $P $I Echo @"$dir/broken.json"
check "call @FILE that is not JSON says where" '[[ $rc == 2 ]] && has_err "broken\.json is not valid JSON"'

# monitor NAME follows what the name sends and what is sent to it: the
# service's next Tick (once a second) is its first message.
ctl --timeout 5 monitor --limit 1 $D
check "monitor NAME shows the name's traffic" '[[ $rc == 0 ]] && [[ $(lines_out) == 1 ]] &&
        has_out "signal" && has_out "Tick"'
names=()
for i in $(seq 33); do names+=(org.example.N$i); done
ctl --address "$dir/nobus.sock" monitor "${names[@]}"
check "monitor: each NAME counts as two rules, 64 at most (exit 2)" '[[ $rc == 2 ]] &&
        has_err "at most 64 match rules"'

# Shell completion of paths, interfaces, members and properties, from the
# service's introspection (the completion runs "busdctl" from $PATH).
complete_words() {
        (
                PATH=$(dirname "$BUSDCTL"):$PATH
                complete() { :; }
                # shellcheck source=/dev/null
                source "$srcdir/tools/busdctl.bash-completion"
                COMP_WORDS=(busdctl "$@")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                _busdctl
                printf '%s\n' "${COMPREPLY[@]}"
        )
}
run complete_words introspect org.example.E
check "completion: destinations" '[[ $(cat "$out") == org.example.Echo ]]'
run complete_words introspect $D /org/
check "completion: object paths" '[[ $(cat "$out") == $'"'"'/org/example\n/org/example/Echo'"'"' ]]'
run complete_words get-property $D $P ""
check "completion: interfaces" 'has_out "^org\.example\.Echo$" && has_out "^org\.busd\.Properties$"'
run complete_words call $D $P $I G
check "completion: methods" '[[ $(cat "$out") == Greet ]]'
run complete_words get-property $D $P $I Ticks G
check "completion: properties, for each NAME of get-property" '[[ $(cat "$out") == Greeting ]]'
run complete_words call --no-c
check "completion: call --no-check" '[[ $(cat "$out") == --no-check ]]'

# The words completion offers come from the bus: a service's introspection
# (here a stand-in busdctl printing what a hostile service makes busdctl
# print) must not get the shell to run anything, and only words of the
# right syntax are offered.
mkdir "$dir/fake"
cat >"$dir/fake/busdctl" <<'EOF_FAKE'
#!/bin/bash
case " $* " in
*" list "*) printf '%s\n' 'org.example.Good' '$(pwned)' ;;
*" tree "*) printf '%s\n' '└─ /' '   └─ /ok' '   └─ /$(pwned)' ;;
*" introspect "*)
        printf '%s\n' 'org.example.Good interface' '$(pwned) interface' '`pwned`.x interface' \
                '.Good method' '.$(pwned) method' '.Also property' '.`pwned` property'
        ;;
esac
EOF_FAKE
printf '#!/bin/sh\ntouch "%s/pwned"\n' "$dir" >"$dir/fake/pwned"
chmod +x "$dir/fake/busdctl" "$dir/fake/pwned"
fake_complete() {
        (
                PATH=$dir/fake:$PATH
                complete() { :; }
                # shellcheck source=/dev/null
                source "$srcdir/tools/busdctl.bash-completion"
                COMP_WORDS=(busdctl "$@")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                _busdctl
                printf '%s\n' "${COMPREPLY[@]}"
        )
}
run fake_complete call ""
run2=$(cat "$out")
run fake_complete call org.example.Good ""
run3=$(cat "$out")
run fake_complete call org.example.Good /ok ""
run4=$(cat "$out")
run fake_complete call org.example.Good /ok org.example.Good ""
check "completion runs nothing a service names, and offers only well-formed words" '
        [[ ! -e "$dir/pwned" ]] && [[ $run2 == org.example.Good ]] &&
        [[ $run3 == $'"'"'/\n/ok'"'"' ]] && [[ $run4 == org.example.Good ]] &&
        [[ $(cat "$out") == Good ]]'

kill "$svc_pid"
wait "$svc_pid" 2>/dev/null
svc_pid=
run "$BUSD_LAUNCH" stop "$busd_pid"
busd_pid=
check "busd exits cleanly" '[[ $rc == 0 ]]'

busdctl_lib_finish
