#!/bin/sh
# bench_fgmount.sh — flashgen streaming a model larger than its memory: straight from the
# backing directory versus through a flashfs mount, with and without the hint channel
# (.flashfs/hint, docs/control.md), every case inside ONE memory cgroup of the same size.
# Prints a Markdown section on stdout (see tools/bench_lib.sh).
#
#   sh tools/bench_fgmount.sh [--quick]
#
# Model: flashfs-mkmodel --preset llama-3.2-1b (bf16 safetensors, 1.83 GiB; quick: 4 of its
# 16 layers), cached in $FLASHFS_BUILD/bench-models/. Memory: a cgroup of 1 GiB (quick 384 MiB).
# Cases, each cold: **direct** = flashgen --stream --ram (all of the cgroup but 24 MiB) on the
# folder; **mount** = flashfs --ram 768M (quick 128M) + flashgen --stream --ram 240M (quick
# 240M) on the mounted folder, daemon and engine in the cgroup, hints on (the default);
# **mount, no hint** = the same with flashgen --no-hint. Disks: as it is, and reads limited to
# FGM_DISK_MBPS MB/s (default 400; 0 = skip) for flashgen (direct) or the daemon (mount).
# Figures: flashgen --stats decode tok/s (greedy, -n N, EOS ignored, 2 threads), bytes read
# from the disk per token (flashgen's own count for direct, the daemon's /proc/PID/io for the
# mount, divided by the tokens), the cgroup's peak memory. Medians of FGM_RUNS runs.
set -u
. tools/bench_lib.sh
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
FG=$BL_BUILD/flashgen
MK=$BL_BUILD/flashfs-mkmodel
TITLE="## flashgen through the mount vs straight from disk, same memory (tools/bench_fgmount.sh$([ $QUICK = 1 ] && echo ' --quick'))"
for p in "$FG" "$MK" "$BL_BUILD/flashfs"; do
    [ -x "$p" ] || { echo "bench_fgmount: $p missing (run make first)" >&2; exit 1; }
done
if ! bl_can_drop; then printf '%s\n\nskipped: %s (every case starts cold).\n' "$TITLE" "$BL_DROP_WHY"; exit 0; fi
[ -e /dev/fuse ] || { printf '%s\n\nskipped: /dev/fuse missing.\n' "$TITLE"; exit 0; }

RUNS=3; NGEN=8; SHAPE="--preset llama-3.2-1b"; TAG=full
LIMIT=1073741824; DRAM=1000M; MRAM=768M; FRAM=240M
[ $QUICK = 1 ] && { RUNS=1; NGEN=4; SHAPE="--preset llama-3.2-1b --layers 4"; TAG=quick
                    LIMIT=402653184; DRAM=360M; MRAM=128M; FRAM=240M; }
