"""Adapters for the public datasets: MSR-VTT (1k-A), VATEX, YouCook2, COCO captions.

Where each annotation file or video archive comes from is data in the config: a *source*
is ``{path: local/file}`` or ``{url: ..., sha256: ..., member: path/inside/archive}``.
Remote files land in ``<dataset>/downloads/`` (verified, reused by reruns); archives are
extracted safely. YouTube-hosted sets (VATEX, YouCook2) download each YouTube video once
with yt-dlp, trimmed to the span of its segments, and cut every segment from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import pandas as pd

from vidspace.datasets.fetch import fetch, safe_extract
from vidspace.datasets.tables import DownloadResult
from vidspace.datasets.youtube import Clip, download_clips

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


def _member(root: Path, member: str | None, extracted: Path, what: str, origin) -> Path:
    """``member`` of a folder, or of an archive (extracted once into ``extracted``)."""
    if member is None:
        return root
    if root.is_dir():
        path = root / member
    else:
        if not extracted.exists():
            safe_extract(root, extracted)
        path = extracted / member
    if not path.exists():
        raise ValueError(f"{what}: {member!r} is not in {origin}")
    return path


def resolve(source: dict | None, downloads: Path, what: str) -> Path | None:
    """Local path of a source, downloading (and extracting) it when it is remote.

    ``member`` names a file or folder inside the source: an archive (zip or tar, remote or
    local, extracted safely once into ``downloads``) or a local folder.
    """
    if source is None:
        return None
    if "path" in source:
        path = Path(source["path"])
        if not path.exists():
            raise FileNotFoundError(f"{what}: {path} does not exist")
        # a local archive is extracted beside the downloads, named after its location
        tag = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
        extracted = downloads / f"{path.name}-{tag}.d"
        return _member(path, source.get("member"), extracted, what, path)
    if "url" not in source:
        raise ValueError(f"{what}: a source needs 'path' or 'url', got {sorted(source)}")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", source["url"].rstrip("/").rsplit("/", 1)[-1])
    local = fetch(source["url"], downloads / name, sha256=source.get("sha256"))
    return _member(local, source.get("member"), downloads / f"{name}.d", what, source["url"])


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


MSRVTT_SPLITS = (
    "1k-A",
    "full",
    "train-7k",
    "train-9k",
    "train-7k+1k-A",
    "train-9k+1k-A",
    "train-7k+full",
)
# the full test split of Xu et al. 2016: video7010 ... video9999 (train 0-6512, val 6513-7009)
MSRVTT_FULL_TEST = range(7010, 10000)


def _msrvtt_full_test(data: dict | None, info: dict | None) -> list[str]:
    """The 2,990 test clips of the full split: the videos MSRVTT_data.json (or ``info``)
    marks ``split: test``, else those of an ``info`` without splits
    (test_videodatainfo.json lists the test clips only), else the standard id range."""
    for source in (data, info):
        videos = (source or {}).get("videos", [])
        if any("split" in v for v in videos):
            ids = [str(v["video_id"]) for v in videos if v.get("split") == "test"]
        else:  # only test_videodatainfo.json lists its clips without a split field
            ids = [str(v["video_id"]) for v in videos] if source is info else []
        if ids:
            return ids
    return [f"video{i}" for i in MSRVTT_FULL_TEST]


def msrvtt(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """MSR-VTT. ``split``: ``1k-A`` (default; the JSFusion test table, 1,000 clips with one
    caption each), ``full`` (the full test split: 2,990 clips, all 20 captions each),
    ``train-7k`` / ``train-9k`` (the clips listed in ``train_list``, all their captions),
    or ``train-9k+1k-A`` / ``train-7k+1k-A`` / ``train-7k+full``: a protocol in one
    dataset, train clips (split ``train``) beside the test clips (split ``test``).

    options: ``annotations`` (the JSFusion test CSV: key, vid_key, video_id, sentence),
    ``data`` (MSRVTT_data.json: its ``sentences`` give the train captions and, with
    ``captions: all``, the 20 captions per test clip; its ``videos`` the 20 categories),
    ``train_list``, optional ``info`` (test_videodatainfo.json, categories too),
    ``videos`` (a folder or archive holding video<N>.mp4), ``limit`` (per part).
    """
    downloads = video_dir.parent / "downloads"
    split = options["split"]
    if split not in MSRVTT_SPLITS:
        raise ValueError(f"msrvtt: split must be one of {list(MSRVTT_SPLITS)}, got {split!r}")
    parts = split.split("+")
    all_captions = options["captions"] == "all"
    data = None
    if options.get("data"):
        data = _read_json(resolve(options["data"], downloads, "msrvtt data"), "msrvtt data")
    elif all_captions or parts != ["1k-A"]:
        raise ValueError(
            f"msrvtt: split {split!r} / captions 'all' need the 'data' source (MSRVTT_data.json)"
        )
    sentences = None
    if data is not None:
        sentences = pd.DataFrame(data.get("sentences", []))
        if not {"video_id", "caption"} <= set(sentences.columns):
            raise ValueError("msrvtt data: 'sentences' need video_id and caption")
    categories = {}
    info = None
    if options.get("info"):
        info = _read_json(resolve(options["info"], downloads, "msrvtt info"), "msrvtt info")
    for source in (data, info):
        if source is None:
            continue
        for v in source.get("videos", []):
            if "category" in v:
                categories[str(v["video_id"])] = MSRVTT_CATEGORIES[int(v["category"])]
    rows, captions, ids = [], [], []
    grouped = (
        sentences.groupby("video_id")["caption"].apply(list).to_dict()
        if sentences is not None
        else {}
    )
    for part in parts:
        if part == "1k-A":
            table = pd.read_csv(
                resolve(options["annotations"], downloads, "msrvtt annotations"),
                dtype=str,
                keep_default_na=False,
            )
            missing = {"video_id", "sentence"} - set(table.columns)
            if missing:
                raise ValueError(f"msrvtt annotations: missing columns {sorted(missing)}")
            part_ids = table["video_id"].tolist()
            first = dict(zip(table["video_id"], table["sentence"], strict=True))
            split_name = "test"
        elif part == "full":
            part_ids = _msrvtt_full_test(data, info)
            # captions all: every caption of each clip (MSRVTT_data.json's sentences)
            first = {} if all_captions else {v: grouped[v][0] for v in part_ids if grouped.get(v)}
            split_name = "test"
        else:
            if "train_list" not in options:
                raise ValueError(f"msrvtt: split {split!r} needs the 'train_list' source")
            part_ids = _id_list(
                resolve(options["train_list"], downloads, "msrvtt train list"),
                "msrvtt train list",
            )
            first = {}
            split_name = "train"
        if len(set(part_ids)) != len(part_ids):
            raise ValueError(f"msrvtt: a video appears twice in the {part} table")
        if options.get("limit"):
            part_ids = part_ids[: int(options["limit"])]
        overlap = set(part_ids) & set(ids)
        if overlap:
            raise ValueError(
                f"msrvtt: {len(overlap)} videos are in both parts of {split!r}, "
                f"e.g. {sorted(overlap)[:3]}"
            )
        ids += part_ids
        rows += [_row(v, categories.get(v, ""), split_name) for v in part_ids]
        for v in part_ids:
            if all_captions or not first:
                texts = grouped.get(v, [])
            else:
                texts = [first[v]] if v in first else []
            captions += [
                {"caption_id": f"{v}#{k}", "video_id": v, "caption": str(text).strip()}
                for k, text in enumerate(texts)
            ]
    folder = resolve(options["videos"], downloads, "msrvtt videos")
    wanted = {v: folder / f"{v}.mp4" for v in ids}
    paths, failures = _place_local_videos(video_dir, wanted)
    return _result(rows, captions, paths, failures)


def _youtube_set(
    video_dir: Path, rows: list[dict], youtube_ids: dict, captions: list[dict], options: dict
) -> DownloadResult:
    """Each YouTube video is downloaded once, trimmed to the span of its segments, into
    ``yt_<youtube id>.mp4``; every segment row points at that file, its start and end
    shifted to the file's own clock (sample_frames cuts the segment). A failed download
    fails each of its segments with the same reason."""
    by_video: dict[str, list[dict]] = {}
    for row in rows:
        by_video.setdefault(youtube_ids[row["video_id"]], []).append(row)
    clips = {}
    for youtube_id, segments in by_video.items():
        bounds = [r[k] for r in segments for k in ("start", "end")]
        timed = not any(pd.isna(b) for b in bounds)
        span = (
            (min(r["start"] for r in segments), max(r["end"] for r in segments))
            if timed
            else (None, None)
        )
        clips[youtube_id] = Clip(f"yt_{youtube_id}"[:128], youtube_id, *span)
    files, file_failures = download_clips(
        clips.values(),
        video_dir,
        workers=int(options["workers"]),
        max_height=int(options["max_height"]),
    )
    youtube_of = {clip.video_id: youtube_id for youtube_id, clip in clips.items()}
    failures = []
    for failure in file_failures:
        segments = by_video.get(youtube_of.get(failure["video_id"]), [])
        failures += [{**failure, "video_id": r["video_id"]} for r in segments] or [failure]
    paths = {}
    for youtube_id, segments in by_video.items():
        clip = clips[youtube_id]
        if clip.video_id not in files:
            continue
        for row in segments:
            paths[row["video_id"]] = files[clip.video_id]
            if clip.start is not None:
                row["start"], row["end"] = row["start"] - clip.start, row["end"] - clip.start
    return _result(rows, captions, paths, failures)


VATEX_ID = re.compile(r"^(?P<yt>[A-Za-z0-9_-]{11})_(?P<start>\d+)_(?P<end>\d+)$")


def vatex(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """VATEX English captions (10 per clip); clip ids are ``<youtube id>_<start>_<end>``.

    options: ``annotations`` (a VATEX JSON list with videoID and enCap), ``ids`` (a list
    of videoIDs to keep, e.g. the HGR 1,500-clip test partition), ``limit`` (e.g. 1000 for
    the 1k subset), ``captions`` (``first``: the first English caption only, as MMEB-V2
    and MTEB; default all 10), ``workers``, ``max_height``.
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
        texts = entry.get("enCap", [])
        if options.get("captions") == "first":  # as MMEB-V2 and MTEB use VATEX: enCap[0]
            texts = texts[:1]
        for k, text in enumerate(texts):
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


