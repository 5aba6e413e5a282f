"""Frame sampling: one uint8 array per dataset x sampling, reused by every model.

Frames are resized so the short side equals ``short_side`` and centre-cropped to a square,
so clips of any size stack into one (N, T, S, S, 3) array. A video that cannot be decoded
is recorded in the failures table with its reason and the run goes on.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
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


def resize_crop(frames: np.ndarray, short_side: int) -> np.ndarray:
    """(T, H, W, 3) -> (T, S, S, 3) uint8: antialiased resize of the short side, centre crop."""
    t, h, w, _ = frames.shape
    scale = short_side / min(h, w)
    nh, nw = max(short_side, round(h * scale)), max(short_side, round(w * scale))
    top, left = (nh - short_side) // 2, (nw - short_side) // 2
    if (nh, nw) == (h, w):  # already at the short side: crop only
        return np.ascontiguousarray(frames[:, top : top + short_side, left : left + short_side])
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
    x = x[:, :, top : top + short_side, left : left + short_side]
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


BACKENDS = ("pyav", "decord")


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
    short_side: int,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    backend: str = "pyav",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the sampled frames of one video: (frames (T,S,S,3), indices (T,), times (T,)).

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
        still = resize_crop(frame, short_side).repeat(num_frames, axis=0)
        return still, np.zeros(num_frames, dtype=np.int64), np.zeros(num_frames, np.float32)
    if method not in ("uniform", "fps"):
        raise ValueError(f"unknown sampling method {method!r}; use 'uniform' or 'fps'")
    if backend == "decord":
        return _read_clip_decord(path, method, num_frames, short_side, fps, start, end)
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
    frames = resize_crop(np.stack([_upright(f) for f in picked]), short_side)
    return frames, idx, (times[idx] - times[first]).astype(np.float32)


def _read_clip_decord(path, method, num_frames, short_side, fps, start, end):
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
    return resize_crop(frames, short_side), idx, (times[idx] - times[first]).astype(np.float32)


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
    short_side: int = 224,
    fps: float | None = None,
    workers: int = 1,
    backend: str = "pyav",
) -> dict:
    """Sample every video of a manifest into one ``frames.npz``; record failures.

    ``workers`` threads decode videos concurrently (FFmpeg and torch release the GIL);
    rows keep the manifest's order whatever finishes first.
    """
    manifest = pd.read_parquet(manifest_path)
    root = Path(manifest_path).parent
    rows = list(manifest.itertuples(index=False))

    def read(row):
        try:
            clip = read_clip(
                root / row.path, method, num_frames, short_side, fps, row.start, row.end, backend
            )
            return clip, None
        except Exception as exc:  # noqa: BLE001 - one bad video must not stop the run
            return None, exc

    frames, indices, times, ids, failures = [], [], [], [], []
    with ThreadPoolExecutor(max(1, int(workers))) as pool:
        results = tqdm(pool.map(read, rows), total=len(rows), desc="frames")
        for row, (clip, exc) in zip(rows, results, strict=True):
            if clip is not None:
                frames.append(clip[0])
                indices.append(clip[1])
                times.append(clip[2])
                ids.append(row.video_id)
                continue
            message = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {message[0] if message else 'no message'}"[:300]
            logger.warning("cannot decode %s (%s): %s", row.video_id, row.path, reason)
            failures.append({"video_id": row.video_id, "stage": "sample_frames", "reason": reason})
    if not frames:
        raise ValueError(
            f"none of the {len(manifest)} videos in {manifest_path} could be decoded: "
            + "; ".join(f"{f['video_id']}: {f['reason']}" for f in failures[:3])
        )
    write_failures(failures_path, failures)
    with atomic_path(frames_path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            frames=np.stack(frames),
            frame_indices=np.stack(indices),
            frame_times=np.stack(times),
            video_ids=np.array(ids, dtype=str),
        )
    logger.info("sampled %d videos, %d failed", len(ids), len(failures))
    return {"n_videos": len(ids), "n_failed": len(failures)}


def load_frames(path: str | Path, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(frames (N, T, S, S, 3) uint8, video_ids (N,) str) from a ``frames.npz``.

    ``mmap=True`` maps the frames array read-only from the file instead of reading it into
    memory (``np.savez`` stores members uncompressed): the embed stage then holds only the
    batches it is working on, and DataLoader workers share the page cache.
    """
    with np.load(path, allow_pickle=False) as data:
        ids = data["video_ids"]
        if not mmap:
            return data["frames"], ids
    return _mmap_member(Path(path), "frames.npy"), ids


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
    """Frames (N, T, H, W, 3) with their times (N, T), sliced together: what encoders that
    read timestamps (``wants_times``) receive instead of the bare frames."""

    def __init__(self, frames: np.ndarray, times: np.ndarray):
        if frames.shape[:2] != times.shape:
            raise ValueError(f"frames {frames.shape} and times {times.shape} do not match")
        self.frames, self.times = frames, times

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, rows) -> TimedFrames:
        return TimedFrames(self.frames[rows], self.times[rows])
