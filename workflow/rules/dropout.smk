# Stage: dropout-inspired penalty rounds. Each round solves K sampled subnetworks and writes the
# full network's linear weight penalties (one cached HDF5 per round, so an interrupted run resumes);
# the last round's penalties are compiled into the full QUBO.


rule dropout_penalties:
    input:
        data=experiment_file("data"),
        network=experiment_file("topology"),
        previous=previous_dropout_round,
    output:
        "results/dropout/{exp}/m{margin}_s{seed}/round{r}.h5",
    params:
        previous=lambda wildcards, input: f"--previous {input.previous[0]}" if input.previous else "",
        settings=dropout_settings,
    log:
        "logs/dropout_penalties/{exp}_m{margin}_s{seed}_round{r}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn dropout-penalties --data {input.data} --network {input.network} --round {wildcards.r} "
        "{params.previous} --K {params.settings[K]} --p {params.settings[p]} --beta {params.settings[beta]} "
        "--unit {params.settings[unit]} --time-limit {params.settings[time_limit]} --margin {wildcards.margin} "
        "--seed {wildcards.seed} --out {output} > {log} 2>&1"


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
