"""Straight-through-estimator (STE) training of a BNN on any topology.

Latent real weights ``u`` (one per canonical weight bit) are clipped to ``[-1, 1]``;
the forward pass uses ``sign(u)`` weights and sign activations (sign(0)=+1) along the
topology's DAG, the backward pass the hardtanh-clipped straight-through gradient.
The loss is the (squared) hinge on the fan-in-normalised output pre-activations
against ±1 targets.  Every epoch's sign weights are scored exactly (the forward pass
*is* the exact BNN), the best per seed is kept, and the best over seeds is returned.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from qbnn.baselines.torchdag import TorchDAG, bnn_activation, to_tensor, torch_threads
from qbnn.errors import QbnnError
from qbnn.topology import Topology


def sign_weights(latent: np.ndarray | torch.Tensor) -> np.ndarray:
    """±1 int8 weights from latent reals (sign(0)=+1)."""
    u = latent.detach().cpu().numpy() if isinstance(latent, torch.Tensor) else np.asarray(latent)
    return np.where(u >= 0, 1, -1).astype(np.int8)


def ste_forward(topology: Topology, latent: torch.Tensor, X: np.ndarray | torch.Tensor, dag: TorchDAG | None = None):
    """Torch BNN forward: ``(Z, A)`` float64 ``(S, N)``; equals ``Topology.forward(sign(latent), X)``."""
    dag = dag or TorchDAG(topology)
    Xt = X if isinstance(X, torch.Tensor) else to_tensor(X)
    w = torch.where(latent >= 0, 1.0, -1.0).to(latent.dtype) + (latent - latent.detach()) * (latent.abs() <= 1)
    return dag.forward(w, Xt, bnn_activation)


def train_ste(
    topology: Topology,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 300,
    lr: float = 0.01,
    seeds: int | list[int] = 3,
    seed: int = 0,
    loss: str = "hinge",
    margin: float = 1.0,
    batch_size: int | None = None,
    init_scale: float = 0.1,
    threads: int | None = 1,
) -> dict:
    """Train by STE + Adam; best of ``seeds`` restarts by exact training loss.

    Parameters
    ----------
    seeds : number of restarts (seeds ``seed, seed+1, ...``) or an explicit list.
    loss : ``"hinge"`` or ``"squared_hinge"``.
    batch_size : minibatch size (``None``: full batch).
    threads : torch intra-op threads while training (``None``: leave as is).

    Returns a dict with ``weights`` (int8 ±1, canonical order), ``train_errors`` (exact
    ``Topology.training_loss``), ``best_seed`` (winning seed), ``per_seed_errors``, ``seconds``.
    """
    if loss not in ("hinge", "squared_hinge"):
        raise QbnnError(f"unknown STE loss {loss!r} (hinge or squared_hinge)")
    if epochs < 0:
        raise QbnnError("epochs must be >= 0")
    seed_list = list(range(seed, seed + int(seeds))) if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not seed_list:
        raise QbnnError("need at least one seed")
    with torch_threads(threads):
        return _train(topology, X, y, epochs, lr, seed_list, loss, margin, batch_size, init_scale)


def _train(topology, X, y, epochs, lr, seed_list, loss, margin, batch_size, init_scale) -> dict:
    t0 = time.perf_counter()
    dag = TorchDAG(topology)
    Xt = to_tensor(X)
    T = torch.as_tensor(topology.targets(y), dtype=torch.float64)
    out = dag.outputs
    out_fan = dag.fan_in[out]
    S = Xt.shape[0]
    best = None
    per_seed = {}
    for s in seed_list:
        torch.manual_seed(int(s))
        gen = torch.Generator().manual_seed(int(s))
        u = (init_scale * torch.randn(topology.n_weights, dtype=torch.float64, generator=gen)).requires_grad_(True)
        opt = torch.optim.Adam([u], lr=lr)
        best_s = (None, None)

        def score() -> int:
            with torch.no_grad():
                _, A = ste_forward(topology, u, Xt, dag)
                return int((A[:, out] != T).sum().item())

        e = score()
        best_s = (e, sign_weights(u))
        for _ in range(int(epochs)):
            if best_s[0] == 0:
                break
            perm = torch.randperm(S, generator=gen) if batch_size else None
            batches = [perm[i : i + batch_size] for i in range(0, S, batch_size)] if batch_size else [None]
            for idx in batches:
                xb = Xt if idx is None else Xt[idx]
                tb = T if idx is None else T[idx]
                Z, A = ste_forward(topology, u, xb, dag)
                if idx is None:  # full batch: this pass scores the current sign weights exactly
                    e = int((A[:, out] != T).sum().item())
                    if e < best_s[0]:
                        best_s = (e, sign_weights(u))
                    if e == 0:
                        break
                m = margin - tb * Z[:, out] / out_fan.sqrt()
                h = torch.clamp(m, min=0)
                L = (h * h if loss == "squared_hinge" else h).mean()
                opt.zero_grad()
                L.backward()
                opt.step()
                with torch.no_grad():
                    u.clamp_(-1, 1)
            if batch_size:
                e = score()
                if e < best_s[0]:
                    best_s = (e, sign_weights(u))
        e = score()  # weights after the last step
        if e < best_s[0]:
            best_s = (e, sign_weights(u))
        per_seed[int(s)] = best_s[0]
        if best is None or best_s[0] < best[0]:
            best = (best_s[0], best_s[1], int(s))
    errors, w, win = best
    exact = topology.training_loss(w, X, y)
    if exact != errors:  # the torch pass is the exact BNN; guard anyway
        raise RuntimeError(f"STE torch forward disagrees with Topology.forward ({errors} vs {exact})")
    return {
        "method": "ste",
        "weights": w,
        "train_errors": int(exact),
        "best_seed": win,
        "per_seed_errors": per_seed,
        "seconds": time.perf_counter() - t0,
        "epochs": int(epochs),
        "lr": float(lr),
        "loss": loss,
    }
