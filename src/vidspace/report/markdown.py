"""Markdown helpers of the report: tables, numbers, relative links."""

from __future__ import annotations

import os
from pathlib import Path


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join([":---"] * len(header)) + " |"]
    # a failure reason may hold "|" or a newline: keep each row one table row
    lines += [
        "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def fmt(x, digits: int = 2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and x != x:
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def rel(path: str, report_dir: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), report_dir.resolve())).as_posix()
