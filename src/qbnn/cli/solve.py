"""``qbnn solve``: minimise a QUBO file with a PyTorch Ising machine."""
from __future__ import annotations

import argparse
import json

import numpy as np

from qbnn import validate as V
from qbnn.compiler import load_compiled
from qbnn.errors import QbnnError

HELP = "solve a QUBO file with an Ising machine (sb, dsb, sa, ma) or a BNN strategy, and write the solution HDF5"

GENERIC_SOLVERS = ("sb", "dsb", "sa", "ma", "exhaustive")
# Training-grade strategies for compiled BNN QUBOs (feasibility-preserving cluster moves; qbnn.bnn_solving).
BNN_STRATEGIES = ("pt", "anneal-moves", "greedy-moves", "portfolio", "decode-reanneal", "ste-pt")
SOLVER_CHOICES = ("auto",) + GENERIC_SOLVERS + BNN_STRATEGIES + ("exact",)  # exact: certified optimum (HiGHS MILP)
#: --solver auto: the strategy benchmarks/bnn_solving.py shows best on compiled BNN QUBOs (docs/bnn-solving.md:
#: generic Ising solvers decode to near-constant predictors there), and otherwise the generic Ising machine
#: benchmarks/solvers.py shows fastest to target on G-set (sa; docs/solvers.md)
AUTO_BNN, AUTO_GENERIC = "ste-pt", "sa"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("qubo", help="QUBO HDF5 file (qbnn format)")
    p.add_argument("--solver", default="auto", choices=SOLVER_CHOICES,
                   help=f"auto (default): {AUTO_BNN} on a QUBO from `qbnn compile`, else {AUTO_GENERIC}")
    p.add_argument("--replicas", type=V.count, default=64)
    p.add_argument("--steps", type=V.count, default=1000)
    p.add_argument("--time-limit", type=V.seconds, default=None,
                   help="wall-clock budget in seconds (restarts until spent); 'none' (default): one anneal")
    p.add_argument("--target", type=V.finite, default=None, help="stop once this QUBO energy is reached")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--no-polish", action="store_true", help="skip the greedy steepest-descent polish")
    p.add_argument("--save-states", action="store_true", help="also store all replica states in /states")
    p.add_argument("--out", required=True, help="solution HDF5 to write")
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="checkpoint file: resume from it if present, write it every --checkpoint-every steps "
                        "(sb, dsb, sa, ma); removed after the solution is written")
    p.add_argument("--checkpoint-every", type=V.count, default=None, metavar="N",
                   help="steps between checkpoints (default: steps // 10)")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint file after success")


#: kept for callers of the old name: seconds > 0, or none/null
seconds_or_none = V.seconds


def _bnn_report(path: str, best_x: np.ndarray) -> dict:
    """repaired_energy / train_errors when the QUBO came from the BNN compiler (else {})."""
    try:
        cb = load_compiled(path)
    except (QbnnError, KeyError, ValueError, TypeError):
        return {}
    w = cb.decode(best_x)
    xr = cb.repair(w)
    out = {"repaired_energy": float(cb.qubo.energy(xr)), "objective": float(cb.objective(w))}
    try:
        pred = np.asarray(cb.topology.predict(w, cb.X)).reshape(-1)
        y = np.asarray(cb.y).reshape(-1)
        out["train_errors"] = int((pred != y).sum())
        out["constant_predictor"] = bool(np.unique(pred).size == 1)
    except Exception:  # noqa: BLE001 - reporting only
        pass
    return out


