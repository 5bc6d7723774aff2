#!/bin/sh
# test_headers.sh - the public headers compile on their own as strict C99,
# and as C++ (extern "C"), and coro.h needs nothing but the C library.
set -u
src=${top_srcdir:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
pass=0
fail=0

check() {   # check NAME COMMAND...
    name=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then
        pass=$((pass + 1))
        echo "ok: $name"
    else
        fail=$((fail + 1))
        echo "FAIL: $name"
        cat "$tmp/out"
    fi
}

for h in cio.h cio/common.h cio/error.h cio/coro.h cio/alloc.h cio/future.h \
         cio/loop.h cio/task.h cio/combinators.h cio/sync.h cio/queue.h cio/channel.h \
         cio/net.h cio/stream.h cio/timeout.h cio/taskgroup.h cio/bare.h cio/thread.h; do
    printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' "$h" "$h" >"$tmp/one.c"
    check "$h alone, C99" $cc -std=c99 -Wall -Wextra -Werror -I"$src/include" \
        -c "$tmp/one.c" -o "$tmp/one.o"
done

# coro.h with no other include path than its own directory, both backends.
cat >"$tmp/coro.c" <<'C'
#include "coro.h"
typedef struct t { cio_coro co; int n; } t;
static int step(t *self) { CIO_CORO_BEGIN(&self->co); self->n++; CIO_CORO_YIELD(&self->co); CIO_CORO_END(&self->co); }
int main(void) { t x = { { 0 }, 0 }; while (step(&x) == CIO_CORO_PENDING) ; return x.n == 1 ? 0 : 1; }
C
cp "$src/include/cio/coro.h" "$tmp/coro.h"
check "coro.h standalone (switch)" $cc -std=c99 -DCIO_CORO_SWITCH -Wall -Wextra -Werror \
    -I"$tmp" "$tmp/coro.c" -o "$tmp/coro_sw"
check "coro.h standalone (labels)" $cc -std=gnu99 -DCIO_CORO_LABELS -Wall -Wextra -Werror \
    -I"$tmp" "$tmp/coro.c" -o "$tmp/coro_lb"
check "coro.h standalone runs" "$tmp/coro_sw"

if command -v "${CXX:-c++}" >/dev/null 2>&1; then
    printf '#include <cio.h>\nint main() { cio_loop *l = 0; (void)l; return 0; }\n' >"$tmp/cxx.cc"
    check "cio.h as C++" "${CXX:-c++}" -std=c++11 -Wall -Wextra -Werror -I"$src/include" \
        -c "$tmp/cxx.cc" -o "$tmp/cxx.o"
else
    echo "skip: no C++ compiler, C++ check not run"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
