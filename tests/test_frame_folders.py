"""Clips as folders of frames, and MMEB-V2's hosted sets read as its harnesses read them:
an annotation repository (parquet or JSON, in VLM2Vec's schemas) at a revision, the clips
being folders of JPEG frames in a tar archive of another repository, both from a Hugging
Face cache built here and read with the hub offline. Oracles: PIL reading each frame file,
``datasets.load_dataset`` reading the annotation files, Python's tarfile listing the
archive."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import make_workdir, snakemake
from PIL import Image

from vidspace.datasets.synthetic import render_clip
from vidspace.frames import read_clip, uniform_indices

ANNOTATIONS, FRAMES = "VLM2Vec/MSR-VTT", "TIGER-Lab/MMEB-V2"
REV_A, REV_F = "a" * 40, "f" * 40
ARCHIVE = "video-tasks/frames/video_ret.tar.gz"


def _frames(i: int, n: int) -> np.ndarray:
    colour, motion = ["red", "blue", "green", "yellow"][i % 4], ["left", "right", "up"][i % 3]
    return render_clip(colour, "circle", motion, "gray", np.random.default_rng(i), 32, n)


def _jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _folder(path, pixels: np.ndarray):
    """Frames named frame_1 .. frame_N, unpadded: name order is not natural order."""
    path.mkdir(parents=True)
    for t, frame in enumerate(pixels, start=1):
        (path / f"frame_{t}.jpg").write_bytes(_jpeg(frame))
    return path


def _decoded(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))


def test_a_folder_of_frames_is_a_clip_in_natural_order(tmp_path):
    folder = _folder(tmp_path / "v", _frames(0, 12))
    oracle = [_decoded(folder / f"frame_{t}.jpg") for t in range(1, 13)]
    clip = read_clip(folder, "uniform", 4)
    assert clip.indices.tolist() == uniform_indices(12, 4).tolist() == [1, 4, 7, 10]
    for got, i in zip(clip.frames, clip.indices, strict=True):
        np.testing.assert_array_equal(got, oracle[i])  # frame_2 .. frame_11, not frame_10
    # two frames a second, as Qwen3-VL's recipe takes a list of frames
    np.testing.assert_allclose(clip.times, [0.5, 2.0, 3.5, 5.0])
    clip = read_clip(folder, "fps", 4, fps=1.0, start=1.0, end=4.5)
    assert clip.indices.tolist() == [2, 4, 6, 8]  # 1 s apart from 1 s: files 3, 5, 7, 9
    np.testing.assert_allclose(clip.times, [0.0, 1.0, 2.0, 3.0])  # from the segment's start
    (folder / "notes.txt").write_text("not a frame")
    assert read_clip(folder, "uniform", 4).indices.tolist() == [1, 4, 7, 10]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image files"):
        read_clip(empty, "uniform", 4)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "frame_13.jpg")
    with pytest.raises(ValueError, match="frames of different sizes"):
        read_clip(folder, "uniform", 13)


def _hub_file(cache, repo: str, revision: str, name: str, data: bytes):
    """A file of a dataset repository at ``revision`` in a Hugging Face cache."""
    root = cache / f"datasets--{repo.replace('/', '--')}"
    path = root / "snapshots" / revision / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    return path


def _archive(clips: dict[str, np.ndarray], layout: str, set_name: str = "MSR-VTT") -> bytes:
    """A gzip tar of frame folders in ``layout`` (``{set}`` and ``{id}`` filled), with a
    second set's folder of the same id (other pixels) that must not be taken for it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for dataset, offset in ((set_name, 0), ("MSVD", 100)):
            for vid, pixels in clips.items():
                for t, frame in enumerate(pixels + offset, start=1):
                    data = _jpeg(frame)
                    info = tarfile.TarInfo(layout.format(set=dataset, id=vid) + f"/frame_{t}.jpg")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _msrvtt_annotations(ids: list[str]) -> bytes:
    """VLM2Vec/MSR-VTT's test_1k rows as its parser reads them: video_id, video, caption."""
    import datasets

    rows = {
        "video_id": ids,
        "video": [f"{v}.mp4" for v in ids],
        "caption": [f"clip {v} shows a moving circle" for v in ids],
    }
    out = io.BytesIO()
    datasets.Dataset.from_dict(rows).to_parquet(out)
    return out.getvalue()


