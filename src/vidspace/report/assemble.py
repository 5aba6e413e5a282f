"""results/report.md: the seed-000 style tables and figures, from the result files.

The index passed in names every file (the workflow builds it from the config); the report
never rebuilds a path itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vidspace import __version__
from vidspace.analyses import registry
from vidspace.core.io import atomic_path, read_failures, read_json, read_table
from vidspace.report.findings import findings
from vidspace.report.markdown import fmt, rel, table

logger = logging.getLogger(__name__)

RETRIEVAL_ORDER = 30  # where the retrieval section sits among the analyses' sections

TRIVIAL = "‡"
MODEL_FITS = ("model alignment", "fusion weights")
TRANSDUCTIVE = "†"


MAX_FAILURE_ROWS = 50  # per dataset; the rest are counted and left in failures.csv


def _source(spec: dict | None) -> str:
    """Where a dataset's clips come from: a hosted copy's repository and revision, the
    public set's annotations, YouTube, a table, or generated."""
    if not spec:
        return "—"
    adapter, options = spec["adapter"], spec.get("options", {})
    if adapter == "hub":
        from vidspace.datasets.hub import resolve_options

        options = resolve_options(options)
        if options.get("path"):
            where = f"local copy {options['path']} (split {options['split']})"
        else:
            where = f"{options['repo']}@{options['revision'][:7]} (split {options['split']})"
        frames = options.get("frames")
        if frames:
            source = frames.get("path") or f"{frames['repo']}@{frames['revision'][:7]}"
            where += f", frames from {source}"
        return where
    if adapter in ("vatex", "youcook2"):
        return f"{adapter}: YouTube segments"
    if adapter == "csv":
        return f"table {options.get('path', '')}"
    if adapter == "synthetic":
        return "generated"
    where = options.get("annotations") or options.get("data") or {}
    name = str(where.get("url") or where.get("path") or "").rsplit("/", 1)[-1]
    return f"{adapter}: {options.get('split', '')} ({name})".replace(" ()", "")


def _data_section(datasets: dict) -> str:
    rows, failed, ambiguous, held = [], [], [], []
    for name, d in datasets.items():
        manifest = read_table(d["manifest"])
        captions = read_table(d["captions"])
        dl_fail = read_failures(d["download_failures"])
        fr_fail = read_failures(d["frame_failures"])
        # rows about annotations (an empty caption, a bad id) lose a caption, not a video
        dl_videos = dl_fail[dl_fail["stage"] != "annotations"]
        total = len(manifest) + dl_videos["video_id"].nunique()
        ok = len(manifest) - len(fr_fail)
        lost = set(dl_videos["video_id"]) | set(fr_fail["video_id"])
        kept_captions = int((~captions["video_id"].isin(lost)).sum())
        annotations = int((dl_fail["stage"] == "annotations").sum())
        quality = read_json(d["quality"]) if "quality" in d else None
        if d.get("holdout"):
            train = int((manifest["split"] == "train").sum())
            held.append(
                f"- {name}: the table has no split column, so {train} of {len(manifest)} "
                f"videos were held out as the train split (`holdout: {d['holdout']:g}`, chosen "
                "by a hash of the seed and each video id): fitted parts learn from them, the "
                "others are the test split."
            )
        if quality and quality["ambiguous_captions"]:
            ambiguous.append(
                f"- {name}: {quality['ambiguous_captions']} of the {quality['captions']} "
                f"captions evaluated (split `{quality['split']}`) share their text with a "
                f"caption of another video ({quality['ambiguous_texts']} texts, "
                f"{quality['videos_sharing_a_caption']} videos), listed in "
                f"`{quality['ambiguous_file']}`."
            )
        rows.append(
            [
                name,
                _source(d.get("spec")),
                f"{ok}/{total}",
                dl_videos["video_id"].nunique(),
                len(fr_fail),
                f"{kept_captions}/{len(captions)}",
                annotations,
                _distinct(quality),
                _frame_sizes(d),
            ]
        )
        every = pd.concat([dl_fail, fr_fail])
        failed += [
            [name, r.video_id, r.stage, r.reason] for r in every.head(MAX_FAILURE_ROWS).itertuples()
        ]
        if len(every) > MAX_FAILURE_ROWS:
            failed.append(
                [
                    name,
                    "…",
                    "…",
                    f"{len(every) - MAX_FAILURE_ROWS} more in "
                    f"{d['download_failures']} and {d['frame_failures']}",
                ]
            )
    out = "## Data\n\n" + table(
        [
            "Dataset",
            "Source",
            "Videos embedded",
            "Failed download",
            "Failed decoding",
            "Captions kept",
            "Annotation rows skipped",
            "Evaluated captions: distinct texts / shared with another video",
            "Frames as models saw them (W x H: clips)",
        ],
        rows,
    )
    if held:
        out += "\n\n" + "\n".join(held)
    if ambiguous:
        out += (
            "\n\nCaptions that also describe another video are ill-posed queries: text→video "
            "counts only the caption's own video as relevant, so the other one ranks as a miss, "
            "and in video→text the identical captions tie, which counts against the model "
            '(docs/definitions.md, "Data quality").\n\n' + "\n".join(ambiguous)
        )
    if failed:
        out += "\n\nFailed videos and skipped annotation rows:\n\n" + table(
            ["Dataset", "Video", "Stage", "Reason"], failed
        )
    return out


