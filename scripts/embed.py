"""Rules embed and embed_shard: embed a dataset's videos and captions with one model
(.npz + sidecar JSON + run facts); with --shard, one batch-aligned part of that job; with
--parts, join the parts into the file one job writes, byte for byte."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.models.stage import embed_dataset, merge_shards


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="model name (key under 'models')")
    p.add_argument("--spec", type=json_arg, required=True, help="the model's config entry (JSON)")
    p.add_argument("--frames", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--captions", required=True)
    p.add_argument(
        "--out", required=True, help="the embedding .npz, or with --shard the shard's part file"
    )
    p.add_argument("--meta", help="the sidecar JSON (default: beside --out)")
    p.add_argument("--run-facts", help="the run facts JSON (default: beside --out, .run.json)")
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
    p.add_argument("--parts", nargs="+", help="join these shard parts (in order) instead")
    a = p.parse_args()
    if a.shard is None and a.shards != 1:
        p.error("--shards needs --shard")
    paths = {"meta_path": a.meta, "run_path": a.run_facts}
    if a.parts:
        merge_shards(a.parts, a.frames, a.manifest, a.captions, a.model, a.spec, a.out, **paths)
        return
    embed_dataset(
        a.frames,
        a.manifest,
        a.captions,
        a.model,
        a.spec,
        a.out,
        device=a.device,
        batch_size=a.batch_size,
        num_workers=a.num_workers,
        shard=None if a.shard is None else (a.shard, a.shards),
        **({} if a.shard is not None else paths),
    )


if __name__ == "__main__":
    run(main)
