"""MIP training options (paper B): bias and weight bounds, the weight regulariser, robust metrics,
split initialisation / k-means starts / batches / validation selection, and their CLI."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from qbnn.data import write_dataset
from qbnn.mip import MIPNetwork, loss, solve_mip, split_train
from qbnn.mip.datasets import planted
from qbnn.mip.model import bias_bounds
from qbnn.mip.robust import robust_metrics

EPS = 1e-3


def at_least_3_of_5():
    X = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    return X, np.where(X.sum(axis=1) >= 3, 1, -1)


def brute_force_linear(X, y, P, B, eps=EPS):
    """Fewest margin errors of sign(w.x + b): integer w in [-P, P]^d, real b in [-B, B]. For fixed w
    the best b is one where a point sits exactly on its margin, or a bound."""
    best = len(y)
    for w in itertools.product(range(-P, P + 1), repeat=X.shape[1]):
        s = X @ np.array(w, float)
        cands = np.clip(np.concatenate([eps - s, -eps - s, [-B, B, 0.0]]), -B, B)
        for b in np.unique(cands):
            a = s + b
            err = int(np.sum(~(((y == 1) & (a >= eps - 1e-12)) | ((y == -1) & (a <= -eps + 1e-12)))))
            best = min(best, err)
    return best


@pytest.mark.parametrize("B, errors", [(1.0, 10), (3.0, 0), (None, 0)])
def test_bias_bound_at_least_3_of_5(B, errors):
    # "at least 3 of 5 on" needs a bias near -2.5: bound 1 leaves 10 of 32 wrong, 3 or no bound none
    X, y = at_least_3_of_5()
    r = solve_mip(X, y, [5, 1], integer=True, bias_bound=B, mip_gap=0, time_limit=60)
    assert r.status == "Optimal"
    assert round(r.objective) == errors == brute_force_linear(X, y, 1, B if B is not None else 6.0)
    assert r.train_loss == errors
    assert np.all(np.abs(r.biases[0]) <= r.bias_bounds[0] + 1e-9)


def test_default_bias_bound_restricts_nothing():
    # per layer P * max|x|_1 + eps (first) and P * width + eps (deeper): a larger |b| only repeats
    # what the bound already gives (a constant sign on the training data)
    X = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    assert bias_bounds([3, 4, 2, 1], X, None, 2.0, 0.01) == pytest.approx([2 * 4 + 0.01, 2 * 4 + 0.01, 2 * 2 + 0.01])
    assert bias_bounds([3, 4, 1], X, 0.5, 2.0, 0.01) == [0.5, 0.5]
    assert bias_bounds([3, 4, 1], X, None, 1.0, 0.01, bias=False) == [0.0, 0.0]


@pytest.mark.parametrize("P", [1, 2, 3])
def test_integer_weight_bound_matches_brute_force(P):
    X = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    y = np.where(X @ np.array([3.0, 2.0, 1.0, 1.0]) > 0, 1, -1)  # a weighted vote (odd sums, never 0)
    r = solve_mip(X, y, [4, 1], integer=True, weight_bound=P, bias=False, mip_gap=0, time_limit=60)
    assert r.status == "Optimal"
    assert round(r.objective) == brute_force_linear(X, y, P, 0.0)
    assert np.all(np.isin(r.weights[0], np.arange(-P, P + 1)))
    if P == 3:
        assert r.objective == 0
    if P == 1:
        assert r.objective > 0


def test_reg_weight_is_exact_for_integer_weights():
    # with the bias free, 0 errors needs every weight at 1 (five ones, sum of squares 5): any other
    # zero-error weights are larger, so the optimum is 0 errors + 0.01 * 5
    X, y = at_least_3_of_5()
    r = solve_mip(X, y, [5, 1], integer=True, weight_bound=3, reg_weight=0.01, mip_gap=0, time_limit=60)
    assert r.status == "Optimal" and r.train_loss == 0
    assert r.objective == pytest.approx(0.05, abs=1e-6)
    assert np.array_equal(r.weights[0], np.ones((1, 5)))
    # a large weight penalty trades errors for smaller weights: all-zero weights, the majority class
    big = solve_mip(X, y, [5, 1], integer=True, weight_bound=3, reg_weight=10.0, mip_gap=0, time_limit=60)
    assert np.all(big.weights[0] == 0) and big.objective == pytest.approx(min(np.sum(y == 1), np.sum(y == -1)))


def test_reg_weight_continuous_is_within_the_tangent_envelope():
    X, y, _, _ = planted(n_train=30, n_test=5, layers=[3, 1], seed=1)
    lam, P = 0.5, 1.0
    r = solve_mip(X, y, [3, 1], reg_weight=lam, mip_gap=0, time_limit=60)
    sq = float(np.sum(r.weights[0] ** 2))
    errors = r.objective - lam * sq
    # envelope below w**2 by at most (P/16)**2 per weight, so the objective is within that of errors + lam*|W|^2
    assert -1e-6 <= lam * sq + round(errors) - r.objective <= lam * 3 * (P / 16) ** 2 + 1e-6
    assert r.train_loss <= round(errors) + 1e-9


def test_robust_metrics_known_answer():
    # one input, w = 1, b = 0: points at -1 and +1 keep their side for attacks below 1
    Ws, bs = [np.array([[1.0]])], [np.array([0.0])]
    X, y = np.array([[-1.0], [1.0]]), np.array([-1, 1])
    m = robust_metrics(Ws, bs, X, y, (0.0, 0.5, 1.0, 1.5))
    assert m["certified_accuracy_e0"] == m["certified_accuracy_e0.5"] == 1.0
    assert m["certified_accuracy_e1"] == 0.5  # x = +1 reaches a = 0 (still +1), x = -1 can reach 0 -> +1
    assert m["certified_accuracy_e1.5"] == 0.0
    assert m["attack_accuracy_e0"] == m["attack_accuracy_e0.5"] == 1.0
    assert all(m[f"certified_accuracy_e{e:g}"] <= m[f"attack_accuracy_e{e:g}"] for e in (0, 0.5, 1, 1.5))


def test_robust_training_certifies_the_training_radius():
    X, y, _, _ = planted(n_train=30, n_test=5, layers=[4, 2, 1], seed=3)
    net = MIPNetwork([4, 2, 1], "exact", rho=0.3, time_limit=60).fit(X, y)
    m = robust_metrics(net.weights_, net.biases_, X, y, (0.3,))
    # every training point's first layer is stable on its 0.3-ball, so certified = clean accuracy
    assert m["certified_accuracy_e0.3"] == pytest.approx(net.score(X, y))


def test_split_paper_mode_batches_kmeans_and_validation_selection(monkeypatch):
    import qbnn.mip.splitting as splitting

    seen = []
    real = splitting.solve_mip

    def recording(X, y, layers, **kw):  # the real solver; records which points each solve saw
        seen.append(np.asarray(X).copy())
        return real(X, y, layers, **kw)

    monkeypatch.setattr(splitting, "solve_mip", recording)
    X, y, Xv, yv = planted(n_train=60, n_test=60, layers=[4, 2, 1], seed=4)
    kw = dict(max_splits=3, seed=2, time_limit=1e6, solve_limit=60, init="one", batch_size=20, kmeans_init=25,
              integer=True, X_val=Xv, y_val=yv)
    r = split_train(X, y, [4, 2, 1], **kw)
    h = r["history"]
    assert 1 <= len(h) <= 4 and [e["split"] for e in h] == list(range(len(h)))
    assert h[0]["n_groups"] == 1 and all(b["n_groups"] == a["n_groups"] + 1 for a, b in zip(h, h[1:]))
    # every solve saw a batch of 20 training points, a fresh one each time
    assert len(seen) == len(h) and all(len(b) == 20 for b in seen)
    assert all(set(map(tuple, b)) <= set(map(tuple, X)) for b in seen)
    if len(seen) > 1:
        assert not np.array_equal(seen[0], seen[1])
    # the kept network is the best on the validation data
    from qbnn.mip import predict

    best = max(e["val_accuracy"] for e in h)
    assert r["best_val"] == best
    assert np.mean(predict(r["weights"], r["biases"], Xv) == yv) == pytest.approx(best)
    assert all(np.all(np.isin(W, (-1, 0, 1))) for W in r["weights"])
    # same seed, no binding time limit: the same batches, splits and networks
    first = [b.copy() for b in seen]
    seen.clear()
    again = split_train(X, y, [4, 2, 1], **kw)
    assert all(np.array_equal(a, b) for a, b in zip(first, seen)) and len(first) == len(seen)
    assert [e["train_loss"] for e in again["history"]] == [e["train_loss"] for e in h]
    assert np.array_equal(again["final_groups"], r["final_groups"])


def test_split_max_splits_and_init():
    X, y, _, _ = planted(n_train=60, n_test=5, layers=[4, 3, 1], seed=6)
    for init, splits in (("one", 0), ("one", 2), ("class", 1)):
        r = split_train(X, y, [4, 3, 1], max_splits=splits, init=init, seed=0, time_limit=30, solve_limit=5)
        assert len(r["history"]) <= splits + 1
        assert r["history"][0]["n_groups"] == (1 if init == "one" else 2)
    one = split_train(X, y, [4, 3, 1], max_splits=0, init="one", seed=0, time_limit=30)
    # one group shares one output: the best is the majority class
    assert loss(one["weights"], one["biases"], X, y) == min(np.sum(y == 1), np.sum(y == -1))


def _cli(capsys, *args):
    """Run ``qbnn ARGS`` in this process -> (exit status, last stdout line as JSON or None, stderr)."""
    from qbnn.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and lines else None), err


def test_cli_bias_bound_weights_planted_width_and_evaluate(tmp_path, capsys):
    X, y = at_least_3_of_5()
    data = tmp_path / "vote.h5"
    write_dataset(data, X, y, X, y, {"encoding": "real", "classes": [0, 1]})
    net = tmp_path / "net.yaml"
    net.write_text("layers: [5, 1]\n")
    acc = {}
    for B in ("1", "3"):
        out = tmp_path / f"b{B}.h5"
        code, s, err = _cli(capsys, "train-mip", "--data", str(data), "--network", str(net), "--weights", "integer",
                            "--bias-bound", B, "--mip-gap", "0", "--out", str(out))
        assert code == 0, err
        acc[B] = s["train_accuracy"]
        assert s["weights"] == "integer" and s["bias_bound"] == float(B) and s["constant_predictor"] is False
        # evaluate accepts the MIP network and agrees with train-mip
        code, _, err = _cli(capsys, "evaluate", str(out), "--data", str(data), "--out", str(tmp_path / f"e{B}.json"))
        assert code == 0, err
        ev = json.loads((tmp_path / f"e{B}.json").read_text())
        assert ev["train_accuracy"] == s["train_accuracy"] and ev["method"] == "mip_exact"
        assert "certified_accuracy_e0.5" in ev
    assert acc == {"1": 22 / 32, "3": 1.0}
    # planted data get the topology's input width
    wide = tmp_path / "wide.yaml"
    wide.write_text("layers: [10, 3, 1]\n")
    code, s, err = _cli(capsys, "train-mip", "--dataset", "planted", "--network", str(wide), "--method", "split",
                        "--n-train", "30", "--robust", "0.1", "--time-limit", "3", "--out", str(tmp_path / "p.h5"))
    assert code == 0, err
    assert s["layers"] == [10, 3, 1] and "attack_accuracy_e2" in s and "certified_accuracy_e1.5" in s
    assert MIPNetwork.load(tmp_path / "p.h5").info_["history"]  # per-split history saved
    for bad in (["--batch-size", "0"], ["--batch-size", "papers"], ["--weights", "integer", "--weight-bound", "1.5"],
                ["--bias-bound", "-1"], ["--kmeans-init", "0"], ["--attack", "nan"]):
        o = tmp_path / "bad.h5"
        code, _, err = _cli(capsys, "train-mip", "--data", str(data), "--network", str(net), *bad, "--out", str(o))
        assert code == 2 and err.startswith("qbnn: error:") and len(err.strip().splitlines()) == 1, (bad, err)
        assert not o.exists()
    # a subprocess too: the real entry point's exit status and one-line error
    p = subprocess.run([sys.executable, "-m", "qbnn", "train-mip", "--data", str(data), "--network", str(net),
                        "--batch-size", "0", "--out", str(tmp_path / "bad.h5")], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("qbnn: error: --batch-size")
