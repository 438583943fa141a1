# Stage: `qbnn train` as a solver in grids — exact block / batch decompositions of the BNN QUBO that
# never hold the full-dataset QUBO (docs/training.md). An experiment lists strategies under `train:`;
# `train_settings: {time_limit, warm_start, kappa}` applies to all of them.


wildcard_constraints:
    strategy=r"[a-z-]+",


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
        kappa=train_kappa_args(),
        identity=train_identity,
    shell:
        "qbnn train --data {input.data:q} --network {input.network:q} --strategy {wildcards.strategy:q} "
        "--time-limit {params.time_limit:q} --warm-start {params.warm_start:q} {params.kappa:q} --seed {wildcards.seed:q} "
        "--identity {params.identity:q} --out {output.network:q} --metrics {output.metrics:q} > {log:q} 2>&1"
