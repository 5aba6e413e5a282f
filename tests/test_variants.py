"""Variants (transform kinds): precision, quantizers, dimension reduction, whitening; what
each fitted part learnt from."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_arrays, retrieval_script

from vidspace.core.io import save_embeddings
from vidspace.variants import TRANSDUCTIVE, apply_variant


@pytest.mark.parametrize(
    "spec, bytes_per_vector, max_error",
    [
        ({"kind": "float32"}, 64, 0.0),
        ({"kind": "float16"}, 32, 1e-3),
        ({"kind": "int8"}, 16, 0.01),
        ({"kind": "int4"}, 8, 0.2),
    ],
)
def test_precision_variants(spec, bytes_per_vector, max_error):
    arrays = random_arrays()
    out, meta = apply_variant(arrays, spec)
    unit = arrays["video_emb"] / np.linalg.norm(arrays["video_emb"], axis=1, keepdims=True)
    assert meta["bytes_per_vector"] == bytes_per_vector
    assert np.abs(out["video_emb"] - unit).max() <= max_error + 1e-7
    assert out["text_emb"].shape == arrays["text_emb"].shape


def test_int8_codes_are_integer_multiples_of_the_scale():
    out, _ = apply_variant(random_arrays(), {"kind": "int8"})
    v = out["video_emb"]
    scale = np.abs(v).max(axis=0) / 127
    np.testing.assert_allclose(v / scale, np.round(v / scale), atol=1e-3)


def test_binary_variant():
    out, meta = apply_variant(random_arrays(d=64), {"kind": "binary"})
    assert set(np.unique(out["video_emb"])) == {-1.0, 1.0}
    assert meta["bytes_per_vector"] == 8


def test_pca_fits_on_train_split_and_says_so():
    arrays = random_arrays()
    out, meta = apply_variant(arrays, {"kind": "pca", "dim": 4}, split="test")
    assert out["video_emb"].shape == (40, 4) and out["text_emb"].shape == (80, 4)
    assert meta["fits"] == {"pca": "train"} and meta["bytes_per_vector"] == 16
    # the fit never sees the evaluated rows: changing them changes nothing on train rows
    moved = dict(arrays, video_emb=arrays["video_emb"].copy())
    moved["video_emb"][arrays["split"] == "test"] *= -3
    again, _ = apply_variant(moved, {"kind": "pca", "dim": 4}, split="test")
    train = arrays["split"] == "train"
    np.testing.assert_allclose(again["video_emb"][train], out["video_emb"][train], atol=1e-6)
    # evaluating every row (train included) or having no split: fitted on the evaluated set
    assert apply_variant(arrays, {"kind": "pca", "dim": 4}, "all")[1]["fits"] == {
        "pca": TRANSDUCTIVE
    }
    arrays.pop("split")
    assert apply_variant(arrays, {"kind": "pca", "dim": 4}, "test")[1]["fits"] == {
        "pca": TRANSDUCTIVE
    }
    with pytest.raises(ValueError, match="exceeds"):
        apply_variant(arrays, {"kind": "pca", "dim": 99})


def _textbook_int(x, fit, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(fit).max(axis=0) / qmax
    return np.clip(np.round(x / scale), -qmax, qmax) * scale


@pytest.mark.parametrize("kind, bits", [("int8", 8), ("int4", 4)])
def test_quantizers_calibrate_each_modality_on_its_own_train_rows(kind, bits):
    arrays = random_arrays(n=60, m=120, d=8)
    # captions live on a larger scale in dimension 0 than the videos (a modality gap)
    arrays["text_emb"][:, 0] += 6.0
    out, meta = apply_variant(arrays, {"kind": kind}, split="test")
    assert meta["fits"] == {"scale": "train"} and meta["calibration"] == "per_modality"
    unit = {
        k: arrays[k] / np.linalg.norm(arrays[k], axis=1, keepdims=True)
        for k in ("video_emb", "text_emb")
    }
    train = arrays["split"] == "train"
    train_captions = train[arrays["text_video_index"]]
    for key, fit in (("video_emb", train), ("text_emb", train_captions)):
        oracle = _textbook_int(unit[key], unit[key][fit], bits)
        np.testing.assert_allclose(out[key], oracle, rtol=1e-5, atol=1e-6)
    # joint: one scale from both modalities' train rows
    joint, meta = apply_variant(arrays, {"kind": kind, "calibration": "joint"}, split="test")
    both = np.concatenate([unit["video_emb"][train], unit["text_emb"][train_captions]])
    np.testing.assert_allclose(
        joint["video_emb"], _textbook_int(unit["video_emb"], both, bits), rtol=1e-5, atol=1e-6
    )
    assert meta["calibration"] == "joint"
    with pytest.raises(ValueError, match="unknown calibration"):
        apply_variant(arrays, {"kind": kind, "calibration": "video"})


def test_unknown_variant_kind():
    with pytest.raises(ValueError, match="unknown variant kind 'int3'"):
        apply_variant(random_arrays(), {"kind": "int3"})


@pytest.mark.parametrize(
    "spec, dim, bytes_per_vector",
    [
        ({"kind": "faiss_sq8"}, 16, 16),
        ({"kind": "faiss_sq4"}, 16, 8),
        ({"kind": "faiss_pq", "m": 4, "nbits": 4}, 16, 2),
        ({"kind": "random_projection", "dim": 8}, 8, 32),
        ({"kind": "prefix", "dim": 8}, 8, 32),
        ({"kind": "pca", "dim": 8, "whiten": True}, 8, 32),
    ],
)
def test_more_variants(spec, dim, bytes_per_vector):
    arrays = random_arrays(n=60, m=120)
    out, meta = apply_variant(arrays, spec)
    assert out["video_emb"].shape == (60, dim) and out["text_emb"].shape == (120, dim)
    assert meta["bytes_per_vector"] == bytes_per_vector
    assert np.all(np.isfinite(out["video_emb"]))


def test_faiss_sq8_is_close_and_prefix_is_exact():
    arrays = random_arrays()
    unit = arrays["video_emb"] / np.linalg.norm(arrays["video_emb"], axis=1, keepdims=True)
    sq8, meta = apply_variant(arrays, {"kind": "faiss_sq8"})
    assert meta["fits"] == {"codec": TRANSDUCTIVE}
    assert np.abs(sq8["video_emb"] - unit).max() < 0.01
    prefix, _ = apply_variant(arrays, {"kind": "prefix", "dim": 5})
    np.testing.assert_array_equal(prefix["video_emb"], unit[:, :5])


def test_whitening_gives_identity_covariance_on_the_fit_rows():
    arrays = random_arrays(n=200, m=10)
    spec = {"kind": "random_projection", "dim": 6, "whiten": True}
    out, meta = apply_variant(arrays, spec, split="test")
    train = out["video_emb"][arrays["split"] == "train"]
    np.testing.assert_allclose(np.cov(train, rowvar=False, bias=True), np.eye(6), atol=1e-4)
    assert meta["fits"] == {"whitening": "train"}
    with pytest.raises(ValueError, match="whiten applies to dimension variants"):
        apply_variant(arrays, {"kind": "int8", "whiten": True})


def test_product_quantizer_needs_enough_training_vectors():
    with pytest.raises(ValueError, match="training vectors"):
        apply_variant(random_arrays(n=20, m=20), {"kind": "faiss_pq", "m": 4, "nbits": 8})


def test_missing_variant_sidecar_is_named_not_guessed(tmp_path):
    """Without its sidecar a dual-softmax variant would be scored as a dot product."""
    save_embeddings(tmp_path / "v.npz", random_arrays(), {"scoring": "dual_softmax"})
    (tmp_path / "v.json").unlink()
    proc = retrieval_script(tmp_path / "v.npz", tmp_path / "m.json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"{tmp_path / 'v.json'}" in last and "missing" in last
    assert not (tmp_path / "m.json").exists()
