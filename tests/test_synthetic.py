"""The synthetic dataset: balanced and paraphrased, and the same bytes on every run.

The encoder's input is computed in integer arithmetic (checked against a reference on
every 8-bit colour) and x264 runs its C code on one thread, so the clips cannot depend on
BLAS threads, SIMD paths or what the process's heap held before (checked in fresh
processes with glibc's MALLOC_PERTURB_ and busy cores).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import av
import numpy as np
import pandas as pd
import pytest

from vidspace.datasets.synthetic import generate, rgb_to_yuv420p, write_mp4


def test_synthetic_is_deterministic_and_balanced(tmp_path):
    a = generate(tmp_path / "a", seed=5, n_videos=12, captions_per_video=2, size=32)
    b = generate(tmp_path / "b", seed=5, n_videos=12, captions_per_video=2, size=32)
    pd.testing.assert_frame_equal(a.captions, b.captions)
    assert a.manifest["category"].value_counts().tolist() == [2] * 6
    assert set(a.manifest["split"]) == {"train", "test"}
    c = generate(tmp_path / "c", seed=6, n_videos=12, captions_per_video=2, size=32)
    assert not a.captions["caption"].equals(c.captions["caption"])


def test_captions_paraphrase_the_attributes(tmp_path):
    result = generate(tmp_path, seed=0, n_videos=6, captions_per_video=3, size=32)
    for _, group in result.captions.groupby("video_id"):
        assert group["caption"].nunique() > 1


def _reference_yuv420p(frame: np.ndarray) -> np.ndarray:
    """BT.601 limited range in 8-bit fixed point, written out with Python's floor
    division on int64: luma per pixel, chroma from the sum of each 2x2 block."""
    h, w, _ = frame.shape
    r, g, b = (frame[..., c].astype(np.int64) for c in range(3))
    y = (66 * r + 129 * g + 25 * b + 128) // 256 + 16

    def block_sum(x):
        return x.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3))

    u = (block_sum(-38 * r - 74 * g + 112 * b) + 512) // 1024 + 128
    v = (block_sum(112 * r - 94 * g - 18 * b) + 512) // 1024 + 128
    flat = np.concatenate([y.ravel(), u.ravel(), v.ravel()])
    assert flat.min() >= 0 and flat.max() <= 255
    return flat.astype(np.uint8).reshape(h * 3 // 2, w)


def _all_colours(chunk: int):
    """Every 8-bit RGB colour once, in chunks of 2**20 as (1024, 1024, 3) images."""
    codes = np.arange(chunk << 20, (chunk + 1) << 20, dtype=np.uint32)
    rgb = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=-1)
    return rgb.astype(np.uint8).reshape(1024, 1024, 3)


def _planes(yuv: np.ndarray, h: int, w: int):
    y = yuv[:h]
    u = yuv[h : h + h // 4].reshape(h // 2, w // 2)
    v = yuv[h + h // 4 :].reshape(h // 2, w // 2)
    return y, u, v


def test_yuv420p_equals_the_integer_reference_on_every_colour():
    """All 2**24 colours, each as a uniform 2x2 block (so each colour is its own luma and
    chroma sample), bit for bit; and within one level of BT.601's real-valued formula."""
    for chunk in range(16):
        colours = _all_colours(chunk)
        frame = np.repeat(np.repeat(colours, 2, axis=0), 2, axis=1)
        ours = rgb_to_yuv420p(frame)
        np.testing.assert_array_equal(ours, _reference_yuv420p(frame))
        y, u, v = _planes(ours, *frame.shape[:2])
        rgb = colours.astype(np.float64)
        exact = 16 + rgb @ np.array([65.481, 128.553, 24.966]) / 255
        assert np.abs(y[::2, ::2] - exact).max() < 1
        exact = 128 + rgb @ np.array([-37.797, -74.203, 112.0]) / 255
        assert np.abs(u - exact).max() < 1
        exact = 128 + rgb @ np.array([112.0, -93.786, -18.214]) / 255
        assert np.abs(v - exact).max() < 1


