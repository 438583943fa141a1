"""Ising problems in spin form and the common solver result.

``E(s) = offset + h·s + Σ_{i<j} J_ij s_i s_j`` with ``s ∈ {-1,+1}^n``.
Internally ``J`` is kept symmetric with zero diagonal (``Jsym``), so
``E(s) = offset + h·s + ½ sᵀ Jsym s`` and the local field is ``h + Jsym s``.
Energies are always evaluated in float64.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

from qbnn.errors import QbnnError

from qbnn.storage_layout import (  # noqa: F401  (re-exported: the solvers' storage rule)
    CUDA_DENSE_FRACTION,
    CUDA_DENSE_MAX_N,
    DENSE_MAX_N,
    DENSE_SLOPE,
    dense_layout,
)
from scipy.sparse.linalg import eigsh


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' -> cuda when available else cpu; 'cuda' without a GPU or unknown names -> QbnnError."""
    if isinstance(device, torch.device):
        device = str(device)
    device = "auto" if device is None else str(device).lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise QbnnError(f"device {device!r} requested but CUDA is not available (use --device cpu or auto)")
        try:
            return torch.device(device)
        except RuntimeError:
            raise QbnnError(f"unknown device {device!r}") from None
    raise QbnnError(f"unknown device {device!r} (choose auto, cpu or cuda)")


class _TorchOps:
    """Device/dtype-specific tensors of one problem (cached on the problem)."""

    def __init__(self, prob: "IsingProblem", device: torch.device, dtype: torch.dtype):
        self.device, self.dtype = device, dtype
        self.dense = prob.dense_for(device)
        J = prob.J
        if self.dense:
            self.J = torch.as_tensor(J.toarray(), dtype=dtype, device=device)
        else:
            c = J.tocsr()
            self.J = torch.sparse_csr_tensor(
                torch.as_tensor(c.indptr, dtype=torch.int64), torch.as_tensor(c.indices, dtype=torch.int64),
                torch.as_tensor(c.data, dtype=dtype), size=c.shape, check_invariants=False).to(device)
        self.h = torch.as_tensor(prob.h, dtype=dtype, device=device).unsqueeze(1)  # (n,1)

    def mm(self, X: torch.Tensor) -> torch.Tensor:
        """Jsym @ X for X of shape (n, R)."""
        return self.J @ X


#: beta_range rules: hot end ``factor / σ_F`` (None: dwave-samplers' hot end); see IsingProblem.beta_range
BETA_RULES = {"dwave": None, "field": 0.5, "ordering": 1.25}


