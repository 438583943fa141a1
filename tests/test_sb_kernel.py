"""Compiled dSB kernel (qbnn.solvers.sb_kernel): the torch path's trajectory at float64 from the
same initial state, fields equal fresh ones, exhaustive minima on tiny instances, seed
determinism whatever the thread count (its memory on a 20,000-node
sparse graph: tests/test_ma_kernel.py)."""
from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.errors import QbnnError
from qbnn.solvers import exhaustive_search, solve
from qbnn.solvers.sb import DSB_COMPILED_MAX_DEGREE, DSB_COMPILED_MAX_REPLICAS
from qbnn.solvers.sb_kernel import CompiledDSB
from tests.test_sa_kernel import random_problem, torus


@pytest.mark.parametrize("heat", [0.0, -0.05])
@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_dsb_follows_the_torch_trajectory(seed, heat):
    """Integer couplings keep the fields exact, so the compiled run and the torch run at float64
    take the same signs after each step count (one check at the end: no early stop). They agree
    to rounding, not bit for bit (torch fuses ``x + α·y`` into one multiply-add), so over long
    runs an oscillator at the sign boundary may tip differently: checked up to 40 steps."""
    p = random_problem(16, seed)
    for steps in (1, 7, 20, 40):
        kw = dict(replicas=5, steps=steps, seed=seed, heat=heat, device="cpu", polish=False, check_every=steps)
        a = solve(p, "dsb", kernel="compiled", **kw)
        b = solve(p, "dsb", kernel="torch", dtype=torch.float64, **kw)
        assert a.info["kernel"] == "compiled" and b.info["kernel"] == "torch"
        np.testing.assert_array_equal(a.states, b.states)
        np.testing.assert_array_equal(a.energies, b.energies)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(n=st.integers(2, 30), density=st.sampled_from([0.1, 0.5, 1.0]), seed=st.integers(0, 10 ** 6),
       integer=st.booleans(), steps=st.integers(1, 40), replicas=st.integers(1, 4))
def test_running_fields_equal_fresh_ones(n, density, seed, integer, steps, replicas):
    p = random_problem(n, seed, density, integer)
    m = CompiledDSB(p, replicas)
    rng = np.random.default_rng(seed)
    m.start(rng.uniform(-0.1, 0.1, (replicas, n)), rng.uniform(-0.1, 0.1, (replicas, n)))
    m.steps(0, steps, 40, 1.0, 0.3, 1.25, 0.0)
    assert np.all(np.abs(m.x) <= 1.0)
    np.testing.assert_array_equal(m.s, np.where(m.x >= 0, 1, -1))
    np.testing.assert_allclose(m.fields, (p.J @ m.s.T.astype(np.float64)).T, atol=1e-9)


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_dsb_reaches_the_exhaustive_minimum(integer, seed):
    p = random_problem(12, seed, integer=integer)
    r = solve(p, "dsb", replicas=16, steps=400, seed=seed, device="cpu", kernel="compiled")
    assert r.best_energy == pytest.approx(exhaustive_search(p).best_energy, abs=1e-9)
    np.testing.assert_allclose(r.energies, p.energy(r.states))


def test_same_seed_same_result_whatever_the_thread_count():
    p = random_problem(50, 3, density=0.2)
    runs = [solve(p, "dsb", replicas=4, steps=80, seed=5, device="cpu", kernel="compiled", threads=t)
            for t in (1, 2, 1)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.states, runs[0].states)
        assert r.best_energy == runs[0].best_energy
    other = solve(p, "dsb", replicas=4, steps=80, seed=6, device="cpu", kernel="compiled")
    assert not np.array_equal(other.states, runs[0].states)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored


def test_kernel_choice_and_bad_options():
    sparse = torus(10, 10)  # degree 4
    assert solve(sparse, "dsb", replicas=4, steps=5, device="cpu").info["kernel"] == "compiled"
    assert solve(sparse, "dsb", replicas=DSB_COMPILED_MAX_REPLICAS + 1, steps=5,
                 device="cpu").info["kernel"] == "torch"
    dense = random_problem(4 * DSB_COMPILED_MAX_DEGREE, 0, density=1.0)
    assert solve(dense, "dsb", replicas=8, steps=5, device="cpu").info["kernel"] == "torch"
    assert solve(dense, "dsb", replicas=1, steps=5, device="cpu").info["kernel"] == "compiled"
    assert solve(sparse, "sb", replicas=4, steps=5, device="cpu").info["kernel"] == "torch"
    with pytest.raises(QbnnError, match="kernel"):
        solve(sparse, "dsb", kernel="fast")
    with pytest.raises(QbnnError, match="dSB on the CPU"):
        solve(sparse, "sb", kernel="compiled", device="cpu")

