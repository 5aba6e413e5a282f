"""The csv adapter: the user's own table of videos (paths or URLs) and captions."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from vidspace.core.io import read_failures
from vidspace.datasets import download
from vidspace.datasets.synthetic import write_mp4


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def files(tmp_path):
    """Two clips on disk, one more served over loopback HTTP."""
    media = tmp_path / "media"
    media.mkdir()
    for name in ("a", "b", "served"):
        write_mp4(media / f"{name}.mp4", np.full((4, 32, 32, 3), 100, np.uint8), fps=4)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(media)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield media, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _run(tmp_path, table_path):
    raw = tmp_path / "raw"
    return download(
        "csv",
        {"path": str(table_path), "timeout": 60},
        0,
        raw / "manifest.parquet",
        raw / "captions.parquet",
        raw / "failures.csv",
        raw / "videos",
    ), raw


def test_csv_with_paths_urls_and_bad_rows(tmp_path, files):
    media, url = files
    table = pd.DataFrame(
        {
            "video": [
                "media/a.mp4",
                "media/a.mp4",
                "media/b.mp4",
                f"{url}/served.mp4",
                f"{url}/gone.mp4",
                "media/nowhere.mp4",
                "media/b.mp4",
            ],
            "caption": ["first", "second", "third", "fourth", "fifth", "sixth", "   "],
            "category": ["x", "x", "y", "y", "x", "y", "y"],
            "video_id": ["a", "a", "b", "served", "gone", "nowhere", "b"],
            "split": ["test"] * 7,
        }
    )
    table.to_csv(tmp_path / "mine.csv", index=False)
    result, raw = _run(tmp_path, tmp_path / "mine.csv")
    manifest = pd.read_parquet(raw / "manifest.parquet")
    assert manifest["video_id"].tolist() == ["a", "b", "served"]
    assert all((raw / p).exists() for p in manifest["path"])
    captions = pd.read_parquet(raw / "captions.parquet")
    assert captions["caption_id"].tolist() == ["a#0", "a#1", "b#0", "served#0"]
    reasons = dict(
        zip(*read_failures(raw / "failures.csv")[["video_id", "reason"]].T.values, strict=True)
    )
    assert set(reasons) == {"gone", "nowhere", "b"}
    assert reasons["gone"].startswith("not found")
    assert "missing file" in reasons["nowhere"]
    assert reasons["b"] == "row 8: empty caption"


def test_jsonl_and_default_ids(tmp_path, files):
    (tmp_path / "mine.jsonl").write_text(
        '{"video": "media/a.mp4", "caption": "one"}\n{"video": "media/b.mp4", "caption": "two"}\n'
    )
    result, raw = _run(tmp_path, tmp_path / "mine.jsonl")
    ids = pd.read_parquet(raw / "manifest.parquet")["video_id"].tolist()
    assert len(ids) == 2 and ids[0].startswith("a-") and ids[1].startswith("b-")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"video,caption\nmedia/a.mp4,caf\xe9\n", "not UTF-8: byte"),
        (b"path,text\nmedia/a.mp4,x\n", "missing columns"),
    ],
)
def test_unreadable_tables(tmp_path, files, content, match):
    (tmp_path / "bad.csv").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        _run(tmp_path, tmp_path / "bad.csv")


def test_hostile_ids_are_recorded_not_used(tmp_path, files):
    pd.DataFrame(
        {
            "video": ["media/a.mp4", "media/b.mp4"],
            "caption": ["x", "y"],
            "video_id": ["../../etc", "fine"],
        }
    ).to_csv(tmp_path / "t.csv", index=False)
    result, raw = _run(tmp_path, tmp_path / "t.csv")
    assert pd.read_parquet(raw / "manifest.parquet")["video_id"].tolist() == ["fine"]
    failures = read_failures(raw / "failures.csv")
    assert "invalid video id" in failures["reason"][0]
    assert not (tmp_path / "etc").exists()


def test_mislabelled_row_is_recorded_and_skipped(tmp_path, files):
    (tmp_path / "t.csv").write_text(
        "video,caption,category\nmedia/a.mp4,x,c1\nmedia/a.mp4,y,c2\nmedia/b.mp4,z,c2\n"
    )
    result, raw = _run(tmp_path, tmp_path / "t.csv")
    captions = pd.read_parquet(raw / "captions.parquet")
    assert captions["caption"].tolist() == ["x", "z"]
    manifest = pd.read_parquet(raw / "manifest.parquet")
    assert manifest["category"].tolist() == ["c1", "c2"]
    failures = read_failures(raw / "failures.csv")
    assert failures["stage"].tolist() == ["annotations"]
    assert "row 3: other attributes" in failures["reason"][0]
    assert "'c1' vs 'c2'" in failures["reason"][0]


def test_a_folder_of_frames_is_a_video_of_the_table(tmp_path, files):
    """Frames extracted once (a folder of JPEGs) stand for a video: linked into the videos
    folder and sampled like one; an empty folder is recorded by the frame stage."""
    from PIL import Image

    from vidspace.frames import load_frames, sample_frames

    folder = tmp_path / "media" / "frames_of_c"
    folder.mkdir()
    pixels = [np.full((24, 32, 3), 20 * t, np.uint8) for t in range(1, 11)]
    for t, frame in enumerate(pixels, start=1):
        Image.fromarray(frame).save(folder / f"{t}.png")
    (tmp_path / "media" / "empty").mkdir()
    table = pd.DataFrame(
        {
            "video": ["media/a.mp4", "media/frames_of_c", "media/empty"],
            "caption": ["a clip", "a folder of frames", "nothing"],
            "video_id": ["a", "c", "empty"],
        }
    )
    table.to_csv(tmp_path / "mine.csv", index=False)
    _, raw = _run(tmp_path, tmp_path / "mine.csv")
    manifest = pd.read_parquet(raw / "manifest.parquet")
    assert manifest["path"].tolist() == ["videos/a.mp4", "videos/c", "videos/empty"]
    assert sorted(p.name for p in (raw / "videos/c").iterdir()) == sorted(
        p.name for p in folder.iterdir()
    )
    sample_frames(raw / "manifest.parquet", tmp_path / "f.npz", tmp_path / "fail.csv", num_frames=5)
    store, ids = load_frames(tmp_path / "f.npz")
    assert list(map(str, ids)) == ["a", "c"]
    # 1.png .. 10.png in natural order, segment centres 1, 3, 5, 7, 9: files 2, 4, 6, 8, 10
    np.testing.assert_array_equal(store.clip(1), np.stack(pixels[1::2]))
    reasons = read_failures(tmp_path / "fail.csv")
    assert reasons["video_id"].tolist() == ["empty"]
    assert "no image files" in reasons["reason"][0]
