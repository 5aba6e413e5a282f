"""Model families on tiny random checkpoints saved with save_pretrained, and the embed
stage's batching machinery: DataLoader workers, shards that resume, OOM halving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from references import official_qwen

from vidspace.core.io import load_embeddings, load_sidecar
from vidspace.frames import save_frames
from vidspace.models import load
from vidspace.models.encode import ShardStore, encode_all
from vidspace.models.stage import embed_dataset
from vidspace.testing.checkpoints import build_checkpoint

FRAMES = np.random.default_rng(0).integers(0, 255, (5, 4, 40, 48, 3), dtype=np.uint8)
TEXTS = ["a red circle moves", "a blue square grows larger against white and then some more"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    return {f: build_checkpoint(f, root / f) for f in ("clip", "siglip", "xclip", "videomae")}


@pytest.mark.parametrize(
    "family, dim, has_text",
    [
        ("clip", 16, True),
        ("siglip", 32, True),
        ("xclip", 16, True),
        ("videomae", 32, False),
    ],
)
def test_family_loads_through_from_pretrained(checkpoints, family, dim, has_text):
    enc = load({"adapter": family, "path": str(checkpoints[family])})
    v = enc.encode_videos(FRAMES)
    assert v.shape == (5, dim) and np.all(np.isfinite(v))
    assert enc.has_text is has_text
    if has_text:
        assert enc.encode_texts(TEXTS).shape == (2, dim)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_dual_encoder_scores_equal_the_models_logits(checkpoints, family):
    """One-frame videos: our cosine similarities, scaled (and shifted) as the model does,
    must equal its own logits_per_text."""
    enc = load({"adapter": family, "path": str(checkpoints[family])})
    images = FRAMES[:, :1]
    v = enc.encode_videos(images)
    t = enc.encode_texts(TEXTS)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    ours = t @ v.T * enc.model.logit_scale.exp().item()
    if family == "siglip":
        ours += enc.model.logit_bias.item()
    pixels = enc.processor.image_processor(images=list(images[:, 0]), return_tensors="pt")
    tokens = enc.tokenizer(
        TEXTS, padding=enc.padding, truncation=True, max_length=enc.max_length, return_tensors="pt"
    )
    with torch.inference_mode():
        logits = enc.model(**tokens, pixel_values=pixels["pixel_values"]).logits_per_text
    np.testing.assert_allclose(ours, logits.numpy(), rtol=1e-4, atol=1e-5)


def test_pooling_options(checkpoints):
    path = str(checkpoints["clip"])
    middle = load({"adapter": "clip", "path": path, "pooling": "middle"}).encode_videos(FRAMES)
    alone = load({"adapter": "clip", "path": path}).encode_videos(FRAMES[:, 2:3])
    np.testing.assert_allclose(middle, alone, rtol=1e-5, atol=1e-6)
    mean = load({"adapter": "clip", "path": path}).encode_videos(FRAMES)
    peak = load({"adapter": "clip", "path": path, "pooling": "max"}).encode_videos(FRAMES)
    assert np.all(peak >= mean - 1e-6) and not np.allclose(peak, mean)


def test_long_texts_are_truncated_and_counted(checkpoints, caplog):
    enc = load({"adapter": "xclip", "path": str(checkpoints["xclip"])})
    with caplog.at_level("INFO"):
        enc.encode_texts(TEXTS)
    assert "xclip: truncated 1 of 2 texts to 16 tokens" in caplog.text


def test_checkpoint_without_processor(checkpoints, tmp_path):
    (tmp_path / "config.json").write_bytes((checkpoints["clip"] / "config.json").read_bytes())
    with pytest.raises(ValueError, match="has no processor"):
        load({"adapter": "clip", "path": str(tmp_path)})


def test_frame_count_must_match_the_checkpoint(checkpoints):
    enc = load({"adapter": "videomae", "path": str(checkpoints["videomae"])})
    with pytest.raises(ValueError, match="expects 4 frames per clip, the sampling gives 2"):
        enc.encode_videos(FRAMES[:, :2])


def test_dataloader_workers_give_the_same_embeddings(checkpoints):
    enc = load({"adapter": "clip", "path": str(checkpoints["clip"])})
    plain = encode_all(enc, "videos", FRAMES, 2, "plain")
    workers = encode_all(enc, "videos", FRAMES, 2, "workers", num_workers=2)
    np.testing.assert_allclose(plain, workers, rtol=1e-6)


class _Flaky:
    """An encoder that fails when asked for more than ``limit`` items, or after ``calls``."""

    has_text = False

    def __init__(self, limit=100, fail_after=None, oom=True):
        self.limit, self.fail_after, self.calls, self.oom = limit, fail_after, 0, oom
        self.sizes = []

    def encode_videos(self, items):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed")
        if len(items) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        self.sizes.append(len(items))
        return items.reshape(len(items), -1)[:, :3].astype(np.float32)


def test_out_of_memory_halves_the_batch():
    items = np.arange(40, dtype=np.float32).reshape(10, 4)
    stats = {}
    out = encode_all(_Flaky(limit=2), "videos", items, 8, "oom", stats=stats)
    np.testing.assert_array_equal(out, items[:, :3])
    assert stats["oom_halvings"] == 3  # 8 -> 4 + 4 -> 2 + 2 + 2 + 2; then 2 fits
    with pytest.raises(torch.cuda.OutOfMemoryError):
        encode_all(_Flaky(limit=0), "videos", items, 8, "hopeless")


def test_killed_job_resumes_from_shards_and_matches(tmp_path):
    items = np.arange(60, dtype=np.float32).reshape(20, 3)
    store = ShardStore(tmp_path / "x.partial", "job-1")
    with pytest.raises(KeyboardInterrupt):
        encode_all(_Flaky(fail_after=3), "videos", items, 2, "first", store, shard_rows=4)
    # three batches of 2 ran; one shard of 4 rows was written before the kill
    assert [p.shape[0] for p in store.load("videos")] == [4]
    resumed = _Flaky()
    out = encode_all(
        resumed,
        "videos",
        items,
        2,
        "again",
        ShardStore(tmp_path / "x.partial", "job-1"),
        shard_rows=4,
    )
    np.testing.assert_array_equal(out, items)
    assert sum(resumed.sizes) == 16  # only the rows after the shard were encoded
    other = ShardStore(tmp_path / "x.partial", "job-2")  # another job: shards discarded
    assert other.load("videos") == []


def test_embed_stage_with_a_real_family_and_no_leftover_shards(checkpoints, tmp_path):
    ids = [f"v{i}" for i in range(5)]
    save_frames(tmp_path / "frames.npz", FRAMES, ids)
    pd.DataFrame(
        {
            "video_id": ids,
            "path": "x",
            "category": "c",
            "split": "test",
            "start": np.nan,
            "end": np.nan,
        }
    ).to_parquet(tmp_path / "manifest.parquet")
    pd.DataFrame(
        {"caption_id": ["c0", "c1"], "video_id": ["v3", "v0"], "caption": TEXTS}
    ).to_parquet(tmp_path / "captions.parquet")
    spec = {"adapter": "xclip", "path": str(checkpoints["xclip"])}
    embed_dataset(
        tmp_path / "frames.npz",
        tmp_path / "manifest.parquet",
        tmp_path / "captions.parquet",
        "xclip",
        spec,
        tmp_path / "e.npz",
        device="cpu",
        batch_size=2,
        num_workers=1,
    )
    arrays = load_embeddings(tmp_path / "e.npz")
    assert arrays["video_emb"].shape == (5, 16) and arrays["text_emb"].shape == (2, 16)
    assert arrays["text_video_index"].tolist() == [3, 0]
    assert not (tmp_path / "e.partial").exists()


def test_generic_adapter_by_class_names_matches_the_family_adapters(checkpoints):
    xclip = str(checkpoints["xclip"])
    generic = load(
        {
            "adapter": "hf_auto",
            "path": xclip,
            "model_class": "XCLIPModel",
            "processor_class": "XCLIPProcessor",
            "video_mode": "clip",
        }
    )
    family = load({"adapter": "xclip", "path": xclip})
    np.testing.assert_allclose(
        generic.encode_videos(FRAMES), family.encode_videos(FRAMES), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        generic.encode_texts(TEXTS), family.encode_texts(TEXTS), rtol=1e-5, atol=1e-6
    )
    mae = load(
        {
            "adapter": "hf_auto",
            "path": str(checkpoints["videomae"]),
            "video_mode": "hidden",
            "text_method": None,
        }
    )
    assert not mae.has_text and mae.encode_videos(FRAMES).shape == (5, 32)
    with pytest.raises(ValueError, match="has no method 'get_clip_magic'"):
        load(
            {
                "adapter": "hf_auto",
                "path": xclip,
                "video_mode": "clip",
                "video_method": "get_clip_magic",
            }
        )
    with pytest.raises(ValueError, match="no class 'NoSuchModel'"):
        load({"adapter": "hf_auto", "path": xclip, "model_class": "NoSuchModel"})


# -- Qwen3-VL-Embedding ----------------------------------------------------------------


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    return str(build_checkpoint("qwen3_vl", tmp_path_factory.mktemp("qwen") / "q"))


CLIPS = np.random.default_rng(1).integers(0, 255, (3, 4, 32, 32, 3), dtype=np.uint8)
TIMES = np.array([[0.0, 0.5, 1.0, 1.5], [0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]], np.float32)


def test_qwen3_vl_follows_the_official_embedder(qwen):
    """Frames sampled at 2 fps: our embeddings equal the official frame-list path exactly
    (its labels are 2 fps); other times: the same path with the real times as labels.
    Captions: the official text path."""
    from vidspace.frames import TimedFrames

    official_video, official_text = official_qwen(qwen)
    enc = load({"adapter": "qwen3_vl", "path": qwen})
    v = enc.encode_videos(TimedFrames(CLIPS, TIMES))
    t = enc.encode_texts(TEXTS)
    assert v.shape == (3, 32) and t.shape == (2, 32) and enc.dim == 32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, rtol=1e-5)
    assert TIMES[0].tolist() == [0.0, 0.5, 1.0, 1.5]  # 2 fps
    expected, inputs = official_video(CLIPS[0])
    np.testing.assert_allclose(v[0], expected[0], rtol=1e-4, atol=1e-5)
    # qwen-vl-utils raises 32 x 32 frames to its minimum of 128 merged tokens: 384 x 384
    assert inputs["video_grid_thw"].tolist() == [[2, 24, 24]]
    for i in (1, 2):
        expected, _ = official_video(CLIPS[i], times=[TIMES[i]])
        np.testing.assert_allclose(v[i], expected[0], rtol=1e-4, atol=1e-5)
    instruction = "Find a video that contains the following visual content."
    for i, caption in enumerate(TEXTS):
        np.testing.assert_allclose(
            t[i], official_text(caption, instruction)[0], rtol=1e-4, atol=1e-5
        )
    enc.tokenizer.padding_side = "left"  # checkpoints differ; the pooling handles both
    np.testing.assert_allclose(enc.encode_texts(TEXTS), t, rtol=1e-4, atol=1e-5)


def test_qwen3_vl_takes_at_most_max_frames_like_the_official_one(qwen):
    from vidspace.frames import TimedFrames

    official_video, _ = official_qwen(qwen)
    clip = np.random.default_rng(3).integers(0, 255, (1, 7, 32, 32, 3), dtype=np.uint8)
    times = (np.arange(7, dtype=np.float32) / 2)[None]
    enc = load({"adapter": "qwen3_vl", "path": qwen, "max_frames": 4})
    ours = enc.encode_videos(TimedFrames(clip, times))
    keep = np.linspace(0, 6, 4, dtype=int)  # the official sample_frames
    expected, _ = official_video(clip[0][keep], times=[times[0][keep]])
    np.testing.assert_allclose(ours[0], expected[0], rtol=1e-4, atol=1e-5)
    # an instruction without final punctuation gets a full stop, as in the official one
    assert (
        load({"adapter": "qwen3_vl", "path": qwen, "text_instruction": "Find it"}).text_instruction
        == "Find it."
    )


def test_qwen3_vl_timestamps_reach_the_model(qwen):
    """The same frames at other times give another embedding: the times are in the prompt."""
    from vidspace.frames import TimedFrames

    enc = load({"adapter": "qwen3_vl", "path": qwen})
    batch = enc.preprocess_videos(TimedFrames(CLIPS[:1], TIMES[1:2]))
    text = enc.processor.tokenizer.decode(batch["input_ids"][0])
    assert "<0.5 seconds>" in text and "<2.5 seconds>" in text  # means of frame pairs
    slow = enc.encode_videos(TimedFrames(CLIPS[:1], TIMES[1:2]))
    fast = enc.encode_videos(TimedFrames(CLIPS[:1], TIMES[:1]))
    assert not np.allclose(slow, fast)
    with pytest.raises(TypeError, match="needs frame times"):
        enc.encode_videos(CLIPS)


def test_qwen3_vl_long_captions_are_cut_inside_the_template(qwen, caplog):
    enc = load({"adapter": "qwen3_vl", "path": qwen, "max_length": 4})
    with caplog.at_level("INFO"):
        batch = enc.preprocess_texts(TEXTS)
    assert "qwen3_vl: truncated 1 of 2 texts to 4 tokens" in caplog.text
    decoded = enc.processor.tokenizer.decode(batch["input_ids"][1])
    assert decoded.replace("<|endoftext|>", "").endswith("<|im_start|>assistant\n")


def test_qwen3_vl_embed_stage_passes_frame_times(qwen, tmp_path):
    """The embed stage reads frame_times from frames.npz; padding in a batch of mixed
    lengths does not change an embedding."""
    ids = [f"v{i}" for i in range(3)]
    save_frames(tmp_path / "frames.npz", CLIPS, ids, frame_times=TIMES)
    pd.DataFrame({"video_id": ids, "category": "", "split": "test"}).to_parquet(
        tmp_path / "manifest.parquet"
    )
    pd.DataFrame({"video_id": ids[:2], "caption_id": ["c0", "c1"], "caption": TEXTS}).to_parquet(
        tmp_path / "captions.parquet"
    )
    spec = {"adapter": "qwen3_vl", "path": qwen}
    embed_dataset(
        tmp_path / "frames.npz",
        tmp_path / "manifest.parquet",
        tmp_path / "captions.parquet",
        "qwen",
        spec,
        tmp_path / "emb.npz",
        device="cpu",
        batch_size=2,
    )
    arrays = load_embeddings(tmp_path / "emb.npz")
    from vidspace.frames import TimedFrames

    enc = load(spec)
    one_by_one = np.concatenate(
        [enc.encode_videos(TimedFrames(CLIPS, TIMES)[i : i + 1]) for i in range(3)]
    )
    np.testing.assert_allclose(arrays["video_emb"], one_by_one, rtol=1e-4, atol=1e-5)
    one_text = np.concatenate([enc.encode_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(arrays["text_emb"], one_text, rtol=1e-4, atol=1e-5)
    np.savez(tmp_path / "old.npz", frames=CLIPS, video_ids=np.array(ids))  # an older store
    with pytest.raises(ValueError, match="sample again"):
        embed_dataset(
            tmp_path / "old.npz",
            tmp_path / "manifest.parquet",
            tmp_path / "captions.parquet",
            "qwen",
            spec,
            tmp_path / "emb2.npz",
            device="cpu",
        )


@pytest.mark.parametrize("family", ["clip", "siglip", "xclip", "videomae"])
def test_preprocessing_on_the_device_equals_the_workers(checkpoints, family):
    """preprocess: device hands uint8 frames to forward, which runs the same image processor
    on the model's device; through DataLoader workers the embeddings are unchanged."""
    path = str(checkpoints[family])
    workers = load({"adapter": family, "path": path, "preprocess": "workers"})
    device = load({"adapter": family, "path": path, "preprocess": "device"})
    # clips at their own sizes (landscape, portrait, 2:1), as the frame store holds them
    clips = [FRAMES[0], FRAMES[1, :, :, :20], FRAMES[2, :, :24], FRAMES[3], FRAMES[4, :, :20]]
    batch = device.preprocess_videos(clips)
    assert "pixel_values" not in batch and all(f.dtype == torch.uint8 for f in batch["frames"])
    expected = workers.encode_videos(clips)
    np.testing.assert_allclose(device.encode_videos(clips), expected, rtol=1e-5, atol=1e-6)
    got = encode_all(device, "videos", clips, batch_size=2, desc="t", num_workers=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="preprocess must be auto, device or workers"):
        load({"adapter": family, "path": path, "preprocess": "gpu"})


