# One rule per declared figure (vidspace.analyses.figures(): the analyses' figures and
# the report's own), each a PNG of the HTML report under its caption and category.
for figure in FIGURES.values():

    rule:
        name:
            figure.rule
        input:
            unpack(declared_inputs(figure.inputs)),
        output:
            plot=report(
                figure.path,
                caption=f"../report/{figure.caption}",
                category=figure.category,
            ),
        log:
            figure.log(),
        benchmark:
            figure.benchmark()
        conda:
            "../envs/vidspace.yaml"
        params:
            inputs=lambda wildcards, input, f=figure: as_json(grouped(input, f.inputs)),
            wildcards=lambda wildcards: as_json(dict(wildcards.items())),
            config=lambda wildcards, f=figure: as_json(
                config_of(f.config_keys, wildcards)
            ),
            name=figure.rule,
            module=figure.module,
        shell:
            "python scripts/plot.py {params.name} --module {params.module} --inputs {params.inputs:q}"
            " --wildcards {params.wildcards:q} --config {params.config:q}"
            " --out {output.plot} > {log} 2>&1"
