"""Sharded stages: K jobs over contiguous ranges of rows, merged into the file one job
writes, byte for byte. Frame sampling (rows: the manifest's videos) and embedding (rows:
videos and captions, in whole batches) share the ranges, the part header and the merge's
refusals: a part that is missing, of another job, of another K, out of order, or whose
ranges do not tile the rows is named, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from vidspace.core.io import load_npz

HEADER = "part"  # the npz member holding a part's header (JSON)


def shard_range(n: int, shard: int, shards: int, unit: int = 1) -> tuple[int, int]:
    """Rows [start, stop) of shard ``shard`` (from 0) of ``shards``: the shard-th of
    ``shards`` near-equal runs of whole units of ``unit`` rows (a batch), so every unit is
    the one an unsharded job makes. Shards beyond the units are empty."""
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}: shards must be >= 1 and 0 <= shard < shards")
    units = -(-n // unit)
    return min(n, shard * units // shards * unit), min(n, (shard + 1) * units // shards * unit)


def header(job: Mapping[str, str], shard: int, shards: int, ranges: Mapping, **extra) -> dict:
    """The ``{HEADER: ...}`` member of a part file: which job it belongs to (named
    components, each compared at the merge), which shard of how many, the row ranges it
    covers, and anything the merge needs besides."""
    facts = {"job": dict(job), "shard": shard, "shards": shards, "ranges": dict(ranges), **extra}
    return {HEADER: np.array(json.dumps(facts, sort_keys=True))}


def read_parts(
    paths: Sequence[str | Path],
    job: Mapping[str, str],
    totals: Mapping[str, int] | Callable[[dict], Mapping[str, int]],
    what: str,
    keys: Sequence[str] = (),
) -> list[tuple[dict, dict]]:
    """The parts of a sharded job, in shard order, as (header, arrays of ``keys``); refuses
    (ValueError naming the part) parts that are missing, are not parts, belong to another
    job (a differing component of ``job``), disagree on K, come out of order, or whose
    ranges do not tile ``totals`` (rows per range kind; or a function of the first
    part's header giving them)."""
    missing = [k for k, p in enumerate(paths) if not Path(p).exists()]
    if missing:
        raise ValueError(
            f"cannot merge {what}: shards {missing} of {len(paths)} are missing "
            f"({', '.join(str(paths[k]) for k in missing[:5])}); rerun them"
        )
    parts = []
    for k, path in enumerate(paths):
        arrays = load_npz(path, [HEADER, *keys])
        if HEADER not in arrays:
            raise ValueError(f"{path} is not a {what} shard (no part header): rerun it")
        facts = json.loads(str(arrays.pop(HEADER)))
        differs = sorted(c for c in job if facts["job"].get(c) != job[c])
        if differs:
            raise ValueError(
                f"{path} belongs to another {what} job (its {', '.join(differs)} differ"
                f"{'s' if len(differs) == 1 else ''} from this one's): rerun its shard"
            )
        if facts["shards"] != len(paths):
            raise ValueError(
                f"cannot merge {what}: the parts disagree on the number of shards ({path} is "
                f"one of {facts['shards']}, {len(paths)} given); rerun them"
            )
        if facts["shard"] != k:
            raise ValueError(
                f"{path} is shard {facts['shard']} of {len(paths)}, expected {k} of {len(paths)}"
            )
        parts.append((facts, arrays))
    if callable(totals):
        totals = totals(parts[0][0])
    for kind, n in totals.items():
        ranges = [facts["ranges"][kind] for facts, _ in parts]
        ends = [r[0] for r in ranges[1:]] + [n]
        if ranges[0][0] != 0 or any(r[1] != end for r, end in zip(ranges, ends, strict=True)):
            raise ValueError(
                f"cannot merge {what}: the shards' {kind} rows {ranges} do not tile 0..{n}"
            )
    return parts
