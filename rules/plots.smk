rule plot_spectrum:
    input:
        unpack(get_spectrum_inputs),
    output:
        plot="results/plots/spectrum_{model}.png",
    params:
        spectra=lambda wildcards, input: pairs({ds: input[ds] for ds in DATASETS}),
    log:
        "logs/plot_spectrum/{model}.log",
    benchmark:
        "results/benchmarks/plot_spectrum/{model}.tsv"
    shell:
        "python scripts/plot.py spectrum --model {wildcards.model}"
        " --spectrum {params.spectra} --out {output.plot} > {log} 2>&1"


rule plot_projections:
    input:
        unpack(get_projection_inputs),
    output:
        plot="results/plots/grids/{dataset}_projections.png",
    params:
        embeddings=lambda wildcards, input: pairs({m: input[m] for m in MODELS}),
        split=EVAL["split"],
        seed=config["seed"],
    log:
        "logs/plot_projections/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_projections/{dataset}.tsv"
    shell:
        "python scripts/plot.py projections --dataset {wildcards.dataset}"
        " --embeddings {params.embeddings} --split {params.split}"
        " --seed {params.seed} --out {output.plot} > {log} 2>&1"


rule plot_retrieval:
    input:
        unpack(get_retrieval_inputs),
    output:
        plot="results/plots/retrieval_{dataset}.png",
    params:
        metrics=lambda wildcards, input: pairs(
            {f"{m}/{v}": input[f"{m}/{v}"] for m in MODELS for v in VARIANTS}
        ),
        ks=" ".join(str(k) for k in EVAL["ks"]),
    log:
        "logs/plot_retrieval/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_retrieval/{dataset}.tsv"
    shell:
        "python scripts/plot.py retrieval --dataset {wildcards.dataset}"
        " --metrics {params.metrics} --ks {params.ks}"
        " --out {output.plot} > {log} 2>&1"
