#!/bin/sh
# The Cortex-M3 sample (examples/embedded/) under QEMU's mps2-an385 board:
# cio's core with the bare backend and no heap, SysTick as the clock,
# semihosting for output. It must print the sample's six lines in order,
# in about one second (the three one-second sleeps overlap), and exit 0.
#
# Skips (77) when arm-none-eabi-gcc or qemu-system-arm is missing; .ci/run
# installs both (gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm).
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
out=$top_builddir/examples/embedded

command -v qemu-system-arm >/dev/null 2>&1 ||
    { echo "SKIP: qemu-system-arm not found: apt-get install qemu-system-arm"; exit 77; }
sh "$top_srcdir/examples/embedded/build.sh" "$out" "$top_srcdir"
rc=$?
[ $rc -eq 0 ] || exit $rc               # 77: no cross compiler
elf=$out/get_channel_user_info.elf
log=$out/qemu.out

start=$(date +%s%N)
timeout 60 qemu-system-arm -M mps2-an385 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$elf" >"$log" 2>&1
rc=$?
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
cat "$log"
[ $rc -eq 0 ] || { echo "FAIL: qemu exited with $rc"; exit 1; }
expected='request start baidu
request start bytedance
request start weixin
request succ baidu
request succ bytedance
request succ weixin'
[ "$(cat "$log")" = "$expected" ] || { echo "FAIL: unexpected output"; exit 1; }
# Overlap: three sequential sleeps would take 3000 ms or more (QEMU's
# SysTick follows real time); QEMU's own start-up is part of the figure.
if [ "$ms" -lt 1000 ] || [ "$ms" -ge 2900 ]; then
    echo "FAIL: took ${ms} ms; the sleeps did not overlap (or ended early)"; exit 1
fi
echo "ok: six lines in order in ${ms} ms under qemu-system-arm -M mps2-an385"
