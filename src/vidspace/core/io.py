"""File contracts: atomic writes, embedding files, JSON results, failure tables."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vidspace.core.errors import CorruptFile

FAILURE_COLUMNS = ["video_id", "stage", "reason"]

# what a fitted part learnt from, as sidecars and metrics files record it ("fits")
TRAIN = "train"
TRANSDUCTIVE = "evaluated (transductive)"

REQUIRED_KEYS = ("video_emb", "video_ids")
TEXT_KEYS = ("text_emb", "text_ids", "text_video_index")
OPTIONAL_KEYS = ("frame_emb", "categories", "split")


def _process_umask() -> int:
    # read once, at import (one thread): os.umask can only be read by setting it
    current = os.umask(0o022)
    os.umask(current)
    return current


UMASK = _process_umask()


def plain_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open()`` (or ``mkdir``) would: 0666 (0777) less the
    umask. Temporary files and folders are created owner-only; what they become must be
    readable by whoever the umask lets read (a teammate, a SLURM job, a shared DVC cache)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success, with
    the mode a plain ``open()`` gives.

    No partial file is ever visible under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or "".join(path.suffixes)
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        plain_mode(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# what reading a truncated or mangled npz, parquet, CSV or JSON raises (pyarrow's and
# pandas' parser errors are ValueErrors)
_UNREADABLE = (zipfile.BadZipFile, EOFError, ValueError, OSError)


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Read ``path`` inside this block: a file that exists but cannot be parsed ends the
    job with one line naming it and what to do (a :class:`CorruptFile`), not a traceback
    from deep inside NumPy or pyarrow."""
    try:
        yield
    except FileNotFoundError:
        raise
    except _UNREADABLE as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CorruptFile(
            f"{path} cannot be read ({type(exc).__name__}: {detail}): the file is truncated "
            "or corrupt; delete it and rerun (the workflow writes it again)"
        ) from None


def load_npz(path: str | os.PathLike, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz file (all, or ``keys`` among them), read now."""
    with reading(path), np.load(path, allow_pickle=False) as data:
        wanted = data.files if keys is None else [k for k in keys if k in data.files]
        return {k: data[k] for k in wanted}


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A parquet table (manifest, captions)."""
    with reading(path):
        return pd.read_parquet(path)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with reading(path):
        return json.loads(Path(path).read_text())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_table(path: str | os.PathLike, df: pd.DataFrame) -> None:
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)


def read_failures(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    with reading(path):
        return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_failures(path: str | os.PathLike, rows: list[Mapping[str, str]]) -> None:
    write_table(path, pd.DataFrame(list(rows), columns=FAILURE_COLUMNS))


def validate_embeddings(arrays: Mapping[str, np.ndarray], source: str = "embeddings") -> None:
    """Check an embedding mapping against the contract in docs/definitions.md; raise ValueError."""
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{source}: missing keys {missing}")
    video = arrays["video_emb"]
    n = len(arrays["video_ids"])
    if video.ndim != 2 or video.shape[0] != n:
        raise ValueError(f"{source}: video_emb shape {video.shape} does not match {n} video_ids")
    has_text = [k in arrays for k in TEXT_KEYS]
    if any(has_text) and not all(has_text):
        raise ValueError(f"{source}: text keys must come together: {TEXT_KEYS}")
    if all(has_text):
        text = arrays["text_emb"]
        m = len(arrays["text_ids"])
        if text.ndim != 2 or text.shape[0] != m or arrays["text_video_index"].shape != (m,):
            raise ValueError(
                f"{source}: text_emb {text.shape}, text_ids ({m},) and text_video_index "
                f"{arrays['text_video_index'].shape} disagree"
            )
        if text.shape[1] != video.shape[1]:
            raise ValueError(f"{source}: text D={text.shape[1]} but video D={video.shape[1]}")
        idx = arrays["text_video_index"]
        if m and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"{source}: text_video_index out of range [0, {n})")
    for key in ("categories", "split"):
        if key in arrays and len(arrays[key]) != n:
            raise ValueError(f"{source}: {key} has {len(arrays[key])} rows, expected {n}")
    if "frame_emb" in arrays:
        frames = arrays["frame_emb"]
        if frames.ndim != 3 or frames.shape[0] != n or frames.shape[2] != video.shape[1]:
            raise ValueError(
                f"{source}: frame_emb {frames.shape} must be (videos, frames, D) = "
                f"({n}, T, {video.shape[1]})"
            )
    for key in ("video_emb", "text_emb"):
        if key in arrays and not np.all(np.isfinite(arrays[key])):
            rows = np.flatnonzero(~np.all(np.isfinite(arrays[key]), axis=1))
            ids = arrays["video_ids" if key == "video_emb" else "text_ids"][rows[:5]].tolist()
            raise ValueError(f"{source}: {key} has NaN or inf in {rows.size} rows, e.g. {ids}")


