#!/bin/sh
# test_http.sh - examples/http_server against raw requests (pipelined,
# HTTP/1.0, garbage, truncated, too large, slow), its timeouts, its
# --workers mode, and examples/http_bench and examples/echo_server against
# it. Everything on 127.0.0.1; bounded in count and time.
set -u
. "${top_srcdir:-.}/tests/http_common.sh"
raw=$b/tests/rawhttp

start server "$b/examples/http_server" 0 --host 127.0.0.1 \
    --idle-timeout 1 --header-timeout 0.5 || exit 1
spid=$pid
sport=$port

# expect NAME REQUEST PATTERN [RAWHTTP-ARGS...]: the answer matches PATTERN
# (grep -E) and the server closed the connection (rawhttp exit 0).
expect() {
    name=$1 req=$2 pat=$3
    shift 3
    printf "$req" | "$raw" "$sport" "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -Eq "$pat" "$tmp/out"; then
        ok "$name"
    else
        bad "$name (rawhttp exit $rc)"
        head -c 600 "$tmp/out"
        echo
    fi
}

expect "one request" 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' '^hello, world$'
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n' |
    "$raw" "$sport" >"$tmp/out" 2>&1
n=$(grep -c 'HTTP/1.1 200 OK' "$tmp/out")
[ "$n" -eq 3 ] && ok "pipelining: 3 requests, 3 answers in one write" || bad "pipelining ($n answers)"
expect "HTTP/1.0 closes" 'GET / HTTP/1.0\r\n\r\n' 'Connection: close' --keep
expect "Connection: close" 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n' 'hello, world' --keep
expect "body is read and skipped" 'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n\r\n' \
    'hello, worldHTTP/1.1 200'
expect "garbage: 400" 'garbage\r\n\r\n' '^HTTP/1.1 400 ' --keep
expect "binary junk: 400" '\001\002\377\376 \r\n\r\n' '^HTTP/1.1 400 ' --keep
expect "bad version: 400" 'GET / HTTP/9.9\r\n\r\n' '^HTTP/1.1 400 ' --keep
expect "no target: 400" 'GET  HTTP/1.1\r\n\r\n' '^HTTP/1.1 400 ' --keep
expect "bare LF: 400" 'GET / HTTP/1.1\n\r\n\r\n' '^HTTP/1.1 400 ' --keep
expect "header without colon: 400" 'GET / HTTP/1.1\r\nBad header\r\n\r\n' '^HTTP/1.1 400 ' --keep
expect "bad Content-Length: 400" 'GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n' '^HTTP/1.1 400 ' --keep
expect "chunked: 501" 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' '^HTTP/1.1 501 ' --keep
expect "400 after a good request" 'GET / HTTP/1.1\r\n\r\nBAD\r\n\r\n' 'hello, worldHTTP/1.1 400' --keep
big=$(head -c 9000 /dev/zero | tr '\0' a)
expect "head over 8 KiB: 431" "GET / HTTP/1.1\r\nX: $big\r\n\r\n" '^HTTP/1.1 431 ' --keep
# truncated: EOF in the middle of a head gets no answer, just a close
printf 'GET / HTTP/1.1\r\nHost: a\r\n' | "$raw" "$sport" >"$tmp/out" 2>&1
[ $? -eq 0 ] && [ ! -s "$tmp/out" ] && ok "truncated head: closed, no answer" || bad "truncated head"
printf 'GET / HT' | "$raw" "$sport" >"$tmp/out" 2>&1
[ $? -eq 0 ] && [ ! -s "$tmp/out" ] && ok "truncated request line: closed" || bad "truncated request line"
# slow head: the header timeout (0.5 s) closes it; idle keep-alive: 1 s
printf 'GET / HTTP/1.1\r\nHost: a\r\n' | "$raw" "$sport" --keep --wait 3 >"$tmp/out" 2>&1
[ $? -eq 0 ] && [ ! -s "$tmp/out" ] && ok "header timeout closes a slow head" || bad "header timeout"
expect "idle timeout closes a keep-alive connection" 'GET / HTTP/1.1\r\n\r\n' 'hello, world' --keep --wait 3

# still serving after all that
expect "still serving" 'GET / HTTP/1.1\r\n\r\n' '^hello, world$'

# http_bench against it
if "$b/examples/http_bench" "http://127.0.0.1:$sport/" -n 20000 -c 20 >"$tmp/bench" 2>&1 &&
   grep -q 'non-2xx: 0  errors: 0' "$tmp/bench"; then
    ok "http_bench -n 20000 -c 20: $(grep 'requests/s' "$tmp/bench")"
else
    bad "http_bench"
    cat "$tmp/bench"
fi
"$b/examples/http_bench" "http://127.0.0.1:1/" -n 10 -c 2 >"$tmp/bench" 2>&1
[ $? -ne 0 ] && ok "http_bench: refused connections fail" || bad "http_bench to a closed port"

stop "$spid" && ok "SIGTERM stops http_server cleanly" || bad "http_server did not stop on SIGTERM"
grep -v 'listening on port' "$tmp/server.log" | grep . && bad "http_server printed errors"

# --workers 2 on the port the first one had (now free): SO_REUSEPORT
start workers "$b/examples/http_server" "$sport" --host 127.0.0.1 --workers 2 || exit 1
wpid=$pid
if "$b/examples/http_bench" "http://127.0.0.1:$sport/" -n 4000 -c 8 >"$tmp/bench" 2>&1; then
    ok "--workers 2: http_bench passes"
else
    bad "--workers 2"
    cat "$tmp/bench"
fi
nkids=$(grep -l "^PPid:[[:space:]]*$wpid\$" /proc/[0-9]*/status 2>/dev/null | wc -l)
[ "$nkids" -eq 2 ] && ok "--workers 2: two processes" || bad "--workers 2: $nkids workers"
stop "$wpid" && ok "SIGTERM stops all workers" || bad "workers did not stop"

# echo_server
start echo "$b/examples/echo_server" 0 --host 127.0.0.1 || exit 1
epid=$pid
printf 'ping\nabc' | "$raw" "$port" >"$tmp/out" 2>&1
[ "$(cat "$tmp/out")" = "$(printf 'ping\nabc')" ] && ok "echo_server echoes" || bad "echo_server"
kill -INT "$epid"
wait "$epid" && ok "SIGINT stops echo_server cleanly" || bad "echo_server on SIGINT"
"$b/examples/http_server" --help | grep -q workers && ok "--help" || bad "--help"
finish
