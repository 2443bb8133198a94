#!/bin/sh
# bench_engine.sh — flashgen generation speed, printed as a Markdown section on stdout.
#
#   sh tools/bench_engine.sh [--quick]
#
# Models: the bundled demo (bf16, 6 layers) and a 1B-parameter Llama-shaped bf16 model
# (hidden 2048, 16 layers, FFN 8192, made once with `flashfs-mkmodel --preset
# llama-3.2-1b` under $BENCH_MODELS, default build/bench). For each: flashgen with 2
# threads, greedy, EOS ignored, RESIDENT (every layer in memory) and STREAMING (--ram of
# half the model's weights: what fits stays, the rest is re-read every token; when half
# is below the streaming minimum, every layer streams). Prefill and decode tok/s and peak
# RSS are medians of several runs, side by side with llama.cpp's llama-bench (2 threads) run
# in the same scenario on the same shapes: tests/fixtures/gguf/demo-bf16.gguf (the demo
# converted by llama.cpp) and the 1B preset written with --format gguf (tools/bench_lib.sh
# bl_llama_bin finds llama.cpp; without it the ratios say n/a). The 1B shape also runs MLX-quantized
# (`flashfs-mkmodel --quant mlx4`, 4 bits, group 64) against llama.cpp's Q4_0 of the same GGUF
# (llama-quantize). Run from the repo root after `make`.
set -u
cd "$(dirname "$0")/.." || exit 1
. tools/bench_lib.sh
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
B=${FLASHFS_BUILD:-build}
FG=$B/flashgen
MK=$B/flashfs-mkmodel
MODELS=${BENCH_MODELS:-$B/bench}
[ -x "$FG" ] || { echo "bench_engine: $FG missing (run make first)" >&2; exit 1; }
RUNS=5
[ $QUICK = 1 ] && RUNS=3
TMP=$(mktemp -d /tmp/flashgen-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# lc_speed GGUF NPROMPT NGEN: sets LC_PRE LC_DEC to llama-bench's prefill / decode tok/s on
# GGUF (2 threads, RUNS repetitions, their mean as llama-bench reports it), n/a without llama.cpp
LC_WHY=""
bl_llama_bin || LC_WHY=$BL_LLAMA_WHY
lc_speed() {
    LC_PRE=n/a LC_DEC=n/a
    [ -z "$LC_WHY" ] && [ -f "$1" ] || return 0
    echo "bench_engine: llama-bench on $1" >&2
    "$BL_LLAMA/llama-bench" -m "$1" -p "$2" -n "$3" -r "$RUNS" -t 2 -o csv > "$TMP/lc.csv" 2> "$TMP/lc.err" ||
        { tail -n 3 "$TMP/lc.err" >&2; return 0; }
    set -- $(bl_llama_pp_tg "$TMP/lc.csv")
    LC_PRE=$1 LC_DEC=$2
}

# A prompt of about N tokens of Bible prose.
prompt() {
    awk -v n="$1" 'BEGIN { s = ""; for (i = 0; i < n / 8; i++) s = s "And God said unto Moses, "; printf "%s", s }'
}

# weight bytes of a model folder (safetensors files)
weights() { cat "$1"/*.safetensors | wc -c; }

# run_timed CMD...: run CMD, its wall/user/sys seconds into $TMP/time (zeros without GNU time)
run_timed() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %U %S' -o "$TMP/time" "$@"
    else
        echo "0 0 0" > "$TMP/time"
        "$@"
    fi
}

# run_one MODEL NPROMPT NGEN ARGS...: one flashgen run; prints "prefill decode rss" or fails
run_one() {
    _m=$1 _np=$2 _ng=$3
    shift 3
    run_timed "$FG" -m "$_m" -p "$(prompt "$_np")" -n "$_ng" --greedy --ignore-eos --stats -t 2 "$@" \
        > /dev/null 2> "$TMP/err" || { sed 's/^/    /' "$TMP/err" >&2; return 1; }
    _share=$(awk '{ if ($1 > 0) printf "%.0f%%", 100 * ($2 + $3) / (2 * $1); else printf "n/a" }' "$TMP/time")
    awk -v share="$_share" '/prefill_tok_s:/ { p = $2 } /decode_tok_s:/ { d = $2 } /peak_rss:/ { r = $2 }
         /bytes_read:/ { b = $2 } /mode:/ { sub(/^ *mode: */, ""); mode = $0 }
         END { print p, d, r, share; print mode > "/dev/stderr" }' "$TMP/err" 2> "$TMP/mode"
}

