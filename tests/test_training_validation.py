"""``train(validation=FRACTION)`` / ``qbnn train --validation``: the opt-in validation early stop."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from qbnn.errors import QbnnError
from qbnn.topology import Topology
from qbnn.training import TrainingProblem, train
from qbnn.training.validation import IncumbentValidator, check_fraction, validation_split


def _noisy_task(seed: int, S: int = 80, d: int = 8, classes: int = 1):
    """A rule plus 20 % label noise, so that fitting the training set is not the same as generalising."""
    rng = np.random.default_rng(seed)
    X = rng.choice(np.array([-1, 1], np.int8), size=(S, d))
    if classes == 1:
        y = np.where(X[:, 0] + X[:, 1] + X[:, 2] > 0, 1, -1)
        flip = rng.random(S) < 0.2
        return X, np.where(flip, -y, y).astype(np.int8)
    y = ((X[:, :3] > 0).sum(axis=1) % classes).astype(np.int64)
    noise = rng.random(S) < 0.2
    return X, np.where(noise, rng.integers(classes, size=S), y)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=2, max_size=60), st.floats(0.05, 0.95), st.integers(0, 10**6))
def test_split_is_stratified_disjoint_and_seed_determined(labels, fraction, seed):
    y = np.array(labels)
    if not any((y == c).sum() >= 2 and round(fraction * (y == c).sum()) >= 1 for c in np.unique(y)):
        with pytest.raises(QbnnError, match="no validation sample"):
            validation_split(y, fraction, seed)
        return
    fit, val = validation_split(y, fraction, seed)
    assert len(np.intersect1d(fit, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, val])), np.arange(len(y)))
    for c in np.unique(y):  # stratified: each class gives round(f·n) (all but one at most) to validation
        n = int((y == c).sum())
        assert int((y[val] == c).sum()) == min(n - 1, int(round(fraction * n)))
        assert (y[fit] == c).any()
    again = validation_split(y, fraction, seed)
    np.testing.assert_array_equal(again[1], val)


def test_split_depends_on_the_seed_and_handles_label_rows():
    y = np.repeat([0, 1], 50)
    assert not np.array_equal(validation_split(y, 0.2, 0)[1], validation_split(y, 0.2, 1)[1])
    Y = np.array([[1, -1], [1, -1], [-1, 1], [-1, 1], [1, 1], [1, 1]] * 5)  # several outputs: rows are strata
    fit, val = validation_split(Y, 0.2, 3)
    assert len(val) == 6 and all((Y[val] == r).all(axis=1).sum() == 2 for r in ([1, -1], [-1, 1], [1, 1]))


@pytest.mark.parametrize("bad", [1.0, 1.5, float("nan")])
def test_bad_fraction_is_refused(bad):
    with pytest.raises(QbnnError, match="validation fraction"):
        check_fraction(bad)
    assert check_fraction(-0.3) == check_fraction(0) == check_fraction(None) == 0.0


def test_validator_keeps_best_accuracy_then_lowest_objective_then_earliest():
    X, y = _noisy_task(2, S=40)
    topo = Topology.layered([8, 3, 1])
    problem = TrainingProblem(topo, X[:30], y[:30])
    rng = np.random.default_rng(0)
    ws = [rng.choice(np.array([-1, 1], np.int8), size=topo.n_weights) for _ in range(60)]
    v = IncumbentValidator(topo, X[30:], y[30:], problem.objective)
    for i, w in enumerate(ws):
        v.offer(i, 0.1 * i, w)
    keys = [(-topo.accuracy(w, X[30:], y[30:]), float(problem.objective(w)), i) for i, w in enumerate(ws)]
    best = min(keys)
    assert v.kept.index == best[2] and v.kept.accuracy == -best[0] and v.kept.objective == best[1]
    np.testing.assert_array_equal(v.kept.weights, ws[best[2]])


@pytest.mark.parametrize("strategy", ["lns", "lns-pt", "consensus", "pt"])
@pytest.mark.parametrize("classes", [1, 3])
def test_reported_validation_accuracy_is_a_fresh_forward_pass(strategy, classes):
    X, y = _noisy_task(3, classes=classes)
    topo = Topology.layered([8, 4, classes])
    runs = [train(topo, X, y, strategy=strategy, steps=200, seed=4, block_size=4, validation=0.25) for _ in range(2)]
    r = runs[0]
    fit, val = validation_split(y, 0.25, 4)
    assert r.info["validation_accuracy"] == topo.accuracy(r.weights, X[val], y[val])
    assert r.training_loss == TrainingProblem(topo, X[fit], y[fit]).objective(r.weights)
    assert r.info["validation_samples"] == len(val) and r.info["fit_samples"] == len(fit)
    assert 0 <= r.info["kept_incumbent"]["index"] < r.info["validation_incumbents"]
    np.testing.assert_array_equal(runs[1].weights, r.weights)  # same seed + step budget


@pytest.mark.parametrize("warm", ["greedy", "ste"])
def test_seed_is_incumbent_zero_so_validation_never_drops_below_it(warm):
    X, y = _noisy_task(5, S=120)
    topo = Topology.layered([8, 4, 1])
    r = train(topo, X, y, warm_start=warm, steps=400, seed=1, block_size=4, validation=0.2)
    fit, val = validation_split(y, 0.2, 1)
    from qbnn.training.train import warm_start_weights

    w0 = warm_start_weights(warm, TrainingProblem(topo, X[fit], y[fit]), 1)
    assert r.info["validation_accuracy"] >= topo.accuracy(w0, X[val], y[val])


def test_validation_off_is_the_old_result():
    X, y = _noisy_task(6, classes=3)
    topo = Topology.layered([8, 4, 3])
    old = train(topo, X, y, steps=300, seed=2, block_size=4)
    for off in (0.0, -0.5, None):
        r = train(topo, X, y, steps=300, seed=2, block_size=4, validation=off)
        np.testing.assert_array_equal(r.weights, old.weights)
        assert r.training_loss == old.training_loss and "validation_accuracy" not in r.info


def _files(tmp_path):
    from qbnn.data.store import write_dataset

    X, y = _noisy_task(7, S=60)
    path = tmp_path / "d.h5"
    write_dataset(path, X[:40], y[:40], X[40:], y[40:], {"source": "test", "classes": json.dumps([-1, 1])})
    net = tmp_path / "n.yaml"
    net.write_text("layers: [8, 4, 1]\n")
    return path, net


def test_cli_validation_json_and_bad_fractions(tmp_path, capsys):
    data, net = _files(tmp_path)
    out = tmp_path / "net.h5"
    base = ["train", "--data", str(data), "--network", str(net), "--steps", "50", "--block-size", "4", "--out", str(out)]
    for bad in ("1", "1.2", "nan"):
        rc = main(base + ["--validation", bad])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error: ") and "validation" in err[0]
        assert not out.exists()
    assert main(base + ["--validation", "0.25"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= summary["validation_accuracy"] <= 1 and summary["validation_fraction"] == 0.25
    assert set(summary["kept_incumbent"]) == {"index", "step", "seconds"} and out.exists()


def test_estimator_passes_validation_through():
    from qbnn.estimator import QuboBNNClassifier

    X, y = _noisy_task(8)
    kw = dict(topology={"layers": [8, 3, 1]}, solver="train", time_limit=0.3, random_state=0, strategy="lns")
    clf = QuboBNNClassifier(validation=0.25, **kw).fit(X, y)
    assert clf.get_params()["validation"] == 0.25 and clf.predict(X).shape == (len(y),)
    with pytest.raises(ValueError, match="validation fraction"):
        QuboBNNClassifier(validation=1.0, **kw).fit(X, y)