def test_mmeb_v2_msrvtt_by_revision_offline_through_download_and_frames(tmp_path, monkeypatch):
    """Qwen3-VL-Embedding's layout of the extracted archive; a row whose video has no frame
    folder is recorded and the run goes on."""
    import datasets

    ids = ["video7010", "video7011", "video7012", "video7013"]
    clips = {v: _frames(i, 10) for i, v in enumerate(ids[:3])}  # video7013 has no frames
    cache = tmp_path / "hub"
    annotations = _hub_file(
        cache, ANNOTATIONS, REV_A, "test_1k/test-00000-of-00001.parquet", _msrvtt_annotations(ids)
    )
    _hub_file(cache, ANNOTATIONS, REV_A, "train_9k/test-00000-of-00001.parquet", b"not read")
    layout = "video_ret/data/ziyan/video_retrieval/{set}/frames/{id}"
    archive = _hub_file(cache, FRAMES, REV_F, ARCHIVE, _archive(clips, layout))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    work = make_workdir(tmp_path / "w")
    config = yaml.safe_load((work / "config/demo.yaml").read_text())
    options = {"preset": "mmeb-v2-msrvtt", "revision": REV_A, "frames": {"revision": REV_F}}
    config["datasets"] = {"mmeb": {"adapter": "hub", "sampling": "uniform8", "options": options}}
    (work / "m.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    frames = "data/frames/mmeb/uniform8/frames.npz"
    snakemake([frames, "--cores", "2", "--configfile", "m.yaml"], work)

    oracle = datasets.load_dataset("parquet", data_files=str(annotations), split="train")
    manifest = pd.read_parquet(work / "data/raw/mmeb/manifest.parquet")
    captions = pd.read_parquet(work / "data/raw/mmeb/captions.parquet")
    assert manifest["video_id"].tolist() == oracle["video_id"][:3]
    assert captions["caption"].tolist() == oracle["caption"][:3]
    failures = pd.read_csv(work / "data/raw/mmeb/failures.csv")
    assert failures["video_id"].tolist() == ["video7013"]
    assert "no frame folder 'video7013' below MSR-VTT/" in failures["reason"][0]
    # the frames stored are the archive's JPEGs of that video and set, decoded by PIL
    from vidspace.frames.store import load_frames

    store, stored = load_frames(work / frames)
    with tarfile.open(archive) as tar:
        for row, vid in enumerate(map(str, stored)):
            for k, i in enumerate(uniform_indices(10, 8)):
                member = layout.format(set="MSR-VTT", id=vid) + f"/frame_{i + 1}.jpg"
                with Image.open(tar.extractfile(member)) as image:
                    np.testing.assert_array_equal(store.clip(row)[k], np.array(image))
    # the data table names both sources
    from vidspace.report.assemble import _source

    assert _source(config["datasets"]["mmeb"]) == (
        f"{ANNOTATIONS}@aaaaaaa (split test), frames from {FRAMES}@fffffff"
    )


def test_a_json_set_with_list_captions_from_local_copies(tmp_path):
    """VATEX's shape (videoID, a list of captions enCap, no video column) as a local JSON
    copy, its frames a local folder tree in VLM2Vec's layout; MMEB takes the first caption.
    YouTube ids may start with '-'; macOS's hidden '._' files are no frames."""
    import json

    import datasets

    from vidspace.datasets import download

    ids = ["-4wsuPCjDBc_5_15", "v1", "v2"]
    rows = [
        {"videoID": v, "enCap": [f"first of {v}", f"second of {v}"], "chCap": ["x"]} for v in ids
    ]
    data = tmp_path / "VATEX"
    data.mkdir()
    (data / "vatex_test.json").write_text(json.dumps(rows))
    (data / "vatex_train.json").write_text(json.dumps(rows[:1]))
    tree = tmp_path / "video_ret"
    for i, v in enumerate(ids):
        _folder(tree / "VATEX" / v, _frames(i, 6))
    (tree / "VATEX" / ids[0] / "._frame_1.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
    _folder(tree / "MSVD" / "v1", _frames(9, 6))  # another set's folder of the same name
    raw = tmp_path / "raw"
    options = {"preset": "mmeb-v2-vatex", "path": str(data), "frames": {"path": str(tree)}}
    download("hub", options, 0, raw / "m.parquet", raw / "c.parquet", raw / "f.csv", raw / "v")
    oracle = datasets.load_dataset("json", data_files=str(data / "vatex_test.json"), split="train")
    captions = pd.read_parquet(raw / "c.parquet")
    assert captions["video_id"].tolist() == oracle["videoID"] == ids
    assert captions["caption"].tolist() == [c[0] for c in oracle["enCap"]]
    manifest = pd.read_parquet(raw / "m.parquet")
    assert manifest["path"].tolist() == [f"v/{v}" for v in ids]
    placed = sorted(p.name for p in (raw / "v" / ids[0]).iterdir())
    assert placed == [f"frame_{t}.jpg" for t in sorted(range(1, 7), key=str)]  # no ._ file
    frame = (tree / "VATEX" / ids[0] / "frame_1.jpg").read_bytes()
    assert (raw / "v" / ids[0] / "frame_1.jpg").read_bytes() == frame
    read_clip(raw / "v" / ids[0], "uniform", 6)  # decodes: the hidden file is not read
    # every caption when asked; the set's own folder as the frames path (member matches
    # it); the same rows as JSON lines
    lines = data.parent / "lines"
    lines.mkdir()
    (lines / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    again = {
        **options,
        "path": str(lines),
        "captions": "all",
        "frames": {"path": str(tree / "VATEX")},
    }
    download("hub", again, 0, raw / "m2.parquet", raw / "c2.parquet", raw / "f2", raw / "v2")
    assert len(pd.read_parquet(raw / "c2.parquet")) == 6
    assert pd.read_parquet(raw / "m2.parquet")["video_id"].tolist() == ids
    # two folders of one name below the set: which one is meant cannot be told
    _folder(tree / "VATEX" / "extra" / "v2", _frames(5, 6))
    with pytest.raises(ValueError, match="two folders named 'v2'"):
        download("hub", options, 0, raw / "m3.parquet", raw / "c3", raw / "f3", raw / "v3")
    assert not (raw / "m3.parquet").exists() and not list((raw / "v3").iterdir())


def test_a_set_declared_by_its_dataset_card(tmp_path):
    """MSR-VTT as friedrichor/MSR-VTT lays it out (the layout VLM2Vec's copies follow): flat
    JSON files at the root, the subset test_1k declared in the card's configs."""
    import json

    from vidspace.datasets import download

    data = tmp_path / "card"
    data.mkdir()
    rows = [{"video_id": f"video{i}", "video": f"video{i}.mp4", "caption": f"c{i}"} for i in (7, 8)]
    (data / "msrvtt_test_1k.json").write_text(json.dumps(rows))
    (data / "msrvtt_train_9k.json").write_text(json.dumps(rows[:1] * 3))
    (data / "README.md").write_text(
        "---\nconfigs:\n- config_name: train_9k\n  data_files:\n  - split: train\n"
        "    path: msrvtt_train_9k.json\n- config_name: test_1k\n  data_files:\n"
        "  - split: test\n    path: msrvtt_test_1k.json\n---\n# MSR-VTT\n"
    )
    tree = tmp_path / "frames" / "MSR-VTT"
    for i in (7, 8):
        _folder(tree / f"video{i}", _frames(i, 4))
    raw = tmp_path / "raw"
    options = {"preset": "mmeb-v2-msrvtt", "path": str(data), "frames": {"path": str(tree.parent)}}
    download("hub", options, 0, raw / "m.parquet", raw / "c.parquet", raw / "f.csv", raw / "v")
    assert pd.read_parquet(raw / "c.parquet")["caption"].tolist() == ["c7", "c8"]
    with pytest.raises(
        ValueError, match=r"no config 'test_7k'; its configs: \['train_9k', 'test_1k'\]"
    ):
        download(
            "hub", {**options, "subset": "test_7k"}, 0, raw / "m", raw / "c", raw / "f", raw / "v"
        )
    from vidspace.datasets.hub_files import split_files

    # no subset named and no default config among two: the files' names decide
    assert split_files(data, "test", None) == [data / "msrvtt_test_1k.json"]
    (data / "README.md").unlink()  # no card: the subset as a word of the file's name
    download("hub", options, 0, raw / "m.parquet", raw / "c.parquet", raw / "f.csv", raw / "v")
    assert pd.read_parquet(raw / "c.parquet")["caption"].tolist() == ["c7", "c8"]


def test_mmeb_v2_presets_name_what_they_need(tmp_path, monkeypatch):
    from vidspace.datasets.hub import resolve_options

    with pytest.raises(ValueError, match=r"no pinned revision, so give revision: .*dataset_info"):
        resolve_options({"preset": "mmeb-v2-msrvtt"})
    with pytest.raises(ValueError, match="give frames.revision"):
        resolve_options({"preset": "mmeb-v2-msrvtt", "revision": REV_A})
    with pytest.raises(ValueError, match="frames.revision must be the 40-hex commit"):
        resolve_options(
            {"preset": "mmeb-v2-msrvtt", "revision": REV_A, "frames": {"revision": "main"}}
        )
    # a revision of the archive that is not cached, offline: named, nothing left behind
    from vidspace.datasets import download

    cache = tmp_path / "hub"
    _hub_file(
        cache,
        ANNOTATIONS,
        REV_A,
        "test_1k/test-00000-of-00001.parquet",
        _msrvtt_annotations(["v1"]),
    )
    from huggingface_hub import constants  # read when imported: set in this process

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    raw = tmp_path / "raw"
    options = {"preset": "mmeb-v2-msrvtt", "revision": REV_A, "frames": {"revision": "e" * 40}}
    with pytest.raises(ValueError, match=f"revision {'e' * 40} of {FRAMES} is not in the local"):
        download("hub", options, 0, raw / "m.parquet", raw / "c.parquet", raw / "f.csv", raw / "v")
    assert not (raw / "m.parquet").exists() and not list((raw / "v").iterdir())
    # a truncated archive, and one with bytes changed inside (which tarfile's stream mode
    # alone would read as a shorter archive, or pass on as other pixels), are named
    whole = _archive({f"v{i}": _frames(i, 3) for i in range(4)}, "{set}/{id}")
    damaged = bytearray(whole)
    middle = len(whole) // 2
    damaged[middle : middle + 64] = bytes(b ^ 0x5A for b in whole[middle : middle + 64])
    options["frames"] = {"revision": REV_F}
    for data in (whole[:200], bytes(damaged)):
        _hub_file(cache, FRAMES, REV_F, ARCHIVE, data)
        with pytest.raises(ValueError, match="video_ret.tar.gz is truncated, corrupt or not a tar"):
            download("hub", options, 0, raw / "m.parquet", raw / "c", raw / "f.csv", raw / "v")
        assert not list((raw / "v").iterdir())


def test_mmeb_v2_protocols_read_the_hosted_sets_without_a_data_deviation():
    from vidspace.analyses.published import run_deviations
    from vidspace.protocols import get_protocol

    for key in ("msrvtt", "msvd", "didemo", "youcook2", "vatex"):
        protocol = get_protocol(f"mmeb-v2-{key}")
        options = {"preset": f"mmeb-v2-{key}", "revision": REV_A, "frames": {"revision": REV_F}}
        dataset = {"adapter": "hub", "options": options}
        metrics = {"n_videos": 10, "n_captions": 10}
        model = {"adapter": "clip"}
        evaluation = {"split": "test"}
        found = run_deviations(
            protocol,
            "d",
            dataset,
            {"method": "uniform", "num_frames": 8},
            model,
            evaluation,
            metrics,
        )
        assert not [d for d in found if d.startswith("data:")], found
        other = {**dataset, "options": {**options, "repo": "someone/copy"}}
        found = run_deviations(
            protocol, "d", other, {"method": "uniform", "num_frames": 8}, model, evaluation, metrics
        )
        assert (
            f"data: someone/copy@aaaaaaa where the protocol reads {protocol.dataset_repo}" in found
        )
    # what changes the clips or captions is named; a category column is not
    from vidspace.analyses.published import _hosted_deviations

    mmeb = {"preset": "mmeb-v2-msrvtt", "revision": REV_A, "frames": {"revision": REV_F}}
    assert _hosted_deviations(get_protocol("mmeb-v2-msrvtt"), {**mmeb, "limit": 50}) == [
        "data: limit 50 where the protocol reads None"
    ]
    changed = {**mmeb, "columns": {"category": "genre", "caption": "title"}, "captions": "all"}
    assert _hosted_deviations(get_protocol("mmeb-v2-msrvtt"), changed) == [
        "data: captions 'all' where the protocol reads 'first'",
        "data: column caption 'title' where the protocol reads 'caption'",
    ]
    mteb = {"preset": "mteb-msrvtt", "frames": {"path": "/frames"}}
    assert _hosted_deviations(get_protocol("mteb-msrvtt-t2v"), mteb) == [
        "data: clips from a frames source where the protocol reads the videos"
    ]


def test_didemo_names_its_videos_by_file_name_and_a_local_archive_serves_them(tmp_path):
    """DiDeMo's shape: no id column, the video path's file name (Flickr's, with '@') names
    the frame folder, as its parser takes it; two rows of one video are one clip with two
    captions; the frames come from a local tar archive in VLM2Vec's layout."""
    import datasets

    from vidspace.datasets import download

    names = ["10015567@N08_3655084291_d8b16dcd5e", "49503171@N00_4255478417_0e5a5b9b8a"]
    data = tmp_path / "DiDeMo" / "data"
    data.mkdir(parents=True)
    names.append(names[0].replace("@", "_"))  # the first's name once made safe
    rows = {
        "video": [f"DiDeMo/videos/{n}.mp4" for n in (*names, names[0])] + [None],
        "caption": ["a man walks in", "a dog runs", "a cat", "the man sits down", "no video"],
    }
    datasets.Dataset.from_dict(rows).to_parquet(str(data / "test-00000-of-00001.parquet"))
    archive = tmp_path / "video_ret.tar.gz"
    clips = {n: _frames(i, 5) for i, n in enumerate(names)}
    archive.write_bytes(_archive(clips, "video_ret/{set}/{id}", "DiDeMo"))
    raw = tmp_path / "raw"
    options = {
        "preset": "mmeb-v2-didemo",
        "path": str(data.parent),
        "frames": {"path": str(archive)},
    }
    download("hub", options, 0, raw / "m.parquet", raw / "c.parquet", raw / "f.csv", raw / "v")
    manifest = pd.read_parquet(raw / "m.parquet")
    captions = pd.read_parquet(raw / "c.parquet")
    # made safe for paths, one to one: the two names that become one carry a digest
    ids = manifest["video_id"].tolist()
    assert ids[1] == names[1].replace("@", "_") and len(set(ids)) == 3
    assert all(
        i.startswith(names[2] + "-") and len(i) == len(names[2]) + 11 for i in (ids[0], ids[2])
    )
    assert captions.groupby("video_id")["caption"].apply(list).to_dict() == {
        ids[0]: ["a man walks in", "the man sits down"],
        ids[1]: ["a dog runs"],
        ids[2]: ["a cat"],
    }
    failures = pd.read_csv(raw / "f.csv")
    assert failures["video_id"].tolist() == ["row000004"]  # named no video: no clip
    assert failures["reason"][0] == "the row has no id and names no video"
    clip = read_clip(raw / manifest["path"][1], "uniform", 5)
    with tarfile.open(archive) as tar:
        for k in range(5):
            member = f"video_ret/DiDeMo/{names[1]}/frame_{k + 1}.jpg"
            with Image.open(tar.extractfile(member)) as image:
                np.testing.assert_array_equal(clip.frames[k], np.array(image))


def test_json_annotation_shapes_read_as_datasets_reads_them(tmp_path):
    """A list of rows, JSON lines and {"data": [rows]}: the rows ``datasets.load_dataset``
    reads (the last with its field named); a bad line is named by its number, and a
    dict of column lists (one row to ``datasets``) is no table of rows."""
    import json

    import datasets

    from vidspace.datasets.hub_files import read_records

    rows = [{"video_id": f"v{i}", "caption": f"c{i}"} for i in range(3)]
    wanted = {"id": "video_id", "caption": "caption"}
    shapes = {
        "list.json": (json.dumps(rows), {}),
        "lines.jsonl": ("\n".join(map(json.dumps, rows)) + "\n", {}),
        "field.json": (json.dumps({"data": rows}), {"field": "data"}),
    }
    for name, (text, kwargs) in shapes.items():
        (tmp_path / name).write_text(text)
        oracle = datasets.load_dataset(
            "json", data_files=str(tmp_path / name), split="train", **kwargs
        )
        (got,) = list(read_records(tmp_path / name, wanted))
        assert got == oracle.select_columns(["video_id", "caption"]).to_list(), name
    (tmp_path / "columns.json").write_text(json.dumps({k: [r[k] for r in rows] for k in rows[0]}))
    with pytest.raises(ValueError, match="columns.json holds no table of rows"):
        list(read_records(tmp_path / "columns.json", wanted))
    (tmp_path / "bad.jsonl").write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl line 2 is not JSON"):
        list(read_records(tmp_path / "bad.jsonl", wanted))
    with pytest.raises(ValueError, match=r"columns \{'id': 'videoID'\} are not in list.json"):
        list(read_records(tmp_path / "list.json", {"id": "videoID"}))


def test_a_damaged_annotation_file_is_named(tmp_path):
    from vidspace.datasets import download

    data = tmp_path / "set"
    data.mkdir()
    (data / "test-00000-of-00001.parquet").write_bytes(b"PAR1 cut short")
    raw = tmp_path / "raw"
    with pytest.raises(ValueError, match=r"test-00000-of-00001.parquet is not a readable parquet"):
        download("hub", {"path": str(data)}, 0, raw / "m.parquet", raw / "c", raw / "f", raw / "v")
    assert not (raw / "m.parquet").exists() and not list((raw / "v").iterdir())
    (data / "test-00000-of-00001.parquet").unlink()
    (data / "test.json").write_bytes(b'[{"caption": "caf\xe9"}]')
    with pytest.raises(ValueError, match="test.json is not UTF-8 text"):
        download("hub", {"path": str(data)}, 0, raw / "m.parquet", raw / "c", raw / "f", raw / "v")
