#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/soak.sh — the busd soak test, one command (docs/PERFORMANCE.md, "Soak").
#
#   bench/soak.sh [--duration SECONDS|Nm] [--clients N] [--sample SECONDS] [--warmup SECONDS]
#                 [--rate FACTOR] [--seed N] [--quiet]
#
# Builds bench/bench-soak and daemon/busd, then runs bench-soak against a busd it starts on a
# private socket (default: 200 clients for 10 minutes). Prints samples of busd's RSS and fd
# count as it goes, then the report and a verdict line; exits 1 if the verdict fails.
# Not part of make check.
#
# The build directory is $BUSD_BUILD_DIR, else the current directory if it holds a build,
# else ./build (what quickstart.sh makes).
set -euo pipefail

SRCDIR=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

case ${1:-} in
-h | --help)
        sed -n '4,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac

find_build() {
        local d
        for d in "${BUSD_BUILD_DIR:-}" "$PWD" "$SRCDIR/build"; do
                [[ -n $d && -f $d/Makefile && -f $d/config.status ]] && { echo "$d"; return; }
        done
        return 1
}
BUILD=$(find_build) || {
        echo "soak.sh: no configured build found; run ./quickstart.sh demo (builds ./build)" \
                "or configure one and set BUSD_BUILD_DIR" >&2
        exit 2
}
BUILD=$(cd "$BUILD" && pwd)
echo "==> building bench/bench-soak and daemon/busd in $BUILD" >&2
make -C "$BUILD" -s -j"$(nproc 2>/dev/null || echo 2)" bench/bench-soak daemon/busd >&2

exec "$BUILD/bench/bench-soak" --busd "$BUILD/daemon/busd" "$@"
