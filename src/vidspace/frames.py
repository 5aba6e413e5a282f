"""Frame sampling: one frame store per dataset x sampling, shared by every model.

Frames are kept as decoded (upright, at their own size and aspect ratio); only a frame
whose long side exceeds ``max_side`` is scaled down, keeping its aspect ratio. Each model
then applies its own published preprocessing (its processor's resize and crop, or the
Qwen3-VL recipe) to the frames, so it sees what its model card feeds it. Clips of
different sizes live in one flat uint8 array (see :class:`FrameStore`). A video that
cannot be decoded is recorded in the failures table with its reason and the run goes on.
"""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
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


def fps_indices(times: np.ndarray, fps: float, max_frames: int) -> np.ndarray:
    """Frames nearest to every ``1 / fps`` seconds of ``times`` (sorted, seconds), capped at
    ``max_frames`` (then spread uniformly). Timestamps, not frame counts, so variable frame
    rate clips are sampled evenly in time."""
    if fps <= 0:
        raise ValueError("sampling method 'fps' needs a positive fps")
    grid = np.arange(times[0], times[-1] + 1e-6, 1.0 / fps)
    # the nearest frame: how many midpoints between neighbours lie below (ties go left)
    idx = np.unique(np.searchsorted((times[1:] + times[:-1]) / 2, grid))
    if idx.size > max_frames:
        idx = idx[uniform_indices(idx.size, max_frames)]
    return idx


# the long side above which stored frames are scaled down: 720p and every download we make
# (YouTube at most 480p: 854 px; MSR-VTT 320 px) stay as decoded, and it is above the
# largest frame Qwen3-VL's recipe keeps up to 2:1 (768 tokens of 32 px: 1184x672 at 16:9),
# so larger videos reach it at the size it would pick itself (benchmarks/README.md)
DEFAULT_MAX_SIDE = 1280


def bound_size(frames: np.ndarray, max_side: int | None) -> np.ndarray:
    """(T, H, W, 3) uint8 frames, scaled down (antialiased) so the long side is at most
    ``max_side``, aspect ratio kept; unchanged when already within it (or ``None``)."""
    t, h, w, _ = frames.shape
    if max_side is None or max(h, w) <= max_side:
        return frames
    import torch  # here: reading a frame store (the embed merge, the report) needs no torch
    import torch.nn.functional as F

    scale = max_side / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    # uint8 in, uint8 out, channels-last: torch's fast antialiased path (7x the float one
    # on 480p frames; within 1 grey level of it)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    x = F.interpolate(
        x.contiguous(memory_format=torch.channels_last),
        size=(nh, nw),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


BACKENDS = ("pyav", "decord")


class Clip(NamedTuple):
    """One video's sampled frames, as :func:`read_clip` returns them."""

    frames: np.ndarray  # (T, H, W, 3) uint8, upright, bounded by max_side
    indices: np.ndarray  # (T,) int64, presentation order from the file's first frame
    times: np.ndarray  # (T,) float32 seconds from the segment's first frame
    decoded_size: tuple[int, int]  # (height, width) as decoded, before any bound


def _clip(frames: np.ndarray, indices, times, max_side: int | None) -> Clip:
    return Clip(bound_size(frames, max_side), indices, times, tuple(frames.shape[1:3]))


def _pick(times: np.ndarray, method, num_frames, fps, start, end) -> tuple[np.ndarray, int]:
    """Indices of the sampled frames (given every frame's time, seconds from the first)
    and the segment's first index."""
    first = 0 if _missing(start) else int(np.searchsorted(times, start - 1e-6))
    last = times.size if _missing(end) else int(np.searchsorted(times, end - 1e-6))
    first = min(first, times.size - 1)
    last = max(first + 1, min(last, times.size))
    if method == "uniform":
        return uniform_indices(last - first, num_frames, first), first
    idx = first + fps_indices(times[first:last], fps or 0.0, num_frames)
    return idx[uniform_indices(idx.size, num_frames)], first  # fixed T so clips stack


