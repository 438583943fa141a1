# Helpers shared by the rules: expand the experiment grid into result paths.
import itertools


def experiment_runs():
    """Yield one dict per (experiment, margin, solver, seed) QUBO run."""
    for name, exp in config["experiments"].items():
        for margin, solver, seed in itertools.product(
            exp.get("margins", [0.0]), exp.get("solvers", []), exp.get("seeds", [0])
        ):
            yield dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], margin=margin, solver=solver, seed=seed)


def baseline_runs():
    for name, exp in config["experiments"].items():
        for method, seed in itertools.product(exp.get("baselines", []), exp.get("seeds", [0])):
            yield dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], method=method, seed=seed)


def mip_runs():
    for name, exp in config["experiments"].items():
        for method, seed in itertools.product(exp.get("mip", []), exp.get("seeds", [0])):
            yield dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], method=method, seed=seed)


def qubo_metrics():
    return [
        f"results/evaluate/{r['dataset']}/{r['topology']}/qubo_m{r['margin']}_{r['solver']}_s{r['seed']}.json"
        for r in experiment_runs()
    ]


def baseline_metrics():
    return [
        f"results/baselines/{r['dataset']}/{r['topology']}/{r['method']}_s{r['seed']}.json" for r in baseline_runs()
    ]


def mip_metrics():
    return [f"results/mip/{r['dataset']}/{r['topology']}/{r['method']}_s{r['seed']}.json" for r in mip_runs()]


def used_datasets():
    return sorted({exp["dataset"] for exp in config["experiments"].values()})


def topology_file(wildcards):
    return config["topologies"][wildcards.topology]


def solver_setting(key, default):
    return lambda wildcards: config.get("solver_settings", {}).get(wildcards.solver, {}).get(key, default)


def all_targets():
    return (
        [f"results/data/{d}.h5" for d in used_datasets()]
        + [f"reports/figures/samples_{d}.png" for d in used_datasets()]
        + ["results/report/metrics.csv", "results/report/accuracy.png", "results/report/margin.png"]
    )
