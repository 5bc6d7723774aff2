#!/bin/sh
# fuzz/run.sh SRCDIR OUTDIR SECONDS: `make fuzz'. Builds the libFuzzer
# harnesses (fuzz/build.sh: clang, ASan + UBSan, the library's sources
# compiled in) into OUTDIR and runs each for SECONDS from its seed corpus
# (fuzz/corpus/NAME; what it finds goes to OUTDIR/corpus-NAME, crashes to
# OUTDIR/crash-NAME-*, kept across runs). Prints executions and crashes per harness; exits
# non-zero if a harness crashed (or found a leak, a hang, a failed check).
# CLANG selects the compiler; FUZZ_TARGETS the harnesses.
set -u
src=${1:-.}
out=${2:-fuzz/bin}
secs=${3:-60}
CLANG=${CLANG:-clang}
targets=${FUZZ_TARGETS:-fuzz_http fuzz_stream}
mkdir -p "$out" || exit 1

# Can clang link a fuzzer here? (Debian: apt-get install clang libclang-rt-14-dev)
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$out/probe.c"
if ! $CLANG -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >"$out/probe.log" 2>&1; then
    echo "fuzz: $CLANG cannot link -fsanitize=fuzzer,address,undefined (the fuzzer" \
         "runtime is missing: apt-get install clang libclang-rt-14-dev):" >&2
    head -3 "$out/probe.log" >&2
    exit 1
fi
CLANG=$CLANG FUZZ_TARGETS=$targets sh "$src/fuzz/build.sh" "$out" "$src" || exit 1

status=0
total=0
for h in $targets; do
    name=${h#fuzz_}
    mkdir -p "$out/corpus-$name"
    dict=
    [ -f "$src/fuzz/$name.dict" ] && dict="-dict=$src/fuzz/$name.dict"
    # heads up to past the example's 8 KiB limit (its 431 path)
    [ "$name" = http ] && dict="$dict -max_len=12000"
    before=$(ls "$out"/crash-"$name"-* 2>/dev/null | wc -l)
    echo "fuzz: $h for ${secs}s"
    # shellcheck disable=SC2086
    "$out/$h" -max_total_time="$secs" -timeout=10 -print_final_stats=1 $dict \
        -artifact_prefix="$out/crash-$name-" "$out/corpus-$name" "$src/fuzz/corpus/$name" \
        >"$out/$h.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log" | tail -n 1)
    crashes=$(( $(ls "$out"/crash-"$name"-* 2>/dev/null | wc -l) - before ))
    echo "fuzz: $h: ${execs:-?} executions in ${secs}s, exit $rc, $crashes crash file(s)" \
         "(log: $out/$h.log)"
    total=$((total + ${execs:-0}))
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
        grep -m 5 -E 'ERROR|SUMMARY|check failed' "$out/$h.log"
    fi
done
echo "fuzz: $total executions in all, $([ $status -eq 0 ] && echo "no crash" || echo "FAILED")"
exit $status
