"""Decoding: which frames to take (uniform or by fps, within a segment) and reading them
upright from a video, an image, or a folder of frames, through PyAV (default) or decord."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

logger = logging.getLogger(__name__)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}

# a folder of frames carries no timestamps: its frames are taken as this many a second, as
# Qwen3-VL's own recipe takes a list of frames (qwen-vl-utils ``fetch_video``: sample_fps
# 2.0); ``fps`` sampling and segments of such a clip count time by it
FOLDER_FRAME_RATE = 2.0


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
    if method not in ("uniform", "fps"):
        raise ValueError(f"unknown sampling method {method!r}; use 'uniform' or 'fps'")
    if path.is_dir():
        return _read_folder(path, method, num_frames, max_side, fps, start, end)
    if path.stat().st_size == 0:
        raise ValueError("zero-byte file")
    if path.suffix.lower() in IMAGE_SUFFIXES:  # images as one-frame videos (COCO captions)
        from PIL import Image, ImageOps

        with Image.open(path) as image:
            frame = np.array(ImageOps.exif_transpose(image).convert("RGB"))[None]
        still = frame.repeat(num_frames, axis=0)
        zeros = np.zeros(num_frames, dtype=np.int64), np.zeros(num_frames, np.float32)
        return _clip(still, *zeros, max_side)
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


def folder_frames(folder: Path) -> list[Path]:
    """The frames (:func:`is_frame_name`) of a folder in natural order (``frame_2`` before
    ``frame_10``, as MMEB-V2's loader sorts them); other files are ignored."""

    def natural(name: str) -> list:
        return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]

    files = [p for p in folder.iterdir() if is_frame_name(p.name) and p.is_file()]
    return sorted(files, key=lambda p: natural(p.name))


def is_frame_name(name: str) -> bool:
    """Whether a file of a folder of frames is a frame: an image suffix, not hidden (macOS
    leaves ``._frame_1.jpg`` beside ``frame_1.jpg``), no control characters."""
    return (
        Path(name).suffix.lower() in IMAGE_SUFFIXES
        and not name.startswith(".")
        and name.isprintable()
    )


def _read_folder(folder, method, num_frames, max_side, fps, start, end) -> Clip:
    """read_clip of a folder of frames (pre-extracted frames, as MMEB-V2 hosts its videos):
    its images in natural order are the clip's frames, :data:`FOLDER_FRAME_RATE` a second."""
    from PIL import Image, ImageOps

    files = folder_frames(folder)
    if not files:
        raise ValueError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder")
    times = np.arange(len(files)) / FOLDER_FRAME_RATE
    idx, first = _pick(times, method, num_frames, fps, start, end)
    decoded = {}
    for i in np.unique(idx):
        with Image.open(files[i]) as image:
            decoded[i] = np.array(ImageOps.exif_transpose(image).convert("RGB"))
    sizes = {a.shape for a in decoded.values()}
    if len(sizes) > 1:
        raise ValueError(f"frames of different sizes in one folder: {sorted(sizes)[:3]}")
    frames = np.stack([decoded[i] for i in idx])
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
