#!/bin/sh
# test_http_wrk.sh - examples/http_server under wrk, a client nobody here
# wrote: 3 seconds, 50 keep-alive connections; zero socket errors and zero
# non-2xx answers. Skips (exit 77) without wrk; .ci/run installs it.
set -u
. "${top_srcdir:-.}/tests/http_common.sh"
if ! command -v wrk >/dev/null 2>&1; then
    echo "skip: wrk not installed (apt-get install wrk)"
    exit 77
fi
start server "$b/examples/http_server" 0 --host 127.0.0.1 || exit 1
wrk -t1 -c50 -d3s "http://127.0.0.1:$port/" >"$tmp/wrk" 2>&1
rc=$?
sed 's/^/  /' "$tmp/wrk"
n=$(sed -n 's/^ *\([0-9][0-9]*\) requests in.*/\1/p' "$tmp/wrk")
if [ $rc -eq 0 ] && [ "${n:-0}" -gt 0 ] && ! grep -q 'Socket errors' "$tmp/wrk" &&
   ! grep -q 'Non-2xx' "$tmp/wrk"; then
    ok "wrk: $n requests, no socket errors, no non-2xx"
else
    bad "wrk (exit $rc)"
fi
stop "$pid" && ok "http_server stopped cleanly" || bad "http_server stop"
finish
