# Stage: `qbnn train` as a solver in grids — exact block / batch decompositions of the BNN QUBO that
# never hold the full-dataset QUBO (docs/training.md). An experiment lists strategies under `train:`;
# `train_settings: {time_limit, warm_start}` applies to all of them.


wildcard_constraints:
    strategy=r"[a-z-]+",


TRAIN_DEFAULTS = {"time_limit": 60, "warm_start": "none"}


def train_setting(key):
    return {**TRAIN_DEFAULTS, **config.get("train_settings", {})}[key]


def train_runs():
    for name, exp in config["experiments"].items():
        for strategy, seed in itertools.product(exp.get("train", []), exp.get("seeds", [0])):
            yield dict(exp=name, dataset=exp["dataset"], topology=exp["topology"], strategy=strategy, seed=seed)


def train_metrics():
    return [f"results/train/{r['dataset']}/{r['topology']}/train-{r['strategy']}_s{r['seed']}.json" for r in train_runs()]


rule train:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        network="results/train/{dataset}/{topology}/train-{strategy}_s{seed}.h5",
        metrics="results/train/{dataset}/{topology}/train-{strategy}_s{seed}.json",
    params:
        time_limit=train_setting("time_limit"),
        warm_start=train_setting("warm_start"),
    log:
        "logs/train/{dataset}_{topology}_{strategy}_s{seed}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn train --data {input.data} --network {input.network} --strategy {wildcards.strategy} "
        "--time-limit {params.time_limit} --warm-start {params.warm_start} --seed {wildcards.seed} "
        "--out {output.network} --metrics {output.metrics} > {log} 2>&1"
