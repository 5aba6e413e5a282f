"""Frame sampling on generated 10 s 480p clips, 8 frames each: vidspace's sampler against
decoding every frame with PyAV (CLIP4Clip-style loaders) and against a bare decord
get_batch loop.

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
from vidspace.frames import sample_frames, uniform_indices


def make_clips(root: Path, clips: int, seconds: int, fps: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    t = np.arange(seconds * fps)
    for c in range(clips):
        base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        frames = np.stack([np.roll(base, int(3 * i), axis=1) for i in t])  # panning texture
        path = root / f"clip{c}.mp4"
        write_mp4(path, frames, fps, gop=2 * fps)  # a keyframe every 2 s, as on the web
        paths.append(path)
    return paths


def pyav_all_frames(paths, n):
    for p in paths:
        with av.open(str(p)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        idx = uniform_indices(len(frames), n)
        np.stack([frames[i] for i in idx])


def decord_loop(paths, n):
    for p in paths:
        reader = decord.VideoReader(str(p), num_threads=0)
        reader.get_batch(uniform_indices(len(reader), n).tolist()).asnumpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--frames", type=int, default=8)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_clips(root, a.clips, a.seconds, a.fps)
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
        manifest.to_parquet(root / "manifest.parquet")
        pyav = best_of(lambda: pyav_all_frames(paths, a.frames), 1)
        bare = best_of(lambda: decord_loop(paths, a.frames))
        ours = best_of(
            lambda: sample_frames(
                root / "manifest.parquet",
                root / "f.npz",
                root / "fail.csv",
                num_frames=a.frames,
                short_side=480,
            )
        )
        ours_224 = best_of(
            lambda: sample_frames(
                root / "manifest.parquet",
                root / "f.npz",
                root / "fail.csv",
                num_frames=a.frames,
                short_side=224,
            )
        )
    print(
        table(
            [
                (
                    "clips",
                    f"{a.clips} x {a.seconds} s, 640x480 at {a.fps} fps, {a.frames} frames each",
                ),
                ("PyAV, decode every frame", f"{pyav:.2f} s"),
                ("bare decord get_batch loop", f"{bare:.2f} s"),
                ("vidspace sample_frames (short side 480: no resize)", f"{ours:.2f} s"),
                ("vidspace sample_frames (short side 224, as for models)", f"{ours_224:.2f} s"),
                ("speed-up over PyAV (target >= 3)", f"{pyav / ours:.1f}"),
                ("overhead over bare decord (target <= 20 %)", f"{(ours / bare - 1) * 100:.0f} %"),
            ]
        )
    )


if __name__ == "__main__":
    main()
