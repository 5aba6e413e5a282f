"""Neural MDS (seed 002) against independent oracles: scikit-learn's PCA before training,
SciPy's distances for the stress and the rank correlation after it; its determinism; and
the variant through the transform and retrieval stages, including a fit set too small."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.decomposition import PCA

from vidspace.core.io import load_sidecar, save_embeddings
from vidspace.metrics import evaluate_file
from vidspace.variants import apply_variant, transform
from vidspace.variants.neural_mds import fit_neural_mds


def _curved(n=300, d=16, seed=0):
    """Points near a curved 2-D sheet in d dimensions: PCA to 2 D bends it flat."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 3, size=(n, 2))
    x = np.concatenate([np.sin(t), np.cos(t), t, t**2 / 4], 1) @ rng.normal(size=(8, d))
    return (x + 0.01 * rng.normal(size=x.shape)).astype(np.float32)


def _stress(y, x):
    d = pdist(np.asarray(x, np.float64))
    return ((pdist(np.asarray(y, np.float64)) - d) ** 2).sum() / (d**2).sum()


def test_untrained_network_is_pca():
    x = _curved()
    g, facts = fit_neural_mds(x, 2, epochs=0)
    # distances are sign-free, so scikit-learn's PCA is an oracle despite its sign flips
    pca = PCA(2).fit_transform(x)
    np.testing.assert_allclose(pdist(g(x)), pdist(pca), atol=1e-4)
    assert facts["loss_before"] == facts["loss_after"] == pytest.approx(_stress(pca, x), rel=1e-3)


def test_isometric_lowers_the_stress_and_isotonic_raises_the_rank_correlation():
    x = _curved()
    pca = PCA(2).fit_transform(x)
    iso, facts = fit_neural_mds(x, 2, loss="isometric", epochs=200, seed=0)
    assert _stress(iso(x), x) < 0.6 * _stress(pca, x)
    assert facts["loss_after"] == pytest.approx(_stress(iso(x), x), rel=1e-2)
    order, _ = fit_neural_mds(x, 2, loss="isotonic", epochs=200, seed=0)
    d = pdist(x)
    assert spearmanr(pdist(order(x)), d)[0] > spearmanr(pdist(pca), d)[0]


def test_the_loss_on_rows_the_fit_did_not_see_is_the_stress_there():
    x, unseen = _curved(n=300)[:200], _curved(n=300)[200:]
    g, facts = fit_neural_mds(x, 2, loss="isometric", epochs=50, seed=0, held_out=unseen)
    # one batch (100 < 512 rows): the loss is the stress of the map on those rows
    assert facts["loss_held_out"] == pytest.approx(_stress(g(unseen), unseen), rel=1e-3)


def test_same_seed_same_bytes_other_seed_other_map():
    x = _curved(n=120)
    a, _ = fit_neural_mds(x, 3, loss="isotonic", epochs=20, seed=4)
    b, _ = fit_neural_mds(x, 3, loss="isotonic", epochs=20, seed=4)
    c, _ = fit_neural_mds(x, 3, loss="isotonic", epochs=20, seed=5)
    assert a(x).tobytes() == b(x).tobytes()
    assert a(x).tobytes() != c(x).tobytes()


def _arrays(n, d=12, seed=0):
    rng = np.random.default_rng(seed)
    video = rng.normal(size=(n, d)).astype(np.float32)
    index = np.repeat(np.arange(n), 2)
    return {
        "video_emb": video,
        "text_emb": (video[index] + 0.3 * rng.normal(size=(2 * n, d))).astype(np.float32),
        "video_ids": np.array([f"v{i}" for i in range(n)]),
        "text_ids": np.array([f"t{i}" for i in range(2 * n)]),
        "text_video_index": index,
        "split": np.array(["train", "test"] * (n // 2)),
    }


def test_variant_fits_on_train_videos_and_captions_through_the_stages(tmp_path):
    arrays = _arrays(80)
    save_embeddings(tmp_path / "e.npz", arrays, {"model": "m"})
    spec = {"kind": "neural_mds", "dim": 4, "loss": "isometric", "epochs": 30, "seed": 1}
    meta = transform(tmp_path / "e.npz", tmp_path / "v.npz", "nmds4", spec, "test")
    assert meta["fits"] == {"neural_mds": "train"} and meta["dim"] == 4
    assert meta["neural_mds"]["fit_rows"] == 40 + 80  # 40 train videos and their captions
    assert meta["bytes_per_vector"] == 16
    r = evaluate_file(str(tmp_path / "v.npz"), str(tmp_path / "m.json"), "test", bootstrap=0)
    assert r["kind"] == "neural_mds" and r["neural_mds"] == meta["neural_mds"]
    assert r["n_videos"] == 40 and 0 <= r["t2v"]["R@1"] <= 1
    # the same spec applied again writes the same rows
    again, _ = apply_variant(arrays, spec, "test")
    with np.load(tmp_path / "v.npz") as data:
        assert data["video_emb"].tobytes() == again["video_emb"].tobytes()


def test_too_small_a_fit_set_is_a_reported_skip(tmp_path):
    save_embeddings(tmp_path / "e.npz", _arrays(8), {"model": "m"})  # 4 + 8 train rows
    spec = {"kind": "neural_mds", "dim": 4}
    meta = transform(tmp_path / "e.npz", tmp_path / "v.npz", "nmds4", spec, "test")
    assert "12 rows to fit on, fewer than 16" in meta["skipped"]
    assert load_sidecar(tmp_path / "v.npz")["skipped"] == meta["skipped"]
    r = evaluate_file(str(tmp_path / "v.npz"), str(tmp_path / "m.json"), "test")
    assert r["skipped"] == meta["skipped"] and "t2v" not in r
    with pytest.raises(ValueError, match="loss must be one of"):
        fit_neural_mds(_curved(n=40), 2, loss="stress")
    with pytest.raises(ValueError, match="must be below the embedding dimension"):
        fit_neural_mds(_curved(n=40), 16)
