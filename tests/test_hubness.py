"""Hubness (docs/definitions.md) against a brute-force count over the full similarity
matrix, on data with a planted hub; skewness against scipy; the stage through its files
(dot and dual-softmax variants), the k >= gallery skip and the Findings sentence.

scikit-hubness, the reference library, pins scikit-learn 0.21.3 and cannot be installed
beside this stack, so the brute-force count is the oracle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import skew

from vidspace.analyses.hubness import (
    hubness_diagnostics,
    hubness_file,
    hubness_stats,
    k_occurrences,
)
from vidspace.core.io import save_embeddings, write_table
from vidspace.core.linalg import l2_normalize


def brute_force_counts(scores: np.ndarray, k: int) -> np.ndarray:
    """N_k by the definition: rank of item j for query q = 1 + #{u != j : s_qu >= s_qj}."""
    m, n = scores.shape
    counts = np.zeros(n, np.int64)
    for q in range(m):
        for j in range(n):
            rank = 1 + sum(scores[q, u] >= scores[q, j] for u in range(n) if u != j)
            counts[j] += rank <= k
    return counts


def _planted(n_videos=30, n_captions=90, d=16, seed=0):
    rng = np.random.default_rng(seed)
    video = rng.normal(size=(n_videos, d))
    index = np.arange(n_captions) % n_videos
    common = 1.5 * rng.normal(size=d)  # a direction every caption shares
    text = video[index] + 1.5 * rng.normal(size=(n_captions, d)) + common
    video[0] = common  # a hub: close to every caption
    return text.astype(np.float32), video.astype(np.float32), index


@pytest.mark.parametrize("k", [1, 3, 10])
def test_k_occurrences_match_the_brute_force_count_with_ties(k):
    text, video, _ = _planted()
    scores = np.round(text @ video.T, 0)  # rounding makes many ties
    expected = brute_force_counts(scores, k)
    np.testing.assert_array_equal(k_occurrences(scores, k), expected)
    assert expected[0] == expected.max()  # the planted hub


def test_statistics_follow_their_definitions():
    counts = np.array([0, 0, 1, 2, 3, 30] + [1] * 94)
    stats = hubness_stats(counts, 5)
    assert stats["skewness"] == pytest.approx(skew(counts))
    assert stats["antihub_share"] == pytest.approx(2 / 100)
    assert stats["top1pct_items"] == 1 and stats["top1pct_share"] == pytest.approx(30 / 130)


def _write_variant(tmp_path, name, text, video, index, meta, split=None):
    n = video.shape[0]
    path = tmp_path / f"{name}.npz"
    arrays = {
        "video_emb": video,
        "text_emb": text,
        "video_ids": np.array([f"v{i}" for i in range(n)]),
        "text_ids": np.array([f"c{i}" for i in range(len(text))]),
        "text_video_index": index,
        "split": split if split is not None else np.array(["test"] * n),
    }
    save_embeddings(path, arrays, {"variant": name, **meta})
    return str(path)


def test_the_stage_counts_each_variant_as_it_ranks(tmp_path):
    text, video, index = _planted()
    captions = pd.DataFrame(
        {
            "caption_id": [f"c{i}" for i in range(len(text))],
            "video_id": [f"v{i}" for i in index],
            "caption": [f"caption {i}" for i in range(len(text))],
        }
    )
    write_table(tmp_path / "captions.parquet", captions)
    variants = {
        "float32": _write_variant(tmp_path, "float32", text, video, index, {"scoring": "dot"}),
        "dsl": _write_variant(
            tmp_path, "dsl", text, video, index, {"scoring": "dual_softmax", "temperature": 0.05}
        ),
    }
    metrics = {}
    for v, r1 in (("float32", 0.2), ("dsl", 0.3)):
        metrics[v] = str(tmp_path / f"metrics-{v}.json")  # not the variant's sidecar
        (tmp_path / f"metrics-{v}.json").write_text(json.dumps({"t2v": {"R@1": r1}}))
    out = tmp_path / "hubness.json"
    r = hubness_file(variants, metrics, str(tmp_path / "captions.parquet"), str(out), "test", 5)
    assert json.loads(out.read_text()) == json.loads(json.dumps(r))

    s = l2_normalize(text) @ l2_normalize(video).T  # the rows as the stage scores them
    plain = brute_force_counts(s, 5)
    assert r["variants"]["float32"]["t2v"]["skewness"] == pytest.approx(skew(plain))
    v2t = brute_force_counts(s.T, 5)  # video queries over captions
    assert r["variants"]["float32"]["v2t"]["skewness"] == pytest.approx(skew(v2t))
    hub = r["variants"]["float32"]["t2v"]["hubs"][0]
    assert hub == {"id": "v0", "occurrences": int(plain[0]), "caption": "caption 0"}
    # dual softmax (Cheng et al. 2021), written out: s * softmax over the caption queries
    logits = s.astype(np.float64) / 0.05
    dsl = s * np.exp(logits) / np.exp(logits).sum(0, keepdims=True)
    assert r["variants"]["dsl"]["t2v"]["skewness"] == pytest.approx(
        skew(brute_force_counts(dsl, 5))
    )
    assert r["variants"]["dsl"]["t2v"]["skewness"] < r["variants"]["float32"]["t2v"]["skewness"]
    (line,) = hubness_diagnostics("ds", "m", r)
    assert "hubs crowd the text→video rankings of `float32`" in line
    assert "`dsl` lowers it" in line and "rises from 0.20 to 0.30" in line
    # a variant that ranks by the plain dot product is not credited with lowering hubs
    assert (
        hubness_diagnostics(
            "ds",
            "m",
            {**r, "variants": {**r["variants"], "dsl": {**r["variants"]["dsl"], "scoring": "dot"}}},
        )
        == []
    )
    # at chance (R@1 <= 3/N with N = 30): no sentence
    for e in r["variants"].values():
        e["t2v_R@1"] = 0.05
    assert hubness_diagnostics("ds", "m", r) == []

    small = hubness_file(
        variants, metrics, str(tmp_path / "captions.parquet"), str(out), "test", 30
    )
    assert small["variants"]["float32"]["t2v"]["skipped"] == "k = 30 is at least the gallery (30)"
    assert "skewness" in small["variants"]["float32"]["v2t"]  # 90 captions: still ranked
