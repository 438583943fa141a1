"""The ``qbnn`` command line.

Each subcommand lives in its own module ``qbnn.cli.<module>`` exposing

* ``HELP: str`` -- one-line description;
* ``add_arguments(parser: argparse.ArgumentParser) -> None``;
* ``run(args: argparse.Namespace) -> dict | None`` -- does the work; a returned dict is
  printed as the command's last stdout line (one JSON object).

Building the parser imports every command module (for ``HELP``) but calls ``add_arguments`` only for
the command being parsed or whose help is printed (:class:`_CommandParser`), and command modules keep
their libraries (h5py, scipy, torch, the compiler) out of module level, so ``qbnn --help`` and light
commands start without them (``tests/test_cli_parser.py``).

User errors raise :class:`qbnn.errors.QbnnError`; they are printed as one line
``qbnn: error: ...`` with exit status 2 (a traceback only with ``--debug``).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import warnings

from qbnn import __version__
from qbnn.errors import QbnnError
from qbnn.validate import check_outputs

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
    "paper-b-figures": "paper_b_figures",
    "export-network": "export_network",
    "train": "train",
}


def _load(module: str):
    name = f"qbnn.cli.{module}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


class _Parser(argparse.ArgumentParser):
    """argparse with the qbnn error contract: a usage error is one ``qbnn: error:`` line, exit 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"qbnn: error: {self.prog}: {message} (see {self.prog} --help)\n")


class _CommandParser(_Parser):
    """A command's parser, whose options its module adds (``add_arguments``) when the parser is first used:
    to parse a command line or to print its help. Building the ``qbnn`` parser so costs one import of each
    command module, not the option set-up of all sixteen (some read their choices from the library, e.g.
    ``qbnn train``'s strategies), and ``qbnn --help`` or a light command starts fast."""

    def __init__(self, *args, module=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._module = module

    def _complete(self) -> None:
        mod, self._module = self._module, None
        if mod is not None:
            self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                              help="show tracebacks on errors")
            mod.add_arguments(self)
            self.set_defaults(_run=mod.run, _outputs=_output_options(mod, self))

    def parse_known_args(self, *args, **kwargs):  # noqa: D102 - argparse API; the subcommand action calls it
        self._complete()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:  # noqa: D102 - argparse API
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:  # noqa: D102 - argparse API
        self._complete()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qbnn", description="Exact training of binary neural networks.")
    parser.add_argument("--version", action="version", version=f"qbnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    for name, module in COMMANDS.items():
        mod = _load(module)
        if mod is None:
            continue
        text = mod.HELP.replace("%", "%%")  # argparse %-formats help strings
        sub.add_parser(name, help=text, description=text, module=mod)
    return parser


def _output_options(mod, p: argparse.ArgumentParser) -> tuple[str, ...]:
    """The option dests a command writes: its module's OUTPUTS, else ``out`` and ``*_out``."""
    declared = getattr(mod, "OUTPUTS", None)
    if declared is not None:
        return tuple(declared)
    return tuple(a.dest for a in p._actions if a.dest == "out" or a.dest.endswith("_out"))


def _paths(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def check_paths(args: argparse.Namespace) -> list[str]:
    """Run :func:`qbnn.validate.check_outputs` on a parsed command line; returns the output paths."""
    outs = [(f"--{d.replace('_', '-')}", getattr(args, d, None)) for d in args._outputs]
    skip = set(args._outputs) | {"command", "_run", "_outputs", "checkpoint", "debug"}
    ins = [(k.replace("_", "-"), p) for k, v in vars(args).items() if k not in skip for p in _paths(v)]
    check_outputs(outs, ins, getattr(args, "checkpoint", None))
    return [p for _, p in outs if p is not None]


def main(argv: list[str] | None = None) -> int:
    from qbnn.io import output_transaction, print_summary  # h5py: loaded once a command runs

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # usage errors: one line, exit 2 (_Parser.error)
    except SystemExit as exc:  # --help, --version, usage errors: the same status in-process
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    caught: list = []
    try:
        # warnings are held back: shown after a success, dropped after a failure (whose one line says it all)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            outputs = check_paths(args)
            with output_transaction(outputs):  # several output files: all or none
                summary = args._run(args)
    except QbnnError as exc:
        if debug:
            raise
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("qbnn: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            raise
        return _fail("out of memory")
    except OSError as exc:  # an output or input path the OS refused (permissions, full disk, ...)
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc.__class__.__name__}")
    except Exception as exc:  # noqa: BLE001 - last resort: still one line, traceback with --debug
        if debug:
            raise
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        return _fail(f"unexpected {exc.__class__.__name__}{': ' + detail if detail else ''} "
                     f"(a bug or an unvalidated input; rerun with --debug for the traceback)")
    for w in caught:
        print(warnings.formatwarning(w.message, w.category, w.filename, w.lineno).rstrip(), file=sys.stderr)
    if summary is not None:
        print_summary(summary)
    return 0


def _fail(message: str) -> int:
    print(f"qbnn: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
