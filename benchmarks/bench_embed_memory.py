"""Private memory of the embed stage: frames.npz memory-mapped (what embed_dataset does)
against read whole into memory (what it did before).

    python benchmarks/bench_embed_memory.py [--videos 1500] [--side 224]

Each way runs embed_dataset in a fresh process on the same generated frames.npz with the
weight-free ``descriptor`` model (it reads every frame), while a thread samples the
process's anonymous resident memory (RssAnon: memory that cannot be dropped under
pressure; mapped file pages can) every 20 ms; the peak is printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _common import table

from vidspace.frames import save_frames

CHILD = r"""
import json, sys, threading, time
import vidspace.frames as frames_mod
import vidspace.models.stage as models
mode, root = sys.argv[1], sys.argv[2]
if mode == "read":  # the old behaviour: the whole array in memory
    load = frames_mod.load_frames
    models.load_frames = lambda path, mmap=False: load(path, mmap=False)
peak, done = [0], [False]
def watch():
    while not done[0]:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                peak[0] = max(peak[0], int(line.split()[1]))
        time.sleep(0.02)
threading.Thread(target=watch, daemon=True).start()
start = time.perf_counter()
models.embed_dataset(f"{root}/frames.npz", f"{root}/manifest.parquet", f"{root}/captions.parquet",
    "descriptor", {"adapter": "descriptor"}, f"{root}/emb-{mode}.npz", device="cpu", batch_size=64)
done[0] = True
print(json.dumps({"peak_anon_mib": peak[0] / 1024, "seconds": time.perf_counter() - start}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--videos", type=int, default=1500)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--side", type=int, default=224)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        shape = (a.videos, a.frames, a.side, a.side, 3)
        ids = np.array([f"v{i:05d}" for i in range(a.videos)])
        save_frames(root / "frames.npz", rng.integers(0, 255, shape, dtype=np.uint8), ids)
        pd.DataFrame({"video_id": ids, "category": "", "split": "test"}).to_parquet(
            root / "manifest.parquet"
        )
        pd.DataFrame({"video_id": ids, "caption_id": ids, "caption": "x"}).to_parquet(
            root / "captions.parquet"
        )
        results = {}
        for mode in ("mmap", "read"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode, str(root)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        with np.load(root / "emb-mmap.npz") as x, np.load(root / "emb-read.npz") as y:
            same = bool(np.array_equal(x["video_emb"], y["video_emb"]))
    size = np.prod(shape) / 2**20
    print(
        table(
            [
                ("frames.npz", f"{a.videos} x {a.frames} x {a.side}^2 x 3 uint8 = {size:.0f} MiB"),
                (
                    "peak private memory, memory-mapped",
                    f"{results['mmap']['peak_anon_mib']:.0f} MiB",
                ),
                ("peak private memory, read whole", f"{results['read']['peak_anon_mib']:.0f} MiB"),
                (
                    "embed time, memory-mapped / read whole",
                    f"{results['mmap']['seconds']:.1f} s / {results['read']['seconds']:.1f} s",
                ),
                ("embeddings identical", str(same)),
            ]
        )
    )


if __name__ == "__main__":
    main()