def run(args: argparse.Namespace) -> dict:
    import h5py

    from qbnn.errors import QbnnError
    from qbnn.io import atomic_output
    from qbnn.qubo import QUBO
    from qbnn.storage_layout import guard_solve
    from qbnn.solvers import IsingProblem, resolve_device, solve

    dev = resolve_device(args.device)
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise QbnnError(f"--checkpoint-every must be >= 1 step, got {args.checkpoint_every}")
    guard_solve(args.qubo, args.replicas, args.solver, dev, steps=args.steps)  # before loading anything big
    q = QUBO.load(args.qubo)
    if args.solver == "auto":
        args.solver = AUTO_BNN if _is_bnn(q) else AUTO_GENERIC
    ckpt = _checkpoint(args, dev)
    if args.solver in BNN_STRATEGIES:
        from qbnn.bnn_solving import solve_bnn_qubo_file

        if not _is_bnn(q):
            raise QbnnError(f"--solver {args.solver} needs a QUBO compiled by `qbnn compile` ({args.qubo} is not one)")
        res = solve_bnn_qubo_file(
            args.qubo, args.solver, replicas=args.replicas, steps=args.steps, time_limit=args.time_limit,
            seed=args.seed, device=args.device,
        )
    elif args.solver == "exact":
        from qbnn.bnn_solving.exact_milp import solve_exact_qubo_file

        res = solve_exact_qubo_file(args.qubo, time_limit=args.time_limit, seed=args.seed)
    else:
        prob = IsingProblem.from_qubo(q)
        opts = {}
        if args.solver != "exhaustive":
            opts = dict(replicas=args.replicas, steps=args.steps, time_limit=args.time_limit, device=args.device,
                        seed=args.seed, polish=not args.no_polish, target_energy=args.target)
            if ckpt is not None:
                opts["checkpoint"] = ckpt
        res = solve(prob, args.solver, **opts)
    best_x = res.best_bits
    e_check = float(q.energy(best_x))
    if abs(e_check - res.best_energy) > 1e-6 * max(1.0, abs(e_check)):
        raise QbnnError(f"internal error: spin energy {res.best_energy} != QUBO energy {e_check}")
    with atomic_output(args.out, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "qbnn-solution"
            f.attrs["solver"] = args.solver
            f.attrs["seed"] = args.seed
            f.attrs["replicas"] = args.replicas
            f.attrs["steps"] = args.steps
            f.attrs["device"] = str(res.info.get("device", "cpu"))
            f.attrs["qubo"] = str(args.qubo)
            f.attrs["best_energy"] = e_check
            f.attrs["seconds"] = res.seconds
            f.attrs["seconds_to_best"] = res.seconds_to_best
            f.attrs["info"] = json.dumps(res.info, default=float)
            f.create_dataset("best_x", data=best_x.astype(np.int8))
            f.create_dataset("energies", data=np.asarray(res.energies, dtype=np.float64))
            f.create_dataset("trace", data=res.trace_array())
            if args.save_states:
                f.create_dataset("states", data=res.bits, compression="gzip", compression_opts=1)
    if ckpt is not None:
        ckpt.remove()  # only now: the solution file is in place
    summary = {"solver": args.solver, "best_energy": e_check, "seconds_to_best": res.seconds_to_best,
               "seconds": res.seconds, "num_variables": q.num_variables, "out": str(args.out),
               "reached_target": res.reached_target}
    if args.checkpoint is not None:
        summary["checkpoint"] = ("unsupported" if ckpt is None else
                                 {"writes": ckpt.writes, "resumed_from_step": ckpt.resumed_from})
    summary.update(_bnn_report(args.qubo, best_x))
    summary.update(res.info.get("certificate", {}))  # --solver exact: proven_optimal, objective, bound, gap
    return summary


def _is_bnn(q) -> bool:
    """Whether a loaded QUBO was compiled from BNN training by `qbnn compile`."""
    return q.attrs.get("formulation_version") is not None or "topology" in q.attrs


def _checkpoint(args: argparse.Namespace, dev):
    """The Checkpoint for a generic solver run (None without --checkpoint); keyed by every option
    that changes the trajectory, so a stale file from another solve is not resumed."""
    if args.checkpoint is None:
        return None
    from qbnn.solvers.checkpoint import Checkpoint, _note

    if args.solver not in ("sb", "dsb", "sa", "ma"):
        _note(f"--checkpoint is not supported by solver {args.solver}; running without")
        return None

    every = args.checkpoint_every or max(1, args.steps // 10)
    key = {"replicas": args.replicas, "steps": args.steps, "seed": args.seed, "polish": not args.no_polish,
           "target": args.target, "time_limit": args.time_limit, "device": dev.type}
    return Checkpoint(args.checkpoint, every, key=key, keep=args.keep_checkpoint)
