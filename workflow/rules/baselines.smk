# Stage: gradient-trained and greedy baselines on the same splits and topology.


rule baseline:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        "results/baselines/{dataset}/{topology}/{method}_s{seed}.json",
    log:
        "logs/baseline/{dataset}_{topology}_{method}_s{seed}.log",
    benchmark:
        "results/benchmarks/baseline/{dataset}_{topology}_{method}_s{seed}.tsv"
    conda:
        "../../envs/qbnn.yaml"
    resources:
        mem_mb=mem_mb("torch"),
        runtime=runtime_min(None),
    params:
        identity=baseline_identity,
    shell:
        "qbnn baseline --data {input.data:q} --network {input.network:q} --method {wildcards.method:q} "
        "--seed {wildcards.seed:q} --identity {params.identity:q} --out {output:q} > {log:q} 2>&1"
