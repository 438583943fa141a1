"""``qbnn decode``: a raw QUBO sample -> network file (weights), with violation/energy report."""
from __future__ import annotations

import argparse

import numpy as np

from qbnn.errors import QbnnError

HELP = "decode a 0/1 QUBO sample into a network file and report violations, repaired energy and training errors"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from qbnn.identity import add_identity_argument  # h5py: loaded with the options (cli._CommandParser)

    p.add_argument("qubo", help="QUBO HDF5 written by qbnn compile")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--sample",
        help="a `qbnn solve` solution .h5 (its /best_x), or a .npy 0/1 vector (num_variables,) or (n_weights,) weight bits",
    )
    src.add_argument(
        "--sampleset", metavar="SS.json",
        help="a dimod SampleSet as JSON (json.dump(sampleset.to_serializable())) over the QUBO's variables 0..n-1, "
             "from any sampler: its best sample after repair is decoded",
    )
    p.add_argument("--out", required=True, help="output network HDF5")
    add_identity_argument(p)


def run(args: argparse.Namespace) -> dict:
    from qbnn.compiler import load_compiled
    from qbnn.identity import Identity
    from qbnn.topology import Network

    cb = load_compiled(args.qubo)
    # the network's identity: the QUBO's, the solution's (solver, seed), then --identity
    identity = Identity.read_attrs(cb.qubo.attrs, f"QUBO file {args.qubo}")
    picked = {}
    if args.sampleset is not None:
        x, picked = best_repaired_sample(cb, args.sampleset)
    else:
        x, sample_identity = read_sample(cb, args.qubo, args.sample)
        identity = identity.updated(sample_identity)
    if x.shape[0] == cb.n_weights and cb.num_variables != cb.n_weights:
        w = (2 * x - 1).astype(np.int8)
        raw_energy, violations = None, None
    else:
        w = cb.decode(x)
        raw_energy, violations = float(cb.energy(x)), int(cb.violations(x))
    repaired = float(cb.energy(cb.repair(w)))
    errors = int(cb.topology.training_loss(w, cb.X, cb.y))
    wrong = int(np.sum(cb.topology.predict(w, cb.X) != cb.y))
    acc = 1.0 - wrong / len(cb.y)
    meta = {"method": "qubo-decode", "qubo": str(args.qubo), "violations": -1 if violations is None else violations,
            "repaired_energy": repaired, "train_loss": errors}
    Network(cb.topology, w, meta, identity.updated(args.identity)).save(args.out)
    from qbnn.evaluate import constant_predictor

    return {**picked, "out": args.out, "constant_predictor": constant_predictor(cb.topology, w, cb.X), "violations": violations, "raw_energy": raw_energy, "repaired_energy": repaired,
            "objective": float(cb.objective(w)), "train_loss": errors, "train_errors": wrong, "train_accuracy": acc}


def read_sample(cb, qubo_path: str, path: str):
    """int8 0/1 bits of ``path`` (solution .h5 or .npy): all ``num_variables`` or the ``n_weights`` weight bits,
    and the solution's identity (empty for a .npy vector)."""
    from qbnn.identity import Identity
    from qbnn.io import require_file
    from qbnn.solution import Solution

    p = require_file(path, "sample file")
    identity = Identity()
    if p.suffix in (".h5", ".hdf5"):
        sol = Solution.load(path)
        x, identity = sol.best_x, sol.identity
    else:
        try:
            x = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise QbnnError(f"sample file {p} is not a readable .npy array ({exc.__class__.__name__})") from None
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise QbnnError(f"sample file {p} must be a numeric 0/1 array, got {x.dtype}")
    x = x.reshape(-1)
    if not np.isin(x, (0, 1)).all():
        raise QbnnError(f"sample file {p} must contain only 0/1 values")
    if x.shape[0] not in (cb.n_weights, cb.num_variables):
        raise QbnnError(f"sample file {p} has {x.shape[0]} bits; {qubo_path} needs {cb.num_variables} "
                        f"(or {cb.n_weights} weight bits)")
    return x.astype(np.int8), identity


def best_repaired_sample(cb, path: str):
    """The sample of a dimod SampleSet JSON to decode, and what was picked: every sample is decoded and
    repaired (feasible ones are unchanged by it), the lowest repaired energy wins (ties: the lower raw
    energy, then the first)."""
    from qbnn.solution import read_sampleset_json, sampleset_bits

    states = sampleset_bits(read_sampleset_json(path), cb.num_variables, f"sample set file {path}")
    raw = np.asarray(cb.energy(states), dtype=np.float64).reshape(-1)
    repaired = np.asarray(cb.energy(cb.repair(cb.decode(states))), dtype=np.float64).reshape(-1)
    feasible = np.asarray(cb.violations(states)).reshape(-1) == 0
    i = int(np.lexsort((np.arange(len(raw)), raw, repaired))[0])
    return states[i], {"num_samples": int(len(states)), "feasible_samples": int(feasible.sum()), "sample_index": i}
