rule transform:
    input:
        embeddings=rules.embed.output.embeddings,
        meta=rules.embed.output.meta,
    output:
        embeddings="results/variants/{dataset}/{model}/{variant}.npz",
        meta="results/variants/{dataset}/{model}/{variant}.json",
    log:
        "logs/transform/{dataset}/{model}/{variant}.log",
    benchmark:
        "results/benchmarks/transform/{dataset}/{model}/{variant}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        spec=get_variant_spec,
        split=EVAL["split"],
    shell:
        "python scripts/transform.py --variant {wildcards.variant} --spec {params.spec:q}"
        " --embeddings {input.embeddings} --meta {input.meta} --split {params.split}"
        " --out {output.embeddings} --out-meta {output.meta} > {log} 2>&1"


rule retrieval:
    input:
        embeddings=rules.transform.output.embeddings,
        meta=rules.transform.output.meta,
    output:
        metrics="results/metrics/{dataset}/{model}/{variant}.json",
        ranks="results/ranks/{dataset}/{model}/{variant}.npz",
    log:
        "logs/retrieval/{dataset}/{model}/{variant}.log",
    benchmark:
        "results/benchmarks/retrieval/{dataset}/{model}/{variant}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        split=EVAL["split"],
        ks=" ".join(str(k) for k in EVAL["ks"]),
        ndcg_k=EVAL["ndcg_k"],
        pool_sizes=" ".join(str(c) for c in EVAL["pool_sizes"]),
        bootstrap=EVAL["bootstrap"],
        seed=config["seed"],
        device=config["device"],
    shell:
        "python scripts/retrieval.py --embeddings {input.embeddings} --meta {input.meta}"
        " --out {output.metrics}"
        " --split {params.split} --ks {params.ks} --ndcg-k {params.ndcg_k}"
        " --pool-sizes {params.pool_sizes} --bootstrap {params.bootstrap}"
        " --ranks {output.ranks} --seed {params.seed} --device {params.device}"
        " > {log} 2>&1"


rule compare:
    input:
        unpack(get_comparison_inputs),
    output:
        comparison="results/comparisons/{dataset}.json",
    log:
        "logs/compare/{dataset}.log",
    benchmark:
        "results/benchmarks/compare/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        ranks=lambda wildcards, input: pairs(
            {m: input[m] for m in models_of(wildcards.dataset)}
        ),
        ks=" ".join(str(k) for k in EVAL["ks"]),
        seed=config["seed"],
    shell:
        "python scripts/compare.py --ranks {params.ranks} --out {output.comparison}"
        " --ks {params.ks} --seed {params.seed} > {log} 2>&1"


# One rule per analysis declared in vidspace.analyses (its module's ANALYSIS): outputs,
# inputs, log, benchmark and the config keys its stage reads all come from there.
for analysis in ANALYSES.values():

    rule:
        name:
            analysis.name
        input:
            unpack(declared_inputs(analysis.inputs)),
        output:
            **reported_outputs(analysis),
        log:
            analysis.log(),
        benchmark:
            analysis.benchmark()
        conda:
            "../envs/vidspace.yaml"
        threads: analysis.threads
        params:
            inputs=lambda wildcards, input, a=analysis: as_json(
                grouped(input, a.inputs)
            ),
            outputs=lambda wildcards, output: as_json(dict(output.items())),
            config=lambda wildcards, a=analysis: as_json(
                config_of(a.config_keys, wildcards)
            ),
            name=analysis.name,
            module=analysis.module,
        shell:
            "python scripts/analysis.py {params.name} --module {params.module} --inputs {params.inputs:q}"
            " --outputs {params.outputs:q} --config {params.config:q} > {log} 2>&1"
