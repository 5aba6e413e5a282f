"""The data-quality stage: captions that cannot tell their video apart.

A query whose text, once normalised (:func:`normalise`), is also a caption of another
evaluated video is ill-posed: text→video retrieval counts only its own video as relevant,
so the other video, described by the same words, competes with it. The metrics keep their
definitions (docs/definitions.md, "Data quality"); this stage counts such queries per
dataset and lists them, so the report can say how many there are.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

import pandas as pd

from vidspace.core.io import read_failures, read_table, write_json, write_table

logger = logging.getLogger(__name__)

AMBIGUOUS_COLUMNS = ["caption_id", "video_id", "caption", "other_videos"]


def normalise(text: str) -> str:
    """The form two captions are compared in: Unicode NFKC, case-folded, runs of white space
    made one space, ends stripped, then trailing sentence punctuation (. ! ?) removed."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return re.sub(r"\s+", " ", text).strip().rstrip(".!?").rstrip()


def evaluated_videos(manifest: pd.DataFrame, lost: set[str], split: str) -> pd.DataFrame:
    """The manifest rows the retrieval stage evaluates under ``split`` (as core.io.eval_rows:
    every row when ``split`` is 'all' or no video has a split), less the videos in ``lost``."""
    kept = manifest[~manifest["video_id"].isin(lost)]
    splits = kept["split"].fillna("").astype(str)
    if split == "all" or not (splits != "").any():
        return kept
    return kept[splits == split]


def caption_quality(captions: pd.DataFrame, video_ids: set[str]) -> tuple[dict, pd.DataFrame]:
    """Counts over the captions of ``video_ids`` and the table of ambiguous ones (each
    caption whose normalised text is also a caption of another of these videos, with those
    videos, ';'-joined)."""
    caps = captions[captions["video_id"].isin(video_ids)].copy()
    caps["text"] = caps["caption"].map(normalise)
    videos_of = caps.groupby("text")["video_id"].agg(lambda v: sorted(set(v)))
    caps["videos"] = caps["text"].map(videos_of)
    shared = caps["videos"].map(len) > 1
    ambiguous = caps[shared].copy()
    ambiguous["other_videos"] = [
        ";".join(v for v in videos if v != own)
        for own, videos in zip(ambiguous["video_id"], ambiguous["videos"], strict=True)
    ]
    ambiguous = ambiguous.sort_values(["text", "video_id", "caption_id"])[AMBIGUOUS_COLUMNS]
    repeated = caps.duplicated(["video_id", "text"])
    counts = {
        "videos": len(video_ids),
        "captions": len(caps),
        "distinct_texts": int(caps["text"].nunique()),
        "ambiguous_captions": int(shared.sum()),
        "ambiguous_texts": int(caps.loc[shared, "text"].nunique()),
        "videos_sharing_a_caption": int(len({v for vs in caps.loc[shared, "videos"] for v in vs})),
        "repeated_within_video": int(repeated.sum()),
    }
    return counts, ambiguous.reset_index(drop=True)


def quality_file(
    manifest_path: str | Path,
    captions_path: str | Path,
    download_failures: str | Path,
    frame_failures: str | Path,
    out_path: str | Path,
    ambiguous_path: str | Path,
    split: str = "test",
) -> dict:
    """The data-quality stage: counts of ``split``'s evaluated captions to ``out_path``
    (JSON), the ambiguous captions to ``ambiguous_path`` (CSV, columns AMBIGUOUS_COLUMNS);
    also counts the annotation rows the download skipped, by reason (empty captions)."""
    manifest = read_table(manifest_path)
    captions = read_table(captions_path)
    dl_fail = read_failures(download_failures)
    lost = set(read_failures(frame_failures)["video_id"])
    videos = evaluated_videos(manifest, lost, split)
    counts, ambiguous = caption_quality(captions, set(videos["video_id"]))
    annotations = dl_fail[dl_fail["stage"] == "annotations"]["reason"].astype(str)
    result = {
        "split": split,
        **counts,
        "empty_captions_dropped": int(annotations.str.endswith("empty caption").sum()),
        "annotation_rows_skipped": len(annotations),
        "ambiguous_file": str(ambiguous_path),
    }
    write_table(ambiguous_path, ambiguous)
    write_json(out_path, result)
    logger.info(
        "%s: %d of %d evaluated captions share their text with another video",
        manifest_path,
        counts["ambiguous_captions"],
        counts["captions"],
    )
    return result
