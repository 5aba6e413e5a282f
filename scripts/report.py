"""Rule report: results/report.md from every result file named in the index (JSON)."""

import argparse

from vidspace.core.cli import json_arg, run
from vidspace.report.assemble import write_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--index",
        type=json_arg,
        required=True,
        help="files by dataset, model and variant, as rules/common.smk builds it",
    )
    p.add_argument("--out", required=True)
    a = p.parse_args()
    write_report(a.index, a.out)


if __name__ == "__main__":
    run(main)
