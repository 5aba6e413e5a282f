rule report:
    input:
        report_inputs,
    output:
        report="results/report.md",
    params:
        index=as_json(report_index()),
    log:
        "logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    shell:
        "python scripts/report.py --index {params.index:q} --out {output.report} > {log} 2>&1"
