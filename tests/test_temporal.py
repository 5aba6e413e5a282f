"""Multi-grained scoring (S = S_g + beta S_l) and the temporal stage: definitions against
brute-force loops, beta = 0 against the plain variant, beta chosen away from the
evaluated split, and the skips when per-frame embeddings are missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidspace.analyses.temporal import temporal_analysis, temporal_file, temporal_headline
from vidspace.core.config import ConfigError, validate_config
from vidspace.core.io import load_embeddings, save_embeddings
from vidspace.metrics import evaluate_file, query_ranks
from vidspace.metrics.scoring import MultiGrained
from vidspace.models.baselines import DescriptorEncoder
from vidspace.variants import apply_variant, transform


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _frame_arrays(n=40, t=5, d=12, per_video=2, seed=0, splits=("train", "test")):
    """Videos whose frames share a direction; captions near one frame of their video."""
    rng = np.random.default_rng(seed)
    frames = rng.normal(size=(n, 1, d)) + 0.9 * rng.normal(size=(n, t, d))
    index = np.repeat(np.arange(n), per_video)
    which = rng.integers(0, t, index.size)
    text = frames[index, which] + 0.6 * rng.normal(size=(index.size, d))
    return _embedding_arrays(frames, text, index, [splits[i % len(splits)] for i in range(n)])


def _embedding_arrays(frames, text, index, split) -> dict:
    """An embedding file's arrays: videos are the mean of their (N, T, D) frames."""
    return {
        "video_emb": frames.mean(1).astype(np.float32),
        "frame_emb": frames.astype(np.float16),
        "text_emb": text.astype(np.float32),
        "video_ids": np.array([f"v{i}" for i in range(len(frames))]),
        "text_ids": np.array([f"t{i}" for i in range(index.size)]),
        "text_video_index": index,
        "split": np.asarray(split),
    }


def _brute_force_s_l(text, frames, aggregation, top_k=2, temperature=0.1):
    """S_l by the definition in docs/definitions.md, one (caption, video) pair at a time."""
    out = np.zeros((len(text), len(frames)))
    for m, caption in enumerate(_unit(np.asarray(text, np.float64))):
        for n, clip in enumerate(_unit(np.asarray(frames, np.float64))):
            c = clip @ caption
            if aggregation == "max":
                out[m, n] = max(c)
            elif aggregation == "topk":
                out[m, n] = np.mean(sorted(c)[-top_k:])
            else:
                w = np.exp(c / temperature)
                out[m, n] = np.sum(w / w.sum() * c)
    return out


@pytest.mark.parametrize("aggregation", ["max", "topk", "softmax"])
def test_local_scores_follow_the_definition(aggregation):
    arrays = _frame_arrays(n=9, t=4)
    text = _unit(arrays["text_emb"])
    scorer = MultiGrained(arrays["frame_emb"], 1.0, aggregation, top_k=3, temperature=0.2)
    expected = _brute_force_s_l(text, arrays["frame_emb"], aggregation, 3, 0.2)
    np.testing.assert_allclose(scorer.local_scores(text, chunk_elements=50), expected, atol=1e-5)
    scores = text @ _unit(arrays["video_emb"]).T
    np.testing.assert_allclose(scorer.scores(text, scores), scores + expected, atol=1e-5)


def test_beta_zero_ranks_are_the_plain_ranks_and_beta_changes_them():
    arrays = _frame_arrays()
    text, video = _unit(arrays["text_emb"]), _unit(arrays["video_emb"])
    index = arrays["text_video_index"]
    plain = query_ranks(text, video, index)
    zero = query_ranks(text, video, index, multi_grained=MultiGrained(arrays["frame_emb"], 0.0))
    assert np.array_equal(plain["t2v"], zero["t2v"])
    assert all(np.array_equal(a, b) for a, b in zip(plain["v2t"], zero["v2t"], strict=True))
    heavy = query_ranks(text, video, index, multi_grained=MultiGrained(arrays["frame_emb"], 4.0))
    # the oracle: ranks of the brute-force S = S_g + 4 S_l, ties against the model
    s = text @ video.T + 4.0 * _brute_force_s_l(text, arrays["frame_emb"], "max")
    own = s[np.arange(len(index)), index]
    assert np.array_equal(heavy["t2v"], (s >= own[:, None] - 1e-6).sum(1))
    assert not np.array_equal(heavy["t2v"], plain["t2v"])


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"beta": -0.5}, "beta must be a number >= 0"),
        ({"beta": 1.0, "aggregation": "median"}, "aggregation must be one of"),
        ({"beta": 1.0, "aggregation": "topk", "top_k": 0}, "top_k must be >= 1"),
    ],
)
def test_bad_multi_grained_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        MultiGrained.from_spec(_frame_arrays(n=4)["frame_emb"], settings)


