"""Held-out re-check of the error contract (issue 14): a few hundred bad inputs of every kind, none of
them the tests' examples (other instance, other seeds, more of each kind), thrown at ``qbnn``.

Kinds: random bytes for every reader; random corruption (attribute or dataset deleted, retyped,
replaced by a group, non-JSON text, NaN, wrong shape) of every HDF5 file kind; random topology specs;
bad numbers for every numeric option of every command; output paths that are inputs (also via
symlinks), directories, devices, empty names or under a file.

Each case runs ``qbnn.cli.main`` in-process and is classified:

* ``ok``: exit 0 and a JSON last stdout line (allowed only where the input may be harmless);
* ``refused``: exit 2, one ``qbnn: error:`` line from a validator;
* failures: ``last-resort`` (the handler's "unexpected" line: an unvalidated input), ``escaped``
  (an exception or another exit status), ``input-changed``, ``leftover`` (an output or temporary file
  after a refusal), ``accepted`` (exit 0 where a refusal is required).

Writes ``benchmarks/out/bad_inputs.csv`` (one row per case) and prints the counts.

    python benchmarks/bad_inputs.py [--per-kind 20] [--seed 1234]
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

from qbnn.cli import main

OUT = Path(__file__).resolve().parent / "out" / "bad_inputs.csv"
FAST = ["--solver", "sb", "--steps", "10", "--replicas", "2"]
VERBOSE = "-v" in sys.argv


def call(argv):
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in argv])
    except BaseException as exc:  # noqa: BLE001 - classified, not hidden
        return "escaped", f"{exc.__class__.__name__}: {exc}"[:200]
    lines = err.getvalue().strip().splitlines()
    if rc == 0:
        return "ok", ""
    if rc == 2 and len(lines) == 1 and lines[0].startswith("qbnn: error:"):
        return ("last-resort" if "unexpected" in lines[0] else "refused"), lines[0][:200]
    return "escaped", f"rc={rc} {err.getvalue()[:200]!r}"


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""


def instance(d: Path) -> None:
    """Another instance than the tests': 3x3 bars and stripes, an explicit topology with a skip edge."""
    ok = lambda argv: main([str(a) for a in argv]) == 0  # noqa: E731
    assert ok(["binarise", "--source", "bars_and_stripes", "--size", "3", "--n-samples", "40", "--train-size", "16", "--test-size", "12",
               "--noise", "0.05", "--seed", "7", "--out", d / "data.h5"])
    (d / "net.yaml").write_text("inputs: 9\nneurons:\n  a: {from: [x0, x1, x2, x4], bias: true}\n"
                                "  b: {from: [x3, x4, x5, x8], bias: true}\n  out: {from: [a, b, x6], bias: true}\n")
    assert ok(["compile", "--data", d / "data.h5", "--network", d / "net.yaml", "--margin", "0.02", "--out", d / "q.h5"])
    assert ok(["solve", d / "q.h5", *FAST, "--out", d / "sol.h5"])
    assert ok(["decode", d / "q.h5", "--sample", d / "sol.h5", "--out", d / "net.h5"])
    assert ok(["evaluate", d / "net.h5", "--data", d / "data.h5", "--out", d / "m.json"])
    from qbnn.dropout_files import Penalties
    from qbnn.topology import Topology

    Penalties(np.linspace(-0.5, 0.5, Topology.load(d / "net.yaml").n_weights)).save(d / "pen.h5")
    assert ok(["dropout-subnetwork", "--data", d / "data.h5", "--network", d / "net.yaml", "--solver", "greedy",
               "--time-limit", "none", "--k", "1", "--round", "0", "--out", d / "sub.h5"])
    assert ok(["aggregate", d / "m.json", "--out", d / "metrics.csv"])
    (d / "graph.txt").write_text("5 5\n1 2 2\n2 3 -1\n3 4 1\n4 5 1\n5 1 3\n")


