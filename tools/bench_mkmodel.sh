#!/bin/sh
# bench_mkmodel.sh — how fast flashfs-mkmodel writes a model (issue: ≥ 200 MB/s, a 1.5 GiB
# model in under a minute). Prints a Markdown section on stdout (see tools/bench_lib.sh).
#
#   sh tools/bench_mkmodel.sh [--quick]
#
# The llama-3.2-1b preset (bf16, vocabulary of the demo tokenizer: 1.83 GiB) as safetensors
# and as GGUF, with 1 and 2 generator threads; wall time of the command (data in the page
# cache, as a user sees it) and the time until `sync` has written it to disk. Quick mode:
# 4 of the 16 layers (0.47 GiB), one run.
set -u
. tools/bench_lib.sh
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
MK=$BL_BUILD/flashfs-mkmodel
[ -x "$MK" ] || { echo "bench_mkmodel: $MK missing (run make first)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/flashfs-bench-mkmodel.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

RUNS=3
SHAPE="--preset llama-3.2-1b"
[ $QUICK = 1 ] && { RUNS=1; SHAPE="--preset llama-3.2-1b --layers 4"; }

# one_run FORMAT THREADS: prints "wall_s sync_s bytes"
one_run() {
    rm -rf "$TMP/m"
    sync
    t0=$(bl_now)
    "$MK" "$TMP/m" $SHAPE --format "$1" --threads "$2" --quiet || return 1
    t1=$(bl_now)
    sync
    t2=$(bl_now)
    bytes=$(find "$TMP/m" -type f \( -name '*.safetensors' -o -name '*.gguf' \) -exec stat -c %s {} + |
            awk '{ s += $1 } END { print s }')
    echo "$t0 $t1 $t2 $bytes" | awk '{ printf "%.3f %.3f %d\n", $2 - $1, $3 - $1, $4 }'
}

echo "## flashfs-mkmodel: model generation speed (tools/bench_mkmodel.sh$([ $QUICK = 1 ] && echo ' --quick'))"
echo
echo "Model: \`flashfs-mkmodel OUT $SHAPE\` (bf16, vocabulary 4096 of the demo tokenizer)."
echo "Wall time of the command (the data then sits in the page cache) and the time until \`sync\`"
echo "returned (on disk). Median of $RUNS run(s); MB/s = 10^6 bytes per second of the wall time."
echo
bl_header "format" "threads" "size" "wall s" "MB/s" "wall s incl. sync" "speed-up vs 1 thread"
for fmt in safetensors gguf; do
    base=""
    for th in 1 2; do
        : > "$TMP/w"; : > "$TMP/s"
        r=0
        while [ $r -lt $RUNS ]; do
            set -- $(one_run $fmt $th) || exit 1
            echo "$1" >> "$TMP/w"; echo "$2" >> "$TMP/s"; bytes=$3
            echo "bench_mkmodel: $fmt, $th thread(s): $1 s (sync $2 s)" >&2
            r=$((r + 1))
        done
        w=$(bl_median < "$TMP/w"); s=$(bl_median < "$TMP/s")
        [ -z "$base" ] && base=$w
        bl_row "$fmt" "$th" "$(bl_bytes "$bytes")" "$w" "$(bl_ratio "$bytes" "$(awk -v w="$w" 'BEGIN{print w * 1e6}')" 0)" \
            "$s" "$(bl_ratio "$base" "$w")x"
    done
done
rm -rf "$TMP/m"
echo
echo "Target: ≥ 200 MB/s; a 1.5 GiB model in under a minute."
