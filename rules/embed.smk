# embed.shards: K > 1 splits each (dataset, model) job into K batch-aligned GPU jobs
# (embed_shard), which embed merges on the CPU into the same files, byte for byte.
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


rule embed_shard:
    input:
        frames=get_frames,
        manifest=rules.download.output.manifest,
        captions=rules.download.output.captions,
    output:
        part="results/embeddings/{dataset}/{model}.shards/{shard}-of-%d.npz" % SHARDS,
    log:
        "logs/embed_shard/{dataset}/{model}/{shard}.log",
    benchmark:
        "results/benchmarks/embed_shard/{dataset}/{model}/{shard}.tsv"
    wildcard_constraints:
        shard=r"\d+",
        model=one_of(ENCODED),
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
        unpack(get_embedding_parts),
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
    wildcard_constraints:
        model=one_of(ENCODED),
    conda:
        "../envs/vidspace.yaml"
    resources:
        gpu=1 if SHARDS == 1 else 0,  # merging the shards needs no GPU
    params:
        **EMBED_PARAMS,
        parts=lambda wildcards, input: merge_arguments(input, parts="parts"),
    shell:
        "python scripts/embed.py --model {wildcards.model} --spec {params.spec:q}"
        " --frames {input.frames} --manifest {input.manifest} --captions {input.captions}"
        " --device {params.device} --batch-size {params.batch_size} {params.workers}"
        " --out {output.embeddings} --meta {output.meta} --run-facts {output.run}"
        " {params.parts} > {log} 2>&1"


# A fusion (adapter: fusion) is made from its models' embedding files, not from frames:
# the same three outputs as embed, so every reader of an embedding reads it alike.
rule fuse:
    input:
        unpack(get_fusion_inputs),
    output:
        embeddings="results/embeddings/{dataset}/{model}.npz",
        meta="results/embeddings/{dataset}/{model}.json",
        run="results/embeddings/{dataset}/{model}.run.json",
    log:
        "logs/fuse/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/fuse/{dataset}/{model}.tsv"
    wildcard_constraints:
        model=one_of(FUSIONS),
    conda:
        "../envs/vidspace.yaml"
    params:
        components=lambda wildcards, input: pairs(
            {m: input[m] for m in config["models"][wildcards.model]["models"]}
        ),
        weights=lambda wildcards: " ".join(
            str(w) for w in config["models"][wildcards.model]["weights"]
        ),
        split=EVAL["split"],
    shell:
        "python scripts/fuse.py --model {wildcards.model} --components {params.components}"
        " --weights {params.weights} --split {params.split} --out {output.embeddings}"
        " --meta {output.meta} --run-facts {output.run} > {log} 2>&1"
