#!/bin/sh
# fuzz/build.sh OUTDIR SRCDIR: build the libFuzzer harnesses with clang
# against the library's sources directly (no libtool, no configure
# needed), each under ASan + UBSan. Used by `make fuzz'.
set -e
out=${1:-fuzz/bin}
src=${2:-.}
CLANG=${CLANG:-clang}
mkdir -p "$out"
libsrc=$(cd "$src" && ls src/*.c src/task/*.c src/loop/loop.c src/loop/handle.c \
    src/loop/timer_queue.c src/loop/timer_list.c src/loop/backend_ev.c \
    src/thread/*.c src/net/*.c)
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined -DCIO_BACKEND_LIBEV=1
    -I$src/include -I$src/src $(pkg-config --cflags libev 2>/dev/null || true)"
libs="$(pkg-config --libs libev 2>/dev/null || echo -lev) -lm -lpthread"
for h in ${FUZZ_TARGETS:-fuzz_http fuzz_stream}; do
    set --
    for f in $libsrc; do set -- "$@" "$src/$f"; done
    echo "  CLANG    $out/$h"
    # shellcheck disable=SC2086
    $CLANG $flags -o "$out/$h" "$src/fuzz/$h.c" "$@" $libs
done
