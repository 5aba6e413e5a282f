"""Rule data_quality: how many evaluated captions also describe another video, and which."""

import argparse

from vidspace.core.cli import run
from vidspace.datasets.quality import quality_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--manifest", required=True, help="data/raw/{dataset}/manifest.parquet")
    p.add_argument("--captions", required=True, help="data/raw/{dataset}/captions.parquet")
    p.add_argument("--download-failures", required=True, help="the download's failures.csv")
    p.add_argument("--frame-failures", required=True, help="sample_frames' failures.csv")
    p.add_argument("--split", required=True, help="the evaluated split: all | train | test | val")
    p.add_argument("--out", required=True, help="counts (JSON)")
    p.add_argument("--ambiguous", required=True, help="the ambiguous captions (CSV)")
    a = p.parse_args()
    quality_file(
        a.manifest,
        a.captions,
        a.download_failures,
        a.frame_failures,
        a.out,
        a.ambiguous,
        split=a.split,
    )


if __name__ == "__main__":
    run(main)
