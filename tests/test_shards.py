"""Sharded frames and embeddings (vidspace.core.sharding): K shard jobs merged into the
files one job writes, byte for byte; a merge that cannot be complete refuses and names
what is missing or foreign."""

from __future__ import annotations

import copy
import hashlib
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY_CONFIG, make_workdir, snakemake

from vidspace.core.sharding import shard_range
from vidspace.frames import save_frames
from vidspace.models.stage import embed_dataset, merge_shards
from vidspace.testing.checkpoints import build_checkpoint


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_shard_ranges_tile_the_rows_in_whole_batches():
    for n in (0, 1, 7, 23, 64, 100):
        for batch in (1, 8):
            for shards in (1, 2, 3, 5, 40):
                ranges = [shard_range(n, k, shards, unit=batch) for k in range(shards)]
                assert ranges[0][0] == 0 and ranges[-1][1] == n
                assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
                # every boundary but the end is a batch boundary: batches are unchanged
                assert all(a % batch == 0 for a, _ in ranges)
    for bad in ((0, 0), (3, 3), (-1, 2)):
        with pytest.raises(ValueError, match="shards must be"):
            shard_range(10, *bad, unit=2)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    sizes = [(24, 32), (32, 24), (24, 24)]
    clips = [rng.integers(0, 255, (4, *sizes[i % 3], 3), np.uint8) for i in range(11)]
    ids = [f"v{i:02d}" for i in range(11)]
    save_frames(root / "frames.npz", clips, ids)
    split = ["train"] * 6 + ["test"] * 5
    pd.DataFrame({"video_id": ids, "category": "c", "split": split}).to_parquet(
        root / "manifest.parquet"
    )
    captions = [(f"c{i:02d}", ids[i % 11], f"caption {i} of a video") for i in range(30)]
    pd.DataFrame(captions, columns=["caption_id", "video_id", "caption"]).to_parquet(
        root / "captions.parquet"
    )
    checkpoint = build_checkpoint("clip", root / "clip")
    return root, {"adapter": "clip", "path": str(checkpoint), "pooling": "max"}


def _paths(root):
    return root / "frames.npz", root / "manifest.parquet", root / "captions.parquet"


@pytest.mark.parametrize("model", ["clip", "aligned"])
def test_merged_shards_equal_one_job_byte_for_byte(job, tmp_path, model):
    root, clip = job
    spec = clip
    if model == "aligned":  # fitted on the train pairs: after the merge, on all rows
        spec = {"adapter": "aligned", "video": clip, "text": clip, "dim": 4}
    one = tmp_path / "one.npz"
    embed_dataset(*_paths(root), model, spec, one, device="cpu", batch_size=2)
    for shards in (2, 3, 8):  # 8 shards of 6 video batches: some shards are empty
        parts = [tmp_path / f"{shards}-{k}.npz" for k in range(shards)]
        for k, part in enumerate(parts):
            embed_dataset(
                *_paths(root), model, spec, part, device="cpu", batch_size=2, shard=(k, shards)
            )
        merged = tmp_path / f"merged{shards}.npz"
        merge_shards(parts, *_paths(root), model, spec, merged)
        assert _md5(merged) == _md5(one), f"{shards} shards"
        assert _md5(merged.with_suffix(".json")) == _md5(one.with_suffix(".json"))
        run = yaml.safe_load(merged.with_suffix(".run.json").read_text())
        assert run["shards"] == shards and len(run["seconds_per_shard"]) == shards
        assert (run["empty_shards"] != []) == (shards == 8)


def test_a_merge_refuses_missing_or_foreign_shards(job, tmp_path):
    root, spec = job
    parts = [tmp_path / f"{k}.npz" for k in range(3)]
    for k in (0, 2):
        embed_dataset(*_paths(root), "m", spec, parts[k], device="cpu", batch_size=2, shard=(k, 3))
    out = tmp_path / "out.npz"
    with pytest.raises(ValueError, match=r"shards \[1\] of 3 are missing.*1\.npz"):
        merge_shards(parts, *_paths(root), "m", spec, out)
    other = spec | {"pooling": "mean"}  # a part of another job
    embed_dataset(*_paths(root), "m", other, parts[1], device="cpu", batch_size=2, shard=(1, 3))
    with pytest.raises(ValueError, match="belongs to another embed job"):
        merge_shards(parts, *_paths(root), "m", spec, out)
    embed_dataset(*_paths(root), "m", spec, parts[1], device="cpu", batch_size=2, shard=(1, 4))
    with pytest.raises(ValueError, match="disagree on the number of shards"):
        merge_shards(parts, *_paths(root), "m", spec, out)
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_the_workflow_with_shards_writes_the_same_embeddings(tiny_run, tmp_path):
    """snakemake with embed.shards: 3 runs 3 embed_shard jobs per model and a merge; the
    files equal the unsharded tiny run's (the same config otherwise)."""
    config = copy.deepcopy(TINY_CONFIG)  # same key order: the sidecar keeps the spec's
    config["embed"]["shards"] = 3
    workdir = make_workdir(tmp_path / "w", config)
    shutil.copytree(tiny_run / "data", workdir / "data")  # the same clips and frames, mtimes kept
    targets = [f"results/embeddings/synthetic/{m}.npz" for m in ("aligned", "random")]
    proc = snakemake([*targets, "--cores", "2", "--configfile", "tiny.yaml"], workdir)
    assert proc.stderr.count("rule embed_shard:") == 6
    assert "rule download:" not in proc.stderr and "rule sample_frames:" not in proc.stderr
    for target in targets:
        for suffix in (".npz", ".json"):
            ours = (workdir / target).with_suffix(suffix)
            assert _md5(ours) == _md5((tiny_run / target).with_suffix(suffix)), ours.name
    assert not list((workdir / "results/embeddings/synthetic").glob("*.partial"))


