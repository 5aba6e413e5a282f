"""Downloads that survive the network: retries with backoff, resume, size limits,
checksums, atomic moves into place, and safe archive extraction.

Nothing partial is ever visible under a final name: bytes go to ``<name>.part`` and move by
``os.replace`` only once complete and verified. A rerun skips files already verified.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests

from vidspace.core.errors import UserError
from vidspace.core.io import plain_mode

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(UserError, RuntimeError):
    """A download failed for good; ``reason`` is a short category for failures.csv."""

    def __init__(self, url: str, reason: str, detail: str = ""):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class Item:
    url: str
    dest: Path
    sha256: str | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(dest: Path, sha256: str | None) -> bool:
    return dest.exists() and (sha256 is None or sha256_of(dest) == sha256.lower())


def fetch(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    max_bytes: int | None = None,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 0.5,
    session: requests.Session | None = None,
) -> Path:
    """Download ``url`` to ``dest``; return ``dest`` once complete and verified.

    Retries (exponential backoff) on connection errors, timeouts, bodies cut short and
    HTTP 408/425/429/5xx; resumes a partial file with a Range request where the server
    allows it; fails at once on other 4xx, on a body over ``max_bytes`` and, after its
    retries, on a checksum mismatch.
    """
    dest = Path(dest)
    if _verified(dest, sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    http = session or requests.Session()
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _fetch_once(http, url, part, max_bytes, timeout)
        except DownloadError:
            part.unlink(missing_ok=True)
            raise
        except requests.exceptions.ConnectionError as exc:
            last = exc
            if _unreachable(exc):
                host = urlparse(url).hostname
                raise DownloadError(
                    url,
                    "unreachable",
                    f"cannot reach {host}; offline, point the adapter at local files "
                    "(source: local, path: ...)",
                ) from None
            logger.info("%s: connection error (attempt %d): %s", url, attempt + 1, exc)
            continue
        except (requests.exceptions.Timeout, _Retry) as exc:
            last = exc
            logger.info("%s: %s (attempt %d)", url, exc, attempt + 1)
            continue
        if sha256 is not None and sha256_of(part) != sha256.lower():
            part.unlink(missing_ok=True)
            last = DownloadError(url, "checksum mismatch")
            logger.info("%s: checksum mismatch (attempt %d)", url, attempt + 1)
            continue
        os.replace(part, dest)
        return dest
    if isinstance(last, DownloadError):
        raise last
    reason = "timeout" if isinstance(last, requests.exceptions.Timeout) else "gave up"
    raise DownloadError(url, reason, f"after {retries + 1} attempts: {last}")


class _Retry(Exception):
    pass


def _unreachable(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        s in text
        for s in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "network is unreachable",
            "no route to host",
        )
    )


def _fetch_once(http, url: str, part: Path, max_bytes: int | None, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with http.get(url, stream=True, timeout=timeout, headers=headers) as response:
        status = response.status_code
        if status in RETRY_STATUS:
            raise _Retry(f"HTTP {status}")
        if status == 416 and have:  # our partial file is already whole (or bigger)
            part.unlink()
            raise _Retry("HTTP 416 on resume")
        if status == 404:
            raise DownloadError(url, "not found", "HTTP 404")
        if status in (401, 403):
            raise DownloadError(url, "forbidden", f"HTTP {status}")
        if status >= 400:
            raise DownloadError(url, f"HTTP {status}")
        resumed = status == 206 and have > 0
        if not resumed:
            have = 0  # the server sent the whole body
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        if max_bytes is not None and expected is not None and expected > max_bytes:
            raise DownloadError(url, "too large", f"{expected} bytes > limit {max_bytes}")
        written = have
        with open(part, "ab" if resumed else "wb") as out:
            try:
                for block in response.iter_content(CHUNK):
                    written += len(block)
                    if max_bytes is not None and written > max_bytes:
                        raise DownloadError(url, "too large", f"over the limit {max_bytes}")
                    out.write(block)
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ConnectionError,
            ) as exc:
                raise _Retry(f"body cut at {written} bytes: {type(exc).__name__}") from None
        if expected is not None and written < expected:
            raise _Retry(f"body cut at {written} of {expected} bytes")


def fetch_many(items: Iterable[Item], workers: int = 4, **kwargs) -> tuple[list[Path], list[dict]]:
    """Fetch items with bounded concurrency. Returns (verified paths, failures) where each
    failure is ``{"url", "dest", "reason", "detail"}``; one failure never stops the rest."""
    items = list(items)
    if len({i.dest for i in items}) != len(items):
        raise ValueError("two items share a destination path")
    ok, failed = [], []

    def one(item: Item):
        try:
            return fetch(item.url, item.dest, item.sha256, **kwargs), None
        except DownloadError as exc:
            return None, {
                "url": item.url,
                "dest": str(item.dest),
                "reason": exc.reason,
                "detail": str(exc),
            }

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for path, failure in pool.map(one, items):
            (ok.append(path) if failure is None else failed.append(failure))
    return ok, failed


def _inside(root: Path, name: str) -> bool:
    target = (root / name).resolve()
    return target == root or root in target.parents


def safe_extract(archive: str | Path, target: str | Path) -> Path:
    """Extract a zip or tar archive into ``target`` (created; must not exist yet).

    Rejects absolute names, ``..`` components and links that point outside the target
    (zip-slip); a truncated or corrupt archive raises ValueError naming it. Extraction goes
    to a scratch folder first, so ``target`` appears complete or not at all.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise ValueError(f"{target} exists already; remove it to extract {archive.name} again")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    root = scratch.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    _check_name(archive, info.filename, root)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise ValueError(
                            f"{archive.name}: symbolic link {info.filename!r} "
                            "in a zip archive is not allowed"
                        )
                z.extractall(scratch)
        else:
            try:
                with tarfile.open(archive) as t:
                    members = t.getmembers()
                    for m in members:
                        _check_name(archive, m.name, root)
                        if m.issym() or m.islnk():
                            link = (
                                Path(m.name).parent / m.linkname if m.issym() else Path(m.linkname)
                            )
                            if Path(m.linkname).is_absolute() or not _inside(root, str(link)):
                                raise ValueError(
                                    f"{archive.name}: link {m.name!r} -> "
                                    f"{m.linkname!r} escapes the target"
                                )
                        elif not (m.isfile() or m.isdir()):
                            raise ValueError(f"{archive.name}: special file {m.name!r}")
                    t.extractall(scratch, members=members, filter="tar")
            except (tarfile.ReadError, EOFError) as exc:
                raise ValueError(f"{archive.name} is truncated or not an archive: {exc}") from None
        plain_mode(scratch, directory=True)
        os.replace(scratch, target)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{archive.name} is truncated or corrupt: {exc}") from None
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def _check_name(archive: Path, name: str, root: Path) -> None:
    if name.startswith(("/", "\\")) or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"{archive.name}: unsafe path {name!r} (absolute or with '..')")
    if not _inside(root, name):
        raise ValueError(f"{archive.name}: path {name!r} escapes the target")