def read_clip(
    path: Path,
    method: str,
    num_frames: int,
    max_side: int | None = DEFAULT_MAX_SIDE,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    backend: str = "pyav",
) -> Clip:
    """Decode the sampled frames of one video: frames (T,H,W,3), indices (T,), times (T,)
    and the decoded size.

    Frames are upright (display matrix, EXIF) at the video's own size, scaled down only
    when the long side exceeds ``max_side`` (see :func:`bound_size`).

    Indices count frames in presentation order from the start of the file; ``start`` and
    ``end`` (seconds from the first frame) select a segment; times are the frames'
    presentation times in seconds from the segment's first frame. ``backend``: ``pyav``
    (FFmpeg through PyAV, seeking per group of pictures) or ``decord`` (its
    ``get_batch``); both give the same indices and pixels where both can decode.
    """
    import av

    if backend not in BACKENDS:
        raise ValueError(f"unknown decoding backend {backend!r}; use one of {list(BACKENDS)}")

    if not path.exists():
        raise FileNotFoundError(f"missing file {path}")
    if path.stat().st_size == 0:
        raise ValueError("zero-byte file")
    if path.suffix.lower() in IMAGE_SUFFIXES:  # images as one-frame videos (COCO captions)
        from PIL import Image, ImageOps

        with Image.open(path) as image:
            frame = np.array(ImageOps.exif_transpose(image).convert("RGB"))[None]
        still = frame.repeat(num_frames, axis=0)
        zeros = np.zeros(num_frames, dtype=np.int64), np.zeros(num_frames, np.float32)
        return _clip(still, *zeros, max_side)
    if method not in ("uniform", "fps"):
        raise ValueError(f"unknown sampling method {method!r}; use 'uniform' or 'fps'")
    if backend == "decord":
        return _read_clip_decord(path, method, num_frames, max_side, fps, start, end)
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        pts, keyframes = _frame_index(container, stream)
        if pts is None:  # no timestamps to seek by: count frames by decoding every one
            n = sum(1 for _ in container.decode(stream))
            if n == 0:
                raise ValueError("no decodable video frames")
            times = np.arange(n) / float(stream.average_rate or 1)
        else:
            times = (pts - pts[0]) * float(stream.time_base)
        idx, first = _pick(times, method, num_frames, fps, start, end)
        if pts is None:
            container.seek(0)
            picked = _decode_sequential(container, stream, idx)
        else:
            picked = _decode_at(container, stream, pts, keyframes, idx)
    frames = np.stack([_upright(f) for f in picked])
    return _clip(frames, idx, (times[idx] - times[first]).astype(np.float32), max_side)


