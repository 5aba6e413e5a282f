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


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    peak = np.max(x, axis=axis, keepdims=True)
    return peak + np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True))


SCORINGS = ("dot", "dual_softmax", "inverted_softmax", "qb_norm")


def rescored_scores(binary: np.ndarray, exact: np.ndarray, top: int, axis: int) -> np.ndarray:
    """Two-stage ranking as one score matrix: for each query (rows if axis=1, columns if
    axis=0) the ``top`` items with the highest binary score are re-ranked by the exact
    score and placed above all others, which keep their binary order.

    Candidates are chosen by binary score, ties broken by the exact score. The result is
    ranked with the usual rule (ties against the model).
    """
    if top < 1:
        raise ValueError(f"rescore must be a positive number of candidates, got {top}")
    binary = np.asarray(binary, np.float64)
    width = np.abs(binary).max() or 1.0
    # binary scores of sign codes are integers 2 apart: exact / 4 breaks ties only
    key = binary + exact / 4
    size = binary.shape[axis]
    top = min(top, size)
    cut = -np.partition(-key, top - 1, axis=axis).take([top - 1], axis=axis)
    candidate = key >= cut  # may exceed `top` only through exact ties in both scores
    return np.where(candidate, 4.0 + exact, binary / width)


def score_matrices(
    scores: np.ndarray,
    scoring: str = "dot",
    temperature: float = 0.01,
    bank_scores: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Post-process a (M captions x N videos) score matrix for each direction.

    Returns (t2v, v2t) matrices of the same shape: t2v ranks each row, v2t each column.

    - ``dot``: unchanged.
    - ``dual_softmax`` (Cheng et al. 2021, CAMoE): s * softmax(s / T) over the queries of
      the other direction: for t2v over captions (axis 0), for v2t over videos (axis 1).
    - ``inverted_softmax`` (Smith et al. 2017): log-domain s / T - logsumexp of the
      querybank's scores against the same gallery item. ``bank_scores`` = (bank captions x
      N videos, bank videos x M captions), from the train split.
    - ``qb_norm`` (Bogolin et al. 2022, dynamic inverted softmax): as above, but only for
      queries whose raw top-1 item is in the activation set (items that are some bank
      query's top-1); other queries keep their raw scores.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; available: {list(SCORINGS)}")
    if scoring == "dot":
        return scores, scores
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scores = scores.astype(np.float64)
    if scoring == "dual_softmax":
        logits = scores / temperature
        t2v = scores * np.exp(logits - _logsumexp(logits, axis=0))
        v2t = scores * np.exp(logits - _logsumexp(logits, axis=1))
        return t2v, v2t
    if bank_scores is None:
        raise ValueError(f"scoring {scoring!r} needs a querybank (train-split embeddings)")
    bank_t2v, bank_v2t = (np.asarray(b, dtype=np.float64) for b in bank_scores)
    # normaliser of each gallery item: over bank captions for videos, bank videos for captions
    t2v = scores / temperature - _logsumexp(bank_t2v / temperature, axis=0)
    v2t = scores / temperature - _logsumexp(bank_v2t / temperature, axis=0).T
    if scoring == "qb_norm":
        active_videos = np.zeros(scores.shape[1], bool)
        active_videos[np.argmax(bank_t2v, axis=1)] = True
        active_captions = np.zeros(scores.shape[0], bool)
        active_captions[np.argmax(bank_v2t, axis=1)] = True
        keep_t2v = ~active_videos[np.argmax(scores, axis=1)]  # caption queries left raw
        keep_v2t = ~active_captions[np.argmax(scores, axis=0)]  # video queries left raw
        t2v[keep_t2v] = scores[keep_t2v]
        v2t[:, keep_v2t] = scores[:, keep_v2t]
    return t2v, v2t


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
) -> dict:
    """Per-query ranks in both directions.

    ``rescore`` = (float text, float video, R): the given embeddings are binary codes whose
    top-R candidates per query are re-ranked by the float embeddings (see
    :func:`rescored_scores`).

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
    if device is not None:
        if scoring != "dot" or rescore is not None:
            raise ValueError(
                "score post-processing and rescoring run on the NumPy backend only (device=None)"
            )
        return _query_ranks_torch(
            text_emb, video_emb, index, queries, groups, chunk_elements, device
        )
    if m * n <= chunk_elements or scoring != "dot" or rescore is not None:
        if m * n > 4 * chunk_elements:
            raise ValueError(
                f"scoring {scoring!r} (or rescoring) needs the full {m} x {n} score matrix, "
                f"above the memory budget of {chunk_elements} elements"
            )
        scores = text_emb @ video_emb.T
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
            t2v_scores = rescored_scores(scores, exact, top, axis=1)
            v2t_scores = rescored_scores(scores, exact, top, axis=0)
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


def _check_ks(ks: Sequence[int], ndcg_k: int, n_videos: int, n_texts: int) -> list[int]:
    ks = [int(k) for k in ks]
    if not ks or any(k < 1 for k in ks) or ndcg_k < 1:
        raise ValueError(f"ks and ndcg_k must be positive integers, got ks={ks}, ndcg_k={ndcg_k}")
    largest = max(ks + [ndcg_k])
    if n_videos and largest > n_videos:
        raise ValueError(f"k={largest} is larger than the video gallery (N={n_videos})")
    if n_texts and largest > n_texts:
        raise ValueError(f"k={largest} is larger than the caption gallery (M={n_texts})")
    return ks


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
    ``ks``, MedR, MeanR, MRR, NDCG@ndcg_k, mAP and n_queries (definitions: DESIGN.md).
    ``scoring`` post-processes the similarities (see :func:`score_matrices`); ``rescore``
    re-ranks a binary shortlist by float embeddings (see :func:`query_ranks`).
    """
    shape_v, shape_t = np.shape(video_emb), np.shape(text_emb)
    ks = _check_ks(
        ks, ndcg_k, shape_v[0] if len(shape_v) == 2 else 0, shape_t[0] if len(shape_t) == 2 else 0
    )
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


