# Helpers shared by the rules: expand the experiment grid into result paths.
import itertools
import json
from pathlib import Path


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    topology=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    exp=r"[A-Za-z0-9][A-Za-z0-9_]*",
    method=r"[a-z-]+",
    margin=r"[0-9]+\.[0-9]+",
    qname=r"m[0-9]+\.[0-9]+(_dropout-[A-Za-z0-9_]+-s\d+)?",
    solver=r"[a-z-]+|dimod:[A-Za-z0-9_.]+",
    seed=r"\d+",
    r=r"\d+",
    k=r"\d+",


def check_real_datasets():
    """QUBO solvers and the ste/greedy baselines need ±1 data: refuse `encoding: real` datasets for them
    before any job runs (MIP training and the mlp/logreg/dnn baselines take real data)."""
    for name, exp in config["experiments"].items():
        if config["datasets"].get(exp["dataset"], {}).get("encoding") != "real":
            continue
        bnn = [b for b in exp.get("baselines", []) if b in ("ste", "greedy")]
        if exp.get("solvers") or bnn:
            what = "solvers" if exp.get("solvers") else f"baselines {bnn}"
            raise ValueError(
                f"experiments.{name}: dataset {exp['dataset']!r} has encoding: real, but {what} need a binarised "
                "±1 dataset (use encoding: binary, or only mip / mlp / logreg / dnn)"
            )


check_real_datasets()


def experiment_runs():
    """Yield one dict per (experiment, margin, solver, seed) QUBO run; ``qname`` names its QUBO.

    Plain runs share ``m{margin}``; with a ``dropout`` section each seed also gets a QUBO carrying
    that seed's final-round penalties, ``m{margin}_dropout-{exp}-s{seed}``.
    """
    for name, exp in config["experiments"].items():
        for margin, solver, seed in itertools.product(
            exp.get("margins", [0.0]), exp.get("solvers", []), exp.get("seeds", [0])
        ):
            m = margin_name(margin)
            run = dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], margin=m, solver=solver, seed=seed)
            yield dict(run, qname=f"m{m}", method=f"qubo_{solver}", dropout=False)
            if exp.get("dropout"):
                yield dict(run, qname=f"m{m}_dropout-{name}-s{seed}", method=f"qubo+dropout_{solver}", dropout=True,
                           dropout_exp=name)


# Run identity (qbnn.identity.Identity): each rule passes it once with --identity, the commands store it in
# the records, and the report reads it from there (no file name is decoded).
def identity_text(**fields):
    """The --identity value: KEY=VALUE pairs of the fields that apply (None left out)."""
    return ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in fields.items() if v is not None)


def run_of(runs, **key):
    """The run of ``runs`` matching ``key`` (wildcards); the first experiment in the config owns a shared run."""
    for r in runs:
        if all(str(r[k]) == str(v) for k, v in key.items()):
            return r
    raise ValueError(f"no experiment of the config has the run {key}")


def run_identity(r, **extra):
    """The identity of run ``r`` (a dict of experiment_runs / baseline_runs / mip_runs / train_runs)."""
    fields = dict(experiment=r["exp"], dataset=r["dataset"], topology=r["topology"], method=r["method"])
    for k in ("solver", "margin", "dropout", "dropout_exp"):
        fields[k] = r.get(k)
    return identity_text(**fields, **extra, seed=r["seed"])


def qubo_identity(wildcards):
    """Identity of a QUBO run (decode / evaluate rules)."""
    return run_identity(run_of(experiment_runs(), dataset=wildcards.dataset, topology=wildcards.topology,
                               qname=wildcards.qname, solver=wildcards.solver, seed=wildcards.seed))


def baseline_identity(wildcards):
    return run_identity(run_of(baseline_runs(), dataset=wildcards.dataset, topology=wildcards.topology,
                               method=wildcards.method, seed=wildcards.seed))


def mip_identity(wildcards):
    return run_identity(run_of(mip_runs(), dataset=wildcards.dataset, topology=wildcards.topology,
                               variant=wildcards.method, seed=wildcards.seed))


def train_identity(wildcards):
    return run_identity(run_of(train_runs(), dataset=wildcards.dataset, topology=wildcards.topology,
                               strategy=wildcards.strategy, seed=wildcards.seed))


def dropout_round_identity(wildcards):
    """Identity of the per-round evaluation of round r (dropout_round_eval)."""
    exp, solver = config["experiments"][wildcards.exp], showcase_solver(wildcards.exp)
    return identity_text(experiment=wildcards.exp, dataset=exp["dataset"], topology=exp["topology"],
                         method=f"qubo+dropout_{solver}", solver=solver, margin=wildcards.margin, dropout=True,
                         dropout_exp=wildcards.exp, dropout_round=wildcards.r, seed=wildcards.seed)


def dropout_settings(wildcards):
    return config["experiments"][wildcards.exp]["dropout"]


