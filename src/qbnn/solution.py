"""The solution / sample-set record: what ``qbnn solve`` writes and ``qbnn decode`` reads.

One type, :class:`Solution`, with one validating :meth:`Solution.load` and one atomic
:meth:`Solution.save`. The HDF5 file (``format = qbnn-solution``)::

    /best_x    int8 (n,)      best 0/1 state
    /energies  float64 (R,)   energies of the kept replicas (QUBO energy)
    /trace     float64 (T, 3) step, seconds, best energy at every improvement
    /states    int8 (R, n)    optional: every kept replica's 0/1 state (``qbnn solve --save-states``)
    attrs      solver, seed, replicas, steps, device, qubo, best_energy, seconds, seconds_to_best, info (JSON),
               provenance (JSON: settings, qubo_hash, versions)

It converts to and from a dimod ``SampleSet`` (:meth:`to_sampleset`, :meth:`from_sampleset`), the
interchange format of outside samplers (a QPU, a cloud annealer).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from qbnn.errors import QbnnError
from qbnn.identity import Identity, versions
from qbnn.io import atomic_output, dumps, open_h5, read_json
from qbnn.validate import int_attr, reading, text_attr

SOLUTION_FORMAT = "qbnn-solution"


def qubo_hash(qubo) -> str:
    """SHA-256 (hex, first 16) of a QUBO's coefficients: the problem a solution belongs to."""
    h = hashlib.sha256()
    for arr in (qubo.linear, qubo.rows, qubo.cols, qubo.values):
        a = np.ascontiguousarray(arr)
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    h.update(repr(float(qubo.offset)).encode())
    return h.hexdigest()[:16]


