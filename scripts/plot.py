"""Rules plot_*: draw one declared figure of the report from named result files.

`python scripts/plot.py --list` shows every analysis and figure and what each reads."""

import argparse
import sys

from vidspace.analyses import describe, find_declared
from vidspace.core.cli import declared_arguments, json_arg, run


def main() -> None:
    if "--list" in sys.argv[1:]:
        print(describe())
        return
    p = argparse.ArgumentParser(description=__doc__)
    declared_arguments(p, "figure")
    p.add_argument("--wildcards", type=json_arg, required=True, help='JSON, e.g. {"dataset": "x"}')
    p.add_argument("--out", required=True, help="PNG to write")
    a = p.parse_args()
    find_declared(a.module, a.figure).draw(a.inputs, a.out, a.wildcards, a.config)


if __name__ == "__main__":
    run(main)