# bench MODEL LABEL NPROMPT NGEN LC_PRE LC_DEC MODE ARGS...: RUNS runs -> one table row
bench() {
    _m=$1 _label=$2 _np=$3 _ng=$4 _lp=$5 _ld=$6 _mode=$7
    shift 7
    : > "$TMP/p"; : > "$TMP/d"; : > "$TMP/r"; : > "$TMP/s"
    _i=0
    while [ $_i -lt $RUNS ]; do
        echo "bench_engine: $_label $_mode run $((_i + 1))/$RUNS" >&2
        _res=$(run_one "$_m" "$_np" "$_ng" "$@") || { bl_row "$_label" "$_mode" failed "" "" "" "" ""; return 0; }
        set -- "$@"
        echo "$_res" | awk '{ print $1 }' >> "$TMP/p"
        echo "$_res" | awk '{ print $2 }' >> "$TMP/d"
        echo "$_res" | awk '{ print $3 }' >> "$TMP/r"
        echo "$_res" | awk '{ print $4 }' >> "$TMP/s"
        _i=$((_i + 1))
    done
    _p=$(bl_median < "$TMP/p") _d=$(bl_median < "$TMP/d") _r=$(bl_median < "$TMP/r")
    _s=$(tr -d '%' < "$TMP/s" | bl_median)
    case $_s in nan|n/a|"") _s=n/a ;; *) _s="$_s%" ;; esac
    bl_row "$_label" "$_mode ($(sed -n 's/.*, \([0-9]* of [0-9]* units\) resident.*/\1 resident/p' "$TMP/mode"))" "$_p" "$_d" \
        "$(bl_bytes "${_r%.*}")" "$(bl_ratio "$_p" "$_lp")" "$(bl_ratio "$_d" "$_ld")" "$_s"
}

echo "## flashgen generation speed"
echo
echo "flashgen with 2 threads, greedy, EOS ignored; medians of $RUNS runs; load $(bl_load) at the start."
echo "Resident: every layer in memory. Streaming: \`--ram\` = half the weights (the layers that fit stay,"
echo "the others are pread again for every token through the double buffer). Ratios compare with"
echo "llama.cpp's llama-bench (2 threads, same prompt and generation lengths, model resident in the page"
echo "cache) run just before on the same shape as GGUF${LC_WHY:+ — not run: $LC_WHY}."
echo "Kernels: $("$FG" -m tests/fixtures/demo -p x -n 1 --greedy --stats 2>&1 | sed -n 's/.*, \([a-z0-9]*\) kernels.*/\1/p')."
echo
bl_header "model" "mode" "prefill tok/s" "decode tok/s" "peak RSS" "prefill vs llama.cpp" "decode vs llama.cpp" "CPU share"
LC_ROWS=""

# ---- demo ---------------------------------------------------------------------------------
DEMO=tests/fixtures/demo
half=$(( $(weights $DEMO) / 2 ))
lc_speed tests/fixtures/gguf/demo-bf16.gguf 128 128
LC_DEMO_PRE=$LC_PRE LC_DEMO_DEC=$LC_DEC
LC_ROWS="demo-bf16.gguf $LC_PRE / $LC_DEC"
bench $DEMO "demo (bf16, 13 MB)" 128 128 $LC_DEMO_PRE $LC_DEMO_DEC resident --resident
if "$FG" -m $DEMO -p "$(prompt 128)" -n 128 --greedy --ignore-eos --stream --ram "$half" > /dev/null 2>&1; then
    bench $DEMO "demo (bf16, 13 MB)" 128 128 $LC_DEMO_PRE $LC_DEMO_DEC "streaming, --ram $(bl_bytes $half)" --stream --ram "$half"
