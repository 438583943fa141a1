"""Tests for qbnn.mip (mixed-integer training, Kurtz & Bah)."""
from __future__ import annotations

import itertools
import subprocess
import sys

import h5py
import numpy as np
import pytest

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
    with h5py.File(tmp_path / "n.h5") as f:
        assert f["layer0/weights"].shape == (2, 3)
    back = MIPNetwork.load(tmp_path / "n.h5")
    assert np.array_equal(back.predict(X), net.predict(X))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "qbnn", "train-mip", *args], capture_output=True, text=True, timeout=60)


def test_cli_ok_and_errors(tmp_path):
    X, y, Xte, yte = planted(n_train=15, n_test=10, layers=[3, 2, 1], seed=4)
    data = tmp_path / "d.h5"
    with h5py.File(data, "w") as f:
        f["train/X"], f["train/y"], f["test/X"], f["test/y"] = X, y, Xte, yte
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
    assert json.loads((tmp_path / "m.json").read_text())["method"] == "exact"
    for bad in (["--data", str(tmp_path / "missing.h5")], ["--data", str(data), "--method", "nope"]):
        o2 = tmp_path / "bad.h5"
        p = _cli(*bad, "--network", str(netf), "--out", str(o2))
        assert p.returncode == 2
        assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("qbnn: error:")
        assert not o2.exists()
