"""Compiled MA kernel (qbnn.solvers.ma_kernel): the torch path's update fed the same random draws
at float64, fields equal fresh ones, exhaustive minima on tiny instances, seed determinism
whatever the thread count, the kernel choice, the default momentum, and no dense matrix on a
20,000-node sparse graph (MA and dSB)."""
from __future__ import annotations

import tracemalloc

import numba
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.errors import QbnnError
from qbnn.solvers import IsingProblem, exhaustive_search, solve
from qbnn.solvers.base import make_generator
from qbnn.solvers.ma import (DEFAULT_MOMENTUM_SCALE, MA_COMPILED_ANY_REPLICAS, MA_COMPILED_MAX_DEGREE,
                             MA_COMPILED_MAX_REPLICAS, _inverse_temperatures, compiled_ma_pays, momentum_weights)
from qbnn.solvers.ma_kernel import CompiledMA
from tests.test_sa_kernel import random_problem, torus


def torch_path_draws(n, R, steps, seed, paper, dropout):
    """The torch path's random draws in its order (initial layers; per step and layer, the
    dropout variates while dropout is on, then the noise variates), laid out for the kernel."""
    g = make_generator(seed, torch.device("cpu"))
    SL = torch.where(torch.rand(n, R, generator=g) < 0.5, 1, -1)
    SR = torch.where(torch.rand(n, R, generator=g) < 0.5, 1, -1) if paper else SL.clone()
    mask = np.ones((steps, 2, R, n))
    noise = np.empty((steps, 2, R, n))
    for k in range(steps):
        p = max(0.0, dropout - k / steps) if paper else dropout * (1.0 - k / steps)
        for layer in range(2):
            if p > 0:
                mask[k, layer] = torch.rand(n, R, generator=g, dtype=torch.float64).T.numpy()
            noise[k, layer] = torch.rand(n, R, generator=g, dtype=torch.float64).T.numpy()
    return SL.T.numpy(), SR.T.numpy(), (mask, noise)


