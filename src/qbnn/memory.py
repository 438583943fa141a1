"""Memory guard: estimate a problem's footprint before building or loading it, refuse early.

Building a QUBO for a large data set or loading one onto an Ising machine can need more memory
than the machine has; the kernel's OOM killer then ends the job with no message at all. The
estimates here are computed from sizes alone (variables, nonzeros, replicas, dtype) without
allocating anything, and :func:`check_fits` turns "would not fit" into a one-line
:class:`~qbnn.errors.QbnnError` that states the estimate and the available amount.

Available memory: ``QBNN_MEMORY_LIMIT_MB`` (for tests and for sites that want a cap), else
``psutil.virtual_memory().available`` if psutil is installed, else ``MemAvailable`` from
``/proc/meminfo``; on a CUDA device ``QBNN_GPU_MEMORY_LIMIT_MB`` or the free device memory.
``QBNN_MEMORY_GUARD=0`` switches the guard off. The per-item byte counts below are the arrays the
code actually allocates (see the comments), with transient copies counted at their peak; they were
checked against the measured peak RSS of real compile and solve runs (tests/test_memory.py).
"""
from __future__ import annotations

import os

from qbnn.errors import QbnnError

MiB = 1 << 20

# compile_bnn: per raw nonzero, rows+cols int64 + values float64 (24 B) live in the per-neuron
# lists, again after np.concatenate, and once more in the filtered copy / QUBO.save buffers.
COMPILE_BYTES_PER_NNZ = 3 * 24
# per variable: linear float64, five int32 varmap fields, their tiled templates
COMPILE_BYTES_PER_VAR = 8 + 2 * 5 * 4
# QUBO in memory: rows, cols int64 + values float64 per nonzero; linear + varmap per variable
QUBO_BYTES_PER_NNZ = 24
QUBO_BYTES_PER_VAR = 8 + 5 * 4
# IsingProblem: the symmetric CSR J keeps 2 entries per QUBO nonzero (float64 data + int32 index)
ISING_BYTES_PER_NNZ = 2 * 12
# ... plus its construction transients (COO -> CSR, J - diag, symmetrisation), measured ~24 B more
ISING_TRANSIENT_PER_NNZ = 24


def available_bytes(device: str = "cpu") -> tuple[int | None, str]:
    """(available bytes or None when unknown, where the figure comes from)."""
    if str(device).startswith("cuda"):
        env = os.environ.get("QBNN_GPU_MEMORY_LIMIT_MB")
        if env:
            return _env_mb(env, "QBNN_GPU_MEMORY_LIMIT_MB"), "QBNN_GPU_MEMORY_LIMIT_MB"
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free), "free GPU memory"
    env = os.environ.get("QBNN_MEMORY_LIMIT_MB")
    if env:
        return _env_mb(env, "QBNN_MEMORY_LIMIT_MB"), "QBNN_MEMORY_LIMIT_MB"
    try:
        import psutil

        return int(psutil.virtual_memory().available), "available memory"
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable"
    except OSError:
        pass
    return None, "unknown"


def _env_mb(value: str, name: str) -> int:
    try:
        mb = float(value)
    except ValueError:
        raise QbnnError(f"{name} must be a number of MiB, got {value!r}") from None
    if not mb >= 0:
        raise QbnnError(f"{name} must be >= 0 MiB, got {value!r}")
    return int(mb * MiB)


def check_fits(need: int, what: str, device: str = "cpu") -> None:
    """Raise a one-line QbnnError when ``need`` bytes exceed what ``device`` has available."""
    if os.environ.get("QBNN_MEMORY_GUARD", "1").strip().lower() in ("0", "off", "false", "no"):
        return
    avail, source = available_bytes(device)
    if avail is not None and need > avail:
        raise QbnnError(f"{what} needs about {need / MiB:,.0f} MiB (estimate) but only {avail / MiB:,.0f} MiB "
                        f"are available ({source}); use a smaller problem or a bigger machine")


# ------------------------------------------------------------------------------ compile
def compile_estimate(topo, n_samples: int, margin: float = 0.0) -> dict:
    """Variables, raw nonzeros and peak bytes of :func:`qbnn.compiler.compile_bnn` (from sizes only)."""
    from qbnn.compiler import _layout

    layout, stride = _layout(topo)
    S = int(n_samples)
    nnz = 0
    per_neuron_peak = 0
    for nl in layout:
        L, nb = len(nl.coefs), len(nl.nb_pos)
        m = 1 + L + 2 * nb
        cross = S * nl.n * m
        nnz += nl.n * (nl.n - 1) // 2 + cross
        nnz += S * (m * (m - 1) // 2 + nb + (L if margin else 0))  # per-sample template, tiled
        per_neuron_peak = max(per_neuron_peak, cross * 16)  # V (S, n, m) float64 + its int64 columns
    n = topo.n_weights + S * stride
    need = nnz * COMPILE_BYTES_PER_NNZ + n * COMPILE_BYTES_PER_VAR + per_neuron_peak
    return {"variables": int(n), "nonzeros": int(nnz), "bytes": int(need)}


def guard_compile(topo, n_samples: int, margin: float = 0.0) -> dict:
    """Refuse (QbnnError) a compile whose estimate exceeds the available memory."""
    est = compile_estimate(topo, n_samples, margin)
    check_fits(est["bytes"], f"compiling {n_samples} samples ({est['variables']:,} variables, "
                             f"{est['nonzeros']:,} nonzeros)")
    return est


# ------------------------------------------------------------------------------ solve
def qubo_file_shape(path) -> tuple[int, int]:
    """(variables, nonzeros) of a qbnn QUBO HDF5 file, read from dataset shapes only."""
    from qbnn.io import open_h5

    with open_h5(path, "QUBO file") as f:
        try:
            return int(f["qubo/linear"].shape[0]), int(f["qubo/values"].shape[0])
        except (KeyError, IndexError, TypeError):
            return 0, 0  # malformed: QUBO.load reports the actual problem


def solve_estimate(n: int, nnz: int, replicas: int, solver: str = "sb", device: str = "cpu",
                   dtype_bytes: int = 4) -> dict:
    """Host and device bytes of loading a QUBO (n variables, nnz upper-triangle nonzeros) and
    running ``solver`` with ``replicas`` replicas in a ``dtype_bytes`` float type."""
    from qbnn.storage_layout import dense_layout

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
    if cuda:
        return {"host_bytes": int(host), "device_bytes": int(dev), "dense": dense}
    return {"host_bytes": int(host + dev), "device_bytes": 0, "dense": dense}


def guard_solve(path, replicas: int, solver: str, device) -> dict:
    """Refuse (QbnnError) a solve of QUBO file ``path`` that would not fit (host, and GPU if used)."""
    n, nnz = qubo_file_shape(path)
    dev = str(device)
    est = solve_estimate(n, nnz, replicas, solver, dev)
    est["host_bytes"] += nnz * QUBO_BYTES_PER_NNZ + n * QUBO_BYTES_PER_VAR  # the BNN report reloads the QUBO
    what = f"solving {path} ({n:,} variables, {nnz:,} nonzeros, {replicas} replicas)"
    check_fits(est["host_bytes"], what)
    if est["device_bytes"]:
        check_fits(est["device_bytes"], what + " on " + dev, dev)
    return {"variables": n, "nonzeros": nnz, **est}


__all__ = ["available_bytes", "check_fits", "compile_estimate", "guard_compile", "qubo_file_shape",
           "solve_estimate", "guard_solve", "MiB"]