READERS = {  # kind -> (file, argv with {f} file under test, {g} instance dir, {o} output)
    "qubo": ("q.h5", ["export-qubo", "{f}", "--format", "bqm-json", "--out", "{o}"]),
    "qubo-compiled": ("q.h5", ["decode", "{f}", "--sample", "{g}/sol.h5", "--out", "{o}"]),
    "qubo-solve": ("q.h5", ["solve", "{f}", *FAST, "--out", "{o}"]),
    "network": ("net.h5", ["evaluate", "{f}", "--data", "{g}/data.h5", "--out", "{o}"]),
    "network-export": ("net.h5", ["export-network", "{f}", "--format", "npz", "--out", "{o}"]),
    "solution": ("sol.h5", ["decode", "{g}/q.h5", "--sample", "{f}", "--out", "{o}"]),
    "solution-figure": ("sol.h5", ["figures", "--solutions", "{f}", "--energy-out", "{o}"]),
    "dataset": ("data.h5", ["compile", "--data", "{f}", "--network", "{g}/net.yaml", "--out", "{o}"]),
    "dataset-baseline": ("data.h5", ["baseline", "--data", "{f}", "--network", "{g}/net.yaml", "--method", "greedy",
                                     "--restarts", "1", "--out", "{o}"]),
    "dataset-mip": ("data.h5", ["train-mip", "--data", "{f}", "--time-limit", "5", "--out", "{o}"]),
    "penalties": ("pen.h5", ["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml",
                             "--weight-penalties", "{f}", "--out", "{o}"]),
    "subnetwork": ("sub.h5", ["dropout-penalties", "--data", "{g}/data.h5", "--network", "{g}/net.yaml",
                              "--subnetworks", "{f}", "--out", "{o}"]),
    "topology": ("net.yaml", ["baseline", "--data", "{g}/data.h5", "--network", "{f}", "--method", "greedy",
                              "--restarts", "1", "--out", "{o}"]),
    "metrics-json": ("m.json", ["aggregate", "{f}", "--out", "{o}"]),
    "metrics-csv": ("metrics.csv", ["figures", "--rounds-out", "{o}", "--metrics", "{f}"]),
    "graph": ("graph.txt", ["maxcut", "{f}", "--steps", "10", "--replicas", "2"]),
}


def run_case(rows, kind, case, argv, watched: list[Path], out: Path | None, must_refuse: bool):
    before = {p: digest(p) for p in watched}
    t0 = time.perf_counter()
    outcome, msg = call(argv)
    seconds = time.perf_counter() - t0
    if any(digest(p) != h for p, h in before.items()):
        outcome = "input-changed"
    elif outcome == "refused" and out is not None and (out.exists() and out.is_file() and not before.get(out)):
        outcome = "leftover"
    elif outcome == "refused" and out is not None and any(".qbnn-tmp-" in p.name for p in out.parent.iterdir()):
        outcome = "leftover"
    elif outcome == "ok" and must_refuse:
        outcome = "accepted"
    rows.append({"kind": kind, "case": case, "outcome": outcome, "seconds": round(seconds, 3), "message": msg})
    if VERBOSE:
        print(f"{seconds:7.2f}s {kind:18s} {outcome:13s} {case[:60]}", file=sys.stderr, flush=True)


def corrupt(path: Path, rng: np.random.Generator) -> str:
    nodes = []
    with h5py.File(path, "r") as f:
        nodes += [("attr", "/", k) for k in f.attrs]
        f.visititems(lambda n, o: nodes.extend([("dataset", n, "")] if isinstance(o, h5py.Dataset) else [])
                     or nodes.extend(("attr", n, k) for k in o.attrs))
    kind, name, attr = nodes[rng.integers(len(nodes))]
    choice = int(rng.integers(8))
    with h5py.File(path, "a") as f:
        if kind == "attr":
            vals = [None, "}{", "1.5", "nan", np.nan, -(2**40), np.array([[1, 2]]), "é" * 3]
            v = vals[choice]
            if v is None:
                del f[name].attrs[attr]
            else:
                f[name].attrs[attr] = v
        else:
            shape = f[name].shape
            del f[name]
            vals = [None, "group", np.array([b"q"] * max(1, int(np.prod(shape) or 1))), np.full(shape or (1,), np.inf),
                    np.zeros((0,)), np.ones((1, 1, 1)), np.full(shape or (1,), 3), np.array(["é".encode()])]
            v = vals[choice]
            if isinstance(v, str):
                f.create_group(name)
            elif v is not None:
                f.create_dataset(name, data=v)
    return f"{kind}:{name}/{attr}#{choice}"


