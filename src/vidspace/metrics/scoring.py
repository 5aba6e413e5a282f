"""Score post-processing (dual softmax, inverted softmax, QB-Norm) and binary rescoring."""

from __future__ import annotations

import numpy as np


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
