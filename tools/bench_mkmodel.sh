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

# one_run FORMAT THREADS > FILE: "wall_s sync_s bytes cpu_s" (not in a subshell, so that
# bl_child_cpu sees the generator's CPU time)
one_run() {
    rm -rf "$TMP/m"
    sync
    bl_child_cpu; c0=$BL_CHILD_CPU
    t0=$(bl_now)
    "$MK" "$TMP/m" $SHAPE --format "$1" --threads "$2" --quiet || return 1
    t1=$(bl_now)
    bl_child_cpu; c1=$BL_CHILD_CPU
    sync
    t2=$(bl_now)
    bytes=$(find "$TMP/m" -type f \( -name '*.safetensors' -o -name '*.gguf' \) -exec stat -c %s {} + |
            awk '{ s += $1 } END { print s }')
    echo "$t0 $t1 $t2 $bytes $c0 $c1" | awk '{ printf "%.3f %.3f %d %.3f\n", $2 - $1, $3 - $1, $4, $6 - $5 }'
}

echo "## flashfs-mkmodel: model generation speed (tools/bench_mkmodel.sh$([ $QUICK = 1 ] && echo ' --quick'))"
echo
echo "Model: \`flashfs-mkmodel OUT $SHAPE\` (bf16, vocabulary 4096 of the demo tokenizer)."
echo "Wall time of the command (the data then sits in the page cache) and the time until \`sync\`"
echo "returned (on disk), and the CPU time of the command (user + sys, all threads), which other"
echo "load on the machine does not inflate. Median of $RUNS run(s); MB/s = 10^6 bytes per second."
echo "Load average at the start: $(bl_load)."
echo
bl_header "format" "threads" "size" "wall s" "MB/s" "wall s incl. sync" "speed-up vs 1 thread" "CPU s" "MB per CPU s"
for fmt in safetensors gguf; do
    base=""
    for th in 1 2; do
        : > "$TMP/w"; : > "$TMP/s"; : > "$TMP/c"
        r=0
        while [ $r -lt $RUNS ]; do
            one_run $fmt $th > "$TMP/run" || exit 1
            set -- $(cat "$TMP/run")
            echo "$1" >> "$TMP/w"; echo "$2" >> "$TMP/s"; echo "$4" >> "$TMP/c"; bytes=$3
            echo "bench_mkmodel: $fmt, $th thread(s): $1 s (sync $2 s, CPU $4 s)" >&2
            r=$((r + 1))
        done
        w=$(bl_median < "$TMP/w"); s=$(bl_median < "$TMP/s"); c=$(bl_median < "$TMP/c")
        [ -z "$base" ] && base=$w
        bl_row "$fmt" "$th" "$(bl_bytes "$bytes")" "$w" "$(bl_ratio "$bytes" "$(awk -v w="$w" 'BEGIN{print w * 1e6}')" 0)" \
            "$s" "$(bl_ratio "$base" "$w")x" "$c" "$(bl_ratio "$bytes" "$(awk -v c="$c" 'BEGIN{print c * 1e6}')" 0)"
    done
done
rm -rf "$TMP/m"
echo
echo "Target: ≥ 200 MB/s; a 1.5 GiB model in under a minute."