NUMERIC = {  # command argv prefix -> numeric options
    "solve": (["solve", "{g}/q.h5", *FAST, "--out", "{o}"], ["--time-limit", "--target", "--seed", "--steps", "--replicas",
                                                     "--checkpoint-every"]),
    "maxcut": (["maxcut", "{g}/graph.txt", "--steps", "10", "--replicas", "2"], ["--time-limit", "--target", "--seed", "--steps", "--replicas"]),
    "compile": (["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{o}"], ["--margin", "--penalty"]),
    "baseline": (["baseline", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--method", "ste", "--epochs", "5",
                  "--restarts", "1", "--out", "{o}"], ["--seed", "--epochs", "--restarts", "--lr", "--time-limit"]),
    "train-mip": (["train-mip", "--dataset", "planted", "--time-limit", "5", "--out", "{o}"],
                  ["--robust", "--time-limit", "--mip-gap", "--seed", "--threads", "--solve-limit", "--n-train", "--n-test"]),
    "dropout-subnetwork": (["dropout-subnetwork", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--k", "0",
                            "--solver", "greedy", "--time-limit", "none", "--out", "{o}"], ["--round", "--p", "--seed", "--margin", "--time-limit", "--k"]),
    "dropout-penalties": (["dropout-penalties", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--solver",
                           "greedy", "--time-limit", "none", "--out", "{o}"],
                          ["--K", "--beta", "--p"]),
    "binarise": (["binarise", "--source", "bars_and_stripes", "--out", "{o}"],
                 ["--seed", "--size", "--noise", "--n-samples", "--train-size", "--per-class"]),
}
BAD_NUMBERS = ["nan", "-inf", "inf", "-1", "1e400", "abc", "", "-0.5", "NaN", "0x10"]
HUGE = str(2**70)  # a bad seed; for a time limit merely a long run, so only seeds get it


