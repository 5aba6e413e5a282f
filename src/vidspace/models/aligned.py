"""Pair any video encoder with any text encoder through a linear map fitted on train pairs.

Scoring video-only encoders (VideoMAE, the weight-free descriptor) on text retrieval needs a
shared space. ``cca`` fits regularised canonical correlation analysis on the (video,
caption) pairs of the train split only, then projects every video and caption;
``procrustes`` fits an orthogonal map (both encoders must have the same dimension).
"""

from __future__ import annotations

import logging

import numpy as np

from vidspace.core.io import TRANSDUCTIVE

logger = logging.getLogger(__name__)

# canonical correlations at or below this are numerically zero (n pairs support at most
# n - 1 directions): their dimensions carry rounding noise and are set to zero
CCA_TOLERANCE = 1e-6


def _inv_sqrt(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T


def fit_cca(
    x: np.ndarray, y: np.ndarray, dim: int, reg: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regularised CCA of paired rows. Returns (mean_x, mean_y, A, B, correlations).

    Each covariance gets ``reg`` times its mean variance added to the diagonal.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    n = x.shape[0]
    cxx = xc.T @ xc / n
    cyy = yc.T @ yc / n
    cxx += reg * np.trace(cxx) / cxx.shape[0] * np.eye(cxx.shape[0])
    cyy += reg * np.trace(cyy) / cyy.shape[0] * np.eye(cyy.shape[0])
    wx, wy = _inv_sqrt(cxx), _inv_sqrt(cyy)
    u, s, vt = np.linalg.svd(wx @ (xc.T @ yc / n) @ wy)
    k = min(dim, s.size)
    return mx, my, wx @ u[:, :k], wy @ vt.T[:, :k], s[:k]


def _fit_recall_at_1(video, text, index, rows) -> float:
    """Text->video R@1 of the fitted pairs among the fitted videos (cosine; ties against)."""
    position = np.cumsum(rows) - 1  # each fitted video's row among the fitted ones
    video = video / np.maximum(np.linalg.norm(video, axis=1, keepdims=True), 1e-12)
    text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    scores = text @ video.T
    own = scores[np.arange(len(text)), position[index]]
    return float(np.mean((scores >= own[:, None]).sum(1) == 1))


class Alignment:
    """The linear map ``aligned`` fits on the train pairs, after every row is embedded (so
    a sharded embed job fits it once, on the merged rows). Needs no encoder."""

    def __init__(
        self, method: str = "cca", dim: int = 32, reg: float = 0.1, weight_power: float = 1.0
    ):
        if method not in ("cca", "procrustes"):
            raise ValueError(f"aligned: unknown method {method!r}; use 'cca' or 'procrustes'")
        self.method, self.dim, self.reg, self.weight_power = (
            method,
            int(dim),
            float(reg),
            weight_power,
        )

    @classmethod
    def from_spec(cls, spec: dict) -> Alignment:
        keys = ("method", "dim", "reg", "weight_power")
        return cls(**{k: spec[k] for k in keys if k in spec})

    def align(self, video_emb, text_emb, text_video_index, split, frame_emb=None):
        """Fit on the train pairs and map every row. ``frame_emb`` (N, T, D), per-frame rows
        whose mean is ``video_emb``, goes through the same affine map (so the mapped video
        rows stay the mean of the mapped frames); it is returned as ``info["frame_emb"]``."""
        split = np.asarray(split)
        train_videos = split == "train"
        fit_on = "train"
        if not train_videos.any():
            # no split apart: fit on every pair, and say so: every variant of this model is
            # then marked transductive (its numbers are optimistic), as a PCA fitted on the
            # evaluated videos is
            train_videos = np.ones(len(video_emb), bool)
            fit_on = TRANSDUCTIVE
            logger.warning(
                "aligned: no train split: the alignment is fitted on every video, the "
                "evaluated ones included (transductive)"
            )
        pairs = train_videos[text_video_index]
        vx, ty = video_emb[text_video_index[pairs]], text_emb[pairs]
        notes = []
        if self.method == "cca":
            mx, my, a, b, corr = fit_cca(vx, ty, self.dim, self.reg)
            degenerate = corr <= CCA_TOLERANCE
            if degenerate.any():
                notes.append(
                    f"aligned: {int(degenerate.sum())} of {corr.size} CCA dimensions have a "
                    f"canonical correlation at most {CCA_TOLERANCE:g} (numerically zero: "
                    f"{int(pairs.sum())} pairs of {int(train_videos.sum())} videos support "
                    f"{int((~degenerate).sum())}); they are set to zero"
                )
                logger.warning("%s", notes[-1])
            # rounding noise carries no pairing: a zero weight keeps the dimension constant
            weight = np.where(corr > CCA_TOLERANCE, corr**self.weight_power, 0.0)
            video_map = lambda x: ((x - mx) @ a) * weight  # noqa: E731
            text_out = ((text_emb - my) @ b) * weight
            info_corr = corr.tolist()
        else:
            if vx.shape[1] != ty.shape[1]:
                raise ValueError(
                    f"aligned: procrustes needs equal dimensions, got video {vx.shape[1]} and "
                    f"text {ty.shape[1]}; use method: cca"
                )
            mx, my = vx.mean(0), ty.mean(0)
            u, _, vt = np.linalg.svd((vx - mx).T @ (ty - my))
            video_map = lambda x: (x - mx) @ (u @ vt)  # noqa: E731
            text_out = text_emb - my
            info_corr = []
        video_out = video_map(video_emb)
        logger.info("aligned (%s): fitted on %d pairs (%s)", self.method, int(pairs.sum()), fit_on)
        info = {
            "align_method": self.method,
            "align_fit_on": fit_on,
            "align_pairs": int(pairs.sum()),
            "canonical_correlations": info_corr,
            # text->video R@1 among the videos the map was fitted on, to set against the
            # evaluated split's (an alignment that overfits retrieves its own pairs only)
            "align_fit_r1": _fit_recall_at_1(
                video_out[train_videos], text_out[pairs], text_video_index[pairs], train_videos
            ),
            "notes": notes,
        }
        if frame_emb is not None:
            info["frame_emb"] = video_map(np.asarray(frame_emb, np.float64)).astype(np.float32)
        return video_out.astype(np.float32), text_out.astype(np.float32), info


class AlignedEncoder:
    """Any video encoder and any text encoder, mapped into one space by an
    :class:`Alignment` fitted on the train pairs."""

    has_text = True

    def __init__(self, video, text, **alignment):
        if getattr(text, "has_text", False) is False:
            raise ValueError("aligned: the 'text' encoder has no text tower")
        self.video, self.text = video, text
        self.alignment = Alignment(**alignment)
        # a frame-level video encoder keeps its per-frame rows, mapped like the videos
        self.frame_level = bool(getattr(video, "frame_level", False))
        self.pooling = getattr(video, "pooling", None) if self.frame_level else None

    def encode_videos(self, frames: np.ndarray) -> np.ndarray:
        return self.video.encode_videos(frames)

    def encode_video_frames(self, frames: np.ndarray) -> np.ndarray:
        return self.video.encode_video_frames(frames)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.text.encode_texts(texts)

    def align(self, video_emb, text_emb, text_video_index, split, frame_emb=None):
        return self.alignment.align(video_emb, text_emb, text_video_index, split, frame_emb)
