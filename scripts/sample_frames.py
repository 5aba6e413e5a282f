"""Rules sample_frames and sample_frames_shard: decode the sampled frames of every video
into one frames.npz and a failures table; with --shard, one contiguous range of the
manifest; with --parts, join the shards into the files one job writes, byte for byte."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.frames import merge_frame_parts, sample_frames


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
    p.add_argument("--parts", nargs="+", help="join these shards' frames (in order) instead")
    p.add_argument("--part-failures", nargs="+", help="and their failure tables (in order)")
    a = p.parse_args()
    if a.shard is None and a.shards != 1:
        p.error("--shards needs --shard")
    if a.parts:
        merge_frame_parts(
            a.parts, a.part_failures or [], a.manifest, a.frames, a.failures, **a.spec
        )
        return
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
