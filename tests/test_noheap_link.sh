#!/bin/sh
# The build without a heap (CIO_NO_HEAP, libcio_noheap.la: the bare backend,
# one section per function) must not reference malloc, calloc, realloc or
# free - nor anything of the OS: the only C library functions it may call
# are the mem*/str* ones a freestanding target has. And using what would
# need a heap must be a link error: a program calling cio_loop_new (not
# cio_loop_new_in) does not link, naming cio__no_heap_build_cannot_allocate.
#
# Run by `make check' (top_builddir, top_srcdir, NM, CC, TEST_LDFLAGS come
# from AM_TESTS_ENVIRONMENT). Exit status: 0 pass, 1 fail, 77 skip.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
lib=$top_builddir/.libs/libcio_noheap.a

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

test -f "$lib" || fail "$lib not found: make check builds it"
nm=${NM:-nm}
# shellcheck disable=SC2086
$nm --version >/dev/null 2>&1 || skip "nm not usable: $nm"

# shellcheck disable=SC2086
defined=$($nm --defined-only "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u)
# shellcheck disable=SC2086
undefined=$($nm -u "$lib" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u)
test -n "$defined" || fail "$nm found no symbols in $lib"

bad=
for s in $undefined; do
    case $s in
        malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|valloc)
            bad="$bad $s" ;;
        memcpy|memmove|memset|memcmp|strlen|strcmp|strncmp) ;;
        cio__no_heap_build_cannot_allocate) ;;
        _GLOBAL_OFFSET_TABLE_|__stack_chk_fail|__stack_chk_guard) ;;
        __asan*|__ubsan*|__gcov*|__sanitizer*|__tsan*|__llvm*) ;;
        *)
            if ! printf '%s\n' "$defined" | grep -qx "$s"; then
                bad="$bad $s"
            fi ;;
    esac
done
echo "undefined outside libcio_noheap:" \
    "$(for s in $undefined; do printf '%s\n' "$defined" | grep -qx "$s" || printf '%s ' "$s"; done)"
test -z "$bad" || fail "the no-heap build references:$bad"
echo "ok: no malloc, calloc, realloc or free; no OS call"

# The link error. CC may be unusable outside make (by hand): skip then.
cc=${CC:-cc}
tmp=${TMPDIR:-/tmp}/cio-noheap.$$
mkdir "$tmp" || fail "mkdir $tmp"
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/uses_heap.c" <<'EOF'
#include <cio.h>
int main(void)
{
    cio_loop *loop = cio_loop_new();    /* needs the heap */
    return cio_loop_free(loop);
}
EOF
# shellcheck disable=SC2086
$cc -I"$top_srcdir/include" -c "$tmp/uses_heap.c" -o "$tmp/uses_heap.o" ||
    skip "cannot compile with $cc"
# shellcheck disable=SC2086
if $cc $TEST_LDFLAGS -o "$tmp/uses_heap" "$tmp/uses_heap.o" "$lib" -Wl,--gc-sections \
       >"$tmp/link.log" 2>&1; then
    fail "a program calling cio_loop_new linked against the no-heap build"
fi
grep -q cio__no_heap_build_cannot_allocate "$tmp/link.log" ||
    { cat "$tmp/link.log"; fail "the link failed, but not for the heap"; }
echo "ok: cio_loop_new does not link:"
grep cio__no_heap_build_cannot_allocate "$tmp/link.log" | head -n 1
exit 0
