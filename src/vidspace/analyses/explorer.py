"""The explorer: one self-contained HTML page per dataset (``results/explorer/{dataset}.html``)
to look at what the report tabulates.

- **Map**: each model's stored 2-D projections (the projections stage: UMAP and t-SNE of
  the videos, and the t-SNE of videos with their first captions), coloured by category or
  by the clustering stage's clusters; hovering a point shows its thumbnail, id and caption.
- **Retrieval browser**: pick or search a caption and see, per model and variant, its
  top-K videos as the retrieval stage orders them (thumbnails and scores) and the rank of
  the true video (from ``results/ranks/``).
- **Per-category** R@1 with intervals (the categories stage).

The page works offline from ``file://``: plotly.js (the ``plotly`` package's bundle) and
the data are inlined, thumbnails are data URIs, and its Content-Security-Policy forbids
every request. Captions are data, never markup: the page sets them as text. Definitions:
docs/definitions.md ("Explorer").
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

import numpy as np

from vidspace.analyses import Analysis, Input
from vidspace.core.io import atomic_path, load_npz, read_json, read_table, write_json
from vidspace.report.markdown import rel, table

logger = logging.getLogger(__name__)

K = 5  # videos shown per caption
MAX_CAPTIONS = 2000  # captions in the browser; above it a seeded sample (the page says so)
MAPS = {"umap": "UMAP (videos)", "tsne": "t-SNE (videos)", "joint": "t-SNE (videos + captions)"}


def _json_for_script(obj) -> str:
    """JSON that cannot end its <script> element nor open markup: <, >, & and the JS line
    separators escaped (a caption with ``</script>`` stays a string)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _browsed_captions(captions, ranks: dict[str, dict], seed: int) -> tuple[list[int], int]:
    """Rows of the captions table the browser offers: those some variant ranked, in the
    table's order; above MAX_CAPTIONS a seeded sample of them. Also their total."""
    ranked: set[str] = set()
    for r in ranks.values():
        if "skipped" not in r:
            ranked |= set(map(str, r["text_ids"]))
    rows = [i for i, c in enumerate(map(str, captions["caption_id"])) if c in ranked]
    total = len(rows)
    if total > MAX_CAPTIONS:
        rng = np.random.default_rng(seed)
        rows = sorted(int(r) for r in rng.choice(rows, MAX_CAPTIONS, replace=False))
    return rows, total


def _variant_entry(
    path: str, ranks: dict, split: str, caption_row: dict[str, int], video_row: dict[str, int]
) -> dict:
    """One variant's browser data over the browsed captions (``caption_row``: id -> its
    position): flat top-K video positions and scores, and the true video's rank."""
    from vidspace.analyses.hubness import ranked_first, variant_scores

    if "skipped" in ranks:
        return {"absent": f"retrieval skipped: {ranks['skipped']}"}
    scored = variant_scores(path, split)  # in the retrieval stage's order
    if scored is None:
        return {"absent": "nothing ranked"}
    sub, keys, shown = scored.sub, scored.t2v, scored.t2v_shown
    text_ids = list(map(str, sub["text_ids"]))
    if text_ids != list(map(str, ranks["text_ids"])):
        raise ValueError(f"{path}: its ranks file ranks other captions: rerun retrieval")
    n = len(caption_row)
    top = np.full((n, K), -1, np.int64)
    score = np.zeros((n, K))
    rank = [None] * n
    columns = np.array([video_row[str(v)] for v in sub["video_ids"]], np.int64)
    for i, cid in enumerate(text_ids):
        at = caption_row.get(cid)
        if at is None:
            continue
        # ties placed as the ranks count them (against the model): the true video after
        # the videos that score the same, so its place here is its rank
        own = np.zeros(keys.shape[1], bool)
        own[sub["text_video_index"][i]] = True
        best = ranked_first(keys[i], own, K)
        top[at, : best.size] = columns[best]
        score[at, : best.size] = shown[i, best]
        rank[at] = int(ranks["t2v"][i])
    return {
        "top": top.ravel().tolist(),
        "score": [round(float(s), 4) for s in score.ravel()],
        "rank": rank,
    }


