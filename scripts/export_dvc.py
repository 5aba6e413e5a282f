"""Write dvc.yaml from the Snakemake DAG of a config (the embedded default by default)."""

import argparse

from vidspace.core.cli import run
from vidspace.workflow.dvc import export


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configfile", default="config/demo.yaml")
    p.add_argument("--out", default="dvc.yaml")
    p.add_argument(
        "--check",
        action="store_true",
        help="fail (after rewriting it) if the file was not the export of the config",
    )
    a = p.parse_args()
    export(a.configfile, a.out, check=a.check)


if __name__ == "__main__":
    run(main)
