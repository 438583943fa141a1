import json

import pytest

from qbnn.cli import main
from qbnn.io import atomic_output


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done" and len(list(tmp_path.iterdir())) == 1


def test_aggregate_cli_summary_and_errors(tmp_path, capsys):
    d = tmp_path / "results" / "evaluate" / "ds" / "topo"
    d.mkdir(parents=True)
    for seed, acc in enumerate([0.8, 0.9]):
        (d / f"ste_s{seed}.json").write_text(json.dumps({"train_accuracy": 1.0, "test_accuracy": acc, "method": "ste",
                                                         "seed": seed, "experiment": "e", "dataset": "ds",
                                                         "topology": "topo"}))
    out = tmp_path / "m.csv"
    rc = main(["aggregate", *map(str, sorted(d.iterdir())), "--out", str(out), "--figure", str(tmp_path / "a.png")])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["runs"] == 2 and summary["methods"] == ["ste"]
    assert summary["best_test_accuracy"] == pytest.approx(0.85)
    assert (tmp_path / "a.png").stat().st_size > 1000
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc = main(["aggregate", str(bad), "--out", str(tmp_path / "b.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error:") and "bad.json" in err[0]
    assert not (tmp_path / "b.csv").exists()
