"""Quality against dimension: each point is the R@1 of the variant the workflow would
write, the minimal D' follows its definition, and bad grids are reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import REPO

from vidspace.analyses.dimensions import dimension_curve, minimal_dim
from vidspace.core.config import ConfigError, validate_config
from vidspace.core.io import eval_rows, load_embeddings, subset_videos


def _points(*pairs):
    return [{"dim": d, "t2v": t, "v2t": v} for d, t, v in pairs]


def test_minimal_dim_is_where_every_larger_point_stays_within_epsilon():
    full = {"t2v": 0.50, "v2t": 0.40}
    # 8 is within 0.01 but 16 is not: the answer is 32, not 8
    points = _points((4, 0.30, 0.20), (8, 0.495, 0.395), (16, 0.48, 0.40), (32, 0.50, 0.399))
    assert minimal_dim(points, full, 64, 0.01) == 32
    assert minimal_dim(points, full, 64, 0.03) == 8
    assert minimal_dim(points, full, 64, 0.5) == 4
    # both directions must hold; none holds: the full dimension
    assert minimal_dim(_points((32, 0.50, 0.30)), full, 64, 0.01) == 64
    assert minimal_dim([], full, 64, 0.01) == 64


def _brute_force_r1(text, video, index):
    """Textbook R@1 with ties against the model: a query scores 1 only when its relevant
    item beats every other item strictly."""
    t = text / np.linalg.norm(text, axis=1, keepdims=True)
    v = video / np.linalg.norm(video, axis=1, keepdims=True)
    s = (t.astype(np.float64) @ v.T.astype(np.float64)).astype(np.float32)
    t2v = np.mean([np.sum(row >= row[j]) == 1 for row, j in zip(s, index, strict=True)])
    v2t = []
    for col in range(v.shape[0]):
        scores = s[:, col]
        best = max(scores[index == col])  # the best-ranked of the video's captions
        v2t.append(np.sum(scores >= best) == 1)
    return float(t2v), float(np.mean(v2t))


def test_each_point_equals_the_workflows_variant_and_a_brute_force_recall(tiny_run):
    results = tiny_run / "results"
    for model in ("random", "aligned"):
        curve = json.loads((results / f"dimensions/synthetic/{model}.json").read_text())
        pca4 = next(p for p in curve["methods"]["pca"]["points"] if p["dim"] == 4)
        metrics = json.loads((results / f"metrics/synthetic/{model}/pca4.json").read_text())
        assert (pca4["t2v"], pca4["v2t"]) == (metrics["t2v"]["R@1"], metrics["v2t"]["R@1"])
        float32 = json.loads((results / f"metrics/synthetic/{model}/float32.json").read_text())
        assert curve["full"] == {"t2v": float32["t2v"]["R@1"], "v2t": float32["v2t"]["R@1"]}
        arrays = load_embeddings(results / f"embeddings/synthetic/{model}.npz")
        sub = subset_videos(arrays, eval_rows(arrays, "test"))
        for point in curve["methods"]["prefix"]["points"]:
            d = point["dim"]
            expected = _brute_force_r1(
                sub["text_emb"][:, :d] / np.linalg.norm(sub["text_emb"], axis=1, keepdims=True),
                sub["video_emb"][:, :d] / np.linalg.norm(sub["video_emb"], axis=1, keepdims=True),
                sub["text_video_index"],
            )
            assert (point["t2v"], point["v2t"]) == pytest.approx(expected, abs=1e-12), d
    # the video-only model is skipped with its reason; the grid above D is reported
    motion = json.loads((results / "dimensions/synthetic/motion.json").read_text())
    assert "video-only" in motion["skipped"]
    aligned = json.loads((results / "dimensions/synthetic/aligned.json").read_text())
    assert [p["dim"] for p in aligned["methods"]["pca"]["points"]] == [2, 4]
    assert any("not below the dimension 8" in n for n in aligned["notes"])
    report = (results / "report.md").read_text()
    assert "## Quality against dimension" in report and "dimensions_synthetic.png" in report
    # the Findings open the report and state the best model with its interval
    findings = report[report.index("## Findings") : report.index("## Data")]
    assert report.index("## Findings") < report.index("## Retrieval metrics")
    ref = json.loads((results / "metrics/synthetic/aligned/float32.json").read_text())
    lo, hi = ref["ci95"]["t2v"]["R@1"]
    assert f"the best model is **aligned**, text→video R@1 {ref['t2v']['R@1']:.2f} " in findings
    assert f"[{lo:.2f}, {hi:.2f}]" in findings
    assert "**synthetic / random** retrieves at chance level" in findings


def test_a_pca_grid_point_larger_than_the_fit_set_is_a_note_not_a_crash():
    rng = np.random.default_rng(0)
    arrays = {
        "video_emb": rng.normal(size=(6, 16)).astype(np.float32),
        "video_ids": np.array([f"v{i}" for i in range(6)]),
        "text_emb": rng.normal(size=(6, 16)).astype(np.float32),
        "text_ids": np.array([f"t{i}" for i in range(6)]),
        "text_video_index": np.arange(6),
    }
    curve = dimension_curve(arrays, "all", [2, 8, 32], 0.01, ["pca", "prefix"])
    assert [p["dim"] for p in curve["methods"]["pca"]["points"]] == [2]
    assert [p["dim"] for p in curve["methods"]["prefix"]["points"]] == [2, 8]
    assert any("pca at D'=8 skipped" in n for n in curve["notes"])
    assert any("[32] not below the dimension 16" in n for n in curve["notes"])


@pytest.mark.parametrize(
    "edit, key",
    [
        ({"epsilon": -0.1}, "dimensions.epsilon"),
        ({"grid": [0, 4]}, "dimensions.grid"),
        ({"methods": ["umap"]}, "dimensions.methods"),
    ],
)
def test_bad_dimension_settings_are_named(edit, key):
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["dimensions"] = edit
    with pytest.raises(ConfigError, match=key):
        validate_config(config)
