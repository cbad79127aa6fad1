"""Summarises the peer bench's runs: per threads and n, the median over rounds of qlab's best
INT8 and MXFP4 GEMM and of ORT's MatMulInteger (with and, where there is AMX, without it), and
the ratios qlab / ORT."""
import json
import statistics
import sys
from collections import defaultdict

rates = defaultdict(list)
cpu = "?"
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["who"] == "qlab":
        rep = r["report"]
        cpu = f'{rep["cpu"]} ({", ".join(rep["features"])})'
        best = defaultdict(float)
        for g in rep["gemm"]:
            fam = g["name"].split()[0]
            if fam in ("int8", "mxfp4"):
                best[(fam, g["size"])] = max(best[(fam, g["size"])], g["median"])
        for (fam, n), v in best.items():
            rates[(f"qlab {fam}", r["threads"], n)].append(v)
    else:
        rates[(r["who"], r["threads"], r["n"])].append(r["gops"])
med = {k: statistics.median(v) for k, v in rates.items()}
print(f"CPU: {cpu}")
whos = sorted({k[0] for k in med if k[0].startswith("ort")})
print(f'{"threads":>7} {"n":>5} {"qlab int8":>10} {"qlab mxfp4":>11} ' +
      " ".join(f"{w:>11}" for w in whos) + "  int8/" + "  int8/".join(whos))
for t in (1, 2):
    for n in sorted({k[2] for k in med if k[1] == t}):
        q = med.get(("qlab int8", t, n), float("nan"))
        m = med.get(("qlab mxfp4", t, n), float("nan"))
        o = [med.get((w, t, n), float("nan")) for w in whos]
        print(f"{t:>7} {n:>5} {q:>10.0f} {m:>11.0f} " + " ".join(f"{x:>11.0f}" for x in o) +
              "  " + "  ".join(f"{q / x:>9.2f}" for x in o))
print("GOPS (2 ops per multiply-add), medians over rounds; ratios from the same rounds")
