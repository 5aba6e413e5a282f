"""Thumbnails: one small JPEG per video of a dataset, made once from the frame store (the
middle stored frame of each clip) and shared by every model's view of it (the explorer
page). A video with no stored frame, or whose frame cannot be encoded, gets no thumbnail
and its reason; pages show a placeholder for it. Definitions: docs/definitions.md
("Explorer").
"""

from __future__ import annotations

import base64
import logging
import warnings

import numpy as np

from vidspace.analyses import Analysis, Input
from vidspace.core.io import read_table, write_json

logger = logging.getLogger(__name__)

SIDE = 96  # pixels on the long side
QUALITY = 80  # JPEG quality


def jpeg_thumbnail(frame: np.ndarray, side: int = SIDE, quality: int = QUALITY) -> bytes:
    """A (H, W, 3) uint8 frame as JPEG bytes, scaled (antialiased bilinear, aspect kept) so
    that its long side is at most ``side``."""
    import torch
    from torchvision.io import encode_jpeg

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
    image = torch.from_numpy(np.array(frame)).permute(2, 0, 1)  # a copy: the store is read-only
    if scale < 1.0:
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        resized = torch.nn.functional.interpolate(
            image[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False
        )[0]
        image = resized.round().clamp(0, 255).to(torch.uint8)
    with warnings.catch_warnings():  # torchvision 0.29 notes its image codecs move to torchcodec
        warnings.simplefilter("ignore", DeprecationWarning)
        return bytes(encode_jpeg(image.contiguous(), quality=quality).numpy().tobytes())


def thumbnails_file(frames_path: str, manifest_path: str, out_path: str) -> dict:
    """The thumbnails stage: ``{"thumbnails": {video_id: "data:image/jpeg;base64,…"},
    "missing": {video_id: reason}}`` for every video of the manifest."""
    import torch

    from vidspace.frames.store import load_frames

    torch.set_num_threads(1)  # the same bytes however loaded the machine is
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
        except (ValueError, RuntimeError) as exc:
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
