#!/bin/sh
# bench_llama.sh — the real reader: llama.cpp's llama-bench on a GGUF model larger than its
# memory, alone (mmap, page cache thrash) versus through a flashfs mount, both inside ONE
# memory cgroup of the same size per case (the daemon and llama-bench share it in the mount
# case). Prints a Markdown section on stdout (see tools/bench_lib.sh).
#
#   sh tools/bench_llama.sh [--quick]
#
# llama.cpp: LLAMA_CPP_DIR (the directory of llama-bench), else ../shared/tools/llama.cpp/bin,
# else the binaries unpacked from ../shared/tools/llama.cpp/llama.cpp-bin.tar.xz into
# $FLASHFS_BUILD/llama.cpp; the scenario is skipped with a message when there is none.
# Models (cached in $FLASHFS_BUILD/bench-models/, remade when mkmodel's sources change):
#   1b-bf16   flashfs-mkmodel --preset llama-3.2-1b --format gguf (1.83 GiB), memory 1 GiB, --ram 768M
#   8b-q4km   flashfs-mkmodel --preset llama-3.1-8b --format gguf, then llama-quantize Q4_K_M
#             (4.2 GB; needs ~16 GB of free disk while it is made), memory 2 GiB, --ram 1700M
#   quick:    1b-bf16 with 4 of its 16 layers (0.47 GiB), memory 256 MiB, --ram 192M
# Cases, each from cold page caches: **alone** = llama-bench -m FILE in the cgroup;
# **mount** = flashfs --ram R on the model's directory + llama-bench -m MNT/FILE, both in the
# cgroup. Disks: as it is, and reads limited to LLAMA_DISK_MBPS MB/s (default 400; 0 = skip)
# for the reader (alone) or the daemon (mount) through a blkio/io cgroup.
# Figures per run: tg tok/s (llama-bench -p 0 -n N -r 1 -t 2, its avg_ts), bytes read from the
# disk (alone: llama-bench's block input, GNU time %I; mount: the daemon's /proc/PID/io
# read_bytes), per token = (bytes read - model size) / (N + 1): llama-bench's load touches the
# whole file once and its warm-up generates one token; peak = the cgroup's peak memory
# (page cache included); CPU = llama-bench's CPU time / (wall x 2 threads), the share of the
# two cores it computed (or spun) rather than waited for the disk.
# Environment overrides: LLAMA_RUNS, LLAMA_NGEN, LLAMA_MODELS ("1b-bf16 8b-q4km"), LLAMA_DISK_MBPS.
set -u
. tools/bench_lib.sh
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
MK=$BL_BUILD/flashfs-mkmodel
TITLE="## llama.cpp through the mount vs alone, same memory (tools/bench_llama.sh$([ $QUICK = 1 ] && echo ' --quick'))"
[ -x "$MK" ] || { echo "bench_llama: $MK missing (run make first)" >&2; exit 1; }
if ! bl_llama_bin; then printf '%s\n\nskipped: %s.\n' "$TITLE" "$BL_LLAMA_WHY"; exit 0; fi
if ! bl_can_drop; then printf '%s\n\nskipped: %s (every case starts cold).\n' "$TITLE" "$BL_DROP_WHY"; exit 0; fi
if [ ! -x /usr/bin/time ]; then printf '%s\n\nskipped: needs GNU time (/usr/bin/time, Debian package time).\n' "$TITLE"; exit 0; fi

RUNS=3; NGEN=8; MODELS="1b-bf16 8b-q4km"
[ $QUICK = 1 ] && { RUNS=1; NGEN=4; MODELS="1b-quick"; }
RUNS=${LLAMA_RUNS:-$RUNS}; NGEN=${LLAMA_NGEN:-$NGEN}; MODELS=${LLAMA_MODELS:-$MODELS}
DISK_MBPS=${LLAMA_DISK_MBPS:-400}
LOAD0=$(bl_load)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/flashfs-bench-llama.XXXXXX")
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

# model_params NAME: sets SHAPE QUANT LIMIT RAM for a model name
model_params() {
    case $1 in
    1b-bf16) SHAPE="--preset llama-3.2-1b"; QUANT=""; LIMIT=1073741824; RAM=768M ;;
    1b-quick) SHAPE="--preset llama-3.2-1b --layers 4"; QUANT=""; LIMIT=268435456; RAM=192M ;;
    8b-q4km) SHAPE="--preset llama-3.1-8b"; QUANT=Q4_K_M; LIMIT=2147483648; RAM=1700M ;;
    *) echo "bench_llama: unknown model $1 (1b-bf16 8b-q4km 1b-quick)" >&2; return 1 ;;
    esac
}

