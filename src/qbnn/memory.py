"""Memory guard: estimate a problem's footprint before building or loading it, refuse early.

Building a QUBO for a large data set or loading one onto an Ising machine can need more memory
than the machine has; the kernel's OOM killer then ends the job with no message at all. The
estimates here are computed from sizes alone (variables, nonzeros, replicas, dtype) without
allocating anything, and :func:`check_fits` turns "would not fit" into a one-line
:class:`~qbnn.errors.QbnnError` that states the estimate and the available amount.

Available memory: ``QBNN_MEMORY_LIMIT_MB`` (for tests and for sites that want a cap), else the
smallest of ``psutil.virtual_memory().available`` (or ``MemAvailable`` from ``/proc/meminfo``),
the process's address-space limit (``ulimit -v``, ``RLIMIT_AS``) less what it already maps, and
the room left under its cgroup's memory limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``:
what a SLURM job or a container is allowed, not the node's memory); on a CUDA device
``QBNN_GPU_MEMORY_LIMIT_MB`` or the free device memory.
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
    candidates = [c for c in (_system_available(), address_space_room(), cgroup_room()) if c[0] is not None]
    if not candidates:
        return None, "unknown"
    return min(candidates, key=lambda c: c[0])


def _system_available() -> tuple[int | None, str]:
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
    except (OSError, ValueError, IndexError):
        pass
    return None, "unknown"


def address_space_room(status: str = "/proc/self/status") -> tuple[int | None, str]:
    """Room under the soft ``RLIMIT_AS`` (``ulimit -v``): the limit less the mapped size (VmSize)."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None, "unknown"
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None, "unknown"
    used = 0
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(0, int(soft) - used), "the address-space limit (ulimit -v)"


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    if text in ("", "max"):
        return None
    try:
        v = int(text.split()[0])
    except ValueError:
        return None
    return None if v >= 1 << 60 else v  # v1 "no limit" is a page-rounded 2**63


