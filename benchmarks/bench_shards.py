"""Sharded embedding through Snakemake's local executor: wall time of the embed step for
K = 1, 2, 4 shards with a weight-free model (the colour-and-motion descriptor, which
reads every frame), the merge's share of it, and whether the merged file equals K = 1.

    python benchmarks/bench_shards.py [--videos 480] [--cores 2]

Download and frame sampling run once beforehand; each K then reruns only the embed jobs
(``--cores`` jobs at a time). On a machine with fewer cores than shards the shards share
them, so the wall time shows the scheduling and merge overhead rather than a speed-up.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import table

REPO = Path(__file__).resolve().parents[1]
FILES = ["Snakefile", "rules", "scripts", "schemas", "config", "envs", "report", "config.yaml"]
TARGET = "results/embeddings/synthetic/motion.npz"


def config(videos: int, shards: int) -> dict:
    return {
        "seed": 0,
        "device": "cpu",
        "datasets": {
            "synthetic": {
                "adapter": "synthetic",
                "sampling": "u8",
                "options": {"n_videos": videos, "captions_per_video": 2, "size": 96},
            }
        },
        "samplings": {"u8": {"method": "uniform", "num_frames": 8}},
        "models": {"motion": {"adapter": "descriptor"}},
        "variants": {"float32": {"kind": "float32"}},
        "embed": {"batch_size": 16, "shards": shards},
        "evaluation": {"split": "test", "ks": [1], "ndcg_k": 5},
    }


def snakemake(workdir: Path, cores: int, *targets: str) -> None:
    cmd = [sys.executable, "-m", "snakemake", *targets, "--cores", str(cores)]
    subprocess.run([*cmd, "--configfile", "c.yaml", "--quiet"], cwd=workdir, check=True)


def seconds(tsv: Path) -> float:
    with open(tsv) as f:
        return float(next(csv.DictReader(f, delimiter="\t"))["s"])


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--videos", type=int, default=480)
    p.add_argument("--cores", type=int, default=2)
    a = p.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in FILES:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
        (work / "c.yaml").write_text(yaml.safe_dump(config(a.videos, 1), sort_keys=False))
        snakemake(work, a.cores, "data/frames/synthetic/u8/frames.npz")
        reference = None
        for shards in (1, 2, 4):
            shutil.rmtree(work / "results", ignore_errors=True)
            (work / "c.yaml").write_text(yaml.safe_dump(config(a.videos, shards), sort_keys=False))
            start = time.perf_counter()
            snakemake(work, a.cores, TARGET)
            wall = time.perf_counter() - start
            digest = hashlib.md5((work / TARGET).read_bytes()).hexdigest()
            reference = reference or digest
            bench = work / "results/benchmarks"
            merge = seconds(bench / "embed/synthetic/motion.tsv")
            if shards == 1:
                rows.append((f"K=1: wall (one embed job {merge:.1f} s)", f"{wall:.1f} s"))
                continue
            parts = [seconds(t) for t in sorted(bench.glob("embed_shard/synthetic/motion/*.tsv"))]
            rows += [
                (
                    f"K={shards}: wall (shards {' / '.join(f'{s:.1f}' for s in parts)} s)",
                    f"{wall:.1f} s",
                ),
                (f"K={shards}: merge job / wall", f"{merge:.1f} s / {merge / wall:.0%}"),
                (f"K={shards}: merged file equals K=1", str(digest == reference)),
            ]
    print(table([("videos x frames", f"{a.videos} x 8 at 96x96, {a.cores} cores"), *rows]))


if __name__ == "__main__":
    main()
