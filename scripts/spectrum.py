"""Rule spectrum: singular values, ranks, modality gap and geometry of one embedding file."""

import argparse

from vidspace.analyses.spectra import analyze_file
from vidspace.core.cli import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embeddings", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", required=True)
    a = p.parse_args()
    analyze_file(a.embeddings, a.out, a.split)


if __name__ == "__main__":
    run(main)
