"""Exact retrieval metrics (both directions, every metric) at growing sizes: time against
the similarity GEMM of the same size (computed in the same row blocks, results dropped),
peak memory above the inputs (tracemalloc sees NumPy's buffers), and how time grows with
M x N.

    python benchmarks/bench_scale.py [--sizes 10000x1000 50000x5000 ...] [--d 512]

Sizes are captions x videos, 10 captions per video by default as in VATEX.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import table, traced

from vidspace.metrics import retrieval_metrics
from vidspace.metrics.ranking import DEFAULT_CHUNK_ELEMENTS


def data(m: int, n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    video = rng.standard_normal((n, d), dtype=np.float32)
    video /= np.linalg.norm(video, axis=1, keepdims=True)
    index = np.arange(m) % n
    text = video[index] + rng.standard_normal((m, d), dtype=np.float32) * 0.3
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return text, video, index


def gemm_seconds(text: np.ndarray, video: np.ndarray) -> float:
    rows = max(1, DEFAULT_CHUNK_ELEMENTS // len(video))
    start = time.perf_counter()
    for i in range(0, len(text), rows):
        text[i : i + rows] @ video.T
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sizes", nargs="+", default=["10000x1000", "50000x5000", "100000x10000", "200000x20000"]
    )
    p.add_argument("--d", type=int, default=512)
    a = p.parse_args()
    rows, points = [], []
    for size in a.sizes:
        m, n = (int(x) for x in size.split("x"))
        text, video, index = data(m, n, a.d)
        inputs = text.nbytes + video.nbytes + index.nbytes
        gemm = gemm_seconds(text, video)
        seconds, above = traced(retrieval_metrics, text, video, index)
        points.append((m * n, seconds))
        rows.append(
            (
                f"{m:,} x {n:,}",
                f"{seconds:7.1f} s  GEMM {gemm:6.1f} s  ratio {seconds / gemm:4.2f}  "
                f"inputs {inputs / 2**30:.2f} GiB  peak above {above / 2**30:.2f} GiB",
            )
        )
    if len(points) > 1:
        x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
        slope = np.polyfit(x, y, 1)[0]
        rows.append(("time ~ (M x N)^k, fitted k", f"{slope:.2f}"))
    print(table([(f"captions x videos, D = {a.d}", ""), *rows]))


if __name__ == "__main__":
    main()
