"""Temporal pooling and multi-grained scoring over stored per-frame embeddings (seeds 000,
001 SUMA, 004 CRET), at no re-embedding cost.

For one embedding file with ``frame_emb``:

- pooling: R@1 of the video rows pooled again from the frames (mean, max, middle frame),
  each the variant ``{kind: float32, pooling: P}`` the transform stage writes;
- multi-grained: R@1 of S = S_g + beta S_l (:class:`~vidspace.metrics.scoring.MultiGrained`)
  at every beta of a grid, on a selection split and on the evaluated split. The beta with
  the best mean R@1 of both directions on the selection split (the val split, else the
  train split, when it shares no video with the evaluated one; the smallest beta among
  ties) is the one applied to the evaluated split, so nothing is tuned on what is
  reported; its effect against beta = 0 gets the paired bootstrap over videos.

Each point is ranked as the retrieval stage ranks the variant ``{kind: float32, scoring:
multi_grained, beta: B, ...}``, so it equals that variant's metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vidspace.core.io import eval_rows, load_embeddings, load_sidecar, subset_videos, write_json
from vidspace.core.linalg import POOLINGS, l2_normalize
from vidspace.metrics.ranking import query_ranks
from vidspace.metrics.scoring import MultiGrained
from vidspace.metrics.statistics import paired_bootstrap
from vidspace.variants import NO_FRAMES, TRANSDUCTIVE, apply_variant

logger = logging.getLogger(__name__)

DIRECTIONS = ("t2v", "v2t")
SELECTION_SPLITS = ("val", "train")


def selection_rows(arrays: dict[str, np.ndarray], split: str) -> tuple[np.ndarray, str]:
    """The videos beta is chosen on: the val split, else the train split, when it has
    videos and captions and shares no video with the evaluated ``split``; otherwise the
    evaluated videos themselves (labelled transductive)."""
    evaluated = eval_rows(arrays, split)
    if "split" in arrays:
        splits = np.asarray(arrays["split"])
        for name in SELECTION_SPLITS:
            rows = splits == name
            has_captions = rows[np.asarray(arrays["text_video_index"])].any()
            if rows.sum() >= 2 and has_captions and not (rows & evaluated).any():
                return rows, name
    return evaluated, TRANSDUCTIVE


def first_ranks(arrays: dict, rows: np.ndarray, multi: dict | None = None) -> dict:
    """Rank of the first relevant item of every query on the videos ``rows``: t2v per
    caption, v2t per video, and each caption's video (the bootstrap's clusters). ``multi``:
    the multi-grained settings (beta, aggregation, ...), scored on the subset's frames."""
    sub = subset_videos(arrays, rows)
    scorer = MultiGrained.from_spec(sub["frame_emb"], multi) if multi is not None else None
    ranks = query_ranks(
        l2_normalize(sub["text_emb"]),
        l2_normalize(sub["video_emb"]),
        sub["text_video_index"],
        multi_grained=scorer,
    )
    return {
        "t2v": ranks["t2v"],
        "v2t": np.array([p[0] for p in ranks["v2t"]]),
        "clusters": np.searchsorted(ranks["v2t_queries"], sub["text_video_index"]),
    }


def _r1(ranks: dict) -> dict[str, float]:
    return {d: float(np.mean(ranks[d] <= 1)) for d in DIRECTIONS}


