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
``preset: mteb-msrvtt`` and the others of :data:`PRESETS`; and MMEB-V2's video retrieval
sets (``preset: mmeb-v2-msrvtt`` ...): an annotation repository whose rows name their
videos, the clips being folders of frames in an archive of TIGER-Lab/MMEB-V2
(:mod:`vidspace.datasets.frame_folders`). MMEB-V2's harness pins no revision of either,
so those presets need the two revisions from the user.
"""

from __future__ import annotations

import logging
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from vidspace.core.io import atomic_path
from vidspace.datasets.frame_folders import SOURCE_KEYS, frame_folders
from vidspace.datasets.hub_files import declared_patterns, read_records, split_files
from vidspace.datasets.tables import DownloadResult
from vidspace.protocols import MMEB_V2_FRAMES, MMEB_V2_HOSTED, MTEB_HOSTED

logger = logging.getLogger(__name__)

COLUMN_KEYS = ("video", "caption", "id", "category", "start", "end", "split")
DEFAULT_COLUMNS = {"video": "video", "caption": "caption"}
REVISION = re.compile(r"^[0-9a-f]{40}$")

# MTEB's hosted video retrieval sets (repository, pinned revision, split, caption column)
# and MMEB-V2's (annotation repository, subset, split, columns; frames from an archive)
PRESETS: dict[str, dict] = {
    f"mteb-{key}": {
        "repo": repo,
        "revision": revision,
        "split": "test",
        "columns": {"video": "video", "caption": caption},
    }
    for key, (repo, revision, caption) in MTEB_HOSTED.items()
}
PRESETS.update(
    {
        f"mmeb-v2-{key}": {
            "repo": repo,
            **({"subset": subset} if subset else {}),
            "split": split,
            "columns": dict(columns),
            "captions": "first",
            "frames": {"repo": MMEB_V2_FRAMES[0], "file": MMEB_V2_FRAMES[1], "member": member},
        }
        for key, (repo, subset, split, columns, member) in MMEB_V2_HOSTED.items()
    }
)


def _revision_help(repo: str) -> str:
    return (
        f'python -c "from huggingface_hub import HfApi; '
        f"print(HfApi().dataset_info('{repo}').sha)\" prints the current one"
    )


def resolve_options(options: dict) -> dict:
    """The options with a ``preset`` expanded (explicit keys win, ``columns`` and
    ``frames`` key by key) and checked: a repository needs a 40-hex revision, a local
    ``path`` none; so does a ``frames`` source."""
    options = dict(options)
    preset = options.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"hub: unknown preset {preset!r}; known: {sorted(PRESETS)}")
        given = options
        options = {**PRESETS[preset], **given, "preset": preset}
        for key in ("columns", "frames"):
            if key in PRESETS[preset]:
                options[key] = {**PRESETS[preset][key], **given.get(key, {})}
    if not options.get("repo") and not options.get("path"):
        raise ValueError("hub: give repo (a Hugging Face dataset id) or path (a local copy)")
    if options.get("repo") and not options.get("path"):
        _check_revision(options, "revision", options["repo"], preset)
    frames = options.get("frames")
    if frames:
        unknown = sorted(set(frames) - set(SOURCE_KEYS))
        if unknown:
            raise ValueError(f"hub: frames keys {unknown} are not among {list(SOURCE_KEYS)}")
        if not frames.get("path"):
            if not (frames.get("repo") and frames.get("file")):
                raise ValueError("hub: frames needs path (a folder or archive) or repo and file")
            _check_revision(frames, "frames.revision", frames["repo"], preset)
    columns = {**DEFAULT_COLUMNS, **options.get("columns", {})}
    unknown = sorted(set(columns) - set(COLUMN_KEYS))
    if unknown:
        raise ValueError(f"hub: columns {unknown} are not among {list(COLUMN_KEYS)}")
    if not columns.get("video") and not frames:
        raise ValueError("hub: columns.video is unset and no frames source is given")
    options["columns"] = columns
    options.setdefault("split", "test")
    options.setdefault("captions", "all")
    return options


def _check_revision(where: dict, key: str, repo: str, preset: str | None) -> None:
    value = where.get(key.rsplit(".", 1)[-1])
    if REVISION.match(str(value or "")):
        return
    if value is None and preset and preset.startswith("mmeb-v2-"):
        raise ValueError(
            f"hub: preset {preset}: MMEB-V2's harness reads {repo} at no pinned revision, so "
            f"give {key}: the 40-hex commit you evaluate ({_revision_help(repo)})"
        )
    raise ValueError(
        f"hub: {key} must be the 40-hex commit of {repo} (a branch or tag moves), got {value!r}"
    )


@contextmanager
def hub_errors(repo: str, revision: str):
    """The hub's errors about ``repo`` at ``revision`` as ValueErrors that name them."""
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
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


