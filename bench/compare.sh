#!/bin/sh
# compare.sh - cio against its peers, same machine, same run: spawn (vs Go
# goroutines), sleepers (vs bare libev timers, the floor) and pingpong (two
# tasks, two queues of size 1; vs Go's unbuffered channels, and vs its bare
# C floor, bench/peers/pingpong_floor.c). Runs each system alternately for
# several rounds and prints medians and ratios. Needs a built tree (make)
# and, for Go, golang-go.
#
#   bench/compare.sh [ROUNDS] [N]      defaults: 5 rounds, N = 1000000
set -eu
rounds=${1:-5}
n=${2:-1000000}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cio="$top/bench/cio_bench"
[ -x "$cio" ] || { echo "build first: make" >&2; exit 2; }
cc -O2 -o "$tmp/libev_timers" "$top/bench/peers/libev_timers.c" -lev
cc -O2 -o "$tmp/pingpong_floor" "$top/bench/peers/pingpong_floor.c"
have_go=0
if command -v go >/dev/null 2>&1; then
    (cd "$top/bench/peers" && GOCACHE="$tmp/gocache" go build -o "$tmp/go_bench" go_bench.go) && have_go=1
fi

# field NAME LINE -> the value of NAME=... in a result line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

i=1
while [ "$i" -le "$rounds" ]; do
    printf 'round %s/%s\r' "$i" "$rounds" >&2
    for sys in cio go libev floor; do
        for w in spawn sleepers pingpong chanpingpong; do
            case $sys/$w in
                cio/*) line=$("$cio" "$w" "$n") ;;
                go/pingpong) continue ;;
                go/*) [ "$have_go" = 1 ] || continue; line=$("$tmp/go_bench" "$w" "$n") ;;
                libev/sleepers) line=$("$tmp/libev_timers" "$n") ;;
                floor/pingpong) line=$("$tmp/pingpong_floor" pingpong "$n") ;;
                *) continue ;;
            esac
            field wall "$line" >>"$tmp/$sys.$w.wall"
            field maxrss_kb "$line" >>"$tmp/$sys.$w.rss"
        done
    done
    i=$((i + 1))
done
echo >&2

printf '%-10s %-14s %12s %14s\n' workload system "median wall" "median RSS KB"
for w in spawn sleepers pingpong chanpingpong; do
    for sys in cio go libev floor; do
        [ -f "$tmp/$sys.$w.wall" ] || continue
        wall=$(median <"$tmp/$sys.$w.wall")
        rss=$(median <"$tmp/$sys.$w.rss")
        eval "m_${sys}_$w=$wall"
        printf '%-10s %-14s %12s %14s\n' "$w" "$sys" "$wall" "$rss"
    done
done
echo
if [ "$have_go" = 1 ]; then
    awk -v c="$m_cio_spawn" -v g="$m_go_spawn" 'BEGIN { printf "spawn: Go / cio = %.2fx (target >= 4x)\n", g / c }'
fi
awk -v c="$m_cio_sleepers" -v l="$m_libev_sleepers" \
    'BEGIN { printf "sleepers: cio / libev timers = %.3fx (target <= 1.15x)\n", c / l }'
if [ "$have_go" = 1 ]; then
    awk -v q="$m_cio_pingpong" -v c="$m_cio_chanpingpong" -v g="$m_go_chanpingpong" \
        'BEGIN { printf "pingpong: Go channels / cio queues = %.2fx, / cio channels = %.2fx (target >= 8x)\n", g / q, g / c }'
fi
awk -v q="$m_cio_pingpong" -v f="$m_floor_pingpong" \
    'BEGIN { printf "pingpong: cio queues / bare C floor (bench/peers/pingpong_floor.c) = %.1fx\n", q / f }'
echo "(N = $n, $rounds rounds, medians; $(nproc) cores, $(date -u +%Y-%m-%d))"
