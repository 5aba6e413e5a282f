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
        " --out {output.embeddings} > {log} 2>&1"


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


rule spectrum:
    input:
        embeddings=rules.embed.output.embeddings,
    output:
        spectrum="results/spectra/{dataset}/{model}.json",
    log:
        "logs/spectrum/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/spectrum/{dataset}/{model}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        split=EVAL["split"],
    shell:
        "python scripts/spectrum.py --embeddings {input.embeddings} --out {output.spectrum}"
        " --split {params.split} > {log} 2>&1"


rule dimensions:
    input:
        embeddings=rules.embed.output.embeddings,
    output:
        dimensions="results/dimensions/{dataset}/{model}.json",
    log:
        "logs/dimensions/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/dimensions/{dataset}/{model}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        split=EVAL["split"],
        grid=" ".join(str(d) for d in config["dimensions"]["grid"]),
        epsilon=config["dimensions"]["epsilon"],
        methods=" ".join(config["dimensions"]["methods"]),
        seed=config["seed"],
    shell:
        "python scripts/dimensions.py --embeddings {input.embeddings} --out {output.dimensions}"
        " --split {params.split} --grid {params.grid} --epsilon {params.epsilon}"
        " --methods {params.methods} --seed {params.seed} > {log} 2>&1"


rule temporal:
    input:
        embeddings=rules.embed.output.embeddings,
        meta=rules.embed.output.meta,
    output:
        temporal="results/temporal/{dataset}/{model}.json",
    log:
        "logs/temporal/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/temporal/{dataset}/{model}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        split=EVAL["split"],
        betas=" ".join(str(b) for b in config["temporal"]["betas"]),
        aggregation=config["temporal"]["aggregation"],
        top_k=config["temporal"]["top_k"],
        temperature=config["temporal"]["temperature"],
        bootstrap=EVAL["bootstrap"],
        seed=config["seed"],
    shell:
        "python scripts/temporal.py --embeddings {input.embeddings} --meta {input.meta}"
        " --out {output.temporal} --split {params.split} --betas {params.betas}"
        " --aggregation {params.aggregation} --top-k {params.top_k}"
        " --temperature {params.temperature} --bootstrap {params.bootstrap}"
        " --seed {params.seed} > {log} 2>&1"


rule clustering:
    input:
        embeddings=rules.embed.output.embeddings,
    output:
        clustering="results/clustering/{dataset}/{model}.json",
        labels="results/clustering/{dataset}/{model}.labels.npz",
    log:
        "logs/clustering/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/clustering/{dataset}/{model}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        split=EVAL["split"],
        seed=config["seed"],
        dec=get_dec_option,
    shell:
        "python scripts/clustering.py --embeddings {input.embeddings}"
        " --out {output.clustering} --labels {output.labels} --split {params.split}"
        " --seed {params.seed} {params.dec} > {log} 2>&1"


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
        ranks=lambda wildcards, input: pairs({m: input[m] for m in MODELS}),
        ks=" ".join(str(k) for k in EVAL["ks"]),
        seed=config["seed"],
    shell:
        "python scripts/compare.py --ranks {params.ranks} --out {output.comparison}"
        " --ks {params.ks} --seed {params.seed} > {log} 2>&1"


rule cost:
    input:
        unpack(get_variant_files),
    output:
        cost="results/cost/{dataset}/{model}.json",
    log:
        "logs/cost/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/cost/{dataset}/{model}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        variants=lambda wildcards, input: pairs({v: input[v] for v in VARIANTS}),
        split=EVAL["split"],
        k=max(EVAL["ks"]),
    shell:
        "python scripts/cost.py --variants {params.variants} --out {output.cost}"
        " --split {params.split} --k {params.k} > {log} 2>&1"