def _snapshot(options: dict, free_dir: Path) -> Path:
    """The local folder of the repository at its revision: the hub cache (downloads
    resume; offline, only what is cached), after a check that the split's files fit."""
    from huggingface_hub import constants, snapshot_download

    repo, revision, split = options["repo"], options["revision"], options["split"]
    with hub_errors(repo, revision):
        # the dataset card first: the files its configs declare are the ones fetched
        card = snapshot_download(
            repo, repo_type="dataset", revision=revision, allow_patterns=["README.md"]
        )
        declared = declared_patterns(Path(card), options.get("subset"), split)
        if declared is None:
            declared = [f"*{split}*.parquet", f"*{split}/*.parquet", "*.json", "*.jsonl"]
        patterns = declared
        if not constants.is_offline_mode():
            check_space(repo, revision, patterns, free_dir)
        return Path(
            snapshot_download(
                repo,
                repo_type="dataset",
                revision=revision,
                allow_patterns=[*patterns, "README.md"],
            )
        )


def check_space(repo: str, revision: str, patterns: list[str], folder: Path) -> None:
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
    first row with a video gives the clip and its metadata). A caption cell holding a list
    gives all its captions, or the first (``captions: first``). With a ``frames`` source
    each clip is the folder of frames named by its id, the video column naming it at most.
    Videos are staged in ``video_dir/.staging`` (no id starts with ".") and moved to
    ``{id}{suffix}`` at the end; a failure removes the staging folder."""
    options = resolve_options(options)
    columns, split = options["columns"], options["split"]
    if options.get("path"):
        root = Path(options["path"])
        if not root.is_dir():
            raise ValueError(f"hub: path {root} is not a folder")
    else:
        root = _snapshot(options, video_dir.parent)
    files = split_files(root, split, options.get("subset"))
    if not files:
        where = f"subset {options['subset']!r}, " if options.get("subset") else ""
        raise ValueError(f"hub: no data files of {where}split {split!r} under {root}")
    wanted = {k: v for k, v in columns.items() if v}
    staging = video_dir / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        rows = _read_rows(files, wanted, columns, root, staging, options)
        if not rows:
            raise ValueError(f"hub: split {split!r} of {options.get('repo') or root} has no rows")
        ids = _ids(rows, columns, by_name=bool(options.get("frames")))
        if options.get("frames"):
            _attach_frames(rows, ids, options["frames"], staging, video_dir.parent)
        result = _clips(rows, ids, video_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "%s: %d rows, %d clips", options.get("repo") or root, len(rows), len(result.manifest)
    )
    return result


def _attach_frames(rows, ids, source: dict, staging: Path, free_dir: Path) -> None:
    """Each row's clip: the frame folder named as the row names its video (the id column,
    else the video file's name as the row gives it), from ``source``, placed in staging."""
    keys = [r["id"] if r["id"] is not None else r["name"] for r in rows]
    wanted = {k for k, vid in zip(keys, ids, strict=True) if k and vid}
    folders = frame_folders(source, wanted, staging / "frames", free_dir)
    where = source.get("path") or f"{source['repo']}:{source['file']}"
    member = f" below {source['member']}/" if source.get("member") else ""
    for row, key in zip(rows, keys, strict=True):
        row["file"] = folders.get(key)
        row["why"] = "" if row["file"] else f"no frame folder {key!r}{member} in {where}"
    logger.info("frames: %d of %d videos found in %s", len(folders), len(wanted), where)


