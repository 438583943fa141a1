"""Benchmark: the shared forward pass (``Topology.forward``) against the passes it replaced.

* sign (±1, int32): one einsum per block of neurons sharing their sources vs the former one einsum per
  neuron (both exact; the results are checked equal);
* step (MIP networks, float64): ``Topology.forward`` of ``Network.from_layers`` (the thin
  ``qbnn.mip.layers.loss`` path, network built per call as the MILP loops do) vs the former per-layer
  ``h @ W.T + b`` (the pre-activations are checked bit-identical).

CPU milliseconds per call (``time.process_time``, median of ``--repeats`` timed batches of calls).

    python benchmarks/forward.py --out benchmarks/out/forward.csv   # -> forward.csv, forward.md
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from qbnn.io import atomic_output
from qbnn.mip.layers import loss
from qbnn.topology import Network, Topology

SIGN_CASES = (("layers [16, 4, 1]", {"layers": [16, 4, 1]}, 32, 50),
              ("layers [16, 4, 1]", {"layers": [16, 4, 1]}, 1, 50),
              ("layers [36, 8, 1]", {"layers": [36, 8, 1]}, 64, 200),
              ("layers [64, 16, 10]", {"layers": [64, 16, 10]}, 32, 300),
              ("receptive field 8x8 p3", {"receptive_field": {"image": [8, 8], "patch": 3}, "head": [1]}, 32, 100))
STEP_CASES = (("[16, 4, 1]", [16, 4, 1], 50), ("[64, 10, 10]", [64, 10, 10], 300), ("[30, 3, 1]", [30, 3, 1], 200))


def per_neuron_sign(topo, W, X):
    """The former sign forward: one einsum per neuron (reference)."""
    W = W.astype(np.int32)
    R, S, d = W.shape[0], X.shape[0], topo.n_inputs
    V = np.empty((R, S, d + topo.n_neurons), dtype=np.int32)
    V[:, :, :d] = X.astype(np.int32)[None]
    Z = np.empty((R, S, topo.n_neurons), dtype=np.int32)
    for k, src in enumerate(topo.sources):
        w = W[:, topo.weight_slice(k)]
        z = np.einsum("rse,re->rs", V[:, :, src], w[:, : len(src)])
        if topo.bias[k]:
            z += w[:, -1:]
        Z[:, :, k] = z
        V[:, :, d + k] = np.where(z >= 0, 1, -1)
    return Z


def per_layer_step(Ws, bs, X, y):
    """The former MIP forward and loss: float64 ``h @ W.T + b`` per layer, step hidden units (reference)."""
    h = X
    for k, (W, b) in enumerate(zip(Ws, bs)):
        a = h @ W.T + b
        if k == len(Ws) - 1:
            T = np.where(y.reshape(-1, 1) == 1, 1, -1) if a.shape[1] == 1 else np.where(
                np.arange(a.shape[1]) == y[:, None], 1, -1)
            return a, int(np.sum(np.where(a >= 0, 1, -1) != T))
        h = (a >= 0).astype(float)


def cpu_ms(f, repeats, calls):
    times = []
    for _ in range(repeats):
        c = time.process_time()
        for _ in range(calls):
            f()
        times.append((time.process_time() - c) / calls * 1e3)
    return float(np.median(times))


def run(a):
    rng = np.random.default_rng(0)
    rows = []
    for name, spec, R, S in SIGN_CASES:
        t = Topology.from_spec(spec)
        W = rng.choice([-1, 1], size=(R, t.n_weights)).astype(np.int8)
        X = rng.choice([-1, 1], size=(S, t.n_inputs)).astype(np.int8)
        assert np.array_equal(t.forward(W, X)[0], per_neuron_sign(t, W, X))
        rows.append({"pass": "sign", "network": name, "replicas": R, "samples": S, "blocks": len(t.blocks),
                     "neurons": t.n_neurons, "shared_ms": cpu_ms(lambda: t.forward(W, X), a.repeats, a.calls),
                     "former_ms": cpu_ms(lambda: per_neuron_sign(t, W, X), a.repeats, a.calls)})
    for name, layers, S in STEP_CASES:
        Ws = [rng.normal(size=(layers[k], layers[k - 1])) for k in range(1, len(layers))]
        bs = [rng.normal(size=layers[k]) for k in range(1, len(layers))]
        X = rng.uniform(-1, 1, size=(S, layers[0]))
        y = rng.choice([-1, 1], size=S) if layers[-1] == 1 else rng.integers(0, layers[-1], size=S)
        net = Network.from_layers(Ws, bs)
        Z, _ = net.topology.forward(net.weights, X)
        ref, ref_loss = per_layer_step(Ws, bs, X, y)
        assert np.array_equal(Z[:, net.topology.blocks[-1][0]:], ref) and loss(Ws, bs, X, y) == ref_loss
        rows.append({"pass": "step (loss)", "network": name, "replicas": 1, "samples": S,
                     "blocks": len(net.topology.blocks), "neurons": net.topology.n_neurons,
                     "shared_ms": cpu_ms(lambda: loss(Ws, bs, X, y), a.repeats, a.calls),
                     "former_ms": cpu_ms(lambda: per_layer_step(Ws, bs, X, y), a.repeats, a.calls)})
    for r in rows:
        r["speedup"] = r["former_ms"] / r["shared_ms"]
    out = Path(a.out)
    with atomic_output(out) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = ["| pass | network | replicas | samples | blocks/neurons | shared ms | former ms | former/shared |",
          "|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['pass']} | {r['network']} | {r['replicas']} | {r['samples']} | {r['blocks']}/{r['neurons']} | "
           f"{r['shared_ms']:.3f} | {r['former_ms']:.3f} | {r['speedup']:.2f} |" for r in rows]
    with atomic_output(out.with_suffix(".md")) as tmp:
        Path(tmp).write_text("\n".join(md) + "\n")
    print("\n".join(md))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/out/forward.csv")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--calls", type=int, default=20)
    run(p.parse_args())


if __name__ == "__main__":
    main()
