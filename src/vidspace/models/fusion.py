"""Fusion of models: several models' embeddings of one dataset as one model.

Each component's rows are L2-normalised and scaled by sqrt(w); the fused row is their
concatenation (a component of weight 0 left out), so the dot product of two fused rows is
the weighted sum of the components' cosines, and the fused file flows through variants,
spectra and cost like any embedding file. Rows are matched by video and caption id: a
video (or caption) that one component lacks is dropped from the fused set and counted.
The weights are chosen from the grid on the train split only (the mean of text→video and
video→text R@1 among the train videos); without a train split apart from the evaluated
videos, on the evaluated videos, labelled transductive. Definitions: docs/definitions.md ("Fusion").
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from vidspace.core.config import weight_candidates
from vidspace.core.io import (
    TRAIN,
    TRANSDUCTIVE,
    eval_rows,
    load_embeddings,
    load_sidecar,
    save_embeddings,
    subset_videos,
    write_json,
)
from vidspace.core.linalg import l2_normalize

logger = logging.getLogger(__name__)


def matched_rows(components: dict[str, dict]) -> tuple[dict[str, dict], dict]:
    """Each component's arrays restricted to the videos and captions every component has,
    in the first component's order; and what was dropped."""
    names = list(components)
    first = components[names[0]]
    videos = [set(map(str, a["video_ids"])) for a in components.values()]
    captions = [set(map(str, a["text_ids"])) for a in components.values()]
    keep_videos = set.intersection(*videos)
    keep_captions = set.intersection(*captions)
    order_v = [v for v in map(str, first["video_ids"]) if v in keep_videos]
    # a caption is kept when every component has it and its video is kept
    owner = {
        str(t): str(first["video_ids"][i])
        for t, i in zip(first["text_ids"], first["text_video_index"], strict=True)
    }
    order_t = [
        t for t in map(str, first["text_ids"]) if t in keep_captions and owner[t] in keep_videos
    ]
    row_of_video = {v: i for i, v in enumerate(order_v)}
    out = {}
    for name, a in components.items():
        vpos = {v: i for i, v in enumerate(map(str, a["video_ids"]))}
        tpos = {t: i for i, t in enumerate(map(str, a["text_ids"]))}
        vrows = np.array([vpos[v] for v in order_v], np.int64)
        trows = np.array([tpos[t] for t in order_t], np.int64)
        theirs = {
            str(t): str(a["video_ids"][i])
            for t, i in zip(a["text_ids"], a["text_video_index"], strict=True)
        }
        for t in order_t:
            if theirs[t] != owner[t]:
                raise ValueError(
                    f"fusion: caption {t!r} describes video {owner[t]!r} in {names[0]} but "
                    f"{theirs[t]!r} in {name}: the components were not embedded from the "
                    "same dataset tables"
                )
        out[name] = {
            "video_emb": l2_normalize(a["video_emb"][vrows]),
            "text_emb": l2_normalize(a["text_emb"][trows]),
        }
    shared = {
        "video_ids": np.array(order_v),
        "text_ids": np.array(order_t),
        "text_video_index": np.array([row_of_video[owner[t]] for t in order_t], np.int64),
    }
    for key in ("categories", "split"):
        if key in first:
            vpos = {v: i for i, v in enumerate(map(str, first["video_ids"]))}
            shared[key] = np.asarray(first[key])[[vpos[v] for v in order_v]]
    dropped = {
        "videos": len(set.union(*videos)) - len(order_v),
        "captions": len(set.union(*captions)) - len(order_t),
    }
    return out | {"": shared}, dropped


def fused(parts: dict[str, dict], weights: tuple[float, ...], key: str) -> np.ndarray:
    """Concatenation of each part's rows scaled by sqrt(w), float32; a part of weight 0
    is left out (its block would be zeros: no score, and a spectrum that looks collapsed)."""
    return np.concatenate(
        [
            np.sqrt(np.float32(w)) * parts[name][key]
            for name, w in zip(parts, weights, strict=True)
            if w > 0
        ],
        axis=1,
    ).astype(np.float32)


