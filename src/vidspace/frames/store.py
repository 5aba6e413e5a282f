"""The frame store: one file per dataset x sampling, shared by every model.

Frames are kept as decoded (upright, at their own size and aspect ratio); only a frame
whose long side exceeds ``max_side`` is scaled down, keeping its aspect ratio. Each model
then applies its own published preprocessing (its processor's resize and crop, or the
Qwen3-VL recipe) to the frames, so it sees what its model card feeds it. Clips of
different sizes live in one flat uint8 array (see :class:`FrameStore`). A video that
cannot be decoded is recorded in the failures table with its reason and the run goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidspace.core.io import atomic_path, load_npz, reading

logger = logging.getLogger(__name__)


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
    with reading(path), np.load(path, allow_pickle=False) as data:
        members = set(data.files)
        if {"pixels", "frame_sizes"} <= members:
            ids, sizes = data["video_ids"], data["frame_sizes"]
            decoded = data["decoded_sizes"] if "decoded_sizes" in members else None
            num_frames = int(data["frame_indices"].shape[1])
            pixels = _mmap_member(Path(path), "pixels.npy") if mmap else data["pixels"]
    if not {"pixels", "frame_sizes"} <= members:
        raise ValueError(
            f"{path} is not a frame store of this version (no pixels/frame_sizes; an "
            "older one kept 224 px crops): sample again"
        )
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
    arrays = load_npz(path, ["frame_times"])
    if "frame_times" not in arrays:
        raise ValueError(f"{path} has no frame_times (written by an older version): sample again")
    return arrays["frame_times"]


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
