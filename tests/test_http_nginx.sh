#!/bin/sh
# test_http_nginx.sh - examples/http_bench against nginx, a server nobody
# here wrote: nginx (tests/nginx.conf) on a loopback port, keep-alive.
# Skips (exit 77) without nginx; .ci/run installs nginx-light.
set -u
. "${top_srcdir:-.}/tests/http_common.sh"
nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
if [ -z "$nginx" ]; then
    echo "skip: nginx not installed (apt-get install nginx-light)"
    exit 77
fi
tries=0
while :; do
    nport=$((20000 + ($$ + tries * 7919) % 30000))
    sed -e "s|@PORT@|$nport|g" -e "s|@DIR@|$tmp|g" "$s/tests/nginx.conf" >"$tmp/nginx.conf"
    "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" >"$tmp/nginx.out" 2>&1 &
    npid=$!
    i=0
    while [ $i -lt 30 ] && ! grep -q . "$tmp/nginx.pid" 2>/dev/null && kill -0 $npid 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 $npid 2>/dev/null; then
        pids="$pids $npid"
        break
    fi
    tries=$((tries + 1))
    if [ $tries -ge 5 ]; then
        echo "could not start nginx:"
        cat "$tmp/nginx.out" "$tmp/error.log" 2>/dev/null
        exit 1
    fi
done
sleep 0.2
if "$b/examples/http_bench" "http://127.0.0.1:$nport/" -n 50000 -c 50 >"$tmp/bench" 2>&1 &&
   grep -q 'non-2xx: 0  errors: 0' "$tmp/bench"; then
    ok "http_bench -n 50000 -c 50 against nginx"
    sed 's/^/  /' "$tmp/bench"
else
    bad "http_bench against nginx"
    cat "$tmp/bench" "$tmp/error.log"
fi
finish
