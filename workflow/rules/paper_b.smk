# Stage: paper B's (Kurtz & Bah) tables and figures -- BDNN (MIP) vs DNN per dataset, runtime and
# accuracy vs training size, accuracy under attack, per-split curves. Enabled by a `paper_b:` config section.
import os


rule paper_b_figures:
    input:
        metrics="results/report/metrics.csv",
        networks=paper_b_split_networks(),
    output:
        table="results/report/paper_b/accuracy.md",
        figures=[
            report(
                f"results/report/paper_b/{name}",
                caption="../report/paper_b.rst",
                category="Paper B",
                labels={"figure": name[: -len(".png")]},
            )
            for name in paper_b_figure_names()
        ],
    params:
        series=config.get("paper_b", {}).get("size_series", []),
        out_dir=lambda wildcards, output: os.path.dirname(output.table),
    log:
        "logs/paper_b/figures.log",
    benchmark:
        "results/benchmarks/paper_b/figures.tsv"
    conda:
        "../../envs/qbnn-analysis.yaml"
    resources:
        mem_mb=mem_mb("light"),
        runtime=runtime_min(300),
    shell:
        "qbnn paper-b-figures --metrics {input.metrics:q} --networks {input.networks:q} "
        "--size-series {params.series:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
