"""Markdown helpers of the report: tables, numbers, relative links."""

from __future__ import annotations

import os
from pathlib import Path


def cell(value) -> str:
    """A table cell as text: a failure reason may hold "|" or a newline (each row stays one
    table row), a caption markup (shown as written, never rendered: <, > and & escaped,
    and an image's "![")."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # an image in a caption would be fetched where the report is rendered: kept as text
    return text.replace("![", "!\\[").replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join([":---"] * len(header)) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(x, digits: int = 2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and x != x:
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def rel(path: str, report_dir: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), report_dir.resolve())).as_posix()