def _read_clip_decord(path, method, num_frames, max_side, fps, start, end):
    """read_clip through decord: its frame timestamps choose the same indices, its
    get_batch decodes them (decord turns rotated videos upright itself)."""
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    if len(reader) == 0:
        raise ValueError("no decodable video frames")
    stamps = reader.get_frame_timestamp(range(len(reader)))[:, 0]
    times = stamps - stamps[0]
    idx, first = _pick(times, method, num_frames, fps, start, end)
    try:
        frames = reader.get_batch(list(idx)).asnumpy()
    except decord.DECORDError as exc:
        if "size must exactly match" not in str(exc):
            raise ValueError(f"decord: {str(exc).splitlines()[0][:200]}") from None
        raise ValueError(
            "decord cannot copy this file's frames (padded rows, a decord limitation with "
            "some widths); use backend: pyav"
        ) from None
    return _clip(frames, idx, (times[idx] - times[first]).astype(np.float32), max_side)


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _frame_index(container, stream) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Presentation timestamps of every frame (sorted) and of the keyframes, read from the
    packets without decoding; (None, None) when the container has no timestamps."""
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:  # flush packet; edit-list-dropped frames
            continue
        if packet.pts is None:
            container.seek(0)
            return None, None
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    if not pts:
        raise ValueError("no video frames")
    if not keys:
        keys = [min(pts)]
    return np.unique(pts), np.unique(keys)


def _decode_at(container, stream, pts, keyframes, idx) -> list:
    """Decode only what the frames at ``idx`` need: seek to the keyframe before each group of
    wanted frames, skip non-reference frames that are not wanted, stop at the last one."""
    wanted = np.unique(pts[idx])
    codec = stream.codec_context
    got: dict[int, object] = {}
    i = 0
    while i < wanted.size:
        k = int(np.searchsorted(keyframes, wanted[i], side="right"))
        gop_end = keyframes[k] if k < keyframes.size else np.iinfo(np.int64).max
        group = {int(p) for p in wanted[i:] if p < gop_end}  # all wanted frames in this GOP
        container.seek(int(keyframes[k - 1]), stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            codec.skip_frame = "DEFAULT" if packet.pts in group else "NONREF"
            for frame in packet.decode():
                if frame.pts in group:
                    got[frame.pts] = frame
            if group <= got.keys():
                break
        codec.skip_frame = "DEFAULT"
        missing = group - got.keys()
        if missing:  # timestamps the decoder does not reproduce: count frames instead
            logger.info(
                "seeking missed %d frames of %s; decoding it whole", len(missing), container.name
            )
            container.seek(0)
            return _decode_sequential(container, stream, idx)
        i += len(group)
    return [got[int(p)] for p in pts[idx]]


def _decode_sequential(container, stream, idx) -> list:
    """The frames at ``idx`` (any order, repeats allowed), counting from the first frame."""
    wanted, got = set(int(i) for i in idx), {}
    for i, frame in enumerate(container.decode(stream)):
        if i in wanted:
            got[i] = frame
        if len(got) == len(wanted):
            break
    missing = wanted - got.keys()
    if missing:
        raise ValueError(f"no frames at indices {sorted(missing)[:5]} (file truncated?)")
    return [got[int(i)] for i in idx]


def _upright(frame) -> np.ndarray:
    """RGB array of a decoded frame, turned as its display matrix says (phone videos)."""
    array = frame.to_ndarray(format="rgb24")
    turns = round((frame.rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(array, k=turns)) if turns else array


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
    manifest = pd.read_parquet(manifest_path)
    root = Path(manifest_path).parent
    rows = list(manifest.itertuples(index=False))
    extra = None
    if shard is not None:
        start, stop = shard_range(len(rows), shard, shards)
        rows = rows[start:stop]
        extra = {
            "shard": np.int64(shard),
            "shards": np.int64(shards),
            "manifest_rows": np.array([start, stop], np.int64),
            "sampling": np.array(_sampling_key(method, num_frames, max_side, fps, backend)),
        }

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


def _sampling_key(
    method: str = "uniform",
    num_frames: int = 8,
    max_side: int | None = DEFAULT_MAX_SIDE,
    fps: float | None = None,
    backend: str = "pyav",
) -> str:
    """The sampling settings as a canonical string: a shard records it, the merge checks
    it (defaults as :func:`sample_frames` applies them)."""
    spec = {"method": method, "num_frames": num_frames, "max_side": max_side, "fps": fps}
    return json.dumps({**spec, "backend": backend}, sort_keys=True)


def shard_range(n: int, shard: int, shards: int) -> tuple[int, int]:
    """Rows [start, stop) of shard ``shard`` of ``shards`` contiguous, near-equal shards
    of n rows (shards beyond n rows are empty)."""
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}: need 0 <= shard < shards")
    return n * shard // shards, n * (shard + 1) // shards


def _none_decoded(n: int, manifest_path, failures: list[dict]):
    raise ValueError(
        f"none of the {n} videos in {manifest_path} could be decoded: "
        + "; ".join(f"{f['video_id']}: {f['reason']}" for f in failures[:3])
    )


def merge_frame_parts(
    part_paths: list[str | Path],
    failure_paths: list[str | Path],
    manifest_path: str | Path,
    frames_path: str | Path,
    failures_path: str | Path,
    **sampling,
) -> dict:
    """Join the K parts of a sharded sampling into ``frames.npz`` and the failures table,
    byte-identical to an unsharded run. Refuses parts that are missing (naming them), were
    sampled with another spec, disagree on K, or do not account for every manifest row
    once, in order. Pixels are streamed from the memory-mapped parts."""
    key = _sampling_key(**sampling)
    missing = [str(p) for p in [*part_paths, *failure_paths] if not Path(p).exists()]
    if missing or len(part_paths) != len(failure_paths):
        raise ValueError(
            f"cannot merge frames: {len(missing)} shard files are missing "
            f"({', '.join(missing[:5])}); rerun those shards"
        )
    ids = pd.read_parquet(manifest_path)["video_id"].astype(str).tolist()
    clips, video_ids, indices, times, decoded, failures = [], [], [], [], [], []
    position = 0
    for k, (path, failure_path) in enumerate(zip(part_paths, failure_paths, strict=True)):
        with np.load(path, allow_pickle=False) as data:
            if "shard" not in data:
                raise ValueError(f"{path} is not a frames shard (no shard number)")
            shard, shards = int(data["shard"]), int(data["shards"])
            start, stop = (int(x) for x in data["manifest_rows"])
            if (shard, shards) != (k, len(part_paths)):
                raise ValueError(
                    f"{path} is shard {shard} of {shards}, expected {k} of {len(part_paths)}"
                )
            if str(data["sampling"]) != key:
                raise ValueError(
                    f"{path} was sampled with {str(data['sampling'])}, not {key}: rerun it"
                )
            part_ids = data["video_ids"].tolist()
            arrays = {m: data[m] for m in ("frame_sizes", "decoded_sizes", "frame_indices")}
            arrays["frame_times"] = data["frame_times"]
        part_failures = pd.read_csv(failure_path, dtype=str, keep_default_na=False)
        failed = part_failures["video_id"].tolist()
        if start != position or sorted(part_ids + failed) != sorted(ids[start:stop]):
            raise ValueError(
                f"{path} covers manifest rows {start}..{stop} ({len(part_ids)} sampled, "
                f"{len(failed)} failed), which do not follow on from row {position} of "
                f"{manifest_path}: it belongs to another manifest; rerun the shards"
            )
        position = stop
        failures += part_failures.to_dict("records")
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
    if position != len(ids):
        raise ValueError(f"the shards cover {position} of the {len(ids)} manifest rows")
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


def _num_frames(clips: list[np.ndarray]) -> int:
    """T of a non-empty list of (T, H, W, 3) uint8 clips, all with the same T."""
    if not clips:
        raise ValueError("frame store: no clips")
    t = clips[0].shape[0]
    for clip in clips:
        if clip.ndim != 4 or clip.shape[0] != t or clip.shape[3] != 3 or clip.dtype != np.uint8:
            raise ValueError(
                f"frame store: a clip of {clip.shape} {clip.dtype}, not ({t}, H, W, 3) uint8"
            )
    return t


def save_frames(
    path: str | Path,
    clips,
    video_ids,
    frame_indices: np.ndarray | None = None,
    frame_times: np.ndarray | None = None,
    decoded_sizes: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a ``frames.npz`` (atomically): a sequence of (T, H, W, 3) uint8 clips at any
    sizes, their
    ids, the frames' indices and times (``None``: 0..T-1 and 0 s, for frames that come
    from no file) and each clip's size as decoded (``None``: as stored).

    The pixels are streamed clip by clip into the uncompressed member, as ``np.savez``
    lays it out, so writing holds no second copy of them (a dataset's frames can be tens
    of GB). ``extra`` members are added as they are (a shard's number, say); with them, no
    clips is allowed (an empty shard)."""
    import zipfile

    clips = list(clips)
    t = _num_frames(clips) if clips or extra is None else 0
    sizes = np.array([c.shape[1:3] for c in clips])
    shape = (len(sizes), t)
    members = {
        "frame_sizes": sizes.astype(np.int64).reshape(-1, 2),
        "decoded_sizes": np.asarray(
            sizes if decoded_sizes is None else decoded_sizes, np.int64
        ).reshape(-1, 2),
        "frame_indices": np.asarray(
            np.broadcast_to(np.arange(t), shape) if frame_indices is None else frame_indices,
            np.int64,
        ),
        "frame_times": np.asarray(
            np.zeros(shape) if frame_times is None else frame_times, np.float32
        ),
        "video_ids": np.asarray(video_ids, dtype=str),
        **(extra or {}),
    }
    total = int(sum(t * h * w * 3 for h, w in sizes))
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("pixels.npy", "w", force_zip64=True) as f:
                header = {"descr": "|u1", "fortran_order": False, "shape": (total,)}
                np.lib.format.write_array_header_2_0(f, header)
                for clip in clips:
                    f.write(np.ascontiguousarray(clip).tobytes())
            for name, array in members.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, array, allow_pickle=False)


