"""Rule fuse: several models' embedding files of one dataset combined into one model."""

import argparse

from vidspace.core.cli import pairs_arg, run
from vidspace.models.fusion import fuse_files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="the fusion's name in the config")
    p.add_argument(
        "--components",
        type=pairs_arg,
        nargs="+",
        required=True,
        metavar="MODEL=NPZ",
        help="each model's embedding file (its sidecar beside it)",
    )
    p.add_argument("--weights", type=float, nargs="+", required=True, help="the weight grid")
    p.add_argument("--out", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--run-facts", required=True)
    p.add_argument("--split", required=True, help="the evaluated split: all | train | test | val")
    a = p.parse_args()
    fuse_files(
        dict(a.components),
        a.weights,
        a.out,
        a.meta,
        a.run_facts,
        model_name=a.model,
        split=a.split,
    )


if __name__ == "__main__":
    run(main)
