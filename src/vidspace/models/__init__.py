"""Model registry and the embed stage.

Contract: ``load(spec, device) -> encoder`` with

- ``encode_videos(frames: (B, T, H, W, 3) uint8) -> (B, D) float32``
- ``encode_texts(texts: list[str]) -> (B, D) float32`` when ``encoder.has_text``
- optionally ``align(video_emb, text_emb, text_video_index, split) -> (video, text, info)``,
  for encoders that fit a mapping on the train split (``aligned``).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from vidspace.frames import load_frames
from vidspace.io import save_embeddings

logger = logging.getLogger(__name__)


class Encoder(Protocol):
    has_text: bool
    dim: int

    def encode_videos(self, frames: np.ndarray) -> np.ndarray: ...

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


def _random(spec: dict, device: str) -> Encoder:
    from vidspace.models.baselines import RandomEncoder

    return RandomEncoder(**_options(spec))


def _descriptor(spec: dict, device: str) -> Encoder:
    from vidspace.models.baselines import DescriptorEncoder

    return DescriptorEncoder(**_options(spec))


def _hf_text(spec: dict, device: str) -> Encoder:
    from vidspace.models.hf_text import HFTextEncoder

    return HFTextEncoder(device=device, **_options(spec))


def _aligned(spec: dict, device: str) -> Encoder:
    from vidspace.models.aligned import AlignedEncoder

    opts = _options(spec)
    video = load(opts.pop("video"), device)
    text = load(opts.pop("text"), device)
    return AlignedEncoder(video, text, **opts)


REGISTRY: dict[str, Callable[[dict, str], Encoder]] = {
    "random": _random,
    "descriptor": _descriptor,
    "hf_text": _hf_text,
    "aligned": _aligned,
}
# Named in config.yaml for full reproduction; their adapters are not written yet.
PLANNED = ("clip", "siglip", "xclip", "videomae", "qwen3_vl", "hf_auto")


def _options(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "adapter"}


def check_adapter(name: str) -> None:
    if name in REGISTRY:
        return
    if name in PLANNED:
        raise NotImplementedError(
            f"model adapter {name!r} is planned but not implemented in this version; "
            f"available: {sorted(REGISTRY)}"
        )
    raise ValueError(f"unknown model adapter {name!r}; available: {sorted(REGISTRY)}")


def load(spec: dict, device: str = "cpu") -> Encoder:
    """Build the encoder a config model entry describes."""
    if not isinstance(spec, dict) or "adapter" not in spec:
        raise ValueError(f"a model spec needs an 'adapter' key, got {spec!r}")
    check_adapter(spec["adapter"])
    return REGISTRY[spec["adapter"]](spec, device)


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device


def _batched(fn: Callable[[Any], np.ndarray], items, batch_size: int, desc: str) -> np.ndarray:
    out = []
    for start in tqdm(range(0, len(items), batch_size), desc=desc, unit="batch"):
        out.append(np.asarray(fn(items[start : start + batch_size]), dtype=np.float32))
    return np.concatenate(out)


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if platform.system() == "Linux" else peak / 2**20


def embed_dataset(
    frames_path: str | Path,
    manifest_path: str | Path,
    captions_path: str | Path,
    model_name: str,
    spec: dict,
    out_path: str | Path,
    device: str = "auto",
    batch_size: int = 16,
) -> dict:
    """Embed every sampled video and every caption of a video that was sampled.

    Captions are matched to video rows by id, never by position; captions of videos that
    failed earlier are dropped and counted in the sidecar.
    """
    started = time.perf_counter()
    device = resolve_device(device)
    frames, video_ids = load_frames(frames_path)
    manifest = pd.read_parquet(manifest_path).set_index("video_id")
    captions = pd.read_parquet(captions_path)
    missing = sorted(set(video_ids) - set(manifest.index))
    if missing:
        raise ValueError(f"{frames_path}: videos {missing[:5]} are not in {manifest_path}")
    row_of = {vid: i for i, vid in enumerate(video_ids)}
    kept = captions[captions["video_id"].isin(row_of)].reset_index(drop=True)
    dropped = len(captions) - len(kept)
    if dropped:
        logger.info(
            "dropping %d captions of %d videos that were not sampled",
            dropped,
            captions.loc[~captions["video_id"].isin(row_of), "video_id"].nunique(),
        )
    encoder = load(spec, device)
    arrays: dict[str, np.ndarray] = {
        "video_ids": video_ids,
        "categories": manifest.loc[video_ids, "category"].fillna("").astype(str).to_numpy(),
        "split": manifest.loc[video_ids, "split"].fillna("").astype(str).to_numpy(),
    }
    video_emb = _batched(encoder.encode_videos, frames, batch_size, f"{model_name} videos")
    _check_finite(video_emb, video_ids, model_name, "video")
    info: dict[str, Any] = {}
    if encoder.has_text:
        texts = kept["caption"].astype(str).tolist()
        text_emb = _batched(encoder.encode_texts, texts, batch_size * 8, f"{model_name} texts")
        _check_finite(text_emb, kept["caption_id"].to_numpy(), model_name, "text")
        text_index = kept["video_id"].map(row_of).to_numpy(np.int64)
        if hasattr(encoder, "align"):
            video_emb, text_emb, info = encoder.align(
                video_emb, text_emb, text_index, arrays["split"]
            )
        arrays.update(
            text_emb=text_emb,
            text_ids=kept["caption_id"].astype(str).to_numpy(),
            text_video_index=text_index,
        )
    arrays["video_emb"] = video_emb
    meta = {
        "model": model_name,
        "spec": spec,
        "dim": int(video_emb.shape[1]),
        "n_videos": int(video_emb.shape[0]),
        "n_captions": int(len(kept)) if encoder.has_text else 0,
        "n_captions_dropped": int(dropped),
        "frames_shape": list(frames.shape),
        "dtype": "float32",
        "device": device,
        "host": platform.node(),
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE", ""),
        **info,
    }
    save_embeddings(out_path, arrays, meta)
    logger.info("%s: %d videos x %d dims in %.1fs", model_name, *video_emb.shape, meta["seconds"])
    return meta


def _check_finite(emb: np.ndarray, ids: np.ndarray, model: str, what: str) -> None:
    bad = ~np.all(np.isfinite(emb), axis=1)
    if bad.any():
        raise ValueError(
            f"model {model!r} produced NaN or inf {what} embeddings for {int(bad.sum())} "
            f"items, e.g. {ids[bad][:5].tolist()}"
        )
