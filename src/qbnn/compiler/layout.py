"""Variable layout of the compiled BNN QUBO (formulation in ``docs/formulation.md``).

Variables (0/1): weight bits ``u`` (``w = 2u - 1``, canonical weight order, indices
``0..n_weights-1``), then one block per sample (sample-major) holding, for each neuron
``j`` in topological order: its activation bit ``α_j`` (``a = 2α - 1``), its capped
binary slack bits, and one product bit ``p = u·α_src`` per edge from another neuron.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qbnn.topology import Topology

FORMULATION_VERSION = 2  # 2: margin variants (attrs margin_form / margin_kappa); abs-form files stay version 1
FORMULATION = "qbnn-sign-slack-v1"


@dataclass
class NeuronLayout:
    n: int  # fan-in (edges + bias)
    K: int  # slack range [0, K] (= n // 2)
    delta: int  # 1 when n is even (tie shift), else 0
    coefs: np.ndarray  # capped binary slack coefficients, int64 (L,)
    alpha: int  # offset of α_j inside a sample block
    slack: int  # offset of first slack bit
    prod: int  # offset of first product bit
    in_pos: np.ndarray  # positions (within the neuron's edges) of input-pixel edges
    nb_pos: np.ndarray  # positions of edges from neurons
    nb_src: np.ndarray  # source neuron index of those edges
    w0: int  # global index of the neuron's first weight


def slack_coefs(K: int) -> np.ndarray:
    L = int(K).bit_length()
    if L == 0:
        return np.zeros(0, dtype=np.int64)
    c = [1 << i for i in range(L - 1)]
    c.append(K - ((1 << (L - 1)) - 1))
    return np.array(c, dtype=np.int64)


def neuron_layout(topo: Topology) -> tuple[list[NeuronLayout], int]:
    """Every neuron's offsets inside a sample block, and the block length (stride)."""
    d = topo.n_inputs
    out, off = [], 0
    for j, src in enumerate(topo.sources):
        n = topo.fan_in(j)
        K = n // 2
        coefs = slack_coefs(K)
        is_nb = src >= d
        nl = NeuronLayout(
            n=n, K=K, delta=1 - n % 2, coefs=coefs, alpha=off, slack=off + 1, prod=off + 1 + len(coefs),
            in_pos=np.flatnonzero(~is_nb), nb_pos=np.flatnonzero(is_nb), nb_src=(src[is_nb] - d).astype(np.int64),
            w0=int(topo.weight_offsets[j]),
        )
        off = nl.prod + len(nl.nb_pos)
        out.append(nl)
    return out, off


def penalty_bound(topo: Topology, margin: float) -> float:
    """Smallest penalty weight for which the QUBO is exact (see docs/formulation.md)."""
    gmax = sum((topo.fan_in(j) + 2 * (1 - topo.fan_in(j) % 2)) / topo.fan_in(j) for j in range(topo.n_neurons))
    return float(topo.n_outputs + margin * gmax)


def encode_slack(k: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """Capped binary encoding of integer ``k`` in ``[0, Σ coefs]`` -> int8 bits ``k.shape + (L,)``."""
    L = len(coefs)
    bits = np.zeros(k.shape + (L,), dtype=np.int8)
    if L == 0:
        return bits
    rem = k.copy()
    top = (1 << (L - 1)) - 1
    hi = rem > top
    bits[..., L - 1] = hi
    rem = rem - hi * coefs[L - 1]
    for i in range(L - 1):
        bits[..., i] = (rem >> i) & 1
    return bits
