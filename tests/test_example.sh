#!/bin/sh
# test_example.sh - the port of the asyncio sample prints its six lines in
# order, and its three one-second sleeps overlap (about 1 s in all, not 3).
set -u
prog=${top_builddir:-.}/examples/get_channel_user_info
out=$(mktemp)
trap 'rm -f "$out"' EXIT

start=$(date +%s%N)
"$prog" >"$out" || { echo "FAIL: $prog exited $?"; exit 1; }
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))

expected='request start baidu
request start bytedance
request start weixin
request succ baidu
request succ bytedance
request succ weixin'
if [ "$(cat "$out")" != "$expected" ]; then
    echo "FAIL: unexpected output:"; cat "$out"; exit 1
fi
if [ "${CIO_BACKEND:-}" = bare ]; then    # the virtual clock: no real sleeping
    echo "ok: six lines in order in ${ms} ms (bare backend, virtual clock)"
    echo "1 passed, 0 failed"
    exit 0
fi
# Overlap, not speed: three sequential sleeps would take 3000 ms or more.
if [ "$ms" -lt 1000 ] || [ "$ms" -ge 2500 ]; then
    echo "FAIL: took ${ms} ms; the sleeps did not overlap (or ended early)"; exit 1
fi
echo "ok: six lines in order in ${ms} ms"
echo "1 passed, 0 failed"