def _read_rows(files, wanted, columns, root, staging, options) -> list[dict]:
    """Every row (up to ``limit``), one parquet row group in memory at a time, its video
    written to ``staging`` (none with a frames source)."""
    limit = options.get("limit")
    rows: list[dict] = []
    for file in files:
        for records in read_records(file, wanted):
            for record in records:
                if limit and len(rows) >= int(limit):
                    return rows
                rows.append(_place(record, len(rows), columns, root, staging, options))
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


def _captions(value, how: str) -> list[str]:
    """A caption cell's captions: a string, or a list of them (all, or the first)."""
    if isinstance(value, list | tuple):
        texts = [str(v) for v in value if v is not None]
        return texts[:1] if how == "first" else texts
    return [str(value or "")]


def _place(record: dict, n: int, columns: dict, root: Path, staging: Path, options) -> dict:
    """Row ``n``: its video written (atomically) to ``staging`` (with a frames source,
    only the video's name is read), its captions, metadata and the video's own file name
    (for the id choice)."""
    value = record.get(columns["video"]) if columns.get("video") else None
    if options.get("frames"):
        path = value.get("path") if isinstance(value, dict) else value
        data, why = None, ""
        path = str(path) if isinstance(path, str) and path else None
    else:
        data, path, why = _video_bytes(value, root)
    raw_id = record.get(columns["id"]) if columns.get("id") else None
    row = {
        "id": None if raw_id is None else str(raw_id),
        "name": Path(path).stem if path else None,
        "captions": _captions(record.get(columns["caption"]), options["captions"]),
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
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".")[:128]


def _ids(rows: list[dict], columns: dict, by_name: bool = False) -> list[str | None]:
    """Clip ids: the id column (None where a row has none); else the video files' names,
    made safe, when they are all unique; else the row numbers (as MTEB numbers rows).
    ``by_name`` (frame folders are found by name): the rows of one name are one clip,
    distinct names stay distinct ids, and a row naming no video has no id."""
    if columns.get("id"):
        return [r["id"] for r in rows]
    if by_name:
        safe = _safe_names({r["name"] for r in rows if r["name"]})
        return [safe.get(r["name"]) for r in rows]
    names = [_safe(r["name"]) if r["name"] else "" for r in rows]
    if all(names) and len(set(names)) == len(names):
        return names
    return [f"row{i:06d}" for i in range(len(rows))]


def _safe_names(names: set[str]) -> dict[str, str]:
    """Each name's safe id, one-to-one: names that become one id once made safe (or
    become nothing) carry a digest of their own text."""
    import hashlib

    safe = {n: _safe(n) for n in names}
    taken: dict[str, int] = {}
    for value in safe.values():
        taken[value] = taken.get(value, 0) + 1
    for n, value in safe.items():
        if not value or taken[value] > 1:
            digest = hashlib.sha256(n.encode()).hexdigest()[:10]
            safe[n] = f"{value[:117]}-{digest}" if value else f"video-{digest}"
    return safe


def _clips(rows: list[dict], ids: list[str | None], video_dir: Path) -> DownloadResult:
    """Rows grouped by id into clips: the first row with a video gives the clip; a row
    without a usable id, or an id none of whose rows has a video, is a failure."""
    from vidspace.datasets.tables import check_video_id

    failures: list[dict] = []
    clips: dict[str, dict] = {}
    for n, (row, vid) in enumerate(zip(rows, ids, strict=True)):
        try:
            if vid is None and row["id"] is None and row["name"] is None:
                raise ValueError("the row has no id and names no video")
            check_video_id(vid)
        except ValueError as exc:
            failures.append({"video_id": f"row{n:06d}", "stage": "annotations", "reason": str(exc)})
            continue
        clip = clips.setdefault(vid, {"file": None, "meta": row["meta"], "captions": [], "why": ""})
        if clip["file"] is None and row["file"] is not None:
            clip["file"], clip["meta"] = row["file"], row["meta"]
        clip["why"] = clip["why"] or row["why"]
        clip["captions"] += row["captions"]
    manifest, captions = [], []
    for vid, clip in clips.items():
        if clip["file"] is None:
            failures.append({"video_id": vid, "stage": "download", "reason": clip["why"]})
            continue
        final = video_dir / f"{vid}{clip['file'].suffix}"
        if final.is_dir():  # a frame folder of an earlier run
            shutil.rmtree(final)
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