else
    bench $DEMO "demo (bf16, 13 MB)" 128 128 $LC_DEMO_PRE $LC_DEMO_DEC "streaming, all layers" --stream
fi

# ---- 1B -----------------------------------------------------------------------------------
ONEB=$MODELS/llama-3.2-1b
if [ ! -f "$ONEB/config.json" ]; then
    if [ -x "$MK" ]; then
        echo "bench_engine: generating $ONEB (flashfs-mkmodel --preset llama-3.2-1b)" >&2
        mkdir -p "$MODELS"
        "$MK" "$ONEB" --preset llama-3.2-1b --quiet >&2 || rm -rf "$ONEB"
    fi
fi
if [ -f "$ONEB/config.json" ]; then
    NP=128 NG=32
    [ $QUICK = 1 ] && { NP=64; NG=12; }
    half=$(( $(weights "$ONEB") / 2 ))
    ONEG=$MODELS/llama-3.2-1b.gguf
    if [ -z "$LC_WHY" ] && [ ! -f "$ONEG" ] && [ -x "$MK" ]; then
        "$MK" "$ONEG" --preset llama-3.2-1b --format gguf --quiet >&2 || rm -f "$ONEG"
    fi
    lc_speed "$ONEG" $NP $NG
    LC_1B_PRE=$LC_PRE LC_1B_DEC=$LC_DEC
    LC_ROWS="$LC_ROWS; 1B GGUF $LC_PRE / $LC_DEC"
    cat "$ONEB"/*.safetensors > /dev/null     # same page-cache state for every run
    bench "$ONEB" "1B Llama (bf16, 1.84 GiB)" $NP $NG $LC_1B_PRE $LC_1B_DEC resident --resident
    bench "$ONEB" "1B Llama (bf16, 1.84 GiB)" $NP $NG $LC_1B_PRE $LC_1B_DEC "streaming, --ram $(bl_bytes $half)" --stream --ram "$half"

    # the same shape MLX-quantized (4 bits, group 64) vs llama.cpp's Q4_0 of the bf16 GGUF
    ONEQ=$MODELS/llama-3.2-1b-mlx4
    if [ ! -f "$ONEQ/config.json" ] && [ -x "$MK" ]; then
        echo "bench_engine: generating $ONEQ (flashfs-mkmodel --preset llama-3.2-1b --quant mlx4)" >&2
        "$MK" "$ONEQ" --preset llama-3.2-1b --quant mlx4 --quiet >&2 || rm -rf "$ONEQ"
    fi
    ONEQG=$MODELS/llama-3.2-1b-q4_0.gguf
    if [ -z "$LC_WHY" ] && [ ! -f "$ONEQG" ] && [ -f "$ONEG" ]; then
        "$BL_LLAMA/llama-quantize" "$ONEG" "$ONEQG" Q4_0 2 > "$TMP/q.log" 2>&1 ||
            { tail -n 3 "$TMP/q.log" >&2; rm -f "$ONEQG"; }
    fi
    if [ -f "$ONEQ/config.json" ]; then
        lc_speed "$ONEQG" $NP $NG
        LC_ROWS="$LC_ROWS; 1B Q4_0 GGUF $LC_PRE / $LC_DEC"
        cat "$ONEQ"/*.safetensors > /dev/null
        bench "$ONEQ" "1B Llama (MLX 4-bit g64, $(bl_bytes "$(weights "$ONEQ")"))" $NP $NG $LC_PRE $LC_DEC \
            "resident, vs Q4_0" --resident
    fi
else
    bl_row "1B Llama" "skipped: $MK missing or failed" "" "" "" "" ""
fi
echo
echo "llama.cpp prefill / decode tok/s measured in this run: $LC_ROWS."
echo
echo "Load at the end: $(bl_load). CPU share: CPU time flashgen got / (2 CPUs x wall time), including"
echo "loading; well below 100% means a busy machine took the CPUs and every figure dropped with it."
echo
echo "Reproduce: \`sh tools/bench_engine.sh$([ $QUICK = 1 ] && echo ' --quick')\` (1B model cached in $MODELS)."
