"""Dataset sources, binarisation rules, splits and the qbnn-data HDF5 file."""
import gzip
import json

import h5py
import numpy as np
import pandas as pd
import pytest

from qbnn.data import (
    Dataset,
    bars_and_stripes_patterns,
    binarise,
    downsample_images,
    otsu_threshold,
    parse_threshold,
    read_idx,
    to_pm1,
)
from qbnn.errors import QbnnError


def write_idx(path, arr, code=0x08, compress=False):
    arr = np.asarray(arr)
    dt = {0x08: ">u1", 0x0D: ">f4"}[code]
    blob = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes() + arr.astype(dt).tobytes()
    if compress:
        blob = gzip.compress(blob)
    path.write_bytes(blob)
    return path


def tiny_images(n_per_class=10, seed=0):
    """Class 7: bright left half; class 2: bright right half, 4x4 uint8."""
    rng = np.random.default_rng(seed)
    imgs, labs = [], []
    for lab, side in ((7, 0), (2, 1)):
        for _ in range(n_per_class):
            im = rng.integers(0, 60, (4, 4))
            im[:, 2 * side : 2 * side + 2] += 180
            imgs.append(im)
            labs.append(lab)
    return np.array(imgs, dtype=np.uint8), np.array(labs, dtype=np.uint8)


# ----------------------------------------------------------------- thresholds
def test_threshold_rules():
    X = np.array([[0.0, 0.5, 1.0, 0.49]])
    assert to_pm1(X, 0.5).tolist() == [[-1, 1, 1, -1]]
    assert to_pm1(X, 0.5).dtype == np.int8
    assert parse_threshold({"source": "digits"}) == ("mean", None)
    assert parse_threshold({"source": "bars_and_stripes"}) == ("fixed", 0.5)
    assert parse_threshold({"threshold": 8}) == ("fixed", 8.0)
    assert parse_threshold({"threshold": "otsu"}) == ("otsu", None)
    assert parse_threshold({"threshold": {"method": "fixed", "value": 3}}) == ("fixed", 3.0)
    assert parse_threshold({"threshold_method": "mean"}) == ("mean", None)
    for bad in ({"threshold": "median"}, {"threshold": True}, {"threshold": {"method": "mean", "value": 1}},
                {"threshold": {"kind": "mean"}}):
        with pytest.raises(QbnnError):
            parse_threshold(bad)


def test_otsu_separates_bimodal():
    rng = np.random.default_rng(1)
    v = np.concatenate([rng.normal(20, 4, 3000), rng.normal(200, 10, 1000)])
    t = otsu_threshold(v)
    assert 40 < t < 170
    # exact histogram on few distinct values: midpoint between the two modes' clusters
    assert otsu_threshold(np.array([0, 0, 1, 1, 15, 16, 16])) == pytest.approx(8.0)
    with pytest.raises(QbnnError, match="equal"):
        otsu_threshold(np.full(10, 3.0))


def test_mean_and_otsu_thresholds_fitted_on_train(tmp_path):
    base = {"source": "digits", "classes": [0, 1], "train_size": 40, "test_size": 20, "seed": 3}
    mean = binarise({**base, "threshold": "mean"})
    otsu = binarise({**base, "threshold": "otsu"})
    fixed = binarise({**base, "threshold": 8})
    assert 0 < mean["attrs"]["threshold"] < 16 and mean["attrs"]["threshold_method"] == "mean"
    assert 0 < otsu["attrs"]["threshold"] < 16
    assert fixed["attrs"]["threshold"] == 8.0
    # threshold is the train mean: recompute from the raw digit images
    from sklearn.datasets import load_digits

    raw = load_digits().images.reshape(-1, 64)
    assert mean["attrs"]["threshold"] == pytest.approx(raw[mean["index_train"]].mean())
    assert np.array_equal(mean["X_train"], np.where(raw[mean["index_train"]] >= raw[mean["index_train"]].mean(), 1, -1))


