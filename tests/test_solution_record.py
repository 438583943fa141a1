"""The Solution record (qbnn.solution): one validating load, one atomic save, provenance; and
`qbnn solve` reads its QUBO file through one open."""
import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from qbnn.errors import QbnnError
from qbnn.solution import Solution


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 40), reps=st.integers(1, 5), t=st.integers(0, 4), seed=st.integers(0, 2 ** 32 - 1),
       keep=st.booleans())
def test_save_load_round_trip(tmp_path_factory, n, reps, t, seed, keep):
    rng = np.random.default_rng(seed)
    states = rng.integers(0, 2, size=(reps, n)).astype(np.int8)
    sol = Solution(best_x=states[0], best_energy=float(rng.normal()), energies=rng.normal(size=reps),
                   trace=rng.normal(size=(t, 3)), states=states if keep else None, solver="sa", seed=seed,
                   seconds=1.5, seconds_to_best=0.5, info={"device": "cpu", "restarts": 2},
                   provenance={"settings": {"replicas": reps, "steps": 10, "time_limit": None}, "qubo_hash": "ab"})
    path = tmp_path_factory.mktemp("rt") / "s.h5"
    sol.save(path)
    back = Solution.load(path)
    np.testing.assert_array_equal(back.best_x, sol.best_x)
    np.testing.assert_array_equal(back.energies, sol.energies)
    np.testing.assert_array_equal(back.trace, sol.trace.reshape(-1, 3))
    assert (back.states is None) == (not keep)
    if keep:
        np.testing.assert_array_equal(back.states, states)
    assert (back.solver, back.seed, back.best_energy, back.info, back.provenance) == \
        (sol.solver, sol.seed, sol.best_energy, sol.info, sol.provenance)
    assert back.attrs["replicas"] == reps and back.attrs["steps"] == 10  # the attributes older readers use


def _write(path, **parts):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = parts.pop("format", "qbnn-solution")
        for k, v in parts.pop("attrs", {}).items():
            f.attrs[k] = v
        for k, v in parts.items():
            f.create_dataset(k, data=v)


@pytest.mark.parametrize("parts, culprit", [
    ({"format": "qbnn-qubo", "best_x": np.zeros(3)}, "format"),
    ({"energies": np.zeros(2)}, "/best_x"),
    ({"best_x": np.array([0, 2, 1])}, "0/1"),
    ({"best_x": np.zeros(3), "states": np.zeros((2, 4))}, "/states"),
    ({"best_x": np.zeros(3), "trace": np.array([np.nan, 0, 0])}, "/trace"),
    ({"best_x": np.zeros(3), "attrs": {"provenance": "[1]"}}, "provenance"),
    ({"best_x": np.zeros(3), "attrs": {"seconds": "soon"}}, "seconds"),
    ({"best_x": np.zeros(3), "attrs": {"seed": "garbage {"}}, "seed"),
    ({"best_x": np.zeros(3), "attrs": {"solver": 3}}, "solver"),
])
def test_malformed_solution_files_are_one_error(tmp_path, parts, culprit):
    _write(tmp_path / "s.h5", **parts)
    with pytest.raises(QbnnError, match=culprit):
        Solution.load(tmp_path / "s.h5")


def test_solve_opens_the_qubo_file_once(tmp_path, capsys, h5_opens):
    compiler = pytest.importorskip("qbnn.compiler")
    from qbnn.topology import Topology

    X = np.array([[1, 1, -1], [-1, 1, 1], [1, -1, 1], [-1, -1, -1]], dtype=np.int8)
    cb = compiler.compile_bnn(Topology.layered([3, 2, 1]), X, np.array([1, -1, 1, -1]))
    path = tmp_path / "bnn.h5"
    compiler.save_compiled(cb, path)
    opened = h5_opens(path)
    for solver in ("ste-pt", "sa", "exact"):
        opened.clear()
        assert main(["solve", str(path), "--solver", solver, "--replicas", "4", "--steps", "20",
                     "--out", str(tmp_path / f"{solver}.h5")]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert opened == ["r"], (solver, opened)
        assert "train_errors" in out  # the BNN report still came from the one read
