"""Hugging Face video-text and video-only encoders, loaded through ``from_pretrained``.

- ``clip`` / ``siglip``: the image tower on every sampled frame, pooled over time (mean by
  default; ``max`` or the ``middle`` frame as options), and the text tower.
- ``xclip``: X-CLIP's native video tower. We use the *unconditioned* features
  (``get_video_features`` / ``get_text_features``): the full model rewrites each text with a
  video-conditioned prompt, which gives a different text vector per video and so no fixed
  embedding space to measure. Scores therefore differ from X-CLIP's ``logits_per_text``.
- ``videomae``: video only; the mean-pooled last hidden state.

Each encoder splits work into ``preprocess_*`` (CPU, safe in DataLoader workers) and
``forward_*`` (the model, on its device, under bf16 autocast on CUDA). Videos arrive as
clips of decoded frames at their own size (``vidspace.frames.FrameStore``); the
checkpoint's own image processor resizes, crops and normalises them, as its model card
prescribes (CLIP: short side + centre crop, bicubic; SigLIP: the whole frame squashed to
its size; X-CLIP / VideoMAE: their VideoMAE processor); ``preprocess: device`` (the
default on CUDA) runs it on the GPU inside ``forward_videos``, so workers only hand over
uint8 frames (on the lent H200, 12 CPU workers running SigLIP's processor needed 8.2 s for
what the so400m tower computed in 9.2 s).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def load_pretrained(path: str, revision: str | None, kind: str, model_cls=None, processor_cls=None):
    """(processor, model) from a hub id or a local directory, with errors that say what is
    missing. The classes default to AutoModel / AutoProcessor. ``HF_HUB_OFFLINE=1`` is
    honoured by transformers itself."""
    from transformers import AutoModel, AutoProcessor

    model_cls = model_cls or AutoModel
    processor_cls = processor_cls or AutoProcessor

    local = Path(path).is_dir()
    kwargs = {} if local or revision is None else {"revision": revision}
    if local and not any(
        (Path(path) / f).exists() for f in ("preprocessor_config.json", "processor_config.json")
    ):
        raise ValueError(
            f"{kind}: checkpoint directory {path} has no processor (preprocessor_config.json); "
            "save one beside the model with processor.save_pretrained"
        )
    try:
        processor = processor_cls.from_pretrained(path, **kwargs)
        model = model_cls.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise ValueError(
            f"{kind}: cannot load {path!r}: {exc}. Offline, point 'path' at a local "
            "directory saved with save_pretrained"
        ) from exc
    return processor, model.eval()


def _runs_on_devices(image_processor) -> bool:
    """transformers' torchvision-backed image processors take a ``device`` argument."""
    try:
        from transformers.image_processing_backends import TorchvisionBackend
    except ImportError:
        return False
    return isinstance(image_processor, TorchvisionBackend)


def _images(clips, per_clip: bool) -> list:
    """B clips of T frames (arrays or tensors, each clip at its own size) as an image
    processor's input: B videos of T frames (``per_clip``), or B*T single images."""
    if per_clip:
        return [list(clip) for clip in clips]
    return [frame for clip in clips for frame in clip]


def _check_frames(kind: str, clips, expected: int) -> None:
    got = len(clips[0]) if len(clips) else expected
    if got != expected:
        raise ValueError(
            f"{kind}: the checkpoint expects {expected} frames per clip, the sampling gives "
            f"{got}; set the sampling's num_frames to match"
        )


def _features(output):
    """transformers 5 returns a model output whose pooler_output holds the projection."""
    return output if hasattr(output, "shape") else output.pooler_output


