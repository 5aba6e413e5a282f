"""Rule sample_frames, when frames.shards > 1: join the shards' part files into one
frames.npz and failures table, byte-identical to an unsharded sampling's."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.frames import merge_frame_parts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--spec", type=json_arg, required=True, help="the sampling's config entry (JSON)"
    )
    p.add_argument("--manifest", required=True)
    p.add_argument("--parts", nargs="+", required=True, help="every shard's frames, in order")
    p.add_argument(
        "--part-failures", nargs="+", required=True, help="every shard's failures, in order"
    )
    p.add_argument("--frames", required=True)
    p.add_argument("--failures", required=True)
    a = p.parse_args()
    merge_frame_parts(a.parts, a.part_failures, a.manifest, a.frames, a.failures, **a.spec)


if __name__ == "__main__":
    run(main)
