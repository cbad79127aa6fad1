#!/usr/bin/env bash
# Runs two qlab binaries on the same inputs and compares every output byte for byte: stdout,
# stderr, exit status and every file written. For refactors that must not change a single bit
# (`.ci/compare-binaries.sh OLD_QLAB NEW_QLAB`; both named `qlab`, since help texts name the
# binary). Not part of CI: it needs a build of the old
# commit. Prints each difference and exits 1 if there is any.
set -uo pipefail
old=$(realpath "$1")
new=$(realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in"
cp -r "$repo/scenarios" "$repo/results" "$repo/tests/hostile" "$work/in/"

# Inputs for quantize and matmul: a few shapes and distributions, written with qlab itself
# (a scenario's W and x through `run --json` would not give .npy files, so use the corpus and
# arrays from the old binary's own quantize of known data).
python3 - "$work/in" <<'EOF'
import struct, sys, random
out = sys.argv[1]
def npy(path, shape, values, descr='<f4'):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (
        descr, '(%d,)' % shape[0] if len(shape) == 1 else '(%s)' % ', '.join(map(str, shape)))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + ' ' * (pad % 64) + '\n'
    fmt = '<%d%s' % (len(values), 'f' if descr == '<f4' else 'd')
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode())
        f.write(struct.pack(fmt, *values))
rng = random.Random(7)
for name, (m, k) in {'a': (16, 64), 'b': (33, 100), 'c': (64, 256), 'd': (1, 31)}.items():
    vals = [rng.gauss(0, 1) * (50 if j % 17 == 3 else 1) for _ in range(m) for j in range(k)]
    npy(f'{out}/w-{name}.npy', (m, k), vals)
    npy(f'{out}/w64-{name}.npy', (m, k), vals, '<f8')
    xs = [rng.gauss(0, 1) for _ in range(k * 5)]
    npy(f'{out}/x-{name}.npy', (k, 5), xs)
    npy(f'{out}/v-{name}.npy', (k,), xs[:k])
EOF

failures=0
# run_case NAME ARGS...: runs both binaries in copies of the inputs (in the copy's
# subdirectory $SUB, if set) and compares everything.
run_case() {
    local name=$1
    shift
    local dir
    for which in old new; do
        dir="$work/$which/$name"
        mkdir -p "$dir"
        cp -r "$work/in/." "$dir/"
        (cd "$dir/${SUB:-.}" && "${!which}" "$@" >"$dir/.stdout" 2>"$dir/.stderr"; echo $? >"$dir/.status")
        # Timings and the memory free now are the things allowed to differ.
        sed -i -E 's/computed in [0-9.]+ m?s//; s/"seconds": [0-9.e-]+//' "$dir/.stdout"
        sed -i -E 's/[0-9.]+ GiB (is available|of memory available)/N GiB \1/' "$dir/.stderr"
    done
    if ! diff -r "$work/old/$name" "$work/new/$name" >"$work/diff.txt"; then
        echo "DIFFERS: $name: $*"
        head -20 "$work/diff.txt"
        failures=$((failures + 1))
    fi
    rm -rf "$work/old/$name" "$work/new/$name"
}

for kernel in scalar avx2 avx2-vnni avx512-vnni; do
    if ! "$new" --kernel "$kernel" formats >/dev/null 2>&1; then
        continue
    fi
    k=(--kernel "$kernel")
    run_case "formats-$kernel" "${k[@]}" formats
    for mode in document spec both; do
        run_case "walk-$mode-$kernel" "${k[@]}" walkthrough --mode "$mode"
    done
    run_case "run-default-$kernel" "${k[@]}" run --json
    for s in "$work"/in/scenarios/*.toml; do
        b=$(basename "$s" .toml)
        run_case "run-$b-$kernel" "${k[@]}" run "scenarios/$b.toml" --csv out.csv
        run_case "json-$b-$kernel" "${k[@]}" run "scenarios/$b.toml" --json
    done
    for s in "$work"/in/results/*.sweep.toml; do
        b=$(basename "$s" .sweep.toml)
        run_case "sweep-$b-$kernel" "${k[@]}" sweep "results/$b.sweep.toml" --out s.csv --quiet
    done
    for n in a b c d; do
        for f in int8 mxfp4 f64; do
            run_case "matmul-$n-$f-$kernel" "${k[@]}" matmul "w-$n.npy" "x-$n.npy" --format "$f" --out y.npy
            run_case "matvec-$n-$f-$kernel" "${k[@]}" matmul "w64-$n.npy" "v-$n.npy" --format "$f" --out y.npy
        done
        for opts in "--block-size 16 --scale-rule rceil" "--block-size tensor --accumulator f64" "--scale-rule even"; do
            # shellcheck disable=SC2086
            run_case "matmul-$n-mx-${opts// /_}-$kernel" "${k[@]}" matmul "w-$n.npy" "x-$n.npy" --format mxfp4 $opts --out y.npy
        done
        for opts in "--w-scheme symmetric --x-granularity channel" "--rounding stochastic --seed 3" "--rounding floor --w-granularity channel"; do
            # shellcheck disable=SC2086
            run_case "matmul-$n-i8-${opts// /_}-$kernel" "${k[@]}" matmul "w-$n.npy" "x-$n.npy" --format int8 $opts --out y.npy
        done
        run_case "q-mx-$n-$kernel" "${k[@]}" quantize "w-$n.npy" --format mxfp4 --out q.npy --codes c.npy --scales s.npy --packed p.npy
        run_case "q-mx8-$n-$kernel" "${k[@]}" quantize "w-$n.npy" --format mxfp4 --block-size 8 --scale-rule ceil --out q.npy --codes c.npy --scales s.npy
        run_case "q-i8-$n-$kernel" "${k[@]}" quantize "w-$n.npy" --format int8 --out q.npy --codes c.npy --scales s.npy --zero-points z.npy
        run_case "q-i8c-$n-$kernel" "${k[@]}" quantize "w-$n.npy" --format int8 --granularity channel --scheme symmetric --rounding half-away --out q.npy --codes c.npy --scales s.npy --zero-points z.npy
    done
    run_case "q-ggml-$kernel" "${k[@]}" quantize w-c.npy --format mxfp4 --out q.npy --ggml g.npy
done
for s in "$work"/in/results/*.sweep.toml; do
    b=$(basename "$s" .sweep.toml)
    run_case "dry-$b" sweep "results/$b.sweep.toml" --dry-run
done
run_case help --help
for c in tui quantize matmul walkthrough formats run sweep merge plot bench; do
    run_case "help-$c" "$c" --help
done
run_case merge merge results/distributions.csv --out m.csv
run_case plot-line plot results/block-size-outliers.csv --x x.outlier_channels.factor --y out_sqnr_db --by variant --out p.svg
run_case plot-bars plot results/distributions.csv --x x.dist --y out_sqnr_db --by variant --out p.svg
# The hostile corpus: every case's command, from the corpus directory.
python3 - "$work/in/hostile/cases.toml" >"$work/cases.txt" <<'EOF'
import sys, tomllib, shlex
for c in tomllib.load(open(sys.argv[1], 'rb'))['case']:
    print(shlex.join(a.replace('{out}', '.') for a in c['args']))
EOF
i=0
while IFS= read -r line; do
    i=$((i + 1))
    eval "args=($line)"
    # shellcheck disable=SC2154
    SUB=hostile run_case "hostile-$i" "${args[@]}"
done <"$work/cases.txt"

echo "compared; $failures difference(s)"
[ "$failures" -eq 0 ]
