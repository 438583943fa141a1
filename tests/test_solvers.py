"""Ising-machine solvers: energies, ground states on small instances, determinism, errors, CLI."""
from __future__ import annotations

import math

import json

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from qbnn.errors import QbnnError
from qbnn.qubo import QUBO
from qbnn.solvers import (IsingProblem, SOLVERS, bits_to_spins, exhaustive_search, greedy_coloring,
                          greedy_polish, resolve_device, solve)
from qbnn.solvers.maxcut import cut_value

SOLVER_NAMES = ["sb", "dsb", "sa", "ma"]


def random_qubo(n, seed, density=1.0):
    rng = np.random.default_rng(seed)
    r, c = np.triu_indices(n, 1)
    keep = rng.random(len(r)) < density
    return QUBO.from_coo(n, rng.normal(size=n), r[keep], c[keep], rng.normal(size=keep.sum()), offset=rng.normal())


def random_ising(n, seed, density=0.6, integer=False):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(size=(n, n)) * (rng.random((n, n)) < density), 1)
    h = rng.normal(size=n) * 0.5
    if integer:
        J, h = np.round(J * 2), np.round(h * 2)
    return IsingProblem(h, J, offset=1.5)


def test_energy_matches_dense_reference_and_qubo():
    q = random_qubo(12, 0, density=0.7)
    p = IsingProblem.from_qubo(q)
    rng = np.random.default_rng(1)
    X = rng.integers(0, 2, size=(20, 12))
    S = bits_to_spins(X)
    np.testing.assert_allclose(p.energy(S), q.energy(X), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(p.energy(S), p.dense_reference_energy(S), rtol=1e-12, atol=1e-10)
    Et = p.energy_torch(torch.as_tensor(S.T, dtype=torch.float32))
    assert Et.dtype == torch.float64
    np.testing.assert_allclose(Et.numpy(), p.energy(S), rtol=1e-12, atol=1e-10)


def test_symmetric_and_upper_inputs_agree_and_diagonal_to_offset():
    rng = np.random.default_rng(3)
    U = np.triu(rng.normal(size=(6, 6)), 1)
    a, b = IsingProblem(None, U), IsingProblem(None, U + U.T)
    c = IsingProblem(None, sp.csr_matrix(U) + sp.diags(np.ones(6)))
    s = bits_to_spins(rng.integers(0, 2, size=(5, 6)))
    np.testing.assert_allclose(a.energy(s), b.energy(s))
    np.testing.assert_allclose(c.energy(s), a.energy(s) + 6.0)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_solvers_find_exhaustive_ground_state(solver):
    for seed in range(3):
        p = random_ising(12 + 2 * seed, seed)
        ex = exhaustive_search(p)
        r = solve(p, solver, replicas=16, steps=150, seed=seed, device="cpu")
        assert r.best_energy == pytest.approx(ex.best_energy, abs=1e-9), (solver, seed)
        assert p.energy(r.best_state) == pytest.approx(r.best_energy)
        assert r.states.shape == (16, p.n) and r.energies.dtype == np.float64
        assert r.seconds_to_best <= r.seconds + 1e-9
        assert r.trace and r.trace[-1][2] == pytest.approx(r.best_energy)


def test_solve_qubo_ground_state_without_polish():
    q = random_qubo(10, 7)
    p = IsingProblem.from_qubo(q)
    ex = exhaustive_search(p)
    for solver in SOLVER_NAMES:
        r = solve(p, solver, replicas=32, steps=200, seed=1, device="cpu", polish=False)
        assert q.energy(r.best_bits) == pytest.approx(ex.best_energy, abs=1e-9), solver


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_same_seed_same_output(solver):
    p = random_ising(14, 5)
    a = solve(p, solver, replicas=8, steps=50, seed=11, device="cpu", polish=False)
    b = solve(p, solver, replicas=8, steps=50, seed=11, device="cpu", polish=False)
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.energies, b.energies)


def test_best_only_target_and_time_limit():
    p = random_ising(12, 2)
    ex = exhaustive_search(p)
    r = solve(p, "sa", replicas=8, steps=100, seed=0, device="cpu", best_only=True, target_energy=ex.best_energy,
              time_limit=5.0)
    assert r.states.shape == (1, 12) and r.reached_target
    assert r.seconds < 5.0


def test_sparse_path_matches_dense():
    rng = np.random.default_rng(0)
    n = 300
    J = sp.random(n, n, density=0.01, random_state=1, format="csr")
    p = IsingProblem(rng.normal(size=n), sp.triu(J, 1))
    import qbnn.solvers.problem as prob
    old = prob.DENSE_MAX_N
    prob.DENSE_MAX_N = 10
    try:
        assert not p.prefers_dense
        s = bits_to_spins(rng.integers(0, 2, size=(4, n)))
        Et = p.energy_torch(torch.as_tensor(s.T, dtype=torch.float32))
        np.testing.assert_allclose(Et.numpy(), p.dense_reference_energy(s), rtol=1e-10)
        for solver in SOLVER_NAMES:
            r = solve(p, solver, replicas=4, steps=30, seed=0, device="cpu")
            assert np.isfinite(r.best_energy)
    finally:
        prob.DENSE_MAX_N = old


