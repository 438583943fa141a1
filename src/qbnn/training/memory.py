"""Memory estimate of ``qbnn train`` from sizes alone (no QUBO is ever held: see docs/training.md).

Counted: the data and per-network state (``Z``, ``A``, block inputs), the exhaustive block
candidates ``(2^k, S)`` (float32 pre-activations, their float32 indicator, bool), and for the PT
endgame the cluster-move state (``MoveState``: float32 ``Z``/``A`` per replica plus the per-proposal
clones and ``dA`` of ``propagate``, and ``Topology.forward``'s int32 ``V``). The interpreter and
libraries themselves (≈ 0.3–0.5 GB resident with torch) are not part of the estimate.
"""
from __future__ import annotations

from qbnn.memory import check_fits


def train_estimate(topology, n_samples: int, strategy: str, block_size: int, batch_size: int,
                   replicas: int) -> int:
    """Peak working-set bytes of one ``train`` run."""
    S, N, d = int(n_samples), topology.n_neurons, topology.n_inputs
    fan = max(topology.fan_in(j) for j in range(N))
    data = S * d + S * 8  # X int8, y
    state = 2 * S * N * 4 + 2 * S * fan * 4 + S * (d + N) * 4  # Z, A; V and its float32 copy; forward V
    rows = S if strategy != "consensus" else min(S, int(batch_size))
    need = data + 2 * state
    if strategy != "pt":
        k = min(int(block_size), fan) if strategy != "lns-milp" else 0
        need += (1 << k) * rows * 9
        if strategy == "lns-milp":
            need += 2 * S * (fan + S) * 8  # dense constraint blocks handed to HiGHS
    if strategy in ("pt", "lns-pt"):
        R = int(replicas)
        need += R * S * (d + N) * 4 * 2 + R * S * N * 4 * 8 + S * d * 4 * 2
    return int(need)


def guard_train(topology, n_samples: int, strategy: str, block_size: int, batch_size: int, replicas: int,
                device: str = "cpu") -> int:
    """Refuse (one-line QbnnError) a training run whose working set would not fit."""
    need = train_estimate(topology, n_samples, strategy, block_size, batch_size, replicas)
    check_fits(need, f"training {topology.n_weights} weights on {n_samples} samples with {strategy!r}")
    if str(device).startswith("cuda") and strategy in ("pt", "lns-pt"):
        check_fits(need, f"training with {strategy!r} on {device}", device)
    return need
