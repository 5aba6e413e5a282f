"""Rules of the declared analyses (vidspace.analyses): run one analysis on named files.

Each analysis declares its inputs, outputs and the config keys it reads; the rule passes
exactly those, and the module that declares it (only that module is loaded).
`python scripts/analysis.py --list` shows them all."""

import argparse
import sys

from vidspace.analyses import Analysis, declared_in, describe
from vidspace.core.cli import json_arg, run


def main() -> None:
    if "--list" in sys.argv[1:]:
        print(describe())
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("analysis", help="the analysis' name (see --list)")
    p.add_argument("--module", required=True, help="the module that declares it")
    p.add_argument(
        "--inputs", type=json_arg, required=True,
        help="JSON: input name -> path, or -> {label: path} for a per-model/variant input",
    )  # fmt: skip
    p.add_argument("--outputs", type=json_arg, required=True, help="JSON: output name -> path")
    p.add_argument(
        "--config", type=json_arg, required=True,
        help='JSON: the declared config keys, nested (e.g. {"evaluation": {"split": "test"}})',
    )  # fmt: skip
    a = p.parse_args()
    found = [d for d in declared_in(a.module) if isinstance(d, Analysis) and d.name == a.analysis]
    if not found:
        raise ValueError(f"{a.module} declares no analysis {a.analysis!r} (see --list)")
    analysis = found[0]
    missing = sorted(set(analysis.outputs) - set(a.outputs))
    if missing:
        raise ValueError(f"{a.analysis}: --outputs lacks {missing}")
    analysis.run(a.inputs, a.outputs, a.config)


if __name__ == "__main__":
    run(main)
