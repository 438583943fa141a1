# Stage: gradient-trained and greedy baselines on the same splits and topology.


rule baseline:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        "results/baselines/{dataset}/{topology}/{method}_s{seed}.json",
    log:
        "logs/baseline/{dataset}_{topology}_{method}_s{seed}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn baseline --data {input.data} --network {input.network} --method {wildcards.method} "
        "--seed {wildcards.seed} --out {output} > {log} 2>&1"
