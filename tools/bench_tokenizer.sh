#!/bin/sh
# bench_tokenizer.sh — tokenizer throughput, printed as a Markdown section on stdout.
#
#   sh tools/bench_tokenizer.sh [--quick]
#
# For each fixture tokenizer (Llama-3-style byte-level BPE, Qwen2 byte-level BPE,
# SentencePiece-style BPE with byte fallback): encode and decode 1 MB of generated prose,
# and 100k repetitions of one character (the worst case of a naive quadratic BPE).
# MB/s are medians of several runs of CPU time (build/tests/tk_bench), so that a busy
# machine does not distort them; the last column compares each with the demo tokenizer.
# Run from the repo root after `make`.
set -u
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
B=${FLASHFS_BUILD:-build}
BENCH=$B/tests/tk_bench
[ -x "$BENCH" ] || { echo "bench_tokenizer: $BENCH missing (run make first)" >&2; exit 1; }
RUNS=7
[ $QUICK = 1 ] && RUNS=3

echo "## Tokenizer"
echo
echo "Encode/decode throughput of \`tk_encode\`/\`tk_decode\` (median of $RUNS runs, CPU time, one thread)."
echo
echo "| tokenizer | text | MB | encode MB/s | decode MB/s | tokens | encode vs demo |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
base_prose=""
base_run=""
for fx in demo dev/qwen2-bl-bf16 dev/llama-sp-f32; do
    for kind in prose run; do
        mb=1
        [ $kind = run ] && mb=0.1
        line=$("$BENCH" "tests/fixtures/$fx" --kind $kind --mb $mb --runs $RUNS) || {
            echo "| $fx | $kind | $mb | failed | | | |"; continue; }
        set -- $line
        enc=$4 dec=$6 tok=$8
        if [ $fx = demo ]; then
            [ $kind = prose ] && base_prose=$enc || base_run=$enc
        fi
        base=$base_prose
        [ $kind = run ] && base=$base_run
        ratio=$(awk -v a="$enc" -v b="$base" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
        label="1 MB prose"
        [ $kind = run ] && label="100k x 'a'"
        echo "| $fx | $label | $2 | $enc | $dec | $tok | $ratio |"
    done
done
echo
