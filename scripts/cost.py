"""Rule cost: bytes per vector, queries per second and latency per query of every variant
of one (dataset, model), ranking the evaluated gallery through a FAISS index of its code."""

import argparse

from vidspace.analyses.cost import cost_of_variants
from vidspace.core.cli import pairs_arg, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--variants", type=pairs_arg, nargs="+", required=True, metavar="VARIANT=NPZ")
    p.add_argument("--out", required=True)
    p.add_argument("--split", required=True, help="the evaluation split (gallery and queries)")
    p.add_argument("--k", type=int, required=True, help="results per query")
    p.add_argument("--min-seconds", type=float, default=0.2, help="batch timing per variant")
    a = p.parse_args()
    cost_of_variants(dict(a.variants), a.out, a.split, a.k, a.min_seconds)


if __name__ == "__main__":
    run(main)
