"""Table-driven bad inputs: each gives one clear error line naming the culprit, exit 2, no traceback,
and no output (or temporary) file left behind."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import jsonschema
import numpy as np
import pytest
import yaml

from qbnn.cli import main

from conftest import write_bars4_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = write_bars4_task(tmp_path_factory.mktemp("good"))
    assert main(["compile", "--data", str(d / "data.h5"), "--network", str(d / "net.yaml"), "--out", str(d / "q.h5")]) == 0
    assert main(["solve", str(d / "q.h5"), "--solver", "sb", "--steps", "20", "--replicas", "2", "--out", str(d / "s.h5")]) == 0
    assert main(["decode", str(d / "q.h5"), "--sample", str(d / "s.h5"), "--out", str(d / "net.h5")]) == 0
    return d


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "qbnn-data"
        f.attrs["format_version"] = 1
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


def _make_bad_files(g: Path, b: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.choice([-1, 1], (8, 16)).astype(np.int8)
    y = np.array([-1, 1] * 4, dtype=np.int8)
    _h5(b / "float_x.h5", **{"train/X": X.astype(float), "train/y": y, "test/X": X, "test/y": y})
    _h5(b / "nan_x.h5", **{"train/X": np.full((8, 16), np.nan), "train/y": y, "test/X": X, "test/y": y})
    _h5(b / "three_x.h5", **{"train/X": (X * 3).astype(np.int8), "train/y": y, "test/X": X, "test/y": y})
    _h5(b / "shape_x.h5", **{"train/X": X, "train/y": y[:5], "test/X": X, "test/y": y})
    _h5(b / "no_y.h5", **{"train/X": X, "test/X": X, "test/y": y})
    (b / "trunc.h5").write_bytes((g / "data.h5").read_bytes()[:300])
    (b / "cycle.yaml").write_text("inputs: 16\nneurons:\n  a: {from: [b]}\n  b: {from: [a]}\n")
    (b / "dangling.yaml").write_text("inputs: 16\nneurons:\n  out: {from: [x0, ghost]}\n")
    (b / "wide.yaml").write_text("layers: [64, 2, 1]\n")
    (b / "invalid.yaml").write_text("layers: [16, 2\n")
    (b / "short.yaml").write_text("layers: [16]\n")
    q = (g / "q.h5").read_bytes()
    (b / "q_nolinear.h5").write_bytes(q)
    with h5py.File(b / "q_nolinear.h5", "a") as f:
        del f["qubo/linear"]
    (b / "q_newer.h5").write_bytes(q)
    with h5py.File(b / "q_newer.h5", "a") as f:
        f.attrs["format_version"] = 99
    for name, settings in {
        "cfg_unknown_source": {"source": "imagenet"},
        "cfg_negative": {"source": "digits", "classes": [3, 8], "train_size": -5},
        "cfg_empty_classes": {"source": "digits", "classes": []},
        "cfg_unknown_key": {"source": "digits", "classes": [3, 8], "colour": "blue"},
        "cfg_wrong_type": {"source": "digits", "classes": [3, 8], "train_size": "many"},
        "cfg_unknown_class": {"source": "digits", "classes": [3, 42]},
    }.items():
        (b / f"{name}.yaml").write_text(yaml.safe_dump({"datasets": {"d": settings}}))
    (b / "notjson.json").write_text("{")
    # issue 14: malformed parts of otherwise valid files, one per kind
    for name, (where, key, value) in {
        "q_nooffset.h5": ("qubo", "offset", None), "q_version_text.h5": ("/", "format_version", "one"),
        "q_topology_text.h5": ("/", "topology", "{oops"),
    }.items():
        (b / name).write_bytes(q)
        with h5py.File(b / name, "a") as f:
            if value is None:
                del f[where].attrs[key]
            else:
                f[where].attrs[key] = value
    (b / "pen_strings.h5").write_bytes(b"")
    with h5py.File(b / "pen_strings.h5", "w") as f:
        f.create_dataset("h", data=np.array([b"0.5"] * 37))
    (b / "rf_text.yaml").write_text("receptive_field: {image: [4, 4], patch: two}\n")
    (b / "non_ascii.yaml").write_text("inputs: 16\nneurons:\n  ñ: {from: [x0, x1]}\n", encoding="utf-8")
    (b / "layers_text.yaml").write_text("layers: [16, two, 1]\n")
    (b / "empty.json").write_text("")
    (b / "binary.json").write_bytes(bytes(range(256)))
    (b / "empty.csv").write_text("")
    (b / "binary.csv").write_bytes(bytes(range(256)) * 4)


# (case id, argv with {g}=good dir and {b}=bad dir, text the error line must contain)
CASES = [
    ("config-unknown-source", ["binarise", "--config", "{b}/cfg_unknown_source.yaml", "--dataset", "d", "--out", "{b}/o.h5"], "imagenet"),
    ("config-negative-size", ["binarise", "--config", "{b}/cfg_negative.yaml", "--dataset", "d", "--out", "{b}/o.h5"], "train_size"),
    ("config-empty-classes", ["binarise", "--config", "{b}/cfg_empty_classes.yaml", "--dataset", "d", "--out", "{b}/o.h5"], "class"),
    ("config-unknown-key", ["binarise", "--config", "{b}/cfg_unknown_key.yaml", "--dataset", "d", "--out", "{b}/o.h5"], "colour"),
    ("config-wrong-type", ["binarise", "--config", "{b}/cfg_wrong_type.yaml", "--dataset", "d", "--out", "{b}/o.h5"], "train_size"),
    ("config-unknown-class", ["binarise", "--config", "{b}/cfg_unknown_class.yaml", "--dataset", "d", "--out", "{b}/o.h5"], "42"),
    ("config-unknown-dataset", ["binarise", "--config", "{b}/cfg_negative.yaml", "--dataset", "zzz", "--out", "{b}/o.h5"], "zzz"),
    ("config-missing-file", ["binarise", "--config", "{b}/nope.yaml", "--dataset", "d", "--out", "{b}/o.h5"], "nope.yaml"),
    ("data-float-x", ["compile", "--data", "{b}/float_x.h5", "--network", "{g}/net.yaml", "--out", "{b}/o.h5"], "float_x.h5"),
    ("data-nan", ["compile", "--data", "{b}/nan_x.h5", "--network", "{g}/net.yaml", "--out", "{b}/o.h5"], "nan_x.h5"),
    ("data-not-pm1", ["compile", "--data", "{b}/three_x.h5", "--network", "{g}/net.yaml", "--out", "{b}/o.h5"], "three_x.h5"),
    ("data-shape-mismatch", ["compile", "--data", "{b}/shape_x.h5", "--network", "{g}/net.yaml", "--out", "{b}/o.h5"], "shape_x.h5"),
    ("data-missing-y", ["compile", "--data", "{b}/no_y.h5", "--network", "{g}/net.yaml", "--out", "{b}/o.h5"], "no_y.h5"),
    ("data-truncated", ["compile", "--data", "{b}/trunc.h5", "--network", "{g}/net.yaml", "--out", "{b}/o.h5"], "trunc.h5"),
    ("data-missing", ["compile", "--data", "{b}/nope.h5", "--network", "{g}/net.yaml", "--out", "{b}/o.h5"], "nope.h5"),
    ("topology-cycle", ["compile", "--data", "{g}/data.h5", "--network", "{b}/cycle.yaml", "--out", "{b}/o.h5"], "cycle"),
    ("topology-dangling", ["compile", "--data", "{g}/data.h5", "--network", "{b}/dangling.yaml", "--out", "{b}/o.h5"], "ghost"),
    ("topology-width", ["compile", "--data", "{g}/data.h5", "--network", "{b}/wide.yaml", "--out", "{b}/o.h5"], "width"),
    ("topology-invalid-yaml", ["compile", "--data", "{g}/data.h5", "--network", "{b}/invalid.yaml", "--out", "{b}/o.h5"], "invalid.yaml"),
    ("topology-one-layer", ["compile", "--data", "{g}/data.h5", "--network", "{b}/short.yaml", "--out", "{b}/o.h5"], "layers"),
    ("margin-negative", ["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--margin", "-1", "--out", "{b}/o.h5"], "margin"),
    ("penalty-below-bound", ["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--penalty", "0.1", "--out", "{b}/o.h5"], "penalty"),
    ("qubo-missing-linear", ["solve", "{b}/q_nolinear.h5", "--out", "{b}/o.h5"], "linear"),
    ("qubo-newer-version", ["solve", "{b}/q_newer.h5", "--out", "{b}/o.h5"], "99"),
    ("qubo-not-a-qubo", ["solve", "{g}/data.h5", "--out", "{b}/o.h5"], "data.h5"),
    ("qubo-truncated", ["solve", "{b}/trunc.h5", "--out", "{b}/o.h5"], "trunc.h5"),
    ("solve-unknown-device", ["solve", "{g}/q.h5", "--device", "tpu", "--out", "{b}/o.h5"], "tpu"),
    ("solve-bad-replicas", ["solve", "{g}/q.h5", "--replicas", "-3", "--out", "{b}/o.h5"], "replicas"),
    ("evaluate-not-a-network", ["evaluate", "{g}/q.h5", "--data", "{g}/data.h5", "--out", "{b}/o.json"], "q.h5"),
    ("decode-missing-sample", ["decode", "{g}/q.h5", "--sample", "{b}/nope.npy", "--out", "{b}/o.h5"], "nope.npy"),
    ("train-mip-unknown-method", ["train-mip", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--method", "magic", "--out", "{b}/o.h5"], "magic"),
    ("aggregate-not-json", ["aggregate", "{b}/notjson.json", "--out", "{b}/o.json"], "notjson.json"),
    ("qubo-missing-offset", ["decode", "{b}/q_nooffset.h5", "--sample", "{b}/nope.npy", "--out", "{b}/o.h5"], "offset"),
    ("qubo-version-not-a-number", ["solve", "{b}/q_version_text.h5", "--out", "{b}/o.h5"], "format_version"),
    ("qubo-topology-not-json", ["decode", "{b}/q_topology_text.h5", "--sample", "{b}/nope.npy", "--out", "{b}/o.h5"], "q_topology_text.h5"),
    ("penalties-strings", ["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--weight-penalties",
                           "{b}/pen_strings.h5", "--out", "{b}/o.h5"], "pen_strings.h5"),
    ("topology-receptive-field-text", ["compile", "--data", "{g}/data.h5", "--network", "{b}/rf_text.yaml", "--out", "{b}/o.h5"], "patch"),
    ("topology-non-ascii-name", ["compile", "--data", "{g}/data.h5", "--network", "{b}/non_ascii.yaml", "--out", "{b}/o.h5"], "ñ"),
    ("train-mip-layers-text", ["train-mip", "--data", "{g}/data.h5", "--network", "{b}/layers_text.yaml", "--out", "{b}/o.h5"], "layers"),
    ("train-mip-huge-seed", ["train-mip", "--dataset", "planted", "--seed", str(2**70), "--out", "{b}/o.h5"], "--seed"),
    ("solve-huge-seed", ["solve", "{g}/q.h5", "--seed", str(2**70), "--out", "{b}/o.h5"], "--seed"),
    ("solve-nan-time-limit", ["solve", "{g}/q.h5", "--time-limit", "nan", "--out", "{b}/o.h5"], "--time-limit"),
    ("aggregate-empty-json", ["aggregate", "{b}/empty.json", "--out", "{b}/o.csv"], "empty.json"),
    ("aggregate-binary-json", ["aggregate", "{b}/binary.json", "--out", "{b}/o.csv"], "binary.json"),
    ("figures-empty-csv", ["figures", "--rounds-out", "{b}/o.png", "--metrics", "{b}/empty.csv"], "empty.csv"),
    ("figures-binary-csv", ["figures", "--rounds-out", "{b}/o.png", "--metrics", "{b}/binary.csv"], "binary.csv"),
    ("out-is-a-directory", ["evaluate", "{g}/net.h5", "--data", "{g}/data.h5", "--out", "{b}"], "directory"),
    ("out-under-a-file", ["evaluate", "{g}/net.h5", "--data", "{g}/data.h5", "--out", "{g}/net.yaml/o.json"], "not a directory"),
    ("out-empty-name", ["evaluate", "{g}/net.h5", "--data", "{g}/data.h5", "--out", ""], "names no file"),
    ("out-is-an-input", ["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{g}/data.h5"], "input"),
    ("label-replaces-a-measurement", ["evaluate", "{g}/net.h5", "--data", "{g}/data.h5", "--label", "train_accuracy=1",
                                      "--out", "{b}/o.json"], "train_accuracy"),
    ("export-network-not-a-network", ["export-network", "{g}/q.h5", "--format", "npz", "--out", "{b}/o.h5"], "q.h5"),
]

USAGE_CASES = [
    ("unknown-command", ["no-such-command"]),
    ("solve-unknown-solver", ["solve", "q.h5", "--solver", "bogus", "--out", "o.h5"]),
    ("export-qubo-unknown-format", ["export-qubo", "q.h5", "--format", "xml", "--out", "o.h5"]),
    ("replicas-not-int", ["solve", "q.h5", "--replicas", "many", "--out", "o.h5"]),
]


@pytest.fixture(scope="module")
def dirs(good, tmp_path_factory):
    bad = tmp_path_factory.mktemp("bad")
    _make_bad_files(good, bad)
    return good, bad


@pytest.mark.parametrize("case,argv,culprit", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(case, argv, culprit, dirs, capsys):
    good, bad = dirs
    before = set(bad.iterdir())
    rc = main([a.format(g=good, b=bad) for a in argv])
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert rc == 2, (case, out.err)
    assert len(lines) == 1 and lines[0].startswith("qbnn: error:"), out.err
    assert culprit.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in out.err
    assert set(bad.iterdir()) == before  # no output, no temporary file


@pytest.mark.parametrize("case,argv", USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_bad_arguments_are_usage_errors(case, argv, capsys):
    rc = main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("qbnn: error:"), lines


def _schema():
    return yaml.safe_load((ROOT / "config/schema/config.schema.yaml").read_text())


@pytest.mark.parametrize(
    "mutate,key",
    [
        (lambda c: c["datasets"]["bas4"].__setitem__("train_size", -5), "train_size"),
        (lambda c: c["datasets"]["bas4"].__setitem__("classes", []), "classes"),
        (lambda c: c.__setitem__("colour", "blue"), "colour"),
        (lambda c: c["experiments"]["tiny"].__setitem__("solvers", ["bogus"]), "bogus"),
        (lambda c: c["experiments"]["tiny"].__setitem__("seeds", "zero"), "zero"),
        (lambda c: c["datasets"]["bas4"].__setitem__("source", "imagenet"), "imagenet"),
    ],
    ids=["negative-size", "empty-classes", "unknown-key", "unknown-solver", "seeds-wrong-type", "unknown-source"],
)
def test_config_schema_rejects(mutate, key):
    cfg = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    mutate(cfg)
    with pytest.raises(jsonschema.ValidationError) as exc:
        jsonschema.validate(cfg, _schema())
    assert key in str(exc.value).splitlines()[0] or key in json.dumps(list(exc.value.absolute_path)) + exc.value.message