class FrameStore:
    """N clips of T frames each, every clip at its own (height, width).

    ``pixels`` holds the clips one after another, each as (T, H, W, 3) uint8 in C order;
    ``sizes`` is (N, 2): each clip's height and width. Indexing with an int gives one clip
    (an array); with a slice or a list of rows, a list of clips (copies, so a memory-mapped
    store hands out plain arrays). Image processors take such lists whatever the sizes.
    """

    def __init__(
        self,
        pixels: np.ndarray,
        sizes: np.ndarray,
        num_frames: int,
        decoded_sizes: np.ndarray | None = None,
    ):
        sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
        self.decoded_sizes = (
            sizes if decoded_sizes is None else np.asarray(decoded_sizes, np.int64).reshape(-1, 2)
        )
        if pixels.ndim != 1 or pixels.dtype != np.uint8:
            raise ValueError(
                f"frame store pixels must be flat uint8, got {pixels.dtype} {pixels.shape}"
            )
        if num_frames < 1 or (sizes < 1).any():
            raise ValueError("frame store: every clip needs at least one frame of at least 1 px")
        self.pixels, self.sizes, self.num_frames = pixels, sizes, int(num_frames)
        lengths = self.num_frames * sizes[:, 0] * sizes[:, 1] * 3
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if int(self.offsets[-1]) != pixels.size:
            raise ValueError(
                f"frame store: {pixels.size} bytes of pixels for clips that need "
                f"{int(self.offsets[-1])} (a truncated or mismatched frames.npz)"
            )

    @classmethod
    def from_clips(cls, clips: list[np.ndarray]) -> FrameStore:
        """A store of (T, H, W, 3) uint8 clips (equal T, any H and W)."""
        t = _num_frames(clips)
        pixels = np.concatenate([np.ascontiguousarray(c).reshape(-1) for c in clips])
        return cls(pixels, np.array([c.shape[1:3] for c in clips]), t)

    def __len__(self) -> int:
        return len(self.sizes)

    def clip(self, i: int) -> np.ndarray:
        """Clip ``i`` as a (T, H, W, 3) view of the pixels (no copy)."""
        h, w = (int(x) for x in self.sizes[i])
        return self.pixels[self.offsets[i] : self.offsets[i + 1]].reshape(self.num_frames, h, w, 3)

    def __getitem__(self, rows):
        if isinstance(rows, (int, np.integer)):
            return np.array(self.clip(int(rows)))
        picked = range(len(self))[rows] if isinstance(rows, slice) else rows
        return [np.array(self.clip(int(i))) for i in picked]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def rows(self, start: int, stop: int) -> FrameStore:
        """Clips [start, stop) as a store viewing the same pixels (no copy, even mapped)."""
        start, stop, _ = slice(start, stop).indices(len(self))
        stop = max(start, stop)
        return FrameStore(
            self.pixels[self.offsets[start] : self.offsets[stop]],
            self.sizes[start:stop],
            self.num_frames,
            self.decoded_sizes[start:stop],
        )

    def scaled_down(self) -> int:
        """How many clips are stored smaller than they were decoded (above max_side)."""
        return int(np.any(self.sizes != self.decoded_sizes, axis=1).sum())

    def size_counts(self) -> dict[str, int]:
        """How many clips have each size, as {"WxH": count} (for sidecars and logs)."""
        sizes, counts = np.unique(self.sizes, axis=0, return_counts=True)
        return {f"{w}x{h}": int(n) for (h, w), n in zip(sizes, counts, strict=True)}