def dropout_subnetworks(wildcards):
    K = config["experiments"][wildcards.exp]["dropout"].get("K", 4)
    return [
        f"results/dropout/{wildcards.exp}/m{wildcards.margin}_s{wildcards.seed}/round{wildcards.r}/sub{k}.h5"
        for k in range(K)
    ]


def last_dropout_round(wildcards):
    rounds = config["experiments"][wildcards.exp]["dropout"].get("rounds", 1)
    return f"results/dropout/{wildcards.exp}/m{wildcards.margin}_s{wildcards.seed}/round{rounds - 1}.h5"


def previous_dropout_round(wildcards):
    r = int(wildcards.r)
    return [] if r == 0 else [f"results/dropout/{wildcards.exp}/m{wildcards.margin}_s{wildcards.seed}/round{r - 1}.h5"]


def experiment_file(kind):
    """Input function: the experiment's dataset file or topology file."""

    def inner(wildcards):
        exp = config["experiments"][wildcards.exp]
        return (
            f"results/data/{exp['dataset']}.h5"
            if kind == "data"
            else resolve_config_path(config["topologies"][exp["topology"]])
        )

    return inner


def baseline_runs():
    for name, exp in config["experiments"].items():
        for method, seed in itertools.product(exp.get("baselines", []), exp.get("seeds", [0])):
            yield dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], method=method, seed=seed)


def mip_runs():
    for name, exp in config["experiments"].items():
        for variant, seed in itertools.product(exp.get("mip", []), exp.get("seeds", [0])):
            yield dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], variant=variant,
                       method=f"mip_{variant}", seed=seed)


def qubo_metrics(exp=None):
    return [
        f"results/evaluate/{r['dataset']}/{r['topology']}/qubo_{r['qname']}_{r['solver']}_s{r['seed']}.json"
        for r in experiment_runs()
        if exp in (None, r["exp"])
    ]


def baseline_metrics(exp=None):
    return [
        f"results/baselines/{r['dataset']}/{r['topology']}/{r['method']}_s{r['seed']}.json"
        for r in baseline_runs()
        if exp in (None, r["exp"])
    ]


def mip_metrics(exp=None):
    return [
        f"results/mip/{r['dataset']}/{r['topology']}/{r['variant']}_s{r['seed']}.json"
        for r in mip_runs()
        if exp in (None, r["exp"])
    ]


# qbnn train runs (workflow/rules/train.smk)
TRAIN_DEFAULTS = {"time_limit": 60, "warm_start": "none"}


def train_setting(key):
    return {**TRAIN_DEFAULTS, **config.get("train_settings", {})}.get(key)


def train_kappa_args():
    """``--kappa K`` when train_settings sets one (each item shell-quoted by {params.kappa:q}), else nothing:
    qbnn train's own default applies."""
    k = train_setting("kappa")
    return [] if k is None else ["--kappa", str(k)]


def train_runs():
    for name, exp in config["experiments"].items():
        for strategy, seed in itertools.product(exp.get("train", []), exp.get("seeds", [0])):
            yield dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], strategy=strategy,
                       method=f"train_{strategy}", seed=seed)


def train_metrics(exp=None):
    return [
        f"results/train/{r['dataset']}/{r['topology']}/train-{r['strategy']}_s{r['seed']}.json"
        for r in train_runs()
        if exp in (None, r["exp"])
    ]


def all_metrics(exp=None):
    """Every metrics file of the grid (or of experiment ``exp``), without repeats (experiments may share runs)."""
    return list(dict.fromkeys(qubo_metrics(exp) + baseline_metrics(exp) + mip_metrics(exp) + train_metrics(exp)))


def experiment_metrics(wildcards):
    return all_metrics(wildcards.exp)


def used_datasets():
    return sorted({exp["dataset"] for exp in config["experiments"].values()})


def topology_file(wildcards):
    return resolve_config_path(config["topologies"][wildcards.topology])


def _solver_registry():
    """qbnn.solver_registry: solver names, kinds and defaults (from the file beside this workflow when
    Snakemake runs without qbnn; it imports nothing else)."""
    try:
        from qbnn import solver_registry
    except ImportError:
        import importlib.util
        import sys

        spec = importlib.util.spec_from_file_location("qbnn_solver_registry", WORKFLOW_ROOT / "src/qbnn/solver_registry.py")
        solver_registry = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = solver_registry  # its dataclasses look their module up
        spec.loader.exec_module(solver_registry)
    return solver_registry


SOLVER_REGISTRY = _solver_registry()


def showcase_solver(exp):
    """The experiment's first training-grade (BNN-aware) strategy (else its first solver): the one whose
    networks the weight images and per-round dropout curves show. Generic Ising solvers decode to
    constant predictors on BNN QUBOs (benchmarks/bnn_solving.py)."""
    solvers = config["experiments"][exp]["solvers"]
    bnn = set(SOLVER_REGISTRY.names("bnn"))
    return next((s for s in solvers if s in bnn), solvers[0])


# GPUs per solving job (solve, dropout_subnetwork, dropout_round_eval): the SLURM plugin turns this into --gpus.
SOLVER_GPUS = 1 if config.get("gpu", False) else 0


