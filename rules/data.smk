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


# frames.shards: K > 1 samples each (dataset, sampling) in K jobs over contiguous ranges of
# the manifest (sample_frames_shard), which sample_frames merges into the same files.
FRAME_SHARDS = config["frames"]["shards"]


rule sample_frames_shard:
    input:
        manifest=rules.download.output.manifest,
        videos=rules.download.output.videos,
    output:
        frames="data/frames/{dataset}/{sampling}.shards/{shard}-of-%d.npz"
        % FRAME_SHARDS,
        failures="data/frames/{dataset}/{sampling}.shards/{shard}-of-%d.failures.csv"
        % FRAME_SHARDS,
    log:
        "logs/sample_frames_shard/{dataset}/{sampling}/{shard}.log",
    benchmark:
        "results/benchmarks/sample_frames_shard/{dataset}/{sampling}/{shard}.tsv"
    wildcard_constraints:
        shard=r"\d+",
    conda:
        "../envs/vidspace.yaml"
    threads: 4
    params:
        spec=get_sampling_spec,
        shards=FRAME_SHARDS,
    shell:
        "python scripts/sample_frames.py --spec {params.spec:q} --manifest {input.manifest}"
        " --frames {output.frames} --failures {output.failures} --workers {threads}"
        " --shard {wildcards.shard} --shards {params.shards} > {log} 2>&1"


rule sample_frames:
    input:
        unpack(get_frame_parts),
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
    threads: 4 if FRAME_SHARDS == 1 else 1
    params:
        spec=get_sampling_spec,
        parts=lambda wildcards, input: merge_arguments(
            input, parts="parts", part_failures="part_failures"
        ),
    shell:
        "python scripts/sample_frames.py --spec {params.spec:q} --manifest {input.manifest}"
        " --frames {output.frames} --failures {output.failures} --workers {threads}"
        " {params.parts} > {log} 2>&1"


rule data_quality:
    input:
        manifest=rules.download.output.manifest,
        captions=rules.download.output.captions,
        download_failures=rules.download.output.failures,
        frame_failures=lambda wildcards: out(
            "sample_frames",
            "failures",
            dataset=wildcards.dataset,
            sampling=config["datasets"][wildcards.dataset]["sampling"],
        ),
    output:
        quality="results/data/{dataset}/quality.json",
        ambiguous="results/data/{dataset}/ambiguous_captions.csv",
    log:
        "logs/data_quality/{dataset}.log",
    benchmark:
        "results/benchmarks/data_quality/{dataset}.tsv"
    conda:
        "../envs/vidspace.yaml"
    params:
        split=EVAL["split"],
    shell:
        "python scripts/data_quality.py --manifest {input.manifest} --captions {input.captions}"
        " --download-failures {input.download_failures}"
        " --frame-failures {input.frame_failures} --split {params.split}"
        " --out {output.quality} --ambiguous {output.ambiguous} > {log} 2>&1"