def cgroup_room(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> tuple[int | None, str]:
    """Room left under this process's cgroup memory limit (the tightest along its path), v2 or v1."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None, "unknown"
    best: int | None = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # cgroup v2 unified hierarchy
            base, limit_f, usage_f = root, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, limit_f, usage_f = os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        rel = rel.strip("/")
        chain = [rel]
        while chain[-1]:
            chain.append(os.path.dirname(chain[-1]))
        for r in chain:  # a parent's limit binds too (SLURM: job > step > task)
            d = os.path.join(base, r) if r else base
            limit = _read_int(os.path.join(d, limit_f))
            if limit is None:
                continue
            room = max(0, limit - (_read_int(os.path.join(d, usage_f)) or 0))
            best = room if best is None else min(best, room)
    return (best, "the cgroup memory limit") if best is not None else (None, "unknown")


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


# ------------------------------------------------------------------------------ topology
# building a Topology: per weight an int64 source index plus the transient Python list/int it is
# built from; per input the "x{i}" name dict entry; per neuron its spec entry, name and arrays
TOPOLOGY_BYTES_PER_WEIGHT = 64
TOPOLOGY_BYTES_PER_INPUT = 160
TOPOLOGY_BYTES_PER_NEURON = 600


def topology_size(spec) -> tuple[int, int, int] | None:
    """(inputs, neurons, weights) of a topology spec from its numbers alone (None if it is malformed;
    the topology parser then says why)."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(spec, dict):
        return None
    bias = int(spec.get("bias", True) is True)
    if "receptive_field" in spec:
        rf, head = spec["receptive_field"], spec.get("head", [1])
        if not isinstance(rf, dict) or not isinstance(head, list) or not all(is_int(h) and h > 0 for h in head):
            return None
        img, patch = rf.get("image"), rf.get("patch")
        patch = [patch, patch] if is_int(patch) else patch
        stride, ch = rf.get("stride", 1), rf.get("channels", 1)
        if not (isinstance(img, list) and isinstance(patch, list) and len(img) == len(patch) == 2
                and all(is_int(v) and v > 0 for v in [*img, *patch, stride, ch])):
            return None
        (r, c), (ph, pw) = img, patch
        if ph > r or pw > c:
            return None
        hidden = ((r - ph) // stride + 1) * ((c - pw) // stride + 1) * ch
        widths = [hidden, *head]
        weights = hidden * (ph * pw + bias) + sum((a + bias) * b for a, b in zip(widths, widths[1:]))
        return r * c, sum(widths), weights
    if "layers" in spec:
        layers = spec["layers"]
        if not isinstance(layers, list) or not all(is_int(v) and v > 0 for v in layers):
            return None
        return (layers[0] if layers else 0, sum(layers[1:]),
                sum((a + bias) * b for a, b in zip(layers, layers[1:])))
    neurons, d = spec.get("neurons"), spec.get("inputs")
    if not is_int(d) or not isinstance(neurons, dict):
        return None
    fan = sum(len(b.get("from", [])) + 1 for b in neurons.values() if isinstance(b, dict) and isinstance(b.get("from"), list))
    return d, len(neurons), fan


def guard_topology(spec) -> None:
    """Refuse (QbnnError) a topology whose construction alone would not fit in memory."""
    size = topology_size(spec)
    if size is None:
        return
    d, n, w = size
    need = d * TOPOLOGY_BYTES_PER_INPUT + n * TOPOLOGY_BYTES_PER_NEURON + w * TOPOLOGY_BYTES_PER_WEIGHT
    check_fits(need, f"building the topology ({d:,} inputs, {n:,} neurons, {w:,} weights)")


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
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            return 0, 0  # malformed (e.g. a group where a dataset belongs): QUBO.load reports the actual problem


# per anneal step: the β / pump schedule arrays (MA: steps index, log1p temporary, β; SA: geomspace)
BYTES_PER_STEP = 32


def solve_estimate(n: int, nnz: int, replicas: int, solver: str = "sb", device: str = "cpu",
                   dtype_bytes: int = 4, steps: int = 0) -> dict:
    """Host and device bytes of loading a QUBO (n variables, nnz upper-triangle nonzeros) and
    running ``solver`` with ``replicas`` replicas for ``steps`` steps in a ``dtype_bytes`` float type."""
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


def gset_shape(path) -> tuple[int, int]:
    """(nodes, edges) from the header line of a G-set graph file ((0, 0) if unreadable: the reader says why)."""
    try:
        with open(path, "rb") as f:
            head = f.readline(256).split()
        return max(0, int(head[0])), max(0, int(head[1]))
    except (OSError, ValueError, IndexError):
        return 0, 0


def guard_maxcut(path, replicas: int, solver: str, device, steps: int = 0) -> dict:
    """Refuse (QbnnError) a MaxCut solve that would not fit: the edge list as read by ``np.loadtxt``
    (three float64 columns plus Python's per-row parsing) and the Ising machine on ``n`` nodes."""
    n, m = gset_shape(path)
    dev = str(device)
    est = solve_estimate(n, m, replicas, solver, dev, steps=steps)
    est["host_bytes"] += m * GSET_BYTES_PER_EDGE
    what = f"MaxCut on {path} ({n:,} nodes, {m:,} edges, {replicas} replicas)"
    check_fits(est["host_bytes"], what)
    if est["device_bytes"]:
        check_fits(est["device_bytes"], what + " on " + dev, dev)
    return {"nodes": n, "edges": m, **est}


# np.loadtxt's float64 (m, 3) array, its parse buffers, and the COO -> CSR copies of the edges
GSET_BYTES_PER_EDGE = 3 * 8 * 3


__all__ = ["guard_topology", "topology_size", "guard_maxcut", "address_space_room", "cgroup_room", "available_bytes", "check_fits", "compile_estimate", "guard_compile", "qubo_file_shape",
           "solve_estimate", "guard_solve", "MiB"]
