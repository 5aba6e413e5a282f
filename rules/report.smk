rule report:
    input:
        report_inputs,
    output:
        report=report(
            "results/report.md",
            caption="../report/findings.rst",
            category="Report",
        ),
    log:
        "logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        index=as_json(report_index()),
    shell:
        "python scripts/report.py --index {params.index:q} --out {output.report} > {log} 2>&1"
