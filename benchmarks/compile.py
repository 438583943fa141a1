"""Compile-speed benchmark: qbnn.compiler vs PyQUBO building the same QUBO.

Writes ``benchmarks/out/compile.csv`` with columns
``tool, samples, topology, variables, nonzeros, seconds, peak_mb``.
Run: ``python benchmarks/compile.py [--quick]``.
"""
from __future__ import annotations

import argparse
import csv
import time
import tracemalloc
from pathlib import Path

import numpy as np

from qbnn.compiler import compile_bnn
from qbnn.compiler.layout import neuron_layout
from qbnn.topology import Topology

GRID = [  # (layers, samples)
    ([16, 4, 1], 50), ([16, 4, 1], 200), ([16, 8, 1], 200), ([16, 8, 1], 1000),
    ([16, 8, 4, 1], 1000), ([64, 16, 1], 1000), ([16, 8, 1], 5000), ([16, 8, 1], 19300), ([16, 4, 1], 37000),
]
PYQUBO_GRID = [([16, 4, 1], 10), ([16, 4, 1], 50), ([16, 8, 1], 50), ([16, 4, 1], 200), ([16, 8, 1], 200)]


def _instance(layers, S, seed=0):
    topo = Topology.layered(layers)
    rng = np.random.default_rng(seed)
    X = rng.choice([-1, 1], size=(S, layers[0])).astype(np.int8)
    y = rng.choice([-1, 1], size=S).astype(np.int8)
    return topo, X, y


def pyqubo_model(topo, X, y, P):
    """The same formulation (λ = 0, h = 0) written as a PyQUBO expression."""
    from pyqubo import Binary

    layout, stride = neuron_layout(topo)
    nw, S, d = topo.n_weights, X.shape[0], topo.n_inputs
    var = [Binary(f"v{i}") for i in range(nw + S * stride)]
    H = 0
    for s in range(S):
        base = nw + s * stride
        for j, nl in enumerate(layout):
            src = topo.sources[j]
            r = nl.delta
            for e, sv in enumerate(src):
                u = var[nl.w0 + e]
                if sv < d:
                    r += u if X[s, sv] > 0 else 1 - u
            for e, (pos, i) in enumerate(zip(nl.nb_pos, nl.nb_src)):
                u, p, a = var[nl.w0 + pos], var[base + nl.prod + e], var[base + layout[i].alpha]
                r += 2 * p - u - a + 1
                H += P * (u * a - 2 * u * p - 2 * a * p + 3 * p)
            if topo.bias[j]:
                r += var[nl.w0 + nl.n - 1]
            r -= (nl.K + 1) * var[base + nl.alpha]
            for i, c in enumerate(nl.coefs):
                r -= int(c) * var[base + nl.slack + i]
            H += P * r * r
        a = var[base + layout[topo.outputs[0]].alpha]
        H += (1 - a) if y[s] > 0 else a
    return H, len(var)


def run_pyqubo(topo, X, y, cb):
    t0 = time.perf_counter()
    H, n = pyqubo_model(topo, X, y, cb.penalty)
    qdict, offset = H.compile().to_qubo()
    secs = time.perf_counter() - t0
    # sanity: same energies as ours on random states
    rng = np.random.default_rng(1)
    for x in rng.integers(0, 2, size=(3, n)):
        e = offset + sum(v * x[int(a[1:])] * x[int(b[1:])] for (a, b), v in qdict.items())
        assert abs(e - cb.qubo.energy(x)) < 1e-6, (e, cb.qubo.energy(x))
    nnz = sum(1 for a, b in qdict if a != b)
    return n, nnz, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small grid only")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "compile.csv"))
    args = ap.parse_args()
    grid = GRID[:4] if args.quick else GRID
    rows = []
    for layers, S in grid:
        topo, X, y = _instance(layers, S)
        t0 = time.perf_counter()
        cb = compile_bnn(topo, X, y)
        secs = time.perf_counter() - t0
        n, nnz = cb.num_variables, cb.qubo.num_interactions
        del cb
        tracemalloc.start()
        compile_bnn(topo, X, y)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rows.append(("qbnn", S, "-".join(map(str, layers)), n, nnz, round(secs, 4), round(peak, 1)))
        print(*rows[-1], flush=True)
    for layers, S in PYQUBO_GRID[: 2 if args.quick else None]:
        topo, X, y = _instance(layers, S)
        cb = compile_bnn(topo, X, y)
        tracemalloc.start()
        n, nnz, secs = run_pyqubo(topo, X, y, cb)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert n == cb.num_variables and nnz == cb.qubo.num_interactions
        t0 = time.perf_counter()
        compile_bnn(topo, X, y)
        ours = time.perf_counter() - t0
        rows.append(("pyqubo", S, "-".join(map(str, layers)), n, nnz, round(secs, 4), round(peak, 1)))
        print(*rows[-1], f"(qbnn {ours:.4f} s, ratio {secs / ours:.0f}x)", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tool", "samples", "topology", "variables", "nonzeros", "seconds", "peak_mb"])
        w.writerows(rows)
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