def test_qwen3_vl_reads_the_published_checkpoint_layout(qwen, tmp_path):
    """The published checkpoints are saved as Qwen3VLForConditionalGeneration (weights under
    model.*, plus lm_head); the adapter loads the base model from them and its embeddings
    equal the reference recipe: the full model's last hidden_states at the last token."""
    from transformers import AutoConfig, AutoProcessor, Qwen3VLForConditionalGeneration

    torch.manual_seed(1)
    full = Qwen3VLForConditionalGeneration(AutoConfig.from_pretrained(qwen)).eval()
    full.save_pretrained(tmp_path / "published")
    AutoProcessor.from_pretrained(qwen).save_pretrained(tmp_path / "published")
    enc = load({"adapter": "qwen3_vl", "path": str(tmp_path / "published")})
    ours = enc.encode_texts(TEXTS)
    batch = enc.preprocess_texts(TEXTS)
    with torch.inference_mode():
        hidden = full(**batch, output_hidden_states=True).hidden_states[-1]
    mask = batch["attention_mask"]
    last = mask.shape[1] - 1 - mask.flip(1).int().argmax(1)
    reference = torch.nn.functional.normalize(hidden[torch.arange(len(TEXTS)), last], dim=-1)
    np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-5, atol=1e-6)


def test_a_processor_without_device_support_stays_in_the_workers(checkpoints, monkeypatch):
    from transformers import CLIPImageProcessor, CLIPImageProcessorPil

    from vidspace.models import hf_video

    assert hf_video._runs_on_devices(CLIPImageProcessor())
    assert not hf_video._runs_on_devices(CLIPImageProcessorPil())  # PIL: CPU only
    monkeypatch.setattr(hf_video, "_runs_on_devices", lambda processor: False)
    path = str(checkpoints["clip"])
    with pytest.raises(ValueError, match="cannot run on a device"):
        load({"adapter": "clip", "path": path, "preprocess": "device"})
    enc = load({"adapter": "clip", "path": path, "preprocess": "workers"})
    assert not enc.on_device and "pixel_values" in enc.preprocess_videos(FRAMES)


