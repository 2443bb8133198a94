#!/bin/sh
# bench_pack.sh — packed-model benchmarks, printed as a Markdown section on stdout.
#
#   sh tools/bench_pack.sh [--quick]
#
# 1. Pack ratio (stored / logical bytes of the tensor files) with and without byte
#    grouping, and packing speed: the demo model's trained bf16 weights and a synthetic
#    N(0, 0.02) bf16 model (build/flashfs-mkmodel when it exists, else build/tests/pk_bench gen).
# 2. Decompression MB/s (pure decode from memory, logical bytes) on 1 and 2 threads.
# 3. Streaming through the mount, packed vs unpacked (disk-bound): the scenario of
#    tools/bench_stream.sh (flashfs-mkmodel llama-3.2-1b, --ram half the model,
#    flashfs-bench-reader cycling over the layers from cold caches), cycles/s side by side.
#    Needs build/flashfs, the reader and root (drop_caches); skipped otherwise, with the reason.
#    Run on the disk as it is and with the daemon's reads limited to PACK_DISK_MBPS MB/s
#    (default 400; 0 = skip) through a blkio/io cgroup (tools/bench_lib.sh bl_io_create).
# Medians of several runs (3, or 1 with --quick for the slow parts). Run from the repo root.
set -u
cd "$(dirname "$0")/.." || exit 1
. tools/bench_lib.sh
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
B=${FLASHFS_BUILD:-build}
PACK=$B/flashfs-pack
PKB=$B/tests/pk_bench
for p in "$PACK" "$PKB"; do
    [ -x "$p" ] || { echo "bench_pack: $p missing (run make first)" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/flashfs-bench-pack.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

RUNS=3
[ $QUICK = 1 ] && RUNS=1
SYN_MIB=512
[ $QUICK = 1 ] && SYN_MIB=128

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
            t0=$(bl_now)
            "$PACK" "$TMP/$m" "$TMP/$m.$g" $opt --quiet || exit 1
            t1=$(bl_now)
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
    tg=$(bl_median < "$TMP/t.$m.group")
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

# ---- streaming through the mount: packed vs unpacked -----------------------------------------
# The streaming scenario of tools/bench_stream.sh (same model, cached in
# $BUILD/bench-models/, same reader): flashfs --ram = half the model, the reader walks the layer
# groups cyclically, every run from cold caches. Once on the original folder, once on its
# packed copy. Disk-bound: half the model is re-read from the backing files every cycle.
TITLE="### Streaming through the mount: packed vs unpacked (disk-bound, cycles/s)"
echo "$TITLE"
echo
READER=$B/flashfs-bench-reader
MK=$B/flashfs-mkmodel
why=""
[ -x "$B/flashfs" ] || why="$B/flashfs not built"
[ -z "$why" ] && [ ! -x "$READER" ] && why="$READER not built"
[ -z "$why" ] && [ ! -x "$MK" ] && why="$MK not built"
[ -z "$why" ] && [ ! -e /dev/fuse ] && why="/dev/fuse missing"
[ -z "$why" ] && ! bl_can_drop && why=$BL_DROP_WHY
if [ -n "$why" ]; then
    echo "skipped: $why"
    echo
    exit 0
fi
SCYC=3; SHAPE="--preset llama-3.2-1b"; STAG=full; MODES="pread mmap"
[ $QUICK = 1 ] && { SCYC=2; SHAPE="--preset llama-3.2-1b --layers 4"; STAG=quick; MODES=pread; }
SMODEL=$B/bench-models/stream-$STAG
if [ ! -f "$SMODEL/config.json" ] || [ "$MK" -nt "$SMODEL/config.json" ]; then
    echo "bench_pack: writing the model to $SMODEL" >&2
    rm -rf "$SMODEL"
    "$MK" "$SMODEL" $SHAPE --quiet || exit 1
fi
SPACKED=$B/bench-models/stream-$STAG.packed
if [ ! -f "$SPACKED/config.json" ] || [ "$SMODEL/config.json" -nt "$SPACKED/config.json" ] || \
   [ "$PACK" -nt "$SPACKED/config.json" ]; then
    echo "bench_pack: packing the model to $SPACKED" >&2
    rm -rf "$SPACKED"
    "$PACK" "$SMODEL" "$SPACKED" --quiet || exit 1
    touch "$SPACKED/config.json"
fi
# shellcheck disable=SC2046
set -- $("$PKB" ratio $(tensor_files "$SPACKED"))
SBYTES=$1; SSTORED=$2; SRATIO=$3
SBUDGET=$((SBYTES / 2))
MNT="$TMP/mnt"
mkdir -p "$MNT"
BL_MOUNT_PID=""
IOCG=""
trap 'bl_umount "$MNT"; [ -n "$IOCG" ] && bl_cg_destroy "$IOCG"; rm -rf "$TMP"' EXIT
# Two disks, as in bench_stream.sh: as it is, and reads limited to PACK_DISK_MBPS (default
# 400 MB/s, a SATA-class SSD; 0 = skip) for the daemon through a blkio/io cgroup.
DISK_MBPS=${PACK_DISK_MBPS:-400}
DISKS=$(bl_disks "$DISK_MBPS")
DISK_WHY=""
for DT in $DISKS; do
    bl_io_enter pack "$SMODEL" "$DT" || { DISK_WHY=$BL_IO_WHY; continue; }
    for r in $(seq 1 $RUNS); do
        for mode in $MODES; do
            for setup in plain packed; do
                dir=$SMODEL; [ $setup = packed ] && dir=$SPACKED
                echo "bench_pack: disk $DT stream run $r/$RUNS $setup $mode" >&2
                BL_MOUNT_CG=$IOCG bl_mount "$dir" "$MNT" "$TMP/flashfs.log" --ram "$SBUDGET" || continue
                bl_drop_caches
                out=$(timeout 1800 "$READER" "$MNT" --mode "$mode" --cycles $SCYC --warmup 1 --pid "$BL_MOUNT_PID")
                rc=$?
                bl_umount "$MNT"
                [ $rc = 0 ] || { echo "bench_pack: reader failed on $setup (exit $rc)" >&2; continue; }
                echo "  $(bl_kv cycles_per_s "$out") cycles/s" >&2
                bl_kv cycles_per_s "$out" >> "$TMP/c.$DT.$setup.$mode"
                bl_kv pid_read_per_cycle "$out" >> "$TMP/b.$DT.$setup.$mode"
            done
        done
    done
    [ -n "$IOCG" ] && bl_cg_destroy "$IOCG"
    IOCG=""
done
echo "Model: \`flashfs-mkmodel $SHAPE\` (bf16), $(bl_bytes "$SBYTES") of tensor files, packed to"
echo "$(bl_bytes "$SSTORED") (ratio $SRATIO). \`flashfs --ram $(bl_bytes "$SBUDGET")\` (half the model);"
echo "reader \`flashfs-bench-reader MNT --mode MODE --cycles $SCYC --warmup 1\` (no compute pause), cold"
echo "caches at the start of every run; medians of $RUNS run(s). Backing = bytes the daemon read from disk."
echo "Disks: this machine's virtual disk as it is (served from the host's cache, often faster than the"
echo "decoder), and the same disk with the daemon's reads limited to $DISK_MBPS MB/s (blkio/io cgroup), the"
echo "disk-bound case packing is for."
[ -n "$DISK_WHY" ] && { echo; echo "Limited-disk runs skipped: $DISK_WHY."; }
echo
bl_header "disk" "reader" "cycles/s: unpacked" "packed" "packed ÷ unpacked" "backing MiB/cycle: unpacked" "packed"
for DT in $DISKS; do
    for mode in $MODES; do
        cu=$(bl_median < "$TMP/c.$DT.plain.$mode" 2>/dev/null); cp=$(bl_median < "$TMP/c.$DT.packed.$mode" 2>/dev/null)
        bu=$(bl_median < "$TMP/b.$DT.plain.$mode" 2>/dev/null); bp=$(bl_median < "$TMP/b.$DT.packed.$mode" 2>/dev/null)
        [ -z "$cu$cp" ] && continue
        bl_row "$([ "$DT" = 0 ] && echo "as is" || echo "$DT MB/s")" "$mode" "${cu:-n/a}" "${cp:-n/a}" \
            "$(bl_ratio "${cp:-x}" "${cu:-x}")" \
            "$(awk -v v="${bu:-0}" 'BEGIN { printf "%.0f", v / 1048576 }')" \
            "$(awk -v v="${bp:-0}" 'BEGIN { printf "%.0f", v / 1048576 }')"
    done
done
echo
echo "Target: packed ≥ 1.3x unpacked cycles/s when disk-bound. Decoding needs CPU (\"per CPU-second\""
echo "above): on a machine whose cores are busy the packed side loses that time."
echo
