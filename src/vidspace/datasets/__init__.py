"""Dataset adapters: each one writes the manifest and captions tables of docs/definitions.md.

An adapter is a function ``(video_dir, options, seed) -> DownloadResult`` that puts the
videos in ``video_dir``. The manifest written is relative: its ``path`` column is relative
to the manifest's own directory, so a checkout (or a DVC pull) can live anywhere.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from vidspace.core.config import defaults_for
from vidspace.core.io import write_failures, write_table
from vidspace.datasets.tables import (
    CAPTION_COLUMNS,
    MANIFEST_COLUMNS,
    DownloadResult,
    check_video_id,
    drop_empty_captions,
    validate_tables,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CAPTION_COLUMNS",
    "MANIFEST_COLUMNS",
    "DownloadResult",
    "check_video_id",
    "download",
    "get_adapter",
    "validate_tables",
]

Adapter = Callable[[Path, dict, int], DownloadResult]


def _synthetic(video_dir: Path, options: dict, seed: int) -> DownloadResult:
    from vidspace.datasets.synthetic import generate

    return generate(video_dir, seed=seed, **options)


def _csv(video_dir: Path, options: dict, seed: int) -> DownloadResult:
    from vidspace.datasets.csv_adapter import load_csv_dataset

    return load_csv_dataset(video_dir, seed=seed, **options)


def _public(name: str) -> Adapter:
    def adapter(video_dir: Path, options: dict, seed: int) -> DownloadResult:
        from vidspace.datasets import public  # heavy (yt-dlp): only when used

        return getattr(public, name)(video_dir, options, seed)

    return adapter


def _hub(video_dir: Path, options: dict, seed: int) -> DownloadResult:
    from vidspace.datasets.hub import hub

    return hub(video_dir, options, seed)


ADAPTERS: dict[str, Adapter] = {
    "synthetic": _synthetic,
    "csv": _csv,
    "hub": _hub,
    **{name: _public(name) for name in ("msrvtt", "vatex", "youcook2", "coco_captions")},
}


def get_adapter(name: str) -> Adapter:
    if name in ADAPTERS:
        return ADAPTERS[name]
    raise ValueError(f"unknown dataset adapter {name!r}; available: {sorted(ADAPTERS)}")


def hold_out(video_ids: pd.Series, share: float, seed: int) -> list[str]:
    """``train`` for round(share x N) of the videos (at least 1, at most N - 1 when N >= 2),
    ``test`` for the rest: the videos with the smallest SHA-256 of "seed:video_id", so the
    choice depends on nothing but the seed and each id (not on the table's order)."""
    ids = [str(v) for v in video_ids]
    n = len(ids)
    k = min(max(1, round(share * n)), n - 1) if n >= 2 else 0
    order = sorted(ids, key=lambda v: hashlib.sha256(f"{seed}:{v}".encode()).hexdigest())
    train = set(order[:k])
    logger.info("held out %d of %d videos as the train split (seed %d)", k, n, seed)
    return ["train" if v in train else "test" for v in ids]


def download(
    adapter: str,
    options: dict,
    seed: int,
    manifest_path: str | Path,
    captions_path: str | Path,
    failures_path: str | Path,
    video_dir: str | Path,
    holdout: float | None = None,
) -> DownloadResult:
    """Run one adapter and write its manifest, captions and failures tables; ``holdout``:
    a table without splits gets a seeded train share (:func:`hold_out`)."""
    video_dir = Path(video_dir)
    video_dir.mkdir(parents=True, exist_ok=True)
    # the schema's defaults for this adapter's options (as validation fills them), also
    # for a call that does not come from a validated config
    options = defaults_for("dataset", {"adapter": adapter, "options": dict(options)})["options"]
    result = drop_empty_captions(get_adapter(adapter)(video_dir, options, seed))
    validate_tables(result.manifest, result.captions, f"dataset adapter {adapter!r}")
    if holdout is not None:
        if (result.manifest["split"].fillna("") != "").any():
            raise ValueError(
                f"holdout {holdout:g} is set, but the {adapter} table already has splits "
                f"({sorted(set(result.manifest['split']) - {''})}): remove the dataset's "
                "holdout, or the table's split column"
            )
        result.manifest["split"] = hold_out(result.manifest["video_id"], holdout, seed)
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
