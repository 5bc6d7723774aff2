#!/bin/sh
# callgrind.sh - the deterministic companion of bench/run: instructions per
# operation of cio's spawn, pingpong (queues and channels, awaited in
# place; awaitpingpong: the queues' futures awaited, asyncio's spelling)
# and switch (two tasks yielding in turn: the task switches under
# pingpong, with no queue),
# counted by valgrind's callgrind, so a regression shows even on a noisy
# machine; and pingpong_floor, the same round trip in bare C with none of
# asyncio's semantics (bench/peers/pingpong_floor.c), what cio's pingpong
# is measured against.
#
#   bench/callgrind.sh [N]        default N = 100000 operations
#
# Each workload runs twice, with 1000 and with 1000 + N operations; the
# difference of the two instruction counts (Ir) divided by N is the cost of
# one operation, without start-up and tear-down. Prints one line each:
#
#   WORKLOAD n=N ir=IR ir_per_op=X
#
# Runs the real binary behind the libtool wrapper (libtool --mode=execute).
# Needs a built tree (make; BUILD_DIR as for quickstart.sh) and valgrind.
set -eu
n=${1:-100000}
top=$(cd "$(dirname "$0")/.." && pwd)
case ${BUILD_DIR:-} in
    /*) build=$BUILD_DIR ;;
    '') build=$top ;;
    *) build=$top/$BUILD_DIR ;;
esac
[ -x "$build/bench/cio_bench" ] || { echo "callgrind.sh: build first (make)" >&2; exit 2; }
command -v valgrind >/dev/null 2>&1 || { echo "callgrind.sh: valgrind is missing" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

${CC:-cc} -O2 -o "$tmp/pingpong_floor" "$top/bench/peers/pingpong_floor.c"

# ir WORKLOAD COUNT -> total instructions of one run
ir() {
    if [ "$1" = pingpong_floor ]; then
        valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
            "$tmp/pingpong_floor" pingpong "$2"
    else
        "$build/libtool" --mode=execute valgrind --tool=callgrind \
            --callgrind-out-file="$tmp/out" "$build/bench/cio_bench" "$1" "$2"
    fi >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$tmp/out" | head -n 1
}

base=1000
for w in spawn pingpong chanpingpong awaitpingpong switch pingpong_floor; do
    a=$(ir "$w" "$base")
    b=$(ir "$w" $((base + n)))
    awk -v w="$w" -v n="$n" -v a="$a" -v b="$b" \
        'BEGIN { printf "%s n=%d ir=%d ir_per_op=%.1f\n", w, n, b - a, (b - a) / n }'
done
