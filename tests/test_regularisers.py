"""Regulariser variants (issue 17): margin forms in the QUBO, the objective and the move deltas;
dropout's accumulate rule and β schedules; paired statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.bnn_solving.portfolio import make_state
from qbnn.compiler import compile_bnn, load_compiled, save_compiled
from qbnn.dropout import beta_at, dropout_round, make_solve_fn, run_dropout
from qbnn.errors import QbnnError
from qbnn.margins import MarginProblem, MarginSpec, reward
from qbnn.figures.accuracy import plot_paired
from qbnn.paired import holm, paired_table, sign_test_p, wilcoxon_p
from qbnn.topology import Topology

QUBO_FORMS = [MarginSpec("abs"), MarginSpec("signed"), MarginSpec("hidden")]


def data(rng, topo, S):
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, topo.n_inputs))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S) if topo.n_outputs == 1 else \
        rng.integers(0, topo.n_outputs, size=S)
    return X, y


# ------------------------------------------------------------------ margin forms
def test_reward_matches_definitions_by_hand():
    topo = Topology.layered([3, 2, 1])
    Z = np.array([[3, -2, -4], [0, 1, 2]])  # (S=2, N=3): two hidden (fan-in 4), output (fan-in 3)
    y = np.array([1, -1])
    fan = np.array([4.0, 4.0, 3.0])
    assert reward(Z, *MarginSpec("abs").arrays(topo, y)) == pytest.approx((np.abs(Z) / fan).sum())
    # signed: output reward max(t·z, 0): sample 0 (t=+1, z=−4) -> 0, sample 1 (t=−1, z=2) -> 0
    assert reward(Z, *MarginSpec("signed").arrays(topo, y)) == pytest.approx((np.abs(Z[:, :2]) / fan[:2]).sum())
    assert reward(Z, *MarginSpec("hidden").arrays(topo, y)) == pytest.approx((np.abs(Z[:, :2]) / fan[:2]).sum())
    capped = np.minimum(np.abs(Z), 0.5 * fan) / fan
    assert reward(Z, *MarginSpec("capped", 0.5).arrays(topo, y)) == pytest.approx(capped.sum())


@pytest.mark.parametrize("bad", [("capped", None), ("capped", 0.0), ("capped", 1.5), ("abs", 0.5), ("wide", None)])
def test_bad_margin_spec_is_refused(bad):
    with pytest.raises(QbnnError):
        MarginSpec(*bad)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), lam=st.floats(0.01, 2.0), form=st.sampled_from(QUBO_FORMS),
       layers=st.sampled_from([[3, 2, 1], [4, 3, 2], [3, 2, 2, 1]]))
def test_qubo_energy_of_repair_equals_variant_objective(seed, lam, form, layers):
    rng = np.random.default_rng(seed)
    topo = Topology.layered(layers)
    X, y = data(rng, topo, 6)
    h = rng.normal(scale=0.5, size=topo.n_weights)
    cb = compile_bnn(topo, X, y, margin=lam, weight_penalties=h, margin_spec=form)
    W = rng.choice(np.array([-1, 1], dtype=np.int8), size=(8, topo.n_weights))
    assert np.allclose(cb.energy(cb.repair(W)), cb.objective(W), atol=1e-9)
    assert np.allclose(cb.objective(W), MarginProblem(topo, X, y, lam, form, h).objective(W), atol=1e-12)


def test_qubo_minimum_equals_enumeration_for_signed_form():
    """Exactness of the signed form: the exhaustive QUBO minimum over all bits is min_w F(w)."""
    import itertools

    rng = np.random.default_rng(3)
    topo = Topology.from_spec({"inputs": 2, "neurons": {"h": {"from": ["x0", "x1"], "bias": False},
                                                        "o": {"from": ["h", "x1"], "bias": True}}, "outputs": ["o"]})
    X, y = data(rng, topo, 2)
    cb = compile_bnn(topo, X, y, margin=0.7, margin_spec=MarginSpec("signed"))
    assert cb.num_variables <= 20
    states = np.array(list(itertools.product((0, 1), repeat=cb.num_variables)), dtype=np.int8)
    W = np.array(list(itertools.product((-1, 1), repeat=topo.n_weights)), dtype=np.int8)
    assert cb.energy(states).min() == pytest.approx(cb.objective(W).min(), abs=1e-9)


def test_capped_form_has_no_qubo_and_file_round_trip_keeps_form(tmp_path):
    rng = np.random.default_rng(0)
    topo = Topology.layered([3, 2, 1])
    X, y = data(rng, topo, 5)
    with pytest.raises(QbnnError, match="capped"):
        compile_bnn(topo, X, y, margin=0.1, margin_spec=MarginSpec("capped", 0.5))
    cb = compile_bnn(topo, X, y, margin=0.1, margin_spec=MarginSpec("signed"))
    save_compiled(cb, tmp_path / "q.h5")
    back = load_compiled(tmp_path / "q.h5")
    assert back.margin_spec == MarginSpec("signed") and back.qubo.attrs["formulation_version"] == 2
    W = rng.choice(np.array([-1, 1], dtype=np.int8), size=(4, topo.n_weights))
    assert np.allclose(back.objective(W), cb.objective(W))
    assert compile_bnn(topo, X, y, margin=0.1).qubo.attrs["formulation_version"] == 1  # paper form unchanged


@pytest.mark.parametrize("spec", QUBO_FORMS + [MarginSpec("capped", 0.3)], ids=lambda s: s.form)
def test_move_deltas_are_exact_for_every_form(spec):
    """Incremental cluster-move deltas (no full re-evaluation) equal F(w') − F(w) for every variant."""
    rng = np.random.default_rng(1)
    topo = Topology.layered([5, 3, 3])
    X, y = data(rng, topo, 9)
    prob = MarginProblem(topo, X, y, 0.4, spec, rng.normal(size=topo.n_weights))
    W = rng.choice(np.array([-1, 1], dtype=np.int8), size=(3, topo.n_weights))
    st_ = make_state(prob, W)
    assert not st_.exact_fallback
    idx = torch.as_tensor(rng.integers(0, topo.n_weights, size=(3, 6)))
    delta = st_.propagate(idx)[0].numpy()
    for r in range(3):
        for c in range(6):
            w = W[r].copy()
            w[int(idx[r, c])] *= -1
            assert delta[r, c] == pytest.approx(prob.objective(w) - prob.objective(W[r]), abs=1e-9)


# ------------------------------------------------------------------ dropout variants
def test_beta_schedules():
    assert [beta_at(2.0, "constant", r, 4) for r in range(4)] == [2.0] * 4
    assert [beta_at(2.0, "increasing", r, 4) for r in range(4)] == [0.5, 1.0, 1.5, 2.0]
    assert [beta_at(2.0, "decreasing", r, 4) for r in range(4)] == [2.0, 1.5, 1.0, 0.5]
    with pytest.raises(QbnnError):
        beta_at(1.0, "cosine", 0, 2)


def test_accumulate_sums_rounds_and_replace_does_not():
    rng = np.random.default_rng(2)
    topo = Topology.layered([4, 3, 1])
    X, y = data(rng, topo, 12)
    kw = dict(R=3, K=2, p=0.5, beta=0.5, seed=4, solve_fn=make_solve_fn("greedy"))
    rep = run_dropout(topo, X, y, **kw)
    acc = run_dropout(topo, X, y, accumulate=True, **kw)
    # round 0 sees no penalties: identical in both; later rounds of `accumulate` are sums
    assert np.array_equal(rep[0].penalties, acc[0].penalties)
    for r in range(1, 3):
        fresh = -0.5 * acc[r].mean * (acc[r].count > 0)
        assert np.allclose(acc[r].penalties, acc[r - 1].penalties + fresh)
        assert np.abs(acc[r].penalties).max() <= 0.5 * (r + 1) + 1e-12
        assert np.abs(rep[r].penalties).max() <= 0.5 + 1e-12
    # one round by hand equals the scheduled run's round 0 at β·1/R
    inc = run_dropout(topo, X, y, beta_schedule="increasing", **kw)
    one = dropout_round(topo, X, y, None, K=2, p=0.5, beta=0.5 / 3, seed=4, solve_fn=make_solve_fn("greedy"))
    assert np.allclose(inc[0].penalties, one.penalties)


# ------------------------------------------------------------------ paired statistics
def test_paired_table_by_hand():
    seeds = range(6)
    ref = [0.80, 0.82, 0.79, 0.85, 0.81, 0.83]
    d_up = [0.02, 0.03, 0.01, 0.02, 0.04, 0.03]
    rows = [{"regime": "r", "seed": s, "variant": "plain", "test_accuracy": a} for s, a in zip(seeds, ref)]
    rows += [{"regime": "r", "seed": s, "variant": "better", "test_accuracy": a + d} for s, a, d in zip(seeds, ref, d_up)]
    rows += [{"regime": "r", "seed": s, "variant": "same", "test_accuracy": a} for s, a in zip(seeds, ref)]
    rows += [{"regime": "r", "seed": 9, "variant": "same", "test_accuracy": 0.0}]  # no reference: not paired
    t = paired_table(pd.DataFrame(rows), "plain").set_index("variant")
    assert t.loc["better", "n"] == 6 and t.loc["same", "n"] == 6
    assert t.loc["better", "delta_mean"] == pytest.approx(np.mean(d_up))
    from scipy.stats import t as student

    half = student.ppf(0.975, 5) * np.std(d_up, ddof=1) / np.sqrt(6)
    assert t.loc["better", "delta_ci95"] == pytest.approx(half)
    assert t.loc["better", "wins"] == 6 and t.loc["better", "p_sign"] == pytest.approx(2 / 64)
    assert t.loc["same", "p_wilcoxon"] == 1.0 and t.loc["same", "verdict"] == "no detectable effect"
    assert t.loc["better", "p_wilcoxon"] == pytest.approx(0.03125)
    assert t.loc["better", "verdict"] == "helps" and t.loc["better", "p_holm"] == pytest.approx(0.0625)
    assert not t.loc["better", "holm_significant"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=12))
