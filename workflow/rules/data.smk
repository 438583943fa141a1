# Stage: binarise datasets to ±1 pixels with seeded stratified splits.


rule dataset_settings:
    output:
        "results/config/{dataset}.yaml",
    params:
        settings=lambda wildcards: {"datasets": {wildcards.dataset: config["datasets"][wildcards.dataset]}},
    log:
        "logs/dataset_settings/{dataset}.log",
    run:
        import yaml

        with open(output[0], "w") as f:
            yaml.safe_dump(params.settings, f)


rule binarise:
    input:
        "results/config/{dataset}.yaml",
    output:
        data="results/data/{dataset}.h5",
        grid=report(
            "reports/figures/samples_{dataset}.png",
            caption="../report/samples.rst",
            category="Data",
        ),
    log:
        "logs/binarise/{dataset}.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn binarise --config {input} --dataset {wildcards.dataset} "
        "--out {output.data} --grid {output.grid} > {log} 2>&1"