# make_model NAME: the model's directory (holding model.gguf) on stdout, made when missing
make_model() {
    _d=$BL_BUILD/bench-models/llama-$1
    _want="$SHAPE $QUANT / $(cat tools/flashfs_mkmodel.c tools/mkmodel_*.c | cksum)"
    if [ "$(cat "$_d/.bench-stamp" 2>/dev/null)" != "$_want" ]; then
        echo "bench_llama: writing $_d (flashfs-mkmodel $SHAPE --format gguf${QUANT:+, llama-quantize $QUANT})" >&2
        rm -rf "$_d"
        mkdir -p "$_d" || return 1
        if [ -z "$QUANT" ]; then
            "$MK" "$_d/model.gguf" $SHAPE --format gguf --quiet >&2 || { rm -rf "$_d"; return 1; }
        else
            "$MK" "$_d/bf16.gguf" $SHAPE --format gguf --quiet >&2 &&
                "$BL_LLAMA/llama-quantize" "$_d/bf16.gguf" "$_d/model.gguf" "$QUANT" 2 > "$TMP/quantize.log" 2>&1 ||
                { tail -n 5 "$TMP/quantize.log" >&2; rm -rf "$_d"; return 1; }
            rm -f "$_d/bf16.gguf"
        fi
        echo "$_want" > "$_d/.bench-stamp"
    fi
    echo "$_d"
}

# lbench OUT FILE CG: llama-bench on FILE inside cgroup(s) CG under GNU time (wall, CPU %,
# block input into OUT.time), its CSV into OUT.csv
lbench() {
    bl_cg_run "$3" /usr/bin/time -f '%e %P %I' -o "$1.time" timeout 3600 "$BL_LLAMA/llama-bench" -m "$2" \
        -p 0 -n "$NGEN" -r 1 -t 2 -o csv > "$1.csv" 2> "$1.err"
}

# result LINE pieces: tok/s, bytes, peak, cpu -> "tg=.. bytes=.. per_token=.. peak=.. cpu=.."
result() {
    _tg=$(bl_llama_tg "$1.csv")
    _cpu=$(awk '{ p = $2; sub(/%/, "", p); printf "%.0f", p / 2 }' "$1.time")
    _pt=$(awk -v b="$2" -v m="$MODEL_BYTES" -v n="$NGEN" 'BEGIN { printf "%.0f", (b - m) / (n + 1) }')
    echo "tg=$_tg bytes=$2 per_token=$_pt peak=$3 cpu=$_cpu"
}

run_alone() {
    bl_cg_create llama "$LIMIT" > "$TMP/cg" || { CG_WHY=$BL_CG_WHY; return 1; }
    CG=$(cat "$TMP/cg")
    cgs=$CG
    [ -n "$IOCG" ] && cgs="$CG:$IOCG"
    bl_drop_caches
    lbench "$TMP/run" "$MODEL/model.gguf" "$cgs"
    rc=$?
    peak=$(bl_cg_peak "$CG")
    bl_cg_destroy "$CG"
    CG=""
    [ $rc = 0 ] || { echo "bench_llama: llama-bench failed alone (exit $rc): $(tail -n 2 "$TMP/run.err")" >&2; return 1; }
    result "$TMP/run" "$(awk '{ printf "%.0f", $3 * 512 }' "$TMP/run.time")" "$peak"
}

run_mount() {
    bl_cg_create llamam "$LIMIT" > "$TMP/cg" || { CG_WHY=$BL_CG_WHY; return 1; }
    CG=$(cat "$TMP/cg")
    dcg=$CG
    [ -n "$IOCG" ] && dcg="$CG:$IOCG"
    BL_MOUNT_CG=$dcg bl_mount "$MODEL" "$MNT" "$TMP/flashfs.log" --ram "$RAM" || { bl_cg_destroy "$CG"; CG=""; return 1; }
    bl_drop_caches
    r0=$(awk '/^read_bytes/ { print $2 }' "/proc/$BL_MOUNT_PID/io")
    lbench "$TMP/run" "$MNT/model.gguf" "$CG"
    rc=$?
    r1=$(awk '/^read_bytes/ { print $2 }' "/proc/$BL_MOUNT_PID/io")
    cp "$MNT/.flashfs/stats" "$TMP/stats.last" 2>/dev/null
    bl_umount "$MNT"
    peak=$(bl_cg_peak "$CG")
    bl_cg_destroy "$CG"
    CG=""
    [ $rc = 0 ] || { echo "bench_llama: llama-bench failed through the mount (exit $rc): $(tail -n 2 "$TMP/run.err")" >&2; return 1; }
    result "$TMP/run" "$((r1 - r0))" "$peak"
}

median() {
    [ -s "$2" ] || { echo n/a; return; }
    while read -r line; do bl_kv "$1" "$line"; done < "$2" | grep -v '^n/a$' | bl_median | sed 's/^nan$/n\/a/'
}

