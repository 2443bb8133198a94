#!/bin/sh
# demo.sh — `make demo`: flashfs at work, in two parts.
#   1. The bundled demo model (tests/fixtures/demo, 12.3 MiB) mounted under --ram 8M: every
#      file checked through the mount, then text generated through it (flashgen), identical
#      to the Hugging Face transformers reference.
#   2. A Llama-shaped model of 60 MiB (flashfs-mkmodel, random weights) mounted under
#      DEMO_RAM (24M), read layer by layer token after token like an inference engine
#      (flashfs-bench-reader, a compute pause per layer); a short summary from
#      .flashfs/stats: the resident set, the prefetcher's hits, the bytes read from disk
#      per token against the model size and the optimum (model - budget).
# Exits non-zero on any failure; always unmounts.
#
#   sh tools/demo.sh                  (FLASHFS_BUILD=DIR: programs of another build dir;
#                                      DEMO_RAM=SIZE: the budget of part 2, default 24M;
#                                      DEMO_TOKENS=N: passes over the model, default 8)
# Needs only sh, awk, cmp (no python): the stats JSON is read with awk (stats_get below).
set -eu

cd "$(dirname "$0")/.."
BUILD=${FLASHFS_BUILD:-build}
MODEL=tests/fixtures/demo
RAM=${DEMO_RAM:-24M}
TOKENS=${DEMO_TOKENS:-8}
WARMUP=2
COMPUTE_MS=20
FLASHFS="$BUILD/flashfs"
READER="$BUILD/flashfs-bench-reader"
FLASHGEN="$BUILD/flashgen"
MKMODEL="$BUILD/flashfs-mkmodel"

for p in "$FLASHFS" "$READER" "$MKMODEL"; do
    [ -x "$p" ] || { echo "demo: $p not built (run make)" >&2; exit 1; }
done

MNT=$(mktemp -d "${TMPDIR:-/tmp}/flashfs-demo.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/flashfs-demo-out.XXXXXX")
PID=""
cleanup() {
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null || true
    fi
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rmdir "$MNT" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT HUP INT PIPE TERM

# stats_get FILE KEY: the value of KEY in a .flashfs/stats snapshot (cJSON's layout: one
# "key": value per line); nested keys are dotted, e.g. prefetch.issued.
stats_get() {
    awk -v want="$2" '
        { line = $0; sub(/^[ \t]+/, "", line) }
        line ~ /^"[^"]*":[ \t]*\{/ { k = line; sub(/^"/, "", k); sub(/".*/, "", k); path[++d] = k; next }
        line ~ /^\}/ { if (d > 0) d--; next }
        line ~ /^"[^"]*":/ {
            k = line; sub(/^"/, "", k); sub(/".*/, "", k)
            v = line; sub(/^"[^"]*":[ \t]*/, "", v); sub(/,$/, "", v); gsub(/"/, "", v)
            p = ""; for (i = 1; i <= d; i++) p = p path[i] "."
            if (p k == want) { print v; found = 1; exit }
        }
        END { if (!found) print 0 }' "$1"
}

