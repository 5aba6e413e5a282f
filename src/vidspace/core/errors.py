"""Errors that describe a problem with the user's input, not with vidspace.

The scripts end such errors with one line naming the problem; any other exception is a
bug and keeps its traceback (see :func:`vidspace.core.cli.run`).
"""


class UserError(Exception):
    """Bad input, configuration or environment (an unreachable host, a missing file)."""


class CorruptFile(UserError):
    """A file that exists but cannot be read: truncated, or not the format its name says."""


class TooFewRows(ValueError):
    """Too few rows for a fit (neural MDS, DEC): the stage reports a skip with this reason
    instead of failing the run."""
