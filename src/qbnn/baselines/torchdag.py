"""Torch forward pass over an arbitrary :class:`~qbnn.topology.Topology` DAG.

Neurons are grouped by depth; every depth level is one dense matmul against a
scattered weight matrix, so the pass is vectorised for any DAG (layered, receptive
field, skip connections).  Used by the STE BNN (sign weights / sign activations with a
straight-through estimator) and by the full-precision reference network of the same
shape (real weights, tanh/relu hidden units).
"""
from __future__ import annotations

import numpy as np
import torch

from qbnn.topology import Topology


class SignSTE(torch.autograd.Function):
    """sign with sign(0)=+1 forward; hardtanh-clipped straight-through gradient."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    return SignSTE.apply(x)


class TorchDAG:
    """Precomputed gather/scatter plan for a topology's forward pass in torch."""

    def __init__(self, topology: Topology, dtype: torch.dtype = torch.float64):
        self.topology = topology
        self.dtype = dtype
        t = topology
        d, N = t.n_inputs, t.n_neurons
        depth = t.depth()
        self.levels = []
        pos = {i: i for i in range(d)}  # node -> column in the running activation matrix
        ncols = d
        order = []
        for lv in range(1, int(depth.max()) + 1 if N else 1):
            ks = np.flatnonzero(depth == lv)
            rows, cols, widx, bias_cols, bias_idx = [], [], [], [], []
            for j, k in enumerate(ks):
                off = int(t.weight_offsets[k])
                src = t.sources[k]
                rows += [pos[int(s)] for s in src]
                cols += [j] * len(src)
                widx += list(range(off, off + len(src)))
                if t.bias[k]:
                    bias_cols.append(j)
                    bias_idx.append(off + len(src))
            fan = torch.tensor([t.fan_in(int(k)) for k in ks], dtype=dtype)
            self.levels.append(
                dict(
                    ks=ks,
                    n_in=ncols,
                    rows=torch.tensor(rows, dtype=torch.long),
                    cols=torch.tensor(cols, dtype=torch.long),
                    widx=torch.tensor(widx, dtype=torch.long),
                    bias_cols=torch.tensor(bias_cols, dtype=torch.long),
                    bias_idx=torch.tensor(bias_idx, dtype=torch.long),
                    fan=fan,
                )
            )
            for k in ks:
                pos[d + int(k)] = ncols
                ncols += 1
            order += list(ks)
        # column (among neuron outputs, level order) of each neuron in topological order
        inv = np.empty(N, dtype=np.int64)
        inv[np.array(order, dtype=np.int64)] = np.arange(N)
        self.perm = torch.tensor(inv, dtype=torch.long)
        self.fan_in = torch.tensor([t.fan_in(k) for k in range(N)], dtype=dtype)
        self.outputs = torch.tensor(list(t.outputs), dtype=torch.long)

    def forward(self, w: torch.Tensor, X: torch.Tensor, activation) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(Z, A)`` of shape ``(S, N)`` in topological neuron order.

        ``w`` is the effective weight vector (already signed for a BNN) in canonical order;
        ``activation(z, fan)`` maps a level's pre-activations to its activations.
        """
        S = X.shape[0]
        V = X
        Zs, As = [], []
        for lv in self.levels:
            M = torch.zeros(lv["n_in"], len(lv["ks"]), dtype=w.dtype).index_put(
                (lv["rows"], lv["cols"]), w[lv["widx"]]
            )
            z = V @ M
            if len(lv["bias_cols"]):
                b = torch.zeros(len(lv["ks"]), dtype=w.dtype).index_put((lv["bias_cols"],), w[lv["bias_idx"]])
                z = z + b
            a = activation(z, lv["fan"])
            Zs.append(z)
            As.append(a)
            V = torch.cat([V, a], dim=1)
        if not Zs:
            empty = torch.zeros(S, 0, dtype=w.dtype)
            return empty, empty
        Z = torch.cat(Zs, dim=1)[:, self.perm]
        A = torch.cat(As, dim=1)[:, self.perm]
        return Z, A


def bnn_activation(z: torch.Tensor, fan: torch.Tensor) -> torch.Tensor:
    """Sign activation (sign(0)=+1); STE window |z| <= sqrt(fan_in) (scale-free sign)."""
    return sign_ste(z / fan.sqrt())


def to_tensor(X: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(X), dtype=dtype)


class torch_threads:
    """Context manager: ``n`` intra-op threads (default 1) and deterministic algorithms, restored afterwards.

    The networks here are small; on shared CPUs a single thread is several times faster
    than the default thread pool.
    """

    def __init__(self, n: int | None = 1):
        self.n = n

    def __enter__(self):
        self.prev = torch.get_num_threads()
        self.prev_det = torch.are_deterministic_algorithms_enabled()
        if self.n:
            torch.set_num_threads(int(self.n))
        torch.use_deterministic_algorithms(True)  # reproducible training; restored on exit
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.prev)
        torch.use_deterministic_algorithms(self.prev_det)
        return False