# ----------------------------------------------------------------- downsampling
def test_downsample_pool_and_crop():
    X = np.arange(64, dtype=float).reshape(1, 8, 8)
    d4 = downsample_images(X, 4)
    assert d4.shape == (1, 4, 4) and d4[0, 0, 0] == pytest.approx((0 + 1 + 8 + 9) / 4)
    d6 = downsample_images(X, 6)
    assert d6.shape == (1, 6, 6) and np.array_equal(d6[0], X[0, 1:7, 1:7])
    assert downsample_images(np.zeros((2, 28, 28)), [7, 4]).shape == (2, 7, 4)
    with pytest.raises(QbnnError):
        downsample_images(X, 9)
    out = binarise({"source": "digits", "classes": [3, 8], "downsample": 4, "train_size": 20, "test_size": 10})
    assert out["X_train"].shape == (20, 16) and json.loads(out["attrs"]["image_shape"]) == [4, 4]


# ----------------------------------------------------------------- sources
def test_bars_and_stripes():
    X, y = bars_and_stripes_patterns(3)
    assert X.shape == (12, 3, 3) and (y == "bars").sum() == 6
    bars = X[y == "bars"]
    assert (bars == bars[:, :1, :]).all()  # constant columns
    out = binarise({"source": "bars_and_stripes", "size": 4, "train_size": 16, "test_size": 12})
    assert out["X_train"].shape == (16, 16) and set(np.unique(out["y_train"])) == {-1, 1}
    assert (out["y_train"] == -1).sum() == 8 and (out["y_test"] == -1).sum() == 6
    ims = out["X_train"].reshape(-1, 4, 4)
    is_bar = (ims == ims[:, :1, :]).all(axis=(1, 2))
    assert np.array_equal(np.where(is_bar, -1, 1), out["y_train"])  # bars -> -1 (classes[0])
    noisy = binarise({"source": "bars_and_stripes", "size": 4, "n_samples": 200, "noise": 0.1,
                      "train_size": 100, "test_size": 100, "seed": 5})
    ims = noisy["X_train"].reshape(-1, 4, 4)
    assert not (ims == ims[:, :1, :]).all(axis=(1, 2))[noisy["y_train"] == -1].all()


@pytest.mark.parametrize("compress", [False, True])
def test_idx_source(tmp_path, compress):
    imgs, labs = tiny_images()
    sfx = ".gz" if compress else ""
    ip = write_idx(tmp_path / f"t-images-idx3-ubyte{sfx}", imgs, compress=compress)
    lp = write_idx(tmp_path / f"t-labels-idx1-ubyte{sfx}", labs, compress=compress)
    assert np.array_equal(read_idx(ip), imgs)
    out = binarise({"source": "idx", "images": str(ip), "labels": str(lp), "classes": [7, 2],
                    "threshold": 128, "train_size": 12, "test_size": 8, "seed": 0})
    X = out["X_train"].reshape(-1, 4, 4)
    left = X[:, :, :2].mean(axis=(1, 2))
    assert np.array_equal(np.where(left > 0, -1, 1), out["y_train"])  # class 7 (bright left) -> -1
    assert json.loads(out["attrs"]["classes"]) == [7, 2]


def test_idx_errors(tmp_path):
    imgs, labs = tiny_images()
    ip = write_idx(tmp_path / "i", imgs)
    (tmp_path / "trunc").write_bytes(ip.read_bytes()[:-5])
    with pytest.raises(QbnnError, match="trunc"):
        read_idx(tmp_path / "trunc")
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(QbnnError, match="magic"):
        read_idx(tmp_path / "junk")
    lp = write_idx(tmp_path / "l", labs[:-1])
    with pytest.raises(QbnnError, match="disagree"):
        binarise({"source": "idx", "images": str(ip), "labels": str(lp)})
    fl = write_idx(tmp_path / "f", imgs.astype(np.float32), code=0x0D)
    assert read_idx(fl).dtype == np.float32


