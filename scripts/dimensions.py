"""Rule dimensions: R@1 against reduced dimension D' (PCA, random projection, prefix) of
one embedding file, and the minimal D' within epsilon of the full dimension."""

import argparse

from vidspace.analyses.dimensions import dimensions_file
from vidspace.core.cli import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embeddings", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", required=True, help="the evaluation split")
    p.add_argument("--grid", type=int, nargs="+", required=True, help="the D' to try")
    p.add_argument("--epsilon", type=float, required=True, help="R@1 tolerance (absolute)")
    p.add_argument("--methods", nargs="+", required=True)
    p.add_argument("--seed", type=int, required=True, help="random projection seed")
    a = p.parse_args()
    dimensions_file(a.embeddings, a.out, a.split, a.grid, a.epsilon, a.methods, a.seed)


if __name__ == "__main__":
    run(main)
