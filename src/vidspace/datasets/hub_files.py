"""The data files of a Hugging Face dataset repository (or a local copy of one), found
and read as ``datasets.load_dataset`` finds and reads them: the split's (and subset's) files
as the dataset card declares them or as their names say, and their rows, a parquet row
group (or a JSON file) at a time. Used by the hub adapter (:mod:`vidspace.datasets.hub`).
"""

from __future__ import annotations

import re
from pathlib import Path

DATA_SUFFIXES = (".parquet", ".json", ".jsonl")


def split_files(root: Path, split: str, subset: str | None) -> list[Path]:
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
    """The files the dataset card declares for the subset's split (:func:`declared_patterns`),
    matched in ``root``; None when the card declares no configs."""
    patterns = declared_patterns(root, subset, split)
    if patterns is None:
        return None
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


def declared_patterns(root: Path, subset: str | None, split: str) -> list[str] | None:
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


def _check_columns(file: Path, names: set[str], wanted: dict) -> None:
    missing = {k: v for k, v in wanted.items() if v not in names}
    if missing:
        raise ValueError(
            f"hub: columns {missing} are not in {file.name} (its columns: {sorted(names)})"
        )


def read_records(file: Path, wanted: dict):
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
