"""The tables every dataset adapter produces (docs/definitions.md contracts) and their checks.

Adapters import this module, not the package, so no adapter depends on the registry that
lists it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

MANIFEST_COLUMNS = ["video_id", "path", "category", "split", "start", "end"]
CAPTION_COLUMNS = ["caption_id", "video_id", "caption"]
# a leading "-" is allowed: a quarter of YouTube-derived ids start with one (MSVD's
# "-4wsuPCjDBc_5_15"); ids only ever reach paths inside a folder, never an argument list
VIDEO_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")


@dataclass
class DownloadResult:
    manifest: pd.DataFrame
    captions: pd.DataFrame
    failures: list[dict[str, str]] = field(default_factory=list)


def check_video_id(video_id: str) -> str:
    """A video id becomes part of paths: allow only a safe, bounded alphabet."""
    if not isinstance(video_id, str) or not VIDEO_ID_PATTERN.match(video_id):
        raise ValueError(
            f"invalid video id {video_id!r}: expected 1-128 characters of [A-Za-z0-9_.-], "
            "not starting with '.'"
        )
    return video_id


def drop_empty_captions(result: DownloadResult) -> DownloadResult:
    """Captions that are empty or white space only move to the failures (stage
    ``annotations``, reason ending in "empty caption"): dropped and counted, never a query."""
    text = result.captions["caption"].fillna("").astype(str)
    empty = text.str.strip() == ""
    if not empty.any():
        return result
    dropped = result.captions[empty]
    result.failures += [
        {"video_id": str(v), "stage": "annotations", "reason": f"caption {c}: empty caption"}
        for c, v in zip(dropped["caption_id"], dropped["video_id"], strict=True)
    ]
    result.captions = result.captions[~empty].reset_index(drop=True)
    return result


def validate_tables(manifest: pd.DataFrame, captions: pd.DataFrame, source: str) -> None:
    """Raise ValueError naming the problem if the tables break the contract."""
    for name, df, cols in (
        ("manifest", manifest, MANIFEST_COLUMNS),
        ("captions", captions, CAPTION_COLUMNS),
    ):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{source}: {name} is missing columns {missing}")
    for vid in manifest["video_id"]:
        check_video_id(vid)
    dup = manifest["video_id"][manifest["video_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: duplicate video ids in manifest: {sorted(set(dup))[:5]}")
    dup = captions["caption_id"][captions["caption_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: duplicate caption ids: {sorted(set(dup))[:5]}")
    orphan = ~captions["video_id"].isin(manifest["video_id"])
    if orphan.any():
        raise ValueError(
            f"{source}: {int(orphan.sum())} captions name videos not in the manifest, "
            f"e.g. {captions['video_id'][orphan].iloc[0]!r}"
        )
    empty = captions["caption"].fillna("").str.strip() == ""
    if empty.any():
        raise ValueError(
            f"{source}: {int(empty.sum())} empty captions, e.g. caption id "
            f"{captions['caption_id'][empty].iloc[0]!r}"
        )
