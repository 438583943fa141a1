# Stage: paper B's (Kurtz & Bah) tables and figures -- BDNN (MIP) vs DNN per dataset, runtime and
# accuracy vs training size, accuracy under attack, per-split curves. Enabled by a `paper_b:` config section.


def paper_b_split_networks():
    """Network files of every split-based MIP run (their per-split histories)."""
    out = []
    for r in mip_runs():
        if mip_settings(r["dataset"], r["topology"], r["method"])["method"] == "split":
            out.append(f"results/mip/{r['dataset']}/{r['topology']}/{r['method']}_s{r['seed']}.h5")
    return sorted(set(out))


def paper_b_figure_names():
    """accuracy always; robust with attack results (dnn baselines, robust MIP runs); splits with split runs;
    sizes with a size series."""
    names = ["accuracy.png"]
    exps = config["experiments"].values()
    if any("dnn" in e.get("baselines", []) for e in exps) or any(
        mip_settings(r["dataset"], r["topology"], r["method"]).get("robust") for r in mip_runs()
    ):
        names.append("robust.png")
    if paper_b_split_networks():
        names.append("splits.png")
    if config.get("paper_b", {}).get("size_series"):
        names.append("sizes.png")
    return names


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
        out_dir="results/report/paper_b",
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


def paper_b_targets():
    if "paper_b" not in config:
        return []
    return ["results/report/paper_b/accuracy.md"]
