"""Vectorised MILP assembly: variable/row blocks as numpy arrays -> one CSC matrix -> one
``Highs.passModel`` call (no per-row or per-variable Python calls into highspy)."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import highspy
import numpy as np
import scipy.sparse as sp

from qbnn.errors import QbnnError
from qbnn.io import atomic_output, require_file


def new_highs(options=None):
    """A quiet ``highspy.Highs`` with ``options`` set (all with threads=1 unless told).

    HiGHS keeps one thread scheduler per process, sized by the first run; a later instance
    asking for another count is refused (its run ends with status 'Not Set').  Every model
    therefore states its thread count, and the scheduler is rebuilt when that count changes.
    """
    global _scheduler_threads
    options = {"threads": 1, **(options or {})}
    if _scheduler_threads not in (None, int(options["threads"])):
        highspy.Highs.resetThreadScheduler(True)  # blocking: wait for old workers
    _scheduler_threads = int(options["threads"])
    h = _construct_quietly()
    h.setOptionValue("output_flag", False)
    for k, v in options.items():
        h.setOptionValue(k, v)
    return h


_scheduler_threads = None
_banner_shown = False


def _construct_quietly():
    """``highspy.Highs()``; the process's first construction prints HiGHS's banner from C++ to file
    descriptor 1 before any option can switch output off, which would put two lines ahead of a
    command's JSON (or its one-line error), so that one construction writes to /dev/null."""
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_shown = True
    return h

#: model files HiGHS writes (by extension) and Gurobi, CPLEX and SCIP read
MODEL_SUFFIXES = (".mps", ".lp")


def check_model_path(path) -> None:
    """Refuse (QbnnError) a ``--write-model`` path HiGHS cannot write (before any work)."""
    if Path(path).suffix.lower() not in MODEL_SUFFIXES:
        raise QbnnError(f"--write-model {path}: the file name must end in {' or '.join(MODEL_SUFFIXES)}")


def write_model(h, path) -> None:
    """Write the model held by ``h`` (``highspy.Highs``) to ``path`` (MPS or LP, by extension), atomically,
    so Gurobi, CPLEX or SCIP can solve it."""
    check_model_path(path)
    with atomic_output(path, suffix=Path(path).suffix.lower()) as tmp:
        if h.writeModel(str(tmp)) == highspy.HighsStatus.kError:  # kWarning: default names c0, r0, ...
            raise QbnnError(f"HiGHS could not write the model to {path}")


