#!/bin/sh
# size.sh - `make cortex-m': cross-compile cio's core for a Cortex-M4 and
# print its size per module, and the RAM a task costs beyond its frame.
#
#   sh examples/embedded/size.sh [SRCDIR]
#
# The build is the embedded one: arm-none-eabi-gcc -Os -mthumb
# -mcpu=cortex-m4, the bare backend (-DCIO_BACKEND_BARE), no heap
# (-DCIO_NO_HEAP), one section per function. Sizes are of the object files
# (text = code and read-only data), before the linker drops what a program
# does not use; then the embedded sample as linked, split into cio, the
# application and the libraries. Needs Debian's gcc-arm-none-eabi (and
# libnewlib-arm-none-eabi for the headers and the sample's C library);
# exits 77 with a message when it is missing.
#
# Environment: ARM_CC (default arm-none-eabi-gcc), CORE_MAX (bytes the core
# may take, default 6144), TASK_RAM_MAX (default 48).

srcdir=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=${ARM_CC:-arm-none-eabi-gcc}
size=${ARM_SIZE:-${cc%gcc}size}
nm=${ARM_NM:-${cc%gcc}nm}
core_max=${CORE_MAX:-6144}
task_ram_max=${TASK_RAM_MAX:-48}

command -v "$cc" >/dev/null 2>&1 || {
    echo "SKIP: $cc not found: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
    exit 77
}

tmp=${TMPDIR:-/tmp}/cio-cortex-m.$$
mkdir -p "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT

flags="-Os -mthumb -mcpu=cortex-m4 -std=gnu99 -ffunction-sections -fdata-sections
  -DCIO_BUILD -DCIO_BACKEND_BARE -DCIO_NO_HEAP -I$srcdir/include -I$srcdir/src"

# module  layer  file ("core" counts toward CORE_MAX)
modules="
futures     core  src/task/future.c
tasks       core  src/task/task.c
slots       core  src/task/slot.c
sleep       core  src/task/sleep.c
gather      core  src/task/gather.c
wait        core  src/task/wait.c
queue       core  src/task/queue.c
channel     core  src/task/channel.c
scheduler   core  src/loop/loop.c
handles     core  src/loop/handle.c
pools       core  src/pool.c
timers      core  src/loop/timer_list.c
bare        core  src/loop/backend_bare.c
select      extra src/task/select.c
lock        extra src/task/lock.c
event       extra src/task/event.c
semaphore   extra src/task/semaphore.c
barrier     extra src/task/barrier.c
errors      extra src/error.c
"

printf '%-11s %-6s %6s %5s %5s  %s\n' module layer text data bss file
core=0
extra=0
fail=0
echo "$modules" | while read -r name layer file; do
    [ -n "$name" ] || continue
    if [ ! -f "$srcdir/$file" ]; then
        printf '%-11s %-6s %6s %5s %5s  %s\n' "$name" "$layer" - - - "$file (not yet written)"
        continue
    fi
    obj=$tmp/$name.o
    # shellcheck disable=SC2086
    if ! $cc $flags -c "$srcdir/$file" -o "$obj" 2>"$tmp/$name.err"; then
        printf '%-11s %-6s %6s %5s %5s  %s\n' "$name" "$layer" ERR - - "$file"
        sed 's/^/    /' "$tmp/$name.err" | head -n 5
        echo "$name" >>"$tmp/failed"
        continue
    fi
    set -- $("$size" "$obj" | awk 'NR == 2 { print $1, $2, $3 }')
    printf '%-11s %-6s %6d %5d %5d  %s\n' "$name" "$layer" "$1" "$2" "$3" "$file"
    echo "$layer $1" >>"$tmp/sums"
