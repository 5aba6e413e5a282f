"""Dataset adapters: each one writes the manifest and captions tables of DESIGN.md.

An adapter is a function ``(video_dir, options, seed) -> DownloadResult`` that puts the
videos in ``video_dir``. The manifest written is relative: its ``path`` column is relative
to the manifest's own directory, so a checkout (or a DVC pull) can live anywhere.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vidspace.io import write_failures, write_table

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["video_id", "path", "category", "split", "start", "end"]
CAPTION_COLUMNS = ["caption_id", "video_id", "caption"]
VIDEO_ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass
class DownloadResult:
    manifest: pd.DataFrame
    captions: pd.DataFrame
    failures: list[dict[str, str]] = field(default_factory=list)


Adapter = Callable[[Path, dict, int], DownloadResult]


def _synthetic(video_dir: Path, options: dict, seed: int) -> DownloadResult:
    from vidspace.datasets.synthetic import generate

    return generate(video_dir, seed=seed, **options)


def _csv(video_dir: Path, options: dict, seed: int) -> DownloadResult:
    from vidspace.datasets.csv_adapter import load_csv_dataset

    return load_csv_dataset(video_dir, seed=seed, **options)


def _public(name: str) -> Adapter:
    def adapter(video_dir: Path, options: dict, seed: int) -> DownloadResult:
        from vidspace.datasets import public

        return getattr(public, name)(video_dir, options, seed)

    return adapter


ADAPTERS: dict[str, Adapter] = {
    "synthetic": _synthetic,
    "csv": _csv,
    **{name: _public(name) for name in ("msrvtt", "vatex", "youcook2", "coco_captions")},
}


def get_adapter(name: str) -> Adapter:
    if name in ADAPTERS:
        return ADAPTERS[name]
    raise ValueError(f"unknown dataset adapter {name!r}; available: {sorted(ADAPTERS)}")


def check_video_id(video_id: str) -> str:
    """A video id becomes part of paths: allow only a safe, bounded alphabet."""
    if not isinstance(video_id, str) or not VIDEO_ID_PATTERN.match(video_id):
        raise ValueError(
            f"invalid video id {video_id!r}: expected 1-128 characters of [A-Za-z0-9_.-], "
            "not starting with '.' or '-'"
        )
    return video_id


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


def download(
    adapter: str,
    options: dict,
    seed: int,
    manifest_path: str | Path,
    captions_path: str | Path,
    failures_path: str | Path,
    video_dir: str | Path,
) -> DownloadResult:
    """Run one adapter and write its manifest, captions and failures tables."""
    video_dir = Path(video_dir)
    video_dir.mkdir(parents=True, exist_ok=True)
    result = get_adapter(adapter)(video_dir, dict(options), seed)
    validate_tables(result.manifest, result.captions, f"dataset adapter {adapter!r}")
    root = Path(manifest_path).resolve().parent
    result.manifest["path"] = [
        os.path.relpath(Path(p).resolve(), root) for p in result.manifest["path"]
    ]
    write_table(captions_path, result.captions[CAPTION_COLUMNS])
    write_failures(failures_path, result.failures)
    write_table(manifest_path, result.manifest[MANIFEST_COLUMNS])
    logger.info(
        "%s: %d videos, %d captions, %d failures",
        adapter,
        len(result.manifest),
        len(result.captions),
        len(result.failures),
    )
    return result