def test_coloring_is_proper_and_polish_reaches_local_minimum():
    p = random_ising(20, 4, density=0.3)
    col = greedy_coloring(p.J)
    r, c = p.J.nonzero()
    assert np.all(col[r] != col[c])
    s = greedy_polish(p, bits_to_spins(np.random.default_rng(0).integers(0, 2, size=(3, 20))))
    F = p.h[None] + (p.J @ s.T.astype(float)).T
    assert np.all(-2 * s * F >= -1e-9)


def test_polish_on_a_large_sparse_problem_only_descends_and_respects_its_deadline():
    import time

    p = random_ising(3000, 5, density=0.003)
    s0 = bits_to_spins(np.random.default_rng(1).integers(0, 2, size=(8, 3000))).astype(np.int8)
    s = greedy_polish(p, s0)
    F = p.h[None] + (p.J @ s.T.astype(float)).T
    assert np.all(-2 * s * F >= -1e-9)  # single-flip local minima
    assert np.all(p.energy(s) <= p.energy(s0))
    # a deadline already past: nothing is polished, the input comes back unchanged
    np.testing.assert_array_equal(greedy_polish(p, s0, deadline=time.perf_counter() - 1.0), s0)


def test_sa_samples_boltzmann_at_fixed_beta():
    """The one-RNG-call-per-sweep Metropolis kernel (thresholds, addmm, copysign) has the Boltzmann
    distribution as its stationary law: compare state frequencies over many replicas with exact ones."""
    p = random_ising(5, 8, density=1.0)
    beta = 0.7
    r = solve(p, "sa", replicas=20000, steps=60, beta_range=(beta, beta), seed=0, device="cpu", polish=False,
              dtype=torch.float64, kernel="torch")
    ex_states = bits_to_spins(((np.arange(32)[:, None] >> np.arange(5)) & 1))
    w = np.exp(-beta * (p.energy(ex_states) - p.energy(ex_states).min()))
    w /= w.sum()
    codes = ((r.states + 1) // 2).astype(np.int64) @ (1 << np.arange(5))
    freq = np.bincount(codes, minlength=32) / len(codes)
    assert 0.5 * np.abs(freq - w).sum() < 0.03  # total variation; sampling noise is ~0.01 here


def test_dsatur_colouring_is_proper_and_not_worse():
    rng = np.random.default_rng(0)
    J = sp.random(300, 300, density=0.05, random_state=2, format="csr")
    p = IsingProblem(rng.normal(size=300), sp.triu(J, 1))
    r, c = p.J.nonzero()
    ds, lf = greedy_coloring(p.J, "dsatur"), greedy_coloring(p.J, "largest_first")
    assert np.all(ds[r] != ds[c]) and np.all(lf[r] != lf[c])
    assert ds.max() <= lf.max()
    with pytest.raises(ValueError):
        greedy_coloring(p.J, "nope")


def test_beta_range_rules():
    p = random_ising(30, 1, density=0.3)
    (h0, c0), (h1, c1), (h2, c2) = p.beta_range("dwave"), p.beta_range("field"), p.beta_range("ordering")
    assert c0 == c1 == c2 and h0 <= h1 <= h2 <= c2 / 2
    rms = math.sqrt(((p.J.data ** 2).sum() + (p.h ** 2).sum()) / p.n)  # σ_F² = mean(h_i² + Σ_j J_ij²)
    assert h2 == pytest.approx(min(max(h0, 1.25 / rms), c2 / 2))
    assert p.beta_range() == (h0, c0)
    with pytest.raises(QbnnError):
        p.beta_range("hot")
    r = solve(p, "sa", replicas=4, steps=20, beta_range="field", seed=0, device="cpu")
    assert r.info["beta_range"] == [h1, c1]


def test_momentum_annealing_paper_form():
    from qbnn.solvers.ma import paper_momentum
    p = random_ising(14, 3)
    w = paper_momentum(p)
    lam = np.linalg.eigvalsh(p.J.toarray())[-1]
    row = np.abs(p.J.toarray()).sum(1)
    assert np.all(w >= np.minimum(lam, row) / 2 - 1e-9)  # w_i >= lambda/2 or >= half the row sum
    ex = exhaustive_search(p)
    r = solve(p, "ma", replicas=32, steps=300, seed=0, device="cpu", paper=True)
    assert r.info["paper"] and r.info["schedule"] == "log"
    assert r.best_energy == pytest.approx(ex.best_energy, abs=1e-9)


def test_bad_inputs_raise():
    with pytest.raises(QbnnError):
        IsingProblem(np.zeros(3), np.zeros((3, 4)))
    with pytest.raises(QbnnError):
        IsingProblem(np.zeros(2), np.array([[0, np.nan], [0, 0]]))
    with pytest.raises(QbnnError):
        IsingProblem(np.zeros(0), np.zeros((0, 0)))
    with pytest.raises(QbnnError):
        IsingProblem(np.zeros(2), np.zeros((3, 3)))
    p = random_ising(5, 0)
    with pytest.raises(QbnnError):
        solve(p, "sb", device="tpu")
    with pytest.raises(QbnnError):
        solve(p, "nope")
    with pytest.raises(QbnnError):
        solve(p, "sa", replicas=0)
    with pytest.raises(QbnnError):
        exhaustive_search(IsingProblem(None, np.zeros((30, 30))))
    if not torch.cuda.is_available():
        with pytest.raises(QbnnError):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_cuda_solvers(solver):
    p = random_ising(12, 0)
    ex = exhaustive_search(p)
    r = solve(p, solver, replicas=32, steps=200, seed=0, device="cuda")
    assert r.best_energy == pytest.approx(ex.best_energy, abs=1e-9)


def _write_graph(path):
    # 5-cycle plus a chord: max cut 5 of 6 edges (odd cycles cannot all be cut)
    edges = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 1), (1, 3)]
    path.write_text("5 6\n" + "".join(f"{i} {j} 1\n" for i, j in edges))


