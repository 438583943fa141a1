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


def train_metrics(exp=None):
    return [
        f"results/train/{r['dataset']}/{r['topology']}/train-{r['strategy']}_s{r['seed']}.json"
        for r in train_runs()
        if exp in (None, r["exp"])
    ]


rule train:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        network="results/train/{dataset}/{topology}/train-{strategy}_s{seed}.h5",
        metrics="results/train/{dataset}/{topology}/train-{strategy}_s{seed}.json",
    log:
        "logs/train/{dataset}_{topology}_{strategy}_s{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}_{topology}_{strategy}_s{seed}.tsv"
    conda:
        "../../envs/qbnn.yaml"
    resources:
        mem_mb=mem_mb("torch"),
        runtime=runtime_min(train_setting("time_limit")),
    params:
        time_limit=train_setting("time_limit"),
        warm_start=train_setting("warm_start"),
    shell:
        "qbnn train --data {input.data:q} --network {input.network:q} --strategy {wildcards.strategy:q} "
        "--time-limit {params.time_limit:q} --warm-start {params.warm_start:q} --seed {wildcards.seed:q} "
        "--out {output.network:q} --metrics {output.metrics:q} > {log:q} 2>&1"
