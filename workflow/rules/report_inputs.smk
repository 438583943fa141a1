# Input lists of the report stage (report.smk): which runs the paper figures draw.
import itertools


def figure_experiments():
    """Experiments that ran QUBO solvers (the figures below draw their runs)."""
    return {name: exp for name, exp in config["experiments"].items() if exp.get("solvers")}


def first_margin(exp):
    return margin_name(exp.get("margins", [0.0])[0])


def trace_solutions():
    """Solutions of each experiment's first-λ plain QUBO: every solver and seed (energy traces)."""
    return sorted(
        {
            f"results/solve/{e['dataset']}/{e['topology']}/m{first_margin(e)}_{solver}_s{seed}.h5"
            for e in figure_experiments().values()
            for solver, seed in itertools.product(e["solvers"], e.get("seeds", [0]))
        }
    )


def figure_networks(first_only):
    """Decoded QUBO networks: every run, or (``first_only``) the showcase solver's first seed of each λ/dropout."""
    runs = list(experiment_runs())  # every run has a solver of its experiment
    if first_only:
        first_seed = {name: exp.get("seeds", [0])[0] for name, exp in config["experiments"].items()}
        runs = [r for r in runs if r["solver"] == showcase_solver(r["exp"]) and r["seed"] == first_seed[r["exp"]]]
    return list(
        dict.fromkeys(
            f"results/networks/{r['dataset']}/{r['topology']}/qubo_{r['qname']}_{r['solver']}_s{r['seed']}.h5"
            for r in runs
        )
    )


def dropout_round_evals():
    """Per-round full-QUBO evaluations of rounds 0..R-2 (round R-1 is the experiment's qubo+dropout run)."""
    out = []
    for name, e in figure_experiments().items():
        if e.get("dropout"):
            for margin, seed, r in itertools.product(
                e.get("margins", [0.0]), e.get("seeds", [0]), range(e["dropout"].get("rounds", 1) - 1)
            ):
                out.append(f"results/dropout/{name}/m{margin_name(margin)}_s{seed}/round{r}_eval.json")
    return out


def dropout_round_counts():
    return [f"{name}={e['dropout'].get('rounds', 1)}" for name, e in figure_experiments().items() if e.get("dropout")]


def report_targets():
    return [
        "results/report/summary.csv",
        "results/report/energy.png",
        "results/report/weights.png",
        "results/report/margin_hist.png",
        "results/report/dropout_rounds.png",
    ]
