"""Held-out graphs of the G-set kinds (not the shared instances), written in G-set format.

* ``random``: G(n, p) with +1 or ±1 weights (G1-G3, G6, G43 kind);
* ``planar``: the union of two planar graphs on the same vertices, each a Delaunay triangulation
  of random points with 99 % of its edges kept (rudy's ``-planar n 99`` twice, the G14/G18/G35
  kind: G35 has 2,000 nodes and 11,778 edges, such a union about 11,800);
* ``torus``: an a x b toroidal grid (degree 4), +1 or ±1 weights (G11, G48, G62 kind).

Deterministic for a seed. ``python benchmarks/gset_like.py OUTDIR [--restarts]`` writes
:data:`HELD_OUT` (or :data:`RESTART_STUDY`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

#: name -> (kind, size parameters, signed weights, seed); none of these is a shared G-set graph
HELD_OUT = {
    "R800s": ("random", (800, 0.06), False, 101),
    "R800pm": ("random", (800, 0.06), True, 102),
    "P1000": ("planar", (1000,), False, 103),
    "P1000pm": ("planar", (1000,), True, 104),
    "P3000": ("planar", (3000,), False, 105),
    "T40x50pm": ("torus", (40, 50), True, 106),
    "T60x80pm": ("torus", (60, 80), True, 107),
}

#: the ±1 graphs of the restart-schedule study (benchmarks/sa_restarts.py, docs/solvers.md): three
#: looked at while choosing ("tune") and three only to judge ("judge"), other sizes and seeds than HELD_OUT
RESTART_STUDY = {
    "tuneP1200pm": ("planar", (1200,), True, 501), "tuneR1000pm": ("random", (1000, 0.05), True, 502),
    "tuneT50x50pm": ("torus", (50, 50), True, 503),
    "judgeP1600pm": ("planar", (1600,), True, 901), "judgeR700pm": ("random", (700, 0.07), True, 902),
    "judgeT45x70pm": ("torus", (45, 70), True, 903),
}

#: +1-weighted tuning graphs of the β-rule study (benchmarks/sa_beta_rule.py): random and planar +1
BETA_STUDY = {"tuneR900s": ("random", (900, 0.05), False, 701), "tuneP1400": ("planar", (1400,), False, 702)}


def random_edges(n, p, rng):
    i, j = np.triu_indices(n, 1)
    keep = rng.random(i.size) < p
    return i[keep], j[keep]


def planar_edges(n, rng, keep=0.99):
    from scipy.spatial import Delaunay

    pairs = set()
    for _ in range(2):
        tri = Delaunay(rng.random((n, 2))).simplices
        e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
        e = np.unique(np.sort(e, axis=1), axis=0)
        e = e[rng.random(len(e)) < keep]
        pairs.update(map(tuple, e.tolist()))
    e = np.array(sorted(pairs))
    return e[:, 0], e[:, 1]


def torus_edges(a, b):
    idx = np.arange(a * b).reshape(a, b)
    i = np.concatenate([idx.ravel(), idx.ravel()])
    j = np.concatenate([np.roll(idx, 1, 0).ravel(), np.roll(idx, 1, 1).ravel()])
    return np.minimum(i, j), np.maximum(i, j)


def make(kind, size, signed, seed):
    """-> (n, i, j, w) with 0-based endpoints."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        n = size[0]
        i, j = random_edges(n, size[1], rng)
    elif kind == "planar":
        n = size[0]
        i, j = planar_edges(n, rng)
    elif kind == "torus":
        n = size[0] * size[1]
        i, j = torus_edges(*size)
    else:
        raise ValueError(f"unknown graph kind {kind!r}")
    w = rng.choice([-1, 1], size=i.size) if signed else np.ones(i.size, dtype=np.int64)
    return n, i, j, w


def write(path, n, i, j, w):
    with open(path, "w") as f:
        f.write(f"{n} {i.size}\n")
        f.writelines(f"{a + 1} {b + 1} {c}\n" for a, b, c in zip(i.tolist(), j.tolist(), w.tolist()))


def write_all(outdir, specs=None) -> dict:
    """Write every graph of ``specs`` (default :data:`HELD_OUT`) to ``outdir``; returns name -> path."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, spec in (HELD_OUT if specs is None else specs).items():
        paths[name] = out / f"{name}.txt"
        if not paths[name].exists():
            write(paths[name], *make(*spec))
    return paths


if __name__ == "__main__":
    for name, p in write_all(sys.argv[1], RESTART_STUDY if "--restarts" in sys.argv[2:] else None).items():
        print(name, p)
