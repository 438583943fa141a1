"""``qbnn binarise`` end to end: config form, option form, summary line, errors."""
import json

import numpy as np
import pytest
import yaml

from qbnn.cli import main
from qbnn.data import Dataset


def summary(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def write_config(tmp_path, datasets):
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump({"datasets": datasets}))
    return p


def test_config_form_with_grid(tmp_path, capsys):
    cfg = write_config(tmp_path, {
        "digits_3v8": {"source": "digits", "classes": [3, 8], "downsample": 4, "threshold": "mean",
                       "train_size": 50, "test_size": 30, "seed": 0},
        "bas4": {"source": "bars_and_stripes", "size": 4, "train_size": 16, "test_size": 12},
    })
    out, grid = tmp_path / "data" / "d.h5", tmp_path / "g.png"
    rc = main(["binarise", "--config", str(cfg), "--dataset", "digits_3v8", "--out", str(out), "--grid", str(grid)])
    assert rc == 0
    s = summary(capsys)
    assert (s["n_train"], s["n_test"], s["d"], s["classes"]) == (50, 30, 16, [3, 8])
    assert s["out"] == str(out) and isinstance(s["threshold"], float)
    ds = Dataset.load(out)
    Xtr, ytr, attrs = ds.X_train, ds.y_train, ds.attrs
    assert Xtr.shape == (50, 16) and sorted(np.unique(ytr)) == [-1, 1] and ds.identity.dataset == "digits_3v8"
    assert attrs["threshold"] == pytest.approx(s["threshold"]) and attrs["source"] == "digits"
    assert grid.stat().st_size > 1000
    # same settings -> byte-identical arrays
    rc = main(["binarise", "--config", str(cfg), "--dataset", "digits_3v8", "--out", str(tmp_path / "e.h5")])
    assert rc == 0
    assert np.array_equal(Dataset.load(tmp_path / "e.h5").X_train, Xtr)
    capsys.readouterr()
    rc = main(["binarise", "--config", str(cfg), "--dataset", "bas4", "--out", str(tmp_path / "b.h5")])
    assert rc == 0 and summary(capsys)["classes"] == ["bars", "stripes"]


def test_option_form_and_override(tmp_path, capsys):
    out = tmp_path / "o.h5"
    rc = main(["binarise", "--source", "digits", "--classes", "0", "1", "2", "--downsample", "6",
               "--threshold", "otsu", "--train-size", "30", "--test-size", "15", "--seed", "4", "--out", str(out)])
    assert rc == 0
    s = summary(capsys)
    assert s["classes"] == [0, 1, 2] and s["d"] == 36 and s["threshold_method"] == "otsu"
    ds = Dataset.load(out)
    assert np.bincount(ds.y_train).tolist() == [10, 10, 10] and ds.attrs["seed"] == 4 and ds.identity.dataset is None
    cfg = write_config(tmp_path, {"x": {"source": "digits", "classes": [3, 8], "train_size": 20, "test_size": 10}})
    rc = main(["binarise", "--config", str(cfg), "--dataset", "x", "--threshold", "8", "--out", str(out)])
    assert rc == 0 and summary(capsys)["threshold"] == 8.0


def _write_bad_inputs(tmp_path):
    cfg = write_config(tmp_path, {
        "missing": {"source": "npz", "path": str(tmp_path / "nope.npz")},
        "shape": {"source": "npz", "path": str(tmp_path / "shape.npz")},
        "text": {"source": "csv", "path": str(tmp_path / "text.csv"), "label_column": "label"},
        "oneclass": {"source": "npz", "path": str(tmp_path / "one.npz")},
        "nan": {"source": "npz", "path": str(tmp_path / "nan.npz")},
        "unknownclass": {"source": "digits", "classes": [3, 42]},
        "badsource": {"source": "emnist"},
    })
    np.savez(tmp_path / "shape.npz", X=np.ones((5, 2, 2, 2)), y=np.arange(5))
    (tmp_path / "text.csv").write_text("a,b,label\n1,x,0\n2,y,1\n3,z,0\n4,w,1\n")
    np.savez(tmp_path / "one.npz", X=np.ones((6, 3)), y=np.zeros(6, dtype=int))
    X = np.ones((6, 3))
    X[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=X, y=np.arange(6) % 2)
    return cfg


@pytest.mark.parametrize(
    "dataset, needle",
    [
        ("missing", "nope.npz"),
        ("shape", "shape"),
        ("text", "'b' is not numeric"),
        ("oneclass", "two classes"),
        ("nan", "NaN"),
        ("unknownclass", "unknown class 42"),
        ("badsource", "emnist"),
        ("nosuchdataset", "unknown dataset 'nosuchdataset'"),
    ],
)
def test_bad_inputs_one_line_error_no_output(tmp_path, capsys, dataset, needle):
    cfg = _write_bad_inputs(tmp_path)
    out = tmp_path / "out" / "d.h5"
    rc = main(["binarise", "--config", str(cfg), "--dataset", dataset, "--out", str(out), "--grid", str(tmp_path / "g.png")])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("qbnn: error:") and needle in err[0], err
    assert not out.exists() and not (tmp_path / "g.png").exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_missing_config_and_no_source(tmp_path, capsys):
    rc = main(["binarise", "--config", str(tmp_path / "none.yaml"), "--dataset", "x", "--out", str(tmp_path / "d.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "none.yaml" in err[0]
    rc = main(["binarise", "--out", str(tmp_path / "d.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error:") and "source" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_single_dataset_and_bare_settings(tmp_path, capsys):
    cfg = write_config(tmp_path, {"only": {"source": "bars_and_stripes", "size": 3, "train_size": 6, "test_size": 6}})
    assert main(["binarise", "--config", str(cfg), "--out", str(tmp_path / "a.h5")]) == 0
    assert summary(capsys)["d"] == 9
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"source": "bars_and_stripes", "size": 3, "balance": True}))
    assert main(["binarise", "--config", str(bare), "--out", str(tmp_path / "b.h5"), "--seed", "3"]) == 0
    s = summary(capsys)
    assert s["n_train"] + s["n_test"] == 12
    assert Dataset.load(tmp_path / "b.h5").attrs["seed"] == 3
