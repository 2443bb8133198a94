#!/bin/sh
# bench_pack.sh — packed-model benchmarks, printed as a Markdown section on stdout.
#
#   sh tools/bench_pack.sh [--quick]
#
# 1. Pack ratio (stored / logical bytes of the tensor files) with and without byte
#    grouping, and packing speed: the demo model's trained bf16 weights and a synthetic
#    N(0, 0.02) bf16 model (build/flashfs-mkmodel when it exists, else build/tests/pk_bench gen).
# 2. Decompression MB/s (pure decode from memory, logical bytes) on 1 and 2 threads.
# 3. Streaming through the mount, packed vs unpacked, cold page cache (disk-bound): every
#    tensor file read sequentially through a flashfs mount; MB/s of logical bytes and the
#    ratio. Needs build/flashfs and root (drop_caches); skipped otherwise, with the reason.
# Medians of several runs (3, or 1 with --quick for the slow parts). Run from the repo root.
set -u
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
B=${FLASHFS_BUILD:-build}
PACK=$B/flashfs-pack
PKB=$B/tests/pk_bench
for p in "$PACK" "$PKB"; do
    [ -x "$p" ] || { echo "bench_pack: $p missing (run make first)" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/flashfs-bench-pack.XXXXXX)
MNT=""
cleanup() {
    [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

RUNS=3
[ $QUICK = 1 ] && RUNS=1
SYN_MIB=512
[ $QUICK = 1 ] && SYN_MIB=128

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
tensor_files() { find "$1" -type f \( -name '*.safetensors' -o -name '*.gguf' \) | sort; }

# ---- models -------------------------------------------------------------------------
mkdir -p "$TMP/demo" "$TMP/syn"
cp tests/fixtures/demo/* "$TMP/demo/"
SYN_SRC="pk_bench gen (Llama-like shapes, hidden 1024)"
if [ -x "$B/flashfs-mkmodel" ] && "$B/flashfs-mkmodel" "$TMP/syn" --hidden 1024 --layers $((SYN_MIB / 40 + 1)) \
        --heads 16 --kv-heads 16 --ffn 2816 --vocab 4096 --dtype bf16 >/dev/null 2>&1; then
    SYN_SRC="flashfs-mkmodel (hidden 1024, $((SYN_MIB / 40 + 1)) layers)"
else
    rm -rf "$TMP/syn"; mkdir -p "$TMP/syn"
    cp tests/fixtures/demo/config.json tests/fixtures/demo/tokenizer*.json "$TMP/syn/"
    "$PKB" gen "$TMP/syn/model.safetensors" $SYN_MIB 7 || exit 1
fi

echo "## Packed models (tools/bench_pack.sh$([ $QUICK = 1 ] && echo ' --quick'))"
echo
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(date -u +%Y-%m-%d)."
echo "Synthetic model: N(0, 0.02) bf16 weights from $SYN_SRC."
echo "Reproduce: \`sh tools/bench_pack.sh$([ $QUICK = 1 ] && echo ' --quick')\` (or \`make bench\`)."
echo
echo "### Pack ratio (stored / original bytes of the tensor files; lower is better)"
echo
echo "| model | size | plain zstd (--no-group) | byte grouping | grouping vs plain | pack MB/s (grouping, $(nproc) threads) |"
echo "| --- | --- | --- | --- | --- | --- |"
for m in demo syn; do
    for g in group plain; do
        opt=""; [ $g = plain ] && opt="--no-group"
        : > "$TMP/t.$m.$g"
        r=0
        while [ $r -lt $RUNS ]; do
            rm -rf "$TMP/$m.$g"
            t0=$(now)
            "$PACK" "$TMP/$m" "$TMP/$m.$g" $opt --quiet || exit 1
            t1=$(now)
            echo "$t0 $t1" | awk '{print $2 - $1}' >> "$TMP/t.$m.$g"
            r=$((r + 1))
        done
    done
    # shellcheck disable=SC2046
    set -- $("$PKB" ratio $(tensor_files "$TMP/$m.group"))
    logical=$1; rg=$3
    # shellcheck disable=SC2046
    set -- $("$PKB" ratio $(tensor_files "$TMP/$m.plain"))
    rp=$3
    tg=$(median < "$TMP/t.$m.group")
    name=$([ $m = demo ] && echo "demo (trained, bf16)" || echo "synthetic N(0,0.02) bf16")
    echo "$logical $rp $rg $tg" | awk -v name="$name" '{printf "| %s | %.1f MiB | %.4f | %.4f | %.3fx | %.0f |\n", \
        name, $1 / 1048576, $2, $3, $3 / $2, $1 / 1e6 / $4}'
    eval "RATIO_$m=$rg"
done
echo
echo "Target: grouping ≤ 0.68 of the original (ZipNN reports ~0.66 for bf16)."
echo

# ---- decompression speed ---------------------------------------------------------------
echo "### Decompression speed (from memory, logical MB/s, median of $((RUNS * 2 + 1)) passes)"
echo
echo "| model | 1 thread | 2 threads (total) | 2 threads (per thread) | per CPU-second |"
echo "| --- | --- | --- | --- | --- |"
for m in demo syn; do
    f=$(tensor_files "$TMP/$m.group" | head -n 1)
    set -- $("$PKB" decode "$f" 1 $((RUNS * 2 + 1)))
    one=$1; cpu=$3
    set -- $("$PKB" decode "$f" 2 $((RUNS * 2 + 1)))
    echo "| $m ($(basename "$f")) | $one | $1 | $2 | $cpu |"
done
echo
echo "\"Per CPU-second\": logical MB decoded per second of CPU time of the decoding process"
echo "(unaffected by other load on the machine; load average at the start: $LOAD)."
echo

# ---- streaming through the mount ---------------------------------------------------------
echo "### Streaming through the mount: packed vs unpacked, cold cache (disk-bound)"
echo
FLASHFS=$B/flashfs
why=""
[ -x "$FLASHFS" ] || why="$FLASHFS not built"
[ -z "$why" ] && [ "$(id -u)" != 0 ] && why="needs root to drop the page cache"
[ -z "$why" ] && [ ! -e /dev/fuse ] && why="/dev/fuse missing"
if [ -n "$why" ]; then
    echo "skipped: $why"
    echo
    exit 0
fi
MNT="$TMP/mnt"
mkdir -p "$MNT"
# stream DIR: mount, drop caches, read every tensor file once; prints seconds and bytes
stream() {
    "$FLASHFS" "$1" "$MNT" >"$TMP/flashfs.log" 2>&1 || { echo "mount failed: $(tail -n 3 "$TMP/flashfs.log")" >&2; return 1; }
    i=0
    while ! mountpoint -q "$MNT" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    sync; echo 3 > /proc/sys/vm/drop_caches
    bytes=0
    t0=$(now)
    for f in $(cd "$MNT" && find . -type f \( -name '*.safetensors' -o -name '*.gguf' \) | sort); do
        n=$(dd if="$MNT/$f" of=/dev/null bs=4M 2>&1 | awk '/bytes/ {print $1}')
        bytes=$((bytes + n))
    done
    t1=$(now)
    fusermount3 -u "$MNT"
    i=0
    while mountpoint -q "$MNT" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    echo "$t0 $t1 $bytes" | awk '{printf "%.4f %d\n", $2 - $1, $3}'
}
echo "| model | unpacked MB/s | packed MB/s | packed / unpacked |"
echo "| --- | --- | --- | --- |"
for m in syn demo; do
    : > "$TMP/s.plain"; : > "$TMP/s.packed"
    r=0
    while [ $r -lt $RUNS ]; do
        stream "$TMP/$m" >> "$TMP/s.plain" || break
        stream "$TMP/$m.group" >> "$TMP/s.packed" || break
        r=$((r + 1))
    done
    [ -s "$TMP/s.packed" ] || { echo "| $m | failed | failed | - |"; continue; }
    up=$(awk '{print $2 / 1e6 / $1}' "$TMP/s.plain" | median)
    pp=$(awk '{print $2 / 1e6 / $1}' "$TMP/s.packed" | median)
    echo "$m $up $pp" | awk '{printf "| %s | %.0f | %.0f | %.2fx |\n", $1, $2, $3, $3 / $2}'
done
echo
echo "Target: packed ≥ 1.3x unpacked when disk-bound. The streaming scenario with the"
echo "engine's cycles/s is in the streaming section (tools/bench_stream.sh) when present."
echo
