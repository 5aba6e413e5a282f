"""Rules plot_*: draw one declared figure of the report from named result files.

`python scripts/plot.py --list` shows the figures and the files each one reads."""

import argparse
import sys

from vidspace.analyses import Figure, declared_in, describe
from vidspace.core.cli import json_arg, run


def main() -> None:
    if "--list" in sys.argv[1:]:
        print(describe())
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("figure", help="the figure's rule, plot_<name> (see --list)")
    p.add_argument("--module", required=True, help="the module that declares it")
    p.add_argument(
        "--inputs", type=json_arg, required=True,
        help="JSON: input name -> path, or -> {label: path}",
    )  # fmt: skip
    p.add_argument("--wildcards", type=json_arg, required=True, help='JSON, e.g. {"dataset": "x"}')
    p.add_argument("--config", type=json_arg, default={}, help="JSON: the declared config values")
    p.add_argument("--out", required=True, help="PNG to write")
    a = p.parse_args()
    found = [d for d in declared_in(a.module) if isinstance(d, Figure) and d.rule == a.figure]
    if not found:
        raise ValueError(f"{a.module} declares no figure {a.figure!r} (see --list)")
    found[0].draw(a.inputs, a.out, a.wildcards, a.config)


if __name__ == "__main__":
    run(main)
