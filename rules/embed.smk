# embed.shards: K > 1 splits each (dataset, model) job into K batch-aligned GPU jobs
# (embed_shard) and a CPU merge (embed) that writes the same file, byte for byte.
SHARDS = config["embed"]["shards"]
EMBED_PARAMS = dict(
    spec=get_model_spec,
    device=config["device"],
    batch_size=config["embed"]["batch_size"],
    workers=(
        f"--num-workers {config['embed']['num_workers']}"
        if "num_workers" in config["embed"]
        else ""
    ),
)

if SHARDS > 1:

    rule embed_shard:
        input:
            frames=get_frames,
            manifest=rules.download.output.manifest,
            captions=rules.download.output.captions,
        output:
            part="results/embeddings/{dataset}/{model}.shards/{shard}-of-%d.npz"
            % SHARDS,
        log:
            "logs/embed_shard/{dataset}/{model}/{shard}.log",
        benchmark:
            "results/benchmarks/embed_shard/{dataset}/{model}/{shard}.tsv"
        wildcard_constraints:
            shard=r"\d+",
        conda:
            "../envs/vidspace.yaml"
        resources:
            gpu=1,
        params:
            **EMBED_PARAMS,
            shards=SHARDS,
        shell:
            "python scripts/embed.py --model {wildcards.model} --spec {params.spec:q}"
            " --frames {input.frames} --manifest {input.manifest} --captions {input.captions}"
            " --device {params.device} --batch-size {params.batch_size} {params.workers}"
            " --shard {wildcards.shard} --shards {params.shards} --out {output.part} > {log} 2>&1"

    rule embed:
        input:
            parts=lambda wildcards: [
                out("embed_shard", "part", shard=k, **wildcards) for k in range(SHARDS)
            ],
            frames=get_frames,
            manifest=rules.download.output.manifest,
            captions=rules.download.output.captions,
        output:
            embeddings="results/embeddings/{dataset}/{model}.npz",
            meta="results/embeddings/{dataset}/{model}.json",
            run="results/embeddings/{dataset}/{model}.run.json",
        log:
            "logs/embed/{dataset}/{model}.log",
        benchmark:
            "results/benchmarks/embed/{dataset}/{model}.tsv"
        conda:
            "../envs/vidspace.yaml"
        params:
            spec=get_model_spec,
        shell:
            "python scripts/merge_embeddings.py --model {wildcards.model}"
            " --spec {params.spec:q} --parts {input.parts} --frames {input.frames}"
            " --manifest {input.manifest} --captions {input.captions}"
            " --out {output.embeddings} > {log} 2>&1"

else:

    rule embed:
        input:
            frames=get_frames,
            manifest=rules.download.output.manifest,
            captions=rules.download.output.captions,
        output:
            embeddings="results/embeddings/{dataset}/{model}.npz",
            meta="results/embeddings/{dataset}/{model}.json",
            run="results/embeddings/{dataset}/{model}.run.json",
        log:
            "logs/embed/{dataset}/{model}.log",
        benchmark:
            "results/benchmarks/embed/{dataset}/{model}.tsv"
        conda:
            "../envs/vidspace.yaml"
        resources:
            gpu=1,
        params:
            **EMBED_PARAMS,
        shell:
            "python scripts/embed.py --model {wildcards.model} --spec {params.spec:q}"
            " --frames {input.frames} --manifest {input.manifest} --captions {input.captions}"
            " --device {params.device} --batch-size {params.batch_size} {params.workers}"
            " --out {output.embeddings} > {log} 2>&1"
