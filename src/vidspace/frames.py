"""Frame sampling with decord: one uint8 array per dataset x sampling, reused by every model.

Frames are resized so the short side equals ``short_side`` and centre-cropped to a square,
so clips of any size stack into one (N, T, S, S, 3) array. A video that cannot be decoded
is recorded in the failures table with its reason and the run goes on.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vidspace.io import atomic_path, write_failures

logger = logging.getLogger(__name__)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def uniform_indices(n_available: int, num_frames: int, first: int = 0) -> np.ndarray:
    """Centres of ``num_frames`` equal segments of [first, first + n_available).

    Shorter clips repeat frames, so every video yields exactly ``num_frames`` indices.
    """
    if n_available < 1:
        raise ValueError("no frames in the requested segment")
    centres = (np.arange(num_frames) + 0.5) * n_available / num_frames
    return first + np.minimum(centres.astype(np.int64), n_available - 1)


def fps_indices(n_available: int, native_fps: float, fps: float, max_frames: int, first: int = 0):
    """Frames at ``fps`` per second, capped at ``max_frames`` (then spread uniformly)."""
    step = max(native_fps / fps, 1.0)
    idx = np.arange(0, n_available, step).astype(np.int64)
    if idx.size > max_frames:
        idx = idx[uniform_indices(idx.size, max_frames)]
    return first + idx


def resize_crop(frames: np.ndarray, short_side: int) -> np.ndarray:
    """(T, H, W, 3) -> (T, S, S, 3) uint8: antialiased resize of the short side, centre crop."""
    t, h, w, _ = frames.shape
    scale = short_side / min(h, w)
    nh, nw = max(short_side, round(h * scale)), max(short_side, round(w * scale))
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - short_side) // 2, (nw - short_side) // 2
    x = x[:, :, top : top + short_side, left : left + short_side]
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def read_clip(
    path: Path,
    method: str,
    num_frames: int,
    short_side: int,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode the sampled frames of one video; returns (frames (T,S,S,3), indices (T,))."""
    import decord

    if not path.exists():
        raise FileNotFoundError(f"missing file {path}")
    if path.stat().st_size == 0:
        raise ValueError("zero-byte file")
    if path.suffix.lower() in IMAGE_SUFFIXES:  # images as one-frame videos (COCO captions)
        from PIL import Image

        with Image.open(path) as image:
            frame = np.array(image.convert("RGB"))[None]
        return resize_crop(frame, short_side).repeat(num_frames, axis=0), np.zeros(
            num_frames, dtype=np.int64
        )
    reader = decord.VideoReader(str(path), num_threads=0)  # 0: decoder picks threads
    total = len(reader)
    native_fps = float(reader.get_avg_fps()) or 1.0
    first, last = 0, total
    if start is not None and not math.isnan(start):
        first = min(total - 1, max(0, int(start * native_fps)))
    if end is not None and not math.isnan(end):
        last = max(first + 1, min(total, int(math.ceil(end * native_fps))))
    if method == "uniform":
        idx = uniform_indices(last - first, num_frames, first)
    elif method == "fps":
        if not fps:
            raise ValueError("sampling method 'fps' needs a positive fps")
        idx = fps_indices(last - first, native_fps, fps, num_frames, first)
        idx = idx[uniform_indices(idx.size, num_frames)]  # fixed T so clips stack
    else:
        raise ValueError(f"unknown sampling method {method!r}; use 'uniform' or 'fps'")
    try:
        frames = reader.get_batch(idx.tolist()).asnumpy()
    except decord.DECORDError as exc:
        # decord 0.6 fails to copy frames whose row stride is padded (some widths, e.g. 48
        # px); PyAV decodes them correctly, only slower
        logger.info(
            "decord cannot copy frames of %s (%s); decoding with PyAV",
            path,
            str(exc).splitlines()[0][-80:],
        )
        frames = read_frames_pyav(path, idx)
    if frames.ndim != 4 or frames.shape[0] != idx.size:
        raise ValueError(f"decoder returned {frames.shape} for {idx.size} frames")
    return resize_crop(frames, short_side), idx


def read_frames_pyav(path: Path, indices: np.ndarray) -> np.ndarray:
    """Decode the frames at ``indices`` (any order, repeats allowed) with PyAV."""
    import av

    wanted = set(int(i) for i in indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                got[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
    missing = wanted - set(got)
    if missing:
        raise ValueError(f"PyAV found no frames at indices {sorted(missing)[:5]}")
    return np.stack([got[int(i)] for i in indices])


def sample_frames(
    manifest_path: str | Path,
    frames_path: str | Path,
    failures_path: str | Path,
    method: str = "uniform",
    num_frames: int = 8,
    short_side: int = 224,
    fps: float | None = None,
) -> dict:
    """Sample every video of a manifest into one ``frames.npz``; record failures."""
    manifest = pd.read_parquet(manifest_path)
    root = Path(manifest_path).parent
    frames, indices, ids, failures = [], [], [], []
    for row in tqdm(manifest.itertuples(index=False), total=len(manifest), desc="frames"):
        try:
            clip, idx = read_clip(
                root / row.path, method, num_frames, short_side, fps, row.start, row.end
            )
        except Exception as exc:  # noqa: BLE001 - one bad video must not stop the run
            message = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {message[0] if message else 'no message'}"[:300]
            logger.warning("cannot decode %s (%s): %s", row.video_id, row.path, reason)
            failures.append({"video_id": row.video_id, "stage": "sample_frames", "reason": reason})
            continue
        frames.append(clip)
        indices.append(idx)
        ids.append(row.video_id)
    if not frames:
        raise RuntimeError(
            f"none of the {len(manifest)} videos in {manifest_path} could be decoded: "
            + "; ".join(f"{f['video_id']}: {f['reason']}" for f in failures[:3])
        )
    write_failures(failures_path, failures)
    with atomic_path(frames_path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            frames=np.stack(frames),
            frame_indices=np.stack(indices),
            video_ids=np.array(ids, dtype=str),
        )
    logger.info("sampled %d videos, %d failed", len(ids), len(failures))
    return {"n_videos": len(ids), "n_failed": len(failures)}


def load_frames(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(frames (N, T, S, S, 3) uint8, video_ids (N,) str) from a ``frames.npz``."""
    with np.load(path, allow_pickle=False) as data:
        return data["frames"], data["video_ids"]
