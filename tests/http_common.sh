# http_common.sh - sourced by tests/test_http*.sh: start and stop the
# example servers on loopback ports, clean up on exit. POSIX sh.
b=${top_builddir:-.}
s=${top_srcdir:-.}
tmp=$(mktemp -d)
pids=
pass=0
fail=0

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

# start NAME PROGRAM ARGS...: run it in the background; wait for its
# "listening on port N" line and set $port (and $pid).
start() {
    name=$1
    shift
    "$@" >"$tmp/$name.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    i=0
    port=
    while [ $i -lt 50 ]; do
        port=$(sed -n 's/.*listening on port \([0-9][0-9]*\).*/\1/p' "$tmp/$name.log" 2>/dev/null)
        [ -n "$port" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "could not start $name:"
    cat "$tmp/$name.log"
    return 1
}

# stop PID: SIGTERM, then it must exit 0 within 5 s.
stop() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1"
        wait "$1" 2>/dev/null
        return 1
    fi
    wait "$1"
}

finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
