# bench_lib.sh — shell functions shared by the benchmark scenarios (tools/bench_*.sh).
# POSIX sh; source it from the repository root:   . tools/bench_lib.sh
#
# Conventions of a scenario script (tools/bench_NAME.sh, run by tools/bench.sh):
#   - invoked as `sh tools/bench_NAME.sh [--quick]` from the repository root, with
#     FLASHFS_BUILD naming the build directory (default build);
#   - prints ONE Markdown section on stdout: "## Title", what was measured, the table(s)
#     of medians with ratios side by side, and the command that reproduces it;
#     progress and diagnostics go to stderr;
#   - skips what it cannot measure with a line saying why (e.g. "skipped: needs root to
#     drop the page cache") and still exits 0; a non-zero exit marks the scenario failed.
#
# Functions (prefix bl_):
#   bl_now                       seconds since the epoch, with nanoseconds
#   bl_median                    median of the numbers on stdin (one per line)
#   bl_ratio A B [DIGITS]        A / B, or "n/a" when B is 0 or either is not a number
#   bl_row CELL...               a Markdown table row "| a | b | c |"
#   bl_header CELL...            a header row and its "| --- |" separator
#   bl_machine                   one line describing the machine
#   bl_load                      the 1-minute load average and the CPU count ("3.2 on 2 CPUs")
#   bl_child_cpu                 sets BL_CHILD_CPU to the CPU seconds (user + sys) used so far
#                                by waited-for children (call it directly, not in $(...))
#   bl_bytes N                   N bytes as "1.84 GiB"
#   bl_can_drop                  true when page caches can be dropped (root + procfs)
#   bl_drop_caches               sync + drop page caches; false (and a reason in
#                                BL_DROP_WHY) when not possible
#   bl_cg_create NAME BYTES      a memory cgroup limited to BYTES (v2 memory.max or v1
#                                memory.limit_in_bytes); prints its path, false + BL_CG_WHY
#   bl_cg_run CG CMD...          run CMD inside cgroup CG (the process moves itself in,
#                                then execs CMD); CG may be several paths joined by ':'
#   bl_io_create NAME PATH BPS [CG]  a disk read limit: BPS bytes/s on the disk holding PATH
#                                (v1 blkio.throttle.read_bps_device, or v2 io.max rbps= set
#                                in CG when given, else in a new group); prints the group's
#                                path, false + BL_IO_WHY. Destroy it with bl_cg_destroy.
#   bl_disks MBPS                the disk settings a scenario runs: "0" (as it is), plus MBPS
#                                when it is not 0
#   bl_io_enter NAME PATH DT     set IOCG to a read limit of DT MB/s (empty for DT 0); false
#                                + BL_IO_WHY when it cannot be set
#   bl_cg_peak CG                peak memory of the group in bytes ("n/a" if not known)
#   bl_cg_destroy CG             remove the group (after its processes exited)
#   bl_mount DIR MNT LOG OPT...  start `flashfs -f DIR MNT OPT...` in the background and
#                                wait for the mount; sets BL_MOUNT_PID; false on failure.
#                                With BL_MOUNT_CG set, the daemon runs inside that cgroup.
#   bl_umount MNT                unmount and wait for the daemon BL_MOUNT_PID to exit
#   bl_kv KEY LINE               the value of KEY=value in a line of key=value pairs

BL_BUILD=${FLASHFS_BUILD:-build}

bl_now() { date +%s.%N; }

bl_median() {
    sort -g | awk '{ a[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

bl_ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
        if (a !~ /^-?[0-9.eE+-]+$/ || b !~ /^-?[0-9.eE+-]+$/ || b + 0 == 0 || a + 0 < 0 || b + 0 < 0) print "n/a";
        else printf "%.*f\n", d, a / b }'
}

bl_row() {
    _bl_line="|"
    for _bl_c in "$@"; do _bl_line="$_bl_line $_bl_c |"; done
    echo "$_bl_line"
}

bl_header() {
    bl_row "$@"
    _bl_sep="|"
    for _bl_c in "$@"; do _bl_sep="$_bl_sep --- |"; done
    echo "$_bl_sep"
}

bl_bytes() {
    awk -v n="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); i = 1
        while (n >= 1024 && i < 5) { n /= 1024; i++ }
        printf (i == 1 ? "%d %s\n" : "%.2f %s\n"), n, u[i] }'
}

