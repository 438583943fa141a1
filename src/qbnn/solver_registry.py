"""The one list of solvers: name -> entry point, kind, defaults, devices, step-budget behaviour.

``qbnn solve`` / ``qbnn maxcut`` take their ``--solver`` choices and defaults from here, the
workflow its solver defaults (``workflow/rules/common.smk``), ``qbnn.solvers.solve`` its dispatch
table, ``docs/solvers.md`` its table (:func:`markdown_table`), and a test checks the config schema's
solver names against :func:`workflow_names`. Adding a solver is one :class:`SolverSpec` below
(``docs/records-and-registry.md``).

Kinds: ``ising`` (generic Ising machine on any QUBO), ``bnn`` (move-based strategy on a QUBO written
by ``qbnn compile``), ``exact`` (certified optimum), ``external`` (a dimod sampler named
``dimod:MODULE.CLASS``, resolved when used).

This module imports nothing heavy (no torch, no CLI), so argument parsers and the Snakemake process
read it cheaply; entry points are ``"module:function"`` strings imported on :meth:`SolverSpec.load`.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

try:
    from qbnn.errors import QbnnError
except ImportError:  # loaded by file path from a Snakemake process without qbnn (common.smk)
    QbnnError = ValueError  # type: ignore[misc,assignment]

KINDS = {
    "ising": "generic Ising machine (any QUBO)",
    "bnn": "BNN-aware strategy (QUBO from `qbnn compile`)",
    "exact": "exact (certified optimum)",
    "external": "external dimod sampler",
}

#: ``dimod:`` + a dotted ``module.Class`` path (at least one dot)
DIMOD_PREFIX = "dimod:"
DIMOD_PATTERN = r"^dimod:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"

#: defaults every replica/step solver shares (``qbnn solve --replicas/--steps/--time-limit``)
REPLICAS, STEPS, TIME_LIMIT = 64, 1000, None


@dataclass(frozen=True)
class SolverSpec:
    """One solver. ``replicas``/``steps`` None: the solver has no such knob (``exhaustive``, ``exact``)."""

    name: str
    kind: str
    entry: str  # "module:function"
    description: str
    devices: tuple[str, ...] = ("cpu", "cuda")
    step_budget: bool = True  # with time_limit null, --steps fixes the work: same seed, same result
    replicas: int | None = REPLICAS
    steps: int | None = STEPS
    time_limit: float | None = TIME_LIMIT
    checkpoint: bool = False  # resumes from `qbnn solve --checkpoint`
    workflow: bool = True  # allowed in the config's `solvers` lists
    aliases: tuple[str, ...] = field(default_factory=tuple)  # extra names for qbnn.solvers.solve only

    def load(self):
        """The entry point (imported now)."""
        module, _, attr = self.entry.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def function_name(self) -> str:
        return self.entry.partition(":")[2]

    def defaults(self) -> dict:
        """``replicas``, ``steps``, ``time_limit`` of a run that does not set them."""
        return {"replicas": self.replicas, "steps": self.steps, "time_limit": self.time_limit}


_ISING = "qbnn.solvers"
_BNN = "qbnn.bnn_solving.portfolio"

SOLVERS: dict[str, SolverSpec] = {s.name: s for s in (
    SolverSpec("sa", "ising", f"{_ISING}.sa:simulated_annealing", "simulated annealing: one Metropolis sweep per "
               "step, a colour class at a time, all replicas at once; the fastest generic solver on G-set",
               checkpoint=True),
    SolverSpec("sb", "ising", f"{_ISING}.sb:ballistic_sb", "ballistic simulated bifurcation (Goto et al. 2021), "
               "one symplectic-Euler step per step", checkpoint=True, aliases=("bsb",)),
    SolverSpec("dsb", "ising", f"{_ISING}.sb:discrete_sb", "discrete simulated bifurcation (Goto et al. 2021)",
               checkpoint=True),
    SolverSpec("ma", "ising", f"{_ISING}.ma:momentum_annealing", "momentum annealing (Okuyama et al. 2019), "
               "all spins in parallel", checkpoint=True),
    SolverSpec("exhaustive", "exact", f"{_ISING}.exhaustive:exhaustive_search", "enumerates all 2^n states "
               "(at most 24 variables)", devices=("cpu",), step_budget=False, replicas=None, steps=None, workflow=False),
    SolverSpec("pt", "bnn", f"{_BNN}:_run_pt", "parallel tempering on feasibility-preserving cluster moves, "
               "random starts"),
    SolverSpec("anneal-moves", "bnn", f"{_BNN}:_run_anneal", "annealed Metropolis on cluster moves"),
    SolverSpec("greedy-moves", "bnn", f"{_BNN}:_run_greedy_moves", "multi-start steepest descent on cluster "
               "moves (restarts until the time limit)"),
    SolverSpec("portfolio", "bnn", f"{_BNN}:_run_portfolio", "warm starts (STE, greedy), PT, annealing "
               "restarts sharing one budget"),
    SolverSpec("decode-reanneal", "bnn", f"{_BNN}:_run_decode_reanneal", "sa on the raw QUBO, decoded "
               "replicas seed PT"),
    SolverSpec("ste-pt", "bnn", f"{_BNN}:_run_ste_pt", "one STE run seeds every replica, PT around it; the "
               "best strategy in benchmarks/bnn_solving.py"),
    SolverSpec("exact", "exact", "qbnn.bnn_solving.exact_milp:solve_exact_compiled", "exact MILP of BNN "
               "training (HiGHS): certified optimum of small instances", devices=("cpu",), step_budget=False,
               replicas=None, steps=None, workflow=False),
)}

#: ``--solver auto``: benchmarks/bnn_solving.py (BNN QUBOs: generic solvers decode to near-constant
#: predictors) and benchmarks/solvers.py (sa fastest to target on G-set; docs/solvers.md)
AUTO_BNN, AUTO_GENERIC = "ste-pt", "sa"

#: the dropout subnetworks' solve (``qbnn dropout-subnetwork``; config ``dropout``: solver, replicas, steps)
SUBNETWORK_DEFAULTS = {"solver": "portfolio", "replicas": 16, "steps": 500}

#: workflow job threads when solver_settings does not say
WORKFLOW_THREADS = 1


def names(*kinds: str) -> tuple[str, ...]:
    """Registered names (of ``kinds``, all when none given), in registry order."""
    return tuple(n for n, s in SOLVERS.items() if not kinds or s.kind in kinds)


def workflow_names() -> tuple[str, ...]:
    """Names the config's ``solvers`` lists accept (besides ``dimod:MODULE.CLASS``)."""
    return tuple(n for n, s in SOLVERS.items() if s.workflow)