def test_gset_loading_and_cut(tmp_path):
    g = tmp_path / "g.txt"
    _write_graph(g)
    p = IsingProblem.from_gset(g)
    assert p.n == 5 and p.num_couplings == 6
    ex = exhaustive_search(p)
    assert cut_value(p, ex.best_state) == 5.0
    (tmp_path / "bad.txt").write_text("3 2\n1 2 1\n")
    with pytest.raises(QbnnError):
        IsingProblem.from_gset(tmp_path / "bad.txt")


def test_maxcut_cli(tmp_path, capsys):
    from qbnn.cli import main

    g = tmp_path / "g.txt"
    _write_graph(g)
    for solver in SOLVER_NAMES:
        assert main(["maxcut", str(g), "--solver", solver, "--steps", "50", "--replicas", "4", "--target", "5",
                     "--device", "cpu", "--time-limit", "5"]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert out["best_cut"] == 5.0 and out["reached_target"]
        assert out["seconds_to_best"] <= out["seconds"]
    assert main(["maxcut", str(tmp_path / "missing.txt")]) == 2
    assert main(["maxcut", str(g), "--device", "quantum"]) == 2


def test_solve_cli(tmp_path, capsys):
    from qbnn.cli import main

    q = random_qubo(10, 3)
    q.save(tmp_path / "q.h5")
    ex = exhaustive_search(IsingProblem.from_qubo(q))
    out_path = tmp_path / "sol.h5"
    assert main(["solve", str(tmp_path / "q.h5"), "--solver", "sa", "--replicas", "8", "--steps", "100",
                 "--seed", "3", "--device", "cpu", "--save-states", "--out", str(out_path)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["best_energy"] == pytest.approx(ex.best_energy)
    assert {"seconds", "seconds_to_best"} <= set(out)
    with h5py.File(out_path) as f:
        x = f["best_x"][()]
        assert x.dtype == np.int8 and f.attrs["solver"] == "sa" and int(f.attrs["seed"]) == 3
        assert f["states"].shape == (8, 10) and f["energies"].shape == (8,) and f["trace"].shape[1] == 3
    assert q.energy(x) == pytest.approx(ex.best_energy)
    assert main(["solve", str(tmp_path / "q.h5"), "--device", "nope", "--out", str(tmp_path / "x.h5")]) == 2
    assert not (tmp_path / "x.h5").exists()


def test_registry():
    assert set(SOLVER_NAMES) <= set(SOLVERS)


def test_solve_cli_reports_bnn_metrics(tmp_path, capsys):
    compiler = pytest.importorskip("qbnn.compiler")
    from qbnn.cli import main
    from qbnn.topology import Topology

    topo = Topology.layered([3, 1])
    X = np.array([[1, 1, -1], [-1, 1, 1], [1, -1, 1], [-1, -1, -1]], dtype=np.int8)
    y = np.array([1, -1, 1, -1])
    cb = compiler.compile_bnn(topo, X, y)
    compiler.save_compiled(cb, tmp_path / "bnn.h5")
    assert main(["solve", str(tmp_path / "bnn.h5"), "--solver", "sa", "--replicas", "8", "--steps", "100",
                 "--device", "cpu", "--out", str(tmp_path / "sol.h5")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "repaired_energy" in out and "train_errors" in out
    assert out["repaired_energy"] <= out["best_energy"] + 1e-9
