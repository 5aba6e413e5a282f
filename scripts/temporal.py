"""Rule temporal: temporal pooling (mean, max, middle frame) and multi-grained scoring
(S_g + beta S_l, beta chosen on the train or val split) over one file's per-frame
embeddings."""

import argparse

from vidspace.analyses.temporal import temporal_file
from vidspace.core.cli import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embeddings", required=True)
    p.add_argument("--meta", help="the embedding file's sidecar JSON (default: beside it)")
    p.add_argument("--out", required=True)
    p.add_argument("--split", required=True, help="the evaluation split")
    p.add_argument("--betas", type=float, nargs="+", required=True, help="beta grid (>= 0)")
    p.add_argument("--aggregation", choices=["max", "topk", "softmax"], required=True)
    p.add_argument("--top-k", type=int, required=True, help="frames averaged by topk")
    p.add_argument("--temperature", type=float, required=True, help="softmax aggregation")
    p.add_argument("--bootstrap", type=int, required=True, help="resamples of the paired test")
    p.add_argument("--seed", type=int, required=True)
    a = p.parse_args()
    temporal_file(
        a.embeddings,
        a.out,
        a.split,
        a.betas,
        a.aggregation,
        a.top_k,
        a.temperature,
        a.bootstrap,
        a.seed,
        a.meta,
    )


if __name__ == "__main__":
    run(main)
