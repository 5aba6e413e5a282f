"""Shared plumbing for the thin entry points in scripts/ (one per workflow rule)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from vidspace.core.errors import UserError

# what a user can cause and mend: a bad value, a missing file, an unreachable source.
# Anything else (KeyError, RuntimeError, TypeError, ...) is a bug: it keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotImplementedError, UserError)


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text[:80]!r}") from None


def pairs_arg(text: str) -> tuple[str, str]:
    """``label=path`` (labels are names from the config)."""
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
    return label, path


def declared_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """The arguments every rule of a declared analysis or figure passes: its name, the
    module that declares it, its inputs and its config values (JSON)."""
    p.add_argument(what, help=f"the {what}'s rule name (see --list)")
    p.add_argument("--module", required=True, help=f"the module that declares the {what}")
    p.add_argument(
        "--inputs", type=json_arg, required=True,
        help="JSON: input name -> path, or -> {label: path} for a per-model/variant input",
    )  # fmt: skip
    p.add_argument(
        "--config", type=json_arg, default={},
        help='JSON: the declared config keys, nested (e.g. {"evaluation": {"split": "test"}})',
    )  # fmt: skip


def run(main: Callable[[], object]) -> None:
    """Run a stage: log to stderr; a bad input ends with one line naming it, not a
    traceback; an unexpected exception (a bug) propagates with its traceback."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        main()
    except USER_ERRORS as exc:
        logging.getLogger("vidspace").debug("traceback", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
