"""YouTube clips through the ``yt-dlp`` Python package, trimmed to a segment.

VATEX and YouCook2 name YouTube videos plus start/end times. Each clip downloads into a
scratch folder and moves into place only when complete; ids are validated before they
reach a path or yt-dlp; failures are classified (private, unavailable, geo-blocked, ...)
for failures.csv; concurrency is bounded; a rerun skips clips already on disk.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vidspace.datasets.tables import check_video_id

logger = logging.getLogger(__name__)

YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")

# yt-dlp's own messages, most specific first
REASONS = [
    ("private", ("private video",)),
    (
        "geo-blocked",
        (
            "not made this video available in your country",
            "geo restrict",
            "not available in your country",
            "blocked it in your country",
        ),
    ),
    ("age-restricted", ("confirm your age", "age-restricted", "inappropriate for some users")),
    (
        "removed",
        (
            "removed by the uploader",
            "account associated with this video has been",
            "copyright claim",
            "terminated",
        ),
    ),
    ("rate-limited", ("http error 429", "too many requests")),
    ("timeout", ("timed out", "timeout")),
    (
        "network",
        ("unable to download webpage", "connection", "name resolution", "network is unreachable"),
    ),
    ("unavailable", ("video unavailable", "is not available", "does not exist")),
]


@dataclass(frozen=True)
class Clip:
    video_id: str  # the dataset's id: becomes the file name
    youtube_id: str
    start: float | None = None
    end: float | None = None


def check_youtube_id(youtube_id: str) -> str:
    if not isinstance(youtube_id, str) or not YOUTUBE_ID.match(youtube_id):
        raise ValueError(f"invalid YouTube id {youtube_id!r}: expected 11 of [A-Za-z0-9_-]")
    return youtube_id


def classify(message: str) -> str:
    """Short failure category of a yt-dlp error message."""
    text = message.lower()
    for reason, needles in REASONS:
        if any(n in text for n in needles):
            return reason
    return "error"


def ydl_options(clip: Clip, scratch: Path, max_height: int = 480, timeout: float = 30.0) -> dict:
    """The yt-dlp options for one clip: mp4 at most ``max_height`` px, the segment only."""
    from yt_dlp.utils import download_range_func

    options = {
        "format": f"bv*[height<={max_height}][ext=mp4]+ba[ext=m4a]/b[height<={max_height}]/b",
        "merge_output_format": "mp4",
        "outtmpl": str(scratch / "clip.%(ext)s"),
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": timeout,
        "retries": 3,
        "fragment_retries": 3,
    }
    if clip.start is not None and clip.end is not None:
        if not 0 <= clip.start < clip.end:
            raise ValueError(f"{clip.video_id}: bad segment [{clip.start}, {clip.end}]")
        options["download_ranges"] = download_range_func(None, [(clip.start, clip.end)])
        options["force_keyframes_at_cuts"] = True
    return options


def _default_factory():
    import yt_dlp

    return yt_dlp.YoutubeDL


def download_clips(
    clips: Iterable[Clip],
    dest_dir: str | Path,
    workers: int = 4,
    ydl_factory: Callable | None = None,
    **option_kwargs,
) -> tuple[dict[str, Path], list[dict[str, str]]]:
    """Download clips into ``dest_dir/<video_id>.mp4``. Returns (paths, failures).

    ``ydl_factory`` is yt-dlp's ``YoutubeDL`` class (tests replace only this boundary).
    """
    from yt_dlp.utils import DownloadError

    factory = ydl_factory or _default_factory()
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    failures: list[dict[str, str]] = []
    lock = threading.Lock()

    def one(clip: Clip) -> None:
        try:
            check_video_id(clip.video_id)
            check_youtube_id(clip.youtube_id)
        except ValueError as exc:
            with lock:
                failures.append(
                    {
                        "video_id": str(clip.video_id)[:128],
                        "stage": "download",
                        "reason": f"invalid id: {exc}",
                    }
                )
            return
        final = dest_dir / f"{clip.video_id}.mp4"
        if final.exists() and final.stat().st_size > 0:
            with lock:
                paths[clip.video_id] = final
            return
        scratch = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".{clip.video_id}."))
        try:
            options = ydl_options(clip, scratch, **option_kwargs)
            with factory(options) as ydl:
                ydl.download([f"https://www.youtube.com/watch?v={clip.youtube_id}"])
            produced = sorted(scratch.glob("clip.*"))
            if not produced or produced[0].stat().st_size == 0:
                raise DownloadError("yt-dlp finished without writing the clip")
            os.replace(produced[0], final)
            with lock:
                paths[clip.video_id] = final
        except DownloadError as exc:
            reason = classify(str(exc))
            logger.warning("%s (%s): %s", clip.video_id, clip.youtube_id, reason)
            with lock:
                failures.append(
                    {
                        "video_id": clip.video_id,
                        "stage": "download",
                        "reason": f"{reason}: {str(exc).strip()[:200]}",
                    }
                )
        except ValueError as exc:
            with lock:
                failures.append(
                    {"video_id": clip.video_id, "stage": "download", "reason": str(exc)}
                )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, clips))
    return paths, failures
