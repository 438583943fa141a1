"""Dense or sparse storage of an Ising coupling matrix: the one rule the solvers
(:mod:`qbnn.solvers.problem`) and the memory estimate (:mod:`qbnn.memory`) share.

Torch-free, so a memory estimate (the workflow's per-job ``mem_mb``) does not import torch.
"""
from __future__ import annotations

#: on CPU, problems up to this many spins (or denser than DENSE_FRACTION) use dense torch
#: tensors, others CSR (torch's CSR @ dense is ~10-100x faster than dense on G-set sizes)
DENSE_MAX_N = 128
DENSE_FRACTION = 0.25
#: on CUDA dense matmuls win up to a few thousand spins
CUDA_DENSE_MAX_N = 4096
CUDA_DENSE_FRACTION = 0.05


def dense_layout(n: int, j_nnz: int, device_type: str) -> bool:
    """Whether an n-spin coupling matrix with ``j_nnz`` stored nonzeros (both triangles) is held
    dense on ``device_type`` ('cpu' or 'cuda')."""
    if device_type == "cuda":
        return n <= CUDA_DENSE_MAX_N or j_nnz > CUDA_DENSE_FRACTION * n * n
    return n <= DENSE_MAX_N or j_nnz > DENSE_FRACTION * n * n
