"""Retrieval metrics with the exact rank and tie conventions of DESIGN.md.

Similarity is the dot product of the rows given (callers L2-normalise). Ties count
against the model: a candidate that scores equal to the relevant item is ranked above it.
Scores are computed in row chunks so memory stays bounded by ``chunk_elements``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ELEMENTS = 1 << 24  # 16M float32 scores = 64 MiB per chunk


def _check_inputs(
    text_emb: np.ndarray, video_emb: np.ndarray, text_video_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    text_emb = np.asarray(text_emb)
    video_emb = np.asarray(video_emb)
    index = np.asarray(text_video_index)
    if text_emb.ndim != 2 or video_emb.ndim != 2:
        raise ValueError(
            f"embeddings must be 2-D, got text_emb {text_emb.shape} and video_emb {video_emb.shape}"
        )
    if text_emb.shape[0] == 0 or video_emb.shape[0] == 0:
        raise ValueError(
            f"empty embeddings: text_emb {text_emb.shape}, video_emb {video_emb.shape}"
        )
    if text_emb.shape[1] != video_emb.shape[1]:
        raise ValueError(
            f"dimension mismatch: text_emb has D={text_emb.shape[1]}, "
            f"video_emb has D={video_emb.shape[1]}"
        )
    if index.shape != (text_emb.shape[0],):
        raise ValueError(
            f"text_video_index has shape {index.shape}, expected ({text_emb.shape[0]},)"
        )
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"text_video_index must be integers, got dtype {index.dtype}")
    bad = np.flatnonzero((index < 0) | (index >= video_emb.shape[0]))
    if bad.size:
        raise ValueError(
            f"text_video_index out of range [0, {video_emb.shape[0]}): "
            f"caption {int(bad[0])} points to {int(index[bad[0]])} ({bad.size} bad in all)"
        )
    for name, arr in (("text_emb", text_emb), ("video_emb", video_emb)):
        if not np.all(np.isfinite(arr)):
            rows = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
            raise ValueError(
                f"{name} has NaN or inf in {rows.size} rows (first: row {int(rows[0])})"
            )
    dtype = np.result_type(text_emb.dtype, video_emb.dtype, np.float32)
    return (
        text_emb.astype(dtype, copy=False),
        video_emb.astype(dtype, copy=False),
        index.astype(np.int64),
    )


def t2v_ranks(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    text_video_index: np.ndarray,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> np.ndarray:
    """Rank of the relevant video for each caption.

    rank_i = 1 + #{j != g : s_ij >= s_ig}, g = text_video_index[i]. Returns (M,) int64.
    """
    text_emb, video_emb, index = _check_inputs(text_emb, video_emb, text_video_index)
    m, n = text_emb.shape[0], video_emb.shape[0]
    step = max(1, chunk_elements // n)
    ranks = np.empty(m, dtype=np.int64)
    for start in range(0, m, step):
        stop = min(m, start + step)
        scores = text_emb[start:stop] @ video_emb.T
        relevant = scores[np.arange(stop - start), index[start:stop]]
        # the relevant item itself satisfies >=, so the count is already 1 + others
        ranks[start:stop] = np.count_nonzero(scores >= relevant[:, None], axis=1)
    return ranks


def v2t_positions(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    text_video_index: np.ndarray,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Positions of every relevant caption for each video that has captions.

    For video j with relevant captions C_j sorted by score descending, the k-th sits at
    p_k = k + #{c not in C_j : s_cj >= s_(k)j}. Returns the query video rows (Q,) and,
    per query, its sorted positions p_1 <= p_2 <= ... (1-based).
    """
    text_emb, video_emb, index = _check_inputs(text_emb, video_emb, text_video_index)
    m = text_emb.shape[0]
    order = np.argsort(index, kind="stable")
    queries, starts, counts = np.unique(index[order], return_index=True, return_counts=True)
    groups = [order[s : s + c] for s, c in zip(starts, counts, strict=False)]
    step = max(1, chunk_elements // (m * max(1, int(counts.max()))))
    positions: list[np.ndarray] = []
    for start in range(0, queries.size, step):
        stop = min(queries.size, start + step)
        scores = video_emb[queries[start:stop]] @ text_emb.T  # (q, M)
        for row, caption_rows in zip(scores, groups[start:stop], strict=False):
            relevant = np.sort(row[caption_rows])[::-1]
            at_least = np.count_nonzero(row[None, :] >= relevant[:, None], axis=1)
            # at_least counts relevant captions too; the k-th (sorted) has >= k relevant
            # ones at or above it, ties among relevant included. Remove those exactly.
            relevant_at_least = np.count_nonzero(relevant[None, :] >= relevant[:, None], axis=1)
            k = np.arange(1, relevant.size + 1)
            positions.append(k + at_least - relevant_at_least)
    return queries, positions


def _summarise(positions: Sequence[np.ndarray], ks: Sequence[int], ndcg_k: int) -> dict:
    first = np.array([p[0] for p in positions], dtype=np.float64)
    out: dict[str, float | int] = {}
    for k in ks:
        out[f"R@{k}"] = float(np.mean(first <= k))
    out["MedR"] = float(np.median(first))
    out["MeanR"] = float(np.mean(first))
    out["MRR"] = float(np.mean(1.0 / first))
    discounts = 1.0 / np.log2(np.arange(2, ndcg_k + 2))
    ndcg = np.empty(len(positions))
    ap = np.empty(len(positions))
    for q, p in enumerate(positions):
        p = p.astype(np.float64)
        gain = np.sum(1.0 / np.log2(p[p <= ndcg_k] + 1.0))
        ideal = np.sum(discounts[: min(p.size, ndcg_k)])
        ndcg[q] = gain / ideal
        ap[q] = np.mean(np.arange(1, p.size + 1) / p)
    out[f"NDCG@{ndcg_k}"] = float(np.mean(ndcg))
    out["mAP"] = float(np.mean(ap))
    out["n_queries"] = len(positions)
    return out


def retrieval_metrics(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    text_video_index: np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_k: int = 10,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> dict[str, dict[str, float | int]]:
    """Text→video and video→text retrieval metrics.

    text_emb: (M, D), video_emb: (N, D), text_video_index: (M,) row of the video each
    caption describes. Returns ``{"t2v": {...}, "v2t": {...}}`` with R@k for each k in
    ``ks``, MedR, MeanR, MRR, NDCG@ndcg_k, mAP and n_queries (definitions: DESIGN.md).
    """
    ks = [int(k) for k in ks]
    if not ks or any(k < 1 for k in ks) or ndcg_k < 1:
        raise ValueError(f"ks and ndcg_k must be positive integers, got ks={ks}, ndcg_k={ndcg_k}")
    n_videos = np.asarray(video_emb).shape[0] if np.asarray(video_emb).ndim == 2 else 0
    n_texts = np.asarray(text_emb).shape[0] if np.asarray(text_emb).ndim == 2 else 0
    largest = max(ks + [ndcg_k])
    if n_videos and largest > n_videos:
        raise ValueError(f"k={largest} is larger than the video gallery (N={n_videos})")
    if n_texts and largest > n_texts:
        raise ValueError(f"k={largest} is larger than the caption gallery (M={n_texts})")
    t2v = t2v_ranks(text_emb, video_emb, text_video_index, chunk_elements)
    _, v2t = v2t_positions(text_emb, video_emb, text_video_index, chunk_elements)
    return {
        "t2v": _summarise([np.array([r]) for r in t2v], ks, ndcg_k),
        "v2t": _summarise(v2t, ks, ndcg_k),
    }


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


def evaluate_file(
    embeddings_path: str,
    out_path: str,
    split: str = "test",
    ks: Sequence[int] = (1, 5, 10),
    ndcg_k: int = 10,
) -> dict:
    """The retrieval stage: metrics of one (variant) embedding file on one split."""
    from vidspace.io import eval_rows, load_embeddings, load_sidecar, subset_videos, write_json

    arrays = load_embeddings(embeddings_path)
    meta = load_sidecar(embeddings_path)
    result: dict = {
        "source": str(embeddings_path),
        "variant": meta.get("variant"),
        "bytes_per_vector": meta.get("bytes_per_vector"),
        "dim": int(arrays["video_emb"].shape[1]),
        "split": split,
    }
    if "text_emb" not in arrays:
        result["skipped"] = "video-only embeddings: no text to retrieve"
        write_json(out_path, result)
        logger.info("%s: %s", embeddings_path, result["skipped"])
        return result
    sub = subset_videos(arrays, eval_rows(arrays, split))
    result.update(n_videos=int(sub["video_emb"].shape[0]), n_captions=int(sub["text_emb"].shape[0]))
    result.update(
        retrieval_metrics(
            l2_normalize(sub["text_emb"]),
            l2_normalize(sub["video_emb"]),
            sub["text_video_index"],
            ks=ks,
            ndcg_k=ndcg_k,
        )
    )
    write_json(out_path, result)
    logger.info(
        "%s: t2v R@1 %.3f, v2t R@1 %.3f",
        embeddings_path,
        result["t2v"]["R@1"],
        result["v2t"]["R@1"],
    )
    return result
