"""Quality against dimension (seed 002): R@1 at a grid of reduced dimensions D' for PCA,
random projection and prefix truncation, and the minimal D' that keeps retrieval quality.

Each point is the variant the transform stage would write for ``{kind, dim: D'}`` (the
same :func:`~vidspace.variants.apply_variant`, fitted where that fits), ranked the way the
retrieval stage ranks it, so a point equals the metrics of the matching variant file.
The minimal D' of a method is the smallest grid D' from which on every larger grid point
keeps both directions' R@1 within ``epsilon`` (absolute) of the full dimension's; the
full dimension always qualifies, so a method that never gets there reports D.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vidspace.core.io import eval_rows, load_embeddings, subset_videos, write_json
from vidspace.core.linalg import l2_normalize
from vidspace.metrics.ranking import query_ranks, summarise_ranks
from vidspace.variants import DIMENSION_KINDS, apply_variant

logger = logging.getLogger(__name__)

DIRECTIONS = ("t2v", "v2t")


def recall_at_1(arrays: dict[str, np.ndarray], split: str) -> dict[str, float]:
    """Both directions' R@1 of embeddings on the evaluated split, as the retrieval stage
    computes them (L2-normalised rows, dot scores, ties against the model)."""
    sub = subset_videos(arrays, eval_rows(arrays, split))
    ranks = query_ranks(
        l2_normalize(sub["text_emb"]), l2_normalize(sub["video_emb"]), sub["text_video_index"]
    )
    return {d: summarise_ranks(ranks[d], [1], 1)["R@1"] for d in DIRECTIONS}


def _gallery(arrays: dict[str, np.ndarray], split: str) -> dict[str, int]:
    """How many videos and captions the evaluated split holds (no copy of the rows)."""
    evaluated = eval_rows(arrays, split)
    captions = evaluated[np.asarray(arrays["text_video_index"])]
    return {"n_videos": int(evaluated.sum()), "n_captions": int(captions.sum())}


def minimal_dim(points: Sequence[dict], full: dict[str, float], full_dim: int, epsilon: float):
    """The smallest D' from which on every point (sorted by dim) is within ``epsilon`` of
    ``full`` in both directions; ``full_dim`` when none is."""
    best = full_dim
    for point in sorted(points, key=lambda p: p["dim"], reverse=True):
        if all(point[d] >= full[d] - epsilon for d in DIRECTIONS):
            best = point["dim"]
        else:
            break
    return best


def dimension_curve(
    arrays: dict[str, np.ndarray],
    split: str,
    grid: Sequence[int],
    epsilon: float,
    methods: Sequence[str] = DIMENSION_KINDS,
    seed: int = 0,
) -> dict:
    """R@1 against D' for each method, and each method's minimal D' (module docstring)."""
    if epsilon < 0:
        raise ValueError(f"dimensions.epsilon must be >= 0, got {epsilon}")
    unknown = sorted(set(methods) - set(DIMENSION_KINDS))
    if unknown:
        raise ValueError(f"unknown dimension methods {unknown}; available: {DIMENSION_KINDS}")
    full_dim = int(arrays["video_emb"].shape[1])
    result: dict = {"dim": full_dim, "split": split, "epsilon": float(epsilon)}
    if "text_emb" not in arrays:
        result["skipped"] = "video-only embeddings: no text to retrieve"
        return result
    full = recall_at_1(apply_variant(arrays, {"kind": "float32"}, split)[0], split)
    result["full"] = full
    result.update(_gallery(arrays, split))
    usable = sorted({int(g) for g in grid if 0 < int(g) < full_dim})
    notes = []
    above = sorted({int(g) for g in grid if int(g) >= full_dim})
    if above:
        notes.append(f"grid D' {above} not below the dimension {full_dim}: skipped")
    curves = {}
    for method in methods:
        points = []
        for dim in usable:
            spec = {"kind": method, "dim": dim}
            if method in ("random_projection", "neural_mds"):
                spec["seed"] = int(seed)
            try:
                out, meta = apply_variant(arrays, spec, split)
            except ValueError as exc:  # a fit set smaller than D' (PCA)
                notes.append(f"{method} at D'={dim} skipped: {exc}")
                continue
            points.append({"dim": dim, **recall_at_1(out, split), "fits": meta["fits"]})
        curves[method] = {
            "points": points,
            "minimal_dim": minimal_dim(points, full, full_dim, epsilon),
        }
    result["methods"] = curves
    if notes:
        result["notes"] = notes
    return result


def dimensions_file(
    embeddings_path: str,
    out_path: str,
    split: str,
    grid: Sequence[int],
    epsilon: float,
    methods: Sequence[str],
    seed: int,
) -> dict:
    """The dimensions stage: :func:`dimension_curve` of one embedding file, as JSON."""
    result = dimension_curve(load_embeddings(embeddings_path), split, grid, epsilon, methods, seed)
    result = {"source": str(embeddings_path), **result}
    write_json(out_path, result)
    for method, curve in result.get("methods", {}).items():
        logger.info("%s: minimal D' %d of %d", method, curve["minimal_dim"], result["dim"])
    return result