def _sample_parts(raw, tmp_path, shards, spec):
    from vidspace.frames import sample_frames

    parts, failures = [], []
    for k in range(shards):
        parts.append(tmp_path / f"{k}-of-{shards}.npz")
        failures.append(tmp_path / f"{k}-of-{shards}.failures.csv")
        sample_frames(
            raw / "manifest.parquet", parts[-1], failures[-1], **spec, shard=k, shards=shards
        )
    return parts, failures


@pytest.mark.parametrize("shards", [2, 3, 30])
def test_sharded_sampling_merges_into_the_same_bytes(tiny_run, tmp_path, shards):
    """The tiny run's frames (24 clips, one unreadable) sampled in K contiguous shards and
    merged equal the unsharded frames.npz and failures table byte for byte; K = 30 leaves
    shards empty."""
    from vidspace.frames import merge_frame_parts, sample_frames

    raw = tiny_run / "data/raw/synthetic"
    spec = TINY_CONFIG["samplings"]["u4"]
    parts, failures = _sample_parts(raw, tmp_path, shards, spec)
    frames, failed = tmp_path / "frames.npz", tmp_path / "failures.csv"
    merge_frame_parts(parts, failures, raw / "manifest.parquet", frames, failed, **spec)
    one = tmp_path / "one"  # the unsharded stage on the same paths
    sample_frames(raw / "manifest.parquet", one / "frames.npz", one / "failures.csv", **spec)
    assert _md5(frames) == _md5(one / "frames.npz")
    assert _md5(frames) == _md5(tiny_run / "data/frames/synthetic/u4/frames.npz")
    assert _md5(failed) == _md5(one / "failures.csv")
    assert len(pd.read_csv(failed)) == 1  # the demo's unreadable clip, recorded once


def test_a_frames_merge_refuses_missing_foreign_or_misordered_shards(tiny_run, tmp_path):
    from vidspace.frames import merge_frame_parts

    raw = tiny_run / "data/raw/synthetic"
    manifest = raw / "manifest.parquet"
    spec = TINY_CONFIG["samplings"]["u4"]
    parts, failures = _sample_parts(raw, tmp_path, 3, spec)
    out, failed = tmp_path / "frames.npz", tmp_path / "failures.csv"
    parts[1].rename(tmp_path / "gone.npz")
    with pytest.raises(ValueError, match=r"shards \[1\] of 3 are missing.*1-of-3.npz"):
        merge_frame_parts(parts, failures, manifest, out, failed, **spec)
    (tmp_path / "gone.npz").rename(parts[1])
    with pytest.raises(ValueError, match=r"another frames job \(its sampling differs"):
        merge_frame_parts(parts, failures, manifest, out, failed, **{**spec, "num_frames": 3})
    with pytest.raises(ValueError, match="is shard 2 of 3, expected 0 of 3"):
        merge_frame_parts(parts[::-1], failures[::-1], manifest, out, failed, **spec)
    # a manifest with one more video: the parts no longer account for its rows
    table = pd.read_parquet(manifest)
    other = tmp_path / "manifest.parquet"
    pd.concat([table.iloc[:1], table]).to_parquet(other)
    with pytest.raises(ValueError, match=r"another frames job \(its manifest differs"):
        merge_frame_parts(parts, failures, other, out, failed, **spec)
    assert not out.exists() and not failed.exists()


def test_the_workflow_with_frame_shards_writes_the_same_frames(tiny_run, tmp_path):
    """snakemake with frames.shards: 3 runs 3 sample_frames_shard jobs and the merge; the
    frame store equals the unsharded tiny run's."""
    config = copy.deepcopy(TINY_CONFIG)
    config["frames"] = {"shards": 3}
    workdir = make_workdir(tmp_path / "w", config)
    shutil.copytree(tiny_run / "data/raw", workdir / "data/raw")  # the same clips, mtimes kept
    target = "data/frames/synthetic/u4/frames.npz"
    proc = snakemake([target, "--cores", "2", "--configfile", "tiny.yaml"], workdir)
    assert proc.stderr.count("rule sample_frames_shard:") == 3
    assert proc.stderr.count("rule sample_frames:") == 1 and "rule download:" not in proc.stderr
    for name in ("frames.npz", "failures.csv"):
        ours = workdir / "data/frames/synthetic/u4" / name
        assert _md5(ours) == _md5(tiny_run / "data/frames/synthetic/u4" / name), name
