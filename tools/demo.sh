#!/bin/sh
# demo.sh — `make demo`: mount the bundled demo model under a RAM budget smaller than the
# model, read every file through the mount (checking each against the backing file),
# show the control statistics, unmount. Exits non-zero on any failure; always unmounts.
set -eu

cd "$(dirname "$0")/.."
BUILD=${FLASHFS_BUILD:-build}
MODEL=tests/fixtures/demo
RAM=${DEMO_RAM:-8M}
FLASHFS="$BUILD/flashfs"

[ -x "$FLASHFS" ] || { echo "demo: $FLASHFS not built (run make)" >&2; exit 1; }

MNT=$(mktemp -d "${TMPDIR:-/tmp}/flashfs-demo.XXXXXX")
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
}
trap cleanup EXIT INT TERM

model_bytes=$(du -cb "$MODEL"/* | tail -1 | cut -f1)
echo "== flashfs demo: $MODEL ($model_bytes bytes) mounted at $MNT with --ram $RAM"
"$FLASHFS" -f --ram "$RAM" "$MODEL" "$MNT" &
PID=$!

# Wait for the mount to answer (the control directory appears).
i=0
while [ ! -e "$MNT/.flashfs/stats" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
        echo "demo: the mount did not come up" >&2
        exit 1
    fi
    sleep 0.1
done

echo "== reading every file through the mount"
for f in "$MNT"/*; do
    name=$(basename "$f")
    cat "$f" > /dev/null
    if cmp -s "$f" "$MODEL/$name"; then
        echo "   ok   $name"
    else
        echo "   FAIL $name differs from the backing file" >&2
        exit 1
    fi
done

echo "== tensors (from .flashfs/layout)"
python3 - "$MNT/.flashfs/layout" <<'PY' 2>/dev/null || grep -c '"dtype"' "$MNT/.flashfs/layout" || true
import json, sys
ly = json.load(open(sys.argv[1]))
files = ly.get("files", [])
n = sum(len(f.get("tensors", [])) for f in files)
print("   %d tensors in %d files, groups: %s" % (n, len(files),
      ", ".join(g["name"] if isinstance(g, dict) else str(g) for g in ly.get("groups", []))))
PY

echo "== generating through the mount: flashgen -m $MNT -p \"And God said\" (streaming layers, --ram 8M)"
FLASHGEN="$BUILD/flashgen"
if [ -x "$FLASHGEN" ]; then
    GEN_OUT=$(mktemp "${TMPDIR:-/tmp}/flashgen-demo.XXXXXX")
    "$FLASHGEN" -m "$MNT" -p "And God said" -n 48 --greedy --ignore-eos --stream --ram 8M --stats \
        -t 2 > "$GEN_OUT"
    printf 'And God said'
    cat "$GEN_OUT"
    if python3 - "$MODEL/reference.json" "$GEN_OUT" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))["prompts"][0]
got = open(sys.argv[2], encoding="utf-8").read()
sys.exit(0 if ref["prompt"] == "And God said" and got == ref["greedy_text"] + "\n" else 1)
PY
    then
        echo "   ok   identical to the transformers reference (greedy, 48 tokens)"
    else
        echo "   FAIL flashgen output differs from the reference greedy text" >&2
        rm -f "$GEN_OUT"
        exit 1
    fi
    rm -f "$GEN_OUT"
else
    echo "   (skipped: $FLASHGEN not built)"
fi

echo "== $MNT/.flashfs/stats"
cat "$MNT/.flashfs/stats"

echo "== unmounting"
fusermount3 -u "$MNT"
wait "$PID"
PID=""
echo "== demo done"
