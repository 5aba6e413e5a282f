import itertools
import json
import re
import shlex

from snakemake.exceptions import WorkflowError

from vidspace.analyses import figures, grouped, input_key, registry, select
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
# fusions are made from other models' embeddings (rule fuse), the others by an encoder
FUSIONS = [m for m in MODELS if config["models"][m]["adapter"] == "fusion"]
ENCODED = [m for m in MODELS if m not in FUSIONS]
EVAL = config["evaluation"]
REFERENCE_VARIANT = reference_variant(config)
ANALYSES = registry()  # every declared analysis (vidspace.analyses), in report order
FIGURES = figures()  # every declared figure, by rule name


# The config keys each rule's command reads (wildcards filled in), the one list DVC's
# `params:` is generated from (vidspace.workflow.dvc): a stage reruns when one of them
# changes, and `dvc params diff` / `dvc exp run -S` see them. The analyses and figures
# declare theirs (and are given nothing else); tests/test_dvc.py changes each config key
# and checks that every command it changes belongs to a rule that declares it.
CONFIG_KEYS = {
    "download": [
        "datasets.{dataset}.adapter",
        "datasets.{dataset}.options",
        "datasets.{dataset}.holdout",
        "seed",
    ],
    "sample_frames_shard": ["samplings.{sampling}"],
    "sample_frames": ["samplings.{sampling}"],
    "embed_shard": ["models.{model}", "datasets.{dataset}.adapter", "device", "embed"],
    "embed": ["models.{model}", "datasets.{dataset}.adapter", "device", "embed"],
    "fuse": ["models.{model}", "evaluation.split"],
    "transform": ["variants.{variant}", "evaluation.split"],
    "retrieval": ["evaluation", "seed", "device"],
    "compare": ["evaluation.ks", "seed"],
    "data_quality": ["evaluation.split"],
    **{a.name: list(a.config_keys) for a in ANALYSES.values()},
    **{f.rule: list(f.config_keys) for f in FIGURES.values()},
    "report": ["report", "evaluation", "dimensions.epsilon", "datasets"],
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


def get_frame_parts(wildcards):
    """The shards' frames and failure tables, when frames.shards > 1 (else none)."""
    shards = config["frames"]["shards"]
    if shards == 1:
        return {}
    return {
        name: [
            out("sample_frames_shard", kind, shard=k, **wildcards)
            for k in range(shards)
        ]
        for name, kind in (("parts", "frames"), ("part_failures", "failures"))
    }


def one_of(names):
    """A wildcard constraint matching exactly ``names`` (nothing when empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def get_fusion_inputs(wildcards):
    """The embedding files of a fusion's models on this dataset."""
    return {
        m: out("embed", "embeddings", dataset=wildcards.dataset, model=m)
        for m in config["models"][wildcards.model]["models"]
    }


def get_embedding_parts(wildcards):
    """The shards' part files, when embed.shards > 1 (else none)."""
    shards = config["embed"]["shards"]
    if shards == 1:
        return {}
    return {
        "parts": [
            out("embed_shard", "part", shard=k, **wildcards) for k in range(shards)
        ]
    }


def merge_arguments(input, **options):
    """``--parts a b --part-failures c d`` for the named input lists present (a merge), or
    nothing (one job)."""
    found = dict(input.items())
    return " ".join(
        f"--{option.replace('_', '-')} " + " ".join(shlex.quote(p) for p in found[name])
        for option, name in options.items()
        if name in found
    )


def get_dataset_spec(wildcards):
    # what the download reads: which models run on the dataset is none of its business
    spec = config["datasets"][wildcards.dataset]
    return as_json({k: spec[k] for k in ("adapter", "options", "holdout") if k in spec})


def models_of(dataset):
    """The models run on ``dataset``: its ``models`` (in the config's model order), or all."""
    wanted = config["datasets"][dataset].get("models")
    return [m for m in MODELS if wanted is None or m in wanted]


def datasets_of(model):
    """The datasets ``model`` runs on."""
    return [ds for ds in DATASETS if model in models_of(ds)]


def each_values(wildcard, fixed):
    """The values an Input's ``each`` wildcard takes beside the job's ``fixed`` wildcards:
    a dataset's models, a model's datasets, else every configured value that runs."""
    if wildcard == "model":
        return models_of(fixed["dataset"]) if "dataset" in fixed else RUN_MODELS
    if wildcard == "dataset" and "model" in fixed:
        return datasets_of(fixed["model"])
    return {"dataset": DATASETS, "variant": VARIANTS}[wildcard]


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
        config["models"][wildcards.model],
        wildcards.dataset,
        dataset["adapter"],
        dataset.get("options"),
    )
    return as_json(spec)


def get_variant_spec(wildcards):
    return as_json(config["variants"][wildcards.variant])


