#!/bin/sh
# build.sh - build the Cortex-M3 sample for QEMU's mps2-an385 board:
#
#   sh examples/embedded/build.sh OUTDIR [SRCDIR]
#
# makes OUTDIR/get_channel_user_info.elf from cio's core (bare backend, no
# heap) and the sample, with arm-none-eabi-gcc -Os -mthumb -mcpu=cortex-m3
# and newlib for memcpy/strlen. Exits 77 when the toolchain is missing.
out=${1:?usage: build.sh OUTDIR [SRCDIR]}
srcdir=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=${ARM_CC:-arm-none-eabi-gcc}

command -v "$cc" >/dev/null 2>&1 || {
    echo "SKIP: $cc not found: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
    exit 77
}
mkdir -p "$out" || exit 1
ex=$srcdir/examples/embedded
core=
for f in "$srcdir"/src/*.c "$srcdir"/src/task/*.c "$srcdir"/src/loop/*.c; do
    case $f in */backend_ev.c) continue ;; esac
    core="$core $f"
done
# shellcheck disable=SC2086
exec $cc -Os -mthumb -mcpu=cortex-m3 -std=gnu99 -Wall -g \
    -ffunction-sections -fdata-sections \
    -DCIO_BACKEND_BARE -DCIO_NO_HEAP -I"$srcdir/include" -I"$srcdir/src" -I"$ex" \
    -nostartfiles -T "$ex/mps2.ld" -Wl,--gc-sections \
    -o "$out/get_channel_user_info.elf" \
    "$ex/startup.c" "$ex/get_channel_user_info.c" $core -lc -lgcc
