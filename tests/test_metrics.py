"""Retrieval metrics against hand-computed cases and scikit-learn (DESIGN.md definitions)."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, ndcg_score

from vidspace.metrics import retrieval_metrics, t2v_ranks, v2t_positions

L3 = 1 / math.log2(3)

# two videos, three captions: t0 and t1 describe v0, t2 describes v1
V = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
T = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
IDX = np.array([0, 0, 1])


def test_hand_computed_t2v_ranks_with_tie_against_model():
    # t1 scores 0 with its video and 1 with the other: rank 2
    assert t2v_ranks(T, V, IDX).tolist() == [1, 2, 1]


def test_hand_computed_multi_caption_v2t_positions():
    queries, positions = v2t_positions(T, V, IDX)
    assert queries.tolist() == [0, 1]
    # v0 scores captions [1, 0, 0.6]: t0 at 1, t1 after t2 at 3; v1 scores [0, 1, 0.8]: t2 at 2
    assert [p.tolist() for p in positions] == [[1, 3], [2]]


def test_hand_computed_summary():
    m = retrieval_metrics(T, V, IDX, ks=(1, 2), ndcg_k=2)
    t2v, v2t = m["t2v"], m["v2t"]
    assert t2v["R@1"] == pytest.approx(2 / 3)
    assert t2v["R@2"] == pytest.approx(1.0)
    assert t2v["MedR"] == 1.0
    assert t2v["MeanR"] == pytest.approx(4 / 3)
    assert t2v["MRR"] == pytest.approx(5 / 6)
    assert t2v["mAP"] == pytest.approx(5 / 6)
    assert t2v["NDCG@2"] == pytest.approx((2 + L3) / 3)
    assert t2v["n_queries"] == 3
    assert v2t["R@1"] == pytest.approx(0.5)
    assert v2t["MedR"] == 1.5
    assert v2t["MRR"] == pytest.approx(0.75)
    # v0: only p1=1 within k=2, ideal 1 + 1/log2(3); v1: p1=2 of ideal 1
    assert v2t["NDCG@2"] == pytest.approx((1 / (1 + L3) + L3) / 2)
    assert v2t["mAP"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert v2t["n_queries"] == 2


def test_constant_embeddings_rank_last_under_tie_rule():
    n = 4
    v = np.ones((n, 3), dtype=np.float32)
    t = np.ones((n, 3), dtype=np.float32)
    idx = np.arange(n)
    assert t2v_ranks(t, v, idx).tolist() == [n] * n
    _, pos = v2t_positions(t, v, idx)
    assert [p.tolist() for p in pos] == [[n]] * n


def test_relevant_captions_tied_with_each_other_are_not_penalised_among_themselves():
    v = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    t = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    idx = np.array([0, 0, 1])
    _, pos = v2t_positions(t, v, idx)
    # v0: its two captions tie with the negative t2: both are passed by it
    assert pos[0].tolist() == [2, 3]
    # v1 scores all captions 0: t2 ties with two negatives
    assert pos[1].tolist() == [3]


def test_binary_vectors():
    v = np.array([[1, 1, -1, -1], [1, -1, 1, -1], [-1, -1, 1, 1]], dtype=np.float32)
    t = np.array([[1, 1, -1, 1], [1, -1, 1, 1], [1, 1, 1, 1]], dtype=np.float32)
    idx = np.array([0, 1, 2])
    # scores: t0 -> [2, -2, -2]; t1 -> [-2, 2, 2]; t2 -> [0, 0, 0]
    assert t2v_ranks(t, v, idx).tolist() == [1, 2, 3]


def test_identical_embeddings_give_perfect_recall():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    m = retrieval_metrics(x, x, np.arange(50))
    for direction in ("t2v", "v2t"):
        assert m[direction]["R@1"] == 1.0
        assert m[direction]["MedR"] == 1.0
        assert m[direction]["NDCG@10"] == pytest.approx(1.0)


def test_invariant_under_permutation_and_chunking():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(30, 8)).astype(np.float32)
    idx = rng.integers(0, 30, size=70)
    t = (v[idx] + rng.normal(scale=1.5, size=(70, 8))).astype(np.float32)
    base = retrieval_metrics(t, v, idx)
    tp = rng.permutation(70)
    vp = rng.permutation(30)
    inverse = np.argsort(vp)
    permuted = retrieval_metrics(t[tp], v[vp], inverse[idx[tp]])
    chunked = retrieval_metrics(t, v, idx, chunk_elements=7)
    for direction in ("t2v", "v2t"):
        assert permuted[direction] == pytest.approx(base[direction])
        assert chunked[direction] == pytest.approx(base[direction])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_without_ties(seed):
    rng = np.random.default_rng(seed)
    n, per = 12, 3
    v = rng.normal(size=(n, 6))
    idx = np.repeat(np.arange(n), per)
    t = v[idx] + rng.normal(scale=1.0, size=(n * per, 6))
    m = retrieval_metrics(t, v, idx, ndcg_k=10)
    scores = v @ t.T
    truth = (idx[None, :] == np.arange(n)[:, None]).astype(int)
    assert m["v2t"]["NDCG@10"] == pytest.approx(ndcg_score(truth, scores, k=10))
    ap = np.mean([average_precision_score(truth[j], scores[j]) for j in range(n)])
    assert m["v2t"]["mAP"] == pytest.approx(ap)
    t_scores = t @ v.T
    t_truth = (np.arange(n)[None, :] == idx[:, None]).astype(int)
    assert m["t2v"]["NDCG@10"] == pytest.approx(ndcg_score(t_truth, t_scores, k=10))
    assert m["t2v"]["mAP"] == pytest.approx(m["t2v"]["MRR"])


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.ones((3, 4)), np.ones((2, 5)), np.array([0, 1, 1])), "dimension mismatch"),
        ((np.ones((0, 4)), np.ones((2, 4)), np.array([], dtype=int)), "empty"),
        ((np.ones((3, 4)), np.ones((2, 4)), np.array([0, 1, 2])), "out of range"),
        ((np.ones((3, 4)), np.ones((2, 4)), np.array([0, 1])), "shape"),
        ((np.full((3, 4), np.nan), np.ones((2, 4)), np.array([0, 1, 1])), "NaN"),
    ],
)
def test_bad_input_raises_value_error(args, match):
    with pytest.raises(ValueError, match=match):
        retrieval_metrics(*args, ks=(1,), ndcg_k=1)


def test_k_at_or_above_the_gallery_counts_every_rank():
    m = retrieval_metrics(T, V, IDX, ks=(1, 2, 5), ndcg_k=7)
    for direction in ("t2v", "v2t"):
        assert m[direction]["R@5"] == 1.0  # 2 videos, 3 captions: every rank is <= 5
    assert m["t2v"]["R@2"] == 1.0 and m["v2t"]["R@1"] == pytest.approx(0.5)
    from vidspace.metrics.ranking import trivial_ks

    assert trivial_ks((1, 2, 5), n_videos=2, n_texts=3) == {"t2v": [2, 5], "v2t": [5]}


# --- score post-processing, candidate pools, bootstrap ---------------------------------

from vidspace.metrics import (  # noqa: E402
    bootstrap_ci,
    paired_bootstrap,
    pool_metrics,
    score_matrices,
)

# a "hub" video scores high with every caption: t0 -> hub, t1 -> v1, t2 -> v2
HUB_SCORES = np.array([[0.9, 0.1, 0.1], [0.8, 0.7, 0.0], [0.8, 0.0, 0.7]])


def _hub_embeddings():
    # texts are the score rows; videos the identity, so T @ V.T == HUB_SCORES
    return HUB_SCORES.astype(np.float32), np.eye(3, dtype=np.float32), np.array([0, 1, 2])


def test_dual_softmax_fixes_the_hub():
    t, v, idx = _hub_embeddings()
    assert retrieval_metrics(t, v, idx, ks=(1,), ndcg_k=1)["t2v"]["R@1"] == pytest.approx(1 / 3)
    dsl = retrieval_metrics(t, v, idx, ks=(1,), ndcg_k=1, scoring="dual_softmax", temperature=0.1)
    assert dsl["t2v"]["R@1"] == 1.0


def test_dual_softmax_hand_computed_column():
    t2v, _ = score_matrices(HUB_SCORES, "dual_softmax", temperature=0.1)
    hub = np.exp([9.0, 8.0, 8.0]) / np.exp([9.0, 8.0, 8.0]).sum()
    np.testing.assert_allclose(t2v[:, 0], HUB_SCORES[:, 0] * hub)


def test_dual_softmax_with_huge_temperature_keeps_dot_ranking():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(20, 8)).astype(np.float32)
    idx = rng.integers(0, 20, 30)
    t = (v[idx] + rng.normal(size=(30, 8))).astype(np.float32)
    dot = retrieval_metrics(t, v, idx)
    flat = retrieval_metrics(t, v, idx, scoring="dual_softmax", temperature=1e6)
    assert flat["t2v"] == pytest.approx(dot["t2v"])


def test_qb_norm_normalises_only_queries_that_hit_the_activation_set():
    t, v, idx = _hub_embeddings()
    # querybank = the same captions: every bank query's top-1 is the hub
    bank = (t, v)
    qb = retrieval_metrics(
        t, v, idx, ks=(1,), ndcg_k=1, scoring="qb_norm", temperature=0.1, querybank=bank
    )
    assert qb["t2v"]["R@1"] == 1.0
    # a bank whose top-1 items are never a query's top-1 leaves the scores raw
    far_bank = (np.array([[0.0, 1.0, 0.0]], np.float32), np.array([[0.0, 0.0, 1.0]], np.float32))
    t2v, _ = score_matrices(HUB_SCORES, "qb_norm", 0.1, (far_bank[0] @ v.T, far_bank[1] @ t.T))
    np.testing.assert_array_equal(t2v[1:], HUB_SCORES[1:])
    with pytest.raises(ValueError, match="needs a querybank"):
        retrieval_metrics(t, v, idx, ks=(1,), ndcg_k=1, scoring="inverted_softmax")


def test_pools_perfect_constant_and_chance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    perfect = pool_metrics(x, x, np.arange(300), pool_size=50, ks=(1, 10))
    assert perfect["t2v"]["R@1"] == 1.0 and perfect["t2v"]["lift"]["R@10"] == 5.0
    assert perfect["t2v"]["random_baseline"]["R@10"] == pytest.approx(0.2)
    ones = np.ones((300, 4), np.float32)
    assert pool_metrics(ones, ones, np.arange(300), pool_size=50, ks=(10,))["t2v"]["R@10"] == 0
    noise = rng.normal(size=(2000, 16)).astype(np.float32)
    video = rng.normal(size=(2000, 16)).astype(np.float32)
    chance = pool_metrics(noise, video, np.arange(2000), pool_size=100, ks=(10,), seed=1)
    assert 0.08 < chance["t2v"]["R@10"] < 0.12  # K / C = 0.1


def test_pools_never_use_a_videos_own_captions_as_negatives():
    v = np.eye(6, dtype=np.float32)
    idx = np.repeat(np.arange(6), 3)
    t = v[idx]  # three identical captions per video
    out = pool_metrics(t, v, idx, pool_size=4, ks=(1,))
    assert out["v2t"]["R@1"] == 1.0 and out["t2v"]["R@1"] == 1.0
    with pytest.raises(ValueError, match="pool_size"):
        pool_metrics(t, v, idx, pool_size=7)


def test_bootstrap_interval_and_paired_test():
    hits = np.r_[np.ones(60), np.zeros(40)]
    lo, hi = bootstrap_ci(hits, seed=1)
    assert lo < 0.6 < hi and hi - lo == pytest.approx(0.19, abs=0.04)
    assert bootstrap_ci(hits, seed=1) == (lo, hi)
    same = paired_bootstrap(hits, hits)
    assert same["diff"] == 0 and same["p_value"] == 1.0
    worse = np.r_[np.ones(30), np.zeros(70)]
    test = paired_bootstrap(hits, worse)
    assert test["diff"] == pytest.approx(0.3) and test["p_value"] < 0.001
    assert test["ci95"][0] > 0.15


def test_torch_backend_matches_numpy_exactly_on_ties():
    rng = np.random.default_rng(4)
    v = np.sign(rng.normal(size=(40, 16))).astype(np.float32)  # binary codes: many ties
    idx = rng.integers(0, 40, 90)
    t = np.sign(v[idx] + rng.normal(scale=1.2, size=(90, 16))).astype(np.float32)
    ours = query_ranks_for_test(t, v, idx, None)
    for chunk in (1 << 27, 100):
        theirs = query_ranks_for_test(t, v, idx, "cpu", chunk)
        np.testing.assert_array_equal(ours["t2v"], theirs["t2v"])
        assert [p.tolist() for p in ours["v2t"]] == [p.tolist() for p in theirs["v2t"]]


def query_ranks_for_test(t, v, idx, device, chunk=1 << 27):
    from vidspace.metrics import query_ranks

    return query_ranks(t, v, idx, chunk_elements=chunk, device=device)


def test_torch_backend_rejects_missing_cuda_and_scoring():
    import torch

    from vidspace.metrics import query_ranks

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            query_ranks(T, V, IDX, device="cuda")
    with pytest.raises(ValueError, match="NumPy backend only"):
        query_ranks(T, V, IDX, device="cpu", scoring="dual_softmax")


def test_binary_rescoring_hand_computed():
    from vidspace.metrics import rescored_keys

    binary = np.array([[4.0, 2.0, 2.0, 0.0]])
    exact = np.array([[0.1, 0.9, 0.2, 0.95]])
    # top 2 by binary, ties broken by exact: items 0 and 1; re-ranked by exact: 1, 0; then 2, 3
    keys = rescored_keys(binary, exact, top=2, axis=1)
    assert np.argsort(-keys[0]).tolist() == [1, 0, 2, 3]
    # R = 4 re-ranks everything: the exact order
    full = rescored_keys(binary, exact, top=4, axis=1)
    assert np.argsort(-full[0]).tolist() == [3, 1, 2, 0]
    # the same codes scaled (L2-normalised sign codes: steps of 2/D) give the same order
    for scale in (1 / 256, 1e-6, 1e6):
        np.testing.assert_array_equal(
            np.argsort(-rescored_keys(binary * scale, exact, 2, axis=1)[0]), [1, 0, 2, 3]
        )
    # an exact score far above the binary steps does not buy a place on the shortlist
    assert np.argsort(-rescored_keys(binary, exact * 100, 2, axis=1)[0]).tolist() == [1, 0, 2, 3]


def _two_stage_ranks(codes_t, codes_v, float_t, float_v, index, top):
    """Textbook two-stage search, one query at a time: shortlist the top R by Hamming
    agreement (ties by the float score), re-rank it by the float score, then the rest in
    sign-code order; relevant items tied with others rank below them."""
    hamming = codes_t.astype(np.int64) @ codes_v.astype(np.int64).T
    exact = float_t.astype(np.float64) @ float_v.astype(np.float64).T

    def tiers(b, e):
        order = np.lexsort((-e, -b))  # by binary, then exact, both descending
        short = np.zeros(b.size, bool)
        short[order[:top]] = True
        return [(1, e[j]) if short[j] else (0, b[j]) for j in range(b.size)]

    t2v = []
    for i, g in enumerate(index):
        key = tiers(hamming[i], exact[i])
        t2v.append(1 + sum(key[j] >= key[g] for j in range(len(key)) if j != g))
    v2t = []
    for j in np.unique(index):
        key = tiers(hamming[:, j], exact[:, j])
        own = sorted((key[c] for c in np.flatnonzero(index == j)), reverse=True)
        others = [key[c] for c in np.flatnonzero(index != j)]
        v2t.append(1 + sum(o >= own[0] for o in others))
    return np.array(t2v), np.array(v2t)


@pytest.mark.parametrize("top", [1, 10, 37])
def test_rescoring_stage_equals_a_brute_force_two_stage_search(tmp_path, top):
    """Through the files and functions the workflow runs: transform (binary, rescore R)
    writes the variant, the retrieval stage ranks it; the oracle searches one query at a
    time on the same float rows."""
    from vidspace.core.io import load_embeddings, read_json, save_embeddings
    from vidspace.metrics import evaluate_file
    from vidspace.variants import transform

    rng = np.random.default_rng(top)
    n, d = 60, 32
    index = np.r_[np.arange(n), rng.integers(0, n, 40)]
    video = rng.normal(size=(n, d)).astype(np.float32)
    text = (video[index] + rng.normal(scale=1.2, size=(index.size, d))).astype(np.float32)
    arrays = {
        "video_emb": video,
        "text_emb": text,
        "video_ids": np.array([f"v{i}" for i in range(n)]),
        "text_ids": np.array([f"t{i}" for i in range(index.size)]),
        "text_video_index": index,
    }
    save_embeddings(tmp_path / "emb.npz", arrays, {"model": "m"})
    spec = {"kind": "binary", "rescore": top}
    transform(tmp_path / "emb.npz", tmp_path / "binary.npz", "binary-r", spec)
    result = evaluate_file(
        tmp_path / "binary.npz",
        tmp_path / "m.json",
        "all",
        ks=(1, 5, 10),
        ndcg_k=10,
        bootstrap=0,
        ranks_path=tmp_path / "ranks.npz",
    )
    variant = load_embeddings(tmp_path / "binary.npz")
    t2v, v2t = _two_stage_ranks(
        variant["text_emb"],
        variant["video_emb"],
        variant["rescore_text_emb"],
        variant["rescore_video_emb"],
        index,
        top,
    )
    with np.load(tmp_path / "ranks.npz") as ranks:
        np.testing.assert_array_equal(ranks["t2v"], t2v)
        np.testing.assert_array_equal(ranks["v2t"], v2t)
    assert read_json(tmp_path / "m.json")["t2v"]["R@1"] == pytest.approx(np.mean(t2v == 1))
    assert result["rescore"] == top


def test_binary_codes_are_ranked_without_rounding(tmp_path):
    """Sign codes are compared as agreement counts: equal Hamming distances tie exactly
    (L2-normalised codes in float32 would break such ties by rounding)."""
    from vidspace.core.io import save_embeddings
    from vidspace.metrics import evaluate_file
    from vidspace.variants import transform

    rng = np.random.default_rng(7)
    n, d = 80, 48  # 1/sqrt(48) is not a float32 number: normalised codes round
    video = rng.normal(size=(n, d)).astype(np.float32)
    text = (video + rng.normal(scale=1.0, size=(n, d))).astype(np.float32)
    arrays = {
        "video_emb": video,
        "text_emb": text,
        "video_ids": np.array([f"v{i}" for i in range(n)]),
        "text_ids": np.array([f"t{i}" for i in range(n)]),
        "text_video_index": np.arange(n),
    }
    save_embeddings(tmp_path / "e.npz", arrays, {})
    transform(tmp_path / "e.npz", tmp_path / "b.npz", "binary", {"kind": "binary"})
    evaluate_file(
        tmp_path / "b.npz",
        tmp_path / "m.json",
        "all",
        (1,),
        1,
        bootstrap=0,
        ranks_path=tmp_path / "r.npz",
    )
    agreement = np.sign(text).astype(np.int64) @ np.sign(video).astype(np.int64).T
    oracle = (agreement >= agreement.diagonal()[:, None]).sum(axis=1)
    with np.load(tmp_path / "r.npz") as ranks:
        np.testing.assert_array_equal(ranks["t2v"], oracle)


def test_rescoring_recovers_float_ranking_with_a_big_shortlist():
    rng = np.random.default_rng(5)
    v = rng.normal(size=(50, 32)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    idx = rng.integers(0, 50, 80)
    t = v[idx] + rng.normal(scale=0.3, size=(80, 32)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    exact = retrieval_metrics(t, v, idx)
    codes_t, codes_v = np.sign(t), np.sign(v)
    binary = retrieval_metrics(codes_t, codes_v, idx)
    full = retrieval_metrics(codes_t, codes_v, idx, rescore=(t, v, 80))
    short = retrieval_metrics(codes_t, codes_v, idx, rescore=(t, v, 10))
    assert full["t2v"] == pytest.approx(exact["t2v"])
    assert full["v2t"] == pytest.approx(exact["v2t"])
    assert binary["t2v"]["R@1"] <= short["t2v"]["R@1"] <= exact["t2v"]["R@1"]


# --- cluster bootstrap: videos are resampled, captions come with them -------------------


def _textbook_video_bootstrap(hits, caption_video, n_boot, seed):
    """One resample at a time: draw videos with replacement, pool all their captions."""
    rng = np.random.default_rng(seed)
    videos = np.unique(caption_video)
    captions_of = {v: np.flatnonzero(caption_video == v) for v in videos}
    means = []
    for _ in range(n_boot):
        drawn = rng.choice(videos, videos.size, replace=True)
        means.append(hits[np.concatenate([captions_of[v] for v in drawn])].mean())
    return np.percentile(means, [2.5, 97.5])


def _stage_file(tmp_path, n_videos, per_video, seed=0):
    """Embeddings whose captions of one video are strongly correlated (near copies)."""
    from vidspace.core.io import save_embeddings

    rng = np.random.default_rng(seed)
    video = rng.normal(size=(n_videos, 16)).astype(np.float32)
    index = np.repeat(np.arange(n_videos), per_video)
    # a shared offset per video plus a little per-caption noise
    shared = rng.normal(scale=1.3, size=(n_videos, 16))
    text = video[index] + shared[index] + rng.normal(scale=0.05, size=(index.size, 16))
    arrays = {
        "video_emb": video,
        "text_emb": text.astype(np.float32),
        "video_ids": np.array([f"v{i}" for i in range(n_videos)]),
        "text_ids": np.array([f"t{i}" for i in range(index.size)]),
        "text_video_index": index,
    }
    path = tmp_path / f"e{per_video}.npz"
    save_embeddings(path, arrays, {"variant": "float32"})
    return path, index


def test_stage_interval_is_a_video_bootstrap_on_correlated_captions(tmp_path):
    from vidspace.metrics import evaluate_file

    path, index = _stage_file(tmp_path, n_videos=150, per_video=10)
    r = evaluate_file(
        path, tmp_path / "m.json", "all", (1,), 1, bootstrap=2000, ranks_path=tmp_path / "r.npz"
    )
    with np.load(tmp_path / "r.npz") as ranks:
        hits = ranks["t2v"] <= 1
        np.testing.assert_array_equal(ranks["text_video"], index)
    lo, hi = r["ci95"]["t2v"]["R@1"]
    t_lo, t_hi = _textbook_video_bootstrap(hits, index, 2000, seed=123)
    assert hi - lo == pytest.approx(t_hi - t_lo, rel=0.15)
    # resampling captions as if independent would be far too narrow here
    c_lo, c_hi = bootstrap_ci(hits, 2000, seed=123)
    assert (hi - lo) > 2 * (c_hi - c_lo)
    assert r["bootstrap_unit"] == "video"


def test_stage_interval_is_the_caption_bootstrap_with_one_caption_per_video(tmp_path):
    from vidspace.metrics import evaluate_file

    path, _ = _stage_file(tmp_path, n_videos=120, per_video=1)
    r = evaluate_file(
        path, tmp_path / "m.json", "all", (1, 5), 5, bootstrap=500, ranks_path=tmp_path / "r.npz"
    )
    with np.load(tmp_path / "r.npz") as ranks:
        for k in (1, 5):
            plain = bootstrap_ci(ranks["t2v"] <= k, 500, seed=0)
            assert tuple(r["ci95"]["t2v"][f"R@{k}"]) == pytest.approx(plain, abs=1e-12)


def test_cluster_bootstrap_means_equal_a_loop_with_the_same_draws():
    from vidspace.metrics.statistics import bootstrap_means

    rng = np.random.default_rng(2)
    clusters = rng.integers(0, 30, 200)
    values = rng.random(200)
    means = bootstrap_means(values, 50, seed=9, clusters=clusters)
    ids = np.unique(clusters)
    draws = np.random.default_rng(9).integers(0, ids.size, (50, ids.size))
    loop = [np.concatenate([values[clusters == ids[g]] for g in row]).mean() for row in draws]
    np.testing.assert_allclose(means, loop)


def test_paired_test_resamples_videos_for_both_models():
    rng = np.random.default_rng(4)
    n, per = 100, 10
    clusters = np.repeat(np.arange(n), per)
    a = np.repeat(rng.random(n) < 0.55, per).astype(float)  # whole videos hit or miss
    b = np.repeat(rng.random(n) < 0.45, per).astype(float)
    naive = paired_bootstrap(a, b, 4000, seed=1)
    cluster = paired_bootstrap(a, b, 4000, seed=1, clusters=clusters)
    width = cluster["ci95"][1] - cluster["ci95"][0]
    assert width > 2.5 * (naive["ci95"][1] - naive["ci95"][0])  # about sqrt(10)
    assert cluster["p_value"] > naive["p_value"] and cluster["n_clusters"] == n
    with pytest.raises(ValueError, match="clusters has shape"):
        paired_bootstrap(a, b, clusters=clusters[:10])


# --- cross-check against trec_eval (pytrec-eval-terrier, MTEB's reference) -------------


@pytest.mark.parametrize("seed", [0, 1])
def test_ndcg_map_mrr_match_trec_eval_without_ties(seed):
    import pytrec_eval  # a dev dependency: CI installs it, so a missing one fails here

    rng = np.random.default_rng(seed)
    n = 40
    index = np.r_[np.arange(n), rng.integers(0, n, 60)]  # 1 to several captions per video
    video = rng.normal(size=(n, 12))
    text = video[index] + rng.normal(scale=1.5, size=(index.size, 12))
    ours = retrieval_metrics(text, video, index, ks=(1,), ndcg_k=10)
    scores = text @ video.T  # continuous: no ties
    directions = {
        "t2v": (scores, {f"q{i}": {f"d{g}": 1} for i, g in enumerate(index)}),
        "v2t": (
            scores.T,
            {f"q{j}": {f"d{c}": 1 for c in np.flatnonzero(index == j)} for j in range(n)},
        ),
    }
    for direction, (matrix, qrels) in directions.items():
        run = {
            f"q{q}": {f"d{d}": float(s) for d, s in enumerate(row)}
            for q, row in enumerate(matrix)
            if f"q{q}" in qrels
        }
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map", "recip_rank"})
        per_query = evaluator.evaluate(run)
        for ours_key, trec_key in (
            ("NDCG@10", "ndcg_cut_10"),
            ("mAP", "map"),
            ("MRR", "recip_rank"),
        ):
            reference = np.mean([m[trec_key] for m in per_query.values()])
            assert ours[direction][ours_key] == pytest.approx(reference, abs=1e-9), (
                direction,
                ours_key,
            )
