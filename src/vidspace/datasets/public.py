"""Adapters for the public datasets: MSR-VTT (1k-A), VATEX, YouCook2, COCO captions.

Where each annotation file or video archive comes from is data in the config: a *source*
is ``{path: local/file}`` or ``{url: ..., sha256: ..., member: path/inside/archive}``.
Remote files land in ``<dataset>/downloads/`` (verified, reused by reruns); archives are
extracted safely. YouTube-hosted sets (VATEX, YouCook2) fetch clip segments with yt-dlp.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pandas as pd

from vidspace.datasets import DownloadResult
from vidspace.download import fetch, safe_extract
from vidspace.youtube import Clip, download_clips

logger = logging.getLogger(__name__)

# MSR-VTT's 20 categories, in the order of the category ids of its info files
MSRVTT_CATEGORIES = [
    "music",
    "people",
    "gaming",
    "sports/actions",
    "news/events/politics",
    "education",
    "tv shows",
    "movie/comedy",
    "animation",
    "vehicles/autos",
    "howto",
    "travel",
    "science/technology",
    "animals/pets",
    "kids/family",
    "documentary",
    "food/drink",
    "cooking",
    "beauty/fashion",
    "advertisement",
]


def resolve(source: dict | None, downloads: Path, what: str) -> Path | None:
    """Local path of a source, downloading (and extracting) it when it is remote."""
    if source is None:
        return None
    if "path" in source:
        path = Path(source["path"])
        if not path.exists():
            raise FileNotFoundError(f"{what}: {path} does not exist")
        return path
    if "url" not in source:
        raise ValueError(f"{what}: a source needs 'path' or 'url', got {sorted(source)}")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", source["url"].rstrip("/").rsplit("/", 1)[-1])
    local = fetch(source["url"], downloads / name, sha256=source.get("sha256"))
    member = source.get("member")
    if member is None:
        return local
    extracted = downloads / f"{name}.d"
    if not extracted.exists():
        safe_extract(local, extracted)
    path = extracted / member
    if not path.exists():
        raise ValueError(f"{what}: {member!r} is not in {source['url']}")
    return path


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what}: {path} is not valid UTF-8 JSON: {exc}") from None


def _place_local_videos(video_dir: Path, wanted: dict[str, Path]) -> tuple[dict, list]:
    """Link (or copy) the videos that exist; record the others as missing."""
    import shutil

    paths, failures = {}, []
    for video_id, src in wanted.items():
        dest = video_dir / f"{video_id}{src.suffix or '.mp4'}"
        if not src.is_file():
            failures.append(
                {
                    "video_id": video_id,
                    "stage": "download",
                    "reason": f"missing from the archive or folder: {src.name}",
                }
            )
            continue
        if not dest.exists():
            try:
                os.link(src, dest)
            except OSError:
                shutil.copy2(src, dest)
        paths[video_id] = dest
    return paths, failures


def _result(rows: list[dict], captions: list[dict], paths: dict, failures: list) -> DownloadResult:
    manifest = pd.DataFrame(
        [{**r, "path": str(paths[r["video_id"]])} for r in rows if r["video_id"] in paths],
        columns=["video_id", "path", "category", "split", "start", "end"],
    )
    kept = set(manifest["video_id"])
    caps = pd.DataFrame(
        [c for c in captions if c["video_id"] in kept],
        columns=["caption_id", "video_id", "caption"],
    )
    return DownloadResult(manifest, caps, failures)


def _row(video_id, category="", split="test", start=float("nan"), end=float("nan")) -> dict:
    return {"video_id": video_id, "category": category, "split": split, "start": start, "end": end}


def _id_list(path: Path, what: str) -> list[str]:
    """Ids from a text file (one per line) or a CSV with a video_id / videoID column."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        column = next((c for c in ("video_id", "videoID", "vid") if c in table.columns), None)
        if column is None:
            raise ValueError(f"{what}: {path} has no video_id column ({list(table.columns)})")
        return table[column].str.strip().tolist()
    return [line.strip() for line in text.splitlines() if line.strip()]


