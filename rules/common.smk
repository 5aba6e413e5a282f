import json
import shlex

from snakemake.exceptions import WorkflowError

from vidspace.config import ConfigError, reference_variant, validate_config

try:
    validate_config(
        config, schema_path=workflow.source_path("../schemas/config.schema.yaml")
    )
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
VARIANTS = list(config["variants"])
EVAL = config["evaluation"]
REFERENCE_VARIANT = reference_variant(config)


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    variant="|".join(VARIANTS),
    sampling="|".join(config["samplings"]),


def as_json(obj):
    # key order is the config's order: datasets, models and variants keep it in the report
    return json.dumps(obj, separators=(",", ":"))


def get_frames(wildcards):
    sampling = config["datasets"][wildcards.dataset]["sampling"]
    return f"data/frames/{wildcards.dataset}/{sampling}/frames.npz"


def get_dataset_spec(wildcards):
    return as_json(config["datasets"][wildcards.dataset])


def get_download_sources(wildcards):
    """Local files the download reads: a CSV table, or {path: ...} sources of an adapter."""
    spec = config["datasets"][wildcards.dataset]
    options = spec.get("options", {})
    if spec["adapter"] == "csv":
        return [options["path"]]
    return [v["path"] for v in options.values() if isinstance(v, dict) and "path" in v]


def get_sampling_spec(wildcards):
    return as_json(config["samplings"][wildcards.sampling])


def get_model_spec(wildcards):
    return as_json(config["models"][wildcards.model])


def get_variant_spec(wildcards):
    return as_json(config["variants"][wildcards.variant])


def get_spectrum_inputs(wildcards):
    return {ds: f"results/spectra/{ds}/{wildcards.model}.json" for ds in DATASETS}


def get_projection_inputs(wildcards):
    return {m: f"results/embeddings/{wildcards.dataset}/{m}.npz" for m in MODELS}


def get_retrieval_inputs(wildcards):
    return {
        f"{m}/{v}": f"results/metrics/{wildcards.dataset}/{m}/{v}.json"
        for m in MODELS
        for v in VARIANTS
    }


def get_comparison_inputs(wildcards):
    return {
        m: f"results/ranks/{wildcards.dataset}/{m}/{REFERENCE_VARIANT}.npz"
        for m in MODELS
    }


def pairs(mapping):
    """NAME=PATH arguments for scripts/plot.py, shell-quoted."""
    return " ".join(shlex.quote(f"{k}={v}") for k, v in mapping.items())


def report_index():
    """Every file the report reads, by dataset, model and variant."""
    datasets = {}
    for ds in DATASETS:
        sampling = config["datasets"][ds]["sampling"]
        datasets[ds] = {
            "manifest": f"data/raw/{ds}/manifest.parquet",
            "captions": f"data/raw/{ds}/captions.parquet",
            "download_failures": f"data/raw/{ds}/failures.csv",
            "frame_failures": f"data/frames/{ds}/{sampling}/failures.csv",
            "comparison": f"results/comparisons/{ds}.json",
            "models": {
                m: {
                    "embedding_meta": f"results/embeddings/{ds}/{m}.json",
                    "spectrum": f"results/spectra/{ds}/{m}.json",
                    "clustering": f"results/clustering/{ds}/{m}.json",
                    "metrics": {
                        v: f"results/metrics/{ds}/{m}/{v}.json" for v in VARIANTS
                    },
                }
                for m in MODELS
            },
        }
    return {
        "title": config.get("report", {}).get("title", "vidspace report"),
        "reference_variant": REFERENCE_VARIANT,
        "ks": EVAL["ks"],
        "pool_sizes": EVAL.get("pool_sizes", []),
        "ndcg_k": EVAL["ndcg_k"],
        "datasets": datasets,
        "plots": {
            "spectrum": {m: f"results/plots/spectrum_{m}.png" for m in MODELS},
            "projections": {
                ds: f"results/plots/grids/{ds}_projections.png" for ds in DATASETS
            },
            "projection_notes": {
                ds: f"results/plots/grids/{ds}_projections.json" for ds in DATASETS
            },
            "retrieval": {ds: f"results/plots/retrieval_{ds}.png" for ds in DATASETS},
        },
    }


def report_inputs(wildcards):
    index = report_index()
    files = []
    for d in index["datasets"].values():
        files += [
            d["manifest"],
            d["captions"],
            d["download_failures"],
            d["frame_failures"],
            d["comparison"],
        ]
        for md in d["models"].values():
            files += [md["embedding_meta"], md["spectrum"], md["clustering"]]
            files += list(md["metrics"].values())
    for group in index["plots"].values():
        files += list(group.values())
    return files