done
core=$(awk '$1 == "core" { s += $2 } END { print s + 0 }' "$tmp/sums" 2>/dev/null)
extra=$(awk '$1 == "extra" { s += $2 } END { print s + 0 }' "$tmp/sums" 2>/dev/null)
echo "coroutines: header-only (include/cio/coro.h): code only inside each coroutine"
printf 'core total: %d bytes of code (target <= %d)\n' "$core" "$core_max"
printf 'extras total: %d bytes (sync primitives, select, error strings)\n' "$extra"

# RAM: sizes as the cross compiler sees them, read back as symbol sizes.
cat >"$tmp/ram.c" <<'EOF'
#include "internal.h"
char cio_task_header[CIO__TASK_FRAME_OFFSET];   /* a task's bytes before its frame */
char cio_task_link[2 * sizeof(void *)];         /* after it: no heap, so every task
                                                   is in the loop's list (task.c) */
char cio_coro_header[sizeof(cio_coro)];         /* inside the frame */
char cio_future_bytes[sizeof(cio_future)];
char cio_loop_bytes[sizeof(cio_loop)];
char cio_timer_bytes[sizeof(cio__timer)];
EOF
# shellcheck disable=SC2086
$cc $flags -fno-common -c "$tmp/ram.c" -o "$tmp/ram.o" || exit 1
ram() { printf '%d' "0x$("$nm" -S "$tmp/ram.o" | awk -v s="$1" '$4 == s { print $2 }')"; }
task=$(( $(ram cio_task_header) + $(ram cio_task_link) ))
printf 'RAM per task beyond its frame: %d bytes (target <= %d; header %d, list link %d; the frame starts with a %d-byte cio_coro)\n' \
    "$task" "$task_ram_max" "$(ram cio_task_header)" "$(ram cio_task_link)" "$(ram cio_coro_header)"
printf 'RAM: future %d, timer %d, loop %d bytes\n' \
    "$(ram cio_future_bytes)" "$(ram cio_timer_bytes)" "$(ram cio_loop_bytes)"

# What a program links: the sample, built as examples/embedded/build.sh
# builds it (--gc-sections), its code split by where each byte comes from
# (nm -l: the source file of each symbol; libgcc's aliases counted once).
if sh "$srcdir/examples/embedded/build.sh" "$tmp/sample" "$srcdir" >"$tmp/sample.log" 2>&1; then
    elf=$tmp/sample/get_channel_user_info.elf
    text=$("$size" -A "$elf" | awk '$1 == ".text" { print $2 }')
    set -- $("$nm" -n -S -l --defined-only "$elf" | awk '
        function hex(s,    i, n) {
            n = 0
            s = tolower(s)
            for (i = 1; i <= length(s); i++)
                n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
            return n
        }
        $3 ~ /^[tTrR]$/ && NF >= 4 {
            a = hex($1)
            e = a + hex($2)
            if (a < end) a = end
            if (e <= a) next
            end = e
            if ($5 ~ /\/src\//) cio += e - a
            else if ($5 ~ /\/examples\/embedded\//) app += e - a
            else if ($5 ~ /libgcc/) gcc += e - a
            else libc += e - a
        }
        END { printf "%d %d %d %d\n", cio, app, gcc, libc }')
    printf 'the sample as linked (examples/embedded, Cortex-M3): %d bytes of code: cio %d, the application %d, libgcc %d (soft-float double arithmetic), C library %d, the rest %d (string constants, alignment)\n' \
        "$text" "$1" "$2" "$3" "$4" "$((text - $1 - $2 - $3 - $4))"
else
    echo "the sample as linked: not built (examples/embedded/build.sh failed):"
    sed 's/^/    /' "$tmp/sample.log" | head -n 5
fi

status=0
[ -f "$tmp/failed" ] && { echo "FAIL: did not compile: $(cat "$tmp/failed" | tr '\n' ' ')"; status=1; }
[ "$core" -le "$core_max" ] || echo "over target: core $core > $core_max bytes"
[ "$task" -le "$task_ram_max" ] || echo "over target: task $task > $task_ram_max bytes"
exit $status
