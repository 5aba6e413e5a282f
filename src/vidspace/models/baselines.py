"""Encoders that need no download: a chance-level reference and a weight-free descriptor."""

from __future__ import annotations

import hashlib

import numpy as np


def _seed_of(data: bytes) -> np.random.Generator:
    digest = hashlib.sha256(data).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class RandomEncoder:
    """Chance-level reference (as MTEB's random baseline): each embedding is a Gaussian
    vector seeded from a hash of the input, so equal inputs get equal vectors and the
    result does not depend on batch order."""

    has_text = True

    def __init__(self, dim: int = 512):
        if dim < 1:
            raise ValueError(f"random: dim must be positive, got {dim}")
        self.dim = int(dim)

    def encode_videos(self, clips) -> np.ndarray:
        return np.stack(
            [_seed_of(np.ascontiguousarray(c).tobytes()).standard_normal(self.dim) for c in clips]
        ).astype(np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack(
            [_seed_of(t.encode("utf-8")).standard_normal(self.dim) for t in texts]
        ).astype(np.float32)


def _hist(pixels: np.ndarray, bins: int) -> np.ndarray:
    """Normalised joint RGB histogram of (P, 3) values in [0, 1]."""
    if pixels.shape[0] == 0:
        return np.zeros(bins**3, dtype=np.float64)
    q = np.minimum((pixels * bins).astype(np.int64), bins - 1)
    codes = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
    return np.bincount(codes, minlength=bins**3) / pixels.shape[0]


def _slope(y: np.ndarray) -> float:
    """Least-squares slope of y over time scaled to [0, 1] (change across the clip)."""
    if y.size < 2:
        return 0.0
    t = np.linspace(0.0, 1.0, y.size)
    t = t - t.mean()
    return float(np.sum(t * (y - y.mean())) / np.sum(t * t))


class DescriptorEncoder:
    """Weight-free video descriptor: colour and motion statistics of the sampled frames.

    The background colour is the median of the border pixels; foreground is what differs
    from it. Features: RGB histograms of the whole clip and of the foreground, background
    colour, the foreground's position, size, fill ratio and their change over the clip,
    and frame-difference energy. Video only: it has no text tower.

    With ``window: W`` it is frame-level, as CLIP and SigLIP are: each sampled frame gets
    the descriptor of the W frames centred on it (cut at the clip's ends), the embed stage
    keeps these rows (``frame_emb``) and the video embedding is their mean.
    """

    has_text = False
    pooling = "mean"

    def __init__(self, bins: int = 3, threshold: float = 0.2, window: int | None = None):
        if window is not None and int(window) < 1:
            raise ValueError(f"descriptor: window must be a positive frame count, got {window}")
        self.bins = int(bins)
        self.threshold = float(threshold)
        self.window = None if window is None else int(window)
        self.frame_level = self.window is not None
        self.dim = 2 * self.bins**3 + 3 + 12

    def describe(self, clip: np.ndarray) -> np.ndarray:
        f = clip.astype(np.float32) / 255.0  # (T, H, W, 3)
        t, h, w, _ = f.shape
        border = np.concatenate(
            [
                f[:, 0].reshape(-1, 3),
                f[:, -1].reshape(-1, 3),
                f[:, :, 0].reshape(-1, 3),
                f[:, :, -1].reshape(-1, 3),
            ]
        )
        bg = np.median(border, axis=0)
        fg = np.linalg.norm(f - bg, axis=-1) > self.threshold  # (T, H, W)
        yy, xx = np.mgrid[0:h, 0:w]
        xx, yy = xx / max(1, w - 1), yy / max(1, h - 1)
        area, cx, cy, fill = (np.zeros(t) for _ in range(4))
        for i in range(t):
            m = fg[i]
            n = m.sum()
            area[i] = n / (h * w)
            if n:
                cx[i], cy[i] = xx[m].mean(), yy[m].mean()
                ys, xs = np.nonzero(m)
                box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
                fill[i] = n / box
            else:
                cx[i] = cy[i] = 0.5
        energy = float(np.abs(np.diff(f, axis=0)).mean()) if t > 1 else 0.0
        log_area = np.log(area + 1e-4)
        motion = np.array(
            [
                _slope(cx),
                _slope(cy),
                _slope(log_area) / 4.0,
                cx[0],
                cy[0],
                cx[-1],
                cy[-1],
                area.mean() * 4.0,
                fill.mean(),
                np.abs(_slope(cx)) + np.abs(_slope(cy)),
                energy * 10.0,
                float(np.std(log_area)) / 2.0,
            ]
        )
        return np.concatenate(
            [_hist(f.reshape(-1, 3), self.bins), _hist(f[fg], self.bins), bg, motion]
        ).astype(np.float32)

    def encode_videos(self, frames: np.ndarray) -> np.ndarray:
        if self.frame_level:
            return self.encode_video_frames(frames).mean(axis=1)
        return np.stack([self.describe(clip) for clip in frames])

    def encode_video_frames(self, frames: np.ndarray) -> np.ndarray:
        """(B, T, D): the descriptor of the ``window`` frames centred on each frame."""
        if not self.frame_level:
            raise TypeError("the descriptor is frame-level only with a window")
        before = (self.window - 1) // 2
        after = self.window - 1 - before
        return np.stack(
            [
                np.stack(
                    [
                        self.describe(clip[max(0, i - before) : i + after + 1])
                        for i in range(len(clip))
                    ]
                )
                for clip in frames
            ]
        )

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        raise TypeError("the descriptor encoder is video-only and has no text tower")
