"""Certified optima of the full objective loss + λ·R + Σ h·w (qbnn.bnn_solving.exact_milp):
the MILP's proven optimum equals exhaustive enumeration of the weights, for every margin variant,
several λ and dropout-style weight penalties, on random held-out DAGs (skip connections, several
outputs); time-limited solves return an incumbent with an honest gap; `qbnn solve --solver exact`."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbnn.bnn_solving.exact_milp import solve_exact, solve_exact_milp
from qbnn.margins import MarginProblem, MarginSpec
from qbnn.topology import Topology

SPECS = [MarginSpec("abs"), MarginSpec("signed"), MarginSpec("capped", 0.5), MarginSpec("hidden")]


def random_topology(rng: np.random.Generator, d: int, n_neurons: int, n_out: int = 1) -> Topology:
    neurons = {}
    for k in range(n_neurons):
        pool = [f"x{i}" for i in range(d)] + [f"n{j}" for j in range(k)]
        m = int(rng.integers(1, min(len(pool), 4) + 1))
        neurons[f"n{k}"] = {"from": [str(s) for s in rng.choice(pool, size=m, replace=False)],
                            "bias": bool(rng.integers(0, 2))}
    outs = [f"n{n_neurons - 1 - i}" for i in range(n_out)][::-1]
    return Topology.from_spec({"inputs": d, "neurons": neurons, "outputs": outs})


def instance(seed: int):
    rng = np.random.default_rng(1000 + seed)
    n_out = 1 + seed % 2
    topo = random_topology(rng, 3, 4, n_out)
    while topo.n_weights > 13:  # exhaustive enumeration stays below 2^13 networks
        topo = random_topology(rng, 3, 4, n_out)
    S = int(rng.integers(3, 10))
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, 3))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S) if n_out == 1 else rng.integers(0, 2, size=S)
    return rng, topo, X, y


def brute_force_min(problem: MarginProblem) -> float:
    W = np.array(list(itertools.product((-1, 1), repeat=problem.topology.n_weights)), dtype=np.int8)
    return float(problem.objective(W).min())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.form)
@pytest.mark.parametrize("lam", [0.05, 0.3, 1.5])
def test_certified_optimum_equals_enumeration(seed, spec, lam):
    rng, topo, X, y = instance(seed)
    prob = MarginProblem(topo, X, y, lam, spec)
    r = solve_exact(prob, time_limit=30)
    assert r.optimal and r.gap <= 1e-6
    assert r.objective == pytest.approx(brute_force_min(prob), abs=1e-6)
    assert r.objective == pytest.approx(prob.objective(r.weights), abs=1e-9)  # the incumbent really scores it
    assert r.bound <= r.objective + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_certified_optimum_with_dropout_penalties(seed):
    """Weight penalties h (|h| ≤ β as the dropout rule makes them) alone and with each margin form."""
    rng, topo, X, y = instance(seed)
    h = -0.7 * rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=topo.n_weights)
    for spec, lam in [(MarginSpec(), 0.0)] + [(s, 0.2) for s in SPECS]:
        prob = MarginProblem(topo, X, y, lam, spec, h)
        r = solve_exact(prob, time_limit=30)
        assert r.optimal
        assert r.objective == pytest.approx(brute_force_min(prob), abs=1e-6)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), lam=st.floats(0.0, 2.0), form=st.sampled_from(SPECS),
       scale=st.sampled_from([0.0, 0.25, 1.0]))
def test_certified_optimum_property(seed, lam, form, scale):
    rng = np.random.default_rng(seed)
    topo = random_topology(rng, 2, 3, 1)
    S = int(rng.integers(2, 7))
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, 2))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S)
    prob = MarginProblem(topo, X, y, lam, form, scale * rng.normal(size=topo.n_weights))
    r = solve_exact(prob, time_limit=30)
    assert r.optimal
    assert r.objective == pytest.approx(brute_force_min(prob), abs=1e-6)


def test_symmetry_breaking_keeps_the_margin_optimum():
    """Sign/permutation symmetry breaking removes only equivalent optima of every margin form."""
    rng = np.random.default_rng(5)
    topo = Topology.layered([3, 3, 1])
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(8, 3))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=8)
    for spec in SPECS:
        a = solve_exact_milp(topo, X, y, time_limit=30, margin=0.4, margin_spec=spec)
        b = solve_exact_milp(topo, X, y, time_limit=30, margin=0.4, margin_spec=spec, symmetry=False)
        assert a.optimal and b.optimal and a.objective == pytest.approx(b.objective, abs=1e-6)


def test_time_limit_returns_incumbent_and_gap():
    """A limit far too short to prove [64, 8, 1] on 60 random samples: incumbent (from the warm start)
    with an honest bound, not a claim of optimality."""
    rng = np.random.default_rng(0)
    topo = Topology.layered([64, 8, 1])
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(60, 64))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=60)
    w0 = rng.choice(np.array([-1, 1], dtype=np.int8), size=topo.n_weights)
    prob = MarginProblem(topo, X, y, 0.1, MarginSpec("abs"))
    r = solve_exact(prob, time_limit=1.0, warm_weights=w0)
    assert r.weights is not None and r.objective <= prob.objective(w0) + 1e-9
    assert not r.optimal and r.gap > 0 and r.bound < r.objective
    assert json.loads(json.dumps(r.summary()))["proven_optimal"] is False


def test_milp_matches_compiled_qubo_objective():
    """The CompiledBNN (QUBO form) and MarginProblem agree, so `--solver exact` certifies the QUBO's optimum."""
    from qbnn.compiler import compile_bnn

    rng, topo, X, y = instance(3)
    h = rng.normal(scale=0.3, size=topo.n_weights)
    for spec in SPECS[:2] + SPECS[3:]:
        cb = compile_bnn(topo, X, y, margin=0.3, weight_penalties=h, margin_spec=spec)
        r = solve_exact(cb, time_limit=30)
        assert r.optimal
        assert r.objective == pytest.approx(float(cb.energy(cb.repair(r.weights))), abs=1e-6)
        assert r.objective == pytest.approx(brute_force_min(MarginProblem(topo, X, y, 0.3, spec, h)), abs=1e-6)


def test_cli_solve_exact_certifies_compiled_qubo(tmp_path):
    """`qbnn solve Q.h5 --solver exact`: last stdout line is JSON with the certificate; the stored
    state is repair(w*) and its energy equals the enumerated optimum (signed form, penalties)."""
    import subprocess
    import sys

    import h5py

    from qbnn.compiler import compile_bnn, save_compiled

    rng, topo, X, y = instance(2)
    h = rng.normal(scale=0.3, size=topo.n_weights)
    cb = compile_bnn(topo, X, y, margin=0.25, weight_penalties=h, margin_spec=MarginSpec("signed"))
    save_compiled(cb, tmp_path / "q.h5")
    out = subprocess.run([sys.executable, "-m", "qbnn", "solve", str(tmp_path / "q.h5"), "--solver", "exact",
                          "--time-limit", "30", "--out", str(tmp_path / "s.h5")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    assert rec["proven_optimal"] is True and rec["gap"] <= 1e-6
    best = brute_force_min(MarginProblem(topo, X, y, 0.25, MarginSpec("signed"), h))
    assert rec["objective"] == pytest.approx(best, abs=1e-6) and rec["best_energy"] == pytest.approx(best, abs=1e-6)
    with h5py.File(tmp_path / "s.h5") as f:
        assert cb.violations(f["best_x"][()]) == 0
