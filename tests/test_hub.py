"""The hub adapter on a dataset built here in MTEB's schema (a ``datasets.Dataset`` of real
H.264 clips as ``Video`` bytes and their captions, saved as parquet in the Hugging Face
cache layout): loaded by id and revision with the hub offline, through the workflow's
download and frame stages; the ``datasets`` library reads the same files as the oracle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import make_workdir, snakemake

from vidspace.datasets.synthetic import render_clip, write_mp4

REPO_ID, REVISION = "someone/tiny-video-set", "0123456789abcdef0123456789abcdef01234567"
MOTIONS = [("red", "circle", "left"), ("blue", "square", "right"), ("green", "triangle", "up")]
MOTIONS += [("yellow", "circle", "down"), ("purple", "square", "grow")]


def _clip_bytes(tmp_path, i: int) -> bytes:
    colour, shape, motion = MOTIONS[i % len(MOTIONS)]
    frames = render_clip(colour, shape, motion, "gray", np.random.default_rng(i), 64, 12)
    path = tmp_path / f"c{i}.mp4"
    write_mp4(path, frames, fps=8)
    return path.read_bytes()


def hub_dataset(tmp_path, rows: list[dict], revision: str = REVISION):
    """A dataset repository's snapshot in a Hugging Face cache (``tmp_path/hub``):
    ``data/test-00000-of-00001.parquet`` written by ``datasets`` with a Video column."""
    import datasets

    table = datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]})
    table = table.cast_column("video", datasets.Video(decode=False))
    repo = tmp_path / "hub" / f"datasets--{REPO_ID.replace('/', '--')}"
    data = repo / "snapshots" / revision / "data"
    data.mkdir(parents=True)
    table.to_parquet(str(data / "test-00000-of-00001.parquet"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return data


def _rows(tmp_path, n=5, broken=()):
    rows = []
    for i in range(n):
        video = b"not a video at all" if i in broken else _clip_bytes(tmp_path, i)
        colour, shape, motion = MOTIONS[i % len(MOTIONS)]
        rows.append(
            {
                "video": {"bytes": video, "path": f"video{7010 + i}.mp4"},
                "caption": f"a {colour} {shape} moves {motion}",
                "genre": motion,
            }
        )
    return rows


def _load(tmp_path, options: dict):
    """The download stage on ``options``: its folder, manifest and captions."""
    from vidspace.datasets import download

    raw = tmp_path / "raw"
    download("hub", options, 0, raw / "m.parquet", raw / "c.parquet", raw / "f.csv", raw / "v")
    return raw, pd.read_parquet(raw / "m.parquet"), pd.read_parquet(raw / "c.parquet")


def _workflow(work_dir, monkeypatch, options: dict, cache):
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    work = make_workdir(work_dir)
    config = yaml.safe_load((work / "config/demo.yaml").read_text())
    config["datasets"] = {"hosted": {"adapter": "hub", "sampling": "uniform8", "options": options}}
    (work / "h.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return work


def test_a_hosted_set_by_id_and_revision_offline_through_download_and_frames(tmp_path, monkeypatch):
    import datasets

    data = hub_dataset(tmp_path, _rows(tmp_path, broken=(3,)))
    options = {"repo": REPO_ID, "revision": REVISION, "columns": {"category": "genre"}}
    work = _workflow(tmp_path / "w", monkeypatch, options, tmp_path / "hub")
    frames = "data/frames/hosted/uniform8/frames.npz"
    snakemake([frames, "--cores", "2", "--configfile", "h.yaml"], work)
    manifest = pd.read_parquet(work / "data/raw/hosted/manifest.parquet")
    captions = pd.read_parquet(work / "data/raw/hosted/captions.parquet")
    # the oracle: the datasets library reading the same split
    oracle = datasets.load_dataset("parquet", data_files=str(data / "*.parquet"), split="train")
    ids = [
        r["video"]["path"].removesuffix(".mp4")
        for r in oracle.cast_column("video", datasets.Video(decode=False))
    ]
    assert manifest["video_id"].tolist() == ids  # named by their files (unique here)
    assert captions["caption"].tolist() == oracle["caption"]
    assert manifest["category"].tolist() == oracle["genre"]
    # the frame stage decodes every clip but the one whose bytes are no video
    failures = pd.read_csv(work / "data/frames/hosted/uniform8/failures.csv")
    assert failures["video_id"].tolist() == ["video7013"]
    from vidspace.frames.store import load_frames

    _, stored = load_frames(work / frames)
    assert sorted(map(str, stored)) == [v for v in ids if v != "video7013"]


def test_a_wrong_revision_and_a_missing_column_are_refused_by_name(tmp_path, monkeypatch):
    """A revision not in the cache, offline, through the workflow (the log names it,
    nothing partial is left); a moving revision and a missing column by the stage's call."""
    from vidspace.datasets import download

    data = hub_dataset(tmp_path, _rows(tmp_path, n=2))
    options = {"repo": REPO_ID, "revision": "f" * 40}
    work = _workflow(tmp_path / "w", monkeypatch, options, tmp_path / "hub")
    run = snakemake(
        ["data/raw/hosted/manifest.parquet", "--cores", "1", "--configfile", "h.yaml"],
        work,
        check=False,
    )
    assert run.returncode != 0
    log = (work / "logs/download/hosted.log").read_text()
    assert f"revision {'f' * 40} of {REPO_ID} is not in the local Hugging Face cache" in log
    assert not (work / "data/raw/hosted/manifest.parquet").exists()  # nothing partial
    raw = tmp_path / "raw"
    for options, message in (
        ({"repo": REPO_ID, "revision": "main"}, "revision must be the 40-hex commit"),
        ({"path": str(data.parent), "columns": {"caption": "text"}}, "'caption': 'text'"),
    ):
        with pytest.raises(ValueError, match=message):
            download("hub", options, 0, raw / "m.parquet", raw / "c", raw / "f", raw / "v")
        assert not (raw / "m.parquet").exists() and not list((raw / "v").iterdir())


