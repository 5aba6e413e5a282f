"""Compressed variants of an embedding file: lower precision or fewer dimensions.

Rows are L2-normalised first. Quantised variants are stored dequantised (float32 values
that scoring uses); ``bytes_per_vector`` records what the compressed code takes. A variant
may also name a similarity post-processing (``scoring``: dual_softmax, inverted_softmax,
qb_norm, with ``temperature``), which the retrieval stage applies.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidspace.io import load_embeddings, load_sidecar, save_embeddings
from vidspace.linalg import l2_normalize

logger = logging.getLogger(__name__)

PRECISION_KINDS = (
    "float32",
    "float16",
    "int8",
    "int4",
    "binary",
    "faiss_sq8",
    "faiss_sq4",
    "faiss_pq",
)
DIMENSION_KINDS = ("pca", "random_projection", "prefix")
KINDS = PRECISION_KINDS + DIMENSION_KINDS
SCORING_KEYS = ("scoring", "temperature")


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


def fit_pca(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (D, dim) projection onto the top principal components of x."""
    x = np.asarray(x, np.float64)
    if dim > min(x.shape):
        raise ValueError(f"pca: dim={dim} exceeds min(rows, dims) of the fit set {x.shape}")
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:dim].T


def _fit_rows(
    arrays: dict[str, np.ndarray], video: np.ndarray, need: int
) -> tuple[np.ndarray, str]:
    """Rows a fitted transform learns from: the train split when it has enough rows."""
    split = arrays.get("split")
    train = split == "train" if split is not None else np.zeros(len(video), bool)
    if train.sum() > need:
        return video[train], "train"
    return video, "gallery"


def _faiss_codec(kind: str, spec: dict, fit: np.ndarray):
    import faiss

    d = fit.shape[1]
    if kind == "faiss_pq":
        m = int(spec.get("m", max(1, d // 8)))
        nbits = int(spec.get("nbits", 8))
        if d % m:
            raise ValueError(f"faiss_pq: m={m} must divide the dimension {d}")
        if fit.shape[0] < 2**nbits:
            raise ValueError(
                f"faiss_pq: {fit.shape[0]} training vectors for {2**nbits} centroids per "
                "sub-quantizer; lower nbits"
            )
        codec = faiss.ProductQuantizer(d, m, nbits)
    else:
        qtype = (
            faiss.ScalarQuantizer.QT_8bit if kind == "faiss_sq8" else faiss.ScalarQuantizer.QT_4bit
        )
        codec = faiss.ScalarQuantizer(d, qtype)
    codec.train(np.ascontiguousarray(fit, dtype=np.float32))

    def roundtrip(x: np.ndarray) -> np.ndarray:
        return codec.decode(codec.compute_codes(np.ascontiguousarray(x, dtype=np.float32)))

    return roundtrip, float(codec.code_size)


def _whitener(fit: np.ndarray, eps: float = 1e-6):
    """ZCA whitening fitted on ``fit`` rows: x -> (x - mean) C^{-1/2}."""
    fit = np.asarray(fit, np.float64)
    mean = fit.mean(0)
    cov = np.cov(fit - mean, rowvar=False, bias=True).reshape(fit.shape[1], fit.shape[1])
    w, v = np.linalg.eigh(cov)
    inv_sqrt = (v / np.sqrt(np.maximum(w, eps * max(w.max(), eps)))) @ v.T
    return lambda x: ((x - mean) @ inv_sqrt).astype(np.float32)


def apply_variant(arrays: dict[str, np.ndarray], spec: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Transform the video (and text) embeddings of ``arrays`` as ``spec`` says.

    Quantizers (int8/int4 scales, FAISS codecs) are fitted on the video gallery; PCA and
    whitening on its train split where that exists (else the gallery). Every transform is
    applied to both modalities.
    """
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
        if spec.get("rescore"):
            # the float vectors travel with the codes for the second stage
            out["rescore_video_emb"] = video
            if text is not None:
                out["rescore_text_emb"] = text
            meta["rescore"] = int(spec["rescore"])
            meta["rescore_bytes_per_vector"] = float(4 * d)  # float vectors, read from disk
    elif kind.startswith("faiss_"):
        # like int8/int4: the codec is trained on the gallery it will encode (a range
        # learnt on the train split alone clips gallery values outside it)
        fn, nbytes = _faiss_codec(kind, spec, video)
        meta["fit_on"] = "gallery"
    else:
        dim = int(spec["dim"])
        if dim > d:
            raise ValueError(f"{kind}: dim={dim} exceeds the embedding dimension {d}")
        if kind == "pca":
            fit, fit_on = _fit_rows(arrays, video, dim)
            mean, proj = fit_pca(fit, dim)

            def fn(x, mean=mean, proj=proj):
                return ((x - mean) @ proj).astype(np.float32)

            meta["fit_on"] = fit_on
        elif kind == "random_projection":
            seed = int(spec.get("seed", 0))
            proj = np.random.default_rng(seed).normal(size=(d, dim)) / np.sqrt(dim)
            fn = lambda x: (x @ proj).astype(np.float32)  # noqa: E731
            meta["seed"] = seed
        else:  # prefix: Matryoshka-style truncation
            fn = lambda x: np.ascontiguousarray(x[:, :dim])  # noqa: E731
        nbytes = 4 * dim
        meta["dim"] = dim
    if spec.get("rescore") and kind != "binary":
        raise ValueError(f"rescore applies to the binary variant, not {kind!r}")
    if spec.get("whiten"):
        if kind not in DIMENSION_KINDS:
            raise ValueError(
                f"whiten applies to dimension variants {DIMENSION_KINDS}, not {kind!r}"
            )
        fit, meta["whiten_fit_on"] = _fit_rows(arrays, video, int(spec["dim"]))
        base = fn
        white = _whitener(base(fit))
        fn = lambda x: white(base(x))  # noqa: E731
        meta["whiten"] = True
    out["video_emb"] = fn(video)
    if text is not None:
        out["text_emb"] = fn(text)
    meta["bytes_per_vector"] = float(nbytes)
    meta["dim"] = int(out["video_emb"].shape[1])
    for key in SCORING_KEYS:
        if key in spec:
            meta[key] = spec[key]
    return out, meta


def transform(in_path: str | Path, out_path: str | Path, name: str, spec: dict) -> dict:
    arrays = load_embeddings(in_path)
    out, meta = apply_variant(arrays, spec)
    meta = {"variant": name, "spec": spec, "source": load_sidecar(in_path).get("model"), **meta}
    save_embeddings(out_path, out, meta)
    logger.info("%s: %s, %.0f bytes per vector", name, spec, meta["bytes_per_vector"])
    return meta