def msrvtt(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """MSR-VTT. ``split``: ``1k-A`` (default; the JSFusion test table, 1,000 clips with one
    caption each), or ``train-7k`` / ``train-9k`` (the clips listed in ``train_list``).

    options: ``annotations`` (the JSFusion test CSV: key, vid_key, video_id, sentence),
    ``data`` (MSRVTT_data.json, its ``sentences``: needed for the train splits and for
    ``captions: all``, the 20 captions per clip), ``train_list``, optional ``info``
    (test_videodatainfo.json, for the 20 categories), ``videos`` (a folder or archive
    holding video<N>.mp4), ``limit``.
    """
    downloads = video_dir.parent / "downloads"
    split = options.get("split", "1k-A")
    if split not in ("1k-A", "train-7k", "train-9k"):
        raise ValueError(f"msrvtt: split must be 1k-A, train-7k or train-9k, got {split!r}")
    all_captions = options.get("captions", "first") == "all"
    sentences = None
    if all_captions or split != "1k-A":
        if "data" not in options:
            raise ValueError(
                f"msrvtt: split {split!r} / captions 'all' need the 'data' source "
                "(MSRVTT_data.json)"
            )
        data = _read_json(resolve(options["data"], downloads, "msrvtt data"), "msrvtt data")
        sentences = pd.DataFrame(data.get("sentences", []))
        if not {"video_id", "caption"} <= set(sentences.columns):
            raise ValueError("msrvtt data: 'sentences' need video_id and caption")
    if split == "1k-A":
        table = pd.read_csv(
            resolve(options["annotations"], downloads, "msrvtt annotations"),
            dtype=str,
            keep_default_na=False,
        )
        missing = {"video_id", "sentence"} - set(table.columns)
        if missing:
            raise ValueError(f"msrvtt annotations: missing columns {sorted(missing)}")
        ids = table["video_id"].tolist()
        first = dict(zip(table["video_id"], table["sentence"], strict=True))
        split_name = "test"
    else:
        if "train_list" not in options:
            raise ValueError(f"msrvtt: split {split!r} needs the 'train_list' source")
        ids = _id_list(
            resolve(options["train_list"], downloads, "msrvtt train list"), "msrvtt train list"
        )
        first = {}
        split_name = "train"
    if len(set(ids)) != len(ids):
        raise ValueError("msrvtt annotations: a video appears twice in the split's table")
    if options.get("limit"):
        ids = ids[: int(options["limit"])]
    categories = {}
    if options.get("info"):
        info = _read_json(resolve(options["info"], downloads, "msrvtt info"), "msrvtt info")
        categories = {
            v["video_id"]: MSRVTT_CATEGORIES[int(v["category"])] for v in info.get("videos", [])
        }
    folder = resolve(options["videos"], downloads, "msrvtt videos")
    rows = [_row(v, categories.get(v, ""), split_name) for v in ids]
    captions = []
    if sentences is not None and (all_captions or not first):
        grouped = sentences.groupby("video_id")["caption"].apply(list).to_dict()
        for v in ids:
            for k, text in enumerate(grouped.get(v, [])):
                captions.append(
                    {"caption_id": f"{v}#{k}", "video_id": v, "caption": str(text).strip()}
                )
    else:
        captions = [{"caption_id": f"{v}#0", "video_id": v, "caption": first[v]} for v in ids]
    wanted = {v: folder / f"{v}.mp4" for v in ids}
    paths, failures = _place_local_videos(video_dir, wanted)
    return _result(rows, captions, paths, failures)


def _youtube_set(
    video_dir: Path, rows: list[dict], youtube_ids: dict, captions: list[dict], options: dict
) -> DownloadResult:
    clips = [Clip(r["video_id"], youtube_ids[r["video_id"]], r["start"], r["end"]) for r in rows]
    paths, failures = download_clips(
        clips,
        video_dir,
        workers=int(options.get("workers", 4)),
        max_height=int(options.get("max_height", 480)),
    )
    return _result(rows, captions, paths, failures)


VATEX_ID = re.compile(r"^(?P<yt>[A-Za-z0-9_-]{11})_(?P<start>\d+)_(?P<end>\d+)$")


def vatex(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """VATEX English captions (10 per clip); clip ids are ``<youtube id>_<start>_<end>``.

    options: ``annotations`` (a VATEX JSON list with videoID and enCap), ``ids`` (a list
    of videoIDs to keep, e.g. the HGR 1,500-clip test partition), ``limit`` (e.g. 1000 for
    the 1k subset), ``workers``, ``max_height``.
    """
    downloads = video_dir.parent / "downloads"
    entries = _read_json(
        resolve(options["annotations"], downloads, "vatex annotations"), "vatex annotations"
    )
    if options.get("ids"):  # e.g. the HGR test partition: one videoID per line
        keep = set(_id_list(resolve(options["ids"], downloads, "vatex ids"), "vatex ids"))
        entries = [e for e in entries if e.get("videoID") in keep]
    if options.get("limit"):
        entries = entries[: int(options["limit"])]
    rows, captions, youtube, failures = [], [], {}, []
    for entry in entries:
        match = VATEX_ID.match(str(entry.get("videoID", "")))
        if not match:
            failures.append(
                {
                    "video_id": str(entry.get("videoID"))[:64],
                    "stage": "annotations",
                    "reason": "videoID is not <youtube id>_<start>_<end>",
                }
            )
            continue
        video_id = entry["videoID"]
        rows.append(_row(video_id, start=float(match["start"]), end=float(match["end"])))
        youtube[video_id] = match["yt"]
        for k, text in enumerate(entry.get("enCap", [])):
            if str(text).strip():
                captions.append(
                    {
                        "caption_id": f"{video_id}#{k}",
                        "video_id": video_id,
                        "caption": str(text).strip(),
                    }
                )
    result = _youtube_set(video_dir, rows, youtube, captions, options)
    result.failures[:0] = failures
    return result


def youcook2(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """YouCook2 segments (one clip per annotated step), recipe type as the category.

    options: ``annotations`` (youcookii_annotations_trainval.json), ``subset``
    (default ``validation``), ``limit`` (videos), ``workers``, ``max_height``.
    """
    downloads = video_dir.parent / "downloads"
    data = _read_json(
        resolve(options["annotations"], downloads, "youcook2 annotations"), "youcook2 annotations"
    )
    subset = options.get("subset", "validation")
    videos = [(k, v) for k, v in data.get("database", {}).items() if v.get("subset") == subset]
    if options.get("limit"):
        videos = videos[: int(options["limit"])]
    rows, captions, youtube = [], [], {}
    for youtube_id, video in videos:
        for ann in video.get("annotations", []):
            video_id = f"{youtube_id}_{int(ann['id']):02d}"
            start, end = (float(x) for x in ann["segment"])
            rows.append(_row(video_id, str(video.get("recipe_type", "")), "test", start, end))
            youtube[video_id] = youtube_id
            captions.append(
                {
                    "caption_id": f"{video_id}#0",
                    "video_id": video_id,
                    "caption": str(ann["sentence"]).strip(),
                }
            )
    return _youtube_set(video_dir, rows, youtube, captions, options)


def coco_captions(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """COCO images as one-frame videos with their (about five) captions.

    options: ``annotations`` (captions_val2017.json, e.g. a member of the annotations
    archive), ``images`` (the folder or archive of the images), ``limit``.
    """
    downloads = video_dir.parent / "downloads"
    data = _read_json(
        resolve(options["annotations"], downloads, "coco annotations"), "coco annotations"
    )
    images = data.get("images", [])
    if options.get("limit"):
        images = images[: int(options["limit"])]
    folder = resolve(options["images"], downloads, "coco images")
    by_id = {int(im["id"]): f"coco{int(im['id']):012d}" for im in images}
    rows = [_row(by_id[int(im["id"])]) for im in images]
    wanted = {by_id[int(im["id"])]: folder / im["file_name"] for im in images}
    captions = [
        {
            "caption_id": f"{by_id[int(a['image_id'])]}#{a['id']}",
            "video_id": by_id[int(a["image_id"])],
            "caption": str(a["caption"]).strip(),
        }
        for a in data.get("annotations", [])
        if int(a["image_id"]) in by_id
    ]
    paths, failures = _place_local_videos(video_dir, wanted)
    return _result(rows, captions, paths, failures)
