"""Tests for qbnn.mip (mixed-integer training, Kurtz & Bah)."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from qbnn.data import write_dataset
from qbnn.mip import MIPNetwork, local_search, loss, predict, solve_mip, split_train
from qbnn.mip.datasets import planted
from qbnn.mip.robust import first_layer_stable, random_sign_accuracy


def test_exact_zero_training_error_on_planted():
    X, y, Xte, yte = planted(n_train=25, n_test=50, layers=[3, 2, 1], seed=3)
    net = MIPNetwork([3, 2, 1], "exact", time_limit=10).fit(X, y)
    assert net.info_["objective"] == 0
    assert net.score(X, y) == 1.0
    assert net.info_["status"] == "Optimal"


def test_exact_matches_exhaustive_integer():
    rng = np.random.default_rng(1)
    X = rng.choice([-2.0, -1.0, 1.0, 2.0], size=(7, 2))
    y = rng.choice([-1, 1], size=7)
    eps = 0.5
    best = None
    for w in itertools.product((-1, 0, 1), repeat=6):
        W1 = np.array(w[:4], float).reshape(2, 2)
        W2 = np.array(w[4:], float).reshape(1, 2)
        a1 = X @ W1.T
        if np.any(np.abs(a1) < eps):
            continue  # margin infeasible
        u = (a1 >= 0).astype(float)
        a2 = (u @ W2.T)[:, 0]
        err = int(np.sum(~(((y == 1) & (a2 >= eps)) | ((y == -1) & (a2 <= -eps)))))
        best = err if best is None else min(best, err)
    assert best is not None
    r = solve_mip(X, y, [2, 2, 1], integer=True, bias=False, eps=eps, time_limit=10, mip_gap=0)
    assert r.status == "Optimal"
    assert round(r.objective) == best
    assert all(np.all(np.isin(W, (-1, 0, 1))) for W in r.weights)


def test_local_search_never_increases():
    X, y, _, _ = planted(n_train=30, n_test=10, layers=[3, 3, 1], seed=5)
    r = local_search(X, y, [3, 3, 1], iterations=3, seed=2, time_limit=8)
    L = r["losses"]
    assert all(b <= a for a, b in zip(L, L[1:]))
    assert loss(r["weights"], r["biases"], X, y) == L[-1]


def test_splitting_groups_partition():
    X, y, Xv, yv = planted(n_train=30, n_test=30, layers=[3, 2, 1], seed=7)
    r = split_train(X, y, [3, 2, 1], max_splits=3, seed=0, time_limit=8, X_val=Xv, y_val=yv)
    for g in (r["groups"], r["final_groups"]):
        assert g.shape == (30,)
        ids = np.unique(g)
        assert np.array_equal(ids, np.arange(len(ids)))  # every point in exactly one group
    assert len(np.unique(r["final_groups"])) == r["history"][-1]["n_groups"]
    h = r["history"]
    assert h and all(k in h[0] for k in ("n_vars", "n_cons", "seconds"))
    assert [e["n_groups"] for e in h] == sorted(e["n_groups"] for e in h)


def test_robust_first_layer_unchanged_on_box_vertices():
    X, y, Xte, yte = planted(n_train=20, n_test=15, layers=[3, 2, 1], seed=11)
    rho = 0.5
    net = MIPNetwork([3, 2, 1], "exact", rho=rho, time_limit=10).fit(X, y)
    W, b = net.weights_[0], net.biases_[0]
    for P in (X, Xte[first_layer_stable(W, b, Xte, rho)]):
        base = (P @ W.T + b) >= 0
        for s in itertools.product((-1.0, 1.0), repeat=3):
            assert np.array_equal((P + rho * np.array(s)) @ W.T + b >= 0, base)
    assert first_layer_stable(W, b, X, rho).all()
    acc = random_sign_accuracy(net.weights_, net.biases_, Xte, yte)
    assert set(acc) == {0.0, 0.5, 1.0, 1.5, 2.0}


def test_time_limit_returns_incumbent_with_gap():
    X, y, _, _ = planted(n_train=120, n_test=5, layers=[6, 5, 1], seed=0)
    y = np.random.default_rng(0).choice([-1, 1], size=len(y))  # noisy: hard to prove
    r = solve_mip(X, y, [6, 5, 1], time_limit=0.5)
    assert "time" in r.status.lower()
    assert 0 <= r.gap <= 1 + 1e-9 and r.objective >= r.bound - 1e-6
    assert len(r.weights) == 2 and r.weights[0].shape == (5, 6)
    assert loss(r.weights, r.biases, X, y) <= r.objective + 1e-6


def test_save_load_roundtrip(tmp_path):
    X, y, _, _ = planted(n_train=15, n_test=5, layers=[3, 2, 1], seed=2)
    net = MIPNetwork([3, 2, 1], "exact", time_limit=5).fit(X, y)
    net.save(tmp_path / "n.h5")
    with h5py.File(tmp_path / "n.h5") as f:  # the one network file kind, canonical weight order
        assert f.attrs["format"] == "qbnn-network" and f.attrs["weight_domain"] == "real"
        assert f["weights"].dtype == np.float64 and f["weights"].shape == (2 * 4 + 3,)
        assert np.array_equal(f["weights"][:4], np.append(net.weights_[0][0], net.biases_[0][0]))
    back = MIPNetwork.load(tmp_path / "n.h5")
    assert np.array_equal(back.predict(X), net.predict(X))
    assert all(np.array_equal(a, b) for a, b in zip(back.weights_ + back.biases_, net.weights_ + net.biases_))
    assert back.info_ == json.loads(json.dumps(net.info_, default=float)) and back.method == "exact"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "qbnn", "train-mip", *args], capture_output=True, text=True, timeout=300)


def test_cli_ok_and_errors(tmp_path):
    X, y, Xte, yte = planted(n_train=15, n_test=10, layers=[3, 2, 1], seed=4)
    data = tmp_path / "d.h5"
    write_dataset(data, X, y, Xte, yte, {"encoding": "real", "classes": [0, 1]})
    netf = tmp_path / "net.yaml"
    netf.write_text("layers: [3, 2, 1]\n")
    out = tmp_path / "o.h5"
    p = _cli("--data", str(data), "--network", str(netf), "--time-limit", "5", "--out", str(out),
             "--metrics", str(tmp_path / "m.json"))
    assert p.returncode == 0, p.stderr
    import json
    s = json.loads(p.stdout.strip().splitlines()[-1])
    assert {"train_accuracy", "test_accuracy", "mip_gap", "seconds", "method", "objective"} <= set(s)
    assert s["train_accuracy"] == 1.0 and out.exists()
    assert json.loads((tmp_path / "m.json").read_text())["method"] == "mip_exact"
    p = _cli("--data", str(data), "--network", str(netf), "--method", "split", "--split-init", "one",
             "--solve-limit", "1", "--time-limit", "5", "--out", str(tmp_path / "s.h5"))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["method"] == "mip_split"
    for bad in (["--data", str(tmp_path / "missing.h5")], ["--data", str(data), "--method", "nope"],
                ["--data", str(data), "--method", "split", "--split-init", "nope"],
                ["--data", str(data), "--method", "split", "--solve-limit", "0"]):
        o2 = tmp_path / "bad.h5"
        p = _cli(*bad, "--network", str(netf), "--out", str(o2))
        assert p.returncode == 2
        assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("qbnn: error:")
        assert not o2.exists()


def _reference_exact(X, y, h, B=1.0, eps=1e-3):
    """Per-row reference of the exact [d, h, 1] model (addVar/addRow calls, no numpy assembly)."""
    import highspy

    S, d = X.shape
    m = highspy.Highs()
    m.setOptionValue("output_flag", False)
    m.setOptionValue("threads", 1)
    m.setOptionValue("mip_rel_gap", 0.0)
    nv = [0]

    def var(lb, ub, integer=False, cost=0.0):
        m.addVar(lb, ub)
        j = nv[0]
        nv[0] += 1
        if cost:
            m.changeColCost(j, cost)
        if integer:
            m.changeColIntegrality(j, highspy.HighsVarType.kInteger)
        return j

    def row(lo, hi, idx, val):
        m.addRow(lo, hi, len(idx), np.array(idx, dtype=np.int32), np.array(val, float))

    W = [[var(-1, 1) for _ in range(d)] for _ in range(h)]
    b = [var(-B, B) for _ in range(h)]
    W2 = [var(-1, 1) for _ in range(h)]
    b2 = var(-B, B)
    for s in range(S):
        M = float(np.abs(X[s]).sum()) + B + eps
        u = [var(0, 1, True) for _ in range(h)]
        z = [var(-1, 1) for _ in range(h)]
        e = var(0, 1, True, cost=1.0)
        for j in range(h):
            idx, val = W[j] + [b[j], u[j]], list(X[s]) + [1.0, -M]
            row(eps - M, np.inf, idx, val)
            row(-np.inf, -eps, idx, val)
            row(-np.inf, 0, [z[j], u[j]], [1, -1])
            row(0, np.inf, [z[j], u[j]], [1, 1])
            row(-np.inf, 1, [z[j], W2[j], u[j]], [1, -1, 1])
            row(-1, np.inf, [z[j], W2[j], u[j]], [1, -1, -1])
        M2 = h + B + eps
        if y[s] > 0:
            row(eps, np.inf, z + [b2, e], [1.0] * h + [1.0, M2])
        else:
            row(-np.inf, -eps, z + [b2, e], [1.0] * h + [1.0, -M2])
    m.run()
    return m.getInfo().objective_function_value, m.getNumCol(), m.getNumRow()


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_builder_matches_per_row_reference(seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(10, 2))
    y = rng.choice([-1, 1], size=10)
    X[1], y[1] = X[0], -y[0]  # a contradictory pair: the optimum is not zero
    obj, n_col, n_row = _reference_exact(X, y, 2)
    # one group per sample is the textbook per-sample model, row for row
    r = solve_mip(X, y, [2, 2, 1], time_limit=30, mip_gap=0, groups=np.arange(10), bias_bound=1.0)
    assert r.status == "Optimal"
    assert (r.n_vars, r.n_cons) == (n_col, n_row)
    assert round(r.objective) == round(obj) > 0
    assert r.train_loss <= r.objective  # margin model: forward loss never worse
    # default: the duplicated input shares its bits and rows -- a smaller model, same optimum
    d = solve_mip(X, y, [2, 2, 1], time_limit=30, mip_gap=0, bias_bound=1.0)
    assert d.status == "Optimal" and round(d.objective) == round(obj)
    assert d.n_binaries == r.n_binaries - 2 and d.n_cons < r.n_cons


def test_time_limit_with_warm_start_keeps_warm_network():
    X, y, _, _ = planted(n_train=150, n_test=5, layers=[6, 5, 1], seed=1)
    y = np.random.default_rng(1).choice([-1, 1], size=len(y))
    warm = local_search(X, y, [6, 5, 1], iterations=1, seed=0, time_limit=3)
    Ws, bs = warm["weights"], warm["biases"]
    # the warm network's MILP objective (margin loss; >= its forward loss when outputs lie in (-eps, eps))
    wobj = solve_mip(X, y, [6, 5, 1], fix_weights={0: (Ws[0], bs[0]), 1: (Ws[1], bs[1])}, time_limit=30).objective
    assert wobj >= loss(Ws, bs, X, y)
    r = solve_mip(X, y, [6, 5, 1], time_limit=0.3, warm=(Ws, bs))
    assert "time" in r.status.lower() and r.has_solution
    assert r.objective <= wobj + 1e-6 and loss(r.weights, r.biases, X, y) <= r.objective + 1e-6
    assert 0 <= r.gap <= 1 + 1e-9 and r.bound <= r.objective + 1e-6


def test_grouped_model_shares_outputs_and_split_loss_never_increases():
    X, y, Xv, yv = planted(n_train=60, n_test=30, layers=[4, 3, 1], seed=2)
    groups = np.unique(y, return_inverse=True)[1]
    r = solve_mip(X, y, [4, 3, 1], groups=groups, time_limit=10)
    assert r.status == "Optimal"
    assert r.n_binaries == 2 * 3 + 2  # one bit per (group, neuron), one error bit per group
    assert round(r.objective) == loss(r.weights, r.biases, X, y)  # errors counted per point
    s = split_train(X, y, [4, 3, 1], max_splits=4, seed=0, time_limit=10, solve_limit=2)
    losses = [e["train_loss"] for e in s["history"]]
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # warm start is feasible after a split
    g = s["final_groups"]
    assert all(len(np.unique(y[g == k])) == 1 for k in np.unique(g))  # class init: label-pure
    assert max(e["n_binaries"] for e in s["history"]) < 60 * 3


def test_zero_input_without_bias_is_feasible():
    X = np.array([[0.0, 0.0], [1.0, 2.0], [-2.0, 1.0], [2.0, -1.0]])
    y = np.array([1, -1, 1, -1])
    r = solve_mip(X, y, [2, 2, 1], bias=False, time_limit=10)
    assert r.has_solution and r.status == "Optimal"
    assert r.train_loss <= r.objective


def test_planted_labels_are_balanced_and_digits_pair():
    from qbnn.mip.datasets import load

    for d in (10, 100):
        _, y, _, _ = planted(n_train=400, n_test=100, layers=[d, 3, 1], seed=0)
        assert 0.2 <= np.mean(y == 1) <= 0.8
    X, y, Xt, yt = load("digits_3v8", 50, 40, seed=0)
    assert X.shape == (50, 64) and set(np.unique(y)) == {-1, 1} and np.abs(X).max() <= 1


def test_split_first_solve_stopped_by_limit_still_returns_a_network():
    X, y, _, _ = planted(n_train=300, n_test=5, layers=[40, 3, 1], seed=0)
    # init "one": the class init would solve this separable set by its LP step, not the MILP
    r = split_train(X, y, [40, 3, 1], max_splits=1, seed=0, time_limit=2, solve_limit=0.01, init="one")
    assert r["history"] and len(r["weights"]) == 2
    minority = min(np.sum(y == 1), np.sum(y == -1))
    assert loss(r["weights"], r["biases"], X, y) <= minority  # at worst the majority-class start


def test_class_split_first_step_is_the_separability_lp():
    # separable classes: the LP step returns a zero-loss network whose unit 0 has margin >= eps
    # (robustly for rho > 0), and the grouped MILP agrees that loss 0 is attainable
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (80, 6))
    y = np.where(X @ np.array([1.0, -0.5, 0.3, 0.0, 0.8, -0.2]) + 0.1 >= 0, 1, -1)
    X = X + 0.15 * y[:, None] * np.array([1.0, -0.5, 0.3, 0.0, 0.8, -0.2])  # open a margin
    for rho in (0.0, 0.02):
        r = split_train(X, y, [6, 3, 2, 1], max_splits=3, seed=0, time_limit=10, rho=rho)
        first = r["history"][0]
        assert first["status"] == "Optimal (separating LP)" and first["train_loss"] == 0
        W, b = r["weights"][0][0], r["biases"][0][0]
        assert np.all(y * (X @ W + b) - rho * np.abs(W).sum() >= 1e-3 - 1e-9)
        assert np.all(np.abs(W) <= 1) and loss(r["weights"], r["biases"], X, y) == 0
    groups = np.unique(y, return_inverse=True)[1]
    assert solve_mip(X, y, [6, 3, 1], groups=groups, time_limit=10).objective == 0
    # XOR labels: no single unit separates them, so the first step is the grouped MILP
    Xx = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]] * 3)
    yx = np.array([1, 1, -1, -1] * 3)
    r = split_train(Xx, yx, [2, 3, 1], max_splits=4, seed=0, time_limit=10)
    assert r["history"][0]["status"] != "Optimal (separating LP)"
    assert r["history"][0]["train_loss"] > 0  # class-pure groups cannot fit XOR


def test_models_with_different_thread_counts_in_one_process_all_solve():
    # HiGHS sizes one process-wide scheduler at its first run; a later model asking for
    # another thread count used to end with status 'Not Set' and return the warm start silently
    X, y, _, _ = planted(n_train=20, n_test=5, layers=[4, 3, 1], seed=2)
    for threads in (2, 1, 2):  # small: a time limit on a loaded machine would fail it otherwise
        r = solve_mip(X, y, [4, 3, 1], time_limit=60, threads=threads)
        assert r.status == "Optimal" and r.has_solution


def test_duplicate_inputs_share_units_and_the_irreducible_loss_is_the_floor():
    # +-1 inputs with many copies and conflicting labels, as binarised small images have
    from qbnn.mip.model import distinct_rows, irreducible_loss

    rng = np.random.default_rng(0)
    base = rng.choice([-1.0, 1.0], size=(6, 5))
    idx = rng.integers(0, 6, size=60)
    X = base[idx]
    y = np.where(rng.random(60) < 0.8, np.where(base[idx, 0] > 0, 1, -1), np.where(base[idx, 0] > 0, -1, 1))
    gid, first = distinct_rows(X)
    assert np.array_equal(X[first][gid], X) and len(first) == len(np.unique(X, axis=0))
    assert list(gid[np.sort(first)]) == list(range(len(first)))  # numbered by first occurrence
    floor = round(irreducible_loss(X, y, 1).sum(), 6)
    counts = [(np.sum(y[gid == g] == 1), np.sum(y[gid == g] == -1)) for g in range(len(first))]
    assert floor == sum(min(p, n) for p, n in counts) > 0
    # generous limits: a budget, not a timing (a loaded machine needs minutes for the per-sample model)
    exact = solve_mip(X, y, [5, 2, 1], time_limit=300, mip_gap=0)
    per_sample = solve_mip(X, y, [5, 2, 1], time_limit=300, mip_gap=0, groups=np.arange(60))
    assert exact.status == per_sample.status == "Optimal"
    assert round(exact.objective) == round(per_sample.objective) >= floor
    assert exact.n_binaries < per_sample.n_binaries
    # label 0 is x[0]'s sign, so one unit separates the majorities: the floor is the optimum,
    # and class-init splitting reaches it at its LP step
    assert round(exact.objective) == floor
    s = split_train(X, y, [5, 3, 1], max_splits=4, seed=0, time_limit=10)
    assert s["history"][0]["status"] == "Optimal (separating LP)" and len(s["history"]) == 1
    assert loss(s["weights"], s["biases"], X, y) == floor
    g = s["final_groups"]
    assert all(len(np.unique(g[gid == k])) == 1 for k in range(len(first)))  # copies stay together
    # local search works on the per-distinct model too (fixed activations given per sample)
    ls = local_search(X, y, [5, 3, 1], iterations=2, seed=1, time_limit=10)
    assert ls["losses"][-1] >= floor and all(b <= a for a, b in zip(ls["losses"], ls["losses"][1:]))
