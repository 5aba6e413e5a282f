"""Rule embed, when embed.shards > 1: join the shards' part files into one embedding file
(.npz + sidecar JSON + run facts), byte-identical to an unsharded job's."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.models.stage import merge_shards


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="model name (key under 'models')")
    p.add_argument("--spec", type=json_arg, required=True, help="the model's config entry (JSON)")
    p.add_argument("--parts", nargs="+", required=True, help="every shard's part file, in order")
    p.add_argument("--frames", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--captions", required=True)
    p.add_argument("--out", required=True, help="embedding .npz; the sidecar .json goes beside")
    a = p.parse_args()
    merge_shards(a.parts, a.frames, a.manifest, a.captions, a.model, a.spec, a.out)


if __name__ == "__main__":
    run(main)
