# Stage: mixed-integer training (Kurtz & Bah) with HiGHS.

rule train_mip:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        network="results/mip/{dataset}/{topology}/{method}_s{seed}.h5",
        metrics="results/mip/{dataset}/{topology}/{method}_s{seed}.json",
    log:
        "logs/train_mip/{dataset}_{topology}_{method}_s{seed}.log",
    benchmark:
        "results/benchmarks/train_mip/{dataset}_{topology}_{method}_s{seed}.tsv"
    conda:
        "../../envs/qbnn-analysis.yaml"
    threads: config.get("mip_threads", 1)
    resources:
        mem_mb=mem_mb("mip"),
        runtime=runtime_min(lambda wildcards: mip_settings(wildcards.dataset, wildcards.topology, wildcards.method)["time_limit"]),
    params:
        args=mip_args,
        identity=mip_identity,
    shell:
        "qbnn train-mip --data {input.data:q} --network {input.network:q} --variant {wildcards.method:q} "
        "{params.args:q} --threads {threads} --seed {wildcards.seed:q} --identity {params.identity:q} "
        "--out {output.network:q} --metrics {output.metrics:q} > {log:q} 2>&1"
