"""Rule sample_frames: decode the sampled frames of every video into one frames.npz."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.frames import sample_frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--spec", type=json_arg, required=True, help="the sampling's config entry (JSON)"
    )
    p.add_argument("--manifest", required=True)
    p.add_argument("--frames", required=True)
    p.add_argument("--failures", required=True)
    p.add_argument("--workers", type=int, default=1, help="videos decoded concurrently")
    p.add_argument("--shard", type=int, help="sample only this shard (from 0) of --shards")
    p.add_argument("--shards", type=int, default=1, help="contiguous shards of the manifest")
    a = p.parse_args()
    if a.shard is None and a.shards != 1:
        p.error("--shards needs --shard")
    sample_frames(
        a.manifest,
        a.frames,
        a.failures,
        **a.spec,
        workers=a.workers,
        shard=a.shard,
        shards=a.shards,
    )


if __name__ == "__main__":
    run(main)
