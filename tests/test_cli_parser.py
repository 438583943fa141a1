"""The `qbnn` parser: building it loads no command's library (h5py, scipy, torch, the compiler, ...); a command's
options are set up when that command is parsed or its help printed, and behave as before."""
import json
import subprocess
import sys

import pytest

from qbnn.cli import COMMANDS, _load, build_parser, main

#: not loaded by build_parser(): each is what some command's run() (or option set-up) needs
LIBRARIES = ("h5py", "scipy", "torch", "pandas", "sklearn", "highspy", "numba", "dimod", "matplotlib", "yaml",
             "qbnn.io", "qbnn.identity", "qbnn.compiler", "qbnn.training", "qbnn.topology", "qbnn.solvers")


def test_building_the_parser_loads_no_command_library():
    code = ("import sys, json; from qbnn.cli import build_parser; build_parser(); "
            "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout))
    assert "qbnn.cli.train" in loaded and "qbnn.cli.solve" in loaded  # every command module is imported ...
    assert sorted(m for m in loaded if m.split(".")[0] in LIBRARIES or m in LIBRARIES
                  or any(m.startswith(lib + ".") for lib in LIBRARIES)) == []  # ... but none of their libraries


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_prints_its_complete_help(command, capsys):
    if _load(COMMANDS[command]) is None:
        pytest.skip(f"qbnn.cli.{COMMANDS[command]} absent")
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: qbnn {command}") and "--debug" in text
    if command in ("compile", "decode", "evaluate", "baseline", "train-mip", "train"):
        assert "--identity" in text
    if command == "train":  # choices read from the library when the options are set up
        assert "--strategy" in text and "lns" in text


def test_a_parsed_command_has_its_defaults_runner_and_outputs():
    from qbnn.cli import solve

    args = build_parser().parse_args(["solve", "q.h5", "--out", "s.h5"])
    assert args.command == "solve" and args._run is solve.run and args._outputs == ("out", "write_model")
    assert args.solver == "auto" and args.seed == 0 and args.sampler_arg == [] and not args.debug
    args = build_parser().parse_args(["--debug", "decode", "q.h5", "--sample", "x.npy", "--out", "n.h5"])
    assert args.debug and args._outputs == ("out",) and args.identity is None


def test_usage_errors_stay_one_line(capsys):
    assert main(["train", "--data", "d.h5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qbnn: error: qbnn train: the following arguments are required")
    assert main(["decode", "q.h5", "--sample", "x.npy", "--out", "n.h5", "--identity", "seed=-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seed" in err[0]