def load_frames(path: str | Path, mmap: bool = False) -> tuple[FrameStore, np.ndarray]:
    """(frame store, video_ids (N,) str) from a ``frames.npz``.

    ``mmap=True`` maps the pixels read-only from the file instead of reading them into
    memory (``np.savez`` stores members uncompressed): the embed stage then holds only the
    batches it is working on, and DataLoader workers share the page cache.
    """
    with np.load(path, allow_pickle=False) as data:
        if "pixels" not in data or "frame_sizes" not in data:
            raise ValueError(
                f"{path} is not a frame store of this version (no pixels/frame_sizes; an "
                "older one kept 224 px crops): sample again"
            )
        ids, sizes = data["video_ids"], data["frame_sizes"]
        decoded = data["decoded_sizes"] if "decoded_sizes" in data else None
        num_frames = int(data["frame_indices"].shape[1])
        pixels = _mmap_member(Path(path), "pixels.npy") if mmap else data["pixels"]
    return FrameStore(pixels, sizes, num_frames, decoded), ids


def _mmap_member(path: Path, member: str) -> np.ndarray:
    """np.memmap of an uncompressed .npy member of a zip (.npz) file."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        with np.load(path, allow_pickle=False) as data:  # compressed: read it whole
            return data[member.removesuffix(".npy")]
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # local file header: name and extra lengths at bytes 26-29
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: bad zip local header for {member}")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    return np.memmap(
        path, dtype=dtype, mode="r", shape=shape, offset=offset, order="F" if fortran else "C"
    )


def load_frame_times(path: str | Path) -> np.ndarray:
    """(N, T) seconds of every sampled frame from its segment's start, from a ``frames.npz``."""
    with np.load(path, allow_pickle=False) as data:
        if "frame_times" not in data:
            raise ValueError(
                f"{path} has no frame_times (written by an older version): sample again"
            )
        return data["frame_times"]


class TimedFrames:
    """Clips (a FrameStore, a list of (T, H, W, 3) arrays or an (N, T, H, W, 3) array) with
    their times (N, T), sliced together: what encoders that read timestamps
    (``wants_times``) receive instead of the bare frames."""

    def __init__(self, frames, times: np.ndarray):
        if times.ndim != 2 or len(frames) != len(times):
            raise ValueError(f"{len(frames)} clips and times {times.shape} do not match")
        self.frames, self.times = frames, times

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, rows) -> TimedFrames:
        return TimedFrames(self.frames[rows], self.times[rows])