def test_npz_source(tmp_path):
    imgs, labs = tiny_images()
    p = tmp_path / "d.npz"
    np.savez(p, images=imgs.reshape(20, 16), target=labs)
    out = binarise({"source": "npz", "path": str(p), "x_key": "images", "y_key": "target", "image_shape": [4, 4],
                    "classes": [2, 7], "train_size": 10, "test_size": 10, "downsample": 2})
    assert out["X_train"].shape == (10, 4)
    with pytest.raises(QbnnError, match="no array 'X'"):
        binarise({"source": "npz", "path": str(p)})
    np.savez(p, X=imgs, y=labs[:5])
    with pytest.raises(QbnnError, match="'y'"):
        binarise({"source": "npz", "path": str(p)})


def test_csv_source(tmp_path):
    imgs, labs = tiny_images()
    df = pd.DataFrame(imgs.reshape(20, 16), columns=[f"p{i}" for i in range(16)])
    df.insert(0, "kind", np.where(labs == 7, "seven", "two"))
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    a = binarise({"source": "csv", "path": str(p), "label_column": "kind", "classes": ["two", "seven"],
                  "train_size": 10, "test_size": 10})
    b = binarise({"source": "csv", "path": str(p), "label_column": 0, "classes": ["two", "seven"],
                  "train_size": 10, "test_size": 10})
    assert np.array_equal(a["X_train"], b["X_train"]) and a["X_train"].shape == (10, 16)
    df["p3"] = df["p3"].astype(str) + "x"
    df.to_csv(p, index=False)
    with pytest.raises(QbnnError, match="'p3' is not numeric"):
        binarise({"source": "csv", "path": str(p), "label_column": "kind"})


# ----------------------------------------------------------------- splits
def test_split_determinism_and_stratification():
    cfg = {"source": "digits", "classes": [1, 7, 9], "train_size": 60, "test_size": 30, "seed": 11}
    a, b, c = binarise(cfg), binarise(cfg), binarise({**cfg, "seed": 12})
    for k in ("X_train", "y_train", "X_test", "y_test"):
        assert np.array_equal(a[k], b[k])
    assert not np.array_equal(a["index_train"], c["index_train"])
    assert np.bincount(a["y_train"]).tolist() == [20, 20, 20]
    assert np.bincount(a["y_test"]).tolist() == [10, 10, 10]
    assert not set(a["index_train"]) & set(a["index_test"])
    assert a["attrs"]["label_encoding"] == "index" and a["attrs"]["config_hash"] != c["attrs"]["config_hash"]


def test_balance(tmp_path):
    X = np.random.default_rng(0).random((40, 4))
    y = np.array([0] * 30 + [1] * 10)
    p = tmp_path / "u.npz"
    np.savez(p, X=X, y=y)
    out = binarise({"source": "npz", "path": str(p), "balance": True, "seed": 2})
    ys = np.concatenate([out["y_train"], out["y_test"]])
    assert (ys == -1).sum() == (ys == 1).sum() == 10
    again = binarise({"source": "npz", "path": str(p), "balance": True, "seed": 2})
    assert np.array_equal(out["index_train"], again["index_train"])


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"source": "digits", "classes": [3]}, "two classes"),
        ({"source": "digits", "classes": [3, 11]}, "unknown class 11"),
        ({"source": "digits", "classes": [3, 3]}, "duplicate"),
        ({"source": "mnist"}, "unknown source"),
        ({"source": "digits", "colour": 1}, "colour"),
        ({"source": "digits", "classes": [0, 1], "train_size": 300, "test_size": 100}, "exceeds"),
        ({"source": "npz", "path": "/nonexistent/x.npz"}, "not found"),
    ],
)
def test_binarise_errors(cfg, match):
    with pytest.raises(QbnnError, match=match):
        binarise(cfg)


def test_nan_rejected(tmp_path):
    X = np.ones((10, 4))
    X[3, 2] = np.nan
    np.savez(tmp_path / "n.npz", X=X, y=np.arange(10) % 2)
    with pytest.raises(QbnnError, match="NaN"):
        binarise({"source": "npz", "path": str(tmp_path / "n.npz")})


