# Stage: binarise datasets to ±1 pixels with seeded stratified splits.


localrules:
    dataset_settings,


rule dataset_settings:
    output:
        "results/config/{dataset}.yaml",
    log:
        "logs/dataset_settings/{dataset}.log",
    params:
        settings=lambda wildcards: {"datasets": {wildcards.dataset: config["datasets"][wildcards.dataset]}},
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
            labels={"dataset": "{dataset}", "figure": "samples"},
        ),
    log:
        "logs/binarise/{dataset}.log",
    benchmark:
        "results/benchmarks/binarise/{dataset}.tsv"
    conda:
        "../../envs/qbnn-analysis.yaml"
    resources:
        mem_mb=mem_mb("data"),
        runtime=runtime_min(300),
    shell:
        "qbnn binarise --config {input:q} --dataset {wildcards.dataset:q} "
        "--out {output.data:q} --grid {output.grid:q} > {log:q} 2>&1"