def save_embeddings(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping,
    meta_path: str | os.PathLike | None = None,
) -> None:
    """Write the .npz contract plus its sidecar JSON (``meta_path``, by default the same
    stem with ``.json``), both atomically."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for key in ("video_ids", "text_ids", "categories", "split"):
        if key in arrays:
            arrays[key] = arrays[key].astype(str)
    if "text_video_index" in arrays:
        arrays["text_video_index"] = arrays["text_video_index"].astype(np.int64)
    validate_embeddings(arrays, str(path))
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    write_json(meta_path or sidecar_path(path), dict(meta))


def load_embeddings(path: str | os.PathLike, frames: bool = False) -> dict[str, np.ndarray]:
    """The arrays of an embedding file; per-frame rows (``frame_emb``, N x T x D) only when
    ``frames`` is asked for, since most stages never read them."""
    with reading(path), np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if frames or k != "frame_emb"}
    validate_embeddings(arrays, str(path))
    return arrays


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def load_sidecar(path: str | os.PathLike, side: str | os.PathLike | None = None) -> dict:
    """The sidecar JSON of an embedding file (``side``, default: beside ``path``).

    A missing sidecar is an error naming it: it holds settings (scoring, rescoring, fits)
    without which the file would be read as something else.
    """
    side = Path(side) if side is not None else sidecar_path(path)
    if not side.exists():
        raise FileNotFoundError(
            f"{side}: the sidecar of {path} is missing (the stage that wrote {Path(path).name} "
            "writes both; rerun it)"
        )
    return read_json(side)


def subset_videos(arrays: Mapping[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """Keep the video rows where ``keep`` is true and the captions that describe them.

    ``text_video_index`` is remapped to the new row numbers, so captions stay aligned.
    """
    keep = np.asarray(keep, dtype=bool)
    out = {}
    for key in ("video_emb", "video_ids", "categories", "split", "frame_emb", "rescore_video_emb"):
        if key in arrays:
            out[key] = np.asarray(arrays[key])[keep]
    if "text_emb" in arrays:
        new_row = np.full(keep.size, -1, dtype=np.int64)
        new_row[keep] = np.arange(int(keep.sum()))
        index = np.asarray(arrays["text_video_index"])
        kept_captions = keep[index]
        out["text_emb"] = np.asarray(arrays["text_emb"])[kept_captions]
        out["text_ids"] = np.asarray(arrays["text_ids"])[kept_captions]
        if "rescore_text_emb" in arrays:
            out["rescore_text_emb"] = np.asarray(arrays["rescore_text_emb"])[kept_captions]
        out["text_video_index"] = new_row[index[kept_captions]]
    return out


def eval_rows(arrays: Mapping[str, np.ndarray], split: str) -> np.ndarray:
    """Mask of the video rows evaluated under ``split`` ('all', or a split name).

    A named split falls back to every row when the file has no split information.
    """
    n = len(arrays["video_ids"])
    if split == "all" or "split" not in arrays or not np.any(arrays["split"] != ""):
        return np.ones(n, dtype=bool)
    mask = np.asarray(arrays["split"]) == split
    if not mask.any():
        raise ValueError(
            f"no videos in split {split!r}; splits present: {sorted(set(arrays['split']))}"
        )
    return mask
