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


DATA_SUFFIXES = (".parquet", ".json", ".jsonl")


def _split_files(root: Path, split: str, subset: str | None) -> list[Path]:
    """The data files (parquet, JSON, JSON lines) of ``split`` (and ``subset``): as the
    dataset card's ``configs`` declare them, else named as ``datasets`` infers splits: the
    subset and the split are folders, or words of the file's name
    (``[subset/]test-00000-of-00001.parquet``, ``data/test.parquet``, ``msvd_test.json``,
    ``msrvtt_test_1k.json``)."""
    declared = _declared_files(root, subset, split)
    if declared is not None:
        return declared

    def word(w: str):
        return re.compile(rf"(^|[-._ ]){re.escape(w)}([-._ 0-9]|$)")

    keep = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).parts
        if p.suffix not in DATA_SUFFIXES or ".cache" in rel or not p.is_file():
            continue
        if subset and subset not in rel[:-1] and not word(subset).search(p.stem):
            continue
        if split in rel[:-1] or word(split).search(p.stem):
            keep.append(p)
    parquet = [p for p in keep if p.suffix == ".parquet"]
    return parquet or keep  # JSON beside parquet files is metadata


def _declared_files(root: Path, subset: str | None, split: str) -> list[Path] | None:
    """The files the dataset card declares for the subset's split (:func:`_declared`),
    matched in ``root``; None when the card declares no configs."""
    patterns = _declared(root, subset, split)
    if patterns is None:
        return None
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


def _declared(root: Path, subset: str | None, split: str) -> list[str] | None:
    """The file patterns the dataset card (README.md's YAML header, ``configs``) gives the
    subset's split (``data_files``: a pattern or list of them, or a split -> pattern
    mapping or list of {split, path}); None when the card declares no configs."""
    import yaml

    card = root / "README.md"
    if not card.is_file():
        return None
    header = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", card.read_text("utf-8", "replace"), re.S)
    try:
        meta = yaml.safe_load(header.group(1)) if header else None
    except yaml.YAMLError:
        return None
    configs = meta.get("configs") if isinstance(meta, dict) else None
    if not isinstance(configs, list):
        return None
    configs = [c for c in configs if isinstance(c, dict)]
    known = [c.get("config_name", "default") for c in configs]
    name = subset or "default"
    chosen = [c for c, n in zip(configs, known, strict=True) if n == name]
    if subset is None:  # as datasets picks one: marked default, named default, or the only
        chosen = [c for c in configs if c.get("default") is True] or chosen
        chosen = chosen or (configs if len(configs) == 1 else [])
    if not chosen:
        if subset is None:
            return None  # no default config: the files' names decide
        raise ValueError(f"hub: the dataset card has no config {name!r}; its configs: {known}")
    files = chosen[0].get("data_files")
    if files is None and chosen[0].get("data_dir"):  # the files' names decide, in that folder
        return [f"{str(chosen[0]['data_dir']).strip('/')}/*{split}*"]
    if isinstance(files, str) or (
        isinstance(files, list) and not any(isinstance(f, dict) for f in files)
    ):
        by_split = {"train": files}  # datasets: data files without splits are train
    elif isinstance(files, dict):
        by_split = files
    else:
        by_split = {f.get("split", "train"): f.get("path") for f in files or []}
    patterns = by_split.get(split)
    if patterns is None:
        return []
    return [patterns] if isinstance(patterns, str) else [str(p) for p in patterns]


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
        declared = _declared(Path(card), options.get("subset"), split)
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
    files = _split_files(root, split, options.get("subset"))
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


def _check_columns(file: Path, names: set[str], wanted: dict) -> None:
    missing = {k: v for k, v in wanted.items() if v not in names}
    if missing:
        raise ValueError(
            f"hub: columns {missing} are not in {file.name} (its columns: {sorted(names)})"
        )


def _records(file: Path, wanted: dict):
    """The rows of a data file, a parquet row group (or a JSON file) at a time, with the
    ``wanted`` columns; a missing column is an error naming it and the file's columns."""
    import pyarrow.parquet as pq

    if file.suffix == ".parquet":
        import pyarrow as pa

        try:
            parquet = pq.ParquetFile(file)
            _check_columns(file, set(parquet.schema_arrow.names), wanted)
            for group in range(parquet.num_row_groups):
                yield parquet.read_row_group(group, columns=list(wanted.values())).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(
                f"hub: {file} is not a readable parquet file ({exc}); a damaged download: "
                "remove it from the cache and run again"
            ) from exc
        return
    import json

    try:
        text = file.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"hub: {file} is not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text) if file.suffix == ".json" else None
    except json.JSONDecodeError:
        data = None  # JSON lines named .json
    if data is None:
        data = []
        for n, line in enumerate(text.splitlines(), start=1):
            try:
                data += [json.loads(line)] if line.strip() else []
            except json.JSONDecodeError as exc:
                raise ValueError(f"hub: {file.name} line {n} is not JSON ({exc.msg})") from None
    if isinstance(data, dict):  # {"data": [rows]}: the rows (datasets' json with field=)
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
            data = lists[0]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"hub: {file.name} holds no table of rows (a list of objects)")
    _check_columns(file, set().union(*(r.keys() for r in data)) if data else set(), wanted)
    yield [{v: r.get(v) for v in wanted.values()} for r in data]


def _read_rows(files, wanted, columns, root, staging, options) -> list[dict]:
    """Every row (up to ``limit``), one parquet row group in memory at a time, its video
    written to ``staging`` (none with a frames source)."""
    limit = options.get("limit")
    rows: list[dict] = []
    for file in files:
        for records in _records(file, wanted):
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
