import json
import shlex

from snakemake.exceptions import WorkflowError

from vidspace.core.config import ConfigError, reference_variant, validate_config
from vidspace.models import instructions

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


# The config keys each rule's command reads (wildcards filled in), the one list DVC's
# `params:` is generated from (vidspace.workflow.dvc): a stage reruns when one of them changes, and
# `dvc params diff` / `dvc exp run -S` see them. tests/test_dvc.py changes each config key
# and checks that every command it changes belongs to a rule that declares it.
CONFIG_KEYS = {
    "download": ["datasets.{dataset}", "seed"],
    "sample_frames_shard": ["samplings.{sampling}"],
    "sample_frames": ["samplings.{sampling}"],
    "embed_shard": ["models.{model}", "datasets.{dataset}.adapter", "device", "embed"],
    "embed": ["models.{model}", "datasets.{dataset}.adapter", "device", "embed"],
    "transform": ["variants.{variant}", "evaluation.split"],
    "retrieval": ["evaluation", "seed", "device"],
    "spectrum": ["evaluation.split"],
    "dimensions": ["evaluation.split", "dimensions", "seed"],
    "temporal": ["evaluation.split", "evaluation.bootstrap", "temporal", "seed"],
    "clustering": ["evaluation.split", "seed", "clustering"],
    "cost": ["evaluation.split", "evaluation.ks"],
    "compare": ["evaluation.ks", "seed"],
    "plot_spectrum": [],
    "plot_projections": ["evaluation.split", "seed"],
    "plot_retrieval": ["evaluation.ks"],
    "plot_dimensions": [],
    "plot_temporal": [],
    "plot_pareto": [],
    "report": ["report", "evaluation", "dimensions.epsilon"],
}


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    variant="|".join(VARIANTS),
    sampling="|".join(config["samplings"]),


def as_json(obj):
    # key order is the config's order: datasets, models and variants keep it in the report
    return json.dumps(obj, separators=(",", ":"))


def out(rule, name, **wildcards):
    """The output path ``name`` as declared by ``rule`` (wildcards filled in). Each path
    is written once, where it is produced."""
    return getattr(getattr(rules, rule).output, name).format(**wildcards)


def get_frames(wildcards):
    sampling = config["datasets"][wildcards.dataset]["sampling"]
    return out("sample_frames", "frames", dataset=wildcards.dataset, sampling=sampling)


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
    # a per-dataset instruction (mapping or preset) becomes this dataset's one string
    dataset = config["datasets"][wildcards.dataset]
    spec = instructions.for_dataset(
        config["models"][wildcards.model], wildcards.dataset, dataset["adapter"]
    )
    return as_json(spec)


def get_variant_spec(wildcards):
    return as_json(config["variants"][wildcards.variant])


def get_spectrum_inputs(wildcards):
    return {
        ds: out("spectrum", "spectrum", dataset=ds, model=wildcards.model)
        for ds in DATASETS
    }


def get_projection_inputs(wildcards):
    embeddings = {
        m: out("embed", "embeddings", dataset=wildcards.dataset, model=m)
        for m in MODELS
    }
    clusters = {
        f"labels/{m}": out("clustering", "labels", dataset=wildcards.dataset, model=m)
        for m in MODELS
    }
    return embeddings | clusters


def get_dimensions_inputs(wildcards):
    return {
        m: out("dimensions", "dimensions", dataset=wildcards.dataset, model=m)
        for m in MODELS
    }


def get_dec_option(wildcards):
    """--dec with DEC's options when clustering.dec is on, else nothing."""
    options = dict(config["clustering"])
    if not options.pop("dec"):
        return ""
    return f"--dec {shlex.quote(as_json(options))}"


def get_temporal_inputs(wildcards):
    return {
        m: out("temporal", "temporal", dataset=wildcards.dataset, model=m)
        for m in MODELS
    }


def get_variant_files(wildcards):
    return {
        v: out(
            "transform",
            "embeddings",
            dataset=wildcards.dataset,
            model=wildcards.model,
            variant=v,
        )
        for v in VARIANTS
    }


def get_retrieval_inputs(wildcards):
    return {
        f"{m}/{v}": out(
            "retrieval", "metrics", dataset=wildcards.dataset, model=m, variant=v
        )
        for m in MODELS
        for v in VARIANTS
    }


def get_comparison_inputs(wildcards):
    return {
        m: out(
            "retrieval",
            "ranks",
            dataset=wildcards.dataset,
            model=m,
            variant=REFERENCE_VARIANT,
        )
        for m in MODELS
    }


def pairs(mapping):
    """NAME=PATH arguments for scripts/plot.py, shell-quoted."""
    return " ".join(shlex.quote(f"{k}={v}") for k, v in mapping.items())


def report_index():
    """Every file the report reads, by dataset, model and variant (paths from the rules)."""
    datasets = {}
    for ds in DATASETS:
        sampling = config["datasets"][ds]["sampling"]
        datasets[ds] = {
            "manifest": out("download", "manifest", dataset=ds),
            "captions": out("download", "captions", dataset=ds),
            "download_failures": out("download", "failures", dataset=ds),
            "frame_failures": out(
                "sample_frames", "failures", dataset=ds, sampling=sampling
            ),
            "comparison": out("compare", "comparison", dataset=ds),
            "models": {
                m: {
                    "embedding_meta": out("embed", "meta", dataset=ds, model=m),
                    "embedding_run": out("embed", "run", dataset=ds, model=m),
                    "spectrum": out("spectrum", "spectrum", dataset=ds, model=m),
                    "clustering": out("clustering", "clustering", dataset=ds, model=m),
                    "dimensions": out("dimensions", "dimensions", dataset=ds, model=m),
                    "temporal": out("temporal", "temporal", dataset=ds, model=m),
                    "cost": out("cost", "cost", dataset=ds, model=m),
                    "metrics": {
                        v: out("retrieval", "metrics", dataset=ds, model=m, variant=v)
                        for v in VARIANTS
                    },
                }
                for m in MODELS
            },
        }
    return {
        "title": config["report"]["title"],
        "reference_variant": REFERENCE_VARIANT,
        "ks": EVAL["ks"],
        "pool_sizes": EVAL["pool_sizes"],
        "ndcg_k": EVAL["ndcg_k"],
        "epsilon": config["dimensions"]["epsilon"],
        "datasets": datasets,
        "plots": {
            "spectrum": {m: out("plot_spectrum", "plot", model=m) for m in MODELS},
            "projections": {
                ds: out("plot_projections", "plot", dataset=ds) for ds in DATASETS
            },
            "projection_notes": {
                ds: out("plot_projections", "notes", dataset=ds) for ds in DATASETS
            },
            "retrieval": {
                ds: out("plot_retrieval", "plot", dataset=ds) for ds in DATASETS
            },
            "dimensions": {
                ds: out("plot_dimensions", "plot", dataset=ds) for ds in DATASETS
            },
            "temporal": {
                ds: out("plot_temporal", "plot", dataset=ds) for ds in DATASETS
            },
            "pareto": {ds: out("plot_pareto", "plot", dataset=ds) for ds in DATASETS},
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
            files += [md["embedding_meta"], md["embedding_run"]]
            files += [
                md["spectrum"],
                md["clustering"],
                md["dimensions"],
                md["temporal"],
                md["cost"],
            ]
            files += list(md["metrics"].values())
    for group in index["plots"].values():
        files += list(group.values())
    return files
