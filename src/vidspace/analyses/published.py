"""Against published numbers: a dataset run under a protocol (``protocol:`` on the dataset)
is checked against it, each deviation named, and every anchor of the model under that
protocol (``vidspace/protocols/anchors.yaml`` and the config's ``anchors``) held against
the measured value with its 95 % interval over videos:

- **reproduces**: the anchor lies in the interval;
- **close**: within 2 points (percentage points; ranks for MdR and MnR);
- **differs**: otherwise.

Each result is also written in MTEB's results format (a ``TaskResult`` JSON that
``mteb.TaskResult.from_disk`` reads). Definitions: docs/definitions.md ("Protocols and
published numbers").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from vidspace import __version__
from vidspace.analyses import Analysis, Input
from vidspace.core.io import read_json, write_json
from vidspace.report.markdown import table

CLOSE = 2.0  # points


def verdict(measured: float, anchor: float, interval: list[float] | None) -> str:
    """reproduces (the anchor in the interval), close (within 2 points), or differs."""
    if interval is not None and interval[0] <= anchor <= interval[1]:
        return "reproduces"
    if interval is None and round(measured, 1) == round(anchor, 1):
        return "reproduces"
    return "close" if abs(measured - anchor) <= CLOSE else "differs"


def measured_value(metrics: dict, metric: str) -> tuple[float | None, list[float] | None]:
    """A metric of a metrics JSON in the anchors' units (percent, or a rank), with its 95 %
    interval where the retrieval stage computed one."""
    from vidspace.protocols import parse_metric

    direction, key, percent = parse_metric(metric)
    block = metrics.get(direction, {})
    if key not in block:
        return None, None
    scale = 100.0 if percent else 1.0
    ci = metrics.get("ci95", {}).get(direction, {}).get(key)
    return scale * float(block[key]), ([scale * ci[0], scale * ci[1]] if ci else None)


def _model_family(spec: dict) -> str:
    """The encoder whose frames a model sees (an alignment's video side)."""
    return spec["video"]["adapter"] if spec["adapter"] == "aligned" else spec["adapter"]


def run_deviations(
    protocol,
    name: str,
    dataset: dict,
    sampling: dict,
    model: dict,
    evaluation: dict,
    metrics: dict,
) -> list[str]:
    """How this run's data (dataset ``name``), split, captions, frames and instructions
    differ from ``protocol`` (the variant's post-processing: :func:`variant_deviations`)."""
    out = []
    adapter, options = dataset["adapter"], dataset.get("options", {})
    for option, allowed in protocol.data.get(adapter, {}).items():
        value = options.get(option)
        if value not in allowed:
            takes = " or ".join(map(repr, allowed))
            out.append(f"data: {option} {value!r} where the protocol takes {takes}")
    if adapter in protocol.hosted:
        out.append(f"data: {protocol.hosted[adapter]}")
    if adapter == "hub" and protocol.dataset_repo:
        out += _hosted_deviations(protocol, options)
    if evaluation["split"] != protocol.split:
        out.append(
            f"split: {evaluation['split']!r} evaluated where the protocol evaluates "
            f"{protocol.split!r}"
        )
    n_videos, n_captions = metrics.get("n_videos"), metrics.get("n_captions")
    if protocol.captions_per_video and n_videos:
        per = n_captions / n_videos
        if abs(per - protocol.captions_per_video) > 1e-9:
            want = protocol.captions_per_video
            out.append(f"captions: {per:.2f} per video where the protocol has {want}")
    family = _model_family(model)
    frames = protocol.frames.get(family, protocol.frames.get("*"))
    if frames and model["adapter"] != "fusion":
        differ = {k: (sampling.get(k), v) for k, v in frames.items() if sampling.get(k) != v}
        if differ:
            ours = ", ".join(f"{k} {a}" for k, (a, _) in differ.items() if a is not None)
            theirs = ", ".join(f"{k} {b}" for k, (_, b) in differ.items())
            out.append(f"frames: {ours} where the protocol says {theirs}")
    out += _instruction_deviations(protocol, name, dataset, model)
    return out


def _hosted_deviations(protocol, options: dict) -> list[str]:
    """How a hub dataset differs from the hosted copy ``protocol`` reads: another
    repository or revision, a local copy, and what the protocol's preset fixes and the
    dataset sets otherwise (subset, split, columns, captions, the frames' source)."""
    from vidspace.datasets.hub import DEFAULT_COLUMNS, PRESETS, resolve_options

    ours = resolve_options(options)
    pinned = protocol.dataset_revision
    theirs = f"{protocol.dataset_repo}@{pinned[:7]}" if pinned else protocol.dataset_repo
    out = []
    if ours.get("path"):
        out.append(f"data: the local copy {ours['path']} where the protocol reads {theirs}")
    elif ours["repo"] != protocol.dataset_repo or (pinned and ours["revision"] != pinned):
        out.append(f"data: {ours['repo']}@{ours['revision'][:7]} where the protocol reads {theirs}")
    (preset,) = protocol.data.get("hub", {}).get("preset", (None,))
    fixed = PRESETS.get(preset, {})
    if not fixed:
        return out
    expected = {
        "subset": fixed.get("subset"),
        "split": fixed.get("split"),
        "captions": fixed.get("captions", "all"),
        "limit": None,
    }
    for key, want in expected.items():
        if ours.get(key) != want:
            out.append(f"data: {key} {ours.get(key)!r} where the protocol reads {want!r}")
    # the columns that choose clips and captions (a category column changes neither)
    columns = {**DEFAULT_COLUMNS, **fixed.get("columns", {})}
    for key in ("video", "caption", "id"):
        if (ours["columns"].get(key) or None) != (columns.get(key) or None):
            out.append(
                f"data: column {key} {ours['columns'].get(key)!r} where the protocol reads "
                f"{columns.get(key)!r}"
            )
    if "frames" not in fixed and ours.get("frames"):
        out.append("data: clips from a frames source where the protocol reads the videos")
    if "frames" in fixed:
        frames = ours.get("frames") or {}
        want = fixed["frames"]
        if frames.get("path"):
            out.append(
                f"data: frames from the local copy {frames['path']} where the protocol reads "
                f"{want['repo']}:{want['file']}"
            )
        elif any(frames.get(k) != want[k] for k in ("repo", "file", "member")):
            got = f"{frames.get('repo')}:{frames.get('file')} ({frames.get('member')})"
            out.append(
                f"data: frames from {got} where the protocol reads "
                f"{want['repo']}:{want['file']} ({want['member']})"
            )
    return out


def _instruction_deviations(protocol, name: str, dataset: dict, model: dict) -> list[str]:
    """The model's instructions as its embedder uses them (per-dataset value resolved, the
    adapter's default where unset, a final full stop added) against the protocol's."""
    wanted = protocol.instructions.get(model["adapter"], {})
    if not wanted:
        return []
    from vidspace.models.instructions import for_dataset
    from vidspace.models.qwen3_vl import TEXT_INSTRUCTION, VIDEO_INSTRUCTION, official_instruction

    defaults = {"text_instruction": TEXT_INSTRUCTION, "video_instruction": VIDEO_INSTRUCTION}
    resolved = for_dataset(model, name, dataset["adapter"], dataset.get("options"))
    out = []
    for key, text in wanted.items():
        ours = official_instruction(resolved.get(key) or defaults[key])
        if ours != official_instruction(text):
            out.append(f"instructions: {key} {ours!r} where the protocol uses {text!r}")
    return out


def variant_deviations(protocol, variant: dict) -> list[str]:
    """A variant's post-processing and compression against the protocol's float cosine."""
    out = []
    scoring = variant.get("scoring", "dot")
    if scoring != protocol.scoring:
        name = "DSL on" if scoring == "dual_softmax" else f"scoring {scoring}"
        out.append(f"post-processing: {name} where the protocol ranks by plain cosine")
    if variant.get("kind", "float32") != "float32":
        out.append(f"embeddings: {variant['kind']} where the protocol keeps float32")
    return out


def mteb_result(
    protocol, metrics: dict, seconds: float | None, revision: str, same_data: bool = True
) -> dict:
    """The run's scores as MTEB's ``TaskResult`` JSON: the protocol's task with its main
    score; ``dataset_revision`` the protocol's where the run read that data
    (``same_data``), else ``revision`` (our copy's content hash)."""
    from vidspace.protocols import parse_metric

    direction, key, _ = parse_metric(protocol.main)
    block = metrics[direction]
    scores = {
        "main_score": block[key],
        "hf_subset": "default",
        "languages": ["eng-Latn"],
        **{f"recall_at_{k[2:]}": v for k, v in block.items() if k.startswith("R@")},
        **{f"ndcg_at_{k[5:]}": v for k, v in block.items() if k.startswith("NDCG@")},
    }
    return {
        "dataset_revision": (protocol.dataset_revision if same_data else None) or revision,
        "task_name": protocol.mteb_task or protocol.name,
        "mteb_version": None,
        "scores": {"test": [scores]},
        "evaluation_time": seconds,
        "kg_co2_emissions": None,
        "made_by": f"vidspace {__version__}",
    }


def empty_mteb_result(task: str, reason: str) -> dict:
    """A TaskResult without scores (MTEB's loader still reads it) and why there are none."""
    return {
        "dataset_revision": "none",
        "task_name": task,
        "mteb_version": None,
        "scores": {},
        "evaluation_time": None,
        "made_by": f"vidspace {__version__}",
        "skipped": reason,
    }


def _content_revision(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for p in paths:
        digest.update(Path(p).read_bytes())
    return "sha256:" + digest.hexdigest()[:16]


def published_file(inputs: dict, outputs: dict, config: dict, dataset: str, model: str) -> dict:
    """The published stage (module docstring) for one dataset and model."""
    from vidspace.core.config import reference_variant
    from vidspace.protocols import get_protocol, published

    spec = config["datasets"][dataset]
    result: dict = {"dataset": dataset, "model": model}
    name = spec.get("protocol")
    if not name:
        result["skipped"] = "no protocol: the dataset names none (datasets.<name>.protocol)"
        write_json(outputs["published"], result)
        write_json(outputs["mteb"], empty_mteb_result(name or dataset, result["skipped"]))
        return result
    protocol = get_protocol(name)
    model_spec = config["models"][model]
    ref = reference_variant(config)
    result.update(protocol=name, title=protocol.title, code=protocol.code, main=protocol.main)
    result["model_id"] = model_spec.get("path")
    result["revision"] = model_spec.get("revision")
    metrics = {v: read_json(p) for v, p in inputs["metrics"].items()}
    ranked = {v: m for v, m in metrics.items() if "skipped" not in m}
    if ref not in ranked:
        result["skipped"] = (
            f"the reference variant {ref!r} ranks nothing: {metrics[ref].get('skipped', '')}"
        )
        write_json(outputs["published"], result)
        write_json(outputs["mteb"], empty_mteb_result(name or dataset, result["skipped"]))
        return result
    sampling = config["samplings"][spec["sampling"]]
    result["deviations"] = run_deviations(
        protocol, dataset, spec, sampling, model_spec, config["evaluation"], ranked[ref]
    )
    anchors = [
        a
        for a in published() + list(config.get("anchors") or [])
        if a["protocol"] == name and a["model"] == model_spec.get("path")
    ]
    result["variants"] = {}
    for v, m in ranked.items():
        rows = []
        for a in anchors:
            value, ci = measured_value(m, a["metric"])
            row = {**a, "measured": value, "ci95": ci}
            if value is None:
                row["verdict"] = "not computed"
            else:
                row["difference"] = value - a["value"]
                row["verdict"] = verdict(value, a["value"], ci)
            if a.get("revision") and result["revision"] and a["revision"] != result["revision"]:
                row["revision_differs"] = (
                    f"published for revision {a['revision'][:7]}, run on {result['revision'][:7]}"
                )
            rows.append(row)
        main, main_ci = measured_value(m, protocol.main)
        result["variants"][v] = {
            "deviations": variant_deviations(protocol, config["variants"][v]),
            "main": main,
            "main_ci95": main_ci,
            "anchors": rows,
        }
    result["reference_variant"] = ref
    if not anchors:
        result["no_anchor"] = f"no published number for {result['model_id'] or model} under {name}"
    run = read_json(inputs["run"]) if inputs.get("run") else {}
    revision = _content_revision([inputs["manifest"], inputs["captions"]])
    same_data = not any(d.startswith("data:") for d in result["deviations"])
    write_json(
        outputs["mteb"],
        mteb_result(protocol, ranked[ref], run.get("seconds"), revision, same_data),
    )
    write_json(outputs["published"], result)
    return result


def _measured(value: float | None, ci: list[float] | None) -> str:
    """A measured value with its 95 % interval, one decimal ("—" when absent)."""
    if value is None:
        return "—"
    return f"{value:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def _line(row: dict) -> str:
    other = f" ({row['revision_differs']})" if row.get("revision_differs") else ""
    return (
        f"{row['metric']} {_measured(row['measured'], row.get('ci95'))} against "
        f"{row['value']:g}{other} "
        f"({row['difference']:+.1f}): **{row['verdict']}**"
    )


def published_diagnostics(ds: str, m: str, r: dict) -> list[str]:
    """One sentence per anchor of the reference variant; a run with a protocol and no
    anchor says so."""
    if "skipped" in r or "variants" not in r:
        return []
    ref = r["variants"][r["reference_variant"]]
    deviations = r["deviations"] + ref["deviations"]
    beside = f" Deviations: {'; '.join(deviations)}." if deviations else " No deviation."
    if not ref["anchors"]:
        return [f"**{ds} / {m}** ({r['protocol']}): {r['no_anchor']}.{beside}"]
    lines = []
    for row in ref["anchors"]:
        if row["verdict"] == "not computed":
            lines.append(
                f"**{ds} / {m}** ({r['protocol']}): {row['metric']} not computed "
                "(evaluation.ks / ndcg_k)."
            )
            continue
        lines.append(f"**{ds} / {m}** ({r['protocol']}, {row['source']}): {_line(row)}.{beside}")
    return lines


def published_section(report) -> str:
    rows, silent = [], []
    for ds, d in report.datasets.items():
        for m, md in d["models"].items():
            r = read_json(md["published"])
            if "skipped" in r and "protocol" not in r:
                silent.append(ds)
                continue
            if "skipped" in r:
                rows.append([ds, m, r["protocol"], "—", "—", "—", "—", r["skipped"]])
                continue
            ref = r["variants"][r["reference_variant"]]
            deviations = "; ".join(r["deviations"] + ref["deviations"]) or "none"
            if not ref["anchors"]:
                measured = _measured(ref["main"], ref["main_ci95"])
                rows.append(
                    [ds, m, r["protocol"], r["main"], measured, "no anchor", "—", deviations]
                )
            for row in ref["anchors"]:
                measured = (
                    "not computed"
                    if row["verdict"] == "not computed"
                    else _measured(row["measured"], row["ci95"])
                )
                rows.append(
                    [
                        ds,
                        m,
                        r["protocol"],
                        row["metric"],
                        measured,
                        f"{row['value']:g} ({row['source']}"
                        + (f"; {row['revision_differs']}" if row.get("revision_differs") else "")
                        + ")",
                        row["verdict"],
                        deviations,
                    ]
                )
    out = ["## Against published numbers"]
    if rows:
        out.append(
            "The reference variant against each published number of its model under the "
            "dataset's protocol: the measured value with its 95 % interval over videos, the "
            "anchor and its source, the verdict (reproduces: the anchor in the interval; "
            f"close: within {CLOSE:g} points; differs), and how this run deviates from the "
            "protocol.\n\n"
            + table(
                [
                    "Dataset",
                    "Model",
                    "Protocol",
                    "Metric",
                    "Measured",
                    "Published",
                    "Verdict",
                    "Deviations",
                ],
                rows,
            )
        )
    datasets = sorted(set(silent))
    if datasets:
        out.append(
            f"No protocol named for {', '.join(datasets)}: nothing is held against a "
            "published number (`protocol:` on a dataset selects one; docs/definitions.md "
            "lists them)."
        )
    return "\n\n".join(out)


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    (dataset,) = config["datasets"]
    (model,) = config["models"]
    published_file(inputs, outputs, config, dataset, model)


ANALYSIS = Analysis(
    name="published",
    outputs={
        "published": "results/published/{dataset}/{model}.json",
        "mteb": "results/published/{dataset}/{model}.mteb.json",
    },
    inputs={
        "metrics": Input("retrieval", "metrics", each=("variant",)),
        "run": Input("embed", "run"),
        "manifest": Input("download", "manifest"),
        "captions": Input("download", "captions"),
    },
    run=_run,
    config_keys=(
        "datasets.{dataset}",
        "models.{model}",
        "samplings",
        "variants",
        "evaluation",
        "anchors",
        "report.reference_variant",
    ),
    section=published_section,
    diagnostics=published_diagnostics,
    order=31,
)
