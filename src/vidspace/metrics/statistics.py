"""Uncertainty: bootstrap intervals and paired tests."""

from __future__ import annotations

import numpy as np


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
