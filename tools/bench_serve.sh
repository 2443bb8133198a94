#!/bin/sh
# bench_serve.sh — `flashgen serve` under load, printed as a Markdown section on stdout.
#
#   sh tools/bench_serve.sh [--quick]
#
# For the demo model and the 1B-shape model (`flashfs-mkmodel --preset llama-3.2-1b`, made
# once under $BENCH_MODELS, default build/bench), each given a ChatML-style chat template
# (a folder of links + tokenizer_config.json under $BENCH_MODELS/serve-*): the server on a
# loopback port:
#   - 1 and 4 concurrent streamed chat requests (one client process each) with different
#     prompts: median time to first token, median decode tok/s per request, aggregate tok/s
#     (all tokens / wall time);
#   - a multi-turn conversation: per turn, time to first token when the KV cache holds the
#     previous turns (usage.prompt_tokens_details.cached_tokens) and when it holds nothing
#     reusable (an unrelated request in between) — the prefill saved by KV reuse
#     (tools/bench_serve_client.js, Node 18+, plain fetch).
# Skips (with a line) without node. Run from the repo root after `make`.
set -u
cd "$(dirname "$0")/.." || exit 1
. tools/bench_lib.sh
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
B=$BL_BUILD
FG=$B/flashgen
MK=$B/flashfs-mkmodel
MODELS=${BENCH_MODELS:-$B/bench}

echo "## Server (flashgen serve)"
echo
if ! command -v node > /dev/null 2>&1; then
    echo "skipped: needs node (Debian package nodejs) for the load generator"
    exit 0
fi
[ -x "$FG" ] || { echo "bench_serve: $FG missing (run make first)" >&2; exit 1; }

# serve_dir SRC NAME: a folder of links to SRC with a chat template added; prints its path
serve_dir() {
    _d=$MODELS/serve-$2
    rm -rf "$_d" && mkdir -p "$_d" || return 1
    for _f in "$1"/*; do ln -s "$(cd "$(dirname "$_f")" && pwd)/$(basename "$_f")" "$_d/"; done
    rm -f "$_d/tokenizer_config.json"
    node -e '
const fs = require("fs"), [src, dst] = process.argv.slice(1);
let c = {}; try { c = JSON.parse(fs.readFileSync(src + "/tokenizer_config.json", "utf8")); } catch (e) {}
c.chat_template = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}" +
                  "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
fs.writeFileSync(dst + "/tokenizer_config.json", JSON.stringify(c));' "$1" "$_d" || return 1
    echo "$_d"
}

PORT=$((20000 + $$ % 20000))
# bench_model DIR LABEL NTOK NTURN
bench_model() {
    _dir=$1 _label=$2 _ntok=$3 _nturn=$4
    _log=$MODELS/serve.log
    "$FG" serve -m "$_dir" --port $PORT -t 2 > "$_log" 2>&1 &
    _pid=$!
    _i=0
    until curl -s "http://127.0.0.1:$PORT/health" > /dev/null 2>&1; do
        _i=$((_i + 1))
        if [ $_i -gt 600 ] || ! kill -0 $_pid 2> /dev/null; then
            echo "| $_label | server did not start (see $_log) | | | |"
            kill $_pid 2> /dev/null
            return 0
        fi
        sleep 0.1
    done
    _id=$(basename "$_dir")
    for _c in 1 4; do
        echo "bench_serve: $_label, $_c concurrent" >&2
        # one client process each (so that no client waits for another's event loop)
        _t0=$(bl_now)
        _k=0 _pids=""
        while [ $_k -lt $_c ]; do
            node tools/bench_serve_client.js "http://127.0.0.1:$PORT" "$_id" one "$_k: And God said" $_ntok \
                > "$MODELS/serve.r$_k" &
            _pids="$_pids $!"
            _k=$((_k + 1))
        done
        wait $_pids
        _wall=$(awk -v a="$_t0" -v b="$(bl_now)" 'BEGIN { print b - a }')
        _k=0 _sum=0
        : > "$MODELS/serve.ttft"
        : > "$MODELS/serve.rate"
        while [ $_k -lt $_c ]; do
            _r=$(cat "$MODELS/serve.r$_k")
            bl_kv ttft_s "$_r" >> "$MODELS/serve.ttft"
            bl_kv tok_s "$_r" >> "$MODELS/serve.rate"
            _n=$(bl_kv tokens "$_r")
            _sum=$((_sum + ${_n:-0}))
            _k=$((_k + 1))
        done
        bl_row "$_label" "$_c" "$(bl_median < "$MODELS/serve.ttft")" "$(bl_median < "$MODELS/serve.rate")" \
            "$(awk -v n=$_sum -v w="$_wall" 'BEGIN { printf "%.2f", n / w }')" >> "$MODELS/serve.load"
    done
    echo "bench_serve: $_label, $_nturn turns" >&2
    node tools/bench_serve_client.js "http://127.0.0.1:$PORT" "$_id" turns $_nturn $_ntok | while read -r _l; do
        _w=$(bl_kv ttft_reuse_s "$_l") _k=$(bl_kv ttft_cold_s "$_l")
        bl_row "$_label" "$(bl_kv turn "$_l")" "$(bl_kv prompt "$_l")" "$(bl_kv cached "$_l")" "$_w" "$_k" \
            "$(bl_ratio "$_k" "$_w")x"
    done >> "$MODELS/serve.turns"
    kill -TERM $_pid
    wait $_pid 2> /dev/null
}

mkdir -p "$MODELS"
: > "$MODELS/serve.load"
: > "$MODELS/serve.turns"
NT=32 NTURN=4
[ $QUICK = 1 ] && { NT=16; NTURN=3; }
D=$(serve_dir tests/fixtures/demo demo) && bench_model "$D" "demo (13 MB)" $NT $NTURN
ONEB=$MODELS/llama-3.2-1b
if [ ! -f "$ONEB/config.json" ] && [ -x "$MK" ]; then
    echo "bench_serve: generating $ONEB (flashfs-mkmodel --preset llama-3.2-1b)" >&2
    "$MK" "$ONEB" --preset llama-3.2-1b --quiet >&2 || rm -rf "$ONEB"
fi
if [ -f "$ONEB/config.json" ]; then
    D=$(serve_dir "$ONEB" 1b) && bench_model "$D" "1B shape (1.8 GiB bf16)" $((NT / 2)) $NTURN
else
    echo "bench_serve: no 1B model, only the demo" >&2
fi

echo "Streamed chat completions, greedy, answers of $NT tokens (demo) and $((NT / 2)) (1B), 2 compute threads,"
echo "one model served in arrival order (concurrent requests queue); $(bl_load)."
echo
bl_header "model" "concurrent clients" "time to first token, s (median)" "decode tok/s per request (median)" "aggregate tok/s"
cat "$MODELS/serve.load"
echo
echo "KV reuse on a multi-turn conversation: each turn sends the whole conversation; \"reused\" is the"
echo "time to first token when the KV cache holds the previous turns, \"cold\" the same request after"
echo "an unrelated one emptied it."
echo
bl_header "model" "turn" "prompt tokens" "cached tokens" "TTFT reused, s" "TTFT cold, s" "cold / reused"
cat "$MODELS/serve.turns"
echo
echo "Reproduce: \`sh tools/bench_serve.sh$([ $QUICK = 1 ] && echo ' --quick')\`"
