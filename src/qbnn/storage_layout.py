"""Dense or sparse storage of an Ising coupling matrix (the rule :mod:`qbnn.solvers.problem`
follows) and the memory estimate of loading and solving a problem that is stored so.

Torch-free, so a memory estimate (the workflow's per-job ``mem_mb``) does not import torch.
"""
from __future__ import annotations

import math

from qbnn.memory import check_fits
from qbnn.qubo import QUBO_BYTES_PER_NNZ, QUBO_BYTES_PER_VAR, qubo_file_shape

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


# IsingProblem: the symmetric CSR J keeps 2 entries per QUBO nonzero (float64 data + int32 index)
ISING_BYTES_PER_NNZ = 2 * 12
# ... plus its construction transients (COO -> CSR, J - diag, symmetrisation), measured ~24 B more
ISING_TRANSIENT_PER_NNZ = 24

# per anneal step: the β / pump schedule arrays (MA: steps index, log1p temporary, β; SA: geomspace)
BYTES_PER_STEP = 32


def solve_estimate(n: int, nnz: int, replicas: int, solver: str = "sb", device: str = "cpu",
                   dtype_bytes: int = 4, steps: int = 0) -> dict:
    """Host and device bytes of loading a QUBO (n variables, nnz upper-triangle nonzeros) and
    running ``solver`` with ``replicas`` replicas for ``steps`` steps in a ``dtype_bytes`` float type."""
    cuda = str(device).startswith("cuda")
    dense = dense_layout(n, 2 * nnz, "cuda" if cuda else "cpu")
    host = n * (QUBO_BYTES_PER_VAR + 4 * 8)
    host += nnz * (QUBO_BYTES_PER_NNZ + ISING_BYTES_PER_NNZ + ISING_TRANSIENT_PER_NNZ)

    def coupling(b: int) -> int:
        """J as a torch tensor: dense (n, n), or CSR with int64 indices (a float64 CSR on the CPU
        shares scipy's data array, so only the indices are new)."""
        if dense:
            return n * n * b
        return 2 * nnz * (8 + (0 if (b == 8 and not cuda) else b)) + (n + 1) * 8

    # solver-dtype copy (SA: colour-permuted row blocks) + float64 copy for exact energies
    dev = coupling(dtype_bytes) + coupling(8)
    if solver == "sa":  # the colour-permuted scipy copy on the host
        host += 2 * nnz * 12
    # replica work arrays: state(s), fields, random numbers, masks (~6 n x R), float64 energy copies
    dev += int(replicas) * n * (6 * dtype_bytes + 2 * 8)
    host += int(replicas) * n * 2  # final int8 states and polish
    host += int(steps) * BYTES_PER_STEP  # schedules live on the host whatever the device
    if cuda:
        return {"host_bytes": int(host), "device_bytes": int(dev), "dense": dense}
    return {"host_bytes": int(host + dev), "device_bytes": 0, "dense": dense}


def guard_solve(path, replicas: int, solver: str, device, steps: int = 0) -> dict:
    """Refuse (QbnnError) a solve of QUBO file ``path`` that would not fit (host, and GPU if used)."""
    n, nnz = qubo_file_shape(path)
    dev = str(device)
    est = solve_estimate(n, nnz, replicas, solver, dev, steps=steps)
    est["host_bytes"] += nnz * QUBO_BYTES_PER_NNZ + n * QUBO_BYTES_PER_VAR  # the BNN report reloads the QUBO
    what = f"solving {path} ({n:,} variables, {nnz:,} nonzeros, {replicas} replicas)"
    check_fits(est["host_bytes"], what)
    if est["device_bytes"]:
        check_fits(est["device_bytes"], what + " on " + dev, dev)
    return {"variables": n, "nonzeros": nnz, **est}
