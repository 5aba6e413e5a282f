"""YouTube clips: the yt-dlp extractor boundary is stubbed; option building, id checks,
failure parsing, atomic placement and bounded concurrency are the real code."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from yt_dlp.utils import DownloadError

from vidspace.datasets.youtube import Clip, classify, download_clips, ydl_options


class FakeYDL:
    """Stands in for yt_dlp.YoutubeDL: writes the file its outtmpl names, or fails the way
    YouTube does for the ids in ``errors``."""

    errors: dict[str, str] = {}
    calls: list[dict] = []
    active = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, options):
        self.options = options

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def download(self, urls):
        youtube_id = urls[0].rsplit("=", 1)[1]
        with FakeYDL.lock:
            FakeYDL.calls.append({"id": youtube_id, **self.options})
            FakeYDL.active += 1
            FakeYDL.peak = max(FakeYDL.peak, FakeYDL.active)
        try:
            time.sleep(0.02)
            if youtube_id in self.errors:
                raise DownloadError(f"ERROR: [youtube] {youtube_id}: {self.errors[youtube_id]}")
            Path(self.options["outtmpl"].replace("%(ext)s", "mp4")).write_bytes(b"\0" * 64)
        finally:
            with FakeYDL.lock:
                FakeYDL.active -= 1


@pytest.fixture(autouse=True)
def reset():
    FakeYDL.errors, FakeYDL.calls, FakeYDL.active, FakeYDL.peak = {}, [], 0, 0


@pytest.mark.parametrize(
    "message, reason",
    [
        ("Private video. Sign in if you've been granted access to this video", "private"),
        ("Video unavailable", "unavailable"),
        ("The uploader has not made this video available in your country", "geo-blocked"),
        (
            "Sign in to confirm your age. This video may be inappropriate for some users.",
            "age-restricted",
        ),
        ("Video unavailable. This video has been removed by the uploader", "removed"),
        ("Unable to download webpage: HTTP Error 429: Too Many Requests", "rate-limited"),
        ("Unable to download webpage: The read operation timed out", "timeout"),
    ],
)
def test_failure_messages_are_classified(message, reason):
    assert classify(f"ERROR: [youtube] abcdefghijk: {message}") == reason


def test_options_trim_the_segment(tmp_path):
    options = ydl_options(Clip("v1", "abcdefghijk", 10.0, 20.0), tmp_path)
    ranges = list(options["download_ranges"]({}, None))
    assert ranges[0]["start_time"] == 10.0 and ranges[0]["end_time"] == 20.0
    assert options["force_keyframes_at_cuts"] and options["noplaylist"]
    assert "height<=480" in options["format"]
    assert "download_ranges" not in ydl_options(Clip("v2", "abcdefghijk"), tmp_path)
    with pytest.raises(ValueError, match="bad segment"):
        ydl_options(Clip("v3", "abcdefghijk", 5.0, 2.0), tmp_path)


def test_downloads_failures_and_rerun(tmp_path):
    clips = [Clip(f"clip{i}", f"id{i:07d}xx", i, i + 5) for i in range(10)]
    clips.append(Clip("evil", "../../etc/x", 0, 1))
    clips.append(Clip("../evil", "abcdefghijk", 0, 1))
    FakeYDL.errors = {"id0000003xx": "Private video. Sign in", "id0000007xx": "Video unavailable"}
    paths, failures = download_clips(clips, tmp_path, workers=3, ydl_factory=FakeYDL)
    assert sorted(paths) == sorted(f"clip{i}" for i in range(10) if i not in (3, 7))
    reasons = {f["video_id"]: f["reason"] for f in failures}
    assert reasons["clip3"].startswith("private:") and reasons["clip7"].startswith("unavailable:")
    assert "invalid YouTube id" in reasons["evil"] and "invalid video id" in reasons["../evil"]
    assert all("etc" not in c["outtmpl"] for c in FakeYDL.calls)  # hostile ids never reached it
    assert FakeYDL.peak <= 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.mp4" for k in paths)
    calls = len(FakeYDL.calls)
    FakeYDL.errors = {}
    paths2, failures2 = download_clips(clips[:10], tmp_path, workers=3, ydl_factory=FakeYDL)
    assert len(paths2) == 10 and failures2 == []
    assert len(FakeYDL.calls) == calls + 2  # only the two that failed were tried again
