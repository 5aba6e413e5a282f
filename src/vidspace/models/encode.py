"""Encoding many items with one model: batches through a DataLoader (preprocessing in
workers), a batch that runs out of GPU memory halved, finished rows kept in a store so a
killed job resumes where it stopped."""

from __future__ import annotations

import logging
import platform
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidspace.core.io import atomic_path
from vidspace.models import Encoder

logger = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device


class ShardStore:
    """Finished batches of an embedding job, kept beside the output so a killed job resumes.

    Files ``{kind}-{start:09d}-{stop:09d}.npy`` hold the rows [start, stop). A fingerprint of
    the model spec and the item ids guards against resuming from another job's shards.
    """

    def __init__(self, directory: Path, fingerprint: str):
        self.dir = Path(directory)
        key = self.dir / "fingerprint.txt"
        if self.dir.exists() and (not key.exists() or key.read_text() != fingerprint):
            logger.info("discarding shards in %s: they belong to another job", self.dir)
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        key.write_text(fingerprint)

    def load(self, kind: str) -> list[np.ndarray]:
        """Contiguous finished rows from 0 (a gap ends the list)."""
        parts, expected = [], 0
        for path in sorted(self.dir.glob(f"{kind}-*.npy")):
            start, stop = (int(x) for x in path.stem.split("-")[1:])
            if start != expected:
                break
            parts.append(np.load(path))
            expected = stop
        return parts

    def save(self, kind: str, start: int, rows: np.ndarray) -> None:
        target = self.dir / f"{kind}-{start:09d}-{start + len(rows):09d}.npy"
        with atomic_path(target, suffix=".npy") as tmp:
            np.save(tmp, rows)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _encode_with_halving(encode: Callable, items, stats: dict) -> np.ndarray:
    """encode(items); on CUDA out-of-memory, free the cache and retry in two halves."""
    try:
        return np.asarray(encode(items), dtype=np.float32)
    except RuntimeError as exc:
        if not _is_oom(exc) or len(items) <= 1:
            raise
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half = len(items) // 2
    stats["oom_halvings"] = stats.get("oom_halvings", 0) + 1
    logger.warning(
        "out of memory on a batch of %d: retrying as %d + %d", len(items), half, len(items) - half
    )
    return np.concatenate(
        [
            _encode_with_halving(encode, items[:half], stats),
            _encode_with_halving(encode, items[half:], stats),
        ]
    )


class _Batches:
    """Map-style dataset of preprocessed batches, for DataLoader workers."""

    def __init__(self, preprocess, items, bounds):
        self.preprocess, self.items, self.bounds = preprocess, items, bounds

    def __len__(self):
        return len(self.bounds)

    def __getitem__(self, i):
        start, stop = self.bounds[i]
        return start, stop, self.preprocess(self.items[start:stop])


def encode_all(
    encoder: Encoder,
    kind: str,
    items,
    batch_size: int,
    desc: str,
    shards: ShardStore | None = None,
    num_workers: int = 0,
    shard_rows: int = 1024,
    stats: dict | None = None,
) -> np.ndarray:
    """Embed ``items`` (frames or texts) in batches.

    Encoders with ``preprocess_<kind>`` / ``forward_<kind>`` get their preprocessing done by
    ``num_workers`` DataLoader workers (pinned memory on CUDA) while the model computes.
    Finished rows are stored in ``shards`` every ``shard_rows`` rows; a rerun resumes after
    them. A CUDA out-of-memory batch is retried in halves.
    """
    stats = {} if stats is None else stats
    n = len(items)
    done = shards.load(kind) if shards else []
    first = sum(len(p) for p in done)
    if first:
        logger.info("%s: resuming after %d of %d %s from shards", desc, first, n, kind)
    pending: list[np.ndarray] = []
    pending_start = first
    bounds = [(s, min(n, s + batch_size)) for s in range(first, n, batch_size)]
    preprocess = getattr(encoder, f"preprocess_{kind}", None)
    forward = getattr(encoder, f"forward_{kind}", None)
    encode = getattr(encoder, f"encode_{kind}")
    if preprocess is not None and forward is not None and num_workers > 0:
        import torch

        cuda = str(getattr(encoder, "device", "cpu")).startswith("cuda")
        batches = torch.utils.data.DataLoader(
            _Batches(preprocess, items, bounds),
            batch_size=None,
            num_workers=num_workers,
            pin_memory=cuda,
            prefetch_factor=2,
        )
    else:
        batches = ((s, e, None) for s, e in bounds)
    for start, stop, prepared in tqdm(batches, total=len(bounds), desc=desc, unit="batch"):
        try:
            rows = (
                np.asarray(forward(prepared), dtype=np.float32)
                if prepared is not None
                else _encode_with_halving(encode, items[start:stop], stats)
            )
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            rows = _encode_with_halving(encode, items[start:stop], stats)
        pending.append(rows)
        if shards and (stop - pending_start >= shard_rows or stop == n):
            shards.save(kind, pending_start, np.concatenate(pending))
            done.append(np.concatenate(pending))
            pending, pending_start = [], stop
    parts = done + pending
    if not parts:
        raise ValueError(f"{desc}: nothing to encode")
    return np.concatenate(parts)


def _peak_rss_mb() -> float:
    import resource  # Unix only

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if platform.system() == "Linux" else peak / 2**20
