"""Per-frame embeddings in the embedding file: what float16 storage costs and saves.

At the full config's largest frame tower (SigLIP so400m: D = 1,152, T = 8 frames) and N
videos: file size with frame_emb as float16 and as float32, time to load the file for a
stage that does not need the frames (the default) and for one that does, and what float16
changes in the pooled embeddings (cosine to the float32 pooling).

    python benchmarks/bench_frame_emb.py [--n 10000] [--t 8] [--d 1152]
"""

from __future__ import annotations

import argparse
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
from _common import best_of, table

from vidspace.core.io import load_embeddings, save_embeddings
from vidspace.core.linalg import l2_normalize, pool_frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--t", type=int, default=8)
    p.add_argument("--d", type=int, default=1152)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    # CLIP-like feature scale: unnormalised rows of norm ~ 10-30
    frames = (rng.normal(size=(a.n, a.t, a.d)) * 0.5).astype(np.float32)
    base = {
        "video_ids": np.array([f"v{i}" for i in range(a.n)]),
        "video_emb": pool_frames(frames),
    }
    rows = [("N, T, D", f"{a.n}, {a.t}, {a.d}")]
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for dtype in (np.float16, np.float32):
            path = Path(tmp) / f"{np.dtype(dtype).name}.npz"
            save_embeddings(path, {**base, "frame_emb": frames.astype(dtype)}, {})
            sizes[dtype] = path.stat().st_size
        plain = Path(tmp) / "plain.npz"
        save_embeddings(plain, base, {})
        rows.append(("file without frame_emb", f"{plain.stat().st_size / 2**20:.0f} MiB"))
        for dtype, size in sizes.items():
            rows.append((f"file with frame_emb {np.dtype(dtype).name}", f"{size / 2**20:.0f} MiB"))
        half = Path(tmp) / "float16.npz"
        skip = best_of(lambda: load_embeddings(half))
        full = best_of(lambda: load_embeddings(half, frames=True))
        tracemalloc.start()
        load_embeddings(half)
        peak_skip = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        load_embeddings(half, frames=True)
        peak_full = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows += [
            (
                "load, frames skipped (most stages)",
                f"{skip:.2f} s, peak {peak_skip / 2**20:.0f} MiB",
            ),
            (
                "load with frames (pooling variants)",
                f"{full:.2f} s, peak {peak_full / 2**20:.0f} MiB",
            ),
        ]
    for pooling in ("mean", "max", "middle"):
        exact = l2_normalize(pool_frames(frames, pooling))
        stored = l2_normalize(pool_frames(frames.astype(np.float16), pooling))
        cosine = np.sum(exact * stored, axis=1)
        rows.append((f"{pooling} pooling, float16 vs float32", f"min cosine {cosine.min():.7f}"))
    print(table(rows))


if __name__ == "__main__":
    main()
