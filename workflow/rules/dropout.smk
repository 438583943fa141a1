# Stage: dropout-inspired penalty rounds. Each round solves K sampled subnetworks and writes the
# full network's linear weight penalties (one cached HDF5 per round, so an interrupted run resumes);
# the last round's penalties are compiled into the full QUBO.


rule dropout_subnetwork:
    # One sampled subnetwork k of round r, solved (SeedSequence([seed, r, k])): the K subnetworks of a
    # round are independent jobs, so they run in parallel and an interrupted round resumes per subnetwork.
    # On a cluster the profile groups a chain's rounds into one SLURM job (profiles/slurm: groups).
    input:
        data=experiment_file("data"),
        network=experiment_file("topology"),
        previous=previous_dropout_round,
    output:
        "results/dropout/{exp}/m{margin}_s{seed}/round{r}/sub{k}.h5",
    log:
        "logs/dropout_subnetwork/{exp}_m{margin}_s{seed}_round{r}_sub{k}.log",
    benchmark:
        "results/benchmarks/dropout_subnetwork/{exp}_m{margin}_s{seed}_round{r}_sub{k}.tsv"
    conda:
        "../../envs/qbnn.yaml"
    resources:
        mem_mb=mem_mb("subnetwork"),
        runtime=runtime_min(lambda wildcards: dropout_settings(wildcards).get("time_limit")),
        gpu=SOLVER_GPUS,
    params:
        interpreter_mb=base_mb("subnetwork"),
        memory_is_granted=MEMORY_IS_GRANTED,
        previous=lambda wildcards, input: ["--previous", input.previous[0]] if input.previous else [],
        settings=dropout_settings,
    shell:
        "QBNN_MEMORY_LIMIT_MB=$(test {params.memory_is_granted} = 1 && "
        "echo $(({resources.mem_mb} - {params.interpreter_mb}))) "
        "qbnn dropout-subnetwork --data {input.data:q} "
        "--network {input.network:q} --round {wildcards.r:q} --k {wildcards.k:q} {params.previous:q} "
        "--p {params.settings[p]:q} --unit {params.settings[unit]:q} "
        "--time-limit {params.settings[time_limit]:q} --strategy {params.settings[solver]:q} "
        "--replicas {params.settings[replicas]:q} --steps {params.settings[steps]:q} "
        "--margin {wildcards.margin:q} --seed {wildcards.seed:q} --out {output:q} > {log:q} 2>&1"


rule dropout_penalties:
    # Round r's penalties from its K solved subnetworks (h_w = -beta * their mean on w), cached per round.
    input:
        data=experiment_file("data"),
        network=experiment_file("topology"),
        subnetworks=dropout_subnetworks,
        previous=previous_dropout_round,
    output:
        "results/dropout/{exp}/m{margin}_s{seed}/round{r}.h5",
    log:
        "logs/dropout_penalties/{exp}_m{margin}_s{seed}_round{r}.log",
    benchmark:
        "results/benchmarks/dropout_penalties/{exp}_m{margin}_s{seed}_round{r}.tsv"
    conda:
        "../../envs/qbnn-core.yaml"
    resources:
        mem_mb=mem_mb("light"),
        runtime=runtime_min(300),
    params:
        previous=lambda wildcards, input: ["--previous", input.previous[0]] if input.previous else [],
        settings=dropout_settings,
    shell:
        "qbnn dropout-penalties --data {input.data:q} --network {input.network:q} --round {wildcards.r:q} "
        "{params.previous:q} --beta {params.settings[beta]:q} --p {params.settings[p]:q} "
        "--unit {params.settings[unit]:q} --margin {wildcards.margin:q} --seed {wildcards.seed:q} "
        "--subnetworks {input.subnetworks:q} --out {output:q} > {log:q} 2>&1"


