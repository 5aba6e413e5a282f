"""Clips as folders of frames: how MMEB-V2 hosts its video sets (pre-extracted JPEG frames,
one folder per video, in a tar archive of TIGER-Lab/MMEB-V2), and how a team may keep
frames it extracted once.

A frame folder is any folder that holds image files directly; its name is the video's id.
A source is a local folder tree, a local tar archive, or an archive file of a Hugging Face
dataset repository at a pinned revision. ``member`` (a path component, e.g. ``MSR-VTT``)
keeps only the frame folders below a folder of that name, so one archive of several sets
serves each of them and either layout in use works (``video_ret/MSR-VTT/<id>/`` as
VLM2Vec's config reads it, ``.../MSR-VTT/frames/<id>/`` as Qwen3-VL-Embedding's).

Frames are hard-linked (or copied) from a folder tree, or streamed out of an archive one
member at a time (a gzip archive is read once, front to back, never whole in memory), into
``staging/<digest of the name>/``; the caller moves finished folders into place under
its own (safe) ids.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import lzma
import os
import shutil
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from vidspace.frames.decode import folder_frames, is_frame_name

logger = logging.getLogger(__name__)

SOURCE_KEYS = ("path", "repo", "revision", "file", "member")


def _is_frame(parts: tuple[str, ...], member: str | None) -> bool:
    """Whether a file at ``parts`` (the source's own folder name first) is a frame
    (:func:`vidspace.frames.decode.is_frame_name`) of a folder below ``member``."""
    if len(parts) < 2 or not is_frame_name(parts[-1]):
        return False
    return not member or member in parts[:-2]


def slot(name: str) -> str:
    """The staging folder of the frame folder ``name`` (any characters: DiDeMo's names
    carry Flickr's ``@``): a digest, so no name reaches a path."""
    return hashlib.sha256(name.encode()).hexdigest()[:24]


def link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def place_folder(src: Path, dest: Path) -> int:
    """The frames of folder ``src`` linked (or copied) into a new folder ``dest`` (written
    beside it, then renamed: complete or absent); the number of frames."""
    frames = folder_frames(src)
    part = dest.with_name(f".{dest.name}.part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    for frame in frames:
        link_or_copy(frame, part / frame.name)
    if dest.exists():
        shutil.rmtree(dest)
    part.rename(dest)
    return len(frames)


def from_tree(root: Path, member: str | None, wanted: set[str], staging: Path) -> dict[str, Path]:
    """The wanted frame folders of a local folder tree, placed in ``staging``."""
    found: dict[str, Path] = {}
    for folder, _, files in os.walk(root):
        if not files:
            continue
        rel = Path(folder).relative_to(root).parts
        # the root's own name counts: frames.path may be the set's folder itself
        parts = (root.absolute().name, *rel)
        if not rel or rel[-1] not in wanted:
            continue
        if not any(_is_frame((*parts, f), member) for f in files):
            continue
        if rel[-1] in found:
            raise ValueError(
                f"frames: two folders named {rel[-1]!r} under {root}: "
                f"{found[rel[-1]]} and {folder} (name member: the set's folder)"
            )
        found[rel[-1]] = Path(folder)
    for vid, folder in sorted(found.items()):
        place_folder(folder, staging / slot(vid))
    return {vid: staging / slot(vid) for vid in found}


def _decompressed(raw):
    """The archive's tar stream, decompressed by the module that checks its checksum at
    the end of the stream (gzip's CRC, bzip2's, xz's), by the file's magic bytes."""
    import bz2

    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    if magic[:3] == b"BZh":
        return bz2.BZ2File(raw)
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    return raw


def from_archive(
    archive: Path, member: str | None, wanted: set[str], staging: Path
) -> dict[str, Path]:
    """The wanted frame folders of a tar archive (plain, gzip, bzip2 or xz), streamed
    into ``staging``; every other member is skipped unread. The stream is read to its end
    (its checksum checked, only padding after the tar's end): a truncated or corrupt
    archive is an error that names it (nothing placed)."""
    found: dict[str, str] = {}
    written = 0
    try:
        with open(archive, "rb") as raw, _decompressed(raw) as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for info in tar:
                    tar.members = []  # tarfile keeps every header it read: 100 MB a 200k frames
                    written += _take(tar, info, member, wanted, staging, found, archive.name)
                    if written and written % 5000 == 0:
                        logger.info("%s: %d frames of %d videos", archive.name, written, len(found))
            # tarfile stops at an end marker or at the first header it cannot read: what
            # follows must be padding, and reading it to the end checks the checksum
            while chunk := stream.read(1 << 20):
                if chunk.strip(b"\0"):
                    raise tarfile.ReadError("data after the end of the archive (a damaged header)")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as exc:
        # reading failed (a disk that fills while writing raises its own OSError)
        for vid in found:
            shutil.rmtree(staging / slot(vid), ignore_errors=True)
        raise ValueError(
            f"frames: {archive.name} is truncated, corrupt or not a tar archive: {exc}"
        ) from exc
    except OSError as exc:
        if "Invalid data stream" not in str(exc):  # bz2's corrupt data; a full disk is not
            raise
        for vid in found:
            shutil.rmtree(staging / slot(vid), ignore_errors=True)
        raise ValueError(f"frames: {archive.name} is corrupt: {exc}") from exc
    logger.info("%s: %d frames of %d videos", archive.name, written, len(found))
    return {vid: staging / slot(vid) for vid in found}


def _take(tar, info, member, wanted, staging: Path, found: dict, name: str) -> int:
    """Write ``info`` into its folder in ``staging`` when it is a frame of a wanted folder
    below ``member`` (1), else skip it (0); two folders of one name are an error."""
    parts = PurePosixPath(info.name).parts
    if not info.isfile() or not _is_frame(parts, member) or parts[-2] not in wanted:
        return 0
    vid = parts[-2]
    where = "/".join(parts[:-1])
    if found.setdefault(vid, where) != where:
        raise ValueError(
            f"frames: two folders named {vid!r} in {name}: "
            f"{found[vid]} and {where} (name member: the set's folder)"
        )
    folder = staging / slot(vid)
    folder.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(info)
    with source, open(folder / parts[-1], "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    return 1


def _hub_archive(source: dict, free_dir: Path) -> Path:
    """The archive file of a dataset repository at its revision, through the Hugging Face
    cache (a download resumes; offline, only what is cached)."""
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    from vidspace.datasets.hub import check_space, hub_errors

    repo, revision, file = source["repo"], source["revision"], source["file"]
    cached = try_to_load_from_cache(repo, file, revision=revision, repo_type="dataset")
    if isinstance(cached, str):  # in the cache already: no request, no disk check
        return Path(cached)
    with hub_errors(repo, revision):
        if not constants.is_offline_mode():
            check_space(repo, revision, [file], free_dir)
        try:
            return Path(hf_hub_download(repo, file, repo_type="dataset", revision=revision))
        except LocalEntryNotFoundError:  # a subclass: not cached, offline (named by hub_errors)
            raise
        except EntryNotFoundError:
            raise ValueError(f"frames: {repo}@{revision[:7]} has no file {file}") from None


def frame_folders(
    source: dict, wanted: Iterable[str], staging: Path, free_dir: Path
) -> dict[str, Path]:
    """The frame folders of the ``wanted`` ids from ``source`` ({path} of a folder tree or a
    tar archive, or {repo, revision, file} of an archive in a dataset repository; member
    optional), placed in ``staging``: id -> folder. Ids without a folder are left out."""
    wanted = set(wanted)
    member = source.get("member")
    staging.mkdir(parents=True, exist_ok=True)
    if source.get("path"):
        path = Path(source["path"])
        if path.is_dir():
            return from_tree(path, member, wanted, staging)
        if not path.is_file():
            raise ValueError(f"frames: path {path} is neither a folder nor an archive")
        return from_archive(path, member, wanted, staging)
    return from_archive(_hub_archive(source, free_dir), member, wanted, staging)
