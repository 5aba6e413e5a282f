"""Storage of sampled frames: raw uint8 in one .npz (what sample_frames writes) against
JPEG-compressed frames in one file, on web-like 640x480 content (the store keeps frames as
decoded; ``--side`` bounds the long side as the sampling's ``max_side`` does).

    python benchmarks/bench_storage.py [--videos 200] [--frames 8] [--side 640]

Prints bytes per frame, write time, and the time to get every frame back as uint8 (load +
decode), plus the JPEG error (PSNR). Reading is what every embedding job pays.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import table
from bench_frames import natural_clip
from PIL import Image

from vidspace.frames import bound_size


def jpeg_encode(frames: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """All frames as one byte string plus offsets (one file, random access per frame)."""
    blobs = []
    for frame in frames.reshape(-1, *frames.shape[-3:]):
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
        blobs.append(buf.getvalue())
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    return np.frombuffer(b"".join(blobs), np.uint8), offsets


def jpeg_decode(data: np.ndarray, offsets: np.ndarray, shape) -> np.ndarray:
    raw = data.tobytes()
    frames = [
        np.asarray(Image.open(io.BytesIO(raw[offsets[i] : offsets[i + 1]])).convert("RGB"))
        for i in range(len(offsets) - 1)
    ]
    return np.stack(frames).reshape(shape)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * np.log10(255**2 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--videos", type=int, default=200)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--side", type=int, default=640)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    frames = np.stack(
        [bound_size(natural_clip(rng, a.frames * 4, v)[::4], a.side) for v in range(a.videos)]
    )
    n = frames.shape[0] * frames.shape[1]
    h, w = frames.shape[2:4]
    rows = [("frames", f"{a.videos} videos x {a.frames} x {w}x{h}x3 = {n} frames")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.npz"
        start = time.perf_counter()
        np.savez(path, frames=frames)
        write = time.perf_counter() - start
        start = time.perf_counter()
        with np.load(path) as data:
            back = data["frames"]
        read = time.perf_counter() - start
        assert np.array_equal(back, frames)
        size = path.stat().st_size / n
        rows += [
            ("raw uint8 .npz: bytes per frame", f"{size / 1024:.1f} KiB"),
            ("raw uint8 .npz: write / read all", f"{write:.2f} s / {read:.2f} s"),
        ]
        for quality in (95, 90):
            path = Path(tmp) / f"jpeg{quality}.npz"
            start = time.perf_counter()
            data, offsets = jpeg_encode(frames, quality)
            np.savez(path, jpeg=data, offsets=offsets)
            write = time.perf_counter() - start
            start = time.perf_counter()
            with np.load(path) as stored:
                back = jpeg_decode(stored["jpeg"], stored["offsets"], frames.shape)
            read_j = time.perf_counter() - start
            rows += [
                (f"JPEG q{quality}: bytes per frame", f"{path.stat().st_size / n / 1024:.1f} KiB"),
                (f"JPEG q{quality}: write / read+decode all", f"{write:.2f} s / {read_j:.2f} s"),
                (f"JPEG q{quality}: PSNR against raw", f"{psnr(back, frames):.1f} dB"),
                (
                    f"JPEG q{quality}: size ratio raw / JPEG",
                    f"{size * n / path.stat().st_size:.1f}",
                ),
                (f"JPEG q{quality}: read time ratio JPEG / raw", f"{read_j / read:.1f}"),
            ]
    print(table(rows))


if __name__ == "__main__":
    main()
