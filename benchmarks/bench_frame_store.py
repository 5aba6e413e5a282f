"""Frame store designs, measured: what each costs on disk and in time, and how faithful the
embeddings are to each model's published preprocessing on full-resolution frames.

- ``crop224``: the old store, short side resized to 224 and centre-cropped (one store for
  every model; SigLIP then upscaled it to 384, Qwen3-VL to its minimum);
- ``decoded``: the store now, frames as decoded, aspect kept, long side at most
  ``max_side`` (1280); each model's processor resizes them;
- ``per-recipe``: one store per preprocessing recipe, each at that model's input size
  (CLIP bicubic 224 crop, X-CLIP/VideoMAE bilinear 224 crop, SigLIP 384 squash, Qwen3-VL
  its qwen-vl-utils size): bytes only, computed from the recipes' output sizes.

On generated H.264 clips at MSR-VTT's 320x240, YouTube 360p and 480p, 720p and 1080p (above the
bound), 8 frames each; tiny random checkpoints at the families' real input sizes give the
cosines (the model weights do not change which pixels go in).

    python benchmarks/bench_frame_store.py [--clips 6] [--frames 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import square_crop, table

from vidspace.datasets.synthetic import write_mp4
from vidspace.frames import DEFAULT_MAX_SIDE, TimedFrames, load_frames, sample_frames
from vidspace.models import load
from vidspace.testing.checkpoints import build_checkpoint

SIZES = {"msrvtt 320x240": (240, 320), "360p 640x360": (360, 640), "480p 854x480": (480, 854)}
SIZES |= {"720p 1280x720": (720, 1280), "1080p 1920x1080": (1080, 1920)}
FAMILIES = {
    "clip": {"image_size": 224, "patch_size": 32},
    "siglip": {"image_size": 384, "patch_size": 32},
    "xclip": {"image_size": 224, "patch_size": 32, "num_frames": 8},
    "videomae": {"image_size": 224, "patch_size": 32, "num_frames": 8},
    "qwen3_vl": {},
}


def scene(h: int, w: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        f = np.stack(
            [255 * xx / w, 128 + 100 * np.sin((xx + yy + 4 * i) / 15), 255 * yy / h], axis=-1
        )
        cy, cx = int(h * (0.5 + 0.3 * np.sin(i / 9 + seed))), int(w * (0.5 + 0.3 * np.cos(i / 7)))
        f[max(0, cy - h // 8) : cy + h // 8, max(0, cx - w // 10) : cx + w // 10] = (240, 40, 30)
        frames[i] = np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8)
    return frames


def qwen_size(h: int, w: int, frames: int) -> tuple[int, int]:
    """Frame size qwen-vl-utils gives a frame list (the official embedder's call)."""
    from PIL import Image
    from qwen_vl_utils import process_vision_info

    content = {"type": "video", "video": [Image.new("RGB", (w, h))] * frames}
    content["total_pixels"] = 10 * 768 * 32 * 32
    _, videos = process_vision_info([[{"role": "user", "content": [content]}]], image_patch_size=16)
    return tuple(videos[0].shape[-2:])


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clips", type=int, default=6, help="clips per size")
    p.add_argument("--frames", type=int, default=8)
    a = p.parse_args()
    t = a.frames
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        encoders = {}
        for family, kwargs in FAMILIES.items():
            path = build_checkpoint(family, root / family, **kwargs)
            encoders[family] = load({"adapter": family, "path": str(path)})
        for label, (h, w) in SIZES.items():
            tag = label.split()[0]
            names = [f"{tag}-{i}" for i in range(a.clips)]
            for i, name in enumerate(names):
                write_mp4(root / f"{name}.mp4", scene(h, w, 60, i), fps=30, gop=30)
            manifest = pd.DataFrame({"video_id": names, "path": [f"{n}.mp4" for n in names]})
            manifest = manifest.assign(category="", split="test", start=np.nan, end=np.nan)
            manifest.to_parquet(root / f"{tag}.parquet")
            args = (root / f"{tag}.parquet", root / f"{tag}.npz", root / "fail.csv")
            start = time.perf_counter()
            sample_frames(*args, "uniform", t, max_side=None)  # the oracle's full frames
            sample_full = time.perf_counter() - start
            full, _ = load_frames(root / f"{tag}.npz")
            full = list(full)
            start = time.perf_counter()
            sample_frames(*args, "uniform", t)  # the store as the workflow writes it
            sample_decoded = time.perf_counter() - start
            decoded_store, _ = load_frames(root / f"{tag}.npz")
            decoded = list(decoded_store)
            with np.load(root / f"{tag}.npz") as data:
                times = data["frame_times"]
            start = time.perf_counter()
            cropped = [square_crop(c, 224) for c in full]
            crop_time = time.perf_counter() - start
            per_clip = 1000 / a.clips
            qh, qw = qwen_size(*decoded[0].shape[1:3], t)
            recipes = 2 * 224 * 224 + 384 * 384 + qh * qw  # CLIP, X-CLIP/VideoMAE, SigLIP, Qwen
            rows += [
                (f"[{label}] bytes / 1,000 clips, crop224", f"{t * 224 * 224 * 3 / 1e6:.2f} GB"),
                (
                    f"[{label}] bytes / 1,000 clips, decoded (max_side {DEFAULT_MAX_SIDE})",
                    f"{decoded_store.pixels.nbytes * per_clip / 1e9:.2f} GB",
                ),
                (f"[{label}] bytes / 1,000 clips, per-recipe", f"{t * recipes * 3 / 1e6:.2f} GB"),
                (
                    f"[{label}] sample_frames s / 1,000 clips, decoded (crop224: + crop)",
                    f"{sample_decoded * per_clip:.0f} (+{crop_time * per_clip:.0f})",
                ),
            ]
            if sample_full != sample_decoded and (h, w) != decoded[0].shape[1:3]:
                rows.append(
                    (
                        f"[{label}] sample_frames s / 1,000 clips, unbounded",
                        f"{sample_full * per_clip:.0f}",
                    )
                )
            for family, enc in encoders.items():

                def embed(clips, enc=enc, times=times):
                    items = (
                        TimedFrames(clips, times) if getattr(enc, "wants_times", False) else clips
                    )
                    start = time.perf_counter()
                    out = enc.encode_videos(items)
                    return out, time.perf_counter() - start

                reference, _ = embed(full)
                ours, seconds = embed(decoded)
                old, old_seconds = embed(cropped)
                rows.append(
                    (
                        f"[{label}] {family}: cosine to full frames, crop224 / decoded (min)",
                        f"{cosines(old, reference).min():.6f} / "
                        f"{cosines(ours, reference).min():.6f}"
                        f"   embed s/clip {old_seconds / a.clips:.3f} / {seconds / a.clips:.3f}",
                    )
                )
    print(table(rows))


if __name__ == "__main__":
    main()
