"""Rule clustering: k-means of the embeddings against the dataset's categories."""

import argparse

from vidspace.cli import run
from vidspace.clustering import analyze_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embeddings", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--seed", type=int, required=True)
    a = p.parse_args()
    analyze_file(a.embeddings, a.out, a.split, a.seed)


if __name__ == "__main__":
    run(main)
