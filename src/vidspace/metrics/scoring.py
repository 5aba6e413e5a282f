"""Score post-processing (dual softmax, inverted softmax, QB-Norm), multi-grained
(video plus frame) scores, and binary rescoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    peak = np.max(x, axis=axis, keepdims=True)
    return peak + np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True))


SCORINGS = ("dot", "dual_softmax", "inverted_softmax", "qb_norm", "multi_grained")
FRAME_AGGREGATIONS = ("max", "topk", "softmax")


@dataclass(frozen=True)
class MultiGrained:
    """Multi-grained similarity (SUMA, arXiv 2302.09473; CRET, Ji et al.), training-free:
    S = S_g + beta S_l.

    S_g is the usual caption-video cosine; S_l aggregates the caption's cosine to each of
    the video's frames: ``max`` over frames, ``topk`` (mean of the ``top_k`` largest), or
    ``softmax`` (the frame cosines weighted by their softmax at ``temperature``).
    ``frames`` are the (N, T, D) per-frame rows of the gallery, L2-normalised here.
    """

    frames: np.ndarray
    beta: float
    aggregation: str = "max"
    top_k: int = 2
    temperature: float = 0.1

    def __post_init__(self):
        if not np.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"multi_grained: beta must be a number >= 0, got {self.beta}")
        if self.aggregation not in FRAME_AGGREGATIONS:
            raise ValueError(
                f"multi_grained: aggregation must be one of {list(FRAME_AGGREGATIONS)}, "
                f"got {self.aggregation!r}"
            )
        if self.aggregation == "topk" and int(self.top_k) < 1:
            raise ValueError(f"multi_grained: top_k must be >= 1, got {self.top_k}")
        if self.aggregation == "softmax" and not self.temperature > 0:
            raise ValueError(f"multi_grained: temperature must be positive, got {self.temperature}")
        frames = np.asarray(self.frames, np.float32)
        if frames.ndim != 3 or frames.shape[1] == 0:
            raise ValueError(f"multi_grained: frames must be (N, T, D), got {frames.shape}")
        norms = np.linalg.norm(frames, axis=2, keepdims=True)
        object.__setattr__(self, "frames", frames / np.maximum(norms, 1e-12))

    @classmethod
    def from_spec(cls, frames: np.ndarray, spec: dict) -> MultiGrained:
        keys = ("aggregation", "top_k", "temperature")
        return cls(frames, float(spec.get("beta", 0.0)), **{k: spec[k] for k in keys if k in spec})

    def local_scores(self, text: np.ndarray, chunk_elements: int = 2**26) -> np.ndarray:
        """(M, N) S_l of the (M, D) captions against every video's frames."""
        n, t, d = self.frames.shape
        text = np.asarray(text, np.float32)
        out = np.empty((text.shape[0], n), np.float32)
        step = max(1, chunk_elements // max(1, text.shape[0] * t))
        for start in range(0, n, step):
            block = self.frames[start : start + step]
            sims = (text @ block.reshape(-1, d).T).reshape(text.shape[0], len(block), t)
            out[:, start : start + len(block)] = self._aggregate(sims)
        return out

    def _aggregate(self, sims: np.ndarray) -> np.ndarray:
        if self.aggregation == "max":
            return sims.max(axis=2)
        if self.aggregation == "topk":
            k = min(int(self.top_k), sims.shape[2])
            return np.sort(sims, axis=2)[:, :, -k:].mean(axis=2)
        logits = sims.astype(np.float64) / self.temperature
        weights = np.exp(logits - _logsumexp(logits, axis=2))
        return (weights * sims).sum(axis=2).astype(np.float32)

    def scores(self, text: np.ndarray, video_scores: np.ndarray) -> np.ndarray:
        """S = S_g + beta S_l, given S_g (M x N)."""
        return video_scores + np.float32(self.beta) * self.local_scores(text)


def rescored_keys(binary: np.ndarray, exact: np.ndarray, top: int, axis: int) -> np.ndarray:
    """Two-stage ranking (binary shortlist, float re-ranking) as one matrix of sort keys.

    For each query (rows if axis=1, columns if axis=0) the shortlist is the ``top`` items
    with the highest ``binary`` score, ties at the cut broken by the ``exact`` score (items
    tied in both scores at the cut all enter). The shortlist is ordered by ``exact`` above
    every other item; the others keep their ``binary`` order. Ranking the keys with the
    usual rule (ties against the model) gives the two-stage ranks.

    Only comparisons of scores are used, never their scale: sign codes may be raw ±1 or
    L2-normalised, and the exact scores need not be bounded. The keys are float64 whose
    order (and ties) within each query equals the two-stage order.
    """
    if top < 1:
        raise ValueError(f"rescore must be a positive number of candidates, got {top}")
    binary = np.asarray(binary, np.float64)
    exact = np.asarray(exact, np.float64)
    if binary.shape != exact.shape or binary.ndim != 2:
        raise ValueError(f"binary {binary.shape} and exact {exact.shape} scores must be equal 2-D")
    if axis == 0:
        return rescored_keys(binary.T, exact.T, top, axis=1).T
    top = min(int(top), binary.shape[1])
    # the top-th largest binary score of each row: everything above it is in
    cut = -np.partition(-binary, top - 1, axis=1)[:, top - 1 : top]
    above = binary > cut
    at_cut = binary == cut
    need = top - above.sum(axis=1, keepdims=True)  # >= 1 places left for items at the cut
    exact_at_cut = -np.sort(-np.where(at_cut, exact, -np.inf), axis=1)
    threshold = np.take_along_axis(exact_at_cut, need - 1, axis=1)
    shortlist = above | (at_cut & (exact >= threshold))
    keys = binary.copy()
    # shortlisted items: the order of their exact scores, shifted above every binary score;
    # dense ranks of the exact values keep that order and its ties exactly
    _, exact_order = np.unique(exact[shortlist], return_inverse=True)
    keys[shortlist] = binary.max() + 1.0 + exact_order
    return keys


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
    if scoring == "multi_grained":
        raise ValueError(
            "multi_grained scores are built from the frames (query_ranks(multi_grained=...)), "
            "not post-processed"
        )
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
