"""Per-category retrieval (docs/definitions.md): each category's R@1 against a pandas
group-by over the retrieval stage's ranks and the manifest, through the workflow's files;
the skips; the sentence on the weakest category."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vidspace.analyses.categories import categories_diagnostics, category_recall
from vidspace.core.io import write_table


def test_each_categorys_recall_is_the_group_mean_of_the_workflows_ranks(tiny_run):
    ranks = np.load(tiny_run / "results/ranks/synthetic/aligned/float32.npz")
    manifest = pd.read_parquet(tiny_run / "data/raw/synthetic/manifest.parquet")
    category = dict(zip(manifest["video_id"], manifest["category"], strict=True))
    videos = pd.DataFrame({"video": ranks["video_ids"], "hit": ranks["v2t"] <= 1})
    captions = pd.DataFrame(
        {"video": ranks["video_ids"][ranks["text_video"]], "hit": ranks["t2v"] <= 1}
    )
    result = json.loads((tiny_run / "results/categories/synthetic/aligned.json").read_text())
    for d, table in (("t2v", captions), ("v2t", videos)):
        expected = table.groupby(table["video"].map(category))["hit"].mean()
        got = {c: e[d]["R@1"] for c, e in result["categories"].items()}
        assert got == pytest.approx(expected.to_dict())
    for e in result["categories"].values():
        lo, hi = e["t2v"]["ci95"]
        assert lo <= e["t2v"]["R@1"] <= hi
    report = (tiny_run / "results/report.md").read_text()
    assert "## Retrieval by category" in report and "plots/categories_synthetic.png" in report
    assert (tiny_run / "results/plots/categories_synthetic.png").read_bytes()[:4] == b"\x89PNG"


def _files(tmp_path, categories, t2v_hits):
    n = len(categories)
    videos = np.array([f"v{i}" for i in range(n)])
    np.savez(
        tmp_path / "ranks.npz",
        t2v=np.where(t2v_hits, 1, 5),
        v2t=np.ones(n, np.int64),
        text_ids=np.array([f"c{i}" for i in range(n)]),
        video_ids=videos,
        text_video=np.arange(n),
    )
    manifest = pd.DataFrame(
        {
            "video_id": videos,
            "path": ["x.mp4"] * n,
            "category": categories,
            "split": ["test"] * n,
            "start": [np.nan] * n,
            "end": [np.nan] * n,
        }
    )
    write_table(tmp_path / "manifest.parquet", manifest)
    return str(tmp_path / "ranks.npz"), str(tmp_path / "manifest.parquet")


@pytest.mark.parametrize(
    "categories, reason",
    [
        ([""] * 6, "the evaluated videos have no categories"),
        (["shapes"] * 6, "only one category ('shapes'): nothing to compare"),
    ],
)
def test_without_two_categories_it_is_a_reported_skip(tmp_path, categories, reason):
    ranks, manifest = _files(tmp_path, categories, [True] * 6)
    r = category_recall(ranks, manifest, str(tmp_path / "c.json"), 100, 0)
    assert r == {"source": ranks, "skipped": reason}


def test_the_weakest_category_is_named_when_intervals_separate(tmp_path):
    cats = ["easy"] * 40 + ["hard"] * 40 + ["mid"] * 40
    hits = [True] * 38 + [False] * 2 + [False] * 36 + [True] * 4 + [True, False] * 20
    ranks, manifest = _files(tmp_path, cats, hits)
    r = category_recall(ranks, manifest, str(tmp_path / "c.json"), 1000, 0)
    (line,) = categories_diagnostics("ds", "m", r)
    assert line.startswith("**ds / m**: the weakest category is `hard`, text→video R@1 0.10")
    assert "against `easy` at 0.95" in line and "2 of 3 categories" in line
    # overlapping intervals: nothing said
    r["categories"]["hard"]["t2v"]["ci95"] = [0.05, 0.96]
    r["categories"]["mid"]["t2v"]["ci95"] = [0.3, 0.96]
    assert categories_diagnostics("ds", "m", r) == []
