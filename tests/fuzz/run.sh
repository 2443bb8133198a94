#!/bin/sh
# run.sh — runs the libFuzzer targets of `make fuzz` (see tests/tests.mk).
#
#   sh tests/fuzz/run.sh BUILD_DIR SECONDS JOBS TARGET...
#
# For each target: replays every input of tests/fuzz/regress/TARGET/ (crashes found
# earlier, must stay fixed), then fuzzes for SECONDS with the corpus
#   BUILD_DIR/corpus/TARGET    (written by libFuzzer, kept between runs)
#   BUILD_DIR/seeds/TARGET     (generated from the fixtures by seedgen)
#   tests/fuzz/seeds/TARGET    (small committed hand-made seeds)
# the dictionary named on a "fuzz-dict:" line of the target's source and the input size
# limit of a "fuzz-max-len:" line (libFuzzer's -max_len; longer corpus files are cut). JOBS targets
# run side by side. Crash inputs land in BUILD_DIR/artifacts/TARGET/; logs in
# BUILD_DIR/logs/TARGET.log. Prints one line per target with its execution count; exits
# non-zero when any target crashed, leaked, timed out or failed a regression input.
# Extra libFuzzer flags: FUZZ_FLAGS in the environment.
set -u
B=$1; S=$2; J=$3; shift 3

if [ "${FUZZ_ONE:-}" = "" ]; then
    mkdir -p "$B/logs" "$B/corpus" "$B/artifacts"
    rm -rf "$B/seeds"
    "$B/fuzz/seedgen" "$B/seeds" || exit 1
    [ $# -gt 0 ] || { echo "fuzz: no target is buildable yet (their parsers are missing)"; exit 0; }
    echo "fuzz: $# targets, ${S}s each, $J at a time"
    printf '%s\n' "$@" | FUZZ_ONE=1 xargs -P "$J" -I{} sh "$0" "$B" "$S" "$J" {}
    rc=$?
    echo "fuzz: summary"
    for t in "$@"; do cat "$B/logs/$t.summary" 2>/dev/null || echo "$t: no result"; done
    [ $rc -eq 0 ] && echo "fuzz: all targets clean" || echo "fuzz: FAILED (see $B/logs/, $B/artifacts/)"
    exit $rc
fi

# ---- one target ----
t=$1
bin="$B/fuzz/$t"
log="$B/logs/$t.log"
sum="$B/logs/$t.summary"
mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "$B/seeds/$t"
: > "$log"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

reg="tests/fuzz/regress/$t"
if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
    n=$(ls "$reg" | wc -l)
    if ! "$bin" -runs=1 "$reg"/* >> "$log" 2>&1; then
        echo "$t: REGRESSION input crashed again (see $log)" | tee "$sum"
        tail -n 30 "$log"
        exit 1
    fi
    echo "$t: $n regression inputs pass" >> "$log"
fi

dict=$(sed -n 's/^ \* fuzz-dict: //p' "tests/fuzz/$t.c" | head -n 1)
maxlen=$(sed -n 's/^ \* fuzz-max-len: //p' "tests/fuzz/$t.c" | head -n 1)
set -- -max_total_time="$S" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$t/" ${dict:+-dict=$dict} ${maxlen:+-max_len=$maxlen} ${FUZZ_FLAGS:-}
seeds="$B/seeds/$t"
[ -d "tests/fuzz/seeds/$t" ] && seeds="$seeds tests/fuzz/seeds/$t"
start=$(date +%s)
# shellcheck disable=SC2086
"$bin" "$@" "$B/corpus/$t" $seeds >> "$log" 2>&1
rc=$?
secs=$(( $(date +%s) - start ))
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
if [ $rc -ne 0 ]; then
    echo "$t: CRASH after ${execs:-?} executions in ${secs}s (see $log, $B/artifacts/$t/)" | tee "$sum"
    grep -m 3 -E 'ERROR|runtime error|SUMMARY' "$log"
    exit 1
fi
echo "$t: ${execs:-?} executions in ${secs}s, ${cov:-cov: ?} edges, corpus $(ls "$B/corpus/$t" | wc -l) files, no crash" | tee "$sum"
exit 0
