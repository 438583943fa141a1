"""The dataset record (qbnn.data.Dataset): the files it writes equal those of the module function it replaced
(reference files in tests/data, written by the old ``write_dataset``), load and save round-trip, and save refuses
what load refuses, leaving nothing behind."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from qbnn.data import Dataset, binarise, load_dataset
from qbnn.errors import QbnnError
from qbnn.identity import Identity

DATA = Path(__file__).parent / "data"


def _binary():
    d = binarise({"source": "bars_and_stripes", "size": 3, "train_size": 8, "test_size": 4, "seed": 1})
    Identity(dataset="bs3").write_attrs(d["attrs"], origin={"versions": {"qbnn": "golden"}, "note": "old writer"})
    return Dataset.from_binarised(d)


def _real_with_validation():
    return Dataset.from_binarised(binarise({"source": "bars_and_stripes", "size": 3, "n_samples": 40, "noise": 0.1,
                                            "encoding": "real", "train_size": 20, "validation_size": 8,
                                            "test_size": 8, "seed": 2}))


def _arrays():
    rng = np.random.default_rng(0)
    X = np.where(rng.random((12, 5)) < 0.5, -1, 1)
    y = rng.integers(0, 3, 12)
    return Dataset(X[:9], y[:9], X[9:], y[9:], {"source": "test", "classes": [0, 1, 2]})


REFERENCES = {"dataset_v1_binary.h5": _binary, "dataset_v1_real_val.h5": _real_with_validation,
              "dataset_v1_arrays.h5": _arrays}


def contents(path) -> tuple[dict, dict]:
    """Every dataset (path -> array, dtype kept) and every root attribute (name -> value) of an HDF5 file."""
    arrays, attrs = {}, {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, node: arrays.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None)
        for k, v in f.attrs.items():
            attrs[k] = v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v
    return arrays, attrs


def assert_same_file(a, b):
    (arr_a, att_a), (arr_b, att_b) = contents(a), contents(b)
    assert sorted(arr_a) == sorted(arr_b)
    for name in arr_a:
        assert arr_a[name].dtype == arr_b[name].dtype and np.array_equal(arr_a[name], arr_b[name]), name
    assert att_a == att_b
    for k in att_a:  # equal and of the same type (int stays int, text stays text)
        assert type(att_a[k]) is type(att_b[k]), k


@pytest.mark.parametrize("reference", sorted(REFERENCES))
def test_the_type_writes_what_the_old_writer_wrote(tmp_path, reference):
    out = tmp_path / "d.h5"
    REFERENCES[reference]().save(out)
    assert_same_file(out, DATA / reference)


@pytest.mark.parametrize("reference", sorted(REFERENCES))
def test_load_then_save_gives_the_same_file(tmp_path, reference):
    ds = Dataset.load(DATA / reference, real=True)
    ds.save(tmp_path / "again.h5")
    assert_same_file(tmp_path / "again.h5", DATA / reference)


def test_load_reads_every_part_identity_and_provenance():
    ds = Dataset.load(DATA / "dataset_v1_binary.h5")
    assert ds.X_train.shape == (8, 9) and ds.X_train.dtype == np.int8 and ds.X_test.shape == (4, 9)
    assert ds.y_train.dtype == np.int8 and set(np.unique(ds.y_train)) <= {-1, 1}
    assert ds.index_train.dtype == np.int64 and ds.index_train.shape == (8,) and ds.validation is None
    assert ds.identity == Identity(dataset="bs3")
    assert ds.provenance == {"versions": {"qbnn": "golden"}, "note": "old writer"}
    assert ds.classes == ["bars", "stripes"] and ds.image_shape == (3, 3) and ds.encoding == "binary"
    assert "identity" not in ds.attrs and "provenance" not in ds.attrs and ds.attrs["seed"] == 1
    real = Dataset.load(DATA / "dataset_v1_real_val.h5", real=True)
    assert real.X_val.shape == (8, 9) and real.X_val.dtype == np.float64 and real.index_val.shape == (8,)
    assert real.identity == Identity() and real.provenance == {}


def test_load_dataset_is_the_records_tuple():
    Xtr, ytr, Xte, yte, attrs = load_dataset(DATA / "dataset_v1_real_val.h5", real=True)
    ds = Dataset.load(DATA / "dataset_v1_real_val.h5", real=True)
    for a, b in zip((Xtr, ytr, Xte, yte), (ds.X_train, ds.y_train, ds.X_test, ds.y_test)):
        assert np.array_equal(a, b)
    assert np.array_equal(attrs["validation"][0], ds.X_val) and attrs["image_shape"] == [3, 3]
    _, _, _, _, attrs = load_dataset(DATA / "dataset_v1_binary.h5")
    assert Identity.read_attrs(attrs, "d").dataset == "bs3"  # as stored, for readers of the old tuple
    with pytest.raises(QbnnError, match="encoding: real"):
        Dataset.load(DATA / "dataset_v1_real_val.h5")


@st.composite
def datasets(draw):
    real = draw(st.booleans())
    C = draw(st.integers(2, 4))
    d = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = [draw(st.integers(1, 7)), draw(st.integers(0, 5))] + ([draw(st.integers(0, 4))] if draw(st.booleans()) else [])
    labels = np.array([-1, 1]) if C == 2 else np.arange(C)
    parts = []
    for n in sizes:
        X = rng.normal(size=(n, d)) if real else np.where(rng.random((n, d)) < 0.5, -1, 1).astype(np.int8)
        index = rng.permutation(100)[:n] if draw(st.booleans()) else None
        parts.append((X, rng.choice(labels, n), index))
    attrs = {"source": "hypothesis", "classes": [f"c{i}" for i in range(C)], "seed": int(rng.integers(9)),
             "config": {"source": "hypothesis", "size": d}}
    if real:
        attrs["encoding"] = "real"
    if d == 4:
        attrs["image_shape"] = [2, 2]
    identity = Identity(dataset="h", seed=3) if draw(st.booleans()) else Identity()
    val = parts[2] if len(parts) == 3 else (None, None, None)
    return Dataset(*parts[0][:2], *parts[1][:2], attrs, parts[0][2], parts[1][2], *val, identity=identity,
                   provenance={"versions": {"qbnn": "x"}} if identity.to_dict() else {})


@settings(max_examples=40, deadline=None)
@given(datasets())
def test_save_load_round_trip(tmp_path_factory, ds):
    path = tmp_path_factory.mktemp("rt") / "d.h5"
    ds.save(path)
    back = Dataset.load(path, real=True)
    for part, (X, y, index) in ds.parts().items():
        bX, by, bindex = back.parts()[part]
        assert np.array_equal(X, bX) and np.array_equal(y, by) and by.dtype == np.int8
        assert bX.dtype == (np.float64 if ds.encoding == "real" else np.int8)
        assert (index is None and bindex is None) or np.array_equal(index, bindex)
    assert set(back.parts()) == set(ds.parts())
    assert back.identity == ds.identity and back.provenance == ds.provenance
    assert {k: v for k, v in back.attrs.items() if k not in ("format", "format_version", "image_shape")} == \
        {k: v for k, v in ds.attrs.items() if k != "image_shape"}
    assert back.image_shape == ds.image_shape


def _good():
    return _arrays()


@pytest.mark.parametrize("edit, match", [
    (lambda d: setattr(d, "X_train", np.zeros_like(d.X_train)), "-1/\\+1"),
    (lambda d: setattr(d, "X_test", d.X_test[:, :3]), "features"),
    (lambda d: setattr(d, "y_train", d.y_train[:-1]), "does not match"),
    (lambda d: setattr(d, "y_test", d.y_test + 5), "labels outside"),
    (lambda d: d.attrs.pop("classes"), "classes"),
    (lambda d: d.attrs.__setitem__("classes", ["only"]), "at least two"),
    (lambda d: d.attrs.__setitem__("image_shape", [2, 2]), "image_shape"),
    (lambda d: d.attrs.__setitem__("encoding", "ternary"), "encoding"),
    (lambda d: setattr(d, "index_train", np.arange(3)), "index"),
    (lambda d: (setattr(d, "X_train", d.X_train[:0]), setattr(d, "y_train", d.y_train[:0])), "empty training"),
])
def test_save_refuses_what_load_would_refuse_and_writes_nothing(tmp_path, edit, match):
    ds = _good()
    edit(ds)
    with pytest.raises(QbnnError, match=match):
        ds.save(tmp_path / "bad.h5")
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_a_malformed_index_and_bad_json(tmp_path):
    p = tmp_path / "d.h5"
    _good().save(p)
    with h5py.File(p, "a") as f:
        f["train/index"] = np.arange(4.0)
    with pytest.raises(QbnnError, match=f"dataset {p}: train/index"):
        Dataset.load(p)
    _good().save(p)
    with h5py.File(p, "a") as f:
        f.attrs["config"] = "{not json"
    with pytest.raises(QbnnError, match="attribute config is not valid JSON"):
        Dataset.load(p)


def test_binarise_with_a_name_writes_identity_and_provenance(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("datasets:\n  bs:\n    source: bars_and_stripes\n    size: 3\n    train_size: 8\n    test_size: 4\n")
    out = tmp_path / "bs.h5"
    assert main(["binarise", "--config", str(cfg), "--dataset", "bs", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ds = Dataset.load(out)
    assert ds.identity == Identity(dataset="bs") and set(ds.provenance["versions"]) >= {"qbnn", "numpy", "python"}
    assert summary["n_train"] == len(ds.X_train) == 8 and summary["d"] == ds.n_features == 9
    assert main(["binarise", "--config", str(cfg), "--dataset", "bs", "--out", str(tmp_path / "again.h5")]) == 0
    again = Dataset.load(tmp_path / "again.h5")  # deterministic: same arrays and settings, same identity
    assert np.array_equal(again.X_train, ds.X_train) and again.attrs == ds.attrs and again.identity == ds.identity
