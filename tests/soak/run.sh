#!/usr/bin/env bash
# tests/soak/run.sh [SECONDS] [CONNECTIONS]: the soak test (`make soak').
#
# Starts examples/echo_server on a free port, runs tests/soak/soak_client
# against it (1000 connections by default, random data in random-sized
# chunks for SECONDS, default 60; SHA-256 of what each connection sent and
# got back), and samples the server's RSS (/proc/PID/status VmRSS) and
# open fds (/proc/PID/fd) every second. Passes when every connection was
# accepted and completed with identical data, the RSS grew by less than 5%
# after the warm-up (the first sixth of the run, at least 5 s), and the
# server's fd count is back to where it started once the client is done.
# Expects a built tree: BUILD_DIR (default: the current directory) holds
# examples/echo_server and tests/soak/soak_client.
set -uo pipefail

seconds=${1:-60}
nconn=${2:-1000}
build=${BUILD_DIR:-.}
server=$build/examples/echo_server
client=$build/tests/soak/soak_client
out=${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/cio-soak.XXXXXX")}

mkdir -p "$out" || exit 2
for p in "$server" "$client"; do
    [ -x "$p" ] || { echo "soak: $p not built (make, then make soak)" >&2; exit 2; }
done
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "soak: $nconn connections for ${seconds}s, fd limit $(ulimit -n), logs in $out"

"$server" 0 --host 127.0.0.1 >"$out/server.log" 2>&1 &
spid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$out/server.log")
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "soak: echo_server did not start:"; cat "$out/server.log"
    kill "$spid" 2>/dev/null; exit 1
fi
# The libtool wrapper execs the real program: same pid.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$spid/status" 2>/dev/null; }
fds() { ls "/proc/$spid/fd" 2>/dev/null | wc -l; }
sleep 0.2
rss0=$(rss)
fd0=$(fds)
echo "soak: echo_server pid $spid on port $port: RSS ${rss0} kB, $fd0 fds at start"

"$client" "$port" "$seconds" "$nconn" >"$out/client.out" 2>"$out/client.err" &
cpid=$!
warm=$(awk -v s="$seconds" 'BEGIN { w = s / 6; if (w < 5) w = 5; printf "%d", w }')
t=0
: >"$out/samples"
while kill -0 "$cpid" 2>/dev/null; do
    echo "$t $(rss) $(fds)" >>"$out/samples"
    sleep 1
    t=$((t + 1))
done
wait "$cpid"
crc=$?
# Connections close on the server's side after the client saw them close.
fd_end=$(fds)
for _ in $(seq 50); do
    [ "$fd_end" -le "$fd0" ] && break
    sleep 0.1
    fd_end=$(fds)
done
rss_end=$(rss)
kill -TERM "$spid"
wait "$spid"
src=$?

cat "$out/client.out"
[ -s "$out/client.err" ] && head -20 "$out/client.err"
# The warm-up sample, the largest one after it (while sending), the peak fds.
read -r rss_warm rss_max fd_max < <(awk -v w="$warm" -v s="$seconds" '
    $1 == w { warm = $2 }
    $1 > w && $1 <= s && $2 > max { max = $2 }
    $3 > fdmax { fdmax = $3 }
    END { if (warm == "") warm = max; if (max == "") max = warm;
          print warm + 0, max + 0, fdmax + 0 }' "$out/samples")
growth=$(awk -v a="$rss_warm" -v b="$rss_max" 'BEGIN { if (a > 0) printf "%.2f", (b - a) * 100 / a; else print "nan" }')
echo "rss_start_kb=$rss0"
echo "rss_warm_kb=$rss_warm (after ${warm}s)"
echo "rss_max_after_warmup_kb=$rss_max"
echo "rss_growth_percent=$growth"
echo "rss_end_kb=$rss_end"
echo "fds_start=$fd0"
echo "fds_peak=$fd_max"
echo "fds_end=$fd_end"
echo "server_exit=$src"

ok=1
[ "$crc" -eq 0 ] || { echo "soak: FAIL: the client reports lost, changed or failed connections"; ok=0; }
awk -v g="$growth" 'BEGIN { exit !(g != "nan" && g < 5) }' ||
    { echo "soak: FAIL: RSS grew by ${growth}% after the warm-up (limit 5%)"; ok=0; }
[ "$fd_end" -le "$fd0" ] || { echo "soak: FAIL: $fd_end fds open at the end, $fd0 at the start"; ok=0; }
[ "$src" -eq 0 ] || { echo "soak: FAIL: echo_server exited with $src"; ok=0; }
if [ $ok -eq 1 ]; then
    echo "soak: PASS"
    [ -n "${SOAK_DIR:-}" ] || rm -rf "$out"
    exit 0
fi
echo "soak: samples (t rss_kb fds) in $out/samples"
exit 1
