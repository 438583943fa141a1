# Stage: compile BNN training to a QUBO, solve it on the Ising machine, decode and evaluate.


rule compile_qubo:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        "results/qubo/{dataset}/{topology}/m{margin}.h5",
    log:
        "logs/compile_qubo/{dataset}_{topology}_m{margin}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn compile --data {input.data} --network {input.network} --margin {wildcards.margin} "
        "--out {output} > {log} 2>&1"


rule solve:
    input:
        "results/qubo/{dataset}/{topology}/{qname}.h5",
    output:
        "results/solve/{dataset}/{topology}/{qname}_{solver}_s{seed}.h5",
    params:
        replicas=solver_setting("replicas"),
        steps=solver_setting("steps"),
        time_limit=solver_setting("time_limit"),
        device=config.get("device", "auto"),
        # not an output: a killed solve resumes from it when rerun; `qbnn solve` removes it on success
        checkpoint="results/checkpoints/{dataset}/{topology}/{qname}_{solver}_s{seed}.ckpt",
    resources:
        gpu=1 if config.get("gpu", False) else 0,
    log:
        "logs/solve/{dataset}_{topology}_{qname}_{solver}_s{seed}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn solve {input} --solver {wildcards.solver} --replicas {params.replicas} "
        "--steps {params.steps} --time-limit {params.time_limit} --device {params.device} "
        "--seed {wildcards.seed} --checkpoint {params.checkpoint} --out {output} > {log} 2>&1"


rule decode:
    input:
        qubo="results/qubo/{dataset}/{topology}/{qname}.h5",
        solution="results/solve/{dataset}/{topology}/{qname}_{solver}_s{seed}.h5",
    output:
        "results/networks/{dataset}/{topology}/qubo_{qname}_{solver}_s{seed}.h5",
    log:
        "logs/decode/{dataset}_{topology}_{qname}_{solver}_s{seed}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn decode {input.qubo} --sample {input.solution} --out {output} > {log} 2>&1"


rule evaluate:
    input:
        network="results/networks/{dataset}/{topology}/qubo_{qname}_{solver}_s{seed}.h5",
        data="results/data/{dataset}.h5",
    output:
        "results/evaluate/{dataset}/{topology}/qubo_{qname}_{solver}_s{seed}.json",
    log:
        "logs/evaluate/{dataset}_{topology}_{qname}_{solver}_s{seed}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn evaluate {input.network} --data {input.data} --out {output} > {log} 2>&1"
