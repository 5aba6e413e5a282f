"""DEC (Xie et al. 2016) in the clustering stage: its soft assignment and target against
the paper's formulas written out in NumPy, clusters it must find, determinism, and the
skips (too few rows)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidspace.analyses.clustering import analyze_file, cluster_scores, kmeans_against_categories
from vidspace.analyses.dec import dec_clusters, soft_assignment, target_distribution
from vidspace.core.io import save_embeddings

FAST = {"pretrain_iterations": 150, "max_iterations": 300, "update_interval": 50}


def test_soft_assignment_and_target_follow_the_paper():
    rng = np.random.default_rng(0)
    z, mu = rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    q = soft_assignment(torch, torch.from_numpy(z), torch.from_numpy(mu)).numpy()
    expected = np.array(
        [[1 / (1 + np.sum((zi - mj) ** 2)) for mj in mu] for zi in z]
    )  # alpha = 1: (1 + d^2)^-1
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(q, expected, rtol=1e-10)
    f = q.sum(0)
    p = np.array([[q[i, j] ** 2 / f[j] for j in range(4)] for i in range(7)])
    np.testing.assert_allclose(target_distribution(q), p / p.sum(1, keepdims=True), rtol=1e-10)


def _blobs(n=120, d=16, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = 3 * rng.normal(size=(k, d))
    labels = np.arange(n) % k
    x = centres[labels] + rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_dec_finds_separated_clusters_deterministically():
    x, labels = _blobs()
    a = dec_clusters(x, 3, seed=0, **FAST)
    b = dec_clusters(x, 3, seed=0, **FAST)
    assert np.array_equal(a["labels"], b["labels"])
    assert cluster_scores(labels, a["labels"])["ARI"] > 0.95
    assert set(a["labels"].tolist()) == {0, 1, 2}
    assert 0 < a["iterations"] <= FAST["max_iterations"]
    with pytest.raises(ValueError, match="DEC needs at least 20"):
        dec_clusters(x[:12], 3)


def _file(path, n, categories):
    x, _ = _blobs(n=n)
    save_embeddings(
        path,
        {
            "video_emb": x,
            "video_ids": np.array([f"v{i}" for i in range(n)]),
            "categories": np.array([categories[i % len(categories)] for i in range(n)]),
            "split": np.array(["test"] * n),
        },
        {"model": "m"},
    )


def test_clustering_stage_writes_dec_beside_kmeans_or_its_skip(tmp_path):
    _file(tmp_path / "e.npz", 90, ["a", "b", "c"])
    labels_path = str(tmp_path / "c.labels.npz")
    r = analyze_file(
        str(tmp_path / "e.npz"), str(tmp_path / "c.json"), "test", 0, FAST, labels_path
    )
    with np.load(labels_path) as labels:  # the labels the scores were computed from
        truth = np.array(["abc"[i % 3] for i in range(90)])
        assert labels["video_ids"].tolist() == [f"v{i}" for i in range(90)]
        assert cluster_scores(truth, labels["dec"])["ARI"] == r["dec"]["ARI"]
        assert cluster_scores(truth, labels["kmeans"])["ARI"] == r["video"]["ARI"]
    assert r["dec"]["k"] == 3 and r["dec"]["ARI"] > 0.95 and r["video"]["ARI"] > 0.95
    assert set(r["dec"]["autoencoder_kmeans"]) == {"ARI", "NMI", "AMI", "FMI"}
    assert json.loads((tmp_path / "c.json").read_text())["dec"] == r["dec"]
    # no options: k-means only, as before
    assert "dec" not in analyze_file(str(tmp_path / "e.npz"), str(tmp_path / "k.json"))
    _file(tmp_path / "s.npz", 12, ["a", "b", "c"])  # k-means can, DEC cannot train
    small = analyze_file(str(tmp_path / "s.npz"), str(tmp_path / "s.json"), "test", 0, FAST)
    assert "ARI" in small["video"]
    assert small["dec"] == {
        "skipped": "12 rows for 3 clusters: DEC needs at least 20 to train its autoencoder"
    }


def test_clustering_perfect_and_degenerate():
    x = np.repeat(np.eye(3), 5, axis=0) + 0.01 * np.random.default_rng(0).normal(size=(15, 3))
    labels = np.repeat(["a", "b", "c"], 5)
    scores = kmeans_against_categories(x, labels)
    assert scores["k"] == 3
    for key in ("ARI", "NMI", "AMI", "FMI"):
        assert scores[key] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 categories"):
        kmeans_against_categories(x, np.array(["a"] * 15))
    with pytest.raises(ValueError, match="labels"):
        kmeans_against_categories(x, labels[:3])


@pytest.mark.parametrize(
    "layout, verdict",
    [
        ("by_category", "the videos cluster by category"),
        ("other", "the videos cluster, but not by category"),
        ("none", "no cluster structure"),
    ],
)
def test_the_clustering_sentence_tells_structure_from_categories(tmp_path, layout, verdict):
    """Blobs labelled by their blob, blobs labelled across them, and one Gaussian: the
    sentence follows scikit-learn's silhouette and ARI through the stage's file."""
    from vidspace.analyses.clustering import clustering_diagnostics

    x, blob = _blobs(n=90, k=3, seed=1)
    if layout == "none":
        x = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    cats = blob if layout != "other" else (np.arange(90) // 3) % 3  # unrelated to the blobs
    path = tmp_path / "e.npz"
    save_embeddings(
        path,
        {
            "video_ids": np.array([f"v{i}" for i in range(90)]),
            "video_emb": x,
            "categories": np.array([f"c{c}" for c in cats]),
            "split": np.array(["test"] * 90),
        },
        {"model": "m"},
    )
    r = analyze_file(str(path), str(tmp_path / "c.json"), dec=None)
    (line,) = clustering_diagnostics("ds", "m", r)
    assert line.startswith(f"**ds / m**: {verdict}")
    assert f"silhouette {r['video']['silhouette']:.2f}" in line
    if layout == "by_category":
        assert r["video"]["ARI"] == pytest.approx(1.0)
    # too few videos a category: no verdict, a sentence saying so
    small = dict(r, video=dict(r["video"], n=12))
    assert "too few to judge cluster structure" in clustering_diagnostics("ds", "m", small)[0]


def test_dec_equal_to_kmeans_is_said():
    from vidspace.analyses.clustering import clustering_diagnostics

    video = {"k": 3, "n": 90, "ARI": 0.9, "silhouette": 0.6, "category_silhouette": 0.5}
    same = {"video": video, "dec": {"agreement_with_kmeans": 1.0, "refinement_moved": 0}}
    assert "DEC's clusters are exactly k-means'" in clustering_diagnostics("d", "m", same)[1]
    moved_none = {"video": video, "dec": {"agreement_with_kmeans": 0.8, "refinement_moved": 0}}
    assert "moved no video" in clustering_diagnostics("d", "m", moved_none)[1]
    moved = {"video": video, "dec": {"agreement_with_kmeans": 0.8, "refinement_moved": 4}}
    assert len(clustering_diagnostics("d", "m", moved)) == 1