def _maps(coordinates: dict, projections: dict, video_row: dict, text_of: dict) -> dict:
    """A model's maps: points (x, y) with the video positions (and a joint map's caption
    texts), or the reason a map is absent."""
    maps, absent = {}, {}
    ids = [video_row[str(v)] for v in coordinates.get("video_ids", [])]
    for method in ("umap", "tsne"):
        if method in coordinates:
            xy = np.round(coordinates[method].astype(np.float64), 3)
            maps[method] = {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "videos": ids}
        else:
            absent[method] = projections.get("skipped", {}).get(method, "not computed")
    if "joint_tsne" in coordinates and "joint_text_videos" not in coordinates:
        absent["joint"] = "made by an older projections stage: rerun it"
    elif "joint_tsne" in coordinates:
        xy = np.round(coordinates["joint_tsne"].astype(np.float64), 3)
        n = len(ids)
        text_ids = list(map(str, coordinates["joint_text_ids"]))
        maps["joint"] = {
            "x": xy[:n, 0].tolist(),
            "y": xy[:n, 1].tolist(),
            "videos": ids,
            "caption_x": xy[n:, 0].tolist(),
            "caption_y": xy[n:, 1].tolist(),
            "captions": [text_of.get(t, "") for t in text_ids],
            # each caption's video (a video without a caption has no caption point)
            "caption_videos": [ids[int(j)] for j in coordinates["joint_text_videos"]],
        }
    else:
        joint = projections.get("joint", {})
        absent["joint"] = joint.get("skipped", "not computed (rerun the projections stage)")
    return {"maps": maps, "absent": absent}


def _clusters(path: str, video_row: dict, n_videos: int) -> dict:
    """k-means (and DEC) cluster of each video position (null: not clustered)."""
    found = load_npz(path)
    out = {}
    for name in ("kmeans", "dec"):
        if name in found:
            labels: list = [None] * n_videos
            for vid, label in zip(found["video_ids"], found[name], strict=True):
                labels[video_row[str(vid)]] = int(label)
            out[name] = labels
    return out


def explorer_data(inputs: dict, split: str, seed: int) -> dict:
    """Everything the page shows, as one JSON-able mapping (videos and captions once; the
    models' maps and variants refer to them by position)."""
    manifest = read_table(inputs["manifest"])
    captions = read_table(inputs["captions"])
    thumbs = read_json(inputs["thumbnails"])
    video_ids = [str(v) for v in manifest["video_id"]]
    video_row = {v: i for i, v in enumerate(video_ids)}
    cats = manifest["category"].fillna("") if "category" in manifest else [""] * len(video_ids)
    text_of = dict(
        zip(map(str, captions["caption_id"]), map(str, captions["caption"]), strict=True)
    )
    first_caption: dict[str, str] = {}
    for vid, text in zip(
        map(str, captions["video_id"]), map(str, captions["caption"]), strict=True
    ):
        first_caption.setdefault(vid, text)
    ranks = {label: load_npz(p) for label, p in inputs["ranks"].items()}
    rows, total = _browsed_captions(captions, ranks, seed)
    caption_ids = [str(captions["caption_id"].iloc[r]) for r in rows]
    caption_row = {c: i for i, c in enumerate(caption_ids)}
    data: dict = {
        "k": K,
        "split": split,
        "videos": {
            "ids": video_ids,
            "categories": [str(c) for c in cats],
            "caption": [first_caption.get(v, "") for v in video_ids],
            "thumb": [thumbs["thumbnails"].get(v, "") for v in video_ids],
            "thumb_missing": [thumbs["missing"].get(v, "") for v in video_ids],
        },
        "captions": {
            "ids": caption_ids,
            "text": [text_of[c] for c in caption_ids],
            "video": [video_row[str(captions["video_id"].iloc[r])] for r in rows],
            "total": total,
        },
        "models": {},
    }
    for m, path in inputs["coordinates"].items():
        entry = _maps(load_npz(path), read_json(inputs["projections"][m]), video_row, text_of)
        entry["clusters"] = _clusters(inputs["clusters"][m], video_row, len(video_ids))
        categories = read_json(inputs["categories"][m])
        entry["categories"] = categories.get("categories", {})
        if "skipped" in categories:
            entry["categories_absent"] = categories["skipped"]
        entry["variants"] = {}
        data["models"][m] = entry
    for label, path in inputs["variants"].items():
        m, v = label.split("/", 1)
        entry = _variant_entry(path, ranks[label], split, caption_row, video_row)
        # fitted on the evaluated clips, as the report marks it (†)
        entry["transductive"] = read_json(inputs["metrics"][label]).get("transductive", [])
        data["models"][m]["variants"][v] = entry
    return data


