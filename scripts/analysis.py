"""Rules of the declared analyses (vidspace.analyses): run one analysis on named files.

Each analysis declares its inputs, outputs and the config keys it reads; the rule passes
exactly those, and the module that declares it (only that module is loaded).
`python scripts/analysis.py --list` shows every analysis and figure."""

import argparse
import sys

from vidspace.analyses import describe, find_declared
from vidspace.core.cli import declared_arguments, json_arg, run


def main() -> None:
    if "--list" in sys.argv[1:]:
        print(describe())
        return
    p = argparse.ArgumentParser(description=__doc__)
    declared_arguments(p, "analysis")
    p.add_argument("--outputs", type=json_arg, required=True, help="JSON: output name -> path")
    a = p.parse_args()
    analysis = find_declared(a.module, a.analysis)
    missing = sorted(set(analysis.outputs) - set(a.outputs))
    if missing:
        raise ValueError(f"{a.analysis}: --outputs lacks {missing}")
    analysis.run(a.inputs, a.outputs, a.config)


if __name__ == "__main__":
    run(main)
