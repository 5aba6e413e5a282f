"""Candidate pools (docs/definitions.md): each query ranked against C sampled candidates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidspace.metrics.ranking import DEFAULT_CHUNK_ELEMENTS, _caption_groups, _check_inputs


def pool_metrics(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    text_video_index: np.ndarray,
    pool_size: int,
    ks: Sequence[int] = (10,),
    seed: int = 0,
    max_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> dict:
    """Ranking within sampled candidate pools that always hold a relevant item.

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
