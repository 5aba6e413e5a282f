"""Hosted datasets: the hub adapter reading a local dataset in MTEB's layout (parquet with
a Video column of real H.264 clips, 250, 1,000 and 4,000 rows, ~30 kB a clip) — rows per
second and peak memory (the process's peak RSS, VmHWM, and pyarrow's pool peak), each size
in a fresh process; the same files through ``datasets.load_dataset`` (the alternative
this adapter does not use) for comparison.

    python bench_hub.py            # from benchmarks/, the project's venv active
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build(root: Path, n: int) -> Path:
    import datasets

    from vidspace.datasets.synthetic import render_clip, write_mp4

    clips = []
    for i in range(8):  # eight distinct clips, repeated: the bytes differ in size, not kind
        frames = render_clip("red", "circle", "left", "gray", np.random.default_rng(i), 160, 48)
        write_mp4(root / f"c{i}.mp4", frames, fps=8)
        clips.append((root / f"c{i}.mp4").read_bytes())
    rows = {
        "video": [{"bytes": clips[i % 8], "path": f"video{i}.mp4"} for i in range(n)],
        "caption": [f"caption of clip {i}" for i in range(n)],
    }
    table = datasets.Dataset.from_dict(rows).cast_column("video", datasets.Video(decode=False))
    data = root / f"set{n}" / "data"
    data.mkdir(parents=True)
    # row groups of 50 rows, as large binary columns are written on the hub
    table.to_parquet(str(data / "test-00000-of-00001.parquet"), batch_size=50)
    return data.parent


def measure(how: str, folder: str) -> None:
    """In this process: read ``folder`` one way, print rows, seconds and peak memory."""
    import pyarrow as pa

    out = Path(tempfile.mkdtemp()) / "videos"
    out.mkdir()
    start = time.perf_counter()
    if how == "hub":
        from vidspace.datasets.hub import hub

        rows = len(hub(out, {"path": folder}).captions)
    else:
        import datasets

        ds = datasets.load_dataset(
            "parquet",
            data_files=f"{folder}/data/*.parquet",
            split="train",
            cache_dir=str(out.parent / "c"),
        ).cast_column("video", datasets.Video(decode=False))
        rows = 0
        for i, r in enumerate(ds):
            (out / f"{i}.mp4").write_bytes(r["video"]["bytes"])
            rows += 1
    seconds = time.perf_counter() - start
    # VmHWM: this process's peak RSS since its exec (ru_maxrss would carry the parent's
    # high-water mark across fork + exec)
    status = Path("/proc/self/status").read_text().split("VmHWM:")[1]
    peak = int(status.split()[0]) / 1024
    pool = pa.default_memory_pool().max_memory() / 2**20
    print(json.dumps({"rows": rows, "seconds": seconds, "rss_mb": peak, "arrow_pool_mb": pool}))


def main() -> None:
    if len(sys.argv) == 3:
        measure(sys.argv[1], sys.argv[2])
        return
    root = Path(tempfile.mkdtemp(prefix="bench_hub_"))
    results = {}
    for n in (250, 1000, 4000):
        folder = build(root, n)
        size = sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 2**20
        for how in ("hub", "datasets"):
            run = subprocess.run(
                [sys.executable, __file__, how, str(folder)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(run.stdout.strip().splitlines()[-1])
            results[(how, n)] = r
            print(
                f"{how:8s} {n:5d} rows ({size:.0f} MB parquet): "
                f"{r['rows'] / r['seconds']:.0f} rows/s, "
                f"peak RSS {r['rss_mb']:.0f} MB, arrow pool peak {r['arrow_pool_mb']:.1f} MB"
            )
    for how in ("hub", "datasets"):
        small, large = results[(how, 250)], results[(how, 4000)]
        print(f"{how}: peak RSS ratio 4,000 / 250 rows: {large['rss_mb'] / small['rss_mb']:.2f}")


if __name__ == "__main__":
    main()
