"""Timing helpers shared by the benchmark scripts (not a test: numbers, not asserts)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def paired_embeddings(n: int, d: int, noise: float = 0.05, seed: int = 0):
    """(text, video, index): n unit video rows and n unit captions near their own video."""
    rng = np.random.default_rng(seed)
    video = rng.normal(size=(n, d)).astype(np.float32)
    video /= np.linalg.norm(video, axis=1, keepdims=True)
    text = video + rng.normal(scale=noise, size=video.shape).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return text, video, np.arange(n)
