"""Search cost of each variant's code at a gallery size the demo does not reach: the same
indexes the cost stage builds (vidspace.analyses.cost.build_search), on unit vectors with queries
near their video, FAISS on one thread.

    python benchmarks/bench_variants.py [--gallery 100000] [--queries 1000] [--dim 512]

Prints, per variant, bytes per vector, batch queries per second, the median latency of one
query, and both as ratios to float32 measured in this run, plus R@1 of the index's top-1
(a check that each index still finds the right video).
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import paired_embeddings, table

from vidspace.analyses.cost import build_search, time_search

VARIANTS = {
    "float32": {"kind": "float32"},
    "float16": {"kind": "float16"},
    "int8": {"kind": "int8"},
    "int4": {"kind": "int4"},
    "binary": {"kind": "binary"},
    "binary-r20": {"kind": "binary", "rescore": 20},
    "pq (m=D/8, 8 bit)": {"kind": "faiss_pq", "spec": {"nbits": 8}},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gallery", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--min-seconds", type=float, default=1.0)
    a = p.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)
    # per-dimension noise 0.045: each caption about 1.0 away from its unit video
    text, video, _ = paired_embeddings(a.gallery, a.dim, noise=0.045)
    text = text[: a.queries]
    rows, reference = [], None
    for name, spec in VARIANTS.items():
        meta = {"kind": spec["kind"], "spec": spec.get("spec", {}), "rescore": spec.get("rescore")}
        floats = (video, text) if spec.get("rescore") else None
        search, index, code = build_search(meta, video, text, floats)
        timing = time_search(search, len(text), 10, a.min_seconds)
        hit = float(np.mean(search(np.arange(len(text)), 1)[:, 0] == np.arange(len(text))))
        qps, single = timing["batch"]["queries_per_second"], timing["single"]["median_ms"]
        reference = reference or (qps, single)
        rows.append(
            (
                name,
                f"{code:7.1f} B  {qps:10.1f} q/s ({qps / reference[0]:5.2f}x)  "
                f"{single:8.3f} ms/query alone ({single / reference[1]:5.2f}x)  "
                f"R@1 {hit:.3f}  {index}",
            )
        )
    print(f"gallery {a.gallery} x {a.dim}, {a.queries} queries, top 10, FAISS 1 thread")
    print(table(rows))


if __name__ == "__main__":
    main()
