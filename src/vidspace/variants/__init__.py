"""Compressed variants of an embedding file: lower precision or fewer dimensions.

Rows are L2-normalised first. Quantised variants are stored dequantised (float32 values
that scoring uses); ``bytes_per_vector`` records what the compressed code takes. A variant
may also name a similarity post-processing (``scoring``: dual_softmax, inverted_softmax,
qb_norm, with ``temperature``), which the retrieval stage applies, or multi-grained scores
(``scoring: multi_grained`` with ``beta``, ``aggregation``): then the variant keeps the
per-frame rows, transformed as the videos are.

Everything fitted (quantizer scales, FAISS codecs, PCA, neural MDS, whitening) learns from
the train split when it is disjoint from the evaluated split and large enough, and
otherwise from the evaluated videos themselves; the sidecar's ``fits`` says which (``train`` or
``evaluated (transductive)``) for each fitted part.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidspace.core.config import defaults_for
from vidspace.core.errors import TooFewRows
from vidspace.core.io import (
    TRAIN,
    TRANSDUCTIVE,
    eval_rows,
    load_embeddings,
    load_sidecar,
    save_embeddings,
)
from vidspace.core.linalg import l2_normalize, pool_frames

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
DIMENSION_KINDS = ("pca", "random_projection", "prefix", "neural_mds")
KINDS = PRECISION_KINDS + DIMENSION_KINDS
SCORING_KEYS = ("scoring", "temperature", "beta", "aggregation", "top_k")
CALIBRATIONS = ("per_modality", "joint")


class VariantSkipped(ValueError):
    """The data cannot support this variant (no per-frame rows, too few rows to fit): the
    transform stage records the skip and its reason instead of failing the run."""


NO_FRAMES = (
    "no per-frame embeddings (frame_emb): only frame-level models (clip, siglip, a "
    "descriptor with a window) store them"
)


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
        raise TooFewRows(f"pca: dim={dim} exceeds min(rows, dims) of the fit set {x.shape}")
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:dim].T


def fit_rows(arrays: dict[str, np.ndarray], split: str, need: int = 0) -> tuple[np.ndarray, str]:
    """Video rows a fitted transform learns from, and what they are.

    The train split when the file has one that shares no video with the evaluated
    ``split`` and has more than ``need`` rows; otherwise the evaluated videos themselves
    (transductive, and labelled so).
    """
    evaluated = eval_rows(arrays, split)
    if "split" in arrays:
        train = np.asarray(arrays["split"]) == "train"
        if train.sum() > need and not (train & evaluated).any():
            return train, TRAIN
        if train.any():
            logger.warning(
                "train split (%d videos) unusable for a fit needing more than %d rows "
                "outside split %r: fitting on the evaluated videos",
                int(train.sum()),
                need,
                split,
            )
    return evaluated, TRANSDUCTIVE


def pq_shape(spec: dict, d: int) -> tuple[int, int]:
    """faiss_pq's sub-quantizers (``m``; absent: D/8, which only the data knows) and bits
    per code (``nbits``, its default from the schema)."""
    return int(spec["m"]) if "m" in spec else max(1, d // 8), int(spec["nbits"])


def _faiss_codec(kind: str, spec: dict, fit: np.ndarray):
    import faiss

    d = fit.shape[1]
    if kind == "faiss_pq":
        m, nbits = pq_shape(spec, d)
        if d % m:
            raise ValueError(f"faiss_pq: m={m} must divide the dimension {d}")
        if fit.shape[0] < 2**nbits:
            raise TooFewRows(
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


def _calibration(spec: dict) -> str:
    calibration = spec["calibration"]
    if calibration not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {calibration!r}; available: {list(CALIBRATIONS)}")
    return calibration


def _fitted_per_modality(fit_video, fit_text, calibration, make):
    """One fitted coder per modality (each on its own rows), or one on both modalities."""
    if fit_text is None or calibration == "joint":
        shared = make(fit_video if fit_text is None else np.concatenate([fit_video, fit_text]))
        return shared, shared
    return make(fit_video), make(fit_text)


def apply_variant(
    arrays: dict[str, np.ndarray], spec: dict, split: str = "all"
) -> tuple[dict[str, np.ndarray], dict]:
    """Transform the video (and text) embeddings of ``arrays`` as ``spec`` says.

    Fitted parts learn from :func:`fit_rows` (the train split, or the evaluated ``split``
    when there is none). Quantizers (int8/int4 scales, FAISS codecs) are calibrated on
    each modality's own rows (``calibration: per_modality``, the default) or on both
    together (``joint``), so captions are never clipped with the videos' range. PCA and
    whitening are fitted on the video rows and applied to both modalities.
    """
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown variant kind {kind!r}; available: {list(KINDS)}")
    spec = defaults_for("variant", spec)  # the schema's defaults, for specs built in code
    out = dict(arrays)
    out.pop("frame_emb", None)  # per-frame rows are not kept, unless scored (below)
    meta: dict = {"kind": kind}
    multi_grained = spec.get("scoring") == "multi_grained"
    if multi_grained and "frame_emb" not in arrays:
        raise VariantSkipped(f"multi-grained scoring: {NO_FRAMES}")
    if multi_grained and spec.get("rescore"):
        raise ValueError("scoring multi_grained does not combine with binary rescore")
    if spec.get("pooling"):
        # temporal pooling as an analysis: the video rows again, from the stored frames
        if "frame_emb" not in arrays:
            raise VariantSkipped(f"pooling {spec['pooling']!r}: {NO_FRAMES}")
        arrays = dict(arrays, video_emb=pool_frames(arrays["frame_emb"], spec["pooling"]))
        meta["pooling"] = spec["pooling"]
    video = l2_normalize(arrays["video_emb"])
    text = l2_normalize(arrays["text_emb"]) if "text_emb" in arrays else None
    d = video.shape[1]
    fits: dict[str, str] = {}
    fn_text = None  # a different function for the captions (per-modality quantizers)

    def fit_sets(need: int = 0):
        rows, label = fit_rows(arrays, split, need)
        captions = None if text is None else text[rows[arrays["text_video_index"]]]
        return video[rows], captions, label

    if kind == "float32":
        fn, nbytes = (lambda x: x), 4 * d
    elif kind == "float16":
        fn, nbytes = (lambda x: x.astype(np.float16).astype(np.float32)), 2 * d
    elif kind in ("int8", "int4"):
        bits = 8 if kind == "int8" else 4
        fit_video, fit_text, fits["scale"] = fit_sets()
        calibration = _calibration(spec)
        scales = _fitted_per_modality(
            fit_video, fit_text, calibration, lambda rows: calibrate_scale(rows, bits)
        )
        fn = lambda x, s=scales[0]: quantize_symmetric(x, s, bits)  # noqa: E731
        fn_text = lambda x, s=scales[1]: quantize_symmetric(x, s, bits)  # noqa: E731
        nbytes = bits * d / 8
        meta["calibration"] = calibration
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
        fit_video, fit_text, fits["codec"] = fit_sets()
        calibration = _calibration(spec)
        codecs = _fitted_per_modality(
            fit_video, fit_text, calibration, lambda rows: _faiss_codec(kind, spec, rows)
        )
        (fn, nbytes), (fn_text, _) = codecs
        meta["calibration"] = calibration
    else:
        dim = int(spec["dim"])
        if dim > d:
            raise ValueError(f"{kind}: dim={dim} exceeds the embedding dimension {d}")
        if kind == "pca":
            fit_video, _, fits["pca"] = fit_sets(dim)
            mean, proj = fit_pca(fit_video, dim)

            def fn(x, mean=mean, proj=proj):
                return ((x - mean) @ proj).astype(np.float32)

        elif kind == "neural_mds":
            from vidspace.variants.neural_mds import fit_neural_mds

            rows, fits["neural_mds"] = fit_rows(arrays, split)
            fit_set = video[rows]
            if text is not None:  # both modalities: retrieval reads distances across them
                fit_set = np.concatenate([fit_set, text[rows[arrays["text_video_index"]]]])
            options = {k: spec[k] for k in ("loss", "epochs", "seed", "hidden")}
            unseen = eval_rows(arrays, split) & ~rows  # evaluated rows the fit did not see
            held_out = None
            if unseen.any():
                held_out = video[unseen]
                if text is not None:
                    held_out = np.concatenate([held_out, text[unseen[arrays["text_video_index"]]]])
            try:
                fn, facts = fit_neural_mds(fit_set, dim, held_out=held_out, **options)
            except TooFewRows as exc:
                raise VariantSkipped(str(exc)) from None
            meta["neural_mds"] = {"loss": spec["loss"], **facts}
        elif kind == "random_projection":
            seed = int(spec["seed"])
            proj = np.random.default_rng(seed).normal(size=(d, dim)) / np.sqrt(dim)
            fn = lambda x: (x @ proj).astype(np.float32)  # noqa: E731
            meta["seed"] = seed
        else:  # prefix: Matryoshka-style truncation
            fn = lambda x: np.ascontiguousarray(x[:, :dim])  # noqa: E731
        nbytes = 4 * dim
        meta["dim"] = dim
    if spec.get("rescore") and kind != "binary":
        raise ValueError(f"rescore applies to the binary variant, not {kind!r}")
    if spec.get("calibration") and "calibration" not in meta:
        raise ValueError(f"calibration applies to quantizers (int8, int4, faiss_*), not {kind!r}")
    if spec.get("whiten"):
        if kind not in DIMENSION_KINDS:
            raise ValueError(
                f"whiten applies to dimension variants {DIMENSION_KINDS}, not {kind!r}"
            )
        fit_video, _, fits["whitening"] = fit_sets(int(spec["dim"]))
        base = fn
        white = _whitener(base(fit_video))
        fn = lambda x: white(base(x))  # noqa: E731
        meta["whiten"] = True
    out["video_emb"] = fn(video)
    if text is not None:
        out["text_emb"] = (fn_text or fn)(text)
    if multi_grained:  # each frame through the videos' own transform
        frames = np.asarray(arrays["frame_emb"], np.float32)
        n, t, _ = frames.shape
        out["frame_emb"] = fn(l2_normalize(frames.reshape(n * t, d))).reshape(n, t, -1)
        meta["frame_bytes_per_video"] = float(nbytes * t)
    meta["bytes_per_vector"] = float(nbytes)
    meta["dim"] = int(out["video_emb"].shape[1])
    meta["fits"] = fits
    for key in SCORING_KEYS:
        if key in spec:
            meta[key] = spec[key]
    return out, meta


def transform(
    in_path: str | Path,
    out_path: str | Path,
    name: str,
    spec: dict,
    split: str = "all",
    meta_path: str | Path | None = None,
    out_meta_path: str | Path | None = None,
) -> dict:
    """The transform stage: one variant of an embedding file.

    ``split`` is the evaluation split (fits avoid it where a train split allows);
    ``meta_path`` the embedding file's sidecar (default: beside it). Fits made upstream
    (a model's alignment) are carried into the variant's ``fits``.
    """
    spec = defaults_for("variant", spec)
    frames = bool(spec.get("pooling")) or spec["scoring"] == "multi_grained"
    arrays = load_embeddings(in_path, frames=frames)
    source = load_sidecar(in_path, meta_path)
    try:
        out, meta = apply_variant(arrays, spec, split)
    except (VariantSkipped, TooFewRows) as exc:  # the data cannot support it: a reported skip
        out = {k: v for k, v in arrays.items() if k != "frame_emb"}
        meta = {
            "kind": spec["kind"],
            **{k: spec[k] for k in SCORING_KEYS if k in spec},
            "skipped": str(exc),
            "fits": {},
        }
        save_embeddings(out_path, out, {"variant": name, "spec": spec, **meta}, out_meta_path)
        logger.warning("%s: skipped: %s", name, exc)
        return meta
    # what the model itself fitted (an alignment, a fusion's weights) marks every variant;
    # a fit on the train split is transductive when this evaluation queries those videos too
    train = np.asarray(arrays.get("split", np.array([]))) == "train"
    overlap = bool(train.any() and (train & eval_rows(arrays, split)).any())
    model_fits = {"model alignment": "align_fit_on", "fusion weights": "fusion_fit_on"}
    for part, key in reversed(model_fits.items()):
        if source.get(key):
            on = TRANSDUCTIVE if source[key] == TRAIN and overlap else source[key]
            meta["fits"] = {part: on, **meta["fits"]}
    meta = {"variant": name, "spec": spec, "source": source.get("model"), **meta}
    save_embeddings(out_path, out, meta, out_meta_path)
    logger.info("%s: %s, %.0f bytes per vector", name, spec, meta["bytes_per_vector"])
    return meta
