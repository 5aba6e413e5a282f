"""Rule clustering: k-means (and DEC) of the embeddings against the dataset's categories."""

import argparse

from vidspace.analyses.clustering import analyze_file
from vidspace.core.cli import json_arg, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embeddings", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--dec", type=json_arg, help="DEC's options (JSON); absent: no DEC")
    p.add_argument("--labels", help="where to write each video's clusters (.npz)")
    a = p.parse_args()
    analyze_file(a.embeddings, a.out, a.split, a.seed, a.dec, a.labels)


if __name__ == "__main__":
    run(main)