def _recipe_names(source: dict | None, downloads: Path) -> dict[str, str]:
    """YouCook2's label_foodtype.csv: ``id,name`` rows without a header."""
    if source is None:
        return {}
    path = resolve(source, downloads, "youcook2 labels")
    table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    if table.shape[1] != 2 or not table[0].str.strip().str.isdigit().all():
        raise ValueError(
            f"youcook2 labels: {path} should hold 'id,name' rows without a header, "
            f"got {table.shape[1]} columns starting {table.iloc[0].tolist()}"
        )
    return dict(zip(table[0].str.strip(), table[1].str.strip(), strict=True))


def youcook2(video_dir: Path, options: dict, seed: int = 0) -> DownloadResult:
    """YouCook2 segments (one clip per annotated step), recipe type as the category.

    options: ``annotations`` (youcookii_annotations_trainval.json), ``labels``
    (label_foodtype.csv, for recipe names instead of ids), ``subset``, ``limit`` (videos),
    ``workers``, ``max_height``.
    """
    downloads = video_dir.parent / "downloads"
    data = _read_json(
        resolve(options["annotations"], downloads, "youcook2 annotations"), "youcook2 annotations"
    )
    recipe_names = _recipe_names(options.get("labels"), downloads)
    subset = options["subset"]
    videos = [(k, v) for k, v in data.get("database", {}).items() if v.get("subset") == subset]
    if options.get("limit"):
        videos = videos[: int(options["limit"])]
    rows, captions, youtube = [], [], {}
    for youtube_id, video in videos:
        for ann in video.get("annotations", []):
            video_id = f"{youtube_id}_{int(ann['id']):02d}"
            start, end = (float(x) for x in ann["segment"])
            recipe = str(video.get("recipe_type", ""))
            rows.append(_row(video_id, recipe_names.get(recipe, recipe), "test", start, end))
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
