"""A teammate's pull: dvc pull, check the results match dvc.yaml and dvc.lock, then mark
them up to date for Snakemake (`make pull`). Stops, marking nothing, at the first problem."""

import argparse

from vidspace.core.cli import run
from vidspace.workflow.dvc import pull


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configfile", required=True, help="the config dvc.yaml was exported from")
    a = p.parse_args()
    pull(a.configfile)


if __name__ == "__main__":
    run(main)