RUNS=${FGM_RUNS:-$RUNS}; NGEN=${FGM_NGEN:-$NGEN}
DISK_MBPS=${FGM_DISK_MBPS:-400}
LOAD0=$(bl_load)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/flashfs-bench-fgm.XXXXXX")
MNT="$TMP/mnt"
mkdir -p "$MNT"
CG=""
IOCG=""
cleanup() {
    bl_umount "$MNT"
    [ -n "$CG" ] && bl_cg_destroy "$CG"
    [ -n "$IOCG" ] && bl_cg_destroy "$IOCG"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

MODEL=$BL_BUILD/bench-models/fgm-$TAG
WANT="$SHAPE / $(cat tools/flashfs_mkmodel.c tools/mkmodel_*.c | cksum)"
if [ "$(cat "$MODEL/.bench-stamp" 2>/dev/null)" != "$WANT" ]; then
    echo "bench_fgmount: writing the model to $MODEL" >&2
    rm -rf "$MODEL"
    "$MK" "$MODEL" $SHAPE --quiet >&2 || exit 1
    echo "$WANT" > "$MODEL/.bench-stamp"
fi
MODEL_BYTES=$(cat "$MODEL"/*.safetensors | wc -c)

# flashgen DIR RAM [ARGS...] inside cgroup(s) $1: prints "tok_s bytes_read" (flashgen's own)
fg_run() {
    _cg=$1 _dir=$2 _ram=$3
    shift 3
    bl_cg_run "$_cg" timeout 3600 "$FG" -m "$_dir" -p "And God said unto Moses" -n "$NGEN" --greedy --ignore-eos \
        --stream --ram "$_ram" --stats -t 2 "$@" > /dev/null 2> "$TMP/fg.err" ||
        { echo "bench_fgmount: flashgen failed: $(tail -n 2 "$TMP/fg.err")" >&2; return 1; }
    awk '/decode_tok_s:/ { d = $2 } /bytes_read:/ { b = $2 } END { print d, b }' "$TMP/fg.err"
}

run_direct() {
    bl_cg_create fgd "$LIMIT" > "$TMP/cg" || { CG_WHY=$BL_CG_WHY; return 1; }
    CG=$(cat "$TMP/cg")
    cgs=$CG
    [ -n "$IOCG" ] && cgs="$CG:$IOCG"
    bl_drop_caches
    set -- $(fg_run "$cgs" "$MODEL" "$DRAM") || { bl_cg_destroy "$CG"; CG=""; return 1; }
    peak=$(bl_cg_peak "$CG")
    bl_cg_destroy "$CG"
    CG=""
    [ -n "${1:-}" ] || return 1
    echo "tok_s=$1 per_token=$(( ${2:-0} / NGEN )) peak=$peak"
}

run_mount() {   # run_mount [--no-hint]
    bl_cg_create fgm "$LIMIT" > "$TMP/cg" || { CG_WHY=$BL_CG_WHY; return 1; }
    CG=$(cat "$TMP/cg")
    dcg=$CG
    [ -n "$IOCG" ] && dcg="$CG:$IOCG"
    BL_MOUNT_CG=$dcg bl_mount "$MODEL" "$MNT" "$TMP/flashfs.log" --ram "$MRAM" || { bl_cg_destroy "$CG"; CG=""; return 1; }
    bl_drop_caches
    r0=$(awk '/^read_bytes/ { print $2 }' "/proc/$BL_MOUNT_PID/io")
    out=$(fg_run "$CG" "$MNT" "$FRAM" "$@")
    rc=$?
    r1=$(awk '/^read_bytes/ { print $2 }' "/proc/$BL_MOUNT_PID/io")
    hints=$(grep -m1 '"accepted"' "$MNT/.flashfs/stats" | tr -dc 0-9)
    bl_umount "$MNT"
    peak=$(bl_cg_peak "$CG")
    bl_cg_destroy "$CG"
    CG=""
    [ $rc = 0 ] || return 1
    set -- $out
    echo "tok_s=$1 per_token=$(( (r1 - r0) / NGEN )) peak=$peak hints=${hints:-0}"
}

median() {
    [ -s "$2" ] || { echo n/a; return; }
    while read -r line; do bl_kv "$1" "$line"; done < "$2" | grep -v '^n/a$' | bl_median | sed 's/^nan$/n\/a/'
}

CG_WHY=""
DISK_WHY=""
DISKS=$(bl_disks "$DISK_MBPS")
for DT in $DISKS; do
    bl_io_enter fgm "$MODEL" "$DT" || { DISK_WHY=$BL_IO_WHY; continue; }
    r=0
    while [ $r -lt "$RUNS" ]; do
        for setup in direct hint nohint; do
            [ -n "$CG_WHY" ] && continue
            echo "bench_fgmount: disk $DT run $((r + 1))/$RUNS $setup" >&2
            case $setup in
                direct) run_direct > "$TMP/line" ;;
                hint) run_mount > "$TMP/line" ;;
                nohint) run_mount --no-hint > "$TMP/line" ;;
            esac && { cat "$TMP/line" >> "$TMP/$DT.$setup"; echo "  $(cat "$TMP/line")" >&2; }
        done
        r=$((r + 1))
    done
    [ -n "$IOCG" ] && bl_cg_destroy "$IOCG"
    IOCG=""
done

echo "$TITLE"
echo
echo "Model: \`flashfs-mkmodel $SHAPE\` ($(bl_bytes "$MODEL_BYTES") of bf16 safetensors). Each case starts cold in one"
echo "memory cgroup of $(bl_bytes "$LIMIT"): **direct** = \`flashgen --stream --ram $DRAM\` on the folder; **mount** ="
echo "\`flashfs --ram $MRAM\` + \`flashgen --stream --ram $FRAM\` on the mounted folder (daemon in the cgroup too), with"
echo "the hint channel (default) and with \`--no-hint\`. flashgen -n $NGEN, greedy, 2 threads; medians of $RUNS run(s);"
echo "load average at the start: $LOAD0. Bytes per token: what flashgen read itself (direct) or what the daemon read"
echo "from the disk (mount), ÷ $NGEN tokens (prefill included)."
[ -n "$CG_WHY" ] && { echo; echo "Cases skipped: $CG_WHY."; }
[ -n "$DISK_WHY" ] && { echo; echo "Limited-disk cases skipped: $DISK_WHY."; }
echo
bl_header "disk" "decode tok/s direct" "mount + hint" "mount, no hint" "mount+hint ÷ direct" "hint ÷ no hint" \
    "MiB/token direct" "mount + hint" "mount, no hint" "peak direct" "peak mount + hint"
for DT in $DISKS; do
    d=$TMP/$DT.direct; h=$TMP/$DT.hint; n=$TMP/$DT.nohint
    [ -s "$d" ] || [ -s "$h" ] || continue
    td=$(median tok_s "$d"); th=$(median tok_s "$h"); tn=$(median tok_s "$n")
    mib() { v=$(median per_token "$1"); [ "$v" = n/a ] && echo n/a || awk -v v="$v" 'BEGIN { printf "%.0f", v / 1048576 }'; }
    pk() { v=$(median peak "$1"); [ "$v" = n/a ] && echo n/a || bl_bytes "$v"; }
    bl_row "$([ "$DT" = 0 ] && echo "as is" || echo "$DT MB/s")" "$td" "$th" "$tn" "$(bl_ratio "$th" "$td")" \
        "$(bl_ratio "$th" "$tn")" "$(mib "$d")" "$(mib "$h")" "$(mib "$n")" "$(pk "$d")" "$(pk "$h")"
done
echo
echo "Target (issue 14): flashgen through the mount ≥ 0.9x flashgen straight from the disk with the same"
echo "total memory, on the disk as it is."
