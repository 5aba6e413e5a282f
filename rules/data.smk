rule download:
    input:
        sources=get_download_sources,
    output:
        manifest="data/raw/{dataset}/manifest.parquet",
        captions="data/raw/{dataset}/captions.parquet",
        failures="data/raw/{dataset}/failures.csv",
        videos=directory("data/raw/{dataset}/videos"),
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        spec=get_dataset_spec,
        seed=config["seed"],
    shell:
        "python scripts/download.py --spec {params.spec:q} --seed {params.seed}"
        " --manifest {output.manifest} --captions {output.captions}"
        " --failures {output.failures} --videos {output.videos} > {log} 2>&1"


rule sample_frames:
    input:
        manifest=rules.download.output.manifest,
        videos=rules.download.output.videos,
    output:
        frames="data/frames/{dataset}/{sampling}/frames.npz",
        failures="data/frames/{dataset}/{sampling}/failures.csv",
    log:
        "logs/sample_frames/{dataset}/{sampling}.log",
    benchmark:
        "results/benchmarks/sample_frames/{dataset}/{sampling}.tsv"
    conda:
        "../envs/vidspace.yaml"
    threads: 4
    params:
        spec=get_sampling_spec,
    shell:
        "python scripts/sample_frames.py --spec {params.spec:q} --manifest {input.manifest}"
        " --frames {output.frames} --failures {output.failures} --workers {threads}"
        " > {log} 2>&1"