def test_config_rejects_a_negative_beta():
    config = {
        "seed": 0,
        "device": "cpu",
        "datasets": {"d": {"adapter": "synthetic", "sampling": "s"}},
        "samplings": {"s": {"method": "uniform", "num_frames": 4}},
        "models": {"m": {"adapter": "random"}},
        "variants": {"mg": {"kind": "float32", "scoring": "multi_grained", "beta": -1}},
        "evaluation": {"split": "test", "ks": [1], "ndcg_k": 1},
    }
    with pytest.raises(ConfigError, match="beta"):
        validate_config(config)
    config["variants"]["mg"]["beta"] = 1
    config["temporal"] = {"betas": [0, -2]}
    with pytest.raises(ConfigError, match="betas"):
        validate_config(config)


def test_stage_beta_zero_equals_the_plain_variant_through_files(tmp_path):
    """transform + retrieval stages: a multi_grained variant with beta 0 gets the metrics
    of float32, every figure; with beta > 0 it equals the temporal stage's sweep point."""
    arrays = _frame_arrays(n=60)
    save_embeddings(tmp_path / "e.npz", arrays, {"model": "m"})
    results = {}
    for name, spec in {
        "float32": {"kind": "float32"},
        "mg0": {"kind": "float32", "scoring": "multi_grained", "beta": 0},
        "mg2": {"kind": "float32", "scoring": "multi_grained", "beta": 2.0},
    }.items():
        transform(tmp_path / "e.npz", tmp_path / f"{name}.npz", name, spec, "test")
        results[name] = evaluate_file(
            str(tmp_path / f"{name}.npz"), str(tmp_path / f"{name}.m.json"), "test",
            ks=(1, 5), ndcg_k=5, bootstrap=200, seed=3,
        )  # fmt: skip
    for key in ("t2v", "v2t", "ci95"):
        assert results["mg0"][key] == results["float32"][key]
    assert results["mg0"]["multi_grained"]["beta"] == 0.0
    assert load_embeddings(tmp_path / "mg0.npz", frames=True)["frame_emb"].dtype == np.float32
    sweep = temporal_file(
        str(tmp_path / "e.npz"), str(tmp_path / "t.json"), "test", [2.0], "max", 2, 0.1, 0, 0
    )
    at_2 = next(p for p in sweep["sweep"] if p["beta"] == 2.0)["evaluated"]
    assert at_2 == {d: results["mg2"][d]["R@1"] for d in ("t2v", "v2t")}
    assert results["mg2"]["t2v"] != results["float32"]["t2v"]


