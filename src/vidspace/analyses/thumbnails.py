"""Thumbnails: one small JPEG per video of a dataset, made once from the frame store (the
middle stored frame of each clip) and shared by every model's view of it (the explorer
page). A video with no stored frame, or whose frame cannot be encoded, gets no thumbnail
and its reason; pages show a placeholder for it. Definitions: docs/definitions.md
("Explorer").
"""

from __future__ import annotations

import base64
import logging

import numpy as np

from vidspace.analyses import Analysis, Input
from vidspace.core.io import read_table, write_json

logger = logging.getLogger(__name__)

SIDE = 96  # pixels on the long side
QUALITY = 4  # MJPEG quantiser (FFmpeg's -q:v, 2 best .. 31 worst)


def jpeg_thumbnail(frame: np.ndarray, side: int = SIDE, quality: int = QUALITY) -> bytes:
    """A (H, W, 3) uint8 frame as JPEG bytes, scaled (swscale's area filter, aspect kept)
    so that its long side is at most ``side``: FFmpeg's MJPEG encoder through PyAV (a
    fixed quantiser, one thread: the same bytes every time)."""
    from fractions import Fraction

    import av

    if (
        frame.ndim != 3
        or frame.shape[2] != 3
        or frame.dtype != np.uint8
        or min(frame.shape[:2]) < 1
    ):
        raise ValueError(
            f"a thumbnail needs an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}"
        )
    h, w = frame.shape[:2]
    scale = min(1.0, side / max(h, w))
    # 4:2:0 JPEG wants even sides
    width, height = (max(2, 2 * round(w * scale / 2)), max(2, 2 * round(h * scale / 2)))
    image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
        width=width, height=height, format="yuvj420p", interpolation="AREA"
    )
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 1)
    codec.thread_count = 1
    codec.qmin = codec.qmax = quality
    return b"".join(bytes(p) for p in [*codec.encode(image), *codec.encode(None)])


def thumbnails_file(frames_path: str, manifest_path: str, out_path: str) -> dict:
    """The thumbnails stage: ``{"thumbnails": {video_id: "data:image/jpeg;base64,…"},
    "missing": {video_id: reason}}`` for every video of the manifest."""
    import av

    from vidspace.frames.store import load_frames

    manifest = read_table(manifest_path)
    wanted = [str(v) for v in manifest["video_id"]]
    store, stored = load_frames(frames_path, mmap=True)
    row_of = {str(v): r for r, v in enumerate(stored)}
    thumbs: dict[str, str] = {}
    missing: dict[str, str] = {}
    for vid in wanted:
        if vid not in row_of:
            missing[vid] = "no stored frames (download or decoding failed)"
            continue
        clip = store.clip(row_of[vid])
        try:
            data = jpeg_thumbnail(clip[clip.shape[0] // 2])
        except (ValueError, RuntimeError, OSError, av.FFmpegError) as exc:
            missing[vid] = f"thumbnail could not be made: {exc}"
            continue
        thumbs[vid] = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    for vid, reason in missing.items():
        logger.warning("%s: %s", vid, reason)
    result = {
        "source": str(frames_path),
        "side": SIDE,
        "quality": QUALITY,
        "n_videos": len(wanted),
        "thumbnails": thumbs,
        "missing": missing,
    }
    write_json(out_path, result)
    return result


def missing_rows(result: dict) -> list[tuple[str, str]]:
    """One Skipped row per reason: how many videos show a placeholder, and which."""
    by_reason: dict[str, list[str]] = {}
    for vid, reason in result.get("missing", {}).items():
        by_reason.setdefault(reason, []).append(vid)
    rows = []
    for reason, ids in by_reason.items():
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        count = "1 video shows" if len(ids) == 1 else f"{len(ids)} videos show"
        rows.append(("thumbnails", f"{count} a placeholder: {reason} ({shown})"))
    return rows


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    thumbnails_file(inputs["frames"], inputs["manifest"], outputs["thumbnails"])


ANALYSIS = Analysis(
    name="thumbnails",
    outputs={"thumbnails": "results/thumbnails/{dataset}.json"},
    inputs={
        "frames": Input("sample_frames", "frames"),
        "manifest": Input("download", "manifest"),
    },
    run=_run,
    order=95,
    skipped=missing_rows,
)
