"""Rule download: fetch or generate one dataset's videos and its manifest/captions tables."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.datasets import download


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--spec", type=json_arg, required=True, help="the dataset's config entry (JSON)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--captions", required=True)
    p.add_argument("--failures", required=True)
    p.add_argument("--videos", required=True, help="directory the videos go into")
    a = p.parse_args()
    download(
        a.spec["adapter"],
        a.spec.get("options", {}),
        seed=a.seed,
        manifest_path=a.manifest,
        captions_path=a.captions,
        failures_path=a.failures,
        video_dir=a.videos,
        holdout=a.spec.get("holdout"),
    )


if __name__ == "__main__":
    run(main)
