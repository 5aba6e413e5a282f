"""Write docs/configuration.md from schemas/config.schema.yaml (every key, its type,
default and meaning)."""

import argparse
from pathlib import Path

from vidspace.core.cli import run
from vidspace.core.config import reference


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="docs/configuration.md")
    a = p.parse_args()
    Path(a.out).write_text(reference())


if __name__ == "__main__":
    run(main)
