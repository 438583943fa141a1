"""Solver checkpoints: resume a long solve after a crash or a kill with the same final result.

A checkpoint holds everything an anneal needs to continue exactly where it stood: the replica
tensors of the running anneal (SA/MA spins, SB oscillators ``x, y``), the torch generator state,
the next step index, the number of finished restarts, the best-of-restarts final states, and the
:class:`~qbnn.solvers.base.Tracker`'s best state / energy / trace / step count / elapsed time.
On the CPU a resumed step-bounded solve is bit-identical to an uninterrupted one with the same
seed (same RNG stream, same float operations in the same order). With a ``time_limit`` the
elapsed time is carried over, so the budget still counts the time spent before the kill, but
how many restarts fit depends on timing, exactly as in any time-limited run.

Files are written with ``torch.save`` under a temporary name beside ``path`` and renamed into
place, so a kill during a write leaves the previous checkpoint intact. The file carries a
fingerprint (solver, problem digest, steps, generator seed, caller's ``key``); a checkpoint
from another solve is ignored (with a note on stderr) and overwritten rather than resumed.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import torch

from qbnn.errors import QbnnError
from qbnn.io import atomic_output

CHECKPOINT_FORMAT = "qbnn-solver-checkpoint"
CHECKPOINT_VERSION = 1


def problem_digest(problem) -> str:
    """SHA-256 (16 hex chars) of an IsingProblem's h, J (CSR arrays) and offset."""
    hsh = hashlib.sha256()
    J = problem.J
    for arr in (problem.h, J.indptr, J.indices, J.data, np.array([problem.offset])):
        hsh.update(np.ascontiguousarray(arr).tobytes())
    return hsh.hexdigest()[:16]


class Checkpoint:
    """Checkpoint file ``path`` written every ``every`` steps of an anneal.

    ``key``: extra JSON-like values that must match for a resume (e.g. the CLI's solver options);
    the solver name, problem digest, step count, generator seed and tensor shapes are always checked.
    ``keep``: leave the file in place after a successful solve (default: the caller removes it
    with :meth:`remove` once the result is safely written).
    """

    def __init__(self, path: str | os.PathLike, every: int, key: dict | None = None, keep: bool = False):
        if int(every) < 1:
            raise QbnnError(f"checkpoint interval must be >= 1 step, got {every}")
        self.path = Path(path)
        self.every = int(every)
        self.key = dict(key or {})
        self.keep = keep
        self.writes = 0
        self.resumed_from: int | None = None
        self._fingerprint: dict | None = None
        self._pending: dict | None = None

    # ------------------------------------------------------------------ tracker side
    def attach(self, tracker) -> None:
        """Called by the Tracker: compute the fingerprint and load a matching checkpoint (applied
        by the first :meth:`restore`, once the generator seed and tensor shapes are checked too)."""
        self._tracker = tracker
        self._fingerprint = {"solver": tracker.solver, "problem": problem_digest(tracker.problem),
                             "n": tracker.problem.n, "steps": int(tracker.steps), "key": repr(sorted(self.key.items()))}
        self._pending = self._read()

    def restore(self, g: torch.Generator, tensors) -> int:
        """Overwrite the fresh anneal's tensors (in place) and ``g`` with the saved ones.

        Returns the step to continue from (0 when there is nothing to resume)."""
        data, self._pending = self._pending, None
        if data is None:
            return 0
        saved = data["tensors"]
        if len(saved) != len(tensors) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(saved, tensors)):
            _note(f"checkpoint {self.path} holds tensors of other shapes; starting afresh")
            return 0
        if int(data["seed"]) != int(g.initial_seed()):
            _note(f"checkpoint {self.path} was written with another seed; starting afresh")
            return 0
        for dst, src in zip(tensors, saved):
            dst.copy_(src)
        g.set_state(data["rng"])
        self._restore_tracker(data["tracker"])
        self.resumed_from = int(data["step"])
        return self.resumed_from

    def _restore_tracker(self, t: dict) -> None:
        """Best state / energy / trace / step count / restarts / elapsed / best-of-restarts."""
        tracker = self._tracker
        tracker.best_energy = t["best_energy"]
        tracker.best_state = None if t["best_state"] is None else t["best_state"].numpy().copy()
        tracker.t_best = t["t_best"]
        tracker.trace = [tuple(x) for x in t["trace"]]
        tracker.global_step = t["global_step"]
        tracker.restarts = t["restarts"]
        tracker.t0 = tracker.clock() - t["elapsed"]
        fin = t["final"]
        tracker.final = None if fin is None else (fin[0].numpy().copy(), fin[1].numpy().copy())

    def save(self, tracker, step: int, g: torch.Generator, tensors) -> None:
        """Write the anneal's state after ``step`` completed steps (atomically)."""
        fin = getattr(tracker, "final", None)
        data = {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "fingerprint": self._fingerprint,
            "step": int(step), "seed": int(g.initial_seed()), "rng": g.get_state(),
            "tensors": [t.detach().to("cpu", copy=True) for t in tensors],
            "tracker": {
                "best_energy": float(tracker.best_energy),
                "best_state": None if tracker.best_state is None else torch.from_numpy(np.asarray(tracker.best_state)),
                "t_best": float(tracker.t_best), "trace": [(int(s), float(t), float(e)) for s, t, e in tracker.trace],
                "global_step": int(tracker.global_step), "restarts": int(tracker.restarts),
                "elapsed": float(tracker.elapsed()),
                "final": None if fin is None else (torch.from_numpy(np.ascontiguousarray(fin[0])),
                                                   torch.from_numpy(np.ascontiguousarray(fin[1]))),
            },
        }
        with atomic_output(self.path, suffix=".ckpt.tmp") as tmp:
            torch.save(data, tmp)
        self.writes += 1

    def due(self, step: int, steps: int) -> bool:
        return step % self.every == 0 and step < steps

    # ------------------------------------------------------------------ caller side
    def remove(self) -> None:
        """Delete the checkpoint file (after the result was written), unless ``keep``."""
        if not self.keep:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _read(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            data = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is just not resumable
            _note(f"checkpoint {self.path} is unreadable ({exc.__class__.__name__}); starting afresh")
            return None
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            _note(f"{self.path} is not a qbnn solver checkpoint; starting afresh")
            return None
        if data.get("version", 0) > CHECKPOINT_VERSION:
            raise QbnnError(f"checkpoint {self.path} has format version {data['version']}; "
                            f"this qbnn reads up to {CHECKPOINT_VERSION}")
        if data.get("fingerprint") != self._fingerprint:
            _note(f"checkpoint {self.path} belongs to another solve (problem or options differ); starting afresh")
            return None
        return data


def _note(msg: str) -> None:
    print(f"qbnn: note: {msg}", file=sys.stderr, flush=True)
