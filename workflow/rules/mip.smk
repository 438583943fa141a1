# Stage: mixed-integer training (Kurtz & Bah) with HiGHS.


rule train_mip:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        network="results/mip/{dataset}/{topology}/{method}_s{seed}.h5",
        metrics="results/mip/{dataset}/{topology}/{method}_s{seed}.json",
    params:
        time_limit=config.get("mip_time_limit", 30),
    log:
        "logs/train_mip/{dataset}_{topology}_{method}_s{seed}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn train-mip --data {input.data} --network {input.network} --method {wildcards.method} "
        "--time-limit {params.time_limit} --seed {wildcards.seed} --out {output.network} "
        "--metrics {output.metrics} > {log} 2>&1"