rule compile_qubo_dropout:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
        penalties=last_dropout_round,
    output:
        "results/qubo/{dataset}/{topology}/m{margin}_dropout-{exp}-s{seed}.h5",
    log:
        "logs/compile_qubo_dropout/{dataset}_{topology}_m{margin}_{exp}_s{seed}.log",
    benchmark:
        "results/benchmarks/compile_qubo_dropout/{dataset}_{topology}_m{margin}_{exp}_s{seed}.tsv"
    conda:
        "../../envs/qbnn-core.yaml"
    resources:
        mem_mb=mem_mb("compile"),
        runtime=runtime_min(None),
    params:
        interpreter_mb=base_mb("compile"),
        memory_is_granted=MEMORY_IS_GRANTED,
        identity=lambda wildcards: identity_text(dataset=wildcards.dataset, topology=wildcards.topology,
                                                 margin=wildcards.margin, dropout=True, dropout_exp=wildcards.exp,
                                                 seed=wildcards.seed),
    shell:
        "QBNN_MEMORY_LIMIT_MB=$(test {params.memory_is_granted} = 1 && "
        "echo $(({resources.mem_mb} - {params.interpreter_mb}))) "
        "qbnn compile --data {input.data:q} --network {input.network:q} "
        "--margin {wildcards.margin:q} --weight-penalties {input.penalties:q} --identity {params.identity:q} "
        "--out {output:q} > {log:q} 2>&1"


rule dropout_round_eval:
    # Accuracy after each round (dropout-rounds figure): the full QUBO with round r's penalties, solved
    # with the experiment's showcase solver (common.smk) and the run's seed, then decoded and evaluated.
    input:
        data=experiment_file("data"),
        network=experiment_file("topology"),
        penalties="results/dropout/{exp}/m{margin}_s{seed}/round{r}.h5",
    output:
        qubo=temp("results/dropout/{exp}/m{margin}_s{seed}/round{r}_qubo.h5"),
        solution=temp("results/dropout/{exp}/m{margin}_s{seed}/round{r}_solution.h5"),
        net=temp("results/dropout/{exp}/m{margin}_s{seed}/round{r}_network.h5"),
        metrics="results/dropout/{exp}/m{margin}_s{seed}/round{r}_eval.json",
    log:
        "logs/dropout_round_eval/{exp}_m{margin}_s{seed}_round{r}.log",
    benchmark:
        "results/benchmarks/dropout_round_eval/{exp}_m{margin}_s{seed}_round{r}.tsv"
    conda:
        "../../envs/qbnn.yaml"
    resources:
        mem_mb=mem_mb("round"),
        runtime=runtime_min(lambda wildcards: solver_settings_for(showcase_solver(wildcards.exp))["time_limit"]),
        gpu=SOLVER_GPUS,
    params:
        interpreter_mb=base_mb("round"),
        memory_is_granted=MEMORY_IS_GRANTED,
        solver=lambda wildcards: showcase_solver(wildcards.exp),
        settings=lambda wildcards: solver_settings_for(showcase_solver(wildcards.exp)),
        device=config.get("device", "auto"),
        identity=dropout_round_identity,
    shell:
        "(export QBNN_MEMORY_LIMIT_MB=$(test {params.memory_is_granted} = 1 && "
        "echo $(({resources.mem_mb} - {params.interpreter_mb}))); "
        "qbnn compile --data {input.data:q} --network {input.network:q} --margin {wildcards.margin:q} "
        "--weight-penalties {input.penalties:q} --out {output.qubo:q} && "
        "qbnn solve {output.qubo:q} --solver {params.solver:q} --replicas {params.settings[replicas]:q} "
        "--steps {params.settings[steps]:q} --time-limit {params.settings[time_limit]:q} "
        "--device {params.device:q} --seed {wildcards.seed:q} --out {output.solution:q} && "
        "qbnn decode {output.qubo:q} --sample {output.solution:q} --out {output.net:q} && "
        "qbnn evaluate {output.net:q} --data {input.data:q} --identity {params.identity:q} "
        "--out {output.metrics:q}) > {log:q} 2>&1"