def is_dimod(name: str) -> bool:
    return isinstance(name, str) and name.startswith(DIMOD_PREFIX)


def get(name: str) -> SolverSpec:
    """The spec of ``name`` (a registered name, an alias, or ``dimod:MODULE.CLASS``); QbnnError otherwise."""
    if name in SOLVERS:
        return SOLVERS[name]
    for s in SOLVERS.values():
        if name in s.aliases:
            return s
    if is_dimod(name):
        if not re.match(DIMOD_PATTERN, name):
            raise QbnnError(f"solver {name!r}: expected dimod:MODULE.CLASS, e.g. "
                            "dimod:dwave.samplers.SimulatedAnnealingSampler")
        return SolverSpec(name, "external", "qbnn.solvers.dimod_backend:solve_dimod",
                          f"dimod sampler {name[len(DIMOD_PREFIX):]}", devices=("cpu",), step_budget=False)
    raise QbnnError(f"unknown solver {name!r} (choose {', '.join(('auto',) + names())} or dimod:MODULE.CLASS)")


def defaults(name: str) -> dict:
    """``replicas``/``steps``/``time_limit`` a run of ``name`` uses when not told."""
    return get(name).defaults()


def workflow_defaults(name: str) -> dict:
    """A workflow solve job's settings when ``solver_settings`` does not give them (common.smk)."""
    d = {k: v for k, v in defaults(name).items()}
    # no replicas/steps knob (exact, exhaustive, dimod defaults): the CLI ignores them; pass the shared ones
    d["replicas"] = REPLICAS if d["replicas"] is None else d["replicas"]
    d["steps"] = STEPS if d["steps"] is None else d["steps"]
    return {**d, "threads": WORKFLOW_THREADS}


def resolve_auto(bnn: bool) -> str:
    return AUTO_BNN if bnn else AUTO_GENERIC


def markdown_table() -> str:
    """The solver table of docs/solvers.md (a test keeps the page equal to it)."""
    rows = ["| solver | kind | devices | fixed step budget | defaults (replicas / steps / time limit) | what it does |",
            "|---|---|---|---|---|---|"]
    for s in SOLVERS.values():
        dflt = "—" if s.replicas is None else f"{s.replicas} / {s.steps} / {s.time_limit or 'none'}"
        name = f"`{s.name}`" + "".join(f" (`{a}`)" for a in s.aliases)
        rows.append(f"| {name} | {s.kind} | {', '.join(s.devices)} | {'yes' if s.step_budget else 'no'} | "
                    f"{dflt} | {s.description} |")
    rows.append("| `dimod:MODULE.CLASS` | external | the sampler's | no | the sampler's (replicas → num_reads, "
                "steps → num_sweeps where accepted) | any dimod sampler, e.g. "
                "`dimod:dwave.samplers.SimulatedAnnealingSampler` |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m qbnn.solver_registry: print the docs table
    print(markdown_table())
