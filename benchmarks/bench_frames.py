"""Frame sampling on generated 10 s 480p clips, 8 frames each: vidspace's sampler against
decoding every frame with PyAV (CLIP4Clip-style loaders) and against a bare decord
get_batch loop, on two kinds of content:

- "natural": smooth moving gradients, a moving object and light sensor noise, about
  0.4 Mbit/s at CRF 20, the bitrate class of web video at 480p;
- "noise": a panning random-noise texture, about 7 Mbit/s, where entropy decoding
  dominates every decoder (a worst case, not what datasets look like).

    python benchmarks/bench_frames.py [--clips 8] [--seconds 10] [--fps 30]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import decord
import numpy as np
import pandas as pd
from _common import best_of, table

from vidspace.datasets.synthetic import write_mp4
from vidspace.frames import load_frames, sample_frames, uniform_indices


def natural_clip(rng, n: int, seed: int) -> np.ndarray:
    yy, xx = np.mgrid[0:480, 0:640]
    frames = np.empty((n, 480, 640, 3), np.uint8)
    for i in range(n):
        f = frames[i]
        f[..., 0] = (xx + 2 * i + 40 * seed) % 256
        f[..., 1] = (yy + i) % 256
        f[..., 2] = 128 + 60 * np.sin((xx + yy + 3 * i) / 40)
        cx, cy = int(320 + 200 * np.sin(i / 30 + seed)), int(240 + 150 * np.cos(i / 25 + seed))
        f[cy - 40 : cy + 40, cx - 40 : cx + 40] = (255, 40 * seed % 255, 30)
        noise = rng.integers(-6, 7, f.shape)
        frames[i] = np.clip(f.astype(np.int16) + noise, 0, 255)
    return frames


def noise_clip(rng, n: int, seed: int) -> np.ndarray:
    base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 3 * i, axis=1) for i in range(n)])  # panning texture


def make_clips(root: Path, kind: str, clips: int, seconds: int, fps: int) -> list[Path]:
    rng = np.random.default_rng(0)
    make = natural_clip if kind == "natural" else noise_clip
    paths = []
    for c in range(clips):
        path = root / f"{kind}{c}.mp4"
        write_mp4(path, make(rng, seconds * fps, c), fps, gop=2 * fps)  # keyframe every 2 s
        paths.append(path)
    return paths


def pyav_all_frames(paths, n):
    for p in paths:
        with av.open(str(p)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        idx = uniform_indices(len(frames), n)
        np.stack([frames[i] for i in idx])


def decord_batches(paths, n) -> list[np.ndarray]:
    out = []
    for p in paths:
        reader = decord.VideoReader(str(p), num_threads=0)
        out.append(reader.get_batch(uniform_indices(len(reader), n).tolist()).asnumpy())
    return out


def run(root: Path, kind: str, a) -> list[tuple[str, str]]:
    paths = make_clips(root, kind, a.clips, a.seconds, a.fps)
    manifest = pd.DataFrame(
        {
            "video_id": [q.stem for q in paths],
            "path": [q.name for q in paths],
            "category": "",
            "split": "test",
            "start": np.nan,
            "end": np.nan,
        }
    )
    manifest.to_parquet(root / f"{kind}.parquet")

    def ours(max_side: int = 1024, workers: int = 1, backend: str = "pyav") -> float:
        args = (root / f"{kind}.parquet", root / "f.npz", root / "fail.csv")
        return best_of(
            lambda: sample_frames(
                *args, num_frames=a.frames, max_side=max_side, workers=workers, backend=backend
            )
        )

    def stored() -> np.ndarray:
        return np.array(load_frames(root / "f.npz")[0].pixels)

    pyav = best_of(lambda: pyav_all_frames(paths, a.frames))
    bare = best_of(lambda: decord_batches(paths, a.frames))
    decord_native = ours(backend="decord")
    decord_frames = stored()
    ours_320 = ours(320)  # long side bounded: the resize path
    threaded = ours(workers=a.workers)
    ours_native = ours()  # as decoded (what the store keeps for 480p): checked below
    native = stored()
    backends_differ = int((native != decord_frames).sum())
    reference = np.concatenate([b.reshape(-1) for b in decord_batches(paths, a.frames)])
    differ = int((native != reference).sum())
    mbit = sum(q.stat().st_size for q in paths) * 8 / 1e6 / (a.clips * a.seconds)
    return [
        (f"[{kind}] bitrate", f"{mbit:.2f} Mbit/s"),
        (f"[{kind}] PyAV, decode every frame", f"{pyav:.2f} s"),
        (f"[{kind}] bare decord get_batch loop", f"{bare:.2f} s"),
        (f"[{kind}] vidspace sample_frames (as decoded, what is stored)", f"{ours_native:.2f} s"),
        (f"[{kind}] vidspace sample_frames (max_side 320: resized)", f"{ours_320:.2f} s"),
        (f"[{kind}] speed-up over PyAV, as decoded (target >= 3)", f"{pyav / ours_native:.1f}"),
        (f"[{kind}] speed-up over PyAV, max_side 320", f"{pyav / ours_320:.1f}"),
        (f"[{kind}] sample_frames, as decoded, {a.workers} threads", f"{threaded:.2f} s"),
        (
            f"[{kind}] overhead over bare decord (target <= 20 %)",
            f"{(ours_native / bare - 1) * 100:.0f} %",
        ),
        (f"[{kind}] pixels differing from decord's frames", str(differ)),
        (f"[{kind}] sample_frames backend decord, as decoded", f"{decord_native:.2f} s"),
        (f"[{kind}] backend pyav / backend decord time", f"{ours_native / decord_native:.2f}"),
        (f"[{kind}] pixels differing between the two backends", str(backends_differ)),
    ]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="threads for the threaded run")
    p.add_argument(
        "--content", nargs="+", default=["natural", "noise"], choices=["natural", "noise"]
    )
    a = p.parse_args()
    rows = [("clips", f"{a.clips} x {a.seconds} s, 640x480 at {a.fps} fps, {a.frames} frames each")]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in a.content:
            rows += run(Path(tmp), kind, a)
    print(table(rows))


if __name__ == "__main__":
    main()