def main_(per_kind: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        g = Path(tmp) / "g"
        g.mkdir()
        instance(g)
        watched = [p for p in g.iterdir() if p.is_file()]
        for kind, (name, argv) in READERS.items():
            suffix = Path(name).suffix
            for i in range(per_kind):
                w = Path(tmp) / f"{kind}-bytes-{i}"
                w.mkdir()
                f = w / f"in{suffix}"
                data = rng.bytes(int(rng.integers(0, 600)))
                truncated = i % 3 == 1  # a valid file's prefix (a text file's may still be valid)
                if truncated:
                    data = (g / name).read_bytes()[: int(rng.integers(0, (g / name).stat().st_size))]
                f.write_bytes(data)
                o = w / "out.bin"
                run_case(rows, kind, "truncated" if truncated else "bytes", [a.format(f=f, g=g, o=o) for a in argv],
                         [f, *watched], o, not truncated or suffix == ".h5")
            if suffix != ".h5":
                continue
            for i in range(per_kind):
                w = Path(tmp) / f"{kind}-corrupt-{i}"
                w.mkdir()
                f = w / f"in{suffix}"
                shutil.copy(g / name, f)
                what = corrupt(f, rng)
                o = w / "out.bin"
                run_case(rows, kind, what, [a.format(f=f, g=g, o=o) for a in argv], [f, *watched], o, False)
        for i in range(per_kind * 4):
            w = Path(tmp) / f"topo-{i}"
            w.mkdir()
            spec = random_spec(rng)
            (w / "net.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
            o = w / "out.json"
            argv = [a.format(f=w / "net.yaml", g=g, o=o) for a in READERS["topology"][1]]
            run_case(rows, "topology-spec", repr(spec)[:80], argv, [w / "net.yaml", *watched], o, False)
        for cmd, (argv, options) in NUMERIC.items():
            for opt in options:
                for v in BAD_NUMBERS + ([HUGE] if opt == "--seed" else []):
                    w = Path(tmp) / f"num-{cmd}{opt}{(BAD_NUMBERS + [HUGE]).index(v)}"
                    w.mkdir()
                    o = w / "out.bin"
                    full = [a.format(g=g, o=o) for a in argv] + [f"{opt}={v}"]
                    valid_target = opt == "--target" and v in ("-1", "-0.5")  # any finite energy/cut is a target
                    run_case(rows, "number", f"{cmd} {opt}={v}", full, watched, o, not valid_target)
        for cmd, inputs in [(["compile", "--data", g / "data.h5", "--network", g / "net.yaml", "--out"],
                             [g / "data.h5", g / "net.yaml"]),
                            (["evaluate", g / "net.h5", "--data", g / "data.h5", "--out"], [g / "net.h5", g / "data.h5"]),
                            (["decode", g / "q.h5", "--sample", g / "sol.h5", "--out"], [g / "q.h5", g / "sol.h5"]),
                            (["binarise", "--source", "bars_and_stripes", "--out", g / "data.h5", "--grid"], [g / "data.h5"]),
                            (["solve", g / "q.h5", *FAST, "--checkpoint", g / "m.json", "--out"], [g / "q.h5", g / "m.json"])]:
            links = []
            for i, p in enumerate(inputs):
                links += [Path(tmp) / f"sym{len(rows)}_{i}{p.suffix}", Path(tmp) / f"hard{len(rows)}_{i}{p.suffix}"]
                os.symlink(p, links[-2])
                os.link(p, links[-1])
            dotted = g / "." / ".." / g.name / inputs[0].name
            for target in [*inputs, *links, dotted, g, Path("/dev/null"), "", g / "net.yaml" / "x", f"{g}/"]:
                run_case(rows, "output-path", f"{cmd[0]} -> {target}", [*cmd, target], inputs, None, True)
    return rows


def random_spec(rng: np.random.Generator):
    atoms = [None, True, 0, -1, 3, 9, 1e30, "x0", "ü", "a b", [], {}, [9, 2, 1], [3, 3], "2", float("nan")]
    def any_(depth=0):
        r = rng.integers(len(atoms) + (3 if depth < 2 else 0))
        if r < len(atoms):
            return atoms[r]
        if r == len(atoms):
            return [any_(depth + 1) for _ in range(int(rng.integers(0, 4)))]
        return {str(atoms[int(rng.integers(len(atoms)))]): any_(depth + 1) for _ in range(int(rng.integers(0, 3)))}
    keys = ["layers", "bias", "inputs", "neurons", "outputs", "receptive_field", "head"]
    spec = {k: any_() for k in keys if rng.random() < 0.4}
    if rng.random() < 0.5:
        spec["receptive_field"] = {k: any_() for k in ["image", "patch", "stride", "channels"] if rng.random() < 0.7}
    if rng.random() < 0.3:
        spec = {"inputs": 9, "neurons": {str(any_()): {"from": [any_(), "x1"], "bias": any_()} for _ in range(2)}}
    return spec


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("-v", action="store_true", help="one line per case on stderr")
    a = ap.parse_args()
    rows = main_(a.per_kind, a.seed)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=["kind", "case", "outcome", "seconds", "message"])
        wr.writeheader()
        wr.writerows(rows)
    from collections import Counter

    counts = Counter(r["outcome"] for r in rows)
    bad = [r for r in rows if r["outcome"] not in ("ok", "refused")]
    print(f"{len(rows)} cases: {dict(counts)}; failures: {len(bad)}")
    for r in bad[:40]:
        print(" ", r["kind"], r["case"], r["outcome"], r["message"], file=sys.stderr)
