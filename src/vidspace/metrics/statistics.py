"""Uncertainty: cluster-bootstrap intervals and paired tests (docs/definitions.md, "Uncertainty").

Queries are not independent draws when several captions describe one video: the unit
resampled is the video (the cluster). A resampled video brings all of its captions; the
statistic of a resample is the mean over the queries it holds (a ratio estimator). With
one query per cluster this is the ordinary bootstrap of the mean, draw for draw.
"""

from __future__ import annotations

import numpy as np


def _clusters(values: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Cluster id 0..G-1 of each value (each value its own cluster when None)."""
    if clusters is None:
        return np.arange(values.size)
    clusters = np.asarray(clusters)
    if clusters.shape != values.shape:
        raise ValueError(
            f"clusters has shape {clusters.shape}, expected one per value {values.shape}"
        )
    return np.unique(clusters, return_inverse=True)[1].reshape(-1)


def bootstrap_means(
    values: np.ndarray, n_boot: int, seed: int, clusters: np.ndarray | None = None
) -> np.ndarray:
    """Means of ``n_boot`` cluster-bootstrap resamples of ``values`` (1-D).

    Each resample draws G clusters with replacement (G = number of clusters) and averages
    the values of every query in the drawn clusters, so a cluster drawn twice counts its
    queries twice.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"bootstrap needs a non-empty 1-D array, got shape {values.shape}")
    if n_boot < 1:
        raise ValueError(f"bootstrap needs at least one resample, got {n_boot}")
    ids = _clusters(values, clusters)
    groups = int(ids.max()) + 1
    sums = np.bincount(ids, weights=values, minlength=groups)
    counts = np.bincount(ids, minlength=groups).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, (1 << 22) // groups)  # bounded memory: step x G draws at a time
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        drawn = rng.integers(0, groups, (stop - start, groups))
        means[start:stop] = sums[drawn].sum(1) / counts[drawn].sum(1)
    return means


def bootstrap_ci(
    values: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    clusters: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(values), resampling ``clusters`` of queries.

    ``clusters`` (one id per value, e.g. the video each caption describes) makes it a
    cluster bootstrap; None resamples the values themselves.
    """
    means = bootstrap_means(values, n_boot, seed, clusters)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 10000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> dict:
    """Paired bootstrap of mean(a) - mean(b) over the same queries.

    Both models are resampled with the same draws of ``clusters`` (videos), so the test
    sees the correlation between them and between captions of one video. Returns the
    difference, its 95 % percentile interval and a two-sided p-value (twice the share of
    resampled differences on the far side of zero, capped at 1).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired bootstrap needs two equal 1-D arrays, got {a.shape}, {b.shape}")
    diff = a - b
    means = bootstrap_means(diff, n_boot, seed, clusters)
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
        "n_clusters": int(np.unique(_clusters(diff, clusters)).size),
    }