def read_solution_file(path, n_cols: int) -> np.ndarray:
    """Column values of a MIP solution file for a model ``--write-model`` wrote (HiGHS names c0, c1, ...):
    Gurobi ``.sol``, SCIP, CBC and HiGHS (raw) files all list ``[index] NAME VALUE`` lines; other lines
    (headers, objective, rows ``r..``) are skipped, the first value of a name counts (HiGHS lists duals
    after the primal values) and an unlisted column is 0 (SCIP omits zeros)."""
    p = require_file(path, "solution file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise QbnnError(f"solution file {path} is not UTF-8 text") from None
    x = np.zeros(n_cols)
    seen = set()
    for line in text.splitlines():
        m = re.match(r"^\s*(?:\d+\s+)?c(\d+)\s+([-+0-9.eE]+|[-+]?inf)\b", line)
        if not m or int(m.group(1)) in seen:
            continue
        j = int(m.group(1))
        try:
            v = float(m.group(2))
        except ValueError:
            raise QbnnError(f"solution file {path}: value {m.group(2)!r} of column c{j} is not a number") from None
        if j >= n_cols or not np.isfinite(v):
            raise QbnnError(f"solution file {path}: column c{j} = {v} does not belong to the {n_cols}-column model")
        seen.add(j)
        x[j] = v
    if not seen:
        raise QbnnError(f"solution file {path} lists no column values (expected lines 'c0 1', 'c1 0', ...)")
    return x


class Builder:
    """Collects variables (contiguous index blocks) and row blocks (COO triplets)."""

    def __init__(self):
        self.lb, self.ub, self.cost, self.integ = [], [], [], []
        self.n = 0
        self.blocks = []  # (rows, cols, vals, lo, hi) with global row ids
        self.m = 0

    def vars(self, shape, lb, ub, integer=False, cost=0.0):
        """Allocate ``prod(shape)`` columns; returns their indices with that shape (int64).
        lb/ub/cost: scalars or arrays broadcastable to ``shape``."""
        size = int(np.prod(shape))
        idx = np.arange(self.n, self.n + size).reshape(shape)
        self.n += size
        for store, val in ((self.lb, lb), (self.ub, ub), (self.cost, cost)):
            store.append(np.broadcast_to(np.asarray(val, float), shape).ravel().copy())
        self.integ.append(np.full(size, bool(integer)))
        return idx

    def rows(self, cols, vals, lo, hi):
        """Add R rows: ``cols``/``vals`` shape (R, K) (row r has K terms); lo/hi broadcast to (R,)."""
        cols = np.asarray(cols)
        vals = np.broadcast_to(np.asarray(vals, float), cols.shape)
        R = cols.shape[0]
        r = np.repeat(np.arange(self.m, self.m + R), cols.shape[1])
        self.blocks.append((r, cols.ravel(), vals.ravel(),
                            np.broadcast_to(np.asarray(lo, float), (R,)).copy(),
                            np.broadcast_to(np.asarray(hi, float), (R,)).copy()))
        self.m += R
        return np.arange(self.m - R, self.m)

    def fix(self, idx, val):
        """Fix columns ``idx`` (any shape) to ``val`` (same shape) via their bounds."""
        lb, ub = np.concatenate(self.lb), np.concatenate(self.ub)
        idx = np.asarray(idx).ravel()
        lb[idx] = ub[idx] = np.asarray(val, float).ravel()
        self.lb, self.ub = [lb], [ub]

    def relax_rows(self, rows, lo=None, hi=None):
        """Overwrite the bounds of global rows ``rows`` (e.g. drop an unattainable margin)."""
        lo_all = np.concatenate([b[3] for b in self.blocks])
        hi_all = np.concatenate([b[4] for b in self.blocks])
        if lo is not None:
            lo_all[rows] = lo
        if hi is not None:
            hi_all[rows] = hi
        sizes = np.cumsum([len(b[3]) for b in self.blocks])[:-1]
        self.blocks = [(b[0], b[1], b[2], l, h) for b, l, h in
                       zip(self.blocks, np.split(lo_all, sizes), np.split(hi_all, sizes))]

    def matrix(self):
        """-> (CSC matrix, row_lower, row_upper)."""
        r = np.concatenate([b[0] for b in self.blocks])
        c = np.concatenate([b[1] for b in self.blocks])
        v = np.concatenate([b[2] for b in self.blocks])
        A = sp.csc_matrix((v, (r, c)), shape=(self.m, self.n))
        A.sum_duplicates()
        A.eliminate_zeros()
        lo = np.concatenate([b[3] for b in self.blocks])
        hi = np.concatenate([b[4] for b in self.blocks])
        return A, lo, hi

    def highs(self, options=None):
        """-> a ``highspy.Highs`` holding the model (one ``passModel`` call with numpy arrays)."""
        A, lo, hi = self.matrix()
        integ = np.concatenate(self.integ).astype(np.int32)  # 1 = kInteger, 0 = kContinuous
        h = new_highs(options)
        h.passModel(self.n, self.m, int(A.nnz), 1, 1, 0.0,  # colwise, minimise, no offset
                    np.concatenate(self.cost), np.concatenate(self.lb), np.concatenate(self.ub),
                    lo, hi, A.indptr.astype(np.int32), A.indices.astype(np.int32),
                    A.data.astype(float), integ)
        return h