class IsingProblem:
    """Spin-form Ising problem ``E(s) = offset + h·s + Σ_{i<j} J_ij s_i s_j``.

    ``J`` may be dense or scipy-sparse, square ``(n, n)``: a symmetric matrix contributes its
    upper triangle (``J_ij`` for ``i<j``); a non-symmetric one contributes ``J_ij + J_ji``
    (so an upper-triangular matrix is taken as is). Diagonal entries add to ``offset``
    (``s_i² = 1``).
    """

    def __init__(self, h, J, offset: float = 0.0, name: str = "", meta: dict | None = None):
        if sp.issparse(J):
            Jm = sp.csr_matrix(J, dtype=np.float64)
        else:
            Ja = np.asarray(J, dtype=np.float64)
            if Ja.ndim != 2:
                raise QbnnError(f"J must be a square matrix, got shape {Ja.shape}")
            Jm = sp.csr_matrix(Ja)
        if Jm.shape[0] != Jm.shape[1]:
            raise QbnnError(f"J must be square, got shape {Jm.shape}")
        n = Jm.shape[0]
        if n == 0:
            raise QbnnError("empty Ising problem (no spins)")
        h = np.zeros(n) if h is None else np.asarray(h, dtype=np.float64).reshape(-1)
        if h.shape[0] != n:
            raise QbnnError(f"h has {h.shape[0]} entries but J is {n}x{n}")
        if not (np.isfinite(h).all() and np.isfinite(Jm.data).all() and math.isfinite(float(offset))):
            raise QbnnError("Ising problem contains NaN or infinite coefficients")
        offset = float(offset) + float(Jm.diagonal().sum())
        Jm = Jm - sp.diags(Jm.diagonal())
        if abs(Jm - Jm.T).max() if Jm.nnz else 0.0:
            Jm = sp.triu(Jm, 1) + sp.tril(Jm, -1).T  # pair coupling = J_ij + J_ji
            Jm = Jm + Jm.T
        Jm = sp.csr_matrix(Jm)
        Jm.eliminate_zeros()
        Jm.sort_indices()
        self.J: sp.csr_matrix = Jm  # symmetric, zero diagonal, float64
        self.h: np.ndarray = h
        self.offset: float = offset
        self.name = name
        self.meta: dict[str, Any] = dict(meta or {})
        self._ops: dict = {}

    # ---------------------------------------------------------------- builders
    @classmethod
    def from_qubo(cls, qubo) -> "IsingProblem":
        """Exact conversion of a :class:`qbnn.qubo.QUBO` with ``x = (1+s)/2`` (energies equal)."""
        n = qubo.num_variables
        if n == 0:
            raise QbnnError("empty QUBO (no variables)")
        r, c, v = qubo.rows, qubo.cols, qubo.values
        h = qubo.linear / 2.0
        np.add.at(h, r, v / 4.0)
        np.add.at(h, c, v / 4.0)
        offset = qubo.offset + qubo.linear.sum() / 2.0 + v.sum() / 4.0
        J = sp.coo_matrix((v / 4.0, (r, c)), shape=(n, n)).tocsr()
        return cls(h, J, offset, meta={"from": "qubo"})

    @classmethod
    def from_gset(cls, path: str | os.PathLike) -> "IsingProblem":
        """MaxCut graph (G-set format: ``N E`` then ``i j w``, 1-indexed) as ``E = Σ w_ij s_i s_j``.

        ``meta['weight_sum']`` holds ``Σ w``; ``cut(s) = (weight_sum - E(s)) / 2``.
        """
        p = os.fspath(path)
        if not os.path.isfile(p):
            raise QbnnError(f"graph file not found: {p}")
        try:
            with open(p) as f:
                first = f.readline().split()
                n, m = int(first[0]), int(first[1])
                data = np.loadtxt(f, ndmin=2) if m else np.zeros((0, 3))
        except (ValueError, IndexError) as exc:
            raise QbnnError(f"{p} is not a G-set graph file ({exc})") from None
        if data.shape[0] != m or (m and data.shape[1] < 2):
            raise QbnnError(f"{p}: header announces {m} edges, found {data.shape[0]}")
        i = data[:, 0].astype(np.int64) - 1
        j = data[:, 1].astype(np.int64) - 1
        w = data[:, 2] if data.shape[1] > 2 else np.ones(m)
        if m and (i.min() < 0 or j.min() < 0 or max(i.max(), j.max()) >= n):
            raise QbnnError(f"{p}: vertex index out of range 1..{n}")
        keep = i != j
        lo, hi = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
        J = sp.coo_matrix((w[keep], (lo, hi)), shape=(n, n)).tocsr()
        return cls(np.zeros(n), J, 0.0, name=os.path.basename(p),
                   meta={"weight_sum": float(w[keep].sum()), "from": "gset"})

    # ------------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        return int(self.h.shape[0])

    @property
    def num_couplings(self) -> int:
        return int(self.J.nnz // 2)

    @property
    def prefers_dense(self) -> bool:
        """Dense storage on CPU?"""
        return self.dense_for(torch.device("cpu"))

    def dense_for(self, device) -> bool:
        return dense_layout(self.n, self.J.nnz, torch.device(device).type)

    def upper(self) -> sp.csr_matrix:
        return sp.csr_matrix(sp.triu(self.J, 1))

    def coupling_std(self) -> float:
        """σ of the couplings over all i≠j pairs (for the SB ξ0 = 0.7/(σ√N) rule)."""
        n = self.n
        if n < 2:
            return 1.0
        s = math.sqrt(float((self.J.data ** 2).sum()) / (n * (n - 1)))
        return s if s > 0 else max(float(np.abs(self.h).max()), 1.0)

    def max_eigenvalue(self) -> float:
        """Largest eigenvalue of ``Jsym`` (cached; bounds the stable SB step)."""
        if "_lmax" not in self.__dict__:
            if self.J.nnz == 0:
                self._lmax = 0.0
            elif self.n <= 512:
                self._lmax = float(np.linalg.eigvalsh(self.J.toarray())[-1])
            else:
                try:
                    self._lmax = float(eigsh(self.J, k=1, which="LA", return_eigenvectors=False, tol=1e-3)[0])
                except Exception:  # noqa: BLE001 - fall back to the Gershgorin bound
                    self._lmax = float(np.asarray(abs(self.J).sum(axis=1)).max())
        return self._lmax

    def beta_range(self, rule: str = "dwave") -> tuple[float, float]:
        """(hot, cold) inverse temperatures for annealing.

        cold (every rule, as dwave-samplers): the weakest nonzero excitation is accepted with
        probability 1 %. hot: ``'dwave'`` (dwave-samplers' default): the most strongly held spin
        flips with probability 50 %; ``'field'``: ``β = 0.5 / σ_F`` with ``σ_F² = mean_i(h_i² +
        Σ_j J_ij²)`` the mean square local field of a random state -- about half the ordering
        β of a spin glass (1/σ_F); ``'ordering'``: ``β = 1.25 / σ_F``, just below the ordering
        temperature (the Bethe spin-glass estimate ``tanh(β_c w) = 1/sqrt(c - 1)`` is 1.0-1.3/σ_F
        for mean degrees 48 to 4 with ±w couplings; lattices order colder), so no sweeps are spent
        re-randomising a paramagnet: there a flip costs a whole CSR row and happens every other
        spin (G3: the hottest quarter of a 'field' anneal took 2/3 of its CPU time). CPU time
        to target with the SA restart rule fell 2-7x against 'field' on the tuning graphs
        (docs/solvers.md). The σ_F rules never start colder than ``cold / 2`` nor hotter than
        the 'dwave' hot end.
        """
        if rule not in BETA_RULES:
            raise QbnnError(f"unknown beta_range rule {rule!r} (choose {', '.join(BETA_RULES)}, or give (hot, cold))")
        absJ = abs(self.J)
        max_field = float(np.max(np.abs(self.h) + np.asarray(absJ.sum(axis=1)).ravel()))
        nz = np.concatenate([np.abs(self.J.data), np.abs(self.h)])
        nz = nz[nz > 0]
        if max_field <= 0 or nz.size == 0:
            return 0.1, 1.0
        hot = math.log(2.0) / (2.0 * max_field)
        cold = math.log(100.0) / (2.0 * float(nz.min()))
        if BETA_RULES[rule] is not None:
            rms = math.sqrt((float((self.J.data ** 2).sum()) + float((self.h ** 2).sum())) / self.n)
            hot = max(hot, min(BETA_RULES[rule] / rms, 0.5 * cold))
        return hot, max(cold, hot * 1.0001)

    def ops(self, device: torch.device, dtype: torch.dtype) -> _TorchOps:
        key = (str(device), dtype)
        if key not in self._ops:
            self._ops[key] = _TorchOps(self, device, dtype)
        return self._ops[key]

    # ------------------------------------------------------------------ energy
    def energy(self, spins) -> np.ndarray | float:
        """float64 energy of ``(n,)`` or ``(R, n)`` ±1 spins."""
        S = np.asarray(spins, dtype=np.float64)
        single = S.ndim == 1
        S = np.atleast_2d(S)
        if S.shape[1] != self.n:
            raise QbnnError(f"state has {S.shape[1]} spins, problem has {self.n}")
        E = self.offset + S @ self.h + 0.5 * np.einsum("ri,ri->r", S, np.asarray((self.J @ S.T).T))
        return float(E[0]) if single else E

    def energy_torch(self, S: torch.Tensor) -> torch.Tensor:
        """float64 energies of spins ``S`` laid out ``(n, R)`` on any device -> ``(R,)``."""
        ops = self.ops(S.device, torch.float64)
        X = S.to(torch.float64)
        return self.offset + (ops.h * X).sum(0) + 0.5 * (X * ops.mm(X)).sum(0)

    def dense_reference_energy(self, spins) -> np.ndarray:
        """Straightforward dense float64 evaluation (for tests)."""
        S = np.atleast_2d(np.asarray(spins, dtype=np.float64))
        U = np.triu(self.J.toarray(), 1)
        return self.offset + S @ self.h + np.einsum("ri,ij,rj->r", S, U, S)


def spins_to_bits(s: np.ndarray) -> np.ndarray:
    return ((np.asarray(s) + 1) // 2).astype(np.int8)


def bits_to_spins(x: np.ndarray) -> np.ndarray:
    return (2 * np.asarray(x, dtype=np.int8) - 1).astype(np.int8)


@dataclass
class SolveResult:
    """What every solver returns.

    states : int8 ``(R, n)`` spins (±1) — all replicas, or only the best when ``best_only``
    energies : float64 ``(R,)``
    best_state : int8 ``(n,)`` spins; best_energy : float
    seconds : wall time; seconds_to_best : wall time when best_energy was first reached
    trace : list of ``(step, seconds, best_energy)`` at every improvement
    """

    solver: str
    states: np.ndarray
    energies: np.ndarray
    best_state: np.ndarray
    best_energy: float
    seconds: float
    seconds_to_best: float
    trace: list = field(default_factory=list)
    steps_done: int = 0
    restarts: int = 0
    reached_target: bool = False
    info: dict = field(default_factory=dict)

    @property
    def best_bits(self) -> np.ndarray:
        return spins_to_bits(self.best_state)

    @property
    def bits(self) -> np.ndarray:
        return spins_to_bits(self.states)

    def trace_array(self) -> np.ndarray:
        return np.asarray(self.trace, dtype=np.float64).reshape(-1, 3)
