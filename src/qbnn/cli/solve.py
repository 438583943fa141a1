"""``qbnn solve``: minimise a QUBO file with a PyTorch Ising machine."""
from __future__ import annotations

import argparse

import numpy as np

from qbnn import solver_registry as registry
from qbnn import validate as V
from qbnn.errors import QbnnError

HELP = ("solve a QUBO file with an Ising machine, a BNN strategy, the exact MILP or a dimod sampler "
        "(qbnn.solver_registry), and write the solution HDF5")

#: files this command writes (committed together; `--write-model` only with --solver exact)
OUTPUTS = ("out", "write_model")
SOLVER_CHOICES = ("auto",) + registry.names()


def solver_name(text: str) -> str:
    """``--solver``: ``auto``, a registered name, or ``dimod:MODULE.CLASS`` (checked when the run starts)."""
    if text in SOLVER_CHOICES or registry.is_dimod(text):
        return text
    raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(SOLVER_CHOICES)}, "
                                     "or dimod:MODULE.CLASS)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("qubo", help="QUBO HDF5 file (qbnn format)")
    p.add_argument("--solver", default="auto", type=solver_name,
                   metavar="{" + ",".join(SOLVER_CHOICES) + "}|dimod:MODULE.CLASS",
                   help=f"auto (default): {registry.AUTO_BNN} on a QUBO from `qbnn compile`, else "
                        f"{registry.AUTO_GENERIC}; dimod:MODULE.CLASS: any dimod sampler "
                        "(docs/records-and-registry.md)")
    p.add_argument("--sampler-arg", action="append", default=[], metavar="NAME=VALUE",
                   help="dimod samplers: a keyword of sampler.sample() (value read as JSON, else text); repeatable")
    p.add_argument("--replicas", type=V.count, default=None,
                   help=f"default: the solver's in qbnn.solver_registry ({registry.REPLICAS}); dimod: num_reads")
    p.add_argument("--steps", type=V.count, default=None,
                   help=f"default: the solver's in qbnn.solver_registry ({registry.STEPS}); dimod: num_sweeps")
    p.add_argument("--time-limit", type=V.seconds, default=registry.TIME_LIMIT,
                   help="wall-clock budget in seconds (restarts until spent); 'none' (default): one anneal")
    p.add_argument("--target", type=V.finite, default=None, help="stop once this QUBO energy is reached")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--no-polish", action="store_true", help="skip the greedy steepest-descent polish")
    p.add_argument("--save-states", action="store_true", help="also store all replica states in /states")
    p.add_argument("--out", required=True, help="solution HDF5 to write")
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="checkpoint file: resume from it if present, write it every --checkpoint-every steps "
                        f"({', '.join(n for n, s in registry.SOLVERS.items() if s.checkpoint)}); "
                        "removed after the solution is written")
    p.add_argument("--checkpoint-every", type=V.count, default=None, metavar="N",
                   help="steps between checkpoints (default: steps // 10)")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint file after success")
    p.add_argument("--write-model", metavar="MODEL.mps",
                   help="--solver exact: also write its MILP (.mps or .lp, HiGHS writeModel) for Gurobi, CPLEX or SCIP")
    p.add_argument("--read-solution", metavar="SOL",
                   help="--solver exact: instead of solving, take the weights of an outside solver's solution file "
                        "(Gurobi .sol, SCIP, CBC, HiGHS: 'c0 1' lines) of the model --write-model wrote")


#: kept for callers of the old name: seconds > 0, or none/null
seconds_or_none = V.seconds


