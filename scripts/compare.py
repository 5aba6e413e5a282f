"""Rule compare: paired bootstrap tests of R@K between the models on one dataset."""

import argparse

from vidspace.core.cli import pairs_arg, run
from vidspace.metrics import compare_models


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--ranks",
        type=pairs_arg,
        nargs="+",
        required=True,
        metavar="MODEL=NPZ",
        help="per-query ranks written by scripts/retrieval.py",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--ks", type=int, nargs="+", required=True)
    p.add_argument("--resamples", type=int, default=10000)
    p.add_argument("--seed", type=int, required=True)
    a = p.parse_args()
    compare_models(dict(a.ranks), a.out, ks=a.ks, n_boot=a.resamples, seed=a.seed)


if __name__ == "__main__":
    run(main)
