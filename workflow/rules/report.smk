# Stage: aggregate every run's metrics into one table, the per-variant summary and the paper figures;
# the same table and figures again per experiment (report category = experiment name).


include: "report_inputs.smk"


localrules:
    aggregate,
    experiment_summary,
    figures,


rule aggregate:
    input:
        all_metrics(),
    output:
        table=report(
            "results/report/metrics.csv",
            caption="../report/metrics.rst",
            category="All experiments",
            subcategory="Tables",
            labels={"table": "metrics (one row per run)"},
        ),
        summary=report(
            "results/report/summary.csv",
            caption="../report/summary.rst",
            category="All experiments",
            subcategory="Tables",
            labels={"table": "summary (mean, 95% CI per variant)"},
        ),
        figure=report(
            "results/report/accuracy.png",
            caption="../report/accuracy.rst",
            category="All experiments",
            subcategory="Accuracy",
            labels={"figure": "train vs test accuracy"},
        ),
        margin=report(
            "results/report/margin.png",
            caption="../report/margin.rst",
            category="All experiments",
            subcategory="Accuracy",
            labels={"figure": "test accuracy vs margin"},
        ),
        paired=report(
            "results/report/paired.csv",
            caption="../report/paired.rst",
            category="All experiments",
            subcategory="Tables",
            labels={"table": "paired difference to plain QUBO training"},
        ),
        paired_figure=report(
            "results/report/paired.png",
            caption="../report/paired.rst",
            category="All experiments",
            subcategory="Accuracy",
            labels={"figure": "paired difference to plain QUBO training"},
        ),
    log:
        "logs/aggregate/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate/aggregate.tsv"
    conda:
        "../../envs/qbnn-analysis.yaml"
    resources:
        mem_mb=mem_mb("light"),
        runtime=runtime_min(300),
    shell:
        "qbnn aggregate {input:q} --out {output.table:q} --summary {output.summary:q} "
        "--figure {output.figure:q} --margin-figure {output.margin:q} "
        "--paired {output.paired:q} --paired-figure {output.paired_figure:q} > {log:q} 2>&1"


rule experiment_summary:
    # The experiment's own runs only: its section of the HTML report.
    input:
        experiment_metrics,
    output:
        table="results/report/experiments/{exp}/metrics.csv",
        summary=report(
            "results/report/experiments/{exp}/summary.csv",
            caption="../report/summary.rst",
            category="{exp}",
            subcategory="Tables",
            labels={"experiment": "{exp}", "table": "summary (mean, 95% CI per variant)"},
        ),
        figure=report(
            "results/report/experiments/{exp}/accuracy.png",
            caption="../report/accuracy.rst",
            category="{exp}",
            subcategory="Accuracy",
            labels={"experiment": "{exp}", "figure": "train vs test accuracy"},
        ),
        margin=report(
            "results/report/experiments/{exp}/margin.png",
            caption="../report/margin.rst",
            category="{exp}",
            subcategory="Accuracy",
            labels={"experiment": "{exp}", "figure": "test accuracy vs margin"},
        ),
    log:
        "logs/experiment_summary/{exp}.log",
    benchmark:
        "results/benchmarks/experiment_summary/{exp}.tsv"
    conda:
        "../../envs/qbnn-analysis.yaml"
    resources:
        mem_mb=mem_mb("light"),
        runtime=runtime_min(300),
    shell:
        "qbnn aggregate {input:q} --out {output.table:q} --summary {output.summary:q} "
        "--figure {output.figure:q} --margin-figure {output.margin:q} > {log:q} 2>&1"


rule figures:
    input:
        metrics="results/report/metrics.csv",
        data=[f"results/data/{d}.h5" for d in used_datasets()],
        solutions=trace_solutions(),
        networks=figure_networks(first_only=False),
        first_networks=figure_networks(first_only=True),
        rounds=dropout_round_evals(),
    output:
        energy=report(
            "results/report/energy.png",
            caption="../report/energy.rst",
            category="All experiments",
            subcategory="Solvers",
            labels={"figure": "energy vs time"},
        ),
        weights=report(
            "results/report/weights.png",
            caption="../report/weights.rst",
            category="All experiments",
            subcategory="Networks",
            labels={"figure": "first-layer weights"},
        ),
        margins=report(
            "results/report/margin_hist.png",
            caption="../report/margin_hist.rst",
            category="All experiments",
            subcategory="Networks",
            labels={"figure": "margin histograms"},
        ),
        margins_table="results/report/margin_hist.csv",
        rounds=report(
            "results/report/dropout_rounds.png",
            caption="../report/dropout_rounds.rst",
            category="All experiments",
            subcategory="Dropout",
            labels={"figure": "accuracy vs dropout rounds"},
        ),
        rounds_table="results/report/dropout_rounds.csv",
    log:
        "logs/figures/figures.log",
    benchmark:
        "results/benchmarks/figures/figures.tsv"
    conda:
        "../../envs/qbnn-analysis.yaml"
    resources:
        mem_mb=mem_mb("light"),
        runtime=runtime_min(None),
    params:
        dropout_rounds=dropout_round_counts(),
    shell:
        "(qbnn figures --solutions {input.solutions:q} --energy-out {output.energy:q} && "
        "qbnn figures --networks {input.first_networks:q} --data {input.data:q} --weights-out {output.weights:q} && "
        "qbnn figures --networks {input.networks:q} --data {input.data:q} --margins-out {output.margins:q} "
        "--margins-table {output.margins_table:q} && "
        "qbnn figures --rounds {input.rounds:q} --metrics {input.metrics:q} "
        "--dropout-rounds {params.dropout_rounds:q} --rounds-out {output.rounds:q} "
        "--rounds-table {output.rounds_table:q}) > {log:q} 2>&1"