class _HFBase:
    kind = "hf"

    def __init__(
        self,
        path: str,
        revision: str | None = None,
        device: str = "cpu",
        max_length: int | None = None,
        pooling: str = "mean",
        preprocess: str = "auto",
    ):
        import torch

        if pooling not in ("mean", "max", "middle"):
            raise ValueError(f"{self.kind}: pooling must be mean, max or middle, got {pooling!r}")
        if preprocess not in ("auto", "device", "workers"):
            raise ValueError(
                f"{self.kind}: preprocess must be auto, device or workers, got {preprocess!r}"
            )
        self._torch = torch
        self.path, self.device, self.pooling = path, device, pooling
        # where frames are resized and normalised: in forward on the model's device, or in
        # preprocess (DataLoader workers)
        self.on_device = preprocess == "device" or (
            preprocess == "auto" and str(device).startswith("cuda")
        )
        self.processor, model = self._load(path, revision)
        self.model = model.to(device)
        if self.on_device and not _runs_on_devices(
            getattr(self.processor, "image_processor", self.processor)
        ):
            if preprocess == "device":
                raise ValueError(
                    f"{self.kind}: the image processor of {path} cannot run on a device "
                    "(not a torchvision-backed processor); use preprocess: workers"
                )
            logger.info("%s: image processor runs in the workers (no device support)", self.kind)
            self.on_device = False
        tokenizer = getattr(self.processor, "tokenizer", None)
        self.tokenizer = tokenizer
        limit = getattr(tokenizer, "model_max_length", None) if tokenizer else None
        self.max_length = int(max_length or (limit if limit and limit < 100_000 else 77))

    def _load(self, path: str, revision: str | None):
        return load_pretrained(path, revision, self.kind)

    def _autocast(self):
        torch = self._torch
        if str(self.device).startswith("cuda"):
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return torch.autocast(device_type="cpu", enabled=False)

    def _frames_batch(self, image_processor, clips, per_clip: bool = False) -> dict:
        """B clips of (T, H, W, 3) uint8 frames (any H, W per clip) -> {"pixel_values"}
        through the image processor (every frame alone, or ``per_clip`` as videos), or
        {"frames"} left for ``_pixels`` on the device; plus the (B, T) shape."""
        torch = self._torch
        b, t = len(clips), len(clips[0])
        batch = {"shape": torch.tensor([b, t])}
        if self.on_device:  # copies: the clips may be views of a memmap
            batch["frames"] = [torch.from_numpy(np.array(clip)) for clip in clips]
            return batch
        images = _images(clips, per_clip)
        batch["pixel_values"] = image_processor(images, return_tensors="pt")["pixel_values"]
        return batch

    def _pixels(self, image_processor, batch: dict, per_clip: bool = False):
        """pixel_values on the model's device: prepared by a worker, or made here from the
        uint8 frames by the same image processor running on the device."""
        if "pixel_values" in batch:
            return batch["pixel_values"].to(self.device, non_blocking=True)
        clips = [c.to(self.device, non_blocking=True).permute(0, 3, 1, 2) for c in batch["frames"]]
        out = image_processor(_images(clips, per_clip), device=self.device, return_tensors="pt")
        return out["pixel_values"]

    def _pool_frames(self, per_frame, shape):
        """(B*T, D) frame features -> (B, D) by the configured pooling over time."""
        b, t = (int(x) for x in shape)
        per_frame = per_frame.float().reshape(b, t, -1)
        if self.pooling == "mean":
            return per_frame.mean(1)
        if self.pooling == "max":
            return per_frame.max(1).values
        return per_frame[:, t // 2]

    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # -- text --------------------------------------------------------------------------
    padding: str | bool = True

    def preprocess_texts(self, texts: list[str]) -> dict:
        full = self.tokenizer(list(texts), truncation=False)["input_ids"]
        truncated = sum(len(ids) > self.max_length for ids in full)
        if truncated:
            logger.info(
                "%s: truncated %d of %d texts to %d tokens",
                self.kind,
                truncated,
                len(texts),
                self.max_length,
            )
        return dict(
            self.tokenizer(
                list(texts),
                padding=self.padding,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
        )

    def forward_texts(self, batch: dict) -> np.ndarray:
        with self._torch.inference_mode(), self._autocast():
            out = _features(self.model.get_text_features(**self._to_device(batch)))
        return out.float().cpu().numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.forward_texts(self.preprocess_texts(texts))

    def encode_videos(self, frames: np.ndarray) -> np.ndarray:
        return self.forward_videos(self.preprocess_videos(frames))


class FrameTowerEncoder(_HFBase):
    """CLIP / SigLIP: image tower per frame, pooled over time."""

    has_text = True

    def __init__(self, *args, kind: str = "clip", **kwargs):
        self.kind = kind
        super().__init__(*args, **kwargs)
        if kind == "siglip":
            self.padding = "max_length"  # SigLIP was trained on max-length padded text
        config = self.model.config
        self.dim = int(getattr(config, "projection_dim", 0) or config.vision_config.hidden_size)

    # the embed stage asks for per-frame rows (``video_frames``) and pools them itself, so
    # the embedding file keeps them (``frame_emb``) for pooling analyses
    frame_level = True

    def preprocess_videos(self, frames: np.ndarray) -> dict:
        return self._frames_batch(self.processor.image_processor, frames)

    preprocess_video_frames = preprocess_videos

    def _frame_features(self, batch: dict):
        with self._torch.inference_mode():
            pixels = self._pixels(self.processor.image_processor, batch)
            with self._autocast():
                return _features(self.model.get_image_features(pixel_values=pixels))

    def forward_videos(self, batch: dict) -> np.ndarray:
        return self._pool_frames(self._frame_features(batch), batch["shape"]).cpu().numpy()

    def forward_video_frames(self, batch: dict) -> np.ndarray:
        """(B, T, D) float32 features of every frame, before pooling."""
        b, t = (int(x) for x in batch["shape"])
        return self._frame_features(batch).float().reshape(b, t, -1).cpu().numpy()

    def encode_video_frames(self, frames: np.ndarray) -> np.ndarray:
        return self.forward_video_frames(self.preprocess_videos(frames))


class XCLIPEncoder(_HFBase):
    kind = "xclip"
    has_text = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dim = int(self.model.config.projection_dim)
        self.num_frames = int(self.model.config.vision_config.num_frames)

    def preprocess_videos(self, frames: np.ndarray) -> dict:
        _check_frames(self.kind, frames, self.num_frames)
        return self._frames_batch(self.processor.image_processor, frames, per_clip=True)

    def forward_videos(self, batch: dict) -> np.ndarray:
        with self._torch.inference_mode():
            pixels = self._pixels(self.processor.image_processor, batch, per_clip=True)
            with self._autocast():
                out = _features(self.model.get_video_features(pixel_values=pixels))
        return out.float().cpu().numpy()


class VideoMAEEncoder(_HFBase):
    kind = "videomae"
    has_text = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dim = int(self.model.config.hidden_size)
        self.num_frames = int(self.model.config.num_frames)

    def preprocess_videos(self, frames: np.ndarray) -> dict:
        _check_frames(self.kind, frames, self.num_frames)
        return self._frames_batch(self.processor, frames, per_clip=True)

    def forward_videos(self, batch: dict) -> np.ndarray:
        with self._torch.inference_mode():
            pixels = self._pixels(self.processor, batch, per_clip=True)
            with self._autocast():
                hidden = self.model(pixel_values=pixels).last_hidden_state
        return hidden.float().mean(1).cpu().numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        raise TypeError("videomae is video-only; pair it with a text encoder in 'aligned'")


class GenericHFEncoder(_HFBase):
    """Any checkpoint, configured by class and method names (``hf_auto``).

    ``model_class`` / ``processor_class`` name transformers classes (default: the Auto
    classes). ``video_mode``: ``frames`` runs ``image_method`` on every frame and pools over
    time; ``clip`` passes the whole clip to ``video_method``; ``hidden`` mean-pools the
    last hidden state of ``model(pixel_values=...)``. ``text_method`` (or null for
    video-only models) embeds captions.
    """

    kind = "hf_auto"

    def __init__(
        self,
        path: str,
        revision: str | None = None,
        device: str = "cpu",
        max_length: int | None = None,
        pooling: str = "mean",
        preprocess: str = "auto",
        model_class: str = "AutoModel",
        processor_class: str = "AutoProcessor",
        video_mode: str = "frames",
        image_method: str = "get_image_features",
        video_method: str = "get_video_features",
        text_method: str | None = "get_text_features",
    ):
        import transformers

        if video_mode not in ("frames", "clip", "hidden"):
            raise ValueError(
                f"hf_auto: video_mode must be frames, clip or hidden, got {video_mode!r}"
            )
        for name in (model_class, processor_class):
            if not hasattr(transformers, name):
                raise ValueError(f"hf_auto: transformers has no class {name!r}")
        self._classes = (getattr(transformers, model_class), getattr(transformers, processor_class))
        self.video, self.image_method, self.video_method = video_mode, image_method, video_method
        self.text_method = text_method
        super().__init__(path, revision, device, max_length, pooling, preprocess)
        self.has_text = text_method is not None
        wanted = (
            image_method if video_mode == "frames" else None,
            video_method if video_mode == "clip" else None,
            text_method,
        )
        for method in [m for m in wanted if m]:
            if not hasattr(self.model, method):
                raise ValueError(f"hf_auto: {type(self.model).__name__} has no method {method!r}")
        self.dim = 0  # known after the first batch

    def _load(self, path, revision):
        model_cls, processor_cls = self._classes
        return load_pretrained(path, revision, self.kind, model_cls, processor_cls)

    def _image_processor(self):
        return getattr(self.processor, "image_processor", self.processor)

    def preprocess_videos(self, frames: np.ndarray) -> dict:
        return self._frames_batch(self._image_processor(), frames, self.video != "frames")

    def forward_videos(self, batch: dict) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            pixels = self._pixels(self._image_processor(), batch, self.video != "frames")
        with torch.inference_mode(), self._autocast():
            if self.video == "frames":
                out = _features(getattr(self.model, self.image_method)(pixel_values=pixels))
                out = self._pool_frames(out, batch["shape"])
            elif self.video == "clip":
                out = _features(getattr(self.model, self.video_method)(pixel_values=pixels))
            else:
                out = self.model(pixel_values=pixels).last_hidden_state.float().mean(1)
        self.dim = int(out.shape[-1])
        return out.float().cpu().numpy()

    def forward_texts(self, batch: dict) -> np.ndarray:
        if self.text_method is None:
            raise TypeError("hf_auto: no text_method configured (a video-only model)")
        with self._torch.inference_mode(), self._autocast():
            out = _features(getattr(self.model, self.text_method)(**self._to_device(batch)))
        return out.float().cpu().numpy()
