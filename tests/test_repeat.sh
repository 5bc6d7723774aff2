#!/bin/sh
# The repeated-run check (issue 8): every Check suite runs three times in one
# process (CIO_TEST_REPEAT=3: tests/testutil.h, run_suite, in Check's no-fork
# mode), and heap bytes in use and open fds must not grow from the second
# round to the third (a leak per run shows there; the first two rounds may
# still set up one-time state, such as a worker thread's). glibc's per-thread malloc cache is turned off so that mallinfo2
# counts exactly the bytes still allocated.
#
# Run by `make check' (CIO_CHECK_TESTS, LIBTOOL and top_builddir come from
# AM_TESTS_ENVIRONMENT). Exit status: 0 pass, 1 fail, 77 skip.

top_builddir=${top_builddir:-.}
LIBTOOL=${LIBTOOL:-"$top_builddir/libtool"}
rounds=${CIO_REPEAT_ROUNDS:-3}

[ -n "$CIO_CHECK_TESTS" ] || { echo "SKIP: CIO_CHECK_TESTS is empty"; exit 77; }
[ -d /proc/self/fd ] || { echo "SKIP: no /proc/self/fd to count fds"; exit 77; }

status=0
n=0
for t in $CIO_CHECK_TESTS; do
    case $t in */test_coro_*) continue ;; esac  # no cio objects, no loop
    log=$top_builddir/$t.repeat
    # shellcheck disable=SC2086
    if CIO_TEST_REPEAT=$rounds GLIBC_TUNABLES=glibc.malloc.tcache_count=0 \
           timeout 600 $LIBTOOL --mode=execute "$top_builddir/$t" >"$log" 2>&1; then
        echo "PASS: $t: $(grep "round $rounds of" "$log")"
    else
        echo "FAIL: $t (its output: $log)"
        grep -E 'repeat:|:F:|:E:' "$log" | head -20
        status=1
    fi
    n=$((n + 1))
done
echo "repeat: $n suites, $rounds rounds each in one process: $([ $status = 0 ] && echo "no growth in heap bytes or fds" || echo FAILED)"
exit $status