def pool_metrics(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    text_video_index: np.ndarray,
    pool_size: int,
    ks: Sequence[int] = (10,),
    seed: int = 0,
    max_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> dict:
    """Ranking within sampled candidate pools that always hold a relevant item (seed 003).

    Each query is ranked against ``pool_size`` candidates: one relevant item (for video→
    text, one of the video's captions drawn at random) and pool_size - 1 others drawn
    without replacement from the rest of the gallery. Ties count against the model.
    Reports R@K, MRR, the random baseline K / C and the lift R@K / (K / C).
    """
    text_emb, video_emb, index = _check_inputs(text_emb, video_emb, text_video_index)
    rng = np.random.default_rng(seed)
    queries, groups = _caption_groups(index)
    directions = {
        "t2v": (text_emb, video_emb, index),
        "v2t": (
            video_emb[queries],
            text_emb,
            np.array([g[rng.integers(g.size)] for g in groups], dtype=np.int64),
        ),
    }
    out: dict = {"pool_size": int(pool_size), "seed": int(seed)}
    for name, (q_emb, gallery, relevant) in directions.items():
        size = gallery.shape[0]
        if not 2 <= pool_size <= size:
            raise ValueError(f"pool_size={pool_size} must be in [2, {size}] for {name}")
        if name == "v2t":
            # other captions of the same video are not negatives
            own = [set(g.tolist()) for g in groups]
        ranks = np.empty(q_emb.shape[0], dtype=np.int64)
        step = max(1, max_elements // (pool_size * gallery.shape[1]))
        for start in range(0, q_emb.shape[0], step):
            stop = min(q_emb.shape[0], start + step)
            pools = np.empty((stop - start, pool_size), dtype=np.int64)
            for row, q in enumerate(range(start, stop)):
                exclude = own[q] if name == "v2t" else {int(relevant[q])}
                candidates = rng.choice(size - len(exclude), pool_size - 1, replace=False)
                for e in sorted(exclude):  # map into the gallery minus the excluded rows
                    candidates[candidates >= e] += 1
                pools[row] = np.concatenate([[relevant[q]], candidates])
            scores = np.einsum("qd,qcd->qc", q_emb[start:stop], gallery[pools])
            ranks[start:stop] = np.count_nonzero(scores >= scores[:, :1], axis=1)
        stats = {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}
        stats["MRR"] = float(np.mean(1.0 / ranks))
        stats["random_baseline"] = {f"R@{k}": k / pool_size for k in ks}
        stats["lift"] = {f"R@{k}": stats[f"R@{k}"] / (k / pool_size) for k in ks}
        stats["n_queries"] = int(ranks.size)
        out[name] = stats
    return out


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(values), resampling queries."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"bootstrap needs a non-empty 1-D array, got shape {values.shape}")
    means = _bootstrap_means(values, n_boot, seed)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def _bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, (1 << 22) // values.size)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        means[start:stop] = values[rng.integers(0, values.size, (stop - start, values.size))].mean(
            1
        )
    return means


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0) -> dict:
    """Paired bootstrap of mean(a) - mean(b) over the same queries.

    Returns the difference, its 95 % percentile interval and a two-sided p-value
    (twice the share of resampled differences on the far side of zero, capped at 1).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired bootstrap needs two equal 1-D arrays, got {a.shape}, {b.shape}")
    diff = a - b
    means = _bootstrap_means(diff, n_boot, seed)
    observed = float(diff.mean())
    lo, hi = np.percentile(means, [2.5, 97.5])
    if observed == 0 and np.all(diff == 0):
        p = 1.0
    else:
        p = min(1.0, 2 * min(np.mean(means <= 0), np.mean(means >= 0)))
        p = max(p, 1.0 / n_boot)  # resolution of the test
    return {
        "diff": observed,
        "ci95": [float(lo), float(hi)],
        "p_value": float(p),
        "n_queries": int(a.size),
    }


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


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
) -> dict:
    """The retrieval stage: metrics of one (variant) embedding file on one split.

    Adds bootstrap 95 % intervals of R@K (``bootstrap`` resamples of the queries), the
    candidate-pool protocol for each size in ``pool_sizes``, and applies the variant's
    ``scoring`` (its querybank is the train split) or binary ``rescore``. Ranking runs on
    CUDA through torch when ``device`` allows it. Per-query ranks go to ``ranks_path``.
    """
    from vidspace.io import (
        atomic_path,
        eval_rows,
        load_embeddings,
        load_sidecar,
        subset_videos,
        write_json,
    )

    arrays = load_embeddings(embeddings_path)
    meta = load_sidecar(embeddings_path)
    scoring = meta.get("scoring", "dot")
    temperature = float(meta.get("temperature", 0.01))
    result: dict = {
        "source": str(embeddings_path),
        "variant": meta.get("variant"),
        "bytes_per_vector": meta.get("bytes_per_vector"),
        "dim": int(arrays["video_emb"].shape[1]),
        "split": split,
        "scoring": scoring,
    }
    if "text_emb" not in arrays:
        result["skipped"] = "video-only embeddings: no text to retrieve"
        write_json(out_path, result)
        if ranks_path:
            with atomic_path(ranks_path, suffix=".npz") as tmp:
                np.savez(tmp, skipped=np.array(result["skipped"]))
        logger.info("%s: %s", embeddings_path, result["skipped"])
        return result
    evaluated = eval_rows(arrays, split)
    sub = subset_videos(arrays, evaluated)
    querybank = None
    if scoring in ("inverted_softmax", "qb_norm"):
        train = np.asarray(arrays.get("split", np.array([]))) == "train"
        if not train.any() or split == "train":
            raise ValueError(
                f"scoring {scoring!r} needs a train split, distinct from the "
                f"evaluated split {split!r}, for its querybank"
            )
        bank = subset_videos(arrays, train)
        querybank = (l2_normalize(bank["text_emb"]), l2_normalize(bank["video_emb"]))
    text, video = l2_normalize(sub["text_emb"]), l2_normalize(sub["video_emb"])
    index = sub["text_video_index"]
    ks = _check_ks(ks, ndcg_k, video.shape[0], text.shape[0])
    rescore = None
    if meta.get("rescore"):
        rescore = (
            l2_normalize(sub["rescore_text_emb"]),
            l2_normalize(sub["rescore_video_emb"]),
            int(meta["rescore"]),
        )
        result["rescore"] = int(meta["rescore"])
    plain = scoring == "dot" and rescore is None
    backend = ranking_device(device) if plain else None
    result["backend"] = f"torch:{backend}" if backend else "numpy"
    ranks = query_ranks(
        text,
        video,
        index,
        scoring=scoring,
        temperature=temperature,
        querybank=querybank,
        device=backend,
        rescore=rescore,
    )
    result.update(n_videos=int(video.shape[0]), n_captions=int(text.shape[0]))
    result["t2v"] = summarise_ranks(ranks["t2v"], ks, ndcg_k)
    result["v2t"] = summarise_ranks(ranks["v2t"], ks, ndcg_k)
    firsts = {"t2v": ranks["t2v"], "v2t": np.array([p[0] for p in ranks["v2t"]])}
    if bootstrap:
        result["ci95"] = {
            d: {f"R@{k}": list(bootstrap_ci(firsts[d] <= k, bootstrap, seed)) for k in ks}
            for d in firsts
        }
        result["bootstrap_resamples"] = int(bootstrap)
    usable = [c for c in pool_sizes if c <= min(video.shape[0], text.shape[0])]
    if len(usable) < len(pool_sizes):
        logger.warning(
            "pool sizes %s exceed the gallery; skipped", sorted(set(pool_sizes) - set(usable))
        )
    if usable:
        result["pools"] = {str(c): pool_metrics(text, video, index, c, ks, seed) for c in usable}
    write_json(out_path, result)
    if ranks_path:
        with atomic_path(ranks_path, suffix=".npz") as tmp:
            np.savez(
                tmp,
                t2v=firsts["t2v"],
                v2t=firsts["v2t"],
                text_ids=sub["text_ids"],
                video_ids=sub["video_ids"][ranks["v2t_queries"]],
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

    from vidspace.io import write_json

    loaded = {}
    for model, path in ranks.items():
        with np.load(path, allow_pickle=False) as data:
            if "skipped" not in data.files:
                loaded[model] = {k: data[k] for k in data.files}
    result: dict = {"ks": list(ks), "bootstrap_resamples": n_boot, "pairs": []}
    for a, b in combinations(loaded, 2):
        ra, rb = loaded[a], loaded[b]
        for key in ("text_ids", "video_ids"):
            if not np.array_equal(ra[key], rb[key]):
                raise ValueError(f"{a} and {b} were not ranked on the same queries ({key})")
        pair: dict = {"a": a, "b": b}
        for direction in ("t2v", "v2t"):
            pair[direction] = {
                f"R@{k}": paired_bootstrap(ra[direction] <= k, rb[direction] <= k, n_boot, seed)
                for k in ks
            }
        result["pairs"].append(pair)
    write_json(out_path, result)
    return result
