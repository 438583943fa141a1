"""`--write-model`: the training MILP (train-mip --method exact) and the BNN exact MILP (solve --solver exact)
as MPS files an outside solver reads; re-read by HiGHS they solve to the same objective."""
import json
import os

import numpy as np
import pytest

from qbnn.cli import main

highspy = pytest.importorskip("highspy")


def _resolve(path):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.setOptionValue("mip_rel_gap", 0.0)
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    return h.getInfo().objective_function_value, h.getLp()


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("seed", [0, 3])
def test_train_mip_model_round_trip(tmp_path, capsys, seed):
    model = tmp_path / "train.mps"
    assert main(["train-mip", "--dataset", "planted", "--n-train", "10", "--n-test", "5", "--seed", str(seed),
                 "--method", "exact", "--mip-gap", "0", "--time-limit", "60", "--write-model", str(model),
                 "--out", str(tmp_path / "net.h5")]) == 0
    out = _last_json(capsys)
    assert out["status"] == "Optimal" and out["model"] == str(model)
    objective, lp = _resolve(model)
    assert objective == pytest.approx(out["objective"], abs=1e-6)
    assert lp.num_col_ > 0 and np.asarray(lp.integrality_).size == lp.num_col_  # binaries survive the file


def test_bnn_exact_milp_model_round_trip(tmp_path, capsys):
    compiler = pytest.importorskip("qbnn.compiler")
    from qbnn.topology import Topology

    rng = np.random.default_rng(2)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(10, 4))
    y = np.where(X[:, 0] + X[:, 1] + X[:, 2] > 0, 1, -1)
    compiler.save_compiled(compiler.compile_bnn(Topology.layered([4, 3, 1]), X, y, margin=0.1), tmp_path / "q.h5")
    model = tmp_path / "bnn.mps"
    assert main(["solve", str(tmp_path / "q.h5"), "--solver", "exact", "--write-model", str(model),
                 "--out", str(tmp_path / "s.h5")]) == 0
    out = _last_json(capsys)
    assert out["proven_optimal"]
    objective, _ = _resolve(model)
    assert objective == pytest.approx(out["objective"], abs=1e-6)  # the constant term travels as the offset
    # bring an outside solution back: HiGHS' raw solution file and a Gurobi-style .sol (zeros omitted, as SCIP)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(model))
    h.run()
    h.writeSolution(str(tmp_path / "highs.sol"), 0)
    x = np.asarray(h.getSolution().col_value)
    (tmp_path / "gurobi.sol").write_text("# Objective value = %g\n" % objective
                                         + "".join(f"c{j} {v:g}\n" for j, v in enumerate(x) if abs(v) > 1e-9))
    for sol in ("highs.sol", "gurobi.sol"):
        assert main(["solve", str(tmp_path / "q.h5"), "--solver", "exact", "--read-solution", str(tmp_path / sol),
                     "--out", str(tmp_path / f"{sol}.h5")]) == 0
        back = _last_json(capsys)
        assert back["objective"] == pytest.approx(out["objective"], abs=1e-6)
        assert back["repaired_energy"] == pytest.approx(out["repaired_energy"], abs=1e-6)


@pytest.mark.parametrize("argv, culprit", [
    (["train-mip", "--dataset", "planted", "--method", "local", "--write-model", "m.mps"], "--method exact"),
    (["train-mip", "--dataset", "planted", "--method", "exact", "--write-model", "m.txt"], ".mps"),
    (["solve", "q.h5", "--solver", "sa", "--write-model", "m.mps"], "--solver exact"),
    (["solve", "q.h5", "--solver", "sa", "--read-solution", "q.h5"], "--solver exact"),
])
def test_bad_write_model_requests(tmp_path, capsys, argv, culprit):
    from qbnn.qubo import QUBO

    QUBO.from_coo(2, np.ones(2), [0], [1], [1.0]).save(tmp_path / "q.h5")
    os.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    rc = main([*argv, "--out", "n.h5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and culprit in err[0], err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("text, culprit", [
    ("objective 3\n", "no column values"),
    ("c0 1\nc9 1\n", "c9"),
    (b"\xff\xfe", "UTF-8"),
])
def test_bad_solution_files(tmp_path, text, culprit):
    from qbnn.bnn_solving.exact_milp import read_solution_file
    from qbnn.errors import QbnnError

    (tmp_path / "s.sol").write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(QbnnError, match=culprit):
        read_solution_file(tmp_path / "s.sol", 4)


def test_solution_file_formats(tmp_path):
    from qbnn.bnn_solving.exact_milp import read_solution_file

    (tmp_path / "cbc.sol").write_text("Optimal - objective value 2\n      0 c0   1   0\n      2 c2   1   1\n")
    (tmp_path / "scip.sol").write_text("solution status: optimal\nobjective value: 2\nc2 1 \t(obj:1)\nc0 1 \t(obj:0)\n")
    for f in ("cbc.sol", "scip.sol"):
        np.testing.assert_array_equal(read_solution_file(tmp_path / f, 3), [1, 0, 1])