def test_p_values_are_probabilities_and_symmetric(d):
    d = np.round(np.asarray(d), 3)
    for f in (wilcoxon_p, sign_test_p):
        p = f(d)
        assert 0.0 <= p <= 1.0
        assert f(-d) == pytest.approx(p)


def test_holm_by_hand():
    assert np.allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    assert np.allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])


def test_paired_figure_and_missing_reference(tmp_path):
    rows = [{"regime": g, "seed": s, "variant": v, "test_accuracy": 0.5 + 0.01 * s + (0.02 if v == "m" else 0)}
            for g in ("a", "b") for s in range(5) for v in ("plain", "m")]
    t = paired_table(pd.DataFrame(rows), ["plain", "ovo-exact"])
    plot_paired(t, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    with pytest.raises(QbnnError):
        paired_table(pd.DataFrame(rows), "nothing")


def test_aggregate_paired_output(tmp_path, capsys):
    """`qbnn aggregate --paired`: Δ of +margin and of a baseline to plain QUBO training, seed by seed."""
    import json

    from qbnn.cli import main

    d = tmp_path / "results" / "evaluate" / "ds" / "topo"
    d.mkdir(parents=True)
    plain = [0.80, 0.84, 0.78, 0.90]
    at = {"experiment": "e", "dataset": "ds", "topology": "topo", "train_accuracy": 1.0}
    qubo = dict(at, method="qubo_ste-pt", solver="ste-pt", dropout=False)
    for s, a in enumerate(plain):
        (d / f"a{s}.json").write_text(json.dumps(dict(qubo, margin=0.0, seed=s, test_accuracy=a)))
        (d / f"b{s}.json").write_text(json.dumps(dict(qubo, margin=0.05, seed=s, test_accuracy=a - 0.02)))
        (d / f"c{s}.json").write_text(json.dumps(dict(at, method="ste", seed=s, test_accuracy=0.85)))
    files = sorted(map(str, d.iterdir()))
    out = tmp_path / "paired.csv"
    assert main(["aggregate", *files, "--out", str(tmp_path / "m.csv"), "--paired", str(out),
                 "--paired-figure", str(tmp_path / "p.png")]) == 0
    t = pd.read_csv(out).set_index("variant")
    assert set(t["reference"]) == {"QUBO plain ste-pt"}
    assert t.loc["QUBO +margin ste-pt λ=0.05", "delta_mean"] == pytest.approx(-0.02)
    assert t.loc["QUBO +margin ste-pt λ=0.05", "losses"] == 4
    assert t.loc["STE BNN", "delta_mean"] == pytest.approx(0.85 - np.mean(plain))
    assert (tmp_path / "p.png").stat().st_size > 1000
