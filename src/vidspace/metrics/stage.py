"""The retrieval and compare stages: metrics files from (variant) embedding files."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vidspace.core.linalg import l2_normalize
from vidspace.metrics.pools import pool_metrics
from vidspace.metrics.ranking import (
    _check_ks,
    query_ranks,
    ranking_device,
    summarise_ranks,
    trivial_ks,
)
from vidspace.metrics.scoring import MultiGrained
from vidspace.metrics.statistics import bootstrap_ci, paired_bootstrap
from vidspace.variants import TRAIN, TRANSDUCTIVE

logger = logging.getLogger(__name__)


def ranked_rows(
    arrays: dict, meta: dict, split: str
) -> tuple[dict, np.ndarray, np.ndarray, tuple | None]:
    """The rows of a (variant) embedding file as retrieval ranks them: the evaluated subset,
    its caption and video rows, and the querybank (the train split's rows, L2-normalised)
    of a querybank scoring, else None. Rows are L2-normalised, except a binary variant's
    sign codes under the dot scoring."""
    from vidspace.core.io import eval_rows, subset_videos

    scoring = meta.get("scoring", "dot")
    sub = subset_videos(arrays, eval_rows(arrays, split))
    querybank = None
    if scoring in ("inverted_softmax", "qb_norm"):
        train = np.asarray(arrays.get("split", np.array([]))) == "train"
        bank = subset_videos(arrays, train)
        querybank = (l2_normalize(bank["text_emb"]), l2_normalize(bank["video_emb"]))
    if meta.get("kind") == "binary" and scoring == "dot":
        # sign codes all have norm sqrt(D): normalising changes no order, but it turns the
        # integer agreement counts into rounded fractions whose ties then break by rounding
        # (a temperature-based scoring keeps the cosine scale, so it is normalised below)
        text, video = (np.asarray(sub[k], np.float32) for k in ("text_emb", "video_emb"))
    else:
        text, video = l2_normalize(sub["text_emb"]), l2_normalize(sub["video_emb"])
    return sub, text, video, querybank


def evaluate_file(
    embeddings_path: str,
    out_path: str,
    split: str = "test",
    ks: Sequence[int] = (1, 5, 10),
    ndcg_k: int = 10,
    pool_sizes: Sequence[int] = (),
    bootstrap: int = 1000,
    ranks_path: str | None = None,
    seed: int = 0,
    device: str = "auto",
    meta_path: str | None = None,
) -> dict:
    """The retrieval stage: metrics of one (variant) embedding file on one split.

    Adds bootstrap 95 % intervals of R@K (``bootstrap`` resamples of the videos, each with
    all its captions), the candidate-pool protocol for each size in ``pool_sizes``, and
    applies the variant's ``scoring`` (its querybank is the train split) or binary
    ``rescore``, as its sidecar (``meta_path``, default beside the file) says; what was
    fitted on what goes to ``fits``. Ranking runs on CUDA through torch when ``device``
    allows it. Per-query ranks go to ``ranks_path``.
    """
    from vidspace.core.io import (
        atomic_path,
        eval_rows,
        load_embeddings,
        load_sidecar,
        write_json,
    )

    meta = load_sidecar(embeddings_path, meta_path)
    scoring = meta.get("scoring", "dot")
    arrays = load_embeddings(embeddings_path, frames=scoring == "multi_grained")
    temperature = float(meta.get("temperature", 0.01))
    evaluated = eval_rows(arrays, split)
    train = np.asarray(arrays.get("split", np.array([]))) == "train"
    fits = dict(meta.get("fits", {}))
    if scoring == "dual_softmax":
        fits["dual softmax"] = TRANSDUCTIVE  # normalises over the other evaluated queries
    elif scoring in ("inverted_softmax", "qb_norm"):
        # with split 'all' the train queries are evaluated too
        fits["querybank"] = TRANSDUCTIVE if (train & evaluated).any() else TRAIN
    result: dict = {
        "source": str(embeddings_path),
        "variant": meta.get("variant"),
        "kind": meta.get("kind"),
        "bytes_per_vector": meta.get("bytes_per_vector"),
        "dim": int(arrays["video_emb"].shape[1]),
        "split": split,
        "scoring": scoring,
        "fits": fits,
        "transductive": sorted(k for k, v in fits.items() if v == TRANSDUCTIVE),
    }
    if "neural_mds" in meta:  # its loss and how far training moved it
        result["neural_mds"] = meta["neural_mds"]
    skipped = meta.get("skipped") or (
        "video-only embeddings: no text to retrieve" if "text_emb" not in arrays else None
    )
    if scoring in ("inverted_softmax", "qb_norm") and (not train.any() or split == "train"):
        skipped = (
            f"scoring {scoring!r} needs a train split, distinct from the evaluated split "
            f"{split!r}, for its querybank"
        )
    if skipped:
        result["skipped"] = skipped
        write_json(out_path, result)
        if ranks_path:
            with atomic_path(ranks_path, suffix=".npz") as tmp:
                np.savez(tmp, skipped=np.array(result["skipped"]))
        logger.info("%s: %s", embeddings_path, result["skipped"])
        return result
    sub, text, video, querybank = ranked_rows(arrays, meta, split)
    index = sub["text_video_index"]
    notes: list[str] = []
    ks = _check_ks(ks, ndcg_k)
    trivial = trivial_ks(ks, video.shape[0], text.shape[0])
    for direction, cut in trivial.items():
        if cut:
            notes.append(
                f"{direction} R@{'/'.join(map(str, cut))}: K ≥ gallery size "
                f"{video.shape[0] if direction == 't2v' else text.shape[0]}, every rank counts"
            )
    rescore = None
    if meta.get("rescore"):
        rescore = (
            l2_normalize(sub["rescore_text_emb"]),
            l2_normalize(sub["rescore_video_emb"]),
            int(meta["rescore"]),
        )
        result["rescore"] = int(meta["rescore"])
        for direction, gallery, size in (
            ("text→video", "videos", video.shape[0]),
            ("video→text", "captions", text.shape[0]),
        ):
            if result["rescore"] >= size:
                notes.append(
                    f"rescore R={result['rescore']} covers all {size} {gallery}: "
                    f"{direction} ranks are the float ranks"
                )
    multi = None
    if scoring == "multi_grained":
        if "frame_emb" not in sub:
            raise ValueError(
                f"{embeddings_path}: scoring multi_grained but the file has no frame_emb; "
                "rerun its transform"
            )
        multi = MultiGrained.from_spec(sub["frame_emb"], meta)
        result["multi_grained"] = {
            "beta": multi.beta,
            "aggregation": multi.aggregation,
            **({"top_k": multi.top_k} if multi.aggregation == "topk" else {}),
            **({"temperature": multi.temperature} if multi.aggregation == "softmax" else {}),
            "frames_per_video": int(sub["frame_emb"].shape[1]),
        }
    plain = scoring == "dot" and rescore is None
    backend = ranking_device(device) if plain else None
    result["backend"] = f"torch:{backend}" if backend else "numpy"
    ranks = query_ranks(
        text,
        video,
        index,
        scoring="dot" if multi else scoring,
        temperature=temperature,
        querybank=querybank,
        device=backend,
        rescore=rescore,
        multi_grained=multi,
    )
    result.update(n_videos=int(video.shape[0]), n_captions=int(text.shape[0]))
    result["trivial_ks"] = trivial
    result["t2v"] = summarise_ranks(ranks["t2v"], ks, ndcg_k)
    result["v2t"] = summarise_ranks(ranks["v2t"], ks, ndcg_k)
    firsts = {"t2v": ranks["t2v"], "v2t": np.array([p[0] for p in ranks["v2t"]])}
    # the unit of resampling is the video: each caption belongs to its video's cluster
    caption_video = np.searchsorted(ranks["v2t_queries"], index)
    clusters = {"t2v": caption_video, "v2t": None}
    if bootstrap:
        result["ci95"] = {
            d: {
                f"R@{k}": list(bootstrap_ci(firsts[d] <= k, bootstrap, seed, clusters=clusters[d]))
                for k in ks
            }
            for d in firsts
        }
        result["bootstrap_resamples"] = int(bootstrap)
        result["bootstrap_unit"] = "video"
    if pool_sizes and not plain:
        # pools rank by the plain score of the two vectors; another scoring's pool numbers
        # would be filed under a variant that never ranks that way
        notes.append(
            f"candidate pools not computed: they rank by plain cosine, this variant by "
            f"{'rescoring' if rescore else scoring}"
        )
        pool_sizes = []
    usable = [c for c in pool_sizes if c <= min(video.shape[0], text.shape[0])]
    for c in sorted(set(pool_sizes) - set(usable)):
        notes.append(
            f"candidate pool C={c} skipped: larger than the gallery "
            f"({video.shape[0]} videos, {text.shape[0]} captions)"
        )
    if usable:
        result["pools"] = {str(c): pool_metrics(text, video, index, c, ks, seed) for c in usable}
    if notes:
        result["notes"] = notes
        for note in notes:
            logger.warning("%s: %s", embeddings_path, note)
    write_json(out_path, result)
    if ranks_path:
        with atomic_path(ranks_path, suffix=".npz") as tmp:
            np.savez(
                tmp,
                t2v=firsts["t2v"],
                v2t=firsts["v2t"],
                text_ids=sub["text_ids"],
                video_ids=sub["video_ids"][ranks["v2t_queries"]],
                text_video=caption_video,
            )
    logger.info(
        "%s: t2v R@1 %.3f, v2t R@1 %.3f",
        embeddings_path,
        result["t2v"]["R@1"],
        result["v2t"]["R@1"],
    )
    return result


def compare_models(
    ranks: dict[str, str],
    out_path: str,
    ks: Sequence[int] = (1, 5, 10),
    n_boot: int = 10000,
    seed: int = 0,
) -> dict:
    """Paired bootstrap of R@K between every two models ranked on the same queries.

    ``ranks`` maps model name -> per-query ranks file written by :func:`evaluate_file`.
    """
    from itertools import combinations

    from vidspace.core.io import load_npz, write_json

    loaded = {}
    for model, path in ranks.items():
        data = load_npz(path)
        if "skipped" in data:
            continue
        if "text_video" not in data:
            raise ValueError(
                f"{path} has no text_video (caption -> video) column: it was written by "
                "an older vidspace; rerun the retrieval stage"
            )
        loaded[model] = data
    result: dict = {
        "ks": list(ks),
        "bootstrap_resamples": n_boot,
        "bootstrap_unit": "video",
        "pairs": [],
    }
    for a, b in combinations(loaded, 2):
        ra, rb = loaded[a], loaded[b]
        for key in ("text_ids", "video_ids", "text_video"):
            if not np.array_equal(ra[key], rb[key]):
                raise ValueError(f"{a} and {b} were not ranked on the same queries ({key})")
        pair: dict = {"a": a, "b": b}
        # both models see the same resampled videos; a video brings all its captions
        clusters = {"t2v": ra["text_video"], "v2t": None}
        for direction in ("t2v", "v2t"):
            pair[direction] = {
                f"R@{k}": paired_bootstrap(
                    ra[direction] <= k, rb[direction] <= k, n_boot, seed, clusters[direction]
                )
                for k in ks
            }
        result["pairs"].append(pair)
    write_json(out_path, result)
    return result