# mib BYTES: bytes as MiB with one decimal
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# mount DIR SIZE: mount DIR on $MNT under --ram SIZE, wait for it to answer
mount_model() {
    "$FLASHFS" -f --ram "$2" "$1" "$MNT" 2> "$WORK/flashfs.log" &
    PID=$!
    i=0
    while [ ! -e "$MNT/.flashfs/stats" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
            echo "demo: the mount did not come up:" >&2
            cat "$WORK/flashfs.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

unmount_model() {
    fusermount3 -u "$MNT"
    wait "$PID"
    PID=""
}

echo "== 1. the demo model ($MODEL, $(mib "$(du -cb "$MODEL"/* | tail -1 | cut -f1)")) under --ram 8M"
mount_model "$MODEL" 8M
n=0
for f in "$MNT"/*; do
    name=$(basename "$f")
    if ! cmp -s "$f" "$MODEL/$name"; then
        echo "   FAIL $name differs from the backing file" >&2
        exit 1
    fi
    n=$((n + 1))
done
echo "   $n files read through the mount at $MNT: identical to the backing files"

if [ -x "$FLASHGEN" ]; then
    echo "   generating through the mount: flashgen -m MOUNT -p \"And God said\" -n 48 --greedy"
    "$FLASHGEN" -m "$MNT" -p "And God said" -n 48 --greedy --ignore-eos --stream -t 2 > "$WORK/gen.txt"
    printf '   And God said'
    cat "$WORK/gen.txt"
    # the reference greedy text of this prompt: the first "greedy_text" string of
    # reference.json, its escapes (\n \" \\) decoded, and the newline flashgen ends with
    awk '{
        i = index($0, "\"greedy_text\": \""); if (!i) next
        s = substr($0, i + 16); out = ""
        for (j = 1; j <= length(s); j++) {
            ch = substr(s, j, 1)
            if (ch == "\"") break
            if (ch == "\\") { j++; ch = substr(s, j, 1); if (ch == "n") ch = "\n"; else if (ch == "t") ch = "\t" }
            out = out ch
        }
        print out; exit
    }' "$MODEL/reference.json" > "$WORK/ref.txt"
    if cmp -s "$WORK/gen.txt" "$WORK/ref.txt"; then
        echo "   ok: identical to the Hugging Face transformers reference (greedy, 48 tokens)"
    else
        echo "   FAIL flashgen output differs from the reference greedy text" >&2
        exit 1
    fi
fi
unmount_model

SYN="$WORK/llama-60m"
"$MKMODEL" "$SYN" --hidden 512 --layers 8 --heads 8 --ffn 1536 --quiet
echo "== 2. a Llama-shaped model of $(mib "$(du -cb "$SYN"/* | tail -1 | cut -f1)") (flashfs-mkmodel) under --ram $RAM:"
echo "   its layers read token after token, $COMPUTE_MS ms of compute per layer ($WARMUP warm-up + $TOKENS tokens)"
mount_model "$SYN" "$RAM"
cat "$MNT/.flashfs/stats" > "$WORK/before.json"
"$READER" "$MNT" --mode pread --warmup $WARMUP --cycles "$TOKENS" --compute-ms $COMPUTE_MS \
    --stats "$MNT/.flashfs/stats" > "$WORK/reader.txt"
cat "$MNT/.flashfs/stats" > "$WORK/after.json"
unmount_model

kv() { tr ' ' '\n' < "$WORK/reader.txt" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
delta() { awk -v a="$(stats_get "$WORK/after.json" "$1")" -v b="$(stats_get "$WORK/before.json" "$1")" \
    'BEGIN { printf "%.0f", a - b }'; }
model=$(kv bytes_per_cycle)
per_token=$(kv stats_backing_per_cycle)
budget=$(stats_get "$WORK/after.json" budget_bytes)
# (a variable, not `m > b ? ...` inside printf: awk would read `>` as a redirection)
optimum=$(awk -v m="$model" -v b="$budget" 'BEGIN { d = m - b; if (d < 0) d = 0; printf "%.0f", d }')
ratio=$(awk -v p="$per_token" -v o="$optimum" 'BEGIN { if (o > 0) printf "%.2fx the optimum", p / o; else printf "-" }')

echo "== summary (from .flashfs/stats; per token: the $TOKENS tokens after the warm-up)"
row() { printf '   %-18s %-10s %s\n' "$1" "$2" "$3"; }
row "model tensors" "$(mib "$model")" "what the reader reads per token"
row "budget" "$(mib "$budget")" "daemon buffers + the mount's page cache"
row "resident set" "$(mib "$(stats_get "$WORK/after.json" resident_set_bytes)")" \
    "kept in the page cache from token to token"
row "read per token" "$(mib "$per_token")" \
    "from disk: model - budget = $(mib "$optimum") is the optimum ($ratio); LRU re-reads the whole model"
row "prefetch hits" "$(delta hits)" "READs answered from chunks read ahead of the reader"
row "prefetched" "$(mib "$(delta prefetch.pushed_bytes)")" \
    "$(delta prefetch.issued) chunks read while the reader computed, pushed into the page cache"
row "page cache at end" "$(mib "$(stats_get "$WORK/after.json" resident_bytes.page_cache)")" \
    "of the mounted files (the budget holds)"
echo "== demo done"
