"""Retrieval metrics at N = M = 10,000, D = 1,024 against the similarity GEMM alone, and
against a per-query Python loop like seed 003's (timed on a subset, scaled linearly).

    python benchmarks/bench_retrieval.py [--n 10000] [--d 1024] [--loop-queries 500]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import best_of, paired_embeddings, table

from vidspace.metrics import retrieval_metrics


def per_query_loop(text, video, index, n_queries):
    ranks = []
    for i in range(n_queries):
        scores = video @ text[i]
        ranks.append(int(np.sum(scores >= scores[index[i]])))
    return ranks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--loop-queries", type=int, default=500)
    a = p.parse_args()
    text, video, index = paired_embeddings(a.n, a.d)
    gemm = best_of(lambda: text @ video.T)
    ours = best_of(lambda: retrieval_metrics(text, video, index))
    loop = best_of(lambda: per_query_loop(text, video, index, a.loop_queries), 1)
    loop_full = loop * a.n / a.loop_queries
    print(
        table(
            [
                ("N = M, D", f"{a.n}, {a.d}"),
                ("similarity GEMM alone", f"{gemm:.2f} s"),
                ("retrieval_metrics (both directions)", f"{ours:.2f} s"),
                ("ratio ours / GEMM (target <= 2)", f"{ours / gemm:.2f}"),
                (
                    f"per-query loop, t2v only ({a.loop_queries} queries scaled)",
                    f"{loop_full:.1f} s",
                ),
                ("ratio loop / ours", f"{loop_full / ours:.1f}"),
            ]
        )
    )


if __name__ == "__main__":
    main()
