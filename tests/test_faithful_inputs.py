"""Each family sees what its model card feeds it: through the workflow's own stages
(sample_frames -> embed), the embeddings equal the checkpoint's own published
preprocessing applied to the full-resolution decoded frames of real H.264 clips.

The oracle decodes every frame of each file with PyAV (no seeking), turns it upright by
its display matrix and runs the checkpoint's processor (``AutoProcessor``) and model on
the frames at the sampled indices; Qwen3-VL runs the official embedder's frame-list path
(``references.official_qwen``). Checkpoints are tiny and random but take the family's
real input size (CLIP / X-CLIP / VideoMAE 224, SigLIP so400m 384, Qwen's own bounds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from references import official_qwen
from test_data import _set_display_matrix

from vidspace.core.io import load_embeddings
from vidspace.datasets.synthetic import write_mp4
from vidspace.frames import load_frames, sample_frames
from vidspace.models.stage import embed_dataset
from vidspace.testing.checkpoints import build_checkpoint

T = 4
# (height, width) as stored in the file; "rot" also carries a 90 degree display matrix
SIZES = {
    "msrvtt-4x3": (240, 320),
    "youtube-16x9": (360, 640),
    "portrait": (320, 240),
    "wide-2x1": (160, 320),
    "tall-1x2": (320, 160),
    "small": (36, 48),
    "rot": (240, 320),
}
REAL_INPUT = {  # family -> build_checkpoint arguments at the family's real input size
    "clip": {"image_size": 224, "patch_size": 32},
    "siglip": {"image_size": 384, "patch_size": 32},
    "xclip": {"image_size": 224, "patch_size": 32, "num_frames": T},
    "videomae": {"image_size": 224, "patch_size": 32, "num_frames": T},
    "qwen3_vl": {},
}


def _scene(h: int, w: int, n: int, seed: int) -> np.ndarray:
    """Natural-looking content: gradients, a moving block, texture and sensor noise, so
    resampling filters and crops change the pixels (flat colours would hide them)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = rng.integers(0, 60, (h, w, 3)).astype(np.float32)
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        f = np.stack(
            [
                255 * xx / w,
                128 + 100 * np.sin((xx + yy + 6 * i) / 9),
                255 * yy / h,
            ],
            axis=-1,
        )
        f += np.roll(texture, 3 * i, axis=1) - 30
        cy, cx = int(h * (0.3 + 0.04 * i)), int(w * (0.6 - 0.05 * i))
        f[max(0, cy - h // 6) : cy + h // 6, max(0, cx - w // 8) : cx + w // 8] = (250, 30, 40)
        frames[i] = np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8)
    return frames


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Real H.264 clips of several sizes and aspect ratios, a manifest and captions."""
    root = tmp_path_factory.mktemp("faithful")
    rows = []
    for i, (name, (h, w)) in enumerate(SIZES.items()):
        write_mp4(root / f"{name}.mp4", _scene(h, w, 12, i), fps=6, gop=5)
        if name == "rot":
            _set_display_matrix(root / f"{name}.mp4", 0, 1, -1, 0)  # shown portrait
        rows.append({"video_id": name, "path": f"{name}.mp4", "category": "c", "split": "test"})
    manifest = pd.DataFrame(rows).assign(start=np.nan, end=np.nan)
    manifest.to_parquet(root / "manifest.parquet")
    pd.DataFrame(
        {"caption_id": ["c0", "c1"], "video_id": ["rot", "small"], "caption": ["a", "b"]}
    ).to_parquet(root / "captions.parquet")
    sample_frames(
        root / "manifest.parquet", root / "frames.npz", root / "failures.csv", "uniform", T
    )
    return root


def _decoded_in_full(path, indices) -> np.ndarray:
    """Every frame decoded in order (no seeking), upright, at full size; those at indices."""
    import av

    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            turns = round((frame.rotation or 0) / 90) % 4
            frames.append(np.rot90(frame.to_ndarray(format="rgb24"), k=turns))
    return np.stack([frames[i] for i in indices])


def _reference(family: str, checkpoint, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The checkpoint's published preprocessing and model on one clip of full frames."""
    from transformers import AutoModel, AutoProcessor

    if family == "qwen3_vl":
        video, _ = official_qwen(checkpoint)
        return video(frames, times=[times.tolist()])[0][0]
    processor = AutoProcessor.from_pretrained(checkpoint)
    model = AutoModel.from_pretrained(checkpoint).eval()
    with torch.inference_mode():
        if family in ("clip", "siglip"):
            pixels = processor(images=list(frames), return_tensors="pt")["pixel_values"]
            out = model.get_image_features(pixel_values=pixels)
            return getattr(out, "pooler_output", out).mean(0).numpy()
        if family == "xclip":
            pixels = processor(videos=[list(frames)], return_tensors="pt")["pixel_values"]
            out = model.get_video_features(pixel_values=pixels)
            return getattr(out, "pooler_output", out)[0].numpy()
        pixels = processor(list(frames), return_tensors="pt")["pixel_values"]
        return model(pixel_values=pixels).last_hidden_state.mean(1)[0].numpy()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("family", list(REAL_INPUT))
def test_embed_stage_equals_the_published_preprocessing_on_full_frames(clips, family, tmp_path):
    checkpoint = build_checkpoint(family, tmp_path / family, **REAL_INPUT[family])
    spec = {"adapter": family, "path": str(checkpoint)}
    out = tmp_path / "emb.npz"
    meta = embed_dataset(
        clips / "frames.npz",
        clips / "manifest.parquet",
        clips / "captions.parquet",
        family,
        spec,
        out,
        device="cpu",
        batch_size=3,  # batches mix sizes
    )
    assert meta["frame_sizes"]["240x320"] == 2  # the portrait file and the rotated one
    arrays = load_embeddings(out)
    with np.load(clips / "frames.npz") as data:
        indices, times = data["frame_indices"], data["frame_times"]
    store, ids = load_frames(clips / "frames.npz")
    assert ids.tolist() == list(SIZES)
    for row, name in enumerate(ids):
        full = _decoded_in_full(clips / f"{name}.mp4", indices[row])
        h, w = SIZES[name]
        assert full.shape[1:3] == ((w, h) if name == "rot" else (h, w))
        np.testing.assert_array_equal(store[row], full)  # stored as decoded, nothing lost
        expected = _reference(family, checkpoint, full, times[row])
        cosine = _cosine(arrays["video_emb"][row], expected)
        assert cosine > 0.9999, f"{family} on {name}: cosine {cosine:.6f}"


def test_the_old_square_crop_store_was_not_faithful(clips, tmp_path):
    """The oracle can fail: SigLIP given 224 px centre crops (the old store) instead of the
    whole frame is measurably off on these clips."""
    from vidspace.models import load

    checkpoint = build_checkpoint("siglip", tmp_path / "s", **REAL_INPUT["siglip"])
    encoder = load({"adapter": "siglip", "path": str(checkpoint)})
    with np.load(clips / "frames.npz") as data:
        indices = data["frame_indices"][0]
    full = _decoded_in_full(clips / "youtube-16x9.mp4", indices)
    side = 360  # short side; centre-cropped square as the old store kept it
    crop = np.ascontiguousarray(full[:, :, (640 - side) // 2 : (640 + side) // 2])
    ours = encoder.encode_videos([crop])[0]
    expected = _reference("siglip", checkpoint, full, np.zeros(T))
    assert _cosine(ours, expected) < 0.999
    assert _cosine(encoder.encode_videos([full])[0], expected) > 0.9999


def test_a_clip_the_qwen_recipe_refuses_is_named_before_any_work(tmp_path):
    from vidspace.frames import save_frames

    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 255, (T, 24, 32, 3), np.uint8), np.zeros((T, 2, 600, 3), np.uint8)]
    save_frames(tmp_path / "frames.npz", clips, ["ok", "thin"])
    pd.DataFrame({"video_id": ["ok", "thin"], "category": "", "split": "test"}).to_parquet(
        tmp_path / "manifest.parquet"
    )
    pd.DataFrame({"caption_id": ["c"], "video_id": ["ok"], "caption": ["a"]}).to_parquet(
        tmp_path / "captions.parquet"
    )
    checkpoint = build_checkpoint("qwen3_vl", tmp_path / "q")
    with pytest.raises(ValueError, match=r"600x2 px .* aspect ratio of 300.*\['thin'\]"):
        embed_dataset(
            tmp_path / "frames.npz",
            tmp_path / "manifest.parquet",
            tmp_path / "captions.parquet",
            "qwen",
            {"adapter": "qwen3_vl", "path": str(checkpoint)},
            tmp_path / "e.npz",
            device="cpu",
        )
    assert not (tmp_path / "e.npz").exists()
