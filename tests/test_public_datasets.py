"""Public dataset adapters on small annotation files the tests write, with videos from
local folders, a loopback-served archive, or the stubbed yt-dlp boundary."""

from __future__ import annotations

import json
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from test_youtube import FakeYDL

import vidspace.datasets.youtube
from vidspace.core.io import read_failures
from vidspace.datasets import download
from vidspace.datasets.synthetic import write_mp4


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _clip(path):
    write_mp4(path, np.full((4, 32, 32, 3), 80, np.uint8), fps=4)


def _download(tmp_path, adapter, options):
    raw = tmp_path / "raw"
    download(
        adapter,
        options,
        0,
        raw / "manifest.parquet",
        raw / "captions.parquet",
        raw / "failures.csv",
        raw / "videos",
    )
    return (
        pd.read_parquet(raw / "manifest.parquet"),
        pd.read_parquet(raw / "captions.parquet"),
        read_failures(raw / "failures.csv"),
        raw,
    )


def test_msrvtt_from_an_archive_over_http(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    for n in (7010, 7011):  # video7012 is missing from the archive
        _clip(tmp_path / f"video{n}.mp4")
    with zipfile.ZipFile(site / "MSRVTT.zip", "w") as z:
        for n in (7010, 7011):
            z.write(tmp_path / f"video{n}.mp4", f"MSRVTT/videos/all/video{n}.mp4")
    pd.DataFrame(
        {
            "key": ["ret0", "ret1", "ret2"],
            "vid_key": ["msr7010", "msr7011", "msr7012"],
            "video_id": ["video7010", "video7011", "video7012"],
            "sentence": ["a man sings", "a car drives", "a cat sleeps"],
        }
    ).to_csv(site / "test.csv", index=False)
    (site / "info.json").write_text(
        json.dumps(
            {
                "videos": [
                    {"video_id": "video7010", "category": 0},
                    {"video_id": "video7011", "category": 9},
                ]
            }
        )
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        options = {
            "annotations": {"url": f"{url}/test.csv"},
            "info": {"url": f"{url}/info.json"},
            "videos": {"url": f"{url}/MSRVTT.zip", "member": "MSRVTT/videos/all"},
        }
        manifest, captions, failures, raw = _download(tmp_path, "msrvtt", options)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert manifest["video_id"].tolist() == ["video7010", "video7011"]
    assert manifest["category"].tolist() == ["music", "vehicles/autos"]
    assert captions["caption"].tolist() == ["a man sings", "a car drives"]
    assert failures["video_id"].tolist() == ["video7012"]
    assert (raw / "downloads/MSRVTT.zip.d/MSRVTT/videos/all/video7010.mp4").exists()


def test_vatex_and_youcook2_through_youtube(tmp_path, monkeypatch):
    monkeypatch.setattr(vidspace.datasets.youtube, "_default_factory", lambda: FakeYDL)
    FakeYDL.errors = {"BBBBBBBBBBB": "Private video. Sign in if you've been granted access"}
    (tmp_path / "vatex.json").write_text(
        json.dumps(
            [
                {"videoID": "AAAAAAAAAAA_000010_000020", "enCap": ["one", "two"], "chCap": ["一"]},
                {"videoID": "BBBBBBBBBBB_000000_000010", "enCap": ["three"]},
                {"videoID": "../../etc_1_2", "enCap": ["evil"]},
            ]
        )
    )
    manifest, captions, failures, _ = _download(
        tmp_path / "v", "vatex", {"annotations": {"path": str(tmp_path / "vatex.json")}}
    )
    assert manifest["video_id"].tolist() == ["AAAAAAAAAAA_000010_000020"]
    # the file is trimmed to the clip: its segment starts at the file's start
    assert manifest[["start", "end"]].values.tolist() == [[0.0, 10.0]]
    assert manifest["path"].str.endswith("yt_AAAAAAAAAAA.mp4").all()
    assert captions["caption"].tolist() == ["one", "two"]
    reasons = dict(zip(failures["video_id"], failures["reason"], strict=True))
    assert reasons["BBBBBBBBBBB_000000_000010"].startswith("private")
    assert "youtube id" in reasons["../../etc_1_2"]
    # captions first: enCap[0] only, as MMEB-V2 and MTEB take VATEX
    options = {"annotations": {"path": str(tmp_path / "vatex.json")}, "captions": "first"}
    _, first, _, _ = _download(tmp_path / "v1", "vatex", options)
    assert first["caption"].tolist() == ["one"]
    (tmp_path / "yc2.json").write_text(
        json.dumps(
            {
                "database": {
                    "CCCCCCCCCCC": {
                        "subset": "validation",
                        "recipe_type": "113",
                        "annotations": [
                            {"id": 0, "segment": [5, 12], "sentence": "crack two eggs"},
                            {"id": 1, "segment": [12, 30], "sentence": "whisk them"},
                        ],
                    },
                    "DDDDDDDDDDD": {
                        "subset": "training",
                        "recipe_type": "101",
                        "annotations": [
                            {"id": 0, "segment": [0, 4], "sentence": "not in validation"}
                        ],
                    },
                }
            }
        )
    )
    manifest, captions, failures, _ = _download(
        tmp_path / "y", "youcook2", {"annotations": {"path": str(tmp_path / "yc2.json")}}
    )
    assert manifest["video_id"].tolist() == ["CCCCCCCCCCC_00", "CCCCCCCCCCC_01"]
    assert manifest["category"].tolist() == ["113", "113"]
    assert captions["caption"].tolist() == ["crack two eggs", "whisk them"]
    # one download per YouTube video, trimmed to the span of its segments [5, 30] ...
    calls = [c for c in FakeYDL.calls if c["id"] == "CCCCCCCCCCC"]
    assert len(calls) == 1
    (span,) = list(calls[0]["download_ranges"]({}, None))
    assert (span["start_time"], span["end_time"]) == (5.0, 30.0)
    # ... and both segments cut from that one file, on its clock
    assert manifest["path"].nunique() == 1
    assert manifest[["start", "end"]].values.tolist() == [[0.0, 7.0], [7.0, 25.0]]


def test_coco_images_as_one_frame_videos(tmp_path):
    from PIL import Image

    images = tmp_path / "val2017"
    images.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(images / "000000000139.jpg")
    (tmp_path / "captions.json").write_text(
        json.dumps(
            {
                "images": [
                    {"id": 139, "file_name": "000000000139.jpg"},
                    {"id": 285, "file_name": "000000000285.jpg"},
                ],
                "annotations": [
                    {"image_id": 139, "id": 1, "caption": "a room"},
                    {"image_id": 139, "id": 2, "caption": "a living room "},
                    {"image_id": 285, "id": 3, "caption": "a bear"},
                ],
            }
        )
    )
    manifest, captions, failures, _ = _download(
        tmp_path,
        "coco_captions",
        {"annotations": {"path": str(tmp_path / "captions.json")}, "images": {"path": str(images)}},
    )
    assert manifest["video_id"].tolist() == ["coco000000000139"]
    assert captions["caption"].tolist() == ["a room", "a living room"]
    assert failures["video_id"].tolist() == ["coco000000000285"]


@pytest.mark.parametrize(
    "adapter, content, match",
    [
        ("vatex", b"\xff\xfe not json", "not valid UTF-8 JSON"),
        ("msrvtt", b"video_id,caption\nvideo1,x\n", "missing columns"),
    ],
)
def test_malformed_annotations(tmp_path, adapter, content, match):
    (tmp_path / "ann").write_bytes(content)
    options = {"annotations": {"path": str(tmp_path / "ann")}}
    if adapter == "msrvtt":
        options["videos"] = {"path": str(tmp_path)}
    with pytest.raises(ValueError, match=match):
        _download(tmp_path, adapter, options)


def test_msrvtt_train_split_with_all_captions_and_vatex_id_list(tmp_path, monkeypatch):
    videos = tmp_path / "videos"
    videos.mkdir()
    for n in (1, 2):
        _clip(videos / f"video{n}.mp4")
    (tmp_path / "data.json").write_text(
        json.dumps(
            {
                "sentences": [
                    {"video_id": "video1", "caption": "c1a", "sen_id": 0},
                    {"video_id": "video1", "caption": "c1b", "sen_id": 1},
                    {"video_id": "video2", "caption": "c2a", "sen_id": 2},
                ]
            }
        )
    )
    (tmp_path / "train.csv").write_text("video_id\nvideo1\nvideo2\n")
    manifest, captions, failures, _ = _download(
        tmp_path,
        "msrvtt",
        {
            "split": "train-9k",
            "captions": "all",
            "annotations": {"path": str(tmp_path)},
            "data": {"path": str(tmp_path / "data.json")},
            "train_list": {"path": str(tmp_path / "train.csv")},
            "videos": {"path": str(videos)},
        },
    )
    assert manifest["split"].tolist() == ["train", "train"]
    assert captions["caption"].tolist() == ["c1a", "c1b", "c2a"]
    with pytest.raises(ValueError, match="need the 'data' source"):
        _download(
            tmp_path / "x",
            "msrvtt",
            {
                "split": "train-7k",
                "annotations": {"path": str(tmp_path)},
                "videos": {"path": str(videos)},
            },
        )
    monkeypatch.setattr(vidspace.datasets.youtube, "_default_factory", lambda: FakeYDL)
    FakeYDL.errors = {}
    (tmp_path / "vatex.json").write_text(
        json.dumps(
            [
                {"videoID": "AAAAAAAAAAA_000010_000020", "enCap": ["one"]},
                {"videoID": "EEEEEEEEEEE_000000_000010", "enCap": ["two"]},
            ]
        )
    )
    (tmp_path / "hgr_test.txt").write_text("EEEEEEEEEEE_000000_000010\n")
    manifest, _, _, _ = _download(
        tmp_path / "v",
        "vatex",
        {
            "annotations": {"path": str(tmp_path / "vatex.json")},
            "ids": {"path": str(tmp_path / "hgr_test.txt")},
        },
    )
    assert manifest["video_id"].tolist() == ["EEEEEEEEEEE_000000_000010"]


def test_msrvtt_standard_protocol_from_a_local_archive(tmp_path):
    """train-9k + 1k-A in one dataset, every table a member of one local zip (as in the
    published msrvtt_data.zip); categories from MSRVTT_data.json's videos."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for n in (1, 2, 7010):
        _clip(videos / f"video{n}.mp4")
    data = {
        "videos": [
            {"video_id": "video1", "category": 17, "split": "train"},
            {"video_id": "video2", "category": 3, "split": "train"},
            {"video_id": "video7010", "category": 0, "split": "test"},
        ],
        "sentences": [
            {"video_id": "video1", "caption": "a man cooks", "sen_id": 0},
            {"video_id": "video1", "caption": "someone fries eggs", "sen_id": 1},
            {"video_id": "video2", "caption": "a football match", "sen_id": 2},
            {"video_id": "video7010", "caption": "a band plays", "sen_id": 3},
            {"video_id": "video7010", "caption": "people on a stage", "sen_id": 4},
        ],
    }
    with zipfile.ZipFile(tmp_path / "msrvtt_data.zip", "w") as z:
        z.writestr("msrvtt_data/MSRVTT_data.json", json.dumps(data))
        z.writestr("msrvtt_data/MSRVTT_train.9k.csv", "video_id\nvideo1\nvideo2\n")
        z.writestr(
            "msrvtt_data/MSRVTT_JSFUSION_test.csv",
            "key,vid_key,video_id,sentence\nret0,msr7010,video7010,a band plays live\n",
        )

    def member(name):
        return {"path": str(tmp_path / "msrvtt_data.zip"), "member": f"msrvtt_data/{name}"}

    manifest, captions, failures, raw = _download(
        tmp_path,
        "msrvtt",
        {
            "split": "train-9k+1k-A",
            "annotations": member("MSRVTT_JSFUSION_test.csv"),
            "data": member("MSRVTT_data.json"),
            "train_list": member("MSRVTT_train.9k.csv"),
            "videos": {"path": str(videos)},
        },
    )
    assert manifest["video_id"].tolist() == ["video1", "video2", "video7010"]
    assert manifest["split"].tolist() == ["train", "train", "test"]
    assert manifest["category"].tolist() == ["cooking", "sports/actions", "music"]
    # train clips bring all their captions, the 1k-A clip its one JSFusion sentence
    assert captions["caption"].tolist() == [
        "a man cooks",
        "someone fries eggs",
        "a football match",
        "a band plays live",
    ]
    assert failures.empty
    with pytest.raises(ValueError, match="is not in"):
        _download(tmp_path / "x", "msrvtt", {"annotations": member("nope.csv"), "videos": {}})


def test_youcook2_recipe_names_from_label_foodtype(tmp_path, monkeypatch):
    monkeypatch.setattr(vidspace.datasets.youtube, "_default_factory", lambda: FakeYDL)
    FakeYDL.errors = {}
    (tmp_path / "yc2.json").write_text(
        json.dumps(
            {
                "database": {
                    "CCCCCCCCCCC": {
                        "subset": "validation",
                        "recipe_type": "113",
                        "annotations": [{"id": 0, "segment": [5, 12], "sentence": "crack eggs"}],
                    },
                    "FFFFFFFFFFF": {
                        "subset": "validation",
                        "recipe_type": "999",  # not in the label file: the id stays
                        "annotations": [{"id": 0, "segment": [0, 4], "sentence": "slice"}],
                    },
                }
            }
        )
    )
    (tmp_path / "label_foodtype.csv").write_text("101,hamburger\n113,omelet\n")
    manifest, _, _, _ = _download(
        tmp_path,
        "youcook2",
        {
            "annotations": {"path": str(tmp_path / "yc2.json")},
            "labels": {"path": str(tmp_path / "label_foodtype.csv")},
        },
    )
    assert manifest["category"].tolist() == ["omelet", "999"]
    (tmp_path / "bad.csv").write_text("id,name\n101,hamburger\n")
    with pytest.raises(ValueError, match="without a header"):
        _download(
            tmp_path / "b",
            "youcook2",
            {
                "annotations": {"path": str(tmp_path / "yc2.json")},
                "labels": {"path": str(tmp_path / "bad.csv")},
            },
        )
