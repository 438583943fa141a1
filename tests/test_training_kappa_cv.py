"""``train(kappa="cv")`` / ``qbnn train --kappa cv``: the hinge margin chosen by k-fold cross-validation."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from qbnn.data.store import write_dataset
from qbnn.errors import QbnnError
from qbnn.topology import Topology
from qbnn.training import kappa_cv, train
from qbnn.training.kappa_cv import default_kappa, kappa_candidates, select_kappa, stratified_folds
from qbnn.training.train import check_kappa


def _noisy_task(seed: int, S: int = 90, d: int = 8):
    """A 3-input majority rule with 20 % label noise."""
    rng = np.random.default_rng(seed)
    X = rng.choice(np.array([-1, 1], np.int8), size=(S, d))
    y = np.where(X[:, 0] + X[:, 1] + X[:, 2] > 0, 1, -1)
    return X, np.where(rng.random(S) < 0.2, -y, y).astype(np.int8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=80), st.integers(2, 5), st.integers(0, 10**6))
def test_folds_cover_every_sample_once_and_are_stratified(labels, k, seed):
    y = np.array(labels)
    fold = stratified_folds(y, k, seed)
    assert fold.shape == y.shape and fold.min() >= 0 and fold.max() < k
    sizes = np.bincount(fold, minlength=k)
    assert sizes.max() - sizes.min() <= 1  # the deal continues across labels
    for c in np.unique(y):  # each label is spread as evenly as it can be
        per = np.bincount(fold[y == c], minlength=k)
        assert per.max() - per.min() <= 1
    np.testing.assert_array_equal(stratified_folds(y, k, seed), fold)


def test_candidates_follow_the_fan_in_rule():
    assert default_kappa(Topology.layered([23, 16, 1])) == 3.0
    assert kappa_candidates(Topology.layered([23, 16, 1])) == [3.0, 5.0, 6.0]  # 4.5 rounds half up
    assert kappa_candidates(Topology.layered([64, 32, 10])) == [5.0, 8.0, 10.0]
    assert kappa_candidates(Topology.layered([4, 1])) == [1.0, 2.0]  # κ0 = 1: 1.5 and 2 both give 2


def test_fold_runs_never_see_their_validation_fold(monkeypatch):
    X, y = _noisy_task(1)
    topo = Topology.layered([8, 3, 1])
    fold = stratified_folds(y, 3, 5)
    seen = []
    real = kappa_cv.TrainingProblem

    def spy(topology, Xf, yf, *a, **k):
        seen.append(Xf.copy())
        return real(topology, Xf, yf, *a, **k)

    monkeypatch.setattr(kappa_cv, "TrainingProblem", spy)
    choice = select_kappa(topo, X, y, seed=5, steps=60)
    assert len(seen) == 3 * len(kappa_candidates(topo)) and choice.folds == 3
    for i, Xf in enumerate(seen):  # runs go fold by fold, every candidate on the same fit share
        np.testing.assert_array_equal(Xf, X[fold != i // len(kappa_candidates(topo))])


def test_choice_is_the_best_mean_score_ties_to_the_smaller_kappa():
    X, y = _noisy_task(2)
    topo = Topology.layered([8, 3, 1])
    choice = select_kappa(topo, X, y, seed=0, steps=90, candidates=[1, 2, 4])
    assert set(choice.scores) == {1.0, 2.0, 4.0}
    for c, s in choice.scores.items():  # the score is the mean of the per-fold validation accuracies
        assert s == pytest.approx(np.mean([r["val_accuracy"] for r in choice.runs if r["kappa"] == c]))
    best = max(choice.scores.values())
    assert choice.kappa == min(c for c, s in choice.scores.items() if s == best)
    again = select_kappa(topo, X, y, seed=0, steps=90, candidates=[1, 2, 4])
    assert again.scores == choice.scores and again.kappa == choice.kappa  # step budget: deterministic
    tied = select_kappa(topo, X, y, seed=0, steps=90, candidates=[3, 3.0])
    assert list(tied.scores) == [3.0]


def test_too_few_samples_keep_the_rule():
    X, y = _noisy_task(3, S=5)
    choice = select_kappa(Topology.layered([8, 2, 1]), X, y, seed=0, steps=10)
    assert choice.folds == 0 and choice.kappa == 1.0 and choice.scores == {}


def test_train_with_cv_kappa_is_deterministic_and_reports_its_choice():
    X, y = _noisy_task(4)
    topo = Topology.layered([8, 3, 1])
    r = train(topo, X, y, steps=400, seed=1, kappa="cv", block_size=4)
    assert r.info["kappa"] in kappa_candidates(topo) and r.info["cv_folds"] == 3
    assert set(r.info["kappa_cv"]) == {f"{c:g}" for c in kappa_candidates(topo)}
    assert r.training_loss == topo.training_loss(r.weights, X, y)  # the documented loss by a fresh pass
    assert r.info["block_solves"] <= 400 - int(0.4 * 400)  # the fold runs used their share of the steps
    again = train(topo, X, y, steps=400, seed=1, kappa="cv", block_size=4)
    np.testing.assert_array_equal(again.weights, r.weights)
    none = train(topo, X, y, steps=50, seed=1, kappa="cv", surrogate="none")  # no hinge: nothing to choose
    assert none.info["kappa"] == 0.0 and "kappa_cv" not in none.info


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "abc", "cv2"])
def test_bad_kappa_is_refused(bad):
    with pytest.raises(QbnnError, match="kappa"):
        check_kappa(bad)
    assert check_kappa("cv") == "cv" and check_kappa("2.5") == 2.5 and check_kappa(None) is None


def test_cli_kappa_cv_and_a_bad_value(tmp_path, capsys):
    X, y = _noisy_task(5, S=80)
    data = tmp_path / "d.h5"
    write_dataset(data, X[:60], y[:60], X[60:], y[60:], {"source": "test", "classes": json.dumps([-1, 1])})
    net = tmp_path / "n.yaml"
    net.write_text("layers: [8, 3, 1]\n")
    out = tmp_path / "net.h5"
    base = ["train", "--data", str(data), "--network", str(net), "--steps", "120", "--block-size", "4", "--out", str(out)]
    rc = main(base + ["--kappa", "wide"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error: ") and "--kappa" in err[0]
    assert not out.exists()
    assert main(base + ["--kappa", "cv"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["kappa"] in kappa_candidates(Topology.layered([8, 3, 1])) and summary["cv_folds"] == 3
    assert out.exists()


def test_estimator_passes_kappa_through():
    from qbnn.estimator import QuboBNNClassifier

    X, y = _noisy_task(6)
    kw = dict(topology={"layers": [8, 3, 1]}, solver="train", time_limit=0.5, random_state=0, strategy="lns")
    clf = QuboBNNClassifier(kappa="cv", **kw).fit(X, y)
    assert clf.get_params()["kappa"] == "cv" and clf.predict(X).shape == (len(y),)
    with pytest.raises(ValueError, match="kappa"):
        QuboBNNClassifier(kappa="wide", **kw).fit(X, y)


def test_unseeded_final_run_starts_from_the_chosen_kappas_best_fold_network():
    X, y = _noisy_task(7)
    topo = Topology.layered([8, 3, 1])
    choice = select_kappa(topo, X, y, seed=2, steps=60)  # what train gives the folds of 150 steps (40 %)
    best = max(r["val_accuracy"] for r in choice.runs if r["kappa"] == choice.kappa)
    assert choice.start is not None and choice.start.shape == (topo.n_weights,)
    assert any(r["fold"] == choice.start_fold and r["val_accuracy"] == best for r in choice.runs
               if r["kappa"] == choice.kappa)
    r = train(topo, X, y, steps=150, seed=2, kappa="cv")  # same seed and share: the same fold runs
    assert r.info["cv_start_fold"] == choice.start_fold
    assert r.warm_start_loss == topo.training_loss(choice.start, X, y)  # the final run's start
    assert r.training_loss <= r.warm_start_loss
    seeded = train(topo, X, y, steps=150, seed=2, kappa="cv", warm_start="greedy")  # a warm start is kept
    assert "cv_start_fold" not in seeded.info