def solver_settings_for(solver):
    """The config's settings for ``solver`` over the registry's defaults (qbnn.solver_registry)."""
    return {**SOLVER_REGISTRY.workflow_defaults(solver), **config.get("solver_settings", {}).get(solver, {})}


def sampler_args(wildcards):
    """``--sampler-arg NAME=VALUE`` options of a dimod solver (solver_settings: sampler_args), flat."""
    out = []
    for key, value in solver_settings_for(wildcards.solver).get("sampler_args", {}).items():
        out += ["--sampler-arg", f"{key}={json.dumps(value)}"]
    return out


def solver_setting(key):
    return lambda wildcards: solver_settings_for(wildcards.solver)[key]


def solve_checkpoint(wildcards, output):
    """Resume file of a solve: results/checkpoints/... beside results/solve/..., under a module's prefix too."""
    head, _, tail = output[0].rpartition("results/solve/")
    return f"{head}results/checkpoints/{tail[:-len('.h5')]}.ckpt"


def all_targets():
    return (
        [f"results/data/{d}.h5" for d in used_datasets()]
        + [f"reports/figures/samples_{d}.png" for d in used_datasets()]
        + ["results/report/metrics.csv", "results/report/accuracy.png", "results/report/margin.png"]
        + (report_targets() if figure_experiments() else ["results/report/summary.csv"])  # QUBO figures need QUBO runs
        + [f"results/report/experiments/{name}/summary.csv" for name in config["experiments"]]
        + paper_b_targets()
    )


# MIP variants (workflow/rules/mip.smk) and paper B's report (workflow/rules/paper_b.smk).
MIP_METHODS = ("exact", "local", "split")
# mip_settings key -> train-mip option (every option is passed as "--option value")
MIP_OPTIONS = {
    "method": "--method",
    "weights": "--weights",
    "weight_bound": "--weight-bound",
    "bias_bound": "--bias-bound",
    "reg_weight": "--reg-weight",
    "robust": "--robust",
    "split_init": "--split-init",
    "max_splits": "--max-splits",
    "kmeans_init": "--kmeans-init",
    "batch_size": "--batch-size",
    "iterations": "--iterations",
    "time_limit": "--time-limit",
    "solve_limit": "--solve-limit",
    "mip_gap": "--mip-gap",
    "attack": "--attack",
}


def mip_settings(dataset, topology, variant):
    """The settings of MIP variant ``variant`` on (dataset, topology): the method's defaults, the
    global time limit, then the experiment's ``mip_settings`` entry. Experiments sharing
    (dataset, topology) must agree on a variant's settings (they share its result files)."""
    found = []
    for name, exp in config["experiments"].items():
        if exp["dataset"] == dataset and exp["topology"] == topology and variant in exp.get("mip", []):
            own = exp.get("mip_settings", {}).get(variant, {})
            if variant not in MIP_METHODS and "method" not in own:
                raise ValueError(f"experiments.{name}.mip: variant {variant!r} needs mip_settings.{variant}.method")
            found.append((name, {"method": variant, "time_limit": config.get("mip_time_limit", 30), **own}))
    if not found:
        raise ValueError(f"no experiment runs MIP variant {variant!r} on {dataset}/{topology}")
    for name, s in found[1:]:
        if s != found[0][1]:
            raise ValueError(f"experiments {found[0][0]} and {name}: MIP variant {variant!r} on {dataset}/{topology} "
                             "has different mip_settings (rename one variant)")
    return found[0][1]


def mip_args(wildcards):
    """train-mip options of the run as a flat list (each item shell-quoted by {params.args:q})."""
    s = mip_settings(wildcards.dataset, wildcards.topology, wildcards.method)
    out = []
    for key, opt in MIP_OPTIONS.items():
        v = s.get(key)
        if v is not None:
            out += [opt, *map(str, v if isinstance(v, list) else [v])]
    return out


def paper_b_split_networks():
    """Network files of every split-based MIP run (their per-split histories)."""
    out = []
    for r in mip_runs():
        if mip_settings(r["dataset"], r["topology"], r["variant"])["method"] == "split":
            out.append(f"results/mip/{r['dataset']}/{r['topology']}/{r['variant']}_s{r['seed']}.h5")
    return sorted(set(out))


def paper_b_figure_names():
    """accuracy always; robust with attack results (dnn baselines, robust MIP runs); splits with split runs;
    sizes with a size series."""
    names = ["accuracy.png"]
    exps = config["experiments"].values()
    if any("dnn" in e.get("baselines", []) for e in exps) or any(
        mip_settings(r["dataset"], r["topology"], r["variant"]).get("robust") for r in mip_runs()
    ):
        names.append("robust.png")
    if paper_b_split_networks():
        names.append("splits.png")
    if config.get("paper_b", {}).get("size_series"):
        names.append("sizes.png")
    return names


def paper_b_targets():
    if "paper_b" not in config:
        return []
    return ["results/report/paper_b/accuracy.md"]
