"""Model registry: adapter name -> encoder factory (the embed stage is
:mod:`vidspace.models.stage`). Importing it loads no deep-learning framework, so config
validation stays fast.

Contract: ``load(spec, device) -> encoder`` with

- ``encode_videos(clips) -> (B, D) float32``: ``clips`` is a sequence of B (T, H, W, 3)
  uint8 arrays, each clip at its own size (a list, or an (B, T, H, W, 3) array)
- ``encode_texts(texts: list[str]) -> (B, D) float32`` when ``encoder.has_text``
- optionally ``align(video_emb, text_emb, text_video_index, split) -> (video, text, info)``,
  for encoders that fit a mapping on the train split (``aligned``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)


class Encoder(Protocol):
    has_text: bool
    dim: int

    def encode_videos(self, clips) -> np.ndarray: ...

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


def _frame_tower(kind: str) -> Callable[[dict, str], Encoder]:
    def build(spec: dict, device: str) -> Encoder:
        from vidspace.models.hf_video import FrameTowerEncoder

        return FrameTowerEncoder(device=device, kind=kind, **_options(spec))

    return build


def _xclip(spec: dict, device: str) -> Encoder:
    from vidspace.models.hf_video import XCLIPEncoder

    return XCLIPEncoder(device=device, **_options(spec))


def _videomae(spec: dict, device: str) -> Encoder:
    from vidspace.models.hf_video import VideoMAEEncoder

    return VideoMAEEncoder(device=device, **_options(spec))


def _qwen3_vl(spec: dict, device: str) -> Encoder:
    from vidspace.models.qwen3_vl import Qwen3VLEmbeddingEncoder

    return Qwen3VLEmbeddingEncoder(device=device, **_options(spec))


def _hf_auto(spec: dict, device: str) -> Encoder:
    from vidspace.models.hf_video import GenericHFEncoder

    return GenericHFEncoder(device=device, **_options(spec))


REGISTRY: dict[str, Callable[[dict, str], Encoder]] = {
    "random": _random,
    "descriptor": _descriptor,
    "hf_text": _hf_text,
    "aligned": _aligned,
    "clip": _frame_tower("clip"),
    "siglip": _frame_tower("siglip"),
    "xclip": _xclip,
    "videomae": _videomae,
    "qwen3_vl": _qwen3_vl,
    "hf_auto": _hf_auto,
}


def _options(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "adapter"}


def check_adapter(name: str) -> None:
    if name not in REGISTRY:
        raise ValueError(f"unknown model adapter {name!r}; available: {sorted(REGISTRY)}")


def load(spec: dict, device: str = "cpu") -> Encoder:
    """Build the encoder a config model entry describes."""
    if not isinstance(spec, dict) or "adapter" not in spec:
        raise ValueError(f"a model spec needs an 'adapter' key, got {spec!r}")
    check_adapter(spec["adapter"])
    return REGISTRY[spec["adapter"]](spec, device)
