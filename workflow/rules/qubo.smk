# Stage: compile BNN training to a QUBO, solve it on the Ising machine, decode and evaluate.


rule compile_qubo:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        "results/qubo/{dataset}/{topology}/m{margin}.h5",
    log:
        "logs/compile_qubo/{dataset}_{topology}_m{margin}.log",
    benchmark:
        "results/benchmarks/compile_qubo/{dataset}_{topology}_m{margin}.tsv"
    conda:
        "../../envs/qbnn-core.yaml"
    resources:
        mem_mb=mem_mb("compile"),
        runtime=runtime_min(None),
    params:
        interpreter_mb=base_mb("compile"),
        memory_is_granted=MEMORY_IS_GRANTED,
        # the QUBO's identity; solve and decode carry it on to the solution and the network
        identity=lambda wildcards: identity_text(dataset=wildcards.dataset, topology=wildcards.topology,
                                                 margin=wildcards.margin, dropout=False),
    shell:
        "QBNN_MEMORY_LIMIT_MB=$(test {params.memory_is_granted} = 1 && "
        "echo $(({resources.mem_mb} - {params.interpreter_mb}))) "
        "qbnn compile --data {input.data:q} --network {input.network:q} "
        "--margin {wildcards.margin:q} --identity {params.identity:q} --out {output:q} > {log:q} 2>&1"


rule solve:
    input:
        "results/qubo/{dataset}/{topology}/{qname}.h5",
    output:
        "results/solve/{dataset}/{topology}/{qname}_{solver}_s{seed}.h5",
    log:
        "logs/solve/{dataset}_{topology}_{qname}_{solver}_s{seed}.log",
    benchmark:
        "results/benchmarks/solve/{dataset}_{topology}_{qname}_{solver}_s{seed}.tsv"
    conda:
        "../../envs/qbnn.yaml"
    threads: solver_setting("threads")
    resources:
        mem_mb=mem_mb("solve"),
        runtime=runtime_min(solver_setting("time_limit")),
        gpu=SOLVER_GPUS,
    params:
        interpreter_mb=base_mb("solve"),
        memory_is_granted=MEMORY_IS_GRANTED,
        replicas=solver_setting("replicas"),
        steps=solver_setting("steps"),
        time_limit=solver_setting("time_limit"),
        device=config.get("device", "auto"),
        # not an output: a killed solve resumes from it when rerun; `qbnn solve` removes it on success
        checkpoint=solve_checkpoint,
        sampler_args=sampler_args,
    shell:
        "OMP_NUM_THREADS={threads} QBNN_MEMORY_LIMIT_MB=$(test {params.memory_is_granted} = 1 && "
        "echo $(({resources.mem_mb} - {params.interpreter_mb}))) "
        "qbnn solve {input:q} "
        "--solver {wildcards.solver:q} --replicas {params.replicas:q} --steps {params.steps:q} "
        "--time-limit {params.time_limit:q} --device {params.device:q} --seed {wildcards.seed:q} "
        "--checkpoint {params.checkpoint:q} {params.sampler_args:q} --out {output:q} > {log:q} 2>&1"


rule decode:
    input:
        qubo="results/qubo/{dataset}/{topology}/{qname}.h5",
        solution="results/solve/{dataset}/{topology}/{qname}_{solver}_s{seed}.h5",
    output:
        "results/networks/{dataset}/{topology}/qubo_{qname}_{solver}_s{seed}.h5",
    log:
        "logs/decode/{dataset}_{topology}_{qname}_{solver}_s{seed}.log",
    benchmark:
        "results/benchmarks/decode/{dataset}_{topology}_{qname}_{solver}_s{seed}.tsv"
    conda:
        "../../envs/qbnn-core.yaml"
    resources:
        mem_mb=mem_mb("qubo"),
        runtime=runtime_min(300),
    shell:
        "qbnn decode {input.qubo:q} --sample {input.solution:q} --out {output:q} > {log:q} 2>&1"


rule evaluate:
    input:
        network="results/networks/{dataset}/{topology}/qubo_{qname}_{solver}_s{seed}.h5",
        data="results/data/{dataset}.h5",
    output:
        "results/evaluate/{dataset}/{topology}/qubo_{qname}_{solver}_s{seed}.json",
    log:
        "logs/evaluate/{dataset}_{topology}_{qname}_{solver}_s{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}_{topology}_{qname}_{solver}_s{seed}.tsv"
    conda:
        "../../envs/qbnn-core.yaml"
    resources:
        mem_mb=mem_mb("light"),
        runtime=runtime_min(300),
    params:
        identity=qubo_identity,
    shell:
        "qbnn evaluate {input.network:q} --data {input.data:q} --identity {params.identity:q} "
        "--out {output:q} > {log:q} 2>&1"
