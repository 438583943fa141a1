# Stage: dropout-inspired penalty rounds. Each round solves K sampled subnetworks and writes the
# full network's linear weight penalties (one cached HDF5 per round, so an interrupted run resumes);
# the last round's penalties are compiled into the full QUBO.


rule dropout_subnetwork:
    # One sampled subnetwork k of round r, solved (SeedSequence([seed, r, k])): the K subnetworks of a
    # round are independent jobs, so they run in parallel and an interrupted round resumes per subnetwork.
    input:
        data=experiment_file("data"),
        network=experiment_file("topology"),
        previous=previous_dropout_round,
    output:
        "results/dropout/{exp}/m{margin}_s{seed}/round{r}/sub{k}.h5",
    params:
        previous=lambda wildcards, input: f"--previous {input.previous[0]}" if input.previous else "",
        settings=dropout_settings,
    log:
        "logs/dropout_subnetwork/{exp}_m{margin}_s{seed}_round{r}_sub{k}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn dropout-subnetwork --data {input.data} --network {input.network} --round {wildcards.r} "
        "--k {wildcards.k} {params.previous} --p {params.settings[p]} --unit {params.settings[unit]} "
        "--time-limit {params.settings[time_limit]} --margin {wildcards.margin} --seed {wildcards.seed} "
        "--out {output} > {log} 2>&1"


rule dropout_penalties:
    # Round r's penalties from its K solved subnetworks (h_w = -beta * their mean on w), cached per round.
    input:
        data=experiment_file("data"),
        network=experiment_file("topology"),
        subnetworks=dropout_subnetworks,
    output:
        "results/dropout/{exp}/m{margin}_s{seed}/round{r}.h5",
    params:
        previous=lambda wildcards: "".join(f"--previous {p}" for p in previous_dropout_round(wildcards)),
        settings=dropout_settings,
    log:
        "logs/dropout_penalties/{exp}_m{margin}_s{seed}_round{r}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn dropout-penalties --data {input.data} --network {input.network} --round {wildcards.r} "
        "{params.previous} --beta {params.settings[beta]} --p {params.settings[p]} --unit {params.settings[unit]} "
        "--margin {wildcards.margin} --seed {wildcards.seed} --subnetworks {input.subnetworks} "
        "--out {output} > {log} 2>&1"


rule compile_qubo_dropout:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
        penalties=last_dropout_round,
    output:
        "results/qubo/{dataset}/{topology}/m{margin}_dropout-{exp}-s{seed}.h5",
    log:
        "logs/compile_qubo_dropout/{dataset}_{topology}_m{margin}_{exp}_s{seed}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn compile --data {input.data} --network {input.network} --margin {wildcards.margin} "
        "--weight-penalties {input.penalties} --out {output} > {log} 2>&1"


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
    params:
        solver=lambda wildcards: showcase_solver(wildcards.exp),
        settings=lambda wildcards: solver_settings_for(showcase_solver(wildcards.exp)),
        device=config.get("device", "auto"),
    log:
        "logs/dropout_round_eval/{exp}_m{margin}_s{seed}_round{r}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "(qbnn compile --data {input.data} --network {input.network} --margin {wildcards.margin} "
        "--weight-penalties {input.penalties} --out {output.qubo} && "
        "qbnn solve {output.qubo} --solver {params.solver} --replicas {params.settings[replicas]} "
        "--steps {params.settings[steps]} --time-limit {params.settings[time_limit]} --device {params.device} "
        "--seed {wildcards.seed} --out {output.solution} && "
        "qbnn decode {output.qubo} --sample {output.solution} --out {output.net} && "
        "qbnn evaluate {output.net} --data {input.data} --out {output.metrics} --label exp={wildcards.exp} "
        "--label margin={wildcards.margin} --label seed={wildcards.seed} --label solver={params.solver} "
        "--label dropout_round={wildcards.r}) > {log} 2>&1"
