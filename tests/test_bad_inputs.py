"""Table-driven bad-input tests: every bad input yields a clean one-line error."""
from __future__ import annotations

import pytest

from qbnn.cli import main

CASES = [
    ("binarise-missing-config", ["binarise", "--config", "{tmp}/nope.yaml", "--out", "{tmp}/o.h5"]),
    ("compile-missing-data", ["compile", "{tmp}/nope.h5", "--out", "{tmp}/o.h5"]),
    ("solve-missing-qubo", ["solve", "{tmp}/nope.h5", "--out", "{tmp}/o.h5"]),
    ("evaluate-missing", ["evaluate", "{tmp}/nope.h5", "--out", "{tmp}/o.json"]),
    ("unknown-command", ["no-such-command"]),
    ("solve-unknown-solver", ["solve", "{tmp}/nope.h5", "--solver", "bogus", "--out", "{tmp}/o.h5"]),
    ("maxcut-unknown-solver", ["maxcut", "{tmp}/nope.h5", "--solver", "bogus", "--out", "{tmp}/o.h5"]),
    ("export-qubo-unknown-format", ["export-qubo", "{tmp}/nope.h5", "--format", "xml", "--out", "{tmp}/o.h5"]),
    ("export-network-unknown-format", ["export-network", "{tmp}/nope.h5", "--format", "xml", "--out", "{tmp}/o.h5"]),
    ("baseline-unknown-method", ["baseline", "{tmp}/nope.h5", "--method", "bogus", "--out", "{tmp}/o.h5"]),
]


@pytest.mark.parametrize("name,argv", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, argv, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc != 0
    assert "error:" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o.h5").exists()
    assert not (tmp_path / "o.json").exists()