def test_beta_is_chosen_on_train_and_applied_to_test():
    """Train captions match a frame, test captions the video as a whole: frame matching
    helps on train and hurts on test. The chosen beta is the train optimum, and what is
    reported for test is its R@1 there, even though another beta is better on test."""
    rng = np.random.default_rng(1)
    n, t, d = 60, 6, 16
    frames = rng.normal(size=(n, t, d))
    split = np.array(["train", "test"] * (n // 2))
    index = np.repeat(np.arange(n), 2)
    pick = rng.integers(0, t, index.size)
    one_frame = frames[index, pick]
    whole = frames[index].mean(1)
    text = np.where((split[index] == "train")[:, None], one_frame, whole)
    text = text + 0.35 * rng.normal(size=text.shape)
    arrays = _embedding_arrays(frames, text, index, split)
    r = temporal_analysis(arrays, "test", [0.5, 1, 2, 4, 8], bootstrap=200)
    assert r["chosen_on"] == "train"

    def mean_r1(point, key):
        return (point[key]["t2v"] + point[key]["v2t"]) / 2

    train_best = max(r["sweep"], key=lambda p: (mean_r1(p, "selection"), -p["beta"]))
    test_best = max(r["sweep"], key=lambda p: mean_r1(p, "evaluated"))
    assert r["best_beta"] == train_best["beta"] > 0
    assert test_best["beta"] != r["best_beta"]  # tuning on test would have picked another
    assert r["best"] == train_best["evaluated"]
    assert r["plain"] == r["sweep"][0]["evaluated"] and r["sweep"][0]["beta"] == 0.0
    effect = r["effect"]["t2v"]
    assert effect["diff"] == pytest.approx(r["best"]["t2v"] - r["plain"]["t2v"])
    assert effect["n_clusters"] == n // 2


def test_pooling_rows_are_the_pooling_variants():
    arrays = _frame_arrays(n=30, t=4)
    r = temporal_analysis(arrays, "test", [1.0], bootstrap=0)
    for pooling in ("mean", "max", "middle"):
        pooled, _ = apply_variant(arrays, {"kind": "float32", "pooling": pooling}, "test")
        sub = pooled["split"] == "test"
        video = _unit(pooled["video_emb"][sub])
        text_rows = sub[pooled["text_video_index"]]
        text = _unit(pooled["text_emb"][text_rows])
        own = np.cumsum(sub) - 1
        idx = own[pooled["text_video_index"][text_rows]]
        s = text @ video.T
        top1 = (s >= s[np.arange(len(idx)), idx][:, None]).sum(1) == 1
        assert r["pooling"][pooling]["t2v"] == pytest.approx(top1.mean())
    assert "effect" not in r  # bootstrap 0: no paired test


def test_without_a_split_apart_beta_is_transductive_and_says_so():
    r = temporal_analysis(_frame_arrays(n=20), "all", [1.0], bootstrap=0)
    assert r["chosen_on"] == "evaluated (transductive)"
    assert "optimistic" in r["notes"][0]
    assert all("selection" not in p for p in r["sweep"])


def test_missing_frames_are_a_reported_skip(tmp_path):
    arrays = _frame_arrays(n=10)
    del arrays["frame_emb"]
    save_embeddings(tmp_path / "e.npz", arrays, {"model": "m"})
    r = temporal_file(str(tmp_path / "e.npz"), str(tmp_path / "t.json"), "test", [1], "max",
                      2, 0.1, 0, 0)  # fmt: skip
    assert "no per-frame embeddings" in r["skipped"]
    assert json.loads((tmp_path / "t.json").read_text())["skipped"] == r["skipped"]
    spec = {"kind": "float32", "scoring": "multi_grained", "beta": 1}
    with pytest.raises(ValueError, match="frame_emb"):
        apply_variant(arrays, spec, "test")
    # the transform stage records the skip; the retrieval stage carries it on
    transform(tmp_path / "e.npz", tmp_path / "mg.npz", "mg", spec, "test")
    metrics = evaluate_file(str(tmp_path / "mg.npz"), str(tmp_path / "mg.json"), "test")
    assert "no per-frame embeddings" in metrics["skipped"]
    assert metrics["scoring"] == "multi_grained" and "t2v" not in metrics


def test_descriptor_window_rows():
    """A window covering the whole clip gives every frame the clip's descriptor; a window
    of 1 describes each frame alone; the video row is the mean of the frame rows."""
    clip = np.random.default_rng(0).integers(0, 255, (1, 5, 16, 16, 3), dtype=np.uint8)
    whole = DescriptorEncoder().describe(clip[0])
    wide = DescriptorEncoder(window=11).encode_video_frames(clip)
    assert wide.shape == (1, 5, whole.size)
    np.testing.assert_array_equal(wide[0], np.tile(whole, (5, 1)))
    single = DescriptorEncoder(window=1)
    rows = single.encode_video_frames(clip)[0]
    np.testing.assert_array_equal(rows[2], single.describe(clip[0, 2:3]))
    np.testing.assert_allclose(single.encode_videos(clip)[0], rows.mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match="window"):
        DescriptorEncoder(window=0)


def test_tiny_run_frames_and_multi_grained(tiny_run):
    """Through the workflow: the aligned model keeps its frames in the shared space (their
    mean is the video row), mg0 equals float32, the temporal stage ran and is reported,
    and a model without frames is skipped with its reason."""
    with np.load(tiny_run / "results/embeddings/synthetic/aligned.npz") as data:
        frames, video = data["frame_emb"].astype(np.float32), data["video_emb"]
    assert frames.shape[:2] == (video.shape[0], 4) and frames.shape[2] == video.shape[1]
    np.testing.assert_allclose(frames.mean(1), video, atol=2e-3 * np.abs(video).max())
    metrics = tiny_run / "results/metrics/synthetic"
    plain = json.loads((metrics / "aligned/float32.json").read_text())
    zero = json.loads((metrics / "aligned/mg0.json").read_text())
    for key in ("t2v", "v2t", "ci95"):
        assert zero[key] == plain[key]
    assert "candidate pools not computed" in " ".join(zero["notes"])
    skipped = json.loads((metrics / "random/mg0.json").read_text())
    assert "no per-frame embeddings" in skipped["skipped"]
    temporal = json.loads((tiny_run / "results/temporal/synthetic/aligned.json").read_text())
    assert [p["beta"] for p in temporal["sweep"]] == [0.0, 0.5, 2.0]
    assert temporal["plain"] == {d: plain[d]["R@1"] for d in ("t2v", "v2t")}
    assert temporal["chosen_on"] == "train"
    report = (tiny_run / "results/report.md").read_text()
    assert "## Temporal pooling and multi-grained scoring" in report
    assert "plots/temporal_synthetic.png" in report
    assert temporal_headline("synthetic", "aligned", temporal) in report
    png = tiny_run / "results/plots/temporal_synthetic.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