def _distinct(quality: dict | None) -> str:
    if quality is None:
        return "–"
    return (
        f"{quality['distinct_texts']}/{quality['captions']} distinct; "
        f"{quality['ambiguous_captions']} shared"
    )


def _retrieval_section(
    datasets: dict, plots: dict, ref: str, ks: list[int], ndcg_k: int, report_dir: Path
) -> str:
    out = [
        "## Retrieval metrics",
        f"Reference variant `{ref}`; evaluation split as configured. R@K, NDCG and mAP in "
        "[0, 1], ranks 1-based, ties counted against the model (docs/definitions.md).",
    ]
    kk = "/".join(str(k) for k in ks)
    for ds, d in datasets.items():
        models = [
            m for m, md in d["models"].items() if "skipped" not in read_json(md["metrics"][ref])
        ]
        res = {m: read_json(d["models"][m]["metrics"][ref]) for m in models}
        if not models:
            out.append(f"### {ds}\n\nNo model with a text tower: nothing to retrieve.")
            continue
        rows = []

        def recall(r: dict, direction: str, k: int) -> str:
            trivial = k in r.get("trivial_ks", {}).get(direction, [])
            return fmt(r[direction][f"R@{k}"]) + (TRIVIAL if trivial else "")

        for direction, label in (("t2v", "text→video"), ("v2t", "video→text")):
            rows += [
                [f"{label} R@{kk}"]
                + [" / ".join(recall(res[m], direction, k) for k in ks) for m in models],
                [f"{label} NDCG@{ndcg_k}"]
                + [fmt(res[m][direction][f"NDCG@{ndcg_k}"]) for m in models],
                [f"{label} mAP"] + [fmt(res[m][direction]["mAP"]) for m in models],
                [f"{label} MedR"] + [fmt(res[m][direction]["MedR"], 1) for m in models],
            ]
        if all("ci95" in res[m] for m in models):
            for direction, label in (("t2v", "text→video"), ("v2t", "video→text")):
                k = ks[0]
                rows.append(
                    [f"{label} R@{k} 95 % CI (videos resampled)"]
                    + [
                        "[{:.2f}, {:.2f}]".format(*res[m]["ci95"][direction][f"R@{k}"])
                        for m in models
                    ]
                )
        first = res[models[0]]
        out.append(
            f"### {ds} ({first['n_videos']} videos, {first['n_captions']} captions, "
            f"split `{first['split']}`)\n\n" + table(["Models"] + models, rows)
        )
        if any(any(res[m].get("trivial_ks", {}).values()) for m in models):
            out.append(
                f"{TRIVIAL} K ≥ gallery: the gallery has at most K items, so every rank counts "
                "and R@K is 1 whatever the model."
            )
        video_only = [m for m in d["models"] if m not in models]
        if video_only:
            out.append(
                "Not ranked (video-only embeddings, no text tower): "
                + ", ".join(f"`{m}`" for m in video_only)
                + "; their geometry is in the spectra, clustering and projections."
            )
        pools = sorted({int(c) for m in models for c in res[m].get("pools", {})})
        if pools:
            k = ks[-1]
            prow = []
            for c in pools:
                cells = []
                for m in models:
                    p = res[m].get("pools", {}).get(str(c))
                    cells.append(
                        "–"
                        if p is None
                        else f"{p['t2v'][f'R@{k}']:.2f} (×{p['t2v']['lift'][f'R@{k}']:.1f})"
                    )
                prow.append([str(c), f"{k / c:.3f}"] + cells)
            out.append(
                "Candidate pools (docs/definitions.md): each caption ranked against C videos "
                f"that include its own; text→video R@{k} and its lift over the random "
                "baseline K/C:\n\n" + table(["C", "chance K/C"] + models, prow)
            )
        if "comparison" in d:
            comp = read_json(d["comparison"])
            crow = []
            for pair in comp["pairs"]:
                for direction in ("t2v", "v2t"):
                    t = pair[direction][f"R@{ks[0]}"]
                    crow.append(
                        [
                            f"{pair['a']} − {pair['b']}",
                            direction,
                            f"{t['diff']:+.3f}",
                            "[{:+.3f}, {:+.3f}]".format(*t["ci95"]),
                            f"{t['p_value']:.4f}",
                        ]
                    )
            if crow:
                out.append(
                    f"Paired bootstrap ({comp['bootstrap_resamples']} resamples of the same "
                    f"videos for both models, each video with all its captions), difference "
                    f"in R@{ks[0]}:\n\n" + table(["Models", "Direction", "Δ", "95 % CI", "p"], crow)
                )
        variants = list(next(iter(d["models"].values()))["metrics"])
        vrows = []
        transductive = False
        for v in variants:
            cells, fitted = [], {}
            for m in models:
                r = read_json(d["models"][m]["metrics"][v])
                if "skipped" in r:
                    cells.append("–")
                    continue
                mark = TRANSDUCTIVE if r.get("transductive") else ""
                transductive |= bool(mark)
                cells.append(
                    f"{r['t2v'][f'R@{ks[0]}']:.2f}{mark} ({r['bytes_per_vector']:.0f} B"
                    + (f" + float rescoring of top {r['rescore']}" if r.get("rescore") else "")
                    + ")"
                )
                for part, on in r.get("fits", {}).items():
                    if part not in MODEL_FITS:  # a property of the model, not the variant
                        fitted.setdefault(f"{part}: {on}", []).append(m)
            fits = "; ".join(
                label + ("" if len(ms) == len(models) else f" ({', '.join(ms)})")
                for label, ms in fitted.items()
            )
            vrows.append([v] + cells + [fits or "nothing fitted"])
        out.append(
            f"Text→video R@{ks[0]} by variant (bytes per vector), and what each fitted part "
            "learnt from:\n\n" + table(["Variant"] + models + ["Fitted on"], vrows)
        )
        if transductive:
            out.append(
                f"{TRANSDUCTIVE} transductive: a part of this variant was fitted on the evaluated "
                "videos or queries themselves (no disjoint train split, or a scoring such as dual "
                "softmax that normalises over the evaluated queries); not comparable with "
                "numbers fitted on a train split."
            )
        if ds in plots.get("retrieval", {}):
            out.append(f"![retrieval_{ds}]({rel(plots['retrieval'][ds], report_dir)})")
    return "\n\n".join(out)


