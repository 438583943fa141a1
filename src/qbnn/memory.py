"""Memory guard: estimate a problem's footprint before building or loading it, refuse early.

Building a QUBO for a large data set or loading one onto an Ising machine can need more memory
than the machine has; the kernel's OOM killer then ends the job with no message at all. Each
estimate lives next to what it estimates and is computed from sizes alone (variables, nonzeros,
replicas, dtype) without allocating anything: :func:`qbnn.compiler.compile_estimate`,
:func:`qbnn.storage_layout.solve_estimate` (and ``guard_solve``), :func:`qbnn.solvers.maxcut.guard_maxcut`,
:func:`qbnn.topology_size.guard_topology`, :func:`qbnn.training.memory.train_estimate`. This module
says how much memory there is, and :func:`check_fits` turns "would not fit" into a one-line
:class:`~qbnn.errors.QbnnError` that states the estimate and the available amount.

Available memory: ``QBNN_MEMORY_LIMIT_MB`` (for tests and for sites that want a cap), else the
smallest of ``psutil.virtual_memory().available`` (or ``MemAvailable`` from ``/proc/meminfo``),
the process's address-space limit (``ulimit -v``, ``RLIMIT_AS``) less what it already maps, and
the room left under its cgroup's memory limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``:
what a SLURM job or a container is allowed, not the node's memory); on a CUDA device
``QBNN_GPU_MEMORY_LIMIT_MB`` or the free device memory.
``QBNN_MEMORY_GUARD=0`` switches the guard off. The estimates' per-item byte counts are the arrays
the code actually allocates, with transient copies counted at their peak; they were checked
against the measured peak RSS of real compile and solve runs (tests/test_memory.py).
"""
from __future__ import annotations

import os

from qbnn.errors import QbnnError

MiB = 1 << 20


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


# ------------------------------------------------------------------------------ solve
__all__ = ["address_space_room", "cgroup_room", "available_bytes", "check_fits", "MiB"]