@dataclass
class Solution:
    """A solve's best state, kept replicas and trace, with its provenance."""

    best_x: np.ndarray  # int8 0/1 (n,)
    best_energy: float
    energies: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64 (R,)
    trace: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # float64 (T, 3)
    states: np.ndarray | None = None  # int8 0/1 (R, n)
    solver: str = ""
    seed: int | None = None
    seconds: float = 0.0
    seconds_to_best: float = 0.0
    info: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)  # settings, qubo, qubo_hash, versions, device
    identity: Identity = field(default_factory=Identity)  # the run's (qbnn.identity): the QUBO's + solver, seed
    attrs: dict = field(default_factory=dict)  # every attribute as read (load only)

    @property
    def num_variables(self) -> int:
        return int(self.best_x.shape[0])

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_result(cls, res, qubo, *, solver: str, seed: int | None, settings: dict, qubo_path: str = "",
                    keep_states: bool = False) -> "Solution":
        """The record of a ``qbnn.solvers.SolveResult`` on ``qubo``; the best energy is re-evaluated on
        the QUBO (a solver disagreeing with it beyond 1e-6 relative is an internal error)."""
        best_x = np.asarray(res.best_bits, dtype=np.int8)
        energy = float(qubo.energy(best_x))
        if abs(energy - res.best_energy) > 1e-6 * max(1.0, abs(energy)):
            raise QbnnError(f"internal error: spin energy {res.best_energy} != QUBO energy {energy}")
        extra = ("dimod",) if solver.startswith("dimod:") else ()
        prov = {"settings": dict(settings), "qubo": str(qubo_path), "qubo_hash": qubo_hash(qubo),
                "versions": versions(*extra), "device": str(res.info.get("device", "cpu"))}
        return cls(best_x=best_x, best_energy=energy, energies=np.asarray(res.energies, dtype=np.float64),
                   trace=res.trace_array(), states=res.bits.astype(np.int8) if keep_states else None,
                   solver=solver, seed=seed, seconds=float(res.seconds), seconds_to_best=float(res.seconds_to_best),
                   info=dict(res.info), provenance=prov)

    # ------------------------------------------------------------------ file
    def save(self, path: str | os.PathLike) -> None:
        """Write the record atomically (``qbnn.io.atomic_output``)."""
        settings = self.provenance.get("settings", {})
        with atomic_output(path, suffix=".h5.tmp") as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = SOLUTION_FORMAT
                f.attrs["solver"] = self.solver
                if self.seed is not None:
                    f.attrs["seed"] = int(self.seed)
                for key in ("replicas", "steps"):  # the attributes earlier readers know
                    if settings.get(key) is not None:
                        f.attrs[key] = settings[key]
                f.attrs["device"] = self.provenance.get("device", "cpu")
                f.attrs["qubo"] = self.provenance.get("qubo", "")
                f.attrs["best_energy"] = self.best_energy
                f.attrs["seconds"] = self.seconds
                f.attrs["seconds_to_best"] = self.seconds_to_best
                f.attrs["info"] = json.dumps(self.info, default=float)
                f.attrs["provenance"] = dumps(self.provenance, sort_keys=True)
                f.attrs["identity"] = json.dumps(self.identity.to_dict(), sort_keys=True)
                f.create_dataset("best_x", data=self.best_x.astype(np.int8))
                f.create_dataset("energies", data=np.asarray(self.energies, dtype=np.float64))
                f.create_dataset("trace", data=np.asarray(self.trace, dtype=np.float64).reshape(-1, 3))
                if self.states is not None:
                    f.create_dataset("states", data=self.states.astype(np.int8), compression="gzip",
                                     compression_opts=1)

    @classmethod
    def load(cls, path: str | os.PathLike, need_trace: bool = False) -> "Solution":
        """Read and validate a solution file; every malformed part is one QbnnError naming the file."""
        what = f"solution file {path}"
        with open_h5(path, "solution file") as f, reading(path, "solution file"):
            fmt = f.attrs.get("format")
            if fmt is not None and text_attr(fmt) != SOLUTION_FORMAT:
                raise QbnnError(f"{what} has format {fmt!r}, expected {SOLUTION_FORMAT!r}")
            x = _bits(_dataset(f, "best_x", what), what, "/best_x").reshape(-1)
            trace = np.zeros((0, 3))
            if "trace" in f or need_trace:
                trace = np.asarray(_dataset(f, "trace", what), dtype=np.float64)
                if trace.size % 3 or not np.isfinite(trace).all():
                    raise QbnnError(f"{what}: /trace must be finite (step, seconds, energy) rows")
                trace = trace.reshape(-1, 3)
                if need_trace and not len(trace):
                    raise QbnnError(f"{what}: /trace is empty (a solve records at least its first state)")
            energies = np.zeros(0)
            if "energies" in f:
                energies = np.asarray(_dataset(f, "energies", what), dtype=np.float64).reshape(-1)
            states = None
            if "states" in f:
                states = _bits(_dataset(f, "states", what), what, "/states")
                if states.ndim != 2 or states.shape[1] != x.shape[0]:
                    raise QbnnError(f"{what}: /states must be (replicas, {x.shape[0]}) 0/1 states")
            attrs = {}
            for k, v in f.attrs.items():
                v = v.decode() if isinstance(v, bytes) else v
                attrs[k] = v.item() if isinstance(v, np.generic) else v
            for k in ("seconds", "best_energy", "seconds_to_best"):
                if k in attrs and not _finite_number(attrs[k]):
                    raise QbnnError(f"{what}: attribute {k} must be a finite number, got {attrs[k]!r}")
            info = _json_attr(attrs, "info", what)
            prov = _json_attr(attrs, "provenance", what)
            seed = None if attrs.get("seed") is None else int_attr(attrs["seed"], "seed")
            solver = text_attr(attrs.get("solver", ""))
            if solver is None:
                raise QbnnError(f"{what}: attribute solver must be text, got {attrs['solver']!r}")
            identity = Identity.read_attrs(attrs, what)
        return cls(best_x=x.astype(np.int8), best_energy=float(attrs.get("best_energy", math.nan)), energies=energies,
                   trace=trace, states=None if states is None else states.astype(np.int8),
                   solver=solver, seed=seed,
                   seconds=float(attrs.get("seconds", 0.0)), seconds_to_best=float(attrs.get("seconds_to_best", 0.0)),
                   info=info, provenance=prov, identity=identity, attrs=attrs)

    # ------------------------------------------------------------------ dimod interchange
    def to_sampleset(self):
        """A dimod ``SampleSet`` (BINARY, variables 0..n-1): every kept state, else the best one;
        provenance and solver in its ``info``."""
        import dimod

        if self.states is not None and len(self.states) == len(self.energies):
            samples, energies = self.states, self.energies
        else:
            samples, energies = self.best_x[None], np.array([self.best_energy])
        info = {"solver": self.solver, "seed": self.seed, "provenance": self.provenance}
        return dimod.SampleSet.from_samples((np.asarray(samples, dtype=np.int8), range(self.num_variables)),
                                            dimod.BINARY, energy=np.asarray(energies, dtype=np.float64),
                                            info=json.loads(json.dumps(info, default=str)))

    @classmethod
    def from_sampleset(cls, sampleset, qubo, what: str = "sample set", solver: str | None = None) -> "Solution":
        """The record of a dimod ``SampleSet`` over ``qubo``'s variables (0..n-1; SPIN samples are
        converted); energies are evaluated on ``qubo``, not taken from the set. The best state is the
        lowest-energy sample (first on ties)."""
        states = sampleset_bits(sampleset, qubo.num_variables, what)
        energies = np.asarray(qubo.energy(states), dtype=np.float64).reshape(-1)
        i = int(np.argmin(energies))
        info = dict(getattr(sampleset, "info", {}) or {})
        return cls(best_x=states[i], best_energy=float(energies[i]), energies=energies, states=states,
                   solver=solver or str(info.get("solver", "dimod")), info=_plain(info),
                   provenance={"qubo_hash": qubo_hash(qubo), "num_samples": int(len(states))})


