#!/usr/bin/env bash
# The peer bench: qlab's INT8 and MXFP4 GEMMs beside ONNX Runtime's MatMulInteger (u8 x s8,
# B constant) on this CPU, one and two threads, n = 512, 1024, 2048, run alternately in ROUNDS
# rounds (qlab, ORT, ORT without AMX, qlab, ...) so all see the same machine; prints the
# medians and the ratios with the CPU's name.
#
#   benches/peers/run.sh            # ROUNDS=3 SIZES=512,1024,2048 RUNS=7
#
# Needs python3 and network access for pip (once: the venv is kept in target/peer-venv), and a
# C compiler for the AMX shim (skipped where the CPU has no AMX, or without a compiler).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-512,1024,2048}
RUNS=${RUNS:-7}
VENV=${QLAB_PEER_VENV:-target/peer-venv}
OUT=${OUT:-target/peer-bench}
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q numpy onnx onnxruntime
fi
cargo build --release -q
QLAB=target/release/qlab
AMX=no
if grep -qw amx_int8 /proc/cpuinfo && command -v cc >/dev/null; then
    cc -shared -fPIC -O2 -o "$OUT/no_amx.so" benches/peers/no_amx.c -ldl && AMX=yes
fi
: > "$OUT/runs.jsonl"
for round in $(seq "$ROUNDS"); do
    for t in 1 2; do
        "$QLAB" bench --json --kernels-only --sizes "$SIZES" --runs "$RUNS" --threads "$t" \
            | "$VENV/bin/python" -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"who":"qlab","threads":int(sys.argv[1]),"report":r}))' "$t" \
            >> "$OUT/runs.jsonl"
        for n in ${SIZES//,/ }; do
            "$VENV/bin/python" benches/peers/ort_matmul.py "$n" "$t" "$RUNS" \
                | sed 's/^{/{"who": "ort", /' >> "$OUT/runs.jsonl"
            if [ "$AMX" = yes ]; then
                LD_PRELOAD="$OUT/no_amx.so" "$VENV/bin/python" benches/peers/ort_matmul.py "$n" "$t" "$RUNS" \
                    | sed 's/^{/{"who": "ort-no-amx", /' >> "$OUT/runs.jsonl"
            fi
        done
    done
    echo "round $round of $ROUNDS done" >&2
done
"$VENV/bin/python" benches/peers/summary.py "$OUT/runs.jsonl"