def get_comparison_inputs(wildcards):
    return {
        m: out(
            "retrieval",
            "ranks",
            dataset=wildcards.dataset,
            model=m,
            variant=REFERENCE_VARIANT,
        )
        for m in models_of(wildcards.dataset)
    }


def pairs(mapping):
    """NAME=PATH arguments for scripts/plot.py, shell-quoted."""
    return " ".join(shlex.quote(f"{k}={v}") for k, v in mapping.items())


RUN_MODELS = [
    m for m in MODELS if datasets_of(m)
]  # a model no dataset names runs nowhere


def files_of(spec, wildcards):
    """{label: path} of a declared Input: one file (label "") or one per value of its
    ``each`` wildcards (labels "model", "model/variant", in config order)."""
    fixed = dict(wildcards.items())
    if "dataset" in fixed:  # the dataset's one frame store (rule sample_frames)
        fixed.setdefault("sampling", config["datasets"][fixed["dataset"]]["sampling"])
    if spec.variant == "reference":
        fixed["variant"] = REFERENCE_VARIANT
    combos = itertools.product(*(each_values(w, fixed) for w in spec.each))
    return {
        "/".join(combo): out(
            spec.rule, spec.output, **{**fixed, **dict(zip(spec.each, combo))}
        )
        for combo in combos
    }


def declared_inputs(inputs):
    """Input function of a declared rule: its inputs as named files, ``name`` or
    ``name/label`` (unpacked into the rule's input)."""

    def files(wildcards):
        named = {}
        for name, spec in inputs.items():
            for label, path in files_of(spec, wildcards).items():
                named[input_key(name, label)] = path
        return named

    return files


def reported_outputs(analysis):
    """An analysis's outputs, those it declares ``reported`` wrapped for the HTML report."""
    outputs = dict(analysis.outputs)
    for name, (caption, category) in analysis.reported.items():
        outputs[name] = report(
            outputs[name], caption=f"../report/{caption}", category=category
        )
    return outputs


def config_of(keys, wildcards):
    """The values of the declared config keys (wildcards filled in), nested."""
    return select(config, tuple(k.format(**wildcards) for k in keys))


def report_index():
    """Every file the report reads, by dataset, model and variant (paths from the rules;
    the analyses' and figures' entries from their declarations)."""
    datasets = {}
    for ds in DATASETS:
        sampling = config["datasets"][ds]["sampling"]
        models = {}
        for m in models_of(ds):
            md = {
                "embedding_meta": out("embed", "meta", dataset=ds, model=m),
                "embedding_run": out("embed", "run", dataset=ds, model=m),
                "metrics": {
                    v: out("retrieval", "metrics", dataset=ds, model=m, variant=v)
                    for v in VARIANTS
                },
            }
            for a in ANALYSES.values():
                if "model" not in a.wildcards:
                    continue  # one per dataset: in the dataset's entry below
                for name in a.outputs:
                    if "variant" in a.wildcards:
                        md[name] = {
                            v: out(a.name, name, dataset=ds, model=m, variant=v)
                            for v in VARIANTS
                        }
                    else:
                        md[name] = out(a.name, name, dataset=ds, model=m)
            models[m] = md
        datasets[ds] = {
            "manifest": out("download", "manifest", dataset=ds),
            "captions": out("download", "captions", dataset=ds),
            "download_failures": out("download", "failures", dataset=ds),
            "frame_failures": out(
                "sample_frames", "failures", dataset=ds, sampling=sampling
            ),
            "comparison": out("compare", "comparison", dataset=ds),
            "quality": out("data_quality", "quality", dataset=ds),
            "holdout": config["datasets"][ds].get("holdout"),
            # where the data comes from, for the report's data table (not a file)
            "spec": {
                k: v
                for k, v in config["datasets"][ds].items()
                if k in ("adapter", "options", "protocol")
            },
            **{
                name: out(a.name, name, dataset=ds)
                for a in ANALYSES.values()
                if "model" not in a.wildcards
                for name in a.outputs
            },
            "models": models,
        }
    plots = {}
    for f in FIGURES.values():
        (wildcard,) = f.wildcards
        plots[f.name] = {
            v: out(f.rule, "plot", **{wildcard: v}) for v in each_values(wildcard, {})
        }
    return {
        "title": config["report"]["title"],
        "reference_variant": REFERENCE_VARIANT,
        "ks": EVAL["ks"],
        "pool_sizes": EVAL["pool_sizes"],
        "ndcg_k": EVAL["ndcg_k"],
        "epsilon": config["dimensions"]["epsilon"],
        "datasets": datasets,
        "plots": plots,
    }


def _leaves(tree):
    """The file paths of the index (its string leaves; settings such as holdout and the
    dataset's spec are not)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "spec":
                continue
            yield from _leaves(value)
    elif isinstance(tree, str):
        yield tree


def report_inputs(wildcards):
    index = report_index()
    return list(_leaves(index["datasets"])) + list(_leaves(index["plots"]))