@pytest.mark.parametrize("paper", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_update_is_the_torch_update(seed, paper):
    """Integer couplings keep the fields exact; fed the torch path's draws, the kernel ends each
    run (1, 7, 30 steps) on the torch path's float64 spins, both layers' pick per replica."""
    p = random_problem(16, seed)
    R, dropout = 5, 0.5
    c0 = 0.0 if paper else 1.0
    for steps in (1, 7, 30):
        ref = solve(p, "ma", replicas=R, steps=steps, seed=seed, paper=paper, dropout=dropout, device="cpu",
                    polish=False, check_every=steps, kernel="torch", dtype=torch.float64)
        m = CompiledMA(p, R, 0, momentum_weights(p, paper, ref.info["w_scale"]))
        SL, SR, draws = torch_path_draws(p.n, R, steps, seed, paper, dropout)
        m.SL[:], m.SR[:] = SL, SR
        m.refresh()
        betas = _inverse_temperatures(p, None, steps, "log" if paper else "geometric")[0]
        m.steps(betas, 0, steps, steps, c0, dropout, paper, draws=draws)
        EL, ER = p.energy(m.SL), p.energy(m.SR)
        np.testing.assert_array_equal(np.where((EL <= ER)[:, None], m.SL, m.SR), ref.states)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(n=st.integers(2, 30), density=st.sampled_from([0.1, 0.5, 1.0]), seed=st.integers(0, 10 ** 6),
       integer=st.booleans(), steps=st.integers(1, 40), replicas=st.integers(1, 4), paper=st.booleans())
def test_running_fields_equal_fresh_ones(n, density, seed, integer, steps, replicas, paper):
    p = random_problem(n, seed, density, integer)
    m = CompiledMA(p, replicas, seed, momentum_weights(p, paper))
    m.random_start(same=not paper)
    if not paper:
        np.testing.assert_array_equal(m.SL, m.SR)
    m.steps(np.geomspace(0.05, 3.0, steps), 0, steps, steps, 0.0 if paper else 1.0, 0.5, paper)
    assert set(np.unique(np.concatenate([m.SL, m.SR]))) <= {-1, 1}
    for S, F in ((m.SL, m.FL), (m.SR, m.FR)):
        np.testing.assert_allclose(F, (p.J @ S.T.astype(np.float64)).T, atol=1e-9)


@pytest.mark.parametrize("paper", [False, True])
@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_ma_reaches_the_exhaustive_minimum(seed, integer, paper):
    p = random_problem(12, seed, integer=integer)
    r = solve(p, "ma", replicas=16, steps=300, seed=seed, paper=paper, device="cpu", kernel="compiled",
              polish=False)
    assert r.info["kernel"] == "compiled"
    assert r.best_energy == pytest.approx(exhaustive_search(p).best_energy, abs=1e-9)
    np.testing.assert_allclose(r.energies, p.energy(r.states))


def test_restarts_until_the_target_under_a_time_limit():
    p = random_problem(14, 4, density=0.3)
    best = exhaustive_search(p).best_energy
    r = solve(p, "ma", replicas=2, steps=8, seed=0, device="cpu", kernel="compiled", polish=False,
              target_energy=best, time_limit=60.0)  # 8-step anneals: several restarts needed
    assert r.reached_target and r.restarts > 1 and r.steps_done < 8 * r.restarts  # the last one stopped early
    assert p.energy(r.best_state) == pytest.approx(best, abs=1e-9) == r.best_energy


def test_same_seed_same_result_whatever_the_thread_count():
    p = random_problem(60, 3, density=0.2)
    opts = dict(replicas=4, steps=80, device="cpu", kernel="compiled", polish=False)
    runs = [solve(p, "ma", seed=5, threads=t, **opts) for t in (1, 2, 1)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.states, runs[0].states)
        assert r.best_energy == runs[0].best_energy
        assert [(s, e) for s, _, e in r.trace] == [(s, e) for s, _, e in runs[0].trace]
    other = solve(p, "ma", seed=6, **opts)
    assert not np.array_equal(other.states, runs[0].states)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored


@pytest.mark.parametrize("kernel", ["compiled", "torch"])
def test_default_momentum_does_not_lock_the_layers_antiparallel(kernel):
    """An all-+1 16 x 16 torus (bipartite: every one of its 512 edges can be cut). With the
    momentum at exactly the row sums (w_scale 1) long anneals lock into σ^L = -σ^R, each layer
    magnetised (cut 0); the default scale 1.02 breaks the tie and every replica cuts all edges."""
    p = IsingProblem(None, sp.triu(abs(torus(16, 16).J)))
    opts = dict(replicas=4, steps=2000, seed=0, device="cpu", kernel=kernel, polish=False)
    locked = solve(p, "ma", w_scale=1.0, **opts)
    assert np.any(locked.energies == 512)  # energy 512 = all edges uncut
    free = solve(p, "ma", **opts)
    assert free.info["w_scale"] == DEFAULT_MOMENTUM_SCALE
    np.testing.assert_array_equal(free.energies, -512.0)


def test_kernel_choice_and_bad_options():
    sparse = torus(10, 10)  # degree 4
    dense = random_problem(4 * MA_COMPILED_MAX_DEGREE, 0, density=1.0)
    for p, few, many in ((sparse, MA_COMPILED_MAX_REPLICAS, MA_COMPILED_MAX_REPLICAS + 1),
                         (dense, MA_COMPILED_ANY_REPLICAS, MA_COMPILED_ANY_REPLICAS + 1)):
        assert solve(p, "ma", replicas=few, steps=3, device="cpu").info["kernel"] == "compiled"
        assert solve(p, "ma", replicas=many, steps=3, device="cpu").info["kernel"] == "torch"
        assert solve(p, "ma", replicas=few, steps=3, device="cpu", kernel="torch").info["kernel"] == "torch"
        assert solve(p, "ma", replicas=many, steps=3, device="cpu", kernel="compiled").info["kernel"] == "compiled"
    assert compiled_ma_pays(sparse, 1) and compiled_ma_pays(dense, 1)
    with pytest.raises(QbnnError, match="kernel"):
        solve(sparse, "ma", kernel="fast")


@pytest.mark.parametrize("solver", ["ma", "dsb"])
def test_a_20000_node_sparse_graph_allocates_no_dense_matrix(solver):
    """G81's size: traced peak memory of a compiled MA or dSB solve stays O(edges + n × replicas)."""
    p = torus(100, 200)
    solve(p, solver, replicas=2, steps=2, seed=0, device="cpu", kernel="compiled", polish=False)
    tracemalloc.start()
    try:
        r = solve(p, solver, replicas=4, steps=10, seed=0, device="cpu", kernel="compiled", polish=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.states.shape == (4, p.n)
    # MA: both layers' spins and fields, energy temporaries; dSB: x, y, fields and the torch-drawn
    # initial state: tens of bytes per spin and replica
    assert peak < 40 * p.J.nnz + 80 * 4 * p.n  # 9.6 MB; an n x n int8 matrix is 400 MB