bl_machine() {
    _bl_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    _bl_mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "$(nproc) CPUs (${_bl_cpu:-unknown}), $_bl_mem RAM, Linux $(uname -r)"
}

bl_load() {
    echo "$(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs"
}

bl_child_cpu() {
    times > "${TMPDIR:-/tmp}/bl_times.$$"      # in this shell: a subshell has no children
    BL_CHILD_CPU=$(awk 'NR == 2 { n = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub(/s$/, "", p[2]); n += p[1] * 60 + p[2] }
        printf "%.3f\n", n }' "${TMPDIR:-/tmp}/bl_times.$$")
    rm -f "${TMPDIR:-/tmp}/bl_times.$$"
}

bl_kv() {
    echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'
}

# ---- page caches -----------------------------------------------------------------------

BL_DROP_WHY=""
bl_can_drop() {
    if [ "$(id -u)" != 0 ]; then BL_DROP_WHY="needs root to drop the page cache"; return 1; fi
    if [ ! -w /proc/sys/vm/drop_caches ]; then BL_DROP_WHY="/proc/sys/vm/drop_caches not writable"; return 1; fi
    return 0
}

bl_drop_caches() {
    bl_can_drop || return 1
    sync
    echo 3 > /proc/sys/vm/drop_caches
}

# ---- memory cgroups (v2 when its memory controller is available, else v1) ---------------

BL_CG_WHY=""
bl_cg_root() {
    for r in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        if [ -f "$r/cgroup.controllers" ] && grep -qw memory "$r/cgroup.controllers"; then
            echo "2 $r"; return 0
        fi
    done
    if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        echo "1 /sys/fs/cgroup/memory"; return 0
    fi
    return 1
}

