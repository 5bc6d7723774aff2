#!/bin/sh
# The shared library must export only the public API: every defined dynamic
# symbol (code or data) must start with `cio_'. Internal functions are
# compiled with -fvisibility=hidden; only CIO_API (include/cio/common.h)
# makes a symbol visible.
#
# Run by `make check' (top_builddir and NM come from AM_TESTS_ENVIRONMENT);
# by hand: top_builddir=. sh tests/test_exports.sh
# Exit status: 0 pass, 1 fail, 77 skip (no shared library, no nm).

top_builddir=${top_builddir:-.}
lib=$top_builddir/.libs/libcio.so
la=$top_builddir/libcio.la

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

# libcio.la records the shared library's name in dlname; it is empty when
# the build has none (./configure --disable-shared), even if a stale
# .libs/libcio.so survives from an earlier build.
test -f "$la" || fail "$la not found: build the library first (make)"
if grep "^dlname=''" "$la" >/dev/null; then
    skip "no shared library was built (--disable-shared?), nothing to check"
fi
test -f "$lib" || skip "$lib not found (not an ELF shared library platform?)"

nm=${NM:-nm}
# NM from libtool may carry options (e.g. "nm -B"): word-split on purpose.
# shellcheck disable=SC2086
$nm --version >/dev/null 2>&1 || skip "nm not usable: $nm"

# shellcheck disable=SC2086
syms=$($nm -D --defined-only "$lib") || fail "$nm -D --defined-only $lib failed"

# nm prints "VALUE TYPE NAME". Code and data types: T/t text, D/d data,
# B/b bss, R/r read-only, G/g S/s small data, V/v W/w weak, i ifunc, u
# unique global. A (absolute: symbol-version nodes) is not code or data.
# The linker's own markers (_init, _fini, _edata, _end, __bss_start) and
# the instrumentation runtimes of --enable-sanitizers / --enable-coverage
# are not cio's exports (GCC's static libgcov leaks `mangle_path').
exported=$(printf '%s\n' "$syms" | awk '
    NF >= 3 && $2 ~ /^[TtDdBbRrGgSsVvWwiu]$/ { print $3 }
    NF == 2 && $1 ~ /^[TtDdBbRrGgSsVvWwiu]$/ { print $2 }' | sort -u)

test -n "$exported" ||
    fail "$lib exports no code or data at all: is CIO_API applied (and -DCIO_BUILD passed)?"

bad=$(printf '%s\n' "$exported" | grep -v '^cio_' | grep -Ev \
    '^(_init|_fini|_edata|_end|__bss_start|__gcov_.*|__asan_.*|__ubsan_.*|__sanitizer_.*|__odr_asan[._].*|__lsan_.*|mangle_path)$')
internal=$(printf '%s\n' "$exported" | grep '^cio__')
public=$(printf '%s\n' "$exported" | grep -c '^cio_')

echo "$lib: $public exported cio_* symbols"
if test -n "$internal"; then
    echo "warning: internal (cio__) names are exported; keep them without CIO_API unless a test needs them:"
    printf '%s\n' "$internal" | sed 's/^/  /'
fi
if test -n "$bad"; then
    echo "symbols exported without the cio_ prefix (missing static, or CIO_API on the wrong thing):"
    printf '%s\n' "$bad" | sed 's/^/  /'
    fail "$(printf '%s\n' "$bad" | wc -l | tr -d ' ') symbol(s) outside the cio_ namespace"
fi
echo "PASS: every exported symbol starts with cio_"
exit 0