# ----------------------------------------------------------------- HDF5 file
def test_write_load_roundtrip_and_validation(tmp_path):
    data = binarise({"source": "bars_and_stripes", "size": 3, "train_size": 8, "test_size": 4})
    p = tmp_path / "d.h5"
    Dataset.from_binarised(data).save(p)
    ds = Dataset.load(p)
    Xtr, yte, attrs = ds.X_train, ds.y_test, ds.attrs
    assert Xtr.dtype == np.int8 and np.array_equal(Xtr, data["X_train"]) and np.array_equal(yte, data["y_test"])
    assert attrs["classes"] == ["bars", "stripes"] and attrs["image_shape"] == [3, 3]
    assert attrs["format"] == "qbnn-data" and attrs["format_version"] == 1 and attrs["seed"] == 0
    assert isinstance(attrs["threshold"], float) and len(attrs["config_hash"]) == 16

    def corrupt(edit, match):
        q = tmp_path / "c.h5"
        Dataset.from_binarised(data).save(q)
        with h5py.File(q, "a") as f:
            edit(f)
        with pytest.raises(QbnnError, match=match):
            Dataset.load(q)

    corrupt(lambda f: f.__delitem__("test/y"), "missing dataset /test/y")
    def wrong_dtype(f):
        del f["train/X"]
        f["train/X"] = data["X_train"].astype(np.float32)
    corrupt(wrong_dtype, "dtype")
    def zeros(f):
        f["train/X"][0, 0] = 0
    corrupt(zeros, "-1/\\+1")
    def short_y(f):
        del f["train/y"]
        f["train/y"] = data["y_train"][:-1]
    corrupt(short_y, "does not match")
    def bad_label(f):
        f["test/y"][0] = 0
    corrupt(bad_label, "labels outside")
    corrupt(lambda f: f.attrs.__setitem__("format", "other"), "not a qbnn dataset")
    with pytest.raises(QbnnError, match="not found"):
        Dataset.load(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_text("nope")
    with pytest.raises(QbnnError, match="not a readable HDF5"):
        Dataset.load(tmp_path / "junk.h5")


def test_save_refuses_bad_arrays(tmp_path):
    p = tmp_path / "x.h5"
    with pytest.raises(QbnnError):
        Dataset(np.zeros((3, 2)), np.ones(3), np.ones((1, 2)), np.ones(1), {"classes": [0, 1]}).save(p)
    assert list(tmp_path.iterdir()) == []


def test_sample_grid(tmp_path):
    from qbnn.figures.samples import plot_sample_grid

    p = tmp_path / "d.h5"
    Dataset.from_binarised(binarise({"source": "digits", "classes": [0, 1, 2], "downsample": 4,
                                     "train_size": 15, "test_size": 6})).save(p)
    info = plot_sample_grid(p, tmp_path / "g.png", per_class=3)
    assert info["shown"] == [3, 3, 3] and (tmp_path / "g.png").stat().st_size > 1000


# ----------------------------------------------------------------- properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=2, max_size=200), st.sampled_from(["mean", "otsu"]))
def test_threshold_within_range_and_pm1(values, method):
    v = np.array(values, dtype=float)
    from qbnn.data import fit_threshold

    if method == "otsu" and len(np.unique(v)) < 2:
        with pytest.raises(QbnnError):
            fit_threshold(method, None, v)
        return
    t = fit_threshold(method, None, v)
    assert v.min() <= t <= v.max()
    b = to_pm1(v, t)
    assert set(np.unique(b)) <= {-1, 1} and (b[v >= t] == 1).all() and (b[v < t] == -1).all()
    if method == "otsu":  # both classes non-empty
        assert (b == 1).any() and (b == -1).any()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
def test_downsample_without_crop_preserves_mean(tr, tc, fr, fc):
    X = np.random.default_rng(tr * 7 + tc).random((2, tr * fr, tc * fc))
    D = downsample_images(X, [tr, tc])
    assert D.shape == (2, tr, tc)
    assert D.mean(axis=(1, 2)) == pytest.approx(X.mean(axis=(1, 2)))