def test_yuv420p_chroma_of_blocks_that_mix_extremes():
    """Every 2x2 block of the 8 corners of the RGB cube (8**4 blocks), then random blocks."""
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)])
    combos = np.stack(np.meshgrid(*[np.arange(8)] * 4, indexing="ij"), -1).reshape(-1, 4)
    blocks = corners[combos].reshape(64, 64, 2, 2, 3)  # 4096 blocks on a 64 x 64 grid
    frame = blocks.transpose(0, 2, 1, 3, 4).reshape(128, 128, 3).astype(np.uint8)
    np.testing.assert_array_equal(rgb_to_yuv420p(frame), _reference_yuv420p(frame))
    rng = np.random.default_rng(0)
    frame = rng.choice(np.array([0, 1, 127, 128, 254, 255], np.uint8), size=(256, 320, 3))
    np.testing.assert_array_equal(rgb_to_yuv420p(frame), _reference_yuv420p(frame))
    frame = rng.integers(0, 256, size=(96, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(rgb_to_yuv420p(frame), _reference_yuv420p(frame))


@pytest.mark.parametrize(
    "rgb",
    [(215, 35, 35), (40, 170, 60), (240, 240, 240), (12, 12, 12)]  # the demo's palette
    + [(r, g, b) for r in (0, 255) for g in (0, 255) for b in (0, 255)],  # black, white,
)  # and the saturated corners
def test_our_yuv420p_conversion_decodes_back_through_ffmpeg(rgb):
    """FFmpeg's own yuv420p -> rgb24 conversion (swscale) is the oracle."""
    frame = np.empty((16, 24, 3), np.uint8)
    frame[:] = rgb
    yuv = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
    back = yuv.to_ndarray(format="rgb24").astype(int)
    assert np.abs(back - frame).max() <= 2
    with pytest.raises(ValueError, match="even width and height"):
        rgb_to_yuv420p(frame[:15])


def test_yuv420p_round_trips_as_well_as_ffmpegs_own_conversion():
    """Over a sample of 2**20 colours, decoding ours through FFmpeg is off by at most as
    much as FFmpeg's rgb24 -> yuv420p -> rgb24 (8-bit YUV cannot hold every RGB colour)."""
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, size=(1024, 1024, 3), dtype=np.uint8)
    frame = np.repeat(np.repeat(colours, 2, axis=0), 2, axis=1)
    ours = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
    theirs = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
    errors = [
        np.abs(f.to_ndarray(format="rgb24")[::2, ::2].astype(int) - colours).max()
        for f in (ours, theirs)
    ]
    assert errors[0] <= max(errors[1], 2), errors


def test_x264_runs_on_one_thread(tmp_path):
    """The settings x264 applied, as it writes them into the stream (its SEI)."""
    write_mp4(tmp_path / "c.mp4", np.zeros((4, 32, 32, 3), np.uint8), fps=4)
    settings = re.search(rb"options: ([^\x00]*)", (tmp_path / "c.mp4").read_bytes())
    options = dict(o.split("=", 1) for o in settings.group(1).decode().split())
    assert (options["threads"], options["lookahead_threads"], options["sliced_threads"]) == (
        "1",
        "1",
        "0",
    )


_RECIPE = """
import hashlib, sys, tempfile
from pathlib import Path
from vidspace.datasets.synthetic import generate
with tempfile.TemporaryDirectory() as tmp:
    for g in range(8):
        out = Path(tmp) / str(g)
        generate(out, seed=0, n_videos=24, captions_per_video=2, num_frames=8, size=48,
                 fps=8, n_corrupt=1)
        digest = hashlib.sha256()
        for path in sorted(out.iterdir()):
            digest.update(path.name.encode() + path.read_bytes())
        print(digest.hexdigest())
"""


def test_synthetic_clips_are_byte_identical_in_fresh_busy_processes():
    """8 generations in each of several fresh processes (the pytest process's allocation
    history would hide a dependence on it), BLAS on 2 threads, every core busy, and the
    heap filled with a different byte in each process (glibc's MALLOC_PERTURB_): before
    x264 ran its C code, each fill gave other bytes, and unfilled runs drifted within one
    process."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    digests = []
    try:
        for perturb in (None, "85", "170"):
            env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
            env.pop("MALLOC_PERTURB_", None)
            if perturb:
                env["MALLOC_PERTURB_"] = perturb
            run = subprocess.run(
                [sys.executable, "-c", _RECIPE], env=env, capture_output=True, text=True
            )
            assert run.returncode == 0, run.stderr
            digests += run.stdout.split()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert len(digests) == 24
    assert len(set(digests)) == 1
