#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Includes point down the layers (docs/ARCHITECTURE.md "Who may call
# whom"). Every #include "..." of every source and header under common/,
# protocol/, daemon/, client/ and the API users (tools/, bridge/,
# examples/, bench/) is checked against the rule of its folder; a
# forbidden one fails the test, naming the file and the include. System
# headers (<...>) and config.h are always allowed. Run by `make check`; the
# automake test harness exports $srcdir.
#
#   common/             common/ only
#   protocol/           protocol/ only (bare "x.h" or "protocol/x.h")
#   daemon/registry/    common/, protocol, registry/, process/log.h
#   daemon/policy/      common/, protocol, policy/, process/log.h (a leaf too)
#   daemon/transport/   common/, protocol, transport/, registry/quota.h,
#                       process/log.h
#   daemon/core/        common/, protocol, registry/, policy/, transport/,
#                       core/, activation/, process/log.h, process/config-file.h
#   daemon/activation/  as core/ (it starts services for the core and
#                       answers the callers waiting on them)
#   daemon/process/     anything of the daemon, common/ and protocol
#   client/             client/, common/, protocol
#   tools/, bridge/,    their own folder, the public "busclient.h", common/,
#   examples/, bench/   protocol; tools/ also "policy/policy.h" (busdctl
#                       policy runs the daemon's policy code, libbuspolicy)
#
# A daemon include is path-qualified from daemon/ ("core/peer.h"); a bare
# name must be a protocol header. A daemon folder without a rule here fails
# too: add its rule (and its line in docs/ARCHITECTURE.md) when you add it.
set -eu

srcdir=${srcdir:-.}
fail=0

if [ ! -d "$srcdir/daemon/core" ] || [ ! -d "$srcdir/protocol" ]; then
        echo "test-layers: no source tree at $srcdir" >&2
        exit 99 # hard error: the test cannot run
fi

# Is "$1" (an include path) a protocol header?
is_protocol() {
        case $1 in
        protocol/*) [ -f "$srcdir/$1" ] ;;
        */*) return 1 ;;
        *) [ -f "$srcdir/protocol/$1" ] ;;
        esac
}

# allowed RULE INCLUDE: 0 if a file under RULE may include INCLUDE.
allowed() {
        inc=$2
        [ "$inc" = config.h ] && return 0
        case $1 in
        common)
                case $inc in common/*) return 0 ;; esac
                return 1 ;;
        protocol)
                is_protocol "$inc"
                return ;;
        registry)
                case $inc in common/* | registry/* | process/log.h) return 0 ;; esac
                is_protocol "$inc"
                return ;;
        policy)
                case $inc in common/* | policy/* | process/log.h) return 0 ;; esac
                is_protocol "$inc"
                return ;;
        transport)
                case $inc in
                common/* | transport/* | registry/quota.h | process/log.h) return 0 ;;
                esac
                is_protocol "$inc"
                return ;;
        core | activation)
                case $inc in
                common/* | registry/* | policy/* | transport/* | core/* | activation/*) return 0 ;;
                process/log.h | process/config-file.h) return 0 ;;
                esac
                is_protocol "$inc"
                return ;;
        client)
                case $inc in common/*) return 0 ;; esac
                case $inc in */*) ;; *) [ -f "$srcdir/client/$inc" ] && return 0 ;; esac
                is_protocol "$inc"
                return ;;
        tools | bridge | examples | bench)
                case $inc in common/* | busclient.h) return 0 ;; esac
                [ "$1" = tools ] && [ "$inc" = policy/policy.h ] && return 0
                case $inc in */*) ;; *) [ -f "$srcdir/$1/$inc" ] && return 0 ;; esac
                is_protocol "$inc"
                return ;;
        process)
                case $inc in
                common/* | registry/* | policy/* | transport/* | core/* | activation/*) return 0 ;;
                process/*) return 0 ;;
                esac
                is_protocol "$inc"
                return ;;
        esac
        return 1
}

check_dir() { # check_dir RULE DIR
        for f in "$srcdir/$2"/*.c "$srcdir/$2"/*.h; do
                [ -f "$f" ] || continue
                sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
                        while read -r inc; do
                                if ! allowed "$1" "$inc"; then
                                        echo "test-layers: ${f#"$srcdir"/}: #include \"$inc\"" \
                                                "is not allowed in $2/"
                                        echo x
                                fi
                        done
        done
}

out=$( {
        check_dir common common
        check_dir protocol protocol
        for d in client tools bridge examples bench; do
                check_dir "$d" "$d"
        done
        for d in "$srcdir"/daemon/*/; do
                d=${d%/}
                name=${d##*/}
                case $name in
                registry | policy | transport | core | activation | process) check_dir "$name" "daemon/$name" ;;
                *) echo "test-layers: daemon/$name/ has no rule in tests/test-layers.sh"; echo x ;;
                esac
        done
        for f in "$srcdir"/daemon/*.c "$srcdir"/daemon/*.h; do
                [ -f "$f" ] || continue
                echo "test-layers: ${f#"$srcdir"/} is outside the daemon's layer folders"
                echo x
        done
} )

if printf '%s\n' "$out" | grep -q '^x$'; then
        printf '%s\n' "$out" | grep -v '^x$' >&2
        fail=1
fi
[ $fail -eq 0 ] && echo "test-layers: every include follows its folder's rule"
exit $fail