MOUNT_WHY=""
[ -x "$BL_BUILD/flashfs" ] || MOUNT_WHY="$BL_BUILD/flashfs not built"
[ -z "$MOUNT_WHY" ] && [ ! -e /dev/fuse ] && MOUNT_WHY="/dev/fuse missing"
CG_WHY=""
DISK_WHY=""
DISKS=$(bl_disks "$DISK_MBPS")
DONE_MODELS=""
for M in $MODELS; do
    model_params "$M" || exit 1
    MODEL=$(make_model "$M") || { echo "bench_llama: cannot make model $M" >&2; continue; }
    MODEL_BYTES=$(stat -c %s "$MODEL/model.gguf")
    eval "BYTES_$(echo "$M" | tr - _)=$MODEL_BYTES"
    DONE_MODELS="$DONE_MODELS $M"
    for DT in $DISKS; do
        bl_io_enter llama "$MODEL" "$DT" || { DISK_WHY=$BL_IO_WHY; continue; }
        r=0
        while [ $r -lt "$RUNS" ]; do
            for setup in alone mount; do
                [ $setup = mount ] && [ -n "$MOUNT_WHY" ] && continue
                [ -n "$CG_WHY" ] && continue
                echo "bench_llama: $M disk $DT run $((r + 1))/$RUNS $setup" >&2
                if run_$setup > "$TMP/line"; then
                    cat "$TMP/line" >> "$TMP/$M.$DT.$setup"
                    echo "  $(cat "$TMP/line")" >&2
                fi
            done
            r=$((r + 1))
        done
        [ -n "$IOCG" ] && bl_cg_destroy "$IOCG"
        IOCG=""
    done
done

# ---- report ---------------------------------------------------------------------------------------
echo "$TITLE"
echo
echo "Reader: llama.cpp's \`llama-bench -p 0 -n $NGEN -r 1 -t 2\` (mmap, the way users run it) from $BL_LLAMA."
echo "Each case starts cold and runs inside one memory cgroup of the size given; **alone** = llama-bench on"
echo "the file, **mount** = \`flashfs --ram R\` on the model's directory and llama-bench on the mounted file, the"
echo "daemon in the same cgroup. Medians of $RUNS run(s); load average at the start: $LOAD0. Disks: as it is"
echo "(this machine's virtual disk, served from the host's cache)$([ "$DISK_MBPS" != 0 ] && echo " and reads limited to $DISK_MBPS MB/s (blkio/io cgroup)")."
echo "Bytes per token = (bytes read from the disk − model size) ÷ ($NGEN + 1): the load touches the file once,"
echo "the warm-up generates one token. Optimum per token = model − budget. CPU = llama-bench's CPU time ÷"
echo "(wall × 2 threads)."
[ -n "$MOUNT_WHY" ] && { echo; echo "Mount cases skipped: $MOUNT_WHY."; }
[ -n "$CG_WHY" ] && { echo; echo "Cases skipped: $CG_WHY."; }
[ -n "$DISK_WHY" ] && { echo; echo "Limited-disk cases skipped: $DISK_WHY."; }
echo
bl_header "model" "memory / --ram" "disk" "tok/s alone" "tok/s mount" "mount ÷ alone" \
    "bytes/token alone ÷ opt" "mount ÷ opt" "peak alone" "peak mount" "CPU alone" "CPU mount"
for M in $DONE_MODELS; do
    model_params "$M"
    eval "MB=\$BYTES_$(echo "$M" | tr - _)"
    rb=$(echo "$RAM" | awk '{ n = $1 + 0; u = substr($1, length($1)); if (u == "M") n *= 1048576; if (u == "G") n *= 1073741824; printf "%.0f", n }')
    opt=$((MB - rb))
    for DT in $DISKS; do
        a=$TMP/$M.$DT.alone; m=$TMP/$M.$DT.mount
        [ -s "$a" ] || [ -s "$m" ] || continue
        ta=$(median tg "$a"); tm=$(median tg "$m")
        pa=$(median peak "$a"); pm=$(median peak "$m")
        [ "$pa" != n/a ] && pa=$(bl_bytes "$pa")
        [ "$pm" != n/a ] && pm=$(bl_bytes "$pm")
        bl_row "$M ($(bl_bytes "$MB"))" "$(bl_bytes "$LIMIT") / $RAM" "$([ "$DT" = 0 ] && echo "as is" || echo "$DT MB/s")" \
            "$ta" "$tm" "$(bl_ratio "$tm" "$ta")" "$(bl_ratio "$(median per_token "$a")" "$opt")" \
            "$(bl_ratio "$(median per_token "$m")" "$opt")" "$pa" "$pm" "$(median cpu "$a")%" "$(median cpu "$m")%"
    done
done
echo
echo "Targets (issue 14): tok/s mount ÷ alone ≥ 1.5 on both models and both disks; bytes/token through the"
echo "mount ≤ 1.10 × (model − budget); peak of the cgroup ≤ its limit (the kernel enforces it: a case that"
echo "does not fit fails)."
