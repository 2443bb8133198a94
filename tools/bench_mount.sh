#!/bin/sh
# bench_mount.sh — sequential read throughput through a flashfs mount versus directly
# from the backing file, printed as a Markdown section on stdout (progress on stderr).
#
#   sh tools/bench_mount.sh [--quick]
#
# A file of random bytes (1 GiB; 256 MiB with --quick) is written to a temp directory on
# the disk that holds /tmp (override with TMPDIR). Cases, each read once per run with
# `dd bs=1M` into /dev/null, runs interleaved so that drift hits every case alike:
#   direct     the backing file itself;
#   mount      the same file through `flashfs -f DIR MNT` (default budget, larger than the file);
#   mount-ram  through a mount whose --ram is a quarter of the file (streaming under a budget).
# Cold: before each read `sync; echo 3 > /proc/sys/vm/drop_caches` and, for mounts, the
# `drop` control command (empties the daemon's cache and the mount's page cache). Needs
# root; otherwise the cold table is skipped with the reason. Warm: the same reads again
# right after a read of the same file (page cache hot). Medians of 5 runs (3 with --quick);
# the ratio is mount MB/s / direct MB/s (target >= 0.95 cold).
set -u
cd "$(dirname "$0")/.." || exit 1
. tools/bench_lib.sh

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
B=$BL_BUILD
[ -x "$B/flashfs" ] || { echo "bench_mount: $B/flashfs missing (run make first)" >&2; exit 1; }
RUNS=5
SIZE_MIB=1024
[ $QUICK = 1 ] && { RUNS=3; SIZE_MIB=256; }
RAM_MIB=$((SIZE_MIB / 4))

TMP=$(mktemp -d "${TMPDIR:-/tmp}/flashfs-bench-mount.XXXXXX") || exit 1
MNT1="$TMP/mnt"
MNT2="$TMP/mnt-ram"
PID1=""
PID2=""
cleanup() {
    for m in "$MNT1" "$MNT2"; do
        mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m" 2>/dev/null
    done
    for p in $PID1 $PID2; do
        kill -0 "$p" 2>/dev/null && { sleep 0.5; kill "$p" 2>/dev/null; }
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$TMP/model" "$MNT1" "$MNT2"
FILE=data.bin
echo "bench_mount: writing $SIZE_MIB MiB of random bytes to $TMP/model/$FILE" >&2
dd if=/dev/urandom of="$TMP/model/$FILE" bs=1M count=$SIZE_MIB status=none || exit 1
sync
SIZE=$(stat -c %s "$TMP/model/$FILE")

# ---- mounts -------------------------------------------------------------------------------
bl_mount "$TMP/model" "$MNT1" "$TMP/mount.log" || exit 1
PID1=$BL_MOUNT_PID
bl_mount "$TMP/model" "$MNT2" "$TMP/mount-ram.log" --ram "${RAM_MIB}M" || exit 1
PID2=$BL_MOUNT_PID

# path of the file read by case $1
case_path() {
    case $1 in
    direct) echo "$TMP/model/$FILE" ;;
    mount) echo "$MNT1/$FILE" ;;
    mount-ram) echo "$MNT2/$FILE" ;;
    esac
}

# empty the daemon's cache of the mount behind case $1 (nothing for direct)
drop_daemon() {
    case $1 in
    mount) printf 'drop\n' > "$MNT1/.flashfs/control" ;;
    mount-ram) printf 'drop\n' > "$MNT2/.flashfs/control" ;;
    esac
}

# read the file of case $1 once; prints MB/s (10^6 bytes per second)
read_once() {
    _p=$(case_path "$1")
    _t0=$(bl_now)
    dd if="$_p" of=/dev/null bs=1M status=none || { echo "nan"; return 1; }
    _t1=$(bl_now)
    awk -v s="$SIZE" -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.1f\n", s / (b - a) / 1e6 }'
}

CASES="direct mount mount-ram"
COLD=1
bl_can_drop || COLD=0

r=1
while [ $r -le $RUNS ]; do
    for c in $CASES; do
        if [ $COLD = 1 ]; then
            drop_daemon "$c"
            bl_drop_caches
            v=$(read_once "$c")
            echo "$v" >> "$TMP/cold.$c"
            echo "bench_mount: run $r cold $c: $v MB/s" >&2
        fi
        read_once "$c" > /dev/null # make it warm (within the budget for mount-ram: see below)
        v=$(read_once "$c")
        echo "$v" >> "$TMP/warm.$c"
        echo "bench_mount: run $r warm $c: $v MB/s" >&2
    done
    r=$((r + 1))
done

# READ request sizes seen by the default mount (1 MiB requests expected)
RS=$(awk '/"read_sizes"/,/}/' "$MNT1/.flashfs/stats" | tr -d ' \t\n' | sed 's/"read_sizes"://; s/,$//')

med() { bl_median < "$1"; }
runs() { tr '\n' ' ' < "$1" | sed 's/ $//'; }

table() { # $1 = cold|warm
    bl_header "case" "MB/s (median)" "runs (MB/s)" "vs direct"
    d=$(med "$TMP/$1.direct")
    for c in $CASES; do
        m=$(med "$TMP/$1.$c")
        case $c in
        direct) label="direct read of the backing file" ;;
        mount) label="through flashfs (default budget)" ;;
        mount-ram) label="through flashfs, --ram ${RAM_MIB}M (1/4 of the file)" ;;
        esac
        bl_row "$label" "$m" "$(runs "$TMP/$1.$c")" "$(bl_ratio "$m" "$d")"
    done
}

QS=""
[ $QUICK = 1 ] && QS=" --quick"
echo "## Sequential read through the mount (tools/bench_mount.sh$QS)"
echo
echo "Machine: $(bl_machine); load $(bl_load) at the start of the report; $(date -u '+%Y-%m-%d %H:%M UTC')."
echo "File: $(bl_bytes "$SIZE") of random bytes on $(df -P "$TMP" | awk 'NR == 2 { print $1 }'), read once per case"
echo "and run with \`dd bs=1M\` (1 MiB read() calls); $RUNS runs, cases interleaved; medians. \"vs direct\" is"
echo "mount MB/s / direct MB/s."
echo
echo "### Cold (page caches dropped and the daemon's cache emptied before each read)"
echo
if [ $COLD = 1 ]; then
    table cold
    echo
    echo "Target: through the mount >= 0.95 x direct."
else
    echo "skipped: $BL_DROP_WHY"
fi
echo
echo "### Warm (the same read repeated at once)"
echo
table warm
echo
echo "For the --ram case the file does not fit the budget, so a \"warm\" read streams from the"
echo "disk again. READ request sizes counted by the default mount over all its reads: \`$RS\`."
echo
echo "Reproduce: \`sh tools/bench_mount.sh$QS\` (as root for the cold table), or \`make bench\`."
exit 0
