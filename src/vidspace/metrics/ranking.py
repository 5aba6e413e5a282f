"""Ranks of relevant items under the exact tie rule of docs/definitions.md, and metrics.

Similarity is the dot product of the rows given (callers L2-normalise). Ties count
against the model: a candidate that scores equal to the relevant item is ranked above it.
Scores are computed in row chunks so memory stays bounded by ``chunk_elements``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vidspace.metrics.scoring import MultiGrained, rescored_keys, score_matrices

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ELEMENTS = 1 << 27  # 128M scores = 512 MiB of float32 per block


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


def _caption_groups(index: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Videos that have captions, and the caption rows of each."""
    order = np.argsort(index, kind="stable")
    queries, starts, counts = np.unique(index[order], return_index=True, return_counts=True)
    return queries, [order[s : s + c] for s, c in zip(starts, counts, strict=True)]


def _t2v_block(scores: np.ndarray, relevant_cols: np.ndarray) -> np.ndarray:
    """Ranks for a block of caption rows (q, N) whose relevant columns are given."""
    relevant = scores[np.arange(scores.shape[0]), relevant_cols]
    # the relevant item itself satisfies >=, so the count is already 1 + others
    return np.count_nonzero(scores >= relevant[:, None], axis=1)


def _v2t_positions_of(scores: np.ndarray, caption_rows: np.ndarray) -> np.ndarray:
    """Sorted positions p_1 <= p_2 <= ... of a video's captions, given its scores (M,)."""
    relevant = np.sort(scores[caption_rows])[::-1]
    at_least = np.count_nonzero(scores[None, :] >= relevant[:, None], axis=1)
    # at_least counts relevant captions too; remove exactly those at or above each one
    relevant_at_least = np.count_nonzero(relevant[None, :] >= relevant[:, None], axis=1)
    return np.arange(1, relevant.size + 1) + at_least - relevant_at_least


def _v2t_columns(
    scores: np.ndarray, queries: np.ndarray, groups: list[np.ndarray]
) -> list[np.ndarray]:
    """v2t positions read column-wise from a full (M, N) matrix, without transposing it.

    The k-th best relevant caption of every video is compared with its column in one pass
    over the matrix (one pass per k up to the largest caption count).
    """
    sizes = np.array([g.size for g in groups])
    cmax = int(sizes.max())
    relevant = np.full((queries.size, cmax), np.inf, dtype=scores.dtype)
    for row, (q, rows) in enumerate(zip(queries, groups, strict=True)):
        relevant[row, : rows.size] = np.sort(scores[rows, q])[::-1]
    columns = scores if queries.size == scores.shape[1] else scores[:, queries]
    at_least = np.empty((queries.size, cmax), dtype=np.int64)
    for k in range(cmax):  # inf padding: nothing is >= inf
        at_least[:, k] = np.count_nonzero(columns >= relevant[None, :, k], axis=0)
    padded = np.where(np.isinf(relevant), -np.inf, relevant)
    relevant_at_least = np.count_nonzero(padded[:, None, :] >= relevant[:, :, None], axis=2)
    positions = np.arange(1, cmax + 1) + at_least - relevant_at_least
    return [positions[row, :size] for row, size in enumerate(sizes)]