def test_rows_of_one_clip_become_its_captions_and_an_empty_split_is_named(tmp_path):
    from vidspace.datasets import download

    rows = _rows(tmp_path, n=2)
    clip = {"bytes": rows[0]["video"]["bytes"], "path": "video7010.mp4"}
    rows.append({"video": clip, "caption": "the same clip, said otherwise", "genre": "left"})
    data = hub_dataset(tmp_path, rows)
    options = {"path": str(data.parent), "columns": {"id": "genre"}}
    raw, manifest, captions = _load(tmp_path, options)
    assert manifest["video_id"].tolist() == ["left", "right"]
    assert captions[captions["video_id"] == "left"]["caption"].tolist() == [
        "a red circle moves left",
        "the same clip, said otherwise",
    ]
    assert sorted(p.name for p in (raw / "v").iterdir()) == ["left.mp4", "right.mp4"]
    with pytest.raises(ValueError, match="no data files of split 'validation'"):
        download(
            "hub", {**options, "split": "validation"}, 0, raw / "m", raw / "c", raw / "f", raw / "v"
        )


def test_mteb_presets_are_mteb_s_tasks():
    import mteb

    from vidspace.datasets.hub import PRESETS
    from vidspace.protocols import PROTOCOLS

    mteb_presets = {k: v for k, v in PRESETS.items() if k.startswith("mteb-")}
    assert len(mteb_presets) == 6
    for name, preset in mteb_presets.items():
        repo, revision, split = preset["repo"], preset["revision"], preset["split"]
        (protocol,) = [
            p
            for p in PROTOCOLS.values()
            if p.data.get("hub", {}).get("preset") == (name,) and p.directions == ("t2v",)
        ]
        meta = mteb.get_task(protocol.mteb_task).metadata
        assert (meta.dataset["path"], meta.dataset["revision"]) == (repo, revision)
        assert meta.eval_splits == [split]
    assert json.dumps(PRESETS)  # plain data


