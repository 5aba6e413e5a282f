"""The embed stage: frames and captions in, the embedding file (+ sidecar and run facts)
out, in one job or as batch-aligned shards merged into the same bytes (the encoding loop
itself: :mod:`vidspace.models.encode`)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from vidspace.core.io import atomic_path, read_table, save_embeddings, write_json
from vidspace.core.linalg import pool_frames
from vidspace.core.sharding import HEADER, header, read_parts, shard_range
from vidspace.frames import TimedFrames, load_frame_times, load_frames
from vidspace.models import load
from vidspace.models.aligned import Alignment
from vidspace.models.encode import ShardStore, _peak_rss_mb, encode_all, resolve_device

logger = logging.getLogger(__name__)


def run_facts_path(path: str | Path) -> Path:
    """Where an embedding file's run facts go: ``{model}.run.json`` beside it. Kept out of
    the sidecar so that the sidecar, like the ``.npz``, is byte-identical for identical
    inputs (nothing downstream reruns because a job ran on another host or took longer)."""
    return Path(path).with_suffix(".run.json")


class _Job:
    """What one (dataset, model) embedding reads: the frame store, the videos it holds and
    the captions of those videos, matched by id (never by position)."""

    def __init__(self, frames_path, manifest_path, captions_path):
        self.frames_path = str(frames_path)
        self.frames, self.video_ids = load_frames(frames_path, mmap=True)
        manifest = read_table(manifest_path).set_index("video_id")
        captions = read_table(captions_path)
        missing = sorted(set(self.video_ids) - set(manifest.index))
        if missing:
            raise ValueError(f"{frames_path}: videos {missing[:5]} are not in {manifest_path}")
        self.row_of = {vid: i for i, vid in enumerate(self.video_ids)}
        self.kept = captions[captions["video_id"].isin(self.row_of)].reset_index(drop=True)
        self.dropped = len(captions) - len(self.kept)
        if self.dropped:
            logger.info(
                "dropping %d captions of %d videos that were not sampled",
                self.dropped,
                captions.loc[~captions["video_id"].isin(self.row_of), "video_id"].nunique(),
            )
        self.base = {
            "video_ids": self.video_ids,
            "categories": manifest.loc[self.video_ids, "category"]
            .fillna("")
            .astype(str)
            .to_numpy(),
            "split": manifest.loc[self.video_ids, "split"].fillna("").astype(str).to_numpy(),
        }
        self._caption_ids = captions["caption_id"].astype(str).tolist()

    def fingerprint(self, model_name: str, spec: dict, *extra) -> str:
        key = [model_name, spec, self.video_ids.tolist(), self._caption_ids, *extra]
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def videos(self, encoder, start: int, stop: int):
        store = self.frames.rows(start, stop)
        if getattr(encoder, "wants_times", False):
            return TimedFrames(store, load_frame_times(self.frames_path)[start:stop])
        return store


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
    shard: tuple[int, int] | None = None,
    meta_path: str | Path | None = None,
    run_path: str | Path | None = None,
) -> dict:
    """Embed every sampled video and every caption of a video that was sampled.

    Captions are matched to video rows by id, never by position; captions of videos that
    failed earlier are dropped and counted in the sidecar. ``shard=(k, K)`` embeds only the
    k-th of K batch-aligned parts of the videos and captions and writes a part file at
    ``out_path``; :func:`merge_shards` joins the K parts into the embedding file.
    """
    started = time.perf_counter()
    device = resolve_device(device)
    job = _Job(frames_path, manifest_path, captions_path)
    encoder = load(spec, device)
    _check_sizes(encoder, job.frames, job.video_ids, model_name)
    props = {
        "has_text": bool(encoder.has_text),
        "frame_level": bool(getattr(encoder, "frame_level", False)),
        "pooling": getattr(encoder, "pooling", None),
        "aligns": hasattr(encoder, "align"),
    }
    whole = (0, 1)  # an unsharded job: shard 0 of 1
    v0, v1 = shard_range(len(job.video_ids), *(shard or whole), unit=batch_size)
    t0, t1 = (
        shard_range(len(job.kept), *(shard or whole), unit=batch_size * 8)
        if encoder.has_text
        else (0, 0)
    )
    if shard is not None and v0 == v1 and t0 == t1:
        logger.warning(
            "shard %d of %d is empty: %d videos make %d batches of %d",
            *shard,
            len(job.video_ids),
            -(-len(job.video_ids) // batch_size),
            batch_size,
        )
    shards = ShardStore(
        Path(out_path).with_suffix(".partial"), job.fingerprint(model_name, spec, shard)
    )
    if num_workers is None:
        num_workers = 4 if device.startswith("cuda") else 0
    stats: dict[str, int] = {}
    video_rows = _encode_part(
        encoder,
        "video_frames" if props["frame_level"] else "videos",
        job.videos(encoder, v0, v1),
        batch_size,
        f"{model_name} videos",
        shards,
        num_workers,
        stats,
    )
    _check_finite(video_rows, job.video_ids[v0:v1], model_name, "video", shards)
    text_rows = None
    if encoder.has_text:
        texts = job.kept["caption"].astype(str).tolist()[t0:t1]
        text_rows = _encode_part(
            encoder,
            "texts",
            texts,
            batch_size * 8,
            f"{model_name} texts",
            shards,
            num_workers,
            stats,
        )
        ids = job.kept["caption_id"].to_numpy()[t0:t1]
        _check_finite(text_rows, ids, model_name, "text", shards)
    run = {
        "device": device,
        "host": platform.node(),
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE", ""),
        # the GPUs a scheduler gave the job (SLURM sets it for --gpus jobs)
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        **stats,
    }
    if shard is None:
        meta = _finish(
            job,
            video_rows,
            text_rows,
            props,
            model_name,
            spec,
            device,
            out_path,
            run,
            (meta_path, run_path),
        )
    else:
        meta = _save_part(
            out_path,
            video_rows,
            text_rows,
            header(
                {"model spec, videos or captions": job.fingerprint(model_name, spec)},
                *shard,
                {"video": [v0, v1], "text": [t0, t1]},
                model=model_name,
                props=props,
                run=run,
            ),
        )
    shards.remove()
    return meta


def _encode_part(encoder, kind, items, batch_size, desc, shards, num_workers, stats) -> np.ndarray:
    if len(items) == 0:  # an empty shard: no rows, right width unknown until merged
        return np.zeros((0, 0), np.float32)
    return encode_all(encoder, kind, items, batch_size, desc, shards, num_workers, stats=stats)


def _save_part(path, video_rows, text_rows, part: dict) -> dict:
    arrays = {"video_rows": video_rows, **part}
    if text_rows is not None:
        arrays["text_rows"] = text_rows
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    meta = json.loads(str(part[HEADER]))
    logger.info(
        "shard %d of %d: %d videos, %d captions",
        meta["shard"],
        meta["shards"],
        len(video_rows),
        0 if text_rows is None else len(text_rows),
    )
    return meta


def merge_shards(
    part_paths: list[str | Path],
    frames_path: str | Path,
    manifest_path: str | Path,
    captions_path: str | Path,
    model_name: str,
    spec: dict,
    out_path: str | Path,
    meta_path: str | Path | None = None,
    run_path: str | Path | None = None,
) -> dict:
    """Join the K part files of a sharded embed job into the embedding file, refusing parts
    that are missing, belong to another job (model, spec, videos or captions changed) or
    do not tile the rows; a fit on the train split (``aligned``) runs here, on all rows."""
    job = _Job(frames_path, manifest_path, captions_path)

    def totals(first: dict) -> dict[str, int]:
        return {"video": len(job.video_ids), "text": len(job.kept) * first["props"]["has_text"]}

    parts = read_parts(
        part_paths,
        {"model spec, videos or captions": job.fingerprint(model_name, spec)},
        totals,
        "embed",
        keys=("video_rows", "text_rows"),
    )
    ordered = [(facts, arrays["video_rows"], arrays.get("text_rows")) for facts, arrays in parts]
    total = len(ordered)

    def join(i: int):
        blocks = [part[i] for part in ordered if part[i] is not None and len(part[i])]
        return np.concatenate(blocks) if blocks else None

    props = ordered[0][0]["props"]
    runs = [meta["run"] for meta, *_ in ordered]
    run = {
        "shards": total,
        "device": runs[0]["device"],
        "hosts": sorted({r["host"] for r in runs}),
        "seconds": round(sum(r["seconds"] for r in runs), 3),
        "seconds_per_shard": [r["seconds"] for r in runs],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "empty_shards": [
            k for k, (meta, v, t) in enumerate(ordered) if not len(v) and (t is None or not len(t))
        ],
    }
    return _finish(
        job,
        join(1),
        join(2),
        props,
        model_name,
        spec,
        run["device"],
        out_path,
        run,
        (meta_path, run_path),
    )


def _finish(
    job, video_rows, text_rows, props, model_name, spec, device, out_path, run, paths=(None, None)
) -> dict:
    """Pool, align and write the embedding file, its sidecar and its run facts."""
    arrays = dict(job.base)
    if props["frame_level"]:  # pooled here, from the same rows the file keeps
        video_emb = pool_frames(video_rows, props["pooling"])
        arrays["frame_emb"] = _compact(video_rows)
    else:
        video_emb = video_rows
    info: dict[str, Any] = {}
    if props["has_text"]:
        text_index = job.kept["video_id"].map(job.row_of).to_numpy(np.int64)
        if props["aligns"]:
            video_emb, text_rows, info = Alignment.from_spec(spec).align(
                video_emb,
                text_rows,
                text_index,
                arrays["split"],
                video_rows if props["frame_level"] else None,
            )
            if "frame_emb" in info:  # the frames in the shared space, as the videos
                arrays["frame_emb"] = _compact(info.pop("frame_emb"))
        arrays.update(
            text_emb=text_rows,
            text_ids=job.kept["caption_id"].astype(str).to_numpy(),
            text_video_index=text_index,
        )
    arrays["video_emb"] = video_emb
    meta = {
        "model": model_name,
        "spec": spec,
        "dim": int(video_emb.shape[1]),
        "n_videos": int(video_emb.shape[0]),
        "n_captions": int(len(job.kept)) if props["has_text"] else 0,
        "n_captions_dropped": int(job.dropped),
        "frames": job.frames_path,
        "num_frames": job.frames.num_frames,
        "frame_sizes": job.frames.size_counts(),  # {"WxH": clips} as stored and preprocessed
        "frames_scaled_down": job.frames.scaled_down(),  # clips stored below their decoded size
        "dtype": "float32",
        "frame_emb_dtype": str(arrays["frame_emb"].dtype) if "frame_emb" in arrays else None,
        "pooling": props["pooling"],
        "device": device,
        **info,
    }
    meta_path, run_path = paths
    save_embeddings(out_path, arrays, meta, meta_path)
    write_json(run_path or run_facts_path(out_path), run)
    logger.info("%s: %d videos x %d dims in %.1fs", model_name, *video_emb.shape, run["seconds"])
    return meta | run


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
    if not len(emb):  # an empty shard
        return
    bad = ~np.all(np.isfinite(emb.reshape(len(emb), -1)), axis=1)
    if bad.any():
        if shards is not None:
            shards.remove()  # never resume from rows that hold NaN or inf
        raise ValueError(
            f"model {model!r} produced NaN or inf {what} embeddings for {int(bad.sum())} "
            f"items, e.g. {ids[bad][:5].tolist()}"
        )
