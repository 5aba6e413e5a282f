"""Rule transform: one compressed variant (precision or dimension) of an embedding file."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.variants import transform


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--variant", required=True, help="variant name (key under 'variants')")
    p.add_argument("--spec", type=json_arg, required=True, help="the variant's config entry (JSON)")
    p.add_argument("--embeddings", required=True)
    p.add_argument("--meta", help="the embedding file's sidecar JSON (default: beside it)")
    p.add_argument(
        "--split",
        required=True,
        help="evaluation split: fitted parts learn from the train split when it is disjoint",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--out-meta", help="the variant's sidecar JSON (default: beside --out)")
    a = p.parse_args()
    transform(
        a.embeddings,
        a.out,
        name=a.variant,
        spec=a.spec,
        split=a.split,
        meta_path=a.meta,
        out_meta_path=a.out_meta,
    )


if __name__ == "__main__":
    run(main)
