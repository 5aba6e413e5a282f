"""Peak memory of retrieval_metrics at N = M = 50,000 above its inputs (tracemalloc sees
NumPy's allocations).

    python benchmarks/bench_memory.py [--n 50000] [--d 512]
"""

from __future__ import annotations

import argparse

from _common import paired_embeddings, table, traced

from vidspace.metrics import retrieval_metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--d", type=int, default=512)
    a = p.parse_args()
    text, video, index = paired_embeddings(a.n, a.d)
    inputs = video.nbytes + text.nbytes + index.nbytes
    seconds, above = traced(retrieval_metrics, text, video, index)
    above /= 2**30
    full = a.n * a.n * 4 / 2**30
    print(
        table(
            [
                ("N = M, D", f"{a.n}, {a.d}"),
                ("inputs", f"{inputs / 2**30:.2f} GiB"),
                ("peak above inputs (target <= 2 GB)", f"{above:.2f} GiB"),
                ("a full float32 score matrix would be", f"{full:.1f} GiB"),
                ("ratio peak / full matrix", f"{above / full:.3f}"),
                ("wall time", f"{seconds:.1f} s"),
            ]
        )
    )


if __name__ == "__main__":
    main()
