# Stage: mixed-integer training (Kurtz & Bah) with HiGHS.

MIP_METHODS = ("exact", "local", "split")
# mip_settings key -> train-mip option (every option is passed as "--option value")
MIP_OPTIONS = {
    "method": "--method",
    "weights": "--weights",
    "weight_bound": "--weight-bound",
    "bias_bound": "--bias-bound",
    "reg_weight": "--reg-weight",
    "robust": "--robust",
    "split_init": "--split-init",
    "max_splits": "--max-splits",
    "kmeans_init": "--kmeans-init",
    "batch_size": "--batch-size",
    "iterations": "--iterations",
    "time_limit": "--time-limit",
    "solve_limit": "--solve-limit",
    "mip_gap": "--mip-gap",
    "attack": "--attack",
}


def mip_settings(dataset, topology, variant):
    """The settings of MIP variant ``variant`` on (dataset, topology): the method's defaults, the
    global time limit, then the experiment's ``mip_settings`` entry. Experiments sharing
    (dataset, topology) must agree on a variant's settings (they share its result files)."""
    found = []
    for name, exp in config["experiments"].items():
        if exp["dataset"] == dataset and exp["topology"] == topology and variant in exp.get("mip", []):
            own = exp.get("mip_settings", {}).get(variant, {})
            if variant not in MIP_METHODS and "method" not in own:
                raise ValueError(f"experiments.{name}.mip: variant {variant!r} needs mip_settings.{variant}.method")
            found.append((name, {"method": variant, "time_limit": config.get("mip_time_limit", 30), **own}))
    if not found:
        raise ValueError(f"no experiment runs MIP variant {variant!r} on {dataset}/{topology}")
    for name, s in found[1:]:
        if s != found[0][1]:
            raise ValueError(f"experiments {found[0][0]} and {name}: MIP variant {variant!r} on {dataset}/{topology} "
                             "has different mip_settings (rename one variant)")
    return found[0][1]


def mip_args(wildcards):
    """train-mip options of the run as a flat list (each item shell-quoted by {params.args:q})."""
    s = mip_settings(wildcards.dataset, wildcards.topology, wildcards.method)
    out = []
    for key, opt in MIP_OPTIONS.items():
        v = s.get(key)
        if v is not None:
            out += [opt, *map(str, v if isinstance(v, list) else [v])]
    return out


rule train_mip:
    input:
        data="results/data/{dataset}.h5",
        network=topology_file,
    output:
        network="results/mip/{dataset}/{topology}/{method}_s{seed}.h5",
        metrics="results/mip/{dataset}/{topology}/{method}_s{seed}.json",
    log:
        "logs/train_mip/{dataset}_{topology}_{method}_s{seed}.log",
    benchmark:
        "results/benchmarks/train_mip/{dataset}_{topology}_{method}_s{seed}.tsv"
    conda:
        "../../envs/qbnn-analysis.yaml"
    threads: config.get("mip_threads", 1)
    resources:
        mem_mb=mem_mb("mip"),
        runtime=runtime_min(lambda wildcards: mip_settings(wildcards.dataset, wildcards.topology, wildcards.method)["time_limit"]),
    params:
        args=mip_args,
    shell:
        "qbnn train-mip --data {input.data:q} --network {input.network:q} --variant {wildcards.method:q} "
        "{params.args:q} --threads {threads} --seed {wildcards.seed:q} --out {output.network:q} "
        "--metrics {output.metrics:q} > {log:q} 2>&1"