def _findings_section(datasets: dict, ref: str, epsilon: float) -> str:
    lines = findings(datasets, ref, epsilon)
    return (
        "## Findings\n\nDrawn from the tables below by the rules in docs/definitions.md "
        f"(reference variant `{ref}`, ε = {epsilon:g}).\n\n"
        + "\n".join(f"- {line}" for line in lines)
    )


def _frame_sizes(d: dict, shown: int = 3) -> str:
    """The stored frame sizes (what every model's preprocessing started from), most common
    first, and how many clips max_side scaled down; from an embedding sidecar."""
    metas = [read_json(md["embedding_meta"]) for md in d["models"].values()]
    meta = next((m for m in metas if "frame_sizes" in m), None)
    if meta is None:
        return "–"
    sizes = sorted(meta["frame_sizes"].items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{size}: {n}" for size, n in sizes[:shown])
    if len(sizes) > shown:
        text += f", {len(sizes) - shown} more sizes"
    scaled = meta.get("frames_scaled_down", 0)
    return text + (f"; {scaled} scaled down from above max_side" if scaled else "")


def _skipped_section(datasets: dict) -> str:
    """Everything a stage skipped or flagged, with its reason, in one place."""
    rows: list[list[str]] = []
    analyses = [a for a in registry().values() if a.skipped]
    for ds, d in datasets.items():
        for a in analyses:  # an analysis made once per dataset
            if a.result in d:
                rows += [[ds, "—", stage, why] for stage, why in a.skipped(read_json(d[a.result]))]
        for m, md in d["models"].items():
            rows += [
                [ds, m, "embed", note] for note in read_json(md["embedding_meta"]).get("notes", [])
            ]
            by_note: dict[str, list[str]] = {}
            for v, path in md["metrics"].items():
                r = read_json(path)
                for note in ([r["skipped"]] if "skipped" in r else []) + r.get("notes", []):
                    by_note.setdefault(note, []).append(v)
            for note, variants in by_note.items():
                where = (
                    "all variants" if len(variants) == len(md["metrics"]) else ", ".join(variants)
                )
                rows.append([ds, m, f"retrieval ({where})", note])
            for a in analyses:
                if a.result in md:
                    rows += [
                        [ds, m, stage, why] for stage, why in a.skipped(read_json(md[a.result]))
                    ]
    if not rows:
        return "## Skipped\n\nNothing was skipped."
    return "## Skipped\n\nWhat a stage left out or could only compute trivially, and why:\n\n" + (
        table(["Dataset", "Model", "Stage", "Reason"], rows)
    )


def _cost_section(datasets: dict) -> str:
    rows = []
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            meta = read_json(md["embedding_meta"])
            if "embedding_run" in md:  # run facts: seconds, memory, shards
                meta = meta | read_json(md["embedding_run"])
            rows.append(
                [
                    ds,
                    m,
                    meta.get("dim", "–"),
                    meta.get("device", "–"),
                    fmt(meta.get("seconds"), 1),
                    fmt(meta.get("peak_rss_mb"), 0),
                ]
            )
    return "## Cost of embedding\n\n" + table(
        ["Dataset", "Model", "Dim", "Device", "Seconds", "Peak RSS (MB)"], rows
    )


@dataclass(frozen=True)
class Report:
    """What a section reads: the index's datasets (files by dataset, model, variant) and
    figures, the reference variant, the retrieval cut-offs, ε, and the report's folder
    (links are relative to it)."""

    datasets: dict
    plots: dict
    ref: str
    ks: list[int]
    ndcg_k: int
    epsilon: float
    report_dir: Path


def write_report(index: dict, out_path: str | Path) -> None:
    """Write the markdown report that ``index`` (files by dataset, model, variant) describes."""
    out_path = Path(out_path)
    report = Report(
        datasets=index["datasets"],
        plots=index.get("plots", {}),
        ref=index["reference_variant"],
        ks=index["ks"],
        ndcg_k=index["ndcg_k"],
        epsilon=index["epsilon"],
        report_dir=out_path.parent,
    )
    datasets, plots, ref = report.datasets, report.plots, report.ref
    retrieval = _retrieval_section(
        datasets, plots, ref, report.ks, report.ndcg_k, report.report_dir
    )
    sections = [(a.order, a.section(report)) for a in registry().values() if a.section]
    sections.append((RETRIEVAL_ORDER, retrieval))
    parts = [
        f"# {index['title']}",
        # no wall-clock time: identical result files give a byte-identical report
        f"Generated by vidspace {__version__}. Datasets: {', '.join(datasets)}.",
        _findings_section(datasets, ref, report.epsilon),
        _data_section(datasets),
        *(text for _, text in sorted(sections, key=lambda s: s[0])),
        _cost_section(datasets),
        _skipped_section(datasets),
    ]
    with atomic_path(out_path, suffix=".md") as tmp:
        tmp.write_text("\n\n".join(parts) + "\n")
    logger.info("wrote %s", out_path)
