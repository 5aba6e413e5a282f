"""Small array helpers shared by the stages."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


@contextmanager
def deterministic_torch():
    """torch on one CPU thread with deterministic algorithms, restored afterwards: the
    fits that use it (neural MDS, DEC) give the same bytes from one seed on any load."""
    import torch

    threads = torch.get_num_threads()
    was = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was)


def l2_normalize(x: np.ndarray, eps: float = 1e-12, dtype=np.float32) -> np.ndarray:
    """Rows scaled to unit L2 norm in ``dtype`` (zero rows stay zero)."""
    x = np.asarray(x, dtype=dtype)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


POOLINGS = ("mean", "max", "middle")


def pool_frames(frame_emb: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """(N, T, D) per-frame embeddings -> (N, D) float32: mean, max, or the middle frame."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
    frames = np.asarray(frame_emb, dtype=np.float32)
    if frames.ndim != 3 or frames.shape[1] == 0:
        raise ValueError(f"per-frame embeddings must be (N, T, D) with T >= 1, got {frames.shape}")
    if pooling == "mean":
        return frames.mean(axis=1)
    if pooling == "max":
        return frames.max(axis=1)
    return np.ascontiguousarray(frames[:, frames.shape[1] // 2])
