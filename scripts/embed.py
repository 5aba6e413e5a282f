"""Rule embed: embed a dataset's videos and captions with one model (.npz + sidecar JSON)."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.models.stage import embed_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="model name (key under 'models')")
    p.add_argument("--spec", type=json_arg, required=True, help="the model's config entry (JSON)")
    p.add_argument("--frames", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--captions", required=True)
    p.add_argument(
        "--out",
        required=True,
        help="embedding .npz (the sidecar .json and run facts .run.json go beside), or with "
        "--shard the shard's part file",
    )
    p.add_argument("--device", required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="DataLoader workers for preprocessing (default: 4 on CUDA, 0 on CPU)",
    )
    p.add_argument("--shard", type=int, help="embed only this shard (from 0) of --shards")
    p.add_argument("--shards", type=int, default=1, help="batch-aligned shards of the job")
    a = p.parse_args()
    if a.shard is None and a.shards != 1:
        p.error("--shards needs --shard")
    embed_dataset(
        a.frames,
        a.manifest,
        a.captions,
        a.model,
        a.spec,
        a.out,
        a.device,
        a.batch_size,
        a.num_workers,
        shard=None if a.shard is None else (a.shard, a.shards),
    )


if __name__ == "__main__":
    run(main)