bl_cg_create() {
    _bl_lim=$2
    if [ "$(id -u)" != 0 ]; then BL_CG_WHY="needs root to create a memory cgroup"; return 1; fi
    _bl_r=$(bl_cg_root) || { BL_CG_WHY="no memory cgroup controller (v1 or v2) mounted"; return 1; }
    _bl_ver=${_bl_r%% *}; _bl_root=${_bl_r#* }
    _bl_cg="$_bl_root/flashfs-bench-$1-$$"
    if [ "$_bl_ver" = 2 ]; then
        grep -qw memory "$_bl_root/cgroup.subtree_control" 2>/dev/null ||
            echo +memory > "$_bl_root/cgroup.subtree_control" 2>/dev/null ||
            { BL_CG_WHY="cannot enable the memory controller in $_bl_root"; return 1; }
        mkdir "$_bl_cg" 2>/dev/null || { BL_CG_WHY="cannot create $_bl_cg"; return 1; }
        echo "$_bl_lim" > "$_bl_cg/memory.max" ||
            { rmdir "$_bl_cg"; BL_CG_WHY="cannot set memory.max"; return 1; }
        [ -f "$_bl_cg/memory.swap.max" ] && echo 0 > "$_bl_cg/memory.swap.max" 2>/dev/null
    else
        mkdir "$_bl_cg" 2>/dev/null || { BL_CG_WHY="cannot create $_bl_cg"; return 1; }
        echo "$_bl_lim" > "$_bl_cg/memory.limit_in_bytes" ||
            { rmdir "$_bl_cg"; BL_CG_WHY="cannot set memory.limit_in_bytes"; return 1; }
        [ -f "$_bl_cg/memory.memsw.limit_in_bytes" ] &&
            echo "$_bl_lim" > "$_bl_cg/memory.memsw.limit_in_bytes" 2>/dev/null
    fi
    echo "$_bl_cg"
}

bl_cg_run() {
    cg=$1; shift
    sh -c 'for g in $(echo "$0" | tr : " "); do echo $$ > "$g/cgroup.procs" || exit 125; done
           exec "$@"' "$cg" "$@"
}

# ---- disk read limits (to emulate a disk slower than this machine's) -------------------------

bl_disks() {
    [ "$1" = 0 ] && echo 0 || echo "0 $1"
}

bl_io_enter() {
    IOCG=""
    [ "$3" = 0 ] && return 0
    # not $(...): BL_IO_WHY must survive, a command substitution is a subshell
    _bl_f="${TMPDIR:-/tmp}/bl_io.$$"
    bl_io_create "$1" "$2" "$(($3 * 1000000))" > "$_bl_f" || { rm -f "$_bl_f"; return 1; }
    IOCG=$(cat "$_bl_f")
    rm -f "$_bl_f"
}

BL_IO_WHY=""
# bl_io_dev PATH: MAJ:MIN of the whole disk under PATH's file system (a partition's parent)
bl_io_dev() {
    _bl_d=$(stat -c '%Hd:%Ld' "$1" 2>/dev/null) || return 1
    [ -e "/sys/dev/block/$_bl_d" ] || return 1
    if [ -e "/sys/dev/block/$_bl_d/partition" ]; then
        _bl_d=$(cat "$(readlink -f "/sys/dev/block/$_bl_d/..")/dev") || return 1
    fi
    echo "$_bl_d"
}

bl_io_create() {
    if [ "$(id -u)" != 0 ]; then BL_IO_WHY="needs root to limit disk reads"; return 1; fi
    _bl_dev=$(bl_io_dev "$2") || { BL_IO_WHY="$2 is not on a block device"; return 1; }
    if [ -f /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ]; then
        _bl_g="/sys/fs/cgroup/blkio/flashfs-bench-io-$1-$$"
        mkdir "$_bl_g" 2>/dev/null || { BL_IO_WHY="cannot create $_bl_g"; return 1; }
        echo "$_bl_dev $3" > "$_bl_g/blkio.throttle.read_bps_device" 2>/dev/null ||
            { rmdir "$_bl_g"; BL_IO_WHY="cannot limit reads of $_bl_dev (blkio v1)"; return 1; }
        echo "$_bl_g"; return 0
    fi
    for _bl_r in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        [ -f "$_bl_r/cgroup.controllers" ] && grep -qw io "$_bl_r/cgroup.controllers" || continue
        grep -qw io "$_bl_r/cgroup.subtree_control" 2>/dev/null ||
            echo +io > "$_bl_r/cgroup.subtree_control" 2>/dev/null ||
            { BL_IO_WHY="cannot enable the io controller in $_bl_r"; return 1; }
        _bl_g=${4:-$_bl_r/flashfs-bench-io-$1-$$}
        [ -d "$_bl_g" ] || mkdir "$_bl_g" 2>/dev/null || { BL_IO_WHY="cannot create $_bl_g"; return 1; }
        echo "$_bl_dev rbps=$3" > "$_bl_g/io.max" 2>/dev/null ||
            { [ -z "${4:-}" ] && rmdir "$_bl_g"; BL_IO_WHY="cannot set io.max for $_bl_dev"; return 1; }
        echo "$_bl_g"; return 0
    done
    BL_IO_WHY="no blkio (v1) or io (v2) cgroup controller"
    return 1
}

bl_cg_peak() {
    if [ -f "$1/memory.peak" ]; then cat "$1/memory.peak"
    elif [ -f "$1/memory.max_usage_in_bytes" ]; then cat "$1/memory.max_usage_in_bytes"
    else echo n/a; fi
}

bl_cg_destroy() {
    if [ "${1#*:}" != "$1" ]; then
        for _bl_x in $(echo "$1" | tr : ' '); do bl_cg_destroy "$_bl_x"; done
        return 0
    fi
    [ -d "$1" ] || return 0
    # v1 keeps the group's page cache charged until it is emptied; then the directory goes
    [ -f "$1/memory.force_empty" ] && echo 0 > "$1/memory.force_empty" 2>/dev/null
    rmdir "$1" 2>/dev/null || { sleep 0.5; rmdir "$1" 2>/dev/null; }
}

# ---- flashfs mounts ----------------------------------------------------------------------

BL_MOUNT_PID=""
bl_mount() {
    _bl_dir=$1; _bl_mnt=$2; _bl_log=$3; shift 3
    if [ -n "${BL_MOUNT_CG:-}" ]; then
        # not bl_cg_run: a function in the background is a subshell, and $! must be the daemon
        sh -c 'for g in $(echo "$0" | tr : " "); do echo $$ > "$g/cgroup.procs" || exit 125; done
               exec "$@"' "$BL_MOUNT_CG" "$BL_BUILD/flashfs" -f "$_bl_dir" "$_bl_mnt" "$@" > "$_bl_log" 2>&1 &
    else
        "$BL_BUILD/flashfs" -f "$_bl_dir" "$_bl_mnt" "$@" > "$_bl_log" 2>&1 &
    fi
    BL_MOUNT_PID=$!
    _bl_i=0
    while [ $_bl_i -lt 100 ]; do
        mountpoint -q "$_bl_mnt" 2>/dev/null && [ -e "$_bl_mnt/.flashfs/stats" ] && return 0
        kill -0 "$BL_MOUNT_PID" 2>/dev/null || break
        sleep 0.1
        _bl_i=$((_bl_i + 1))
    done
    echo "bench: flashfs did not mount $_bl_dir: $(tail -n 3 "$_bl_log")" >&2
    kill "$BL_MOUNT_PID" 2>/dev/null
    BL_MOUNT_PID=""
    return 1
}

bl_umount() {
    mountpoint -q "$1" 2>/dev/null && fusermount3 -u "$1" 2>/dev/null
    if [ -n "$BL_MOUNT_PID" ]; then
        _bl_i=0
        while kill -0 "$BL_MOUNT_PID" 2>/dev/null && [ $_bl_i -lt 100 ]; do
            sleep 0.1
            _bl_i=$((_bl_i + 1))
        done
        kill -0 "$BL_MOUNT_PID" 2>/dev/null && kill "$BL_MOUNT_PID" 2>/dev/null
        wait "$BL_MOUNT_PID" 2>/dev/null
        BL_MOUNT_PID=""
    fi
}

# ---- llama.cpp, the real reader and the speed anchor --------------------------------------
# bl_llama_bin: sets BL_LLAMA to the directory holding llama.cpp's llama-bench (LLAMA_CPP_DIR,
# else ../shared/tools/llama.cpp/bin, else $BL_BUILD/llama.cpp/bin unpacked once from
# ../shared/tools/llama.cpp/llama.cpp-bin.tar.xz); false + BL_LLAMA_WHY when there is none.
BL_LLAMA=""
BL_LLAMA_WHY=""
bl_llama_bin() {
    BL_LLAMA=""
    _bl_tar=../shared/tools/llama.cpp/llama.cpp-bin.tar.xz
    for _bl_d in "${LLAMA_CPP_DIR:-}" ../shared/tools/llama.cpp/bin "$BL_BUILD/llama.cpp/bin"; do
        [ -n "$_bl_d" ] && [ -x "$_bl_d/llama-bench" ] && { BL_LLAMA=$_bl_d; return 0; }
    done
    if [ -z "${LLAMA_CPP_DIR:-}" ] && [ -f "$_bl_tar" ]; then
        mkdir -p "$BL_BUILD/llama.cpp" && tar xJf "$_bl_tar" -C "$BL_BUILD/llama.cpp" 2>/dev/null &&
            [ -x "$BL_BUILD/llama.cpp/bin/llama-bench" ] && { BL_LLAMA=$BL_BUILD/llama.cpp/bin; return 0; }
    fi
    BL_LLAMA_WHY="no llama.cpp (set LLAMA_CPP_DIR to the directory of llama-bench; ${LLAMA_CPP_DIR:+$LLAMA_CPP_DIR has none, }../shared/tools/llama.cpp has neither bin/ nor the tarball)"
    return 1
}

# bl_llama_tg CSVFILE: the tg tok/s (avg_ts) of the last row of llama-bench -o csv output
bl_llama_tg() {
    awk -F, '{ gsub(/"/, "") } NR == 1 { for (i = 1; i <= NF; i++) if ($i == "avg_ts") c = i; next }
        c && $c != "" { v = $c } END { print (v == "" ? "n/a" : v) }' "$1"
}

# bl_llama_pp_tg CSVFILE: "PP TG" — prefill and decode tok/s (avg_ts of the row with n_gen 0,
# and of the row with n_prompt 0) of llama-bench -p N -n M -o csv output ("n/a" when absent)
bl_llama_pp_tg() {
    awk -F, '{ gsub(/"/, "") } NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "avg_ts") c = i
            if ($i == "n_prompt") p = i; if ($i == "n_gen") g = i }; next }
        c && $g == "0" { pp = $c } c && $p == "0" { tg = $c }
        END { print (pp == "" ? "n/a" : pp), (tg == "" ? "n/a" : tg) }' "$1"
}
