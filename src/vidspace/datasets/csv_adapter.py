"""The user's own dataset: a CSV or JSONL of (video path or URL, caption[, category,
start, end, split, video_id]). Several rows may name one video (several captions). A
video path may name a folder of frames (its images in natural order are the clip).

Bad rows (empty caption, hostile id: stage ``annotations``) and videos that cannot be
fetched (stage ``download``) are recorded in the failures with their reason and skipped;
a file that cannot be read at all (not UTF-8, missing columns, conflicting rows for one
video) is an error that names the problem.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from vidspace.datasets.fetch import Item, fetch_many
from vidspace.datasets.frame_folders import link_or_copy, place_folder
from vidspace.datasets.tables import DownloadResult, check_video_id

logger = logging.getLogger(__name__)

REQUIRED = ("video", "caption")
OPTIONAL = ("video_id", "category", "start", "end", "split")


def read_table(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8: byte {exc.start} ({raw[exc.start]:#x})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        try:
            table = pd.read_json(path, lines=True, dtype=False)
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON lines: {exc}") from None
    else:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; found {list(table.columns)}")
    return table


def _default_id(video: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(str(video).split("?")[0]).stem)[:80] or "video"
    return f"{stem.lstrip('.-') or 'video'}-{hashlib.sha1(str(video).encode()).hexdigest()[:8]}"


def _place(src: Path, dest: Path) -> None:
    if dest.exists():
        return
    if src.is_dir():  # a folder of frames: its images, linked
        place_folder(src, dest)
        return
    link_or_copy(src, dest)


def _differences(known: dict, attrs: dict) -> str:
    return ", ".join(
        f"{k}: {known.get(k)!r} vs {attrs.get(k)!r}"
        for k in sorted(set(known) | set(attrs))
        if str(known.get(k)) != str(attrs.get(k))
    )


def load_csv_dataset(
    video_dir: str | Path,
    path: str,
    seed: int = 0,
    timeout: float = 30.0,
    max_bytes: int | None = None,
    workers: int = 4,
) -> DownloadResult:
    """Videos named in the table land in ``video_dir`` (fetched, or linked from disk)."""
    table_path = Path(path)
    table = read_table(table_path)
    video_dir = Path(video_dir)
    video_dir.mkdir(parents=True, exist_ok=True)
    failures: list[dict[str, str]] = []
    videos: dict[str, dict] = {}
    captions: list[dict] = []
    for n, row in enumerate(
        table.to_dict("records"), start=2 if table_path.suffix == ".csv" else 1
    ):
        video = str(row["video"]).strip()
        video_id = str(row.get("video_id") or "").strip() or _default_id(video)
        try:
            check_video_id(video_id)
        except ValueError as exc:
            failures.append(
                {"video_id": video_id[:128], "stage": "annotations", "reason": f"row {n}: {exc}"}
            )
            continue
        caption = str(row.get("caption") or "").strip()
        if not caption:
            failures.append(
                {"video_id": video_id, "stage": "annotations", "reason": f"row {n}: empty caption"}
            )
            continue
        attrs = {"video": video, **{k: row.get(k) for k in OPTIONAL[1:] if k in row}}
        known = videos.setdefault(video_id, attrs)
        if known != attrs:
            # a mislabelled row: keep the first description of the video, skip this caption
            failures.append(
                {
                    "video_id": video_id,
                    "stage": "annotations",
                    "reason": f"row {n}: other attributes than an earlier row of this video "
                    f"({_differences(known, attrs)}); caption skipped",
                }
            )
            continue
        captions.append({"video_id": video_id, "caption": caption})
    items, local_rows = [], []
    for video_id, attrs in videos.items():
        video = attrs["video"]
        suffix = Path(video.split("?")[0]).suffix or ".mp4"
        dest = video_dir / f"{video_id}{suffix}"
        if re.match(r"^https?://", video):
            items.append(Item(video, dest))
        else:
            src = Path(video) if Path(video).is_absolute() else table_path.parent / video
            if src.is_dir():
                dest = video_dir / video_id
            elif not src.is_file():
                failures.append(
                    {"video_id": video_id, "stage": "download", "reason": f"missing file {src}"}
                )
                continue
            _place(src, dest)
            local_rows.append(video_id)
        attrs["path"] = str(dest)
    _, fetch_failures = fetch_many(items, workers=workers, timeout=timeout, max_bytes=max_bytes)
    failed_dest = {f["dest"] for f in fetch_failures}
    for f in fetch_failures:
        failures.append(
            {
                "video_id": Path(f["dest"]).stem,
                "stage": "download",
                "reason": f"{f['reason']}: {f['detail']}"[:300],
            }
        )
    failed_ids = {f["video_id"] for f in failures if f["stage"] == "download"}
    rows = []
    for video_id, attrs in videos.items():
        if video_id in failed_ids or attrs.get("path") in failed_dest or "path" not in attrs:
            continue
        rows.append(
            {
                "video_id": video_id,
                "path": attrs["path"],
                "category": str(attrs.get("category") or ""),
                "split": str(attrs.get("split") or ""),
                "start": float(attrs["start"]) if attrs.get("start") not in (None, "") else np.nan,
                "end": float(attrs["end"]) if attrs.get("end") not in (None, "") else np.nan,
            }
        )
    kept = {r["video_id"] for r in rows}
    caps = pd.DataFrame(
        [c for c in captions if c["video_id"] in kept], columns=["video_id", "caption"]
    )
    caps.insert(0, "caption_id", caps.groupby("video_id").cumcount().astype(str))
    caps["caption_id"] = caps["video_id"] + "#" + caps["caption_id"]
    logger.info("csv: %d videos, %d captions, %d failures", len(rows), len(caps), len(failures))
    manifest = pd.DataFrame(rows, columns=["video_id", "path", "category", "split", "start", "end"])
    return DownloadResult(manifest, caps, failures)
