"""One dataset reader and one label coding for QUBO, MIP, baselines and evaluation (qbnn.task)."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from qbnn.data import load_dataset
from qbnn.errors import QbnnError
from qbnn.task import check_labels, code_labels, load_task, outputs_for_labels

labels = st.lists(st.integers(-1, 4), min_size=1, max_size=30).map(np.array)


@settings(max_examples=200, deadline=None)
@given(labels, st.integers(1, 5))
def test_coding_is_idempotent_and_only_recodes_two_classes(y, n_outputs):
    once = code_labels(y, n_outputs)
    np.testing.assert_array_equal(code_labels(once, n_outputs), once)
    if not np.array_equal(once, y):  # recoded: two classes, mapped order-preserving onto the convention
        assert len(np.unique(y)) <= 2 and set(once.tolist()) <= ({-1, 1} if n_outputs == 1 else {0, 1})
        np.testing.assert_array_equal(np.argsort(once, kind="stable"), np.argsort(y, kind="stable"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([-1, 1]), min_size=1, max_size=30).map(np.array))
def test_two_class_round_trip(pm1):
    as_index = code_labels(pm1, 2)
    assert set(as_index.tolist()) <= {0, 1}
    np.testing.assert_array_equal(check_labels(1, as_index), pm1 if (pm1 == -1).any() else as_index * 0 + 1)
    np.testing.assert_array_equal(check_labels(1, pm1), pm1)  # already in the convention: unchanged


@pytest.mark.parametrize("ys, n", [(([1, -1], [1]), 1), (([0, 1], [1, 1]), 1), (([1, 1], []), 1),
                                   (([0, 2, 1], [1]), 3), (([3], [0]), 4)])
def test_outputs_for_labels(ys, n):
    assert outputs_for_labels(*[np.array(v, dtype=int) for v in ys]) == n


def test_labels_that_fit_no_network_are_refused():
    with pytest.raises(QbnnError, match="±1"):
        outputs_for_labels(np.array([-1, 0, 1]))
    with pytest.raises(QbnnError, match="±1 for a network with one output"):
        check_labels(1, np.array([0, 1, 2]))
    with pytest.raises(QbnnError, match="class indices 0..2"):
        check_labels(3, np.array([0, 3]))


def _plain(path, **arrays):
    """An HDF5 dataset another tool wrote: plain arrays, no format attribute."""
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
    return path


def test_plain_file_is_read_by_the_one_loader(tmp_path):
    X = np.array([[1, -1], [-1, 1], [1, 1]], dtype=np.int64)
    p = _plain(tmp_path / "p.h5", **{"train/X": X, "train/y": np.array([0, 1, 1])})
    Xtr, ytr, Xte, yte, attrs = load_dataset(p)
    assert Xtr.dtype == np.int8 and np.array_equal(Xtr, X) and ytr.tolist() == [0, 1, 1]
    assert Xte.shape == (0, 2) and yte.shape == (0,) and attrs["image_shape"] is None
    assert load_dataset(p, real=True)[0].dtype == np.float64


@pytest.mark.parametrize("arrays, match", [
    ({"train/X": np.full((2, 2), np.nan), "train/y": [1, -1]}, "-1/\\+1"),
    ({"train/X": np.full((2, 2), 3), "train/y": [1, -1]}, "-1/\\+1"),
    ({"train/X": np.ones((2, 2)), "train/y": [0.5, 1]}, "integer class labels"),
    ({"train/X": np.ones((2, 2)), "train/y": [1]}, "does not match"),
    ({"train/X": np.ones((2, 2))}, "missing dataset /train/y"),
    ({"train/X": np.ones((2, 2)), "train/y": [1, 1], "test/X": np.ones((1, 3)), "test/y": [1]}, "features"),
    ({"train/X": np.ones((2, 2)), "train/y": [1, 1], "test/X": np.ones((1, 2))}, "missing dataset /test/y"),
])
def test_bad_plain_files_name_the_file(tmp_path, arrays, match):
    p = _plain(tmp_path / "bad.h5", **arrays)
    with pytest.raises(QbnnError, match=match) as exc:
        load_dataset(p)
    assert "bad.h5" in str(exc.value)


def test_another_format_is_not_a_dataset(tmp_path):
    p = _plain(tmp_path / "q.h5", **{"train/X": np.ones((2, 2)), "train/y": [1, 1]})
    with h5py.File(p, "a") as f:
        f.attrs["format"] = "qbnn-qubo"
    with pytest.raises(QbnnError, match="not a qbnn dataset"):
        load_dataset(p)


def test_load_task_codes_labels_for_the_topology(tmp_path):
    X = np.array([[1, -1], [-1, 1], [1, 1], [-1, -1]])
    p = _plain(tmp_path / "p.h5", **{"train/X": X, "train/y": [1, -1, 1, -1], "test/X": X, "test/y": [1, 1, -1, -1]})
    (tmp_path / "two.yaml").write_text("layers: [2, 2]\n")
    topo, Xtr, ytr, Xte, yte, _ = load_task(p, tmp_path / "two.yaml")
    assert topo.n_outputs == 2 and ytr.tolist() == [1, 0, 1, 0] and yte.tolist() == [1, 1, 0, 0]
    (tmp_path / "three.yaml").write_text("layers: [2, 3]\n")
    _plain(tmp_path / "q.h5", **{"train/X": X, "train/y": [0, 5, 1, 1]})
    with pytest.raises(QbnnError, match="q.h5: training labels must be class indices 0..2"):
        load_task(tmp_path / "q.h5", tmp_path / "three.yaml")


def test_qubo_and_mip_training_read_the_same_plain_file(tmp_path, capsys):
    """A plain file with 0/1 labels: `qbnn compile` (one ±1 output) and `qbnn train-mip` (which sizes
    its output layer from the labels) code them the same way."""
    rng = np.random.default_rng(0)
    X = rng.choice([-1, 1], (10, 3))
    y = (X[:, 0] > 0).astype(int)
    data = _plain(tmp_path / "d.h5", **{"train/X": X, "train/y": y, "test/X": X[:4], "test/y": y[:4]})
    (tmp_path / "net.yaml").write_text("layers: [3, 1]\n")
    assert main(["compile", "--data", str(data), "--network", str(tmp_path / "net.yaml"),
                 "--out", str(tmp_path / "q.h5")]) == 0
    with h5py.File(tmp_path / "q.h5") as f:
        assert f["data/y"][()].tolist() == np.where(y == 1, 1, -1).tolist()
    assert main(["train-mip", "--data", str(data), "--network", str(tmp_path / "net.yaml"), "--time-limit", "10",
                 "--out", str(tmp_path / "m.h5")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["train_accuracy"] == 1.0  # y = [x0 > 0] is one threshold unit
