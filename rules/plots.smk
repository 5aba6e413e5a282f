rule plot_spectrum:
    input:
        unpack(get_spectrum_inputs),
    output:
        plot=report(
            "results/plots/spectrum_{model}.png",
            caption="../report/spectrum.rst",
            category="Spectra",
        ),
    log:
        "logs/plot_spectrum/{model}.log",
    benchmark:
        "results/benchmarks/plot_spectrum/{model}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        spectra=lambda wildcards, input: pairs({ds: input[ds] for ds in DATASETS}),
    shell:
        "python scripts/plot.py spectrum --model {wildcards.model}"
        " --spectrum {params.spectra} --out {output.plot} > {log} 2>&1"


rule plot_projections:
    input:
        unpack(get_projection_inputs),
    output:
        plot=report(
            "results/plots/grids/{dataset}_projections.png",
            caption="../report/projections.rst",
            category="Projections",
        ),
        notes="results/plots/grids/{dataset}_projections.json",
    log:
        "logs/plot_projections/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_projections/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        embeddings=lambda wildcards, input: pairs({m: input[m] for m in MODELS}),
        clusters=lambda wildcards, input: pairs(
            {m: input[f"labels/{m}"] for m in MODELS}
        ),
        split=EVAL["split"],
        seed=config["seed"],
    shell:
        "python scripts/plot.py projections --dataset {wildcards.dataset}"
        " --embeddings {params.embeddings} --clusters {params.clusters}"
        " --split {params.split}"
        " --seed {params.seed} --out {output.plot} --notes {output.notes} > {log} 2>&1"


rule plot_retrieval:
    input:
        unpack(get_retrieval_inputs),
    output:
        plot=report(
            "results/plots/retrieval_{dataset}.png",
            caption="../report/retrieval.rst",
            category="Retrieval",
        ),
    log:
        "logs/plot_retrieval/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_retrieval/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        metrics=lambda wildcards, input: pairs(
            {f"{m}/{v}": input[f"{m}/{v}"] for m in MODELS for v in VARIANTS}
        ),
        ks=" ".join(str(k) for k in EVAL["ks"]),
    shell:
        "python scripts/plot.py retrieval --dataset {wildcards.dataset}"
        " --metrics {params.metrics} --ks {params.ks}"
        " --out {output.plot} > {log} 2>&1"


rule plot_dimensions:
    input:
        unpack(get_dimensions_inputs),
    output:
        plot=report(
            "results/plots/dimensions_{dataset}.png",
            caption="../report/dimensions.rst",
            category="Dimensions",
        ),
    log:
        "logs/plot_dimensions/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_dimensions/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        curves=lambda wildcards, input: pairs({m: input[m] for m in MODELS}),
    shell:
        "python scripts/plot.py dimensions --dataset {wildcards.dataset}"
        " --curves {params.curves} --out {output.plot} > {log} 2>&1"


rule plot_temporal:
    input:
        unpack(get_temporal_inputs),
    output:
        plot=report(
            "results/plots/temporal_{dataset}.png",
            caption="../report/temporal.rst",
            category="Temporal",
        ),
    log:
        "logs/plot_temporal/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_temporal/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        sweeps=lambda wildcards, input: pairs({m: input[m] for m in MODELS}),
    shell:
        "python scripts/plot.py temporal --dataset {wildcards.dataset}"
        " --sweeps {params.sweeps} --out {output.plot} > {log} 2>&1"


rule plot_pareto:
    input:
        unpack(get_retrieval_inputs),
    output:
        plot=report(
            "results/plots/pareto_{dataset}.png",
            caption="../report/pareto.rst",
            category="Cost",
        ),
    log:
        "logs/plot_pareto/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_pareto/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        metrics=lambda wildcards, input: pairs(
            {f"{m}/{v}": input[f"{m}/{v}"] for m in MODELS for v in VARIANTS}
        ),
    shell:
        "python scripts/plot.py pareto --dataset {wildcards.dataset}"
        " --metrics {params.metrics} --out {output.plot} > {log} 2>&1"
