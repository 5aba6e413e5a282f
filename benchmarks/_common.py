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


def traced(fn: Callable[..., object], *args) -> tuple[float, int]:
    """(wall seconds, peak bytes allocated above the start) of one call ``fn(*args)``;
    tracemalloc sees NumPy's buffers."""
    import tracemalloc

    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    fn(*args)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak - base


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


def square_crop(frames: np.ndarray, short_side: int) -> np.ndarray:
    """The frame store before faithful inputs: short side resized (antialiased bilinear)
    to ``short_side``, centre-cropped to a square. Kept to measure what it cost."""
    import torch
    import torch.nn.functional as F

    t, h, w, _ = frames.shape
    scale = short_side / min(h, w)
    nh, nw = max(short_side, round(h * scale)), max(short_side, round(w * scale))
    top, left = (nh - short_side) // 2, (nw - short_side) // 2
    x = (
        torch.from_numpy(np.ascontiguousarray(frames))
        .permute(0, 3, 1, 2)
        .contiguous(memory_format=torch.channels_last)
    )
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    x = x[:, :, top : top + short_side, left : left + short_side]
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())
