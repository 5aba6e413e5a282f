"""Embedding throughput of real-size architectures with random weights (device machine),
and whether preprocessing hides behind the model (benchmark b of the embedding issue).

    python benchmarks/gpu_throughput.py --families siglip xclip --videos 256

For each family and each place the image processor runs (``--preprocess device workers``):
save a random checkpoint at the published size, load it through the registry, then time
(1) the DataLoader alone (workers preparing batches, no model), (2) forward_videos alone
on prepared batches (with ``device`` this includes resizing/normalising on the GPU),
(3) the whole encode_all; report videos/s and wall / max(loader, model) (target <= 1.2).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vidspace.frames import TimedFrames
from vidspace.models import load
from vidspace.models.encode import _Batches, encode_all
from vidspace.testing.checkpoints import build_checkpoint

SIZE = os.environ.get("THROUGHPUT_SIZE", "real")  # "tiny" for a dry run here


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _input_side(image_processor) -> int:
    crop = getattr(image_processor, "crop_size", None)
    size = getattr(image_processor, "size", None) or {}
    return int(crop["height"] if crop else size.get("height") or 224)  # Qwen: pixel budget


def measure(
    family: str, n_videos: int, batch: int, workers: int, device: str, preprocess: str
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = build_checkpoint(family, Path(tmp) / family, size=SIZE)
        spec = {"adapter": family, "path": str(path)}
        if family != "qwen3_vl":  # Qwen's processor also writes the prompt: always in workers
            spec["preprocess"] = preprocess
        enc = load(spec, device)
        image_processor = getattr(enc.processor, "image_processor", enc.processor)
        side = _input_side(image_processor)
        frames_per_clip = getattr(enc, "num_frames", 8)
        rng = np.random.default_rng(0)
        frames = rng.integers(0, 255, (n_videos, frames_per_clip, side, side, 3), dtype=np.uint8)
        if getattr(enc, "wants_times", False):  # 2 frames per second
            times = np.tile(np.arange(frames_per_clip, dtype=np.float32) / 2, (n_videos, 1))
            frames = TimedFrames(frames, times)
        bounds = [(s, min(n_videos, s + batch)) for s in range(0, n_videos, batch)]
        loader = torch.utils.data.DataLoader(
            _Batches(enc.preprocess_videos, frames, bounds),
            batch_size=None,
            num_workers=workers,
            pin_memory=device.startswith("cuda"),
            prefetch_factor=2,
        )
        encode_all(enc, "videos", frames[: 2 * batch], batch, "warm-up", num_workers=0)
        sync()
        start = time.perf_counter()
        prepared = [b for _, _, b in loader]
        loader_s = time.perf_counter() - start
        sync()
        start = time.perf_counter()
        for b in prepared:
            enc.forward_videos(b)
        sync()
        model_s = time.perf_counter() - start
        del prepared
        start = time.perf_counter()
        encode_all(enc, "videos", frames, batch, "pipeline", num_workers=workers)
        sync()
        wall_s = time.perf_counter() - start
        texts = [f"a person does thing number {i} in a kitchen" for i in range(4096)]
        start = time.perf_counter()
        encode_all(enc, "texts", texts, 512, "texts") if enc.has_text else None
        sync()
        text_s = time.perf_counter() - start
        params = sum(p.numel() for p in enc.model.parameters())
    return {
        "family": family,
        "preprocess": "device" if getattr(enc, "on_device", False) else "workers",
        "params_M": round(params / 1e6, 1),
        "frames_per_clip": frames_per_clip,
        "image_side": side,
        "videos": n_videos,
        "batch": batch,
        "workers": workers,
        "loader_s": round(loader_s, 3),
        "model_s": round(model_s, 3),
        "wall_s": round(wall_s, 3),
        "wall_over_max": round(wall_s / max(loader_s, model_s), 2),
        "videos_per_s": round(n_videos / wall_s, 1),
        "texts_per_s": round(4096 / text_s, 1) if enc.has_text else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--families", nargs="+", default=["siglip", "xclip"])
    p.add_argument("--videos", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--preprocess", nargs="+", default=["device", "workers"])
    p.add_argument("--out", default="gpu_throughput.json")
    a = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "size": SIZE,
        "runs": [],
    }
    for family in a.families:
        for preprocess in a.preprocess if family != "qwen3_vl" else ["workers"]:
            run = measure(family, a.videos, a.batch, a.workers, device, preprocess)
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    Path(a.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
