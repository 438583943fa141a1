"""QuboBNNClassifier: sklearn contract, label handling, cross-validation, dropout option."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_estimator

from qbnn.estimator import QuboBNNClassifier, binarise_pm1

# Expected failures of sklearn's generic checks (documented in docs/dropout.md):
# check_classifiers_train demands > 83 % training accuracy on real-valued blobs, which a
# [d, 4, 1] sign network on inputs binarised at 0 does not reach with a few greedy steps.
EXPECTED_FAILED_CHECKS = {
    "check_classifiers_train": "inputs are binarised at 0; a tiny sign network cannot reach 83% on blobs",
}


def test_sklearn_estimator_checks():
    est = QuboBNNClassifier(solver="greedy", time_limit=0.5)
    results = check_estimator(est, on_fail=None, expected_failed_checks=EXPECTED_FAILED_CHECKS)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert not failed, failed
    assert any(r["status"] == "passed" for r in results)


def _xor_like(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.choice([-1, 1], size=(n, 4))
    y = np.where(X[:, 0] + X[:, 1] + X[:, 2] > 0, "yes", "no")
    return X, y


def test_binary_string_labels_and_predict():
    X, y = _xor_like()
    clf = QuboBNNClassifier(solver="greedy").fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.n_features_in_ == 4
    assert clf.topology_.n_outputs == 1
    pred = clf.predict(X)
    assert set(pred) <= {"no", "yes"}
    assert clf.score(X, y) == np.mean(pred == y)
    assert clf.score(X, y) >= 0.9  # majority of 3 inputs is representable and easy


def test_multiclass_one_output_per_class():
    rng = np.random.default_rng(1)
    X = rng.choice([-1, 1], size=(30, 3))
    y = np.array([10, 20, 30])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)]
    clf = QuboBNNClassifier(solver="greedy").fit(X, y)
    assert clf.topology_.n_outputs == 3
    assert set(clf.predict(X)) <= {10, 20, 30}
    assert clf.decision_function(X).shape == (30, 3)


def test_binarisation_rule():
    X = np.array([[-1, 1], [1, -1]])
    np.testing.assert_array_equal(binarise_pm1(X), X)
    np.testing.assert_array_equal(binarise_pm1(np.array([[0.0, -0.2], [3.0, 1.0]])), [[1, -1], [1, 1]])
    Xr = np.array([[0.5, -2.0], [-0.1, 0.0]] * 5)
    y = np.array([0, 1] * 5)
    clf = QuboBNNClassifier(solver="greedy").fit(Xr, y)
    np.testing.assert_array_equal(clf.predict(Xr), clf.predict(binarise_pm1(Xr)))


def test_topology_spec_and_mismatch(tmp_path):
    X, y = _xor_like()
    clf = QuboBNNClassifier(topology={"layers": [4, 2, 1]}, solver="greedy").fit(X, y)
    assert clf.topology_.n_weights == 4 * 2 + 2 + 2 + 1
    p = tmp_path / "t.yaml"
    p.write_text("layers: [4, 1]\n")
    assert QuboBNNClassifier(topology=str(p), solver="greedy").fit(X, y).topology_.n_neurons == 1
    with pytest.raises(ValueError):
        QuboBNNClassifier(topology={"layers": [5, 1]}, solver="greedy").fit(X, y)
    with pytest.raises(ValueError):
        QuboBNNClassifier(topology={"layers": [4, 2]}, solver="greedy").fit(X, y)  # 2 outputs, binary task


def test_cross_val_score_tiny():
    X, y = _xor_like(30)
    scores = cross_val_score(QuboBNNClassifier(solver="greedy"), X, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))


def test_dropout_option():
    X, y = _xor_like()
    clf = QuboBNNClassifier(solver="greedy", dropout={"R": 2, "K": 2, "p": 0.5, "beta": 0.5}).fit(X, y)
    assert len(clf.dropout_rounds_) == 2
    assert clf.penalties_.shape == (clf.topology_.n_weights,)
    with pytest.raises(ValueError):
        QuboBNNClassifier(solver="greedy", dropout={"rounds": 2}).fit(X, y)


def test_auto_solver_runs():
    X, y = _xor_like(20)
    clf = QuboBNNClassifier(solver="auto", time_limit=0.3).fit(X, y)
    assert clf.weights_.shape == (clf.topology_.n_weights,)
    assert set(np.unique(clf.weights_)) <= {-1, 1}
