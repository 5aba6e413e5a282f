rule embed:
    input:
        frames=get_frames,
        manifest=rules.download.output.manifest,
        captions=rules.download.output.captions,
    output:
        embeddings="results/embeddings/{dataset}/{model}.npz",
        meta="results/embeddings/{dataset}/{model}.json",
    log:
        "logs/embed/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/{model}.tsv"
    conda:
        "../envs/vidspace.yaml"
    resources:
        gpu=1,
    params:
        spec=get_model_spec,
        device=config["device"],
        batch_size=config.get("embed", {}).get("batch_size", 16),
        workers=(
            f"--num-workers {config['embed']['num_workers']}"
            if "num_workers" in config.get("embed", {})
            else ""
        ),
    shell:
        "python scripts/embed.py --model {wildcards.model} --spec {params.spec:q}"
        " --frames {input.frames} --manifest {input.manifest} --captions {input.captions}"
        " --out {output.embeddings} --device {params.device}"
        " --batch-size {params.batch_size} {params.workers} > {log} 2>&1"