def temporal_analysis(
    arrays: dict[str, np.ndarray],
    split: str,
    betas: Sequence[float],
    aggregation: str = "max",
    top_k: int = 2,
    temperature: float = 0.1,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict:
    """Pooling comparison and beta sweep of one embedding file (module docstring)."""
    betas = sorted({0.0, *(float(b) for b in betas)})
    if betas[0] < 0 or not all(np.isfinite(betas)):
        raise ValueError(f"temporal.betas must be numbers >= 0, got {betas}")
    result: dict = {"split": split, "dim": int(arrays["video_emb"].shape[1])}
    if "text_emb" not in arrays:
        result["skipped"] = "video-only embeddings: no text to retrieve"
        return result
    if "frame_emb" not in arrays:
        result["skipped"] = NO_FRAMES
        return result
    settings = {"aggregation": aggregation}
    if aggregation == "topk":
        settings["top_k"] = int(top_k)
    if aggregation == "softmax":
        settings["temperature"] = float(temperature)
    MultiGrained.from_spec(arrays["frame_emb"][:1], {"beta": 0.0, **settings})  # checks them
    evaluated = eval_rows(arrays, split)
    result.update(
        n_videos=int(evaluated.sum()),
        frames_per_video=int(arrays["frame_emb"].shape[1]),
        multi_grained=settings,
    )
    pooling = {}
    for name in POOLINGS:
        pooled, _ = apply_variant(arrays, {"kind": "float32", "pooling": name}, split)
        pooling[name] = _r1(first_ranks(pooled, evaluated))
    result["pooling"] = pooling

    spec = {"kind": "float32", "scoring": "multi_grained", **settings}
    scored, _ = apply_variant(arrays, spec, split)
    chosen_rows, chosen_on = selection_rows(arrays, split)
    result["chosen_on"] = chosen_on
    sweep, evaluated_ranks = [], {}
    for beta in betas:
        multi = {"beta": beta, **settings}
        ranks = first_ranks(scored, evaluated, multi)
        evaluated_ranks[beta] = ranks
        point = {"beta": beta, "evaluated": _r1(ranks)}
        if chosen_on != TRANSDUCTIVE:
            point["selection"] = _r1(first_ranks(scored, chosen_rows, multi))
        sweep.append(point)
    result["sweep"] = sweep
    key = "selection" if chosen_on != TRANSDUCTIVE else "evaluated"
    best = max(sweep, key=lambda p: (np.mean([p[key][d] for d in DIRECTIONS]), -p["beta"]))
    result["best_beta"] = best["beta"]
    result["best"] = best["evaluated"]
    result["plain"] = sweep[0]["evaluated"]  # beta = 0: the video score alone
    if bootstrap:
        a, b = evaluated_ranks[best["beta"]], evaluated_ranks[0.0]
        clusters = {"t2v": a["clusters"], "v2t": None}
        result["effect"] = {
            d: paired_bootstrap(a[d] <= 1, b[d] <= 1, bootstrap, seed, clusters[d])
            for d in DIRECTIONS
        }
        result["bootstrap_resamples"] = int(bootstrap)
    notes = []
    if chosen_on == TRANSDUCTIVE:
        notes.append(
            "no val or train split apart from the evaluated videos: beta was chosen on the "
            "evaluated videos themselves (transductive), so the gain it shows is optimistic"
        )
    if notes:
        result["notes"] = notes
    return result


def temporal_file(
    embeddings_path: str,
    out_path: str,
    split: str,
    betas: Sequence[float],
    aggregation: str,
    top_k: int,
    temperature: float,
    bootstrap: int,
    seed: int,
    meta_path: str | None = None,
) -> dict:
    """The temporal stage: :func:`temporal_analysis` of one embedding file, as JSON. A
    fit the model made on the train split (``aligned``) is recorded beside the choice."""
    arrays = load_embeddings(embeddings_path, frames=True)
    source = load_sidecar(embeddings_path, meta_path)
    result = temporal_analysis(
        arrays, split, betas, aggregation, top_k, temperature, bootstrap, seed
    )
    result = {"source": str(embeddings_path), **result}
    if "skipped" not in result and source.get("align_fit_on") == result["chosen_on"]:
        result.setdefault("notes", []).append(
            f"the model's alignment was fitted on the {result['chosen_on']} pairs beta is "
            "chosen on, which favours the video score S_g there"
        )
    if "skipped" in result:
        logger.info("%s: %s", embeddings_path, result["skipped"])
    write_json(out_path, result)
    if "best_beta" in result:
        logger.info(
            "best beta %g (on %s): t2v R@1 %.3f against %.3f at beta 0",
            result["best_beta"],
            result["chosen_on"],
            result["best"]["t2v"],
            result["plain"]["t2v"],
        )
    return result
