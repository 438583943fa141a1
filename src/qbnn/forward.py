"""The forward passes of :class:`qbnn.topology.Topology` (``topo``): ``W`` ``(R, n_weights)`` weight
vectors, ``X`` ``(S, d)`` inputs -> ``Z, A`` ``(R, S, N)`` pre-activations and activations."""
from __future__ import annotations

import numpy as np


def forward_sign(topo, W: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """±1 arithmetic in int32 (exact, so any grouping gives the same numbers), one einsum per block of
    neurons sharing their sources (a layer: one gather of the sources instead of one per neuron),
    vectorised over replicas x samples."""
    W = W.astype(np.int32)
    R, S, d = W.shape[0], X.shape[0], topo.n_inputs
    V = np.empty((R, S, d + topo.n_neurons), dtype=np.int32)
    V[:, :, :d] = X.astype(np.int32)[None]
    Z = np.empty((R, S, topo.n_neurons), dtype=np.int32)
    off = topo.weight_offsets
    for k0, k1 in topo.blocks:
        src, has_bias = topo.sources[k0], bool(topo.bias[k0])
        fan = len(src)
        if k1 - k0 == 1:  # a lone neuron (receptive fields, skips): the two-operand form, less overhead
            w = W[:, off[k0]:off[k1]]
            z = np.einsum("rse,re->rs", V[:, :, src], w[:, :fan])
            if has_bias:
                z += w[:, -1:]
            Z[:, :, k0] = z
            V[:, :, d + k0] = np.where(z >= 0, 1, -1)
            continue
        Wb = W[:, off[k0]:off[k1]].reshape(R, k1 - k0, fan + has_bias)
        z = np.einsum("rse,rne->rsn", V[:, :, src], Wb[:, :, :fan])
        if has_bias:
            z += Wb[:, None, :, fan]
        Z[:, :, k0:k1] = z
        V[:, :, d + k0:d + k1] = np.where(z >= 0, 1, -1)
    return Z, V[:, :, d:]


def forward_step(topo, W: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64, one ``h @ W.T + b`` per block of neurons sharing their sources (a layer), with the
    shapes and memory layouts of a per-layer forward: the summation order, hence which ``z`` land
    exactly on the step's 0 boundary, is the same as ``h @ W.T + b`` with ``W`` of shape (h_k, h_{k-1})."""
    W = W.astype(np.float64, copy=False)
    R, S, d = W.shape[0], X.shape[0], topo.n_inputs
    V = np.empty((R, S, d + topo.n_neurons), dtype=np.float64)
    V[:, :, :d] = X.astype(np.float64, copy=False)[None]
    Z = np.empty((R, S, topo.n_neurons), dtype=np.float64)
    off = topo.weight_offsets
    for k0, k1 in topo.blocks:
        src, has_bias = topo.sources[k0], bool(topo.bias[k0])
        fan = len(src)
        for r in range(R):
            Wb = W[r, off[k0]:off[k1]].reshape(k1 - k0, fan + has_bias)
            # fresh C-order operands (canonical strides), as in ``h @ W.T`` with a stored W and h: a strided
            # or F-order view (``V[:, src]`` is F-order) takes another BLAS path, so other rounding
            z = V[r][:, src].copy(order="C") @ Wb[:, :fan].copy(order="C").T
            if has_bias:
                z = z + Wb[:, fan]
            Z[r, :, k0:k1] = z
            V[r, :, d + k0:d + k1] = z >= 0
    return Z, V[:, :, d:]
