#!/bin/sh
# test_docs.sh - every C code block of the documentation compiles, so no
# example in the docs can rot.
#
# Blocks: ```c fences in README.md and docs/*.md, and .EX/.EE examples in
# the man pages (docs/man/*.3). ```python, ```go, ```sh and plain ```
# blocks are not compiled. Each C block is one translation unit, compiled
# as gnu99 with -Wall -Wextra -Werror after a prelude:
#     #include <stdio.h> <stdlib.h> <string.h> <cio.h>
# Markers, on the first line of a block:
#     /* fragment */    statements: wrapped in a function body with
#                        `cio_loop *loop` in scope
#     /* continued */   appended to the block before it (same document),
#                        so a later block can use what an earlier defined
set -u
src=${top_srcdir:-.}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# Write every block of $1 as $tmp/blocks/<n>.c with a first line
# "//@ <file>:<line> <kind>"; kind is full, fragment or continued.
extract() {
    awk -v out="$tmp/blocks" -v start="$(ls "$tmp/blocks" | wc -l)" -v name="$2" '
        function open_block(kind_line) {
            n++
            f = sprintf("%s/%05d.c", out, start + n)
            first = 1
            inb = 1
        }
        function emit(s) {
            if (first) {
                kind = "full"
                if (s ~ /^[ \t]*\/\*[ \t]*fragment[ \t]*\*\/[ \t]*$/) kind = "fragment"
                if (s ~ /^[ \t]*\/\*[ \t]*continued[ \t]*\*\/[ \t]*$/) kind = "continued"
                printf "//@ %s:%d %s\n", name, NR, kind > f
                first = 0
            }
            print s > f
        }
        FILENAME ~ /\.3$/ {
            if (!inb && $0 ~ /^\.EX/) { open_block(); next }
            if (inb && $0 ~ /^\.EE/) { inb = 0; if (first) emit(""); close(f); next }
            if (inb) {
                s = $0
                gsub(/\\&/, "", s); gsub(/\\-/, "-", s); gsub(/\\\(aq/, "\047", s)
                gsub(/\\e/, "\\", s)
                emit(s)
            }
            next
        }
        {
            if (!inb && $0 ~ /^[ \t]*```c[ \t]*$/) { open_block(); next }
            if (inb && $0 ~ /^[ \t]*```[ \t]*$/) { inb = 0; if (first) emit(""); close(f); next }
            if (inb) emit($0)
        }' "$1"
}

mkdir "$tmp/blocks"
for doc in "$src/README.md" "$src"/docs/*.md "$src"/docs/man/*.3; do
    [ -f "$doc" ] || continue
    extract "$doc" "${doc#"$src"/}"
done

prelude='#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cio.h>'

# Assemble translation units: a continued block joins the one before it.
unit=""
units=0
for b in "$tmp"/blocks/*.c; do
    [ -f "$b" ] || continue
    head=$(head -n 1 "$b")
    where=${head#//@ }
    where=${where% *}
    kind=${head##* }
    if [ "$kind" = continued ] && [ -n "$unit" ]; then
        printf '#line %s "%s"\n' "${where##*:}" "${where%:*}" >>"$unit"
        tail -n +2 "$b" >>"$unit"
        continue
    fi
    units=$((units + 1))
    unit="$tmp/unit$units.c"
    echo "$where" >"$tmp/unit$units.where"
    {
        echo "$prelude"
        if [ "$kind" = fragment ]; then
            echo "void cio_doc_fragment(cio_loop *loop);"
            echo "void cio_doc_fragment(cio_loop *loop)"
            echo "{"
            printf '#line %s "%s"\n' "${where##*:}" "${where%:*}"
            tail -n +2 "$b"
            echo "}"
        else
            printf '#line %s "%s"\n' "${where##*:}" "${where%:*}"
            tail -n +2 "$b"
        fi
    } >"$unit"
done

i=1
while [ "$i" -le "$units" ]; do
    where=$(cat "$tmp/unit$i.where")
    if $cc -std=gnu99 -Wall -Wextra -Werror -Wno-unused-function -Wno-unused-parameter \
           -I"$src/include" -c "$tmp/unit$i.c" -o "$tmp/unit$i.o" >"$tmp/out" 2>&1; then
        pass=$((pass + 1))
        echo "ok: $where"
    else
        fail=$((fail + 1))
        echo "FAIL: $where"
        cat "$tmp/out"
    fi
    i=$((i + 1))
done

if [ "$units" -eq 0 ]; then
    echo "FAIL: no C code block found under $src"
    exit 1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