def query_ranks(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    text_video_index: np.ndarray,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    scoring: str = "dot",
    temperature: float = 0.01,
    querybank: tuple[np.ndarray, np.ndarray] | None = None,
    device: str | None = None,
    rescore: tuple[np.ndarray, np.ndarray, int] | None = None,
    multi_grained: MultiGrained | None = None,
) -> dict:
    """Per-query ranks in both directions.

    ``multi_grained`` (the gallery's frames, beta, aggregation) ranks by S_g + beta S_l
    instead of the caption-video cosine alone (see :class:`MultiGrained`).

    ``rescore`` = (float text, float video, R): the given embeddings are binary codes whose
    top-R candidates per query are re-ranked by the float embeddings (see
    :func:`rescored_keys`).

    ``device`` ("cpu", "cuda", "cuda:N") runs the plain ``dot`` scoring with torch on that
    device; None uses NumPy/BLAS. Ties follow the same rule on every backend.

    Returns ``{"t2v": (M,) ranks, "v2t_queries": (Q,) video rows, "v2t": [positions]}``.
    When M x N fits in ``chunk_elements`` the similarity GEMM runs once and both
    directions read it; otherwise scores are computed in row blocks (twice), so memory
    stays bounded. Score post-processing other than ``dot`` needs the full matrix.
    """
    text_emb, video_emb, index = _check_inputs(text_emb, video_emb, text_video_index)
    m, n = text_emb.shape[0], video_emb.shape[0]
    queries, groups = _caption_groups(index)
    full = scoring != "dot" or rescore is not None or multi_grained is not None
    if multi_grained is not None and (scoring != "dot" or rescore is not None):
        raise ValueError("multi-grained scores take no further post-processing or rescoring")
    if device is not None:
        if full:
            raise ValueError(
                "score post-processing and rescoring run on the NumPy backend only (device=None)"
            )
        return _query_ranks_torch(
            text_emb, video_emb, index, queries, groups, chunk_elements, device
        )
    if m * n <= chunk_elements or full:
        if m * n > 4 * chunk_elements:
            raise ValueError(
                f"scoring {scoring!r} (or rescoring, multi-grained) needs the full {m} x {n} "
                f"score matrix, above the memory budget of {chunk_elements} elements"
            )
        scores = text_emb @ video_emb.T
        if multi_grained is not None:
            if multi_grained.frames.shape[0] != n:
                raise ValueError(
                    f"multi_grained: {multi_grained.frames.shape[0]} videos' frames for a "
                    f"gallery of {n}"
                )
            scores = multi_grained.scores(text_emb, scores)
        bank = None
        if querybank is not None:
            bank_text, bank_video = querybank
            bank = (
                bank_text.astype(scores.dtype) @ video_emb.T,
                bank_video.astype(scores.dtype) @ text_emb.T,
            )
        t2v_scores, v2t_scores = score_matrices(scores, scoring, temperature, bank)
        if rescore is not None:
            float_text, float_video, top = rescore
            exact = np.asarray(float_text, np.float64) @ np.asarray(float_video, np.float64).T
            t2v_scores = rescored_keys(scores, exact, top, axis=1)
            v2t_scores = rescored_keys(scores, exact, top, axis=0)
        t2v = _t2v_block(t2v_scores, index)
        v2t = _v2t_columns(v2t_scores, queries, groups)
        return {"t2v": t2v, "v2t_queries": queries, "v2t": v2t}
    t2v = np.empty(m, dtype=np.int64)
    step = max(1, chunk_elements // n)
    for start in range(0, m, step):
        stop = min(m, start + step)
        t2v[start:stop] = _t2v_block(text_emb[start:stop] @ video_emb.T, index[start:stop])
    v2t: list[np.ndarray] = []
    step = max(1, chunk_elements // m)
    for start in range(0, queries.size, step):
        stop = min(queries.size, start + step)
        block = video_emb[queries[start:stop]] @ text_emb.T  # (q, M)
        v2t += [
            _v2t_positions_of(row, rows)
            for row, rows in zip(block, groups[start:stop], strict=True)
        ]
    return {"t2v": t2v, "v2t_queries": queries, "v2t": v2t}


def _query_ranks_torch(text, video, index, queries, groups, chunk_elements, device) -> dict:
    """Torch version of the ranking (GPU when asked): row blocks for t2v, video blocks for
    v2t; matmuls at full precision (no TF32), so ties are decided as on the CPU."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        with torch.inference_mode():
            # same dtype as the NumPy path (float32, or float64 if an input is float64)
            t = torch.from_numpy(np.ascontiguousarray(text)).to(dev)
            v = torch.from_numpy(np.ascontiguousarray(video)).to(dev)
            idx = torch.from_numpy(index).to(dev)
            m, n = t.shape[0], v.shape[0]
            t2v = torch.empty(m, dtype=torch.int64, device=dev)
            step = max(1, chunk_elements // n)
            for start in range(0, m, step):
                block = t[start : start + step] @ v.T
                rows = torch.arange(block.shape[0], device=dev)
                relevant = block[rows, idx[start : start + step]]
                t2v[start : start + step] = (block >= relevant[:, None]).sum(1)
            sizes = np.array([g.size for g in groups])
            cmax = int(sizes.max())
            member = np.zeros((queries.size, cmax), dtype=np.int64)
            for row, rows in enumerate(groups):
                member[row, : rows.size] = rows
            member_t = torch.from_numpy(member).to(dev)
            valid = torch.from_numpy(np.arange(cmax)[None, :] < sizes[:, None]).to(dev)
            q_t = torch.from_numpy(queries).to(dev)
            positions = torch.empty((queries.size, cmax), dtype=torch.int64, device=dev)
            step = max(1, chunk_elements // (m * cmax))
            ks = torch.arange(1, cmax + 1, device=dev)
            for start in range(0, queries.size, step):
                block = v[q_t[start : start + step]] @ t.T  # (q, M)
                ok = valid[start : start + step]
                rel = torch.gather(block, 1, member_t[start : start + step])
                # valid entries form a prefix of each row: sort them descending, then mark
                # the padding +inf, which no score reaches
                rel = torch.where(ok, rel, torch.full_like(rel, float("-inf")))
                rel = torch.sort(rel, dim=1, descending=True).values
                rel = torch.where(ok, rel, torch.full_like(rel, float("inf")))
                at_least = torch.stack(
                    [(block >= rel[:, k : k + 1]).sum(1) for k in range(cmax)], dim=1
                )
                padded = torch.where(torch.isinf(rel), torch.full_like(rel, float("-inf")), rel)
                rel_at_least = (padded[:, None, :] >= rel[:, :, None]).sum(2)
                positions[start : start + step] = ks + at_least - rel_at_least
            positions_np = positions.cpu().numpy()
            t2v_np = t2v.cpu().numpy()
    finally:
        torch.set_float32_matmul_precision(previous)
    v2t = [positions_np[row, :size] for row, size in enumerate(sizes)]
    return {"t2v": t2v_np, "v2t_queries": queries, "v2t": v2t}


def t2v_ranks(text_emb, video_emb, text_video_index, chunk_elements=DEFAULT_CHUNK_ELEMENTS):
    """rank_i = 1 + #{j != g : s_ij >= s_ig}, g = text_video_index[i]. Returns (M,) int64."""
    return query_ranks(text_emb, video_emb, text_video_index, chunk_elements)["t2v"]


def v2t_positions(text_emb, video_emb, text_video_index, chunk_elements=DEFAULT_CHUNK_ELEMENTS):
    """For video j with captions C_j sorted by score, p_k = k + #{c not in C_j : s_cj >= s_(k)j}.

    Returns the query video rows (Q,) and, per query, its sorted 1-based positions.
    """
    r = query_ranks(text_emb, video_emb, text_video_index, chunk_elements)
    return r["v2t_queries"], r["v2t"]


def _padded(positions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(Q, Cmax) float positions padded with inf, and the count of relevant items (Q,)."""
    sizes = np.array([p.size for p in positions], dtype=np.int64)
    out = np.full((len(positions), int(sizes.max())), np.inf)
    for q, p in enumerate(positions):
        out[q, : p.size] = p
    return out, sizes


def summarise_ranks(
    positions: Sequence[np.ndarray] | np.ndarray, ks: Sequence[int], ndcg_k: int
) -> dict[str, float | int]:
    """Metrics from per-query sorted positions (a 1-D array: one relevant item per query)."""
    if isinstance(positions, np.ndarray) and positions.ndim == 1:
        padded, sizes = positions.astype(np.float64)[:, None], np.ones(positions.size, np.int64)
    else:
        padded, sizes = _padded(positions)
    first = padded[:, 0]
    out: dict[str, float | int] = {f"R@{k}": float(np.mean(first <= k)) for k in ks}
    out["MedR"] = float(np.median(first))
    out["MeanR"] = float(np.mean(first))
    out["MRR"] = float(np.mean(1.0 / first))
    gains = np.where(padded <= ndcg_k, 1.0 / np.log2(padded + 1.0), 0.0).sum(axis=1)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, ndcg_k + 2)))[np.minimum(sizes, ndcg_k) - 1]
    out[f"NDCG@{ndcg_k}"] = float(np.mean(gains / ideal))
    k = np.arange(1, padded.shape[1] + 1)
    out["mAP"] = float(np.mean((k / padded).sum(axis=1) / sizes))
    out["n_queries"] = int(padded.shape[0])
    return out


def _check_ks(ks: Sequence[int], ndcg_k: int) -> list[int]:
    """Cut-offs as ints; any K >= 1 is defined (K at or above the gallery size counts every
    rank, see :func:`trivial_ks`)."""
    ks = [int(k) for k in ks]
    if not ks or any(k < 1 for k in ks) or ndcg_k < 1:
        raise ValueError(f"ks and ndcg_k must be positive integers, got ks={ks}, ndcg_k={ndcg_k}")
    return ks


def trivial_ks(ks: Sequence[int], n_videos: int, n_texts: int) -> dict[str, list[int]]:
    """The cut-offs at or above each direction's gallery: R@K = 1 whatever the model."""
    return {
        "t2v": [int(k) for k in ks if k >= n_videos],
        "v2t": [int(k) for k in ks if k >= n_texts],
    }


def retrieval_metrics(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    text_video_index: np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_k: int = 10,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    scoring: str = "dot",
    temperature: float = 0.01,
    querybank: tuple[np.ndarray, np.ndarray] | None = None,
    rescore: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> dict[str, dict[str, float | int]]:
    """Text→video and video→text retrieval metrics.

    text_emb: (M, D), video_emb: (N, D), text_video_index: (M,) row of the video each
    caption describes. Returns ``{"t2v": {...}, "v2t": {...}}`` with R@k for each k in
    ``ks``, MedR, MeanR, MRR, NDCG@ndcg_k, mAP and n_queries (definitions: docs/definitions.md).
    ``scoring`` post-processes the similarities (see :func:`score_matrices`); ``rescore``
    re-ranks a binary shortlist by float embeddings (see :func:`query_ranks`).
    """
    ks = _check_ks(ks, ndcg_k)
    r = query_ranks(
        text_emb,
        video_emb,
        text_video_index,
        chunk_elements,
        scoring,
        temperature,
        querybank,
        rescore=rescore,
    )
    return {
        "t2v": summarise_ranks(r["t2v"], ks, ndcg_k),
        "v2t": summarise_ranks(r["v2t"], ks, ndcg_k),
    }


def ranking_device(device: str = "auto") -> str | None:
    """Torch device for ranking, or None for NumPy: 'auto' takes CUDA only when present
    (checked without importing torch on machines that have no NVIDIA device)."""
    import os

    if device == "cpu":
        return None
    if device == "auto":
        if not os.path.exists("/dev/nvidiactl"):
            return None
        import torch

        return "cuda" if torch.cuda.is_available() else None
    return device
