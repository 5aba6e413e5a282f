"""Retrieval examples (docs/definitions.md) through the workflow's files: the chosen
captions are the best, median and worst by the retrieval stage's ranks; each top-5 is the
brute-force cosine order; the true video's rank shown is the one in results/ranks/; the
thumbnails are the middle stored frames."""

from __future__ import annotations

import json

import numpy as np

from vidspace.analyses.examples import pick, thumbnails
from vidspace.core.io import eval_rows, load_embeddings, subset_videos
from vidspace.frames.store import load_frames


def test_examples_follow_the_ranks_and_the_cosine_order(tiny_run):
    r = json.loads((tiny_run / "results/examples/synthetic/aligned.json").read_text())
    ranks = np.load(tiny_run / "results/ranks/synthetic/aligned/float32.npz")
    arrays = load_embeddings(tiny_run / "results/variants/synthetic/aligned/float32.npz")
    sub = subset_videos(arrays, eval_rows(arrays, "test"))
    text = sub["text_emb"] / np.linalg.norm(sub["text_emb"], axis=1, keepdims=True)
    video = sub["video_emb"] / np.linalg.norm(sub["video_emb"], axis=1, keepdims=True)
    row = {str(t): i for i, t in enumerate(sub["text_ids"])}
    labels = [e["label"] for e in r["t2v"]]
    assert labels[:3] == ["best", "median", "worst"] and labels[3:] == ["random"] * 2
    shown = [ranks["t2v"][row[e["caption_id"]]] for e in r["t2v"]]
    assert shown[0] == ranks["t2v"].min() and shown[2] == ranks["t2v"].max()
    for e in r["t2v"]:
        i = row[e["caption_id"]]
        assert e["rank"] == ranks["t2v"][i]
        assert e["true_video"] == str(sub["video_ids"][sub["text_video_index"][i]])
        scores = text[i] @ video.T
        expected = [str(sub["video_ids"][j]) for j in np.argsort(-scores, kind="stable")[:5]]
        assert [t["video_id"] for t in e["top"]] == expected
        if e["rank"] <= 5:  # the true video is among the five shown, at its rank
            assert [t["video_id"] for t in e["top"]].index(e["true_video"]) + 1 == e["rank"]
    for e in r["v2t"]:
        assert e["rank"] == ranks["v2t"][list(map(str, ranks["video_ids"])).index(e["video_id"])]
    frames = tiny_run / r["frames"]  # relative to the working directory, as the rules run
    store, ids = load_frames(frames)
    vid = r["t2v"][0]["top"][0]["video_id"]
    clip = store.clip(list(map(str, ids)).index(vid))
    middle = clip[clip.shape[0] // 2]
    assert max(middle.shape[:2]) <= 72  # small enough to be shown as stored
    np.testing.assert_array_equal(thumbnails(str(frames), {vid})[vid], middle)
    png = tiny_run / "results/plots/examples_synthetic.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "plots/examples_synthetic.png" in (tiny_run / "results/report.md").read_text()


def test_pick_is_best_median_worst_then_seeded_random():
    ranks = np.array([5, 1, 9, 3, 1, 7, 2])
    picked = pick(ranks, 2, seed=0)
    assert picked[:3] == [("best", 1), ("median", 3), ("worst", 2)]
    assert picked[3:] == pick(ranks, 2, seed=0)[3:]  # seeded: the same draw
    assert {r for _, r in picked[3:]} <= {0, 4, 5, 6}
    assert pick(np.array([1]), 2, seed=0) == [("best", 0)]


def test_a_rescore_variant_s_examples_are_its_two_stage_order(tiny_run, tmp_path):
    """binary-r3: sign codes shortlist 3 videos, the float vectors re-rank them. The top 5
    shown are that order (a brute-force two-stage search here), the scores the float
    cosine within the shortlist and the sign-code score beyond, and the true video, when
    shown, sits at the rank results/ranks/ gives it."""
    from vidspace.analyses.examples import examples_file

    variant = tiny_run / "results/variants/synthetic/aligned/binary-r3.npz"
    ranks_path = tiny_run / "results/ranks/synthetic/aligned/binary-r3.npz"
    r = examples_file(
        str(variant),
        str(ranks_path),
        str(tiny_run / "data/raw/synthetic/captions.parquet"),
        str(tiny_run / "results/embeddings/synthetic/aligned.json"),
        str(tmp_path / "ex.json"),
        "test",
        0,
    )
    arrays = load_embeddings(variant)
    sub = subset_videos(arrays, eval_rows(arrays, "test"))
    binary = sub["text_emb"].astype(np.float64) @ sub["video_emb"].T.astype(np.float64)

    def unit(x):
        x = np.asarray(x, np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    exact = unit(sub["rescore_text_emb"]) @ unit(sub["rescore_video_emb"]).T
    row = {str(t): i for i, t in enumerate(sub["text_ids"])}
    ranks = np.load(ranks_path)
    n = binary.shape[1]
    for e in r["t2v"]:
        i = row[e["caption_id"]]
        own = sub["text_video_index"][i]
        by_code = sorted(range(n), key=lambda j: (-binary[i, j], -exact[i, j]))
        third = by_code[2]
        short = [j for j in by_code[:3]] + [
            j
            for j in by_code[3:]
            if (binary[i, j], exact[i, j]) == (binary[i, third], exact[i, third])
        ]
        rest = [j for j in range(n) if j not in short]
        # within equal keys the true video comes last (ties count against the model)
        order = sorted(short, key=lambda j: (-exact[i, j], j == own, j))
        order += sorted(rest, key=lambda j: (-binary[i, j], j == own, j))
        assert [t["video_id"] for t in e["top"]] == [str(sub["video_ids"][j]) for j in order[:5]]
        # shown: the float cosine within the shortlist, the sign-code score beyond it
        shown = [exact[i, j] if j in short else binary[i, j] for j in order[:5]]
        np.testing.assert_allclose([t["score"] for t in e["top"]], shown, atol=1e-6)
        assert e["rank"] == ranks["t2v"][i] == order.index(own) + 1
