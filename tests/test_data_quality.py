"""Data quality (docs/definitions.md): captions shared across videos are counted and listed
against a brute-force pairwise search; empty captions from any adapter are dropped and
counted, never a query."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from vidspace.core.io import write_failures, write_table
from vidspace.datasets import ADAPTERS, DownloadResult, download
from vidspace.datasets.quality import caption_quality, normalise, quality_file


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("A red circle.", "a red circle", True),
        ("a  red\tcircle ", "a red circle", True),
        ("a red circle!?", "A RED CIRCLE", True),
        ("ｆｕｌｌ width", "full width", True),  # NFKC
        ("Straße", "STRASSE", True),  # case folding, not lower()
        ("a red circle", "a red circles", False),
        ("a red, circle", "a red circle", False),  # only trailing . ! ? go
        ("...", "", True),
    ],
)
def test_the_same_text_as_written_down(a, b, same):
    assert (normalise(a) == normalise(b)) is same


def test_shared_captions_match_a_pairwise_search():
    rng = np.random.default_rng(0)
    words = ["a dog runs", "A dog runs.", "a cat sits", "someone cooks", "a car", "A CAR!"]
    videos = [f"v{i}" for i in range(12)]
    rows = [
        {"caption_id": f"c{i}", "video_id": str(rng.choice(videos)), "caption": str(w)}
        for i, w in enumerate(rng.choice(words, 40))
    ]
    captions = pd.DataFrame(rows)
    evaluated = set(videos[:9])  # captions of the other 3 are not evaluated
    counts, table = caption_quality(captions, evaluated)

    kept = [r for r in rows if r["video_id"] in evaluated]
    shared = {
        a["caption_id"]
        for a, b in itertools.permutations(kept, 2)
        if a["video_id"] != b["video_id"] and normalise(a["caption"]) == normalise(b["caption"])
    }
    assert counts["captions"] == len(kept)
    assert counts["ambiguous_captions"] == len(shared) > 0
    assert set(table["caption_id"]) == shared
    for r in table.itertuples():
        others = {
            b["video_id"]
            for b in kept
            if b["video_id"] != r.video_id and normalise(b["caption"]) == normalise(r.caption)
        }
        assert set(r.other_videos.split(";")) == others
    repeated = len(kept) - len({(r["video_id"], normalise(r["caption"])) for r in kept})
    assert counts["repeated_within_video"] == repeated
    assert counts["distinct_texts"] == len({normalise(r["caption"]) for r in kept})


def test_the_stage_counts_the_evaluated_split_less_failed_videos(tmp_path):
    manifest = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d"],
            "path": ["a.mp4"] * 4,
            "category": [""] * 4,
            "split": ["test", "test", "test", "train"],
            "start": [np.nan] * 4,
            "end": [np.nan] * 4,
        }
    )
    captions = pd.DataFrame(
        {
            "caption_id": ["a0", "b0", "c0", "d0"],
            "video_id": ["a", "b", "c", "d"],
            "caption": ["a dog", "A dog.", "a dog", "a dog"],
        }
    )
    write_table(tmp_path / "m.parquet", manifest)
    write_table(tmp_path / "c.parquet", captions)
    write_failures(
        tmp_path / "dl.csv",
        [{"video_id": "e", "stage": "annotations", "reason": "caption e0: empty caption"}],
    )
    write_failures(
        tmp_path / "fr.csv", [{"video_id": "c", "stage": "sample_frames", "reason": "corrupt"}]
    )
    paths = [tmp_path / n for n in ("m.parquet", "c.parquet", "dl.csv", "fr.csv")]
    out, csv = tmp_path / "q.json", tmp_path / "ambiguous.csv"
    quality_file(*paths, out, csv, split="test")
    q = json.loads(out.read_text())
    # c failed decoding and d is train: a and b share "a dog"
    assert (q["videos"], q["captions"], q["ambiguous_captions"]) == (2, 2, 2)
    assert (q["empty_captions_dropped"], q["annotation_rows_skipped"]) == (1, 1)
    listed = pd.read_csv(csv, dtype=str)
    assert listed[["caption_id", "other_videos"]].values.tolist() == [["a0", "b"], ["b0", "a"]]
    quality_file(*paths, out, csv, split="all")
    assert json.loads(out.read_text())["ambiguous_captions"] == 3  # a, b, d


def test_an_adapters_empty_captions_are_dropped_and_counted(tmp_path, monkeypatch):
    def adapter(video_dir, options, seed):
        manifest = pd.DataFrame(
            {
                "video_id": ["v1", "v2"],
                "path": [str(video_dir / "v1.mp4"), str(video_dir / "v2.mp4")],
                "category": ["", ""],
                "split": ["", ""],
                "start": [np.nan] * 2,
                "end": [np.nan] * 2,
            }
        )
        captions = pd.DataFrame(
            {
                "caption_id": ["c1", "c2", "c3"],
                "video_id": ["v1", "v2", "v2"],
                "caption": ["one", " \t", None],
            }
        )
        return DownloadResult(manifest, captions)

    monkeypatch.setitem(ADAPTERS, "msrvtt", adapter)
    paths = {n: tmp_path / n for n in ("m.parquet", "c.parquet", "f.csv")}
    download("msrvtt", {}, 0, *paths.values(), tmp_path / "videos")
    assert pd.read_parquet(paths["c.parquet"])["caption_id"].tolist() == ["c1"]
    failures = pd.read_csv(paths["f.csv"], dtype=str)
    assert failures["reason"].tolist() == ["caption c2: empty caption", "caption c3: empty caption"]
    assert set(failures["stage"]) == {"annotations"}


@pytest.mark.parametrize("count", [6, 10, 12, 40])
def test_category_colours_come_from_a_palette_of_separated_hues(tmp_path, monkeypatch, count):
    """Up to ten categories: matplotlib's tab10; more: colorcet's glasbey, as the grid
    draws the projection stage's files (the colour of each category's points)."""
    import colorcet
    from matplotlib import colormaps, colors
    from matplotlib.axes import Axes

    from vidspace.analyses.projections import plot_projection_grid

    rng = np.random.default_rng(0)
    n = 4 * count
    np.savez(
        tmp_path / "m.npz",
        video_ids=np.array([f"v{i}" for i in range(n)]),
        categories=np.array([f"c{i:02d}" for i in range(count)] * 4),
        umap=rng.normal(size=(n, 2)),
        tsne=rng.normal(size=(n, 2)),
    )
    (tmp_path / "m.json").write_text(json.dumps({"scope": "test split", "n_videos": n}))
    drawn, scatter = {}, Axes.scatter

    def recording(self, x, y, *args, label=None, color=None, **kwargs):
        if label is not None:
            drawn[label] = colors.to_hex(color)
        return scatter(self, x, y, *args, label=label, color=color, **kwargs)

    monkeypatch.setattr(Axes, "scatter", recording)
    plot_projection_grid("ds", {"m": (tmp_path / "m.json", tmp_path / "m.npz")}, tmp_path / "g.png")
    palette = colormaps["tab10"].colors if count <= 10 else colorcet.glasbey
    assert [drawn[f"c{i:02d}"] for i in range(count)] == [colors.to_hex(c) for c in palette[:count]]
    assert len(set(drawn.values())) == count


def test_a_seeded_hold_out_for_a_table_without_splits():
    """docs/definitions.md: the round(s N) smallest SHA-256 of "seed:id" are train, whatever
    the row order; at least one video on each side."""
    import hashlib

    from vidspace.datasets import hold_out

    ids = pd.Series([f"clip{i}" for i in range(10)])
    split = hold_out(ids, 0.3, seed=7)
    digest = {v: hashlib.sha256(f"7:{v}".encode()).hexdigest() for v in ids}
    expected = set(sorted(ids, key=digest.get)[:3])
    assert {v for v, s in zip(ids, split, strict=True) if s == "train"} == expected
    shuffled = ids.sample(frac=1, random_state=0)
    assert dict(zip(shuffled, hold_out(shuffled, 0.3, seed=7), strict=True)) == dict(
        zip(ids, split, strict=True)
    )
    assert hold_out(ids, 0.3, seed=8) != split  # another seed, another choice
    assert hold_out(ids[:2], 0.01, seed=0).count("train") == 1
    assert hold_out(ids[:2], 0.99, seed=0).count("test") == 1


def test_a_hold_out_on_a_table_with_splits_is_an_error_naming_both(tmp_path, monkeypatch):
    def adapter(video_dir, options, seed):
        manifest = pd.DataFrame(
            {
                "video_id": ["v1", "v2"],
                "path": [str(video_dir / "v1.mp4"), str(video_dir / "v2.mp4")],
                "category": ["", ""],
                "split": ["train", "test"],
                "start": [np.nan] * 2,
                "end": [np.nan] * 2,
            }
        )
        captions = pd.DataFrame({"caption_id": ["c1"], "video_id": ["v1"], "caption": ["one"]})
        return DownloadResult(manifest, captions)

    monkeypatch.setitem(ADAPTERS, "msrvtt", adapter)
    paths = [tmp_path / n for n in ("m.parquet", "c.parquet", "f.csv")]
    with pytest.raises(ValueError, match=r"holdout 0.5 is set, but the msrvtt table already"):
        download("msrvtt", {}, 0, *paths, tmp_path / "videos", holdout=0.5)
    assert not paths[0].exists()  # nothing written where a good file is expected
