"""Table validation and frame sampling, including broken videos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vidspace.core.io import read_failures
from vidspace.datasets import check_video_id, download, get_adapter, validate_tables
from vidspace.datasets.synthetic import write_mp4
from vidspace.frames import (
    FrameStore,
    bound_size,
    load_frames,
    read_clip,
    sample_frames,
    uniform_indices,
)


def _download(tmp_path, **options):
    raw = tmp_path / "raw"
    return download(
        "synthetic",
        options,
        3,
        raw / "manifest.parquet",
        raw / "captions.parquet",
        raw / "failures.csv",
        raw / "videos",
    ), raw


def test_download_writes_relative_manifest(tmp_path):
    result, raw = _download(tmp_path, n_videos=6, size=32, num_frames=4)
    manifest = pd.read_parquet(raw / "manifest.parquet")
    assert manifest["path"].str.startswith("videos/").all()
    assert all((raw / p).exists() for p in manifest["path"])
    assert len(pd.read_parquet(raw / "captions.parquet")) == 6 * 3
    assert read_failures(raw / "failures.csv").empty


@pytest.mark.parametrize("bad", ["../x", ";rm -rf /", "a" * 200, ".hidden", "", "a/b"])
def test_hostile_video_ids_are_rejected(bad):
    with pytest.raises(ValueError, match="invalid video id"):
        check_video_id(bad)


@pytest.mark.parametrize("good", ["video7010", "-4wsuPCjDBc_5_15", "_-x", "a.b-c_d", "9" * 128])
def test_youtube_shaped_ids_are_accepted(good):
    assert check_video_id(good) == good


def _tables():
    manifest = pd.DataFrame(
        {
            "video_id": ["v1", "v2"],
            "path": ["a.mp4", "b.mp4"],
            "category": ["x", "y"],
            "split": ["test", "test"],
            "start": [np.nan] * 2,
            "end": [np.nan] * 2,
        }
    )
    captions = pd.DataFrame(
        {"caption_id": ["c1", "c2"], "video_id": ["v1", "v2"], "caption": ["one", "two"]}
    )
    return manifest, captions


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m, c: m.pop("split"), "missing columns"),
        (lambda m, c: m.loc.__setitem__((1, "video_id"), "v1"), "duplicate video ids"),
        (lambda m, c: c.loc.__setitem__((1, "video_id"), "v9"), "not in the manifest"),
        (lambda m, c: c.loc.__setitem__((1, "caption"), "  "), "empty captions"),
        (lambda m, c: c.loc.__setitem__((1, "caption_id"), "c1"), "duplicate caption ids"),
    ],
)
def test_bad_tables(edit, match):
    manifest, captions = _tables()
    edit(manifest, captions)
    with pytest.raises(ValueError, match=match):
        validate_tables(manifest, captions, "test")


def test_unknown_adapter_and_every_schema_adapter_exists():
    from vidspace.core.config import load_schema
    from vidspace.datasets import ADAPTERS

    with pytest.raises(ValueError, match="unknown dataset adapter 'nope'"):
        get_adapter("nope")
    assert set(load_schema()["$defs"]["dataset"]["properties"]["adapter"]["enum"]) == set(ADAPTERS)


def test_uniform_indices():
    assert uniform_indices(8, 4).tolist() == [1, 3, 5, 7]
    assert uniform_indices(2, 4).tolist() == [0, 0, 1, 1]  # short clips repeat frames
    assert uniform_indices(10, 2, first=5).tolist() == [7, 12]


def test_bound_size_keeps_small_frames_and_the_aspect_ratio():
    frames = np.zeros((2, 40, 80, 3), np.uint8)
    frames[:, :, 40:] = 200  # right half bright
    assert bound_size(frames, 80) is frames and bound_size(frames, None) is frames
    out = bound_size(frames, 20)  # 2:1 stays 2:1, nothing cropped
    assert out.shape == (2, 10, 20, 3)
    assert out[0, :, :8].mean() < 10 and out[0, :, 12:].mean() > 190
    assert bound_size(np.zeros((1, 30, 3000, 3), np.uint8), 100).shape == (1, 1, 100, 3)


def test_bound_size_is_within_one_level_of_the_float_resize():
    import torch
    import torch.nn.functional as F

    frames = np.random.default_rng(0).integers(0, 255, (3, 60, 90, 3), dtype=np.uint8)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    ref = F.interpolate(x, size=(24, 36), mode="bilinear", antialias=True, align_corners=False)
    ref = ref.round().clamp(0, 255).permute(0, 2, 3, 1).numpy()
    out = bound_size(frames, 36)
    assert out.shape == (3, 24, 36, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.abs(out.astype(int) - ref).max() <= 1


def test_read_clip_segment_and_odd_sizes(tmp_path):
    frames = np.stack([np.full((48, 72, 3), 10 * t, np.uint8) for t in range(20)])
    path = tmp_path / "odd.mp4"  # 48 px rows are padded: decord cannot copy them
    write_mp4(path, frames, fps=10)
    clip, idx, *_ = read_clip(path, "uniform", 4, start=1.0, end=2.0)
    assert clip.shape == (4, 48, 72, 3)  # as decoded: no resize, no crop
    assert idx.tolist() == [11, 13, 16, 18]
    # the decoded brightness follows the frame index (lossy codec: loose tolerance)
    assert np.all(np.abs(clip.reshape(4, -1).mean(1) - 10 * idx) < 8)


def test_broken_videos_are_recorded_and_the_run_goes_on(tmp_path):
    result, raw = _download(tmp_path, n_videos=6, size=32, num_frames=4, n_corrupt=1)
    manifest = pd.read_parquet(raw / "manifest.parquet")
    (raw / manifest["path"][0]).write_bytes(b"")  # zero-byte file
    (raw / manifest["path"][1]).unlink()  # missing file
    out = sample_frames(
        raw / "manifest.parquet",
        tmp_path / "f.npz",
        tmp_path / "fail.csv",
        num_frames=3,
        max_side=16,
    )
    failures = read_failures(tmp_path / "fail.csv")
    assert out == {"n_videos": 3, "n_failed": 3}
    assert set(failures["video_id"]) == {"synth00000", "synth00001", "synth00005"}
    reasons = dict(zip(failures["video_id"], failures["reason"], strict=True))
    assert "zero-byte" in reasons["synth00000"]
    assert "missing file" in reasons["synth00001"]
    store, _ = load_frames(tmp_path / "f.npz")
    assert len(store) == 3 and store[0].shape == (3, 16, 16, 3)  # 32 px clips bounded to 16
    with np.load(tmp_path / "f.npz") as data:
        assert data["frame_times"].shape == (3, 3) and np.all(np.diff(data["frame_times"]) >= 0)
        assert data["video_ids"].tolist() == ["synth00002", "synth00003", "synth00004"]
        serial = {k: data[k] for k in data.files}
    # decoding in threads: same rows in the manifest's order, same failures
    sample_frames(
        raw / "manifest.parquet",
        tmp_path / "f3.npz",
        tmp_path / "fail3.csv",
        num_frames=3,
        max_side=16,
        workers=3,
    )
    with np.load(tmp_path / "f3.npz") as data:
        for key, value in serial.items():
            np.testing.assert_array_equal(data[key], value)
    pd.testing.assert_frame_equal(read_failures(tmp_path / "fail3.csv"), failures)


def test_all_videos_broken_is_an_error(tmp_path):
    result, raw = _download(tmp_path, n_videos=2, size=32, num_frames=4, n_corrupt=1)
    manifest = pd.read_parquet(raw / "manifest.parquet")
    (raw / manifest["path"][0]).write_bytes(b"junk")
    with pytest.raises(ValueError, match="none of the 2 videos"):
        sample_frames(raw / "manifest.parquet", tmp_path / "f.npz", tmp_path / "fail.csv")
    assert not (tmp_path / "f.npz").exists()


def test_images_are_one_frame_videos(tmp_path):
    from PIL import Image

    pixels = np.zeros((30, 60, 3), np.uint8)
    pixels[:, 30:] = 255
    Image.fromarray(pixels).save(tmp_path / "img.png")
    clip, idx, *_ = read_clip(tmp_path / "img.png", "uniform", 3)
    assert clip.shape == (3, 30, 60, 3) and idx.tolist() == [0, 0, 0]
    np.testing.assert_array_equal(clip[1], pixels)  # lossless: the image itself
    np.testing.assert_array_equal(clip[0], clip[2])
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(Exception, match="cannot identify"):
        read_clip(tmp_path / "bad.jpg", "uniform", 3)


def test_fps_sampling_with_a_cap(tmp_path):
    frames = np.stack([np.full((32, 32, 3), 5 * t, np.uint8) for t in range(40)])
    write_mp4(tmp_path / "c.mp4", frames, fps=10)  # 4 s
    clip, idx, *_ = read_clip(tmp_path / "c.mp4", "fps", 8, fps=2.0)
    assert idx.tolist() == [0, 5, 10, 15, 20, 25, 30, 35]  # 2 per second, 8 = the cap
    clip, idx, *_ = read_clip(tmp_path / "c.mp4", "fps", 4, fps=2.0)
    assert idx.tolist() == [5, 15, 25, 35]  # capped: spread uniformly
    write_mp4(tmp_path / "one.mp4", frames[:1], fps=10)  # a one-frame video
    clip, idx, *_ = read_clip(tmp_path / "one.mp4", "fps", 3, fps=2.0)
    assert clip.shape == (3, 32, 32, 3) and idx.tolist() == [0, 0, 0]


def _set_display_matrix(path, a: int, b: int, c: int, d: int) -> None:
    """Write a rotation into the video track header (tkhd) as phones do."""
    import struct

    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0
    header = 20 if data[at + 4] == 0 else 32  # version 0 or 1 times
    matrix = at + 8 + header + 16
    one = 1 << 16  # 16.16 fixed point; w is 2.30
    data[matrix : matrix + 36] = struct.pack(
        ">9i", a * one, b * one, 0, c * one, d * one, 0, 0, 0, 1 << 30
    )
    path.write_bytes(bytes(data))


def test_rotated_videos_are_turned_upright(tmp_path):
    upright = np.zeros((64, 48, 3), np.uint8)  # portrait: red top half, blue bottom half
    upright[:32, :, 0] = 255
    upright[32:, :, 2] = 255
    stored = np.rot90(upright, k=1)  # the sensor stores it landscape, turned anticlockwise
    path = tmp_path / "phone.mp4"
    write_mp4(path, np.stack([stored] * 6), fps=6)
    _set_display_matrix(path, 0, 1, -1, 0)  # "rotate=90": display turned 90 deg clockwise
    clip = read_clip(path, "uniform", 2, max_side=32)[0]
    full = read_clip(path, "uniform", 1)[0][0]
    assert clip.shape == (2, 32, 24, 3) and full.shape == (64, 48, 3)  # portrait, bounded
    assert full[:8, :, 0].mean() > 200 and full[:8, :, 2].mean() < 50  # red on top
    assert full[-8:, :, 2].mean() > 200 and full[-8:, :, 0].mean() < 50  # blue below
    _set_display_matrix(path, -1, 0, 0, -1)  # 180 deg: upside down
    full = read_clip(path, "uniform", 1)[0][0]
    assert full.shape == stored.shape  # 180 deg keeps the stored landscape size
    assert np.abs(full.astype(int) - np.rot90(stored, k=2)).mean() < 10


def _write_vfr(path, times: list[float]) -> None:
    """H.264 mp4 whose frame i is shown at ``times[i]`` seconds; brightness = 20 * time."""
    from fractions import Fraction

    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for t in times:
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), round(20 * t), np.uint8))
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_fps_sampling_follows_timestamps_on_variable_frame_rate(tmp_path):
    # 2 s at 30 fps, then 8 s at 3 fps: the average rate (7.4 fps) would put frame
    # indices at the wrong times
    times = [i / 30 for i in range(60)] + [2 + i / 3 for i in range(24)]
    path = tmp_path / "vfr.mp4"
    _write_vfr(path, times)
    clip, idx, seconds, _ = read_clip(path, "fps", 10, fps=1.0)
    sampled = np.array(times)[idx]
    np.testing.assert_allclose(sampled, np.arange(10), atol=0.2)
    np.testing.assert_allclose(seconds, sampled, atol=1e-3)  # what the container says
    np.testing.assert_allclose(clip.reshape(10, -1).mean(1), 20 * sampled, atol=6)
    clip, idx, seconds, _ = read_clip(path, "uniform", 4, start=4.0, end=8.0)
    assert np.all((np.array(times)[idx] >= 4.0) & (np.array(times)[idx] < 8.0))
    # times count from the segment's first frame (4.0 s)
    np.testing.assert_allclose(seconds, np.array(times)[idx] - 4.0, atol=1e-3)


def test_sample_frames_keeps_each_shape_and_records_what_max_side_scaled(tmp_path):
    sizes = {"wide": (40, 80), "tall": (80, 40), "small": (24, 32)}
    for name, (h, w) in sizes.items():
        write_mp4(tmp_path / f"{name}.mp4", _textured(6, h, w), fps=6)
    pd.DataFrame(
        {"video_id": list(sizes), "path": [f"{n}.mp4" for n in sizes], "category": "", "split": ""}
    ).assign(start=np.nan, end=np.nan).to_parquet(tmp_path / "m.parquet")
    sample_frames(
        tmp_path / "m.parquet", tmp_path / "f.npz", tmp_path / "x.csv", num_frames=2, max_side=40
    )
    store, _ = load_frames(tmp_path / "f.npz")
    assert store.sizes.tolist() == [[20, 40], [40, 20], [24, 32]]  # aspect kept, small kept
    assert store.decoded_sizes.tolist() == [list(s) for s in sizes.values()]
    assert store.scaled_down() == 2 and store.size_counts() == {"40x20": 1, "20x40": 1, "32x24": 1}
    full = read_clip(tmp_path / "wide.mp4", "uniform", 2, max_side=None)
    np.testing.assert_array_equal(store[0], bound_size(full.frames, 40))


def test_frame_store_keeps_clips_of_every_size_and_maps_them(tmp_path):
    rng = np.random.default_rng(0)
    clips = [
        rng.integers(0, 255, (3, h, w, 3), dtype=np.uint8) for h, w in [(8, 8), (6, 12), (12, 6)]
    ]
    store = FrameStore.from_clips(clips)
    np.savez(
        tmp_path / "f.npz",
        pixels=store.pixels,
        frame_sizes=store.sizes,
        frame_indices=np.zeros((3, 3), np.int64),
        video_ids=np.array(list("abc")),
    )
    mapped, ids = load_frames(tmp_path / "f.npz", mmap=True)
    assert isinstance(mapped.pixels, np.memmap) and not mapped.pixels.flags.writeable
    assert ids.tolist() == list("abc") and len(mapped) == 3
    for i, clip in enumerate(clips):
        np.testing.assert_array_equal(mapped[i], clip)
    got = mapped[1:3]  # a batch: plain arrays, each at its own size
    assert [c.shape for c in got] == [(3, 6, 12, 3), (3, 12, 6, 3)]
    assert not any(isinstance(c, np.memmap) for c in got)
    assert mapped.size_counts() == {"8x8": 1, "12x6": 1, "6x12": 1}
    with pytest.raises(ValueError, match="truncated or mismatched"):
        FrameStore(store.pixels[:-1], store.sizes, 3)
    np.savez(tmp_path / "old.npz", frames=np.stack(clips[:1]), video_ids=np.array(["a"]))
    with pytest.raises(ValueError, match="sample again"):
        load_frames(tmp_path / "old.npz")


def _textured(n: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(n + h + w)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 2 * i, axis=1) for i in range(n)])


@pytest.mark.parametrize(
    "case",
    ["uniform", "segment", "fps-vfr", "rotated", "odd-size"],
)
def test_decord_backend_gives_the_same_frames_as_pyav(tmp_path, case):
    """Where both decoders read a file, the backend changes nothing: indices, times and
    pixels are equal (decord is the reference decoder of the project card)."""
    path = tmp_path / "clip.mp4"
    args: dict = {"method": "uniform", "num_frames": 6, "max_side": 48}
    if case == "fps-vfr":
        times = [i / 30 for i in range(60)] + [2 + i / 3 for i in range(24)]
        _write_vfr(path, times)
        args.update(method="fps", fps=1.0)
    elif case == "odd-size":
        write_mp4(path, _textured(30, 80, 96), fps=10, gop=7)
    else:
        write_mp4(path, _textured(40, 32, 64), fps=10, gop=9)
    if case == "segment":
        args.update(start=1.0, end=3.0)
    if case == "rotated":
        _set_display_matrix(path, 0, 1, -1, 0)
    ours = read_clip(path, **args)
    theirs = read_clip(path, **args, backend="decord")
    np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_allclose(ours[2], theirs[2], atol=1e-3)
    np.testing.assert_array_equal(ours[0], theirs[0])
    with pytest.raises(ValueError, match="unknown decoding backend"):
        read_clip(path, **args, backend="opencv")


def test_decord_backend_names_its_padded_row_limitation(tmp_path):
    path = tmp_path / "w48.mp4"
    write_mp4(path, _textured(8, 32, 48), fps=8)  # 48 px rows: decord cannot copy them
    with pytest.raises(ValueError, match="use backend: pyav"):
        read_clip(path, "uniform", 2, backend="decord")
    assert read_clip(path, "uniform", 2)[0].shape == (2, 32, 48, 3)