def test_a_set_larger_than_the_free_disk_stops_before_downloading(tmp_path, monkeypatch):
    """The size check reads the repository's file sizes from the hub (its API stubbed here:
    no network) and the disk's free space."""
    import shutil
    from types import SimpleNamespace

    import huggingface_hub

    from vidspace.datasets import hub

    files = [SimpleNamespace(rfilename="data/test-00000-of-00002.parquet", size=6 * 10**9)]
    files += [SimpleNamespace(rfilename="data/train-00000-of-00001.parquet", size=10**12)]
    api = SimpleNamespace(
        dataset_info=lambda repo, revision, files_metadata: SimpleNamespace(siblings=files)
    )
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: api)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(free=10 * 10**9))
    with pytest.raises(ValueError, match=r"needs about 12.0 GB .* has 10.0 GB free"):
        hub.check_space(REPO_ID, REVISION, ["*test-*.parquet"], tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(free=13 * 10**9))
    hub.check_space(REPO_ID, REVISION, ["*test-*.parquet"], tmp_path)  # the train file is not read


def test_the_mmeb_instruction_preset_follows_a_hosted_copy_to_its_set():
    from vidspace.models.instructions import MMEB_V2, check_instructions, for_dataset

    datasets = {"v": {"adapter": "hub", "options": {"preset": "mteb-vatex"}}}
    check_instructions("mmeb-v2", datasets)
    spec = {"adapter": "qwen3_vl", "text_instruction": "mmeb-v2"}
    assert (
        for_dataset(spec, "v", "hub", {"preset": "mteb-vatex"})["text_instruction"]
        == MMEB_V2["vatex"]
        == "Select a video that fits the description provided."  # Qwen's video.yaml
    )
    assert (
        for_dataset(spec, "v", "hub", {"preset": "mmeb-v2-didemo"})["text_instruction"]
        == "Find a video that includes the following described scenes."  # Qwen's video.yaml
    )
    with pytest.raises(ValueError, match="not for {'d': 'activitynet'}"):
        check_instructions(
            "mmeb-v2", {"d": {"adapter": "hub", "options": {"preset": "mteb-activitynet"}}}
        )


def test_ids_from_a_column_bad_ids_and_rows_without_video_lose_only_themselves(tmp_path):
    from vidspace.core.io import read_failures

    a, b = _clip_bytes(tmp_path, 0), _clip_bytes(tmp_path, 1)
    none = {"bytes": None, "path": None}
    rows = [
        {"video": {"bytes": a, "path": "x.mp4"}, "caption": "first", "vid": "row000001"},
        {"video": {"bytes": b, "path": "y.mp4"}, "caption": "second", "vid": "b"},
        {"video": {"bytes": a, "path": "z.mp4"}, "caption": "no id", "vid": None},
        {"video": {"bytes": a, "path": "w.mp4"}, "caption": "bad id", "vid": "../x"},
        {"video": none, "caption": "b again, without its video", "vid": "b"},
        {"video": none, "caption": "nothing", "vid": "e"},
    ]
    data = hub_dataset(tmp_path, rows)
    options = {"path": str(data.parent), "columns": {"id": "vid"}}
    raw, manifest, captions = _load(tmp_path, options)
    # an id that looks like a staging name keeps its own video (staging is a separate folder)
    assert manifest["video_id"].tolist() == ["row000001", "b"]
    assert (raw / "v" / "row000001.mp4").read_bytes() == a and (
        raw / "v" / "b.mp4"
    ).read_bytes() == b
    assert captions.groupby("video_id")["caption"].apply(list).to_dict() == {
        "b": ["second", "b again, without its video"],
        "row000001": ["first"],
    }
    failures = read_failures(raw / "f.csv")
    reasons = dict(zip(failures["video_id"], failures["reason"], strict=True))
    assert set(reasons) == {"row000002", "row000003", "e"}
    assert "invalid video id None" in reasons["row000002"] and "'../x'" in reasons["row000003"]
    assert reasons["e"] == "no video in the row"
    assert sorted(p.name for p in (raw / "v").iterdir()) == ["b.mp4", "row000001.mp4"]  # no staging


def test_file_names_that_collide_once_made_safe_fall_back_to_row_numbers(tmp_path):

    clip = _clip_bytes(tmp_path, 0)
    rows = [
        {"video": {"bytes": clip, "path": "a b.mp4"}, "caption": "one"},
        {"video": {"bytes": clip, "path": "a_b.mp4"}, "caption": "two"},
    ]
    data = hub_dataset(tmp_path, rows)
    _, manifest, _ = _load(tmp_path, {"path": str(data.parent)})
    assert manifest["video_id"].tolist() == ["row000000", "row000001"]