def _stage_inputs(tmp_path):
    ids = [f"v{i}" for i in range(len(FRAMES))]
    save_frames(tmp_path / "frames.npz", FRAMES, ids)
    pd.DataFrame(
        {"video_id": ids, "path": "x", "category": "c", "split": "", "start": np.nan, "end": np.nan}
    ).to_parquet(tmp_path / "manifest.parquet")
    pd.DataFrame(
        {"caption_id": ["c0", "c1"], "video_id": ["v3", "v0"], "caption": TEXTS}
    ).to_parquet(tmp_path / "captions.parquet")
    return [tmp_path / n for n in ("frames.npz", "manifest.parquet", "captions.parquet")]


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_frame_tower_files_keep_every_frame_and_pool_it_again(checkpoints, tmp_path, family):
    """The embed stage stores per-frame rows (float16); the oracle is the checkpoint's own
    processor and get_image_features on each frame. A `pooling: max` variant re-pools the
    stored frames and matches re-embedding with `pooling: max`."""
    from vidspace.variants import transform

    spec = {"adapter": family, "path": str(checkpoints[family])}
    embed_dataset(
        *_stage_inputs(tmp_path), family, spec, tmp_path / "e.npz", device="cpu", batch_size=2
    )
    arrays = load_embeddings(tmp_path / "e.npz", frames=True)
    assert "frame_emb" not in load_embeddings(tmp_path / "e.npz")  # only when asked for
    enc = load(spec)
    b, t = FRAMES.shape[:2]
    pixels = enc.processor.image_processor(
        images=list(FRAMES.reshape(b * t, *FRAMES.shape[2:])), return_tensors="pt"
    )["pixel_values"]
    with torch.inference_mode():
        out = enc.model.get_image_features(pixel_values=pixels)
    oracle = getattr(out, "pooler_output", out).numpy().reshape(b, t, -1)
    frame_emb = arrays["frame_emb"]
    assert frame_emb.dtype == np.float16 and frame_emb.shape == oracle.shape
    np.testing.assert_allclose(frame_emb, oracle, atol=2e-3 * np.abs(oracle).max())
    np.testing.assert_allclose(arrays["video_emb"], oracle.mean(1), rtol=1e-4, atol=1e-5)
    transform(
        tmp_path / "e.npz", tmp_path / "max.npz", "max", {"kind": "float32", "pooling": "max"}
    )
    pooled = load_embeddings(tmp_path / "max.npz")["video_emb"]
    # the expensive way: embed again with the other pooling
    reembedded = load({**spec, "pooling": "max"}).encode_videos(FRAMES)
    cosine = np.sum(_unit(pooled) * _unit(reembedded), axis=1)
    assert cosine.min() > 0.9999


def test_pooling_variant_needs_per_frame_rows(checkpoints, tmp_path):
    from vidspace.variants import transform

    spec = {"adapter": "xclip", "path": str(checkpoints["xclip"])}
    embed_dataset(*_stage_inputs(tmp_path), "xclip", spec, tmp_path / "e.npz", device="cpu")
    assert "frame_emb" not in load_embeddings(tmp_path / "e.npz", frames=True)
    # a model without per-frame rows (X-CLIP pools inside): the variant is a reported skip
    meta = transform(
        tmp_path / "e.npz", tmp_path / "v.npz", "v", {"kind": "float32", "pooling": "max"}
    )
    assert meta["skipped"].startswith("pooling 'max': no per-frame embeddings (frame_emb)")
    assert load_sidecar(tmp_path / "v.npz")["skipped"] == meta["skipped"]
