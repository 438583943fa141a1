# Stage: aggregate every run's metrics into one table, the per-variant summary and the paper figures.


include: "report_inputs.smk"


rule aggregate:
    input:
        qubo_metrics() + baseline_metrics() + mip_metrics(),
    output:
        table=report("results/report/metrics.csv", caption="../report/metrics.rst", category="Results"),
        summary=report("results/report/summary.csv", caption="../report/summary.rst", category="Results"),
        figure=report("results/report/accuracy.png", caption="../report/accuracy.rst", category="Results"),
        margin=report("results/report/margin.png", caption="../report/margin.rst", category="Results"),
    log:
        "logs/aggregate/aggregate.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn aggregate {input} --out {output.table} --summary {output.summary} --figure {output.figure} "
        "--margin-figure {output.margin} > {log} 2>&1"


rule figures:
    input:
        metrics="results/report/metrics.csv",
        data=[f"results/data/{d}.h5" for d in used_datasets()],
        solutions=trace_solutions(),
        networks=figure_networks(first_only=False),
        first_networks=figure_networks(first_only=True),
        rounds=dropout_round_evals(),
    output:
        energy=report("results/report/energy.png", caption="../report/energy.rst", category="Figures"),
        weights=report("results/report/weights.png", caption="../report/weights.rst", category="Figures"),
        margins=report("results/report/margin_hist.png", caption="../report/margin_hist.rst", category="Figures"),
        margins_table="results/report/margin_hist.csv",
        rounds=report("results/report/dropout_rounds.png", caption="../report/dropout_rounds.rst", category="Figures"),
        rounds_table="results/report/dropout_rounds.csv",
    params:
        dropout_rounds=dropout_round_counts(),
    log:
        "logs/figures/figures.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "(qbnn figures --solutions {input.solutions} --energy-out {output.energy} && "
        "qbnn figures --networks {input.first_networks} --data {input.data} --weights-out {output.weights} && "
        "qbnn figures --networks {input.networks} --data {input.data} --margins-out {output.margins} "
        "--margins-table {output.margins_table} && "
        "qbnn figures --rounds {input.rounds} --metrics {input.metrics} --dropout-rounds {params.dropout_rounds} "
        "--rounds-out {output.rounds} --rounds-table {output.rounds_table}) > {log} 2>&1"
