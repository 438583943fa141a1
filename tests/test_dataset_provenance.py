"""Commands that read a dataset open its file once (the validating record reader) and record the
dataset's ``config_hash`` and ``seed`` in the provenance of what they write, from that one read."""
import json

import h5py
import pytest

from qbnn.cli import main

from conftest import write_bars4_task


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = write_bars4_task(tmp_path_factory.mktemp("prov"), seed=7)
    with h5py.File(d / "data.h5", "r") as f:
        expected = {"dataset_config_hash": f.attrs["config_hash"], "dataset_seed": int(f.attrs["seed"])}
    expected["dataset_config_hash"] = (expected["dataset_config_hash"].decode()
                                       if isinstance(expected["dataset_config_hash"], bytes)
                                       else str(expected["dataset_config_hash"]))
    assert main(["train", "--data", str(d / "data.h5"), "--network", str(d / "net.yaml"), "--steps", "4",
                 "--out", str(d / "net.h5")]) == 0
    return d, expected


def _provenance(path):
    if str(path).endswith(".json"):
        return json.loads(open(path).read())["provenance"]
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs["provenance"])


@pytest.mark.parametrize("command, written", [
    (["compile", "--network", "{d}/net.yaml", "--out", "{d}/q.h5"], "{d}/q.h5"),
    (["train", "--network", "{d}/net.yaml", "--steps", "4", "--out", "{d}/t.h5", "--metrics", "{d}/t.json"],
     "{d}/t.json"),
    (["baseline", "--network", "{d}/net.yaml", "--method", "greedy", "--restarts", "1", "--out", "{d}/b.json"],
     "{d}/b.json"),
    (["evaluate", "{d}/net.h5", "--out", "{d}/e.json"], "{d}/e.json"),
    (["train-mip", "--network", "{d}/net.yaml", "--method", "exact", "--time-limit", "5", "--out", "{d}/m.h5",
      "--metrics", "{d}/m.json"], "{d}/m.json"),
])
def test_one_dataset_read_gives_the_provenance(made, h5_opens, capsys, command, written):
    d, expected = made
    data = d / "data.h5"
    opened = h5_opens(data)
    args = [command[0], "--data", str(data)] + [a.format(d=d) for a in command[1:]]
    assert main(args) == 0, capsys.readouterr()
    assert opened == ["r"], (command[0], opened)
    prov = _provenance(written.format(d=d))
    assert {k: prov.get(k) for k in expected} == expected
    assert "versions" in prov
