# Stage: aggregate every run's metrics into one table and the comparison figure.


rule aggregate:
    input:
        qubo_metrics() + baseline_metrics() + mip_metrics(),
    output:
        table=report("results/report/metrics.csv", caption="../report/metrics.rst", category="Results"),
        figure=report("results/report/accuracy.png", caption="../report/accuracy.rst", category="Results"),
        margin=report("results/report/margin.png", caption="../report/margin.rst", category="Results"),
    log:
        "logs/aggregate/aggregate.log",
    conda:
        "../../envs/qbnn.yaml"
    shell:
        "qbnn aggregate {input} --out {output.table} --figure {output.figure} --margin-figure {output.margin} > {log} 2>&1"