def _fit_score(parts: dict[str, dict], shared: dict, weights, rows: np.ndarray) -> float:
    from vidspace.metrics.ranking import query_ranks

    arrays = {
        **shared,
        "video_emb": fused(parts, weights, "video_emb"),
        "text_emb": fused(parts, weights, "text_emb"),
    }
    sub = subset_videos(arrays, rows)
    if len(sub["text_ids"]) == 0:
        return 0.0
    ranks = query_ranks(sub["text_emb"], sub["video_emb"], sub["text_video_index"])
    t2v = float(np.mean(ranks["t2v"] <= 1))
    v2t = float(np.mean([p[0] <= 1 for p in ranks["v2t"]]))
    return (t2v + v2t) / 2


def fuse_files(
    components: dict[str, str],
    grid: list[float],
    out_path: str | Path,
    meta_path: str | Path,
    run_path: str | Path,
    model_name: str = "fusion",
    split: str = "test",
) -> dict:
    """The fuse stage: components (name -> embedding file, its sidecar beside it) fused into
    one embedding file with its sidecar and run facts; ``split`` is the evaluated split
    (the weights are fitted on the train split only when it is apart from it)."""
    started = time.perf_counter()
    arrays = {name: load_embeddings(path) for name, path in components.items()}
    for name, a in arrays.items():
        if "text_emb" not in a:
            raise ValueError(
                f"fusion: model {name!r} has no text embeddings (video only): it cannot "
                "take part in retrieval fusion"
            )
    matched, dropped = matched_rows(arrays)
    shared = matched.pop("")
    if len(shared["video_ids"]) == 0:
        raise ValueError(f"fusion: the models {list(components)} share no video")
    train = np.asarray(shared.get("split", np.array([""] * len(shared["video_ids"])))) == "train"
    evaluated = eval_rows(shared, split)
    # as every fitted part: the train split when it shares no video with the evaluated one
    if train.any() and not (train & evaluated).any():
        fit_on, rows = TRAIN, train
    else:
        fit_on, rows = TRANSDUCTIVE, evaluated
    candidates = weight_candidates(len(components), grid)
    scores = {w: _fit_score(matched, shared, w, rows) for w in candidates}
    best = max(candidates, key=lambda w: scores[w])  # ties: the first, the most even
    fused_arrays = {
        **shared,
        "video_emb": fused(matched, best, "video_emb"),
        "text_emb": fused(matched, best, "text_emb"),
    }
    notes = []
    if dropped["videos"] or dropped["captions"]:
        notes.append(
            f"fusion: {dropped['videos']} videos and {dropped['captions']} captions that not "
            f"every one of {', '.join(components)} embedded were dropped from the fused set"
        )
    metas = {name: load_sidecar(path) for name, path in components.items()}
    first = next(iter(metas.values()))
    meta = {
        "model": model_name,
        "spec": {"adapter": "fusion", "models": list(components), "weights": list(grid)},
        "dim": int(fused_arrays["video_emb"].shape[1]),
        "n_videos": int(len(shared["video_ids"])),
        "n_captions": int(len(shared["text_ids"])),
        "dtype": "float32",
        "frames": first.get("frames"),
        **{k: first[k] for k in ("frame_sizes", "frames_scaled_down") if k in first},
        "fusion_weights": dict(zip(components, best, strict=True)),
        "fusion_fit_on": fit_on,
        "fusion_scores": [{"weights": list(w), "mean_R@1": scores[w]} for w in candidates],
        "fusion_dropped": dropped,
        "notes": notes,
    }
    save_embeddings(out_path, fused_arrays, meta, meta_path)
    from vidspace.models.encode import _peak_rss_mb

    run = {
        "device": "cpu",
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    write_json(run_path, run)
    logger.info(
        "fused %s with weights %s (chosen on %s): %d videos, %d captions",
        list(components),
        best,
        fit_on,
        meta["n_videos"],
        meta["n_captions"],
    )
    return meta
