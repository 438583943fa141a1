"""The ``qbnn`` command line.

Each subcommand lives in its own module ``qbnn.cli.<module>`` exposing

* ``HELP: str`` -- one-line description;
* ``add_arguments(parser: argparse.ArgumentParser) -> None``;
* ``run(args: argparse.Namespace) -> dict | None`` -- does the work; a returned dict is
  printed as the command's last stdout line (one JSON object).

User errors raise :class:`qbnn.errors.QbnnError`; they are printed as one line
``qbnn: error: ...`` with exit status 2 (a traceback only with ``--debug``).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from qbnn.errors import QbnnError

# command name -> module under qbnn.cli (modules that do not exist are skipped).
COMMANDS: dict[str, str] = {
    "binarise": "binarise",
    "compile": "compile_qubo",
    "export-qubo": "export_qubo",
    "decode": "decode",
    "solve": "solve",
    "maxcut": "maxcut",
    "evaluate": "evaluate",
    "baseline": "baseline",
    "dropout-penalties": "dropout_penalties",
    "dropout-subnetwork": "dropout_subnetwork",
    "aggregate": "aggregate",
    "figures": "figures",
    "train-mip": "train_mip",
    "export-network": "export_network",
}


def _load(module: str):
    name = f"qbnn.cli.{module}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def build_parser() -> argparse.ArgumentParser:
    from qbnn import __version__

    parser = argparse.ArgumentParser(prog="qbnn", description="Exact training of binary neural networks.")
    parser.add_argument("--version", action="version", version=f"qbnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        mod = _load(module)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser



def main(argv: list[str] | None = None) -> int:
    from qbnn.io import print_summary

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with a one-line usage error
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        summary = args._run(args)
    except QbnnError as exc:
        if debug:
            raise
        print(f"qbnn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qbnn: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            raise
        print("qbnn: error: out of memory", file=sys.stderr)
        return 2
    if summary is not None:
        print_summary(summary)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