def write_page(dataset: str, data: dict, out_path: str) -> int:
    """The page (template ``report/explorer.html``, plotly.js and the data inlined);
    returns its size in bytes."""
    from plotly.offline import get_plotlyjs

    plotly_js = get_plotlyjs()
    if "</script" in plotly_js.lower():
        raise ValueError("the plotly.js bundle contains </script>: it cannot be inlined")
    template = resources.files("vidspace.report").joinpath("explorer.html").read_text("utf-8")
    page = (
        template.replace("{{TITLE}}", dataset.replace("&", "&amp;").replace("<", "&lt;"))
        .replace("{{PLOTLY}}", plotly_js)
        .replace("{{DATA}}", _json_for_script({"dataset": dataset, **data}))
    )
    body = page.encode("utf-8")
    with atomic_path(out_path, suffix=".html") as tmp:
        tmp.write_bytes(body)
    return len(body)


def explorer_files(dataset: str, inputs: dict, outputs: dict, split: str, seed: int) -> dict:
    """The explorer stage: the page and a summary JSON (what it holds, what is absent)."""
    data = explorer_data(inputs, split, seed)
    size = write_page(dataset, data, outputs["explorer"])
    absent = {
        m: {name: why for name, why in e["absent"].items()}
        | {f"variant {v}": ve["absent"] for v, ve in e["variants"].items() if "absent" in ve}
        for m, e in data["models"].items()
    }
    summary = {
        "page": outputs["explorer"],
        "bytes": size,
        "videos": len(data["videos"]["ids"]),
        "thumbnails": sum(1 for t in data["videos"]["thumb"] if t),
        "captions_browsed": len(data["captions"]["ids"]),
        "captions_ranked": data["captions"]["total"],
        "k": K,
        "models": list(data["models"]),
        "absent": {m: a for m, a in absent.items() if a},
    }
    write_json(outputs["summary"], summary)
    return summary


def explorer_section(report) -> str:
    rows = []
    for ds, d in report.datasets.items():
        if "summary" not in d:
            continue
        s = read_json(d["summary"])
        captions = f"{s['captions_browsed']:,}"
        if s["captions_browsed"] < s["captions_ranked"]:
            captions += f" of {s['captions_ranked']:,} (seeded sample)"
        rows.append(
            [
                ds,
                f"[{ds}.html]({rel(d['explorer'], report.report_dir)})",
                f"{s['bytes'] / 1e6:.1f} MB",
                s["videos"],
                f"{s['thumbnails']:,}",
                captions,
            ]
        )
    if not rows:
        return ""
    return (
        "## Explorer\n\nOne page per dataset to look at the spaces (maps by category or "
        "cluster, with thumbnails and captions on hover), to browse what each model and "
        f"variant retrieves for a caption (top {K}, the true video's rank) and the "
        "per-category table. Self-contained: it opens offline from disk.\n\n"
        + table(["Dataset", "Page", "Size", "Videos", "Thumbnails", "Captions"], rows)
    )


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    dataset = Path(outputs["explorer"]).stem  # results/explorer/{dataset}.html
    explorer_files(
        dataset, inputs, outputs, split=config["evaluation"]["split"], seed=config["seed"]
    )


ANALYSIS = Analysis(
    name="explorer",
    outputs={
        "summary": "results/explorer/{dataset}.json",
        "explorer": "results/explorer/{dataset}.html",
    },
    inputs={
        "thumbnails": Input("thumbnails", "thumbnails"),
        "manifest": Input("download", "manifest"),
        "captions": Input("download", "captions"),
        "coordinates": Input("projections", "coordinates", each=("model",)),
        "projections": Input("projections", "projections", each=("model",)),
        "clusters": Input("clustering", "labels", each=("model",)),
        "categories": Input("categories", "categories", each=("model",)),
        "variants": Input("transform", "embeddings", each=("model", "variant")),
        "ranks": Input("retrieval", "ranks", each=("model", "variant")),
        "metrics": Input("retrieval", "metrics", each=("model", "variant")),
    },
    run=_run,
    config_keys=("evaluation.split", "seed"),
    section=explorer_section,
    order=5,  # first after the data: where to look
    reported={"explorer": ("explorer.rst", "Explorer")},
)
