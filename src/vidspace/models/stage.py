"""The embed stage: frames and captions in, the embedding file out.

Batches go through a DataLoader (preprocessing in workers), a batch that runs out of GPU
memory is halved, and finished rows are kept in a shard store so a killed job resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from vidspace.frames import TimedFrames, load_frame_times, load_frames
from vidspace.io import atomic_path, save_embeddings
from vidspace.linalg import pool_frames
from vidspace.models import Encoder, load

logger = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device


class ShardStore:
    """Finished batches of an embedding job, kept beside the output so a killed job resumes.

    Files ``{kind}-{start:09d}-{stop:09d}.npy`` hold the rows [start, stop). A fingerprint of
    the model spec and the item ids guards against resuming from another job's shards.
    """

    def __init__(self, directory: Path, fingerprint: str):
        self.dir = Path(directory)
        key = self.dir / "fingerprint.txt"
        if self.dir.exists() and (not key.exists() or key.read_text() != fingerprint):
            logger.info("discarding shards in %s: they belong to another job", self.dir)
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        key.write_text(fingerprint)

    def load(self, kind: str) -> list[np.ndarray]:
        """Contiguous finished rows from 0 (a gap ends the list)."""
        parts, expected = [], 0
        for path in sorted(self.dir.glob(f"{kind}-*.npy")):
            start, stop = (int(x) for x in path.stem.split("-")[1:])
            if start != expected:
                break
            parts.append(np.load(path))
            expected = stop
        return parts

    def save(self, kind: str, start: int, rows: np.ndarray) -> None:
        target = self.dir / f"{kind}-{start:09d}-{start + len(rows):09d}.npy"
        with atomic_path(target, suffix=".npy") as tmp:
            np.save(tmp, rows)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _encode_with_halving(encode: Callable, items, stats: dict) -> np.ndarray:
    """encode(items); on CUDA out-of-memory, free the cache and retry in two halves."""
    try:
        return np.asarray(encode(items), dtype=np.float32)
    except RuntimeError as exc:
        if not _is_oom(exc) or len(items) <= 1:
            raise
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half = len(items) // 2
    stats["oom_halvings"] = stats.get("oom_halvings", 0) + 1
    logger.warning(
        "out of memory on a batch of %d: retrying as %d + %d", len(items), half, len(items) - half
    )
    return np.concatenate(
        [
            _encode_with_halving(encode, items[:half], stats),
            _encode_with_halving(encode, items[half:], stats),
        ]
    )


class _Batches:
    """Map-style dataset of preprocessed batches, for DataLoader workers."""

    def __init__(self, preprocess, items, bounds):
        self.preprocess, self.items, self.bounds = preprocess, items, bounds

    def __len__(self):
        return len(self.bounds)

    def __getitem__(self, i):
        start, stop = self.bounds[i]
        return start, stop, self.preprocess(self.items[start:stop])


def encode_all(
    encoder: Encoder,
    kind: str,
    items,
    batch_size: int,
    desc: str,
    shards: ShardStore | None = None,
    num_workers: int = 0,
    shard_rows: int = 1024,
    stats: dict | None = None,
) -> np.ndarray:
    """Embed ``items`` (frames or texts) in batches.

    Encoders with ``preprocess_<kind>`` / ``forward_<kind>`` get their preprocessing done by
    ``num_workers`` DataLoader workers (pinned memory on CUDA) while the model computes.
    Finished rows are stored in ``shards`` every ``shard_rows`` rows; a rerun resumes after
    them. A CUDA out-of-memory batch is retried in halves.
    """
    stats = {} if stats is None else stats
    n = len(items)
    done = shards.load(kind) if shards else []
    first = sum(len(p) for p in done)
    if first:
        logger.info("%s: resuming after %d of %d %s from shards", desc, first, n, kind)
    pending: list[np.ndarray] = []
    pending_start = first
    bounds = [(s, min(n, s + batch_size)) for s in range(first, n, batch_size)]
    preprocess = getattr(encoder, f"preprocess_{kind}", None)
    forward = getattr(encoder, f"forward_{kind}", None)
    encode = getattr(encoder, f"encode_{kind}")
    if preprocess is not None and forward is not None and num_workers > 0:
        import torch

        cuda = str(getattr(encoder, "device", "cpu")).startswith("cuda")
        batches = torch.utils.data.DataLoader(
            _Batches(preprocess, items, bounds),
            batch_size=None,
            num_workers=num_workers,
            pin_memory=cuda,
            prefetch_factor=2,
        )
    else:
        batches = ((s, e, None) for s, e in bounds)
    for start, stop, prepared in tqdm(batches, total=len(bounds), desc=desc, unit="batch"):
        try:
            rows = (
                np.asarray(forward(prepared), dtype=np.float32)
                if prepared is not None
                else _encode_with_halving(encode, items[start:stop], stats)
            )
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            rows = _encode_with_halving(encode, items[start:stop], stats)
        pending.append(rows)
        if shards and (stop - pending_start >= shard_rows or stop == n):
            shards.save(kind, pending_start, np.concatenate(pending))
            done.append(np.concatenate(pending))
            pending, pending_start = [], stop
    parts = done + pending
    if not parts:
        raise ValueError(f"{desc}: nothing to encode")
    return np.concatenate(parts)


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
    num_workers: int | None = None,
) -> dict:
    """Embed every sampled video and every caption of a video that was sampled.

    Captions are matched to video rows by id, never by position; captions of videos that
    failed earlier are dropped and counted in the sidecar.
    """
    started = time.perf_counter()
    device = resolve_device(device)
    frames, video_ids = load_frames(frames_path, mmap=True)
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
    _check_sizes(encoder, frames, video_ids, model_name)
    arrays: dict[str, np.ndarray] = {
        "video_ids": video_ids,
        "categories": manifest.loc[video_ids, "category"].fillna("").astype(str).to_numpy(),
        "split": manifest.loc[video_ids, "split"].fillna("").astype(str).to_numpy(),
    }
    fingerprint = hashlib.sha256(
        json.dumps(
            [model_name, spec, video_ids.tolist(), captions["caption_id"].astype(str).tolist()],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    shards = ShardStore(Path(out_path).with_suffix(".partial"), fingerprint)
    if num_workers is None:
        num_workers = 4 if device.startswith("cuda") else 0
    stats: dict[str, int] = {}
    videos = (
        TimedFrames(frames, load_frame_times(frames_path))
        if getattr(encoder, "wants_times", False)
        else frames
    )
    frame_level = getattr(encoder, "frame_level", False)
    video_rows = encode_all(
        encoder,
        "video_frames" if frame_level else "videos",
        videos,
        batch_size,
        f"{model_name} videos",
        shards,
        num_workers,
        stats=stats,
    )
    _check_finite(video_rows.reshape(len(video_rows), -1), video_ids, model_name, "video", shards)
    if frame_level:  # pooled here, from the same rows the file keeps
        video_emb = pool_frames(video_rows, encoder.pooling)
        arrays["frame_emb"] = _compact(video_rows)
    else:
        video_emb = video_rows
    info: dict[str, Any] = {}
    if encoder.has_text:
        texts = kept["caption"].astype(str).tolist()
        text_emb = encode_all(
            encoder,
            "texts",
            texts,
            batch_size * 8,
            f"{model_name} texts",
            shards,
            num_workers,
            stats=stats,
        )
        _check_finite(text_emb, kept["caption_id"].to_numpy(), model_name, "text", shards)
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
        "frames": str(frames_path),
        "num_frames": frames.num_frames,
        "frame_sizes": frames.size_counts(),  # {"WxH": clips} as stored and preprocessed
        "frames_scaled_down": frames.scaled_down(),  # clips stored below their decoded size
        "dtype": "float32",
        "frame_emb_dtype": str(arrays["frame_emb"].dtype) if "frame_emb" in arrays else None,
        "pooling": getattr(encoder, "pooling", None),
        "device": device,
        "host": platform.node(),
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE", ""),
        **info,
    }
    meta.update(stats)
    save_embeddings(out_path, arrays, meta)
    shards.remove()
    logger.info("%s: %d videos x %d dims in %.1fs", model_name, *video_emb.shape, meta["seconds"])
    return meta


def _check_sizes(encoder, frames, video_ids, model: str) -> None:
    """Before any work: every clip's size must suit the model's preprocessing recipe
    (``encoder.unusable_size``), else an error naming the videos and the reason."""
    check = getattr(encoder, "unusable_size", None)
    if check is None:
        return
    bad: dict[str, list[str]] = {}
    for (h, w), vid in zip(frames.sizes.tolist(), video_ids, strict=True):
        reason = check(h, w)
        if reason:
            bad.setdefault(reason, []).append(str(vid))
    if bad:
        reason, ids = next(iter(bad.items()))
        raise ValueError(
            f"model {model!r} cannot take {sum(map(len, bad.values()))} videos: {reason} "
            f"(e.g. {ids[:5]}); drop them from the dataset or use another model"
        )


def _compact(frame_emb: np.ndarray) -> np.ndarray:
    """Per-frame rows as float16 (half the bytes; pooling analyses need no more), unless a
    value does not fit float16's range."""
    half = frame_emb.astype(np.float16)
    if np.all(np.isfinite(half)):
        return half
    logger.info("per-frame embeddings exceed float16's range: kept as float32")
    return frame_emb


def _check_finite(
    emb: np.ndarray, ids: np.ndarray, model: str, what: str, shards: ShardStore | None = None
) -> None:
    bad = ~np.all(np.isfinite(emb), axis=1)
    if bad.any():
        if shards is not None:
            shards.remove()  # never resume from rows that hold NaN or inf
        raise ValueError(
            f"model {model!r} produced NaN or inf {what} embeddings for {int(bad.sum())} "
            f"items, e.g. {ids[bad][:5].tolist()}"
        )
