"""A Hugging Face dataset as the field hosts it: a dataset repository at a pinned revision
(or a local folder of the same layout), its parquet files read with pyarrow one row
group at a time, each row's video bytes written to the videos folder.

Why huggingface_hub + pyarrow rather than ``datasets.load_dataset``: both are already
dependencies (transformers needs them), ``load_dataset`` would first convert every
parquet file into its own Arrow cache (a second full copy on disk) and pulls in a
Video feature decoder we do not use; reading the parquet row groups directly keeps one
row group in memory and writes each video once (benchmarks/README.md, "Hosted
datasets").

Presets carry MTEB's video retrieval tasks (repository, revision, split, columns):
``preset: mteb-msrvtt`` and the others of :data:`PRESETS`.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pandas as pd

from vidspace.core.io import atomic_path
from vidspace.datasets.tables import DownloadResult
from vidspace.protocols import MTEB_HOSTED

logger = logging.getLogger(__name__)

COLUMN_KEYS = ("video", "caption", "id", "category", "start", "end", "split")
DEFAULT_COLUMNS = {"video": "video", "caption": "caption"}
REVISION = re.compile(r"^[0-9a-f]{40}$")

# MTEB's hosted video retrieval sets: repository, pinned revision, split, caption column
PRESETS = {
    f"mteb-{key}": (repo, revision, "test", caption)
    for key, (repo, revision, caption) in MTEB_HOSTED.items()
}


def resolve_options(options: dict) -> dict:
    """The options with a ``preset`` expanded (explicit keys win) and checked: a
    repository needs a 40-hex revision; a local ``path`` needs none."""
    options = dict(options)
    preset = options.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"hub: unknown preset {preset!r}; known: {sorted(PRESETS)}")
        repo, revision, split, caption = PRESETS[preset]
        options.setdefault("repo", repo)
        options.setdefault("revision", revision)
        options.setdefault("split", split)
        options["columns"] = {"video": "video", "caption": caption, **options.get("columns", {})}
        options["preset"] = preset
    if not options.get("repo") and not options.get("path"):
        raise ValueError("hub: give repo (a Hugging Face dataset id) or path (a local copy)")
    if options.get("repo") and not REVISION.match(str(options.get("revision", ""))):
        raise ValueError(
            f"hub: revision must be the 40-hex commit of {options['repo']} (a branch or tag "
            f"moves), got {options.get('revision')!r}"
        )
    columns = {**DEFAULT_COLUMNS, **options.get("columns", {})}
    unknown = sorted(set(columns) - set(COLUMN_KEYS))
    if unknown:
        raise ValueError(f"hub: columns {unknown} are not among {list(COLUMN_KEYS)}")
    options["columns"] = columns
    options.setdefault("split", "test")
    return options


def _split_files(root: Path, split: str, subset: str | None) -> list[Path]:
    """The parquet files of ``split`` (and ``subset``) in a hub dataset's layout:
    ``[subset/]split-*.parquet``, ``[subset/]split/*.parquet`` or ``data/split-*``."""
    files = sorted(p for p in root.rglob("*.parquet") if ".cache" not in p.parts)
    keep = []
    for p in files:
        rel = p.relative_to(root).parts
        if subset and subset not in rel[:-1]:
            continue
        if p.name.startswith(f"{split}-") or p.name == f"{split}.parquet" or split in rel[:-1]:
            keep.append(p)
    return keep


def _snapshot(options: dict, free_dir: Path) -> Path:
    """The local folder of the repository at its revision: the hub cache (downloads
    resume; offline, only what is cached), after a check that the split's files fit."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, revision, split = options["repo"], options["revision"], options["split"]
    patterns = [f"*{split}-*.parquet", f"*{split}.parquet", f"*{split}/*.parquet", "*.json"]
    try:
        if not constants.is_offline_mode():
            _check_space(repo, revision, patterns, free_dir)
        return Path(
            snapshot_download(
                repo,
                repo_type="dataset",
                revision=revision,
                allow_patterns=patterns,
            )
        )
    except RevisionNotFoundError:
        raise ValueError(f"hub: {repo} has no revision {revision}") from None
    except RepositoryNotFoundError:
        raise ValueError(f"hub: no dataset repository {repo} (or it is private)") from None
    except LocalEntryNotFoundError:
        raise ValueError(
            f"hub: revision {revision} of {repo} is not in the local Hugging Face cache and "
            "the hub is offline (HF_HUB_OFFLINE): download it once online, or give "
            "path: to a local copy"
        ) from None


def _check_space(repo: str, revision: str, patterns: list[str], folder: Path) -> None:
    """Stop before downloading when the split's files, and the videos written from them,
    do not fit on the disk of ``folder``."""
    from fnmatch import fnmatch

    from huggingface_hub import HfApi

    info = HfApi().dataset_info(repo, revision=revision, files_metadata=True)
    size = sum(
        s.size or 0 for s in info.siblings or [] if any(fnmatch(s.rfilename, p) for p in patterns)
    )
    free = shutil.disk_usage(folder).free
    if 2 * size > free:  # the parquet files in the cache, then the videos written from them
        raise ValueError(
            f"hub: {repo} ({revision[:7]}) needs about {2 * size / 1e9:.1f} GB (its files and "
            f"the videos written from them) and {folder} has {free / 1e9:.1f} GB free"
        )
    logger.info("%s: %.2f GB to fetch, %.1f GB free", repo, size / 1e9, free / 1e9)


def _video_bytes(value, root: Path) -> tuple[bytes | None, str | None, str]:
    """(bytes, path name, why not) of a video cell: a datasets Video/struct {bytes, path},
    raw bytes, or a path relative to the dataset's folder."""
    path = None
    if isinstance(value, dict):
        path = value.get("path")
        if value.get("bytes"):
            return value["bytes"], path, ""
    elif isinstance(value, bytes | bytearray):
        return bytes(value), None, ""
    elif isinstance(value, str):
        path = value
    if path:
        file = (root / path).resolve()
        if root.resolve() in file.parents and file.is_file():
            return file.read_bytes(), path, ""
        return None, path, f"video file {path!r} not in the dataset"
    return None, None, "no video in the row"


def hub(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """The hub adapter: every row of the split is a clip and its caption (MTEB's layout);
    a ``columns.id`` column names the clips, else the video files' names where unique,
    else the row numbers. Several rows of one id: one clip with several captions (the
    first row with a video gives the clip and its metadata). Videos are staged in
    ``video_dir/.staging`` (no id starts with ".") and moved to ``{id}{suffix}`` at the
    end; a failure removes the staging folder."""
    import pyarrow.parquet as pq

    options = resolve_options(options)
    columns, split = options["columns"], options["split"]
    if options.get("path"):
        root = Path(options["path"])
        if not root.is_dir():
            raise ValueError(f"hub: path {root} is not a folder")
    else:
        root = _snapshot(options, video_dir.parent)
    files = _split_files(root, split, options.get("subset"))
    if not files:
        raise ValueError(f"hub: no parquet files of split {split!r} under {root}")
    wanted = {k: v for k, v in columns.items() if v}
    for file in files:
        names = set(pq.ParquetFile(file).schema_arrow.names)
        missing = {k: v for k, v in wanted.items() if v not in names}
        if missing:
            raise ValueError(
                f"hub: columns {missing} are not in {file.name} (its columns: {sorted(names)})"
            )
    staging = video_dir / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        rows = _read_rows(files, wanted, columns, root, staging, options.get("limit"))
        if not rows:
            raise ValueError(f"hub: split {split!r} of {options.get('repo') or root} has no rows")
        result = _clips(rows, _ids(rows, columns), video_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "%s: %d rows, %d clips", options.get("repo") or root, len(rows), len(result.manifest)
    )
    return result


def _read_rows(files, wanted, columns, root, staging, limit) -> list[dict]:
    """Every row (up to ``limit``), one parquet row group in memory at a time, its video
    written to ``staging``."""
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for file in files:
        parquet = pq.ParquetFile(file)
        for group in range(parquet.num_row_groups):
            records = parquet.read_row_group(group, columns=list(wanted.values())).to_pylist()
            for record in records:
                if limit and len(rows) >= int(limit):
                    return rows
                rows.append(_place(record, len(rows), columns, root, staging))
                if len(rows) % 200 == 0:
                    logger.info("%s: %d rows", root, len(rows))
    return rows


def _number(record: dict, column: str | None) -> float:
    if not column or record.get(column) is None:
        return float("nan")
    try:
        return float(record[column])
    except (TypeError, ValueError):
        raise ValueError(f"hub: column {column!r} holds {record[column]!r}, not seconds") from None


def _place(record: dict, n: int, columns: dict, root: Path, staging: Path) -> dict:
    """Row ``n``: its video written (atomically) to ``staging``, its caption, metadata
    and the video's own file name (for the id choice)."""
    data, path, why = _video_bytes(record.get(columns["video"]), root)
    raw_id = record.get(columns["id"]) if columns.get("id") else None
    row = {
        "id": None if raw_id is None else str(raw_id),
        "name": Path(path).stem if path else None,
        "caption": str(record.get(columns["caption"]) or ""),
        "meta": {
            "category": str(record.get(columns.get("category") or "") or ""),
            "split": str(record.get(columns.get("split") or "") or ""),
            "start": _number(record, columns.get("start")),
            "end": _number(record, columns.get("end")),
        },
        "file": None,
        "why": why,
    }
    if data is not None:
        suffix = Path(path).suffix if path and Path(path).suffix else ".mp4"
        row["file"] = staging / f"{n:06d}{suffix}"
        with atomic_path(row["file"], suffix=suffix) as tmp:
            tmp.write_bytes(data)
    return row


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".-")[:128]


def _ids(rows: list[dict], columns: dict) -> list[str | None]:
    """Clip ids: the id column (None where a row has none); else the video files' names,
    made safe, when they are all unique; else the row numbers (as MTEB numbers rows)."""
    if columns.get("id"):
        return [r["id"] for r in rows]
    names = [_safe(r["name"]) if r["name"] else "" for r in rows]
    if all(names) and len(set(names)) == len(names):
        return names
    return [f"row{i:06d}" for i in range(len(rows))]


def _clips(rows: list[dict], ids: list[str | None], video_dir: Path) -> DownloadResult:
    """Rows grouped by id into clips: the first row with a video gives the clip; a row
    without a usable id, or an id none of whose rows has a video, is a failure."""
    from vidspace.datasets.tables import check_video_id

    failures: list[dict] = []
    clips: dict[str, dict] = {}
    for n, (row, vid) in enumerate(zip(rows, ids, strict=True)):
        try:
            check_video_id(vid)
        except ValueError as exc:
            failures.append({"video_id": f"row{n:06d}", "stage": "annotations", "reason": str(exc)})
            continue
        clip = clips.setdefault(vid, {"file": None, "meta": row["meta"], "captions": [], "why": ""})
        if clip["file"] is None and row["file"] is not None:
            clip["file"], clip["meta"] = row["file"], row["meta"]
        clip["why"] = clip["why"] or row["why"]
        clip["captions"].append(row["caption"])
    manifest, captions = [], []
    for vid, clip in clips.items():
        if clip["file"] is None:
            failures.append({"video_id": vid, "stage": "download", "reason": clip["why"]})
            continue
        final = video_dir / f"{vid}{clip['file'].suffix}"
        clip["file"].replace(final)
        manifest.append({**clip["meta"], "video_id": vid, "path": str(final)})
        captions += [
            {"caption_id": f"{vid}#{k}", "video_id": vid, "caption": text}
            for k, text in enumerate(clip["captions"])
        ]
    return DownloadResult(
        pd.DataFrame(manifest, columns=["video_id", "path", "category", "split", "start", "end"]),
        pd.DataFrame(captions, columns=["caption_id", "video_id", "caption"]),
        failures,
    )
