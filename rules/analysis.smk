rule transform:
    input:
        embeddings="results/embeddings/{dataset}/{model}.npz",
    output:
        embeddings="results/variants/{dataset}/{model}/{variant}.npz",
        meta="results/variants/{dataset}/{model}/{variant}.json",
    params:
        spec=get_variant_spec,
    log:
        "logs/transform/{dataset}/{model}/{variant}.log",
    benchmark:
        "results/benchmarks/transform/{dataset}/{model}/{variant}.tsv"
    shell:
        "python scripts/transform.py --variant {wildcards.variant} --spec {params.spec:q}"
        " --embeddings {input.embeddings} --out {output.embeddings} > {log} 2>&1"


rule retrieval:
    input:
        embeddings="results/variants/{dataset}/{model}/{variant}.npz",
    output:
        metrics="results/metrics/{dataset}/{model}/{variant}.json",
    params:
        split=EVAL["split"],
        ks=" ".join(str(k) for k in EVAL["ks"]),
        ndcg_k=EVAL["ndcg_k"],
    log:
        "logs/retrieval/{dataset}/{model}/{variant}.log",
    benchmark:
        "results/benchmarks/retrieval/{dataset}/{model}/{variant}.tsv"
    shell:
        "python scripts/retrieval.py --embeddings {input.embeddings} --out {output.metrics}"
        " --split {params.split} --ks {params.ks} --ndcg-k {params.ndcg_k} > {log} 2>&1"


rule spectrum:
    input:
        embeddings="results/embeddings/{dataset}/{model}.npz",
    output:
        spectrum="results/spectra/{dataset}/{model}.json",
    params:
        split=EVAL["split"],
    log:
        "logs/spectrum/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/spectrum/{dataset}/{model}.tsv"
    shell:
        "python scripts/spectrum.py --embeddings {input.embeddings} --out {output.spectrum}"
        " --split {params.split} > {log} 2>&1"


rule clustering:
    input:
        embeddings="results/embeddings/{dataset}/{model}.npz",
    output:
        clustering="results/clustering/{dataset}/{model}.json",
    params:
        split=EVAL["split"],
        seed=config["seed"],
    log:
        "logs/clustering/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/clustering/{dataset}/{model}.tsv"
    shell:
        "python scripts/clustering.py --embeddings {input.embeddings}"
        " --out {output.clustering} --split {params.split} --seed {params.seed} > {log} 2>&1"