def _bnn_report(cb, best_x: np.ndarray) -> dict:
    """repaired_energy / train_errors when the QUBO came from the BNN compiler (``cb``; else {})."""
    if cb is None:
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
    from qbnn.identity import Identity
    from qbnn.io import shared_h5
    from qbnn.storage_layout import guard_solve
    from qbnn.solvers import resolve_device

    sampler = None
    if registry.is_dimod(args.solver):  # a bad module/class/argument is refused before anything is read
        from qbnn.solvers.dimod_backend import load_sampler, parse_sampler_args, sample_kwargs

        sampler = load_sampler(args.solver)
        args.sampler_args = parse_sampler_args(args.sampler_arg)
        sample_kwargs(sampler, args.solver, args.sampler_args)
    elif args.sampler_arg:
        raise QbnnError(f"--sampler-arg applies to dimod:MODULE.CLASS solvers, not {args.solver}")
    for flag, value in (("--write-model", args.write_model), ("--read-solution", args.read_solution)):
        if value is not None and args.solver != "exact":
            raise QbnnError(f"{flag} applies to --solver exact, not {args.solver}")
    if args.write_model is not None:
        from qbnn.mip.builder import check_model_path

        check_model_path(args.write_model)
    dev = resolve_device(args.device)
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise QbnnError(f"--checkpoint-every must be >= 1 step, got {args.checkpoint_every}")
    with shared_h5(args.qubo, "QUBO file") as f:  # the one open of the QUBO file in this command
        if args.solver == "auto":
            args.solver = registry.resolve_auto(_is_bnn(f.attrs))
        spec = registry.get(args.solver)
        for key, value in spec.defaults().items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        guard_solve(args.qubo, args.replicas or 1, args.solver, dev, steps=args.steps or 0)  # before loading
        q, cb = _load(args.qubo, f.attrs, need_bnn=args.solver if spec.kind == "bnn" or args.solver == "exact" else None)
        ckpt = _checkpoint(args, dev)
        res = _solve(args, spec, q, cb, ckpt, sampler)
    from qbnn.solution import Solution

    settings = {"replicas": args.replicas, "steps": args.steps, "time_limit": args.time_limit,
                "target": args.target, "polish": not args.no_polish, "device": args.device}
    if sampler is not None:
        settings["sampler_args"] = args.sampler_args
    sol = Solution.from_result(res, q, solver=args.solver, seed=args.seed, settings=settings, qubo_path=str(args.qubo),
                               keep_states=args.save_states)
    # the QUBO's identity (qbnn.identity) with this solve's solver and seed
    sol.identity = Identity.read_attrs(q.attrs, f"QUBO file {args.qubo}").updated(
        Identity(solver=args.solver, seed=args.seed))
    sol.save(args.out)
    if ckpt is not None:
        ckpt.remove()  # only now: the solution file is in place
    summary = {"solver": args.solver, "best_energy": sol.best_energy, "seconds_to_best": res.seconds_to_best,
               "seconds": res.seconds, "num_variables": q.num_variables, "out": str(args.out),
               "reached_target": res.reached_target}
    if args.write_model is not None:
        summary["model"] = str(args.write_model)
    if args.checkpoint is not None:
        summary["checkpoint"] = ("unsupported" if ckpt is None else
                                 {"writes": ckpt.writes, "resumed_from_step": ckpt.resumed_from})
    summary.update(_bnn_report(cb, sol.best_x))
    summary.update(res.info.get("certificate", {}))  # --solver exact: proven_optimal, objective, bound, gap
    return summary


def _solve(args, spec, q, cb, ckpt, sampler):
    """Run the chosen solver on the loaded QUBO ``q`` (``cb``: its compiled BNN, or None)."""
    if spec.kind == "bnn":
        from qbnn.bnn_solving import as_solve_result, solve_bnn

        return as_solve_result(solve_bnn(cb, args.solver, replicas=args.replicas, steps=args.steps,
                                         time_limit=args.time_limit, seed=args.seed, device=args.device))
    if spec.kind == "external":
        from qbnn.solvers.dimod_backend import solve_dimod

        return solve_dimod(q, args.solver, args.sampler_args, sampler=sampler, replicas=args.replicas,
                           steps=args.steps, seed=args.seed, time_limit=args.time_limit)
    if args.solver == "exact" and args.read_solution is not None:
        from qbnn.bnn_solving.exact_milp import exact_from_solution_file

        return exact_from_solution_file(cb, args.read_solution)
    if args.solver == "exact":
        return spec.load()(cb, time_limit=args.time_limit, seed=args.seed, name=args.qubo,
                           write_model=args.write_model)
    from qbnn.solvers import IsingProblem, solve

    opts = {}
    if args.solver != "exhaustive":
        opts = dict(replicas=args.replicas, steps=args.steps, time_limit=args.time_limit, device=args.device,
                    seed=args.seed, polish=not args.no_polish, target_energy=args.target)
        if ckpt is not None:
            opts["checkpoint"] = ckpt
    return solve(IsingProblem.from_qubo(q), args.solver, **opts)


def _load(path: str, attrs, need_bnn: str | None):
    """``(QUBO, CompiledBNN or None)``: the compiled problem when the file came from `qbnn compile`
    (parsed once, its QUBO reused); ``need_bnn``: the solver that refuses other files."""
    from qbnn.compiler import load_compiled  # scipy: loaded when the command runs, not when the parser is built
    from qbnn.qubo import QUBO

    if not _is_bnn(attrs):
        if need_bnn:
            raise QbnnError(f"--solver {need_bnn} needs a QUBO compiled by `qbnn compile` ({path} is not one)")
        return QUBO.load(path), None
    try:
        cb = load_compiled(path)
    except QbnnError:
        if need_bnn:
            raise
        return QUBO.load(path), None  # BNN-looking attributes but not loadable: solve it as a plain QUBO
    return cb.qubo, cb


def _is_bnn(attrs) -> bool:
    """Whether a QUBO file's attributes say `qbnn compile` wrote it."""
    return attrs.get("formulation_version") is not None or "topology" in attrs


def _checkpoint(args: argparse.Namespace, dev):
    """The Checkpoint for a generic solver run (None without --checkpoint); keyed by every option
    that changes the trajectory, so a stale file from another solve is not resumed."""
    if args.checkpoint is None:
        return None
    from qbnn.solvers.checkpoint import Checkpoint, _note

    if not registry.get(args.solver).checkpoint:
        _note(f"--checkpoint is not supported by solver {args.solver}; running without")
        return None

    every = args.checkpoint_every or max(1, args.steps // 10)
    key = {"replicas": args.replicas, "steps": args.steps, "seed": args.seed, "polish": not args.no_polish,
           "target": args.target, "time_limit": args.time_limit, "device": dev.type}
    return Checkpoint(args.checkpoint, every, key=key, keep=args.keep_checkpoint)
