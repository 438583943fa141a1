"""Any dimod sampler as a ``qbnn solve`` backend: ``--solver dimod:MODULE.CLASS [--sampler-arg k=v ...]``.

The QUBO becomes a dimod ``BinaryQuadraticModel`` on variables 0..n-1; the sampler's samples come
back as a :class:`~qbnn.solvers.problem.SolveResult` whose energies are evaluated on the QUBO (float64),
so they decode and compare like those of any other solver. ``seed``, ``num_reads`` (= replicas) and
``num_sweeps`` (= steps) are passed where the sampler's ``parameters`` list them and ``--sampler-arg``
does not set them.
"""
from __future__ import annotations

import importlib
import json
import re
import time

import numpy as np

from qbnn.errors import QbnnError
from qbnn.solver_registry import DIMOD_PATTERN, DIMOD_PREFIX
from qbnn.solvers.problem import SolveResult
from qbnn.solution import sampleset_bits

#: qbnn solve option -> the dimod sample() parameter it fills when the sampler has it
MAPPED = {"seed": "seed", "replicas": "num_reads", "steps": "num_sweeps", "time_limit": "time_limit"}


def _dimod():
    try:
        import dimod
    except ImportError:
        raise QbnnError("dimod samplers need the dimod package (pip install 'qbnn[dimod]')") from None
    return dimod


def load_sampler(name: str):
    """An instance of the sampler class ``name`` = ``dimod:MODULE.CLASS``; QbnnError naming the part
    that is wrong (pattern, module, class, not a sampler, constructor failure)."""
    dimod = _dimod()
    if not re.match(DIMOD_PATTERN, name or ""):
        raise QbnnError(f"solver {name!r}: expected dimod:MODULE.CLASS, e.g. dimod:dwave.samplers.SimulatedAnnealingSampler")
    module, _, cls = name[len(DIMOD_PREFIX):].rpartition(".")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise QbnnError(f"solver {name}: cannot import module {module!r} ({exc})") from None
    klass = getattr(mod, cls, None)
    if klass is None:
        raise QbnnError(f"solver {name}: module {module} has no attribute {cls!r}")
    if not (isinstance(klass, type) and issubclass(klass, dimod.Sampler)):
        raise QbnnError(f"solver {name}: {module}.{cls} is not a dimod Sampler class")
    try:
        return klass()
    except Exception as exc:  # noqa: BLE001 - a sampler's constructor may fail any way (no credentials, ...)
        raise QbnnError(f"solver {name}: {cls}() failed ({exc.__class__.__name__}: {exc})") from None


def parse_sampler_args(items) -> dict:
    """``["k=v", ...]`` -> ``{k: v}``; each value read as JSON (numbers, true/false/null, lists) or else text."""
    out = {}
    for item in items or []:
        key, sep, text = str(item).partition("=")
        if not sep or not key.isidentifier():
            raise QbnnError(f"--sampler-arg {item!r}: expected NAME=VALUE")
        if key in out:
            raise QbnnError(f"--sampler-arg {key} given more than once")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def sample_kwargs(sampler, name: str, sampler_args: dict, **options) -> dict:
    """The keyword arguments of ``sampler.sample``: ``sampler_args`` (each must be one of the sampler's
    ``parameters``) plus the mapped qbnn options (:data:`MAPPED`) the sampler accepts."""
    params = set(getattr(sampler, "parameters", {}) or {})
    bad = sorted(set(sampler_args) - params)
    if bad:
        raise QbnnError(f"solver {name}: unknown sampler argument(s) {', '.join(bad)} "
                        f"(accepted: {', '.join(sorted(params)) or 'none'})")
    kw = dict(sampler_args)
    for option, param in MAPPED.items():
        if options.get(option) is not None and param in params and param not in kw:
            kw[param] = options[option]
    return kw


def to_bqm(qubo):
    """The QUBO as a dimod BINARY ``BinaryQuadraticModel`` on variables 0..n-1 (diagonal entries folded
    into the linear terms: x² = x)."""
    dimod = _dimod()
    linear = np.asarray(qubo.linear, dtype=np.float64).copy()
    r, c, v = (np.asarray(a) for a in (qubo.rows, qubo.cols, qubo.values))
    diag = r == c
    np.add.at(linear, r[diag], v[diag])
    return dimod.BinaryQuadraticModel.from_numpy_vectors(linear, (r[~diag], c[~diag], v[~diag].astype(np.float64)),
                                                         float(qubo.offset), dimod.BINARY)


def solve_dimod(qubo, name: str, sampler_args: dict | None = None, *, sampler=None, replicas=None, steps=None,
                seed=None, time_limit=None) -> SolveResult:
    """Sample ``qubo`` with the dimod sampler ``name``; every returned sample is a replica."""
    sampler = load_sampler(name) if sampler is None else sampler
    kw = sample_kwargs(sampler, name, sampler_args or {}, seed=seed, replicas=replicas, steps=steps,
                       time_limit=time_limit)
    t0 = time.perf_counter()
    try:
        ss = sampler.sample(to_bqm(qubo), **kw)
        ss.resolve()  # samplers may return a future-backed set
    except (TypeError, ValueError) as exc:
        raise QbnnError(f"solver {name}: the sampler refused the problem or its arguments ({exc})") from None
    seconds = time.perf_counter() - t0
    bits = sampleset_bits(ss, qubo.num_variables, f"solver {name}'s sample set")
    energies = np.asarray(qubo.energy(bits), dtype=np.float64).reshape(-1)
    i = int(np.argmin(energies))
    spins = (2 * bits - 1).astype(np.int8)
    return SolveResult(solver=name, states=spins, energies=energies, best_state=spins[i],
                       best_energy=float(energies[i]), seconds=seconds, seconds_to_best=seconds,
                       trace=[(0.0, seconds, float(energies[i]))], steps_done=int(kw.get("num_sweeps", 0) or 0),
                       info={"device": "cpu", "sampler": name[len(DIMOD_PREFIX):], "sample_args": kw,
                             "num_samples": int(len(bits))})
