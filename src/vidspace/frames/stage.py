"""The sample_frames stage: every video of a manifest into one frame store and a failures
table, in one job or as contiguous shards merged into the same bytes."""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidspace.core.config import defaults_for
from vidspace.core.io import read_failures, read_table, write_failures
from vidspace.core.sharding import header, read_parts, shard_range
from vidspace.frames.decode import DEFAULT_MAX_SIDE, read_clip
from vidspace.frames.store import FrameStore, _mmap_member, save_frames

logger = logging.getLogger(__name__)


def sample_frames(
    manifest_path: str | Path,
    frames_path: str | Path,
    failures_path: str | Path,
    method: str = "uniform",
    num_frames: int = 8,
    max_side: int | None = DEFAULT_MAX_SIDE,
    fps: float | None = None,
    workers: int = 1,
    backend: str = "pyav",
    shard: int | None = None,
    shards: int = 1,
) -> dict:
    """Sample every video of a manifest into one ``frames.npz``; record failures.

    ``workers`` threads decode videos concurrently (FFmpeg and torch release the GIL);
    rows keep the manifest's order whatever finishes first. With ``shard`` (from 0) of
    ``shards``, only that contiguous range of the manifest's rows is sampled, into a part
    file (possibly empty) that :func:`merge_frame_parts` joins with the others into the
    same bytes an unsharded run writes.
    """
    manifest = read_table(manifest_path)
    root = Path(manifest_path).parent
    rows = list(manifest.itertuples(index=False))
    extra = None
    if shard is not None:
        start, stop = shard_range(len(rows), shard, shards)
        rows = rows[start:stop]
        spec = {"method": method, "num_frames": num_frames, "max_side": max_side, "fps": fps}
        job = _job(manifest, {**spec, "backend": backend})
        extra = header(job, shard, shards, {"videos": [start, stop]})

    def read(row):
        try:
            clip = read_clip(
                root / row.path, method, num_frames, max_side, fps, row.start, row.end, backend
            )
            return clip, None
        except Exception as exc:  # noqa: BLE001 - one bad video must not stop the run
            return None, exc

    clips, indices, times, decoded, ids, failures = [], [], [], [], [], []
    with ThreadPoolExecutor(max(1, int(workers))) as pool:
        results = tqdm(pool.map(read, rows), total=len(rows), desc="frames")
        for row, (clip, exc) in zip(rows, results, strict=True):
            if clip is not None:
                clips.append(clip.frames)
                indices.append(clip.indices)
                times.append(clip.times)
                decoded.append(clip.decoded_size)
                ids.append(row.video_id)
                continue
            message = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {message[0] if message else 'no message'}"[:300]
            logger.warning("cannot decode %s (%s): %s", row.video_id, row.path, reason)
            failures.append({"video_id": row.video_id, "stage": "sample_frames", "reason": reason})
    if not clips and shard is None:
        _none_decoded(len(manifest), manifest_path, failures)
    write_failures(failures_path, failures)
    if not clips:  # an empty shard (or one whose videos all failed)
        save_frames(frames_path, [], [], extra=extra)
        logger.info("shard %s: no videos sampled, %d failed", shard, len(failures))
        return {"n_videos": 0, "n_failed": len(failures)}
    save_frames(
        frames_path,
        clips,
        ids,
        np.stack(indices),
        np.stack(times),
        np.array(decoded),
        extra=extra,
    )
    scaled = sum(c.shape[1:3] != d for c, d in zip(clips, decoded, strict=True))
    if scaled:
        logger.info(
            "%d clips were larger than max_side=%s and stored scaled down", scaled, max_side
        )
    logger.info("sampled %d videos, %d failed", len(ids), len(failures))
    return {"n_videos": len(ids), "n_failed": len(failures)}


def _job(manifest, sampling: dict) -> dict[str, str]:
    """What a frames shard must share with the others: the sampling settings (with the
    schema's defaults, unset ones left out) and the manifest's videos."""
    spec = {k: v for k, v in defaults_for("sampling", sampling).items() if v is not None}
    ids = "\n".join(manifest["video_id"].astype(str))
    return {
        "sampling": json.dumps(spec, sort_keys=True),
        "manifest": hashlib.sha256(ids.encode()).hexdigest(),
    }


def _none_decoded(n: int, manifest_path, failures: list[dict]):
    raise ValueError(
        f"none of the {n} videos in {manifest_path} could be decoded: "
        + "; ".join(f"{f['video_id']}: {f['reason']}" for f in failures[:3])
    )


PART_KEYS = ("video_ids", "frame_sizes", "decoded_sizes", "frame_indices", "frame_times")


def merge_frame_parts(
    part_paths: list[str | Path],
    failure_paths: list[str | Path],
    manifest_path: str | Path,
    frames_path: str | Path,
    failures_path: str | Path,
    **sampling,
) -> dict:
    """Join the K parts of a sharded sampling into ``frames.npz`` and the failures table,
    byte-identical to an unsharded run; the parts are checked as
    :func:`vidspace.core.sharding.read_parts` says (another sampling spec or another
    manifest is another job). Pixels are streamed from the memory-mapped parts."""
    manifest = read_table(manifest_path)
    missing = [str(p) for p in failure_paths if not Path(p).exists()]
    if missing or len(part_paths) != len(failure_paths):
        raise ValueError(
            f"cannot merge frames: {len(missing)} failure tables of the shards are missing "
            f"({', '.join(missing[:5])}); rerun those shards"
        )
    parts = read_parts(
        part_paths,
        _job(manifest, sampling),
        {"videos": len(manifest)},
        "frames",
        keys=PART_KEYS,  # the pixels stay on disk: mapped below
    )
    clips, video_ids, indices, times, decoded, failures = [], [], [], [], [], []
    for path, failure_path, (_, arrays) in zip(part_paths, failure_paths, parts, strict=True):
        failures += read_failures(failure_path).to_dict("records")
        part_ids = arrays["video_ids"].tolist()
        if not part_ids:
            continue
        t = arrays["frame_indices"].shape[1]
        store = FrameStore(
            _mmap_member(Path(path), "pixels.npy"),
            arrays["frame_sizes"],
            t,
            arrays["decoded_sizes"],
        )
        clips += [store.clip(i) for i in range(len(store))]
        video_ids += part_ids
        indices.append(arrays["frame_indices"])
        times.append(arrays["frame_times"])
        decoded.append(arrays["decoded_sizes"])
    ids = manifest["video_id"]
    if not clips:
        _none_decoded(len(ids), manifest_path, failures)
    write_failures(failures_path, failures)
    save_frames(
        frames_path,
        clips,
        video_ids,
        np.concatenate(indices),
        np.concatenate(times),
        np.concatenate(decoded),
    )
    logger.info(
        "merged %d shards: %d videos, %d failed", len(part_paths), len(clips), len(failures)
    )
    return {"n_videos": len(clips), "n_failed": len(failures)}
