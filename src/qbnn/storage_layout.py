"""Dense or sparse storage of an Ising coupling matrix: the one rule the solvers
(:mod:`qbnn.solvers.problem`) and the memory estimate (:mod:`qbnn.memory`) share.

Torch-free, so a memory estimate (the workflow's per-job ``mem_mb``) does not import torch.
"""
from __future__ import annotations

import math

#: CPU storage rule, measured (docs/solvers.md, "Dense or CSR"; benchmarks/storage_crossover.py:
#: SA sweeps at 32 replicas, one thread, random ±1 graphs of 128-2,048 spins): dense wins at every
#: density up to 128 spins; above, CSR wins unless the stored fraction nnz/n² exceeds about
#: DENSE_SLOPE·log2(n/128) (measured crossovers ~0.1 at 256 spins, 0.2-0.35 at 512, ~0.3 at
#: 1,024, 0.4-0.5 at 2,048)
DENSE_MAX_N = 128
DENSE_SLOPE = 0.1
#: on CUDA dense matmuls win up to a few thousand spins (not re-measured: no GPU lent here)
CUDA_DENSE_MAX_N = 4096
CUDA_DENSE_FRACTION = 0.05


def dense_layout(n: int, j_nnz: int, device_type: str) -> bool:
    """Whether an n-spin coupling matrix with ``j_nnz`` stored nonzeros (both triangles) is held
    dense on ``device_type`` ('cpu' or 'cuda'). Sparse input above the crossover never gets an
    n x n tensor."""
    if device_type == "cuda":
        return n <= CUDA_DENSE_MAX_N or j_nnz > CUDA_DENSE_FRACTION * n * n
    return n <= DENSE_MAX_N or j_nnz > DENSE_SLOPE * math.log2(n / DENSE_MAX_N) * n * n