def sampleset_bits(sampleset, n: int, what: str = "sample set") -> np.ndarray:
    """int8 0/1 states ``(samples, n)`` of a dimod ``SampleSet`` whose variables are exactly 0..n-1."""
    import dimod

    labels = list(sampleset.variables)
    try:
        index = np.array([int(v) for v in labels], dtype=np.int64)
        exact = all(isinstance(v, (int, np.integer)) or (isinstance(v, str) and v.isdigit()) for v in labels)
    except (TypeError, ValueError):
        exact = False
    if not exact or len(labels) != n or sorted(index.tolist()) != list(range(n)):
        shown = ", ".join(map(repr, labels[:5])) + (", ..." if len(labels) > 5 else "")
        raise QbnnError(f"{what}: variables must be the QUBO's 0..{n - 1} ({n} variables), got {len(labels)}: {shown}")
    if len(sampleset) == 0:
        raise QbnnError(f"{what} holds no samples")
    raw = np.asarray(sampleset.record.sample)
    if sampleset.vartype is dimod.SPIN:
        if not np.isin(raw, (-1, 1)).all():
            raise QbnnError(f"{what}: SPIN samples must be -1/+1")
        raw = (raw + 1) // 2
    elif not np.isin(raw, (0, 1)).all():
        raise QbnnError(f"{what}: BINARY samples must be 0/1")
    states = np.zeros((raw.shape[0], n), dtype=np.int8)
    states[:, index] = raw.astype(np.int8)
    return states


def read_sampleset_json(path: str | os.PathLike):
    """A dimod ``SampleSet`` from a JSON file of ``SampleSet.to_serializable()`` (any producer)."""
    try:
        import dimod
    except ImportError:
        raise QbnnError("reading a sample set needs the dimod package (pip install 'qbnn[dimod]')") from None
    doc = read_json(path, "sample set file")
    if not isinstance(doc, dict) or doc.get("type") != "SampleSet":
        raise QbnnError(f"sample set file {path} is not a serialised dimod SampleSet (no \"type\": \"SampleSet\")")
    try:
        return dimod.SampleSet.from_serializable(doc)
    except Exception as exc:  # noqa: BLE001 - dimod raises many kinds on malformed documents
        raise QbnnError(f"sample set file {path} is not a readable dimod SampleSet ({exc.__class__.__name__})") from None


def read_solution(path: str | os.PathLike, need_trace: bool = False) -> dict[str, Any]:
    """``best_x`` (int8 0/1 ``(n,)``), ``trace`` (float64 ``(T, 3)``: step, seconds, energy) and ``attrs``."""
    s = Solution.load(path, need_trace=need_trace)
    return {"best_x": s.best_x, "trace": s.trace, "attrs": s.attrs}


def _dataset(f, name: str, what: str):
    if name not in f or not hasattr(f[name], "dtype"):
        raise QbnnError(f"{what} lacks dataset /{name}")
    return f[name][()]


def _bits(arr, what: str, name: str) -> np.ndarray:
    a = np.asarray(arr)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise QbnnError(f"{what}: {name} must be numeric 0/1, got {a.dtype}")
    if not np.isin(a, (0, 1)).all():
        raise QbnnError(f"{what}: {name} must contain only 0/1 values")
    return a.astype(np.int8)


def _json_attr(attrs: dict, key: str, what: str) -> dict:
    if key not in attrs:
        return {}
    try:
        v = json.loads(attrs[key])
    except (TypeError, json.JSONDecodeError):
        raise QbnnError(f"{what}: attribute {key} is not a JSON object") from None
    if not isinstance(v, dict):
        raise QbnnError(f"{what}: attribute {key} is not a JSON object")
    return v


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _plain(obj: Any) -> Any:
    """JSON-able copy of a sampler's info (unknown objects as text)."""
    return json.loads(json.dumps(obj, default=str))


__all__ = ["Solution", "SOLUTION_FORMAT", "qubo_hash", "versions", "read_solution", "read_sampleset_json",
           "sampleset_bits"]
