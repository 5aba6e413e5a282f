"""Compressed variants of an embedding file: lower precision or fewer dimensions.

Rows are L2-normalised first. Quantised variants are stored dequantised (float32 values
that scoring uses); ``bytes_per_vector`` records what the compressed code would take.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidspace.io import load_embeddings, load_sidecar, save_embeddings
from vidspace.metrics import l2_normalize

logger = logging.getLogger(__name__)

KINDS = ("float32", "float16", "int8", "int4", "binary", "pca")


def quantize_symmetric(x: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """Round to ``bits``-bit signed integers with a per-dimension scale; return dequantised."""
    qmax = 2 ** (bits - 1) - 1
    q = np.clip(np.round(x / scale), -qmax, qmax)
    return (q * scale).astype(np.float32)


def calibrate_scale(gallery: np.ndarray, bits: int) -> np.ndarray:
    """Per-dimension scale so the gallery's largest magnitude maps to the top code."""
    qmax = 2 ** (bits - 1) - 1
    peak = np.abs(gallery).max(axis=0)
    return np.where(peak > 0, peak / qmax, 1.0).astype(np.float32)


def fit_pca(x: np.ndarray, dim: int, whiten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (D, dim) projection of the top principal components (scaled if whiten)."""
    x = np.asarray(x, np.float64)
    if dim > min(x.shape):
        raise ValueError(f"pca: dim={dim} exceeds min(rows, dims) of the fit set {x.shape}")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    proj = vt[:dim].T
    if whiten:
        proj = proj / np.maximum(s[:dim] / np.sqrt(max(1, x.shape[0] - 1)), 1e-12)
    return mean, proj


def apply_variant(arrays: dict[str, np.ndarray], spec: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Transform the video (and text) embeddings of ``arrays`` as ``spec`` says."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown variant kind {kind!r}; available: {list(KINDS)}")
    out = dict(arrays)
    out.pop("frame_emb", None)  # per-frame rows are not transformed
    video = l2_normalize(arrays["video_emb"])
    text = l2_normalize(arrays["text_emb"]) if "text_emb" in arrays else None
    d = video.shape[1]
    meta: dict = {"kind": kind}
    if kind == "float32":
        fn, nbytes = (lambda x: x), 4 * d
    elif kind == "float16":
        fn, nbytes = (lambda x: x.astype(np.float16).astype(np.float32)), 2 * d
    elif kind in ("int8", "int4"):
        bits = 8 if kind == "int8" else 4
        scale = calibrate_scale(video, bits)
        fn, nbytes = (lambda x: quantize_symmetric(x, scale, bits)), bits * d / 8
        meta["calibrated_on"] = "gallery"
    elif kind == "binary":
        fn, nbytes = (lambda x: np.where(x >= 0, 1.0, -1.0).astype(np.float32)), d / 8
    else:  # pca
        dim = int(spec["dim"])
        split = arrays.get("split")
        train = split == "train" if split is not None else np.zeros(len(video), bool)
        fit_on = "train" if train.sum() > dim else "gallery"
        mean, proj = fit_pca(
            video[train] if fit_on == "train" else video, dim, bool(spec.get("whiten", False))
        )
        fn = lambda x: ((x - mean) @ proj).astype(np.float32)  # noqa: E731
        nbytes = 4 * dim
        meta.update(fit_on=fit_on, dim=dim, whiten=bool(spec.get("whiten", False)))
    out["video_emb"] = fn(video)
    if text is not None:
        out["text_emb"] = fn(text)
    meta["bytes_per_vector"] = float(nbytes)
    meta["dim"] = int(out["video_emb"].shape[1])
    return out, meta


def transform(in_path: str | Path, out_path: str | Path, name: str, spec: dict) -> dict:
    arrays = load_embeddings(in_path)
    out, meta = apply_variant(arrays, spec)
    meta = {"variant": name, "spec": spec, "source": load_sidecar(in_path).get("model"), **meta}
    save_embeddings(out_path, out, meta)
    logger.info("%s: %s, %.0f bytes per vector", name, spec, meta["bytes_per_vector"])
    return meta
