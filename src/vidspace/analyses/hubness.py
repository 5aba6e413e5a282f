"""Hubness: a few gallery items in the top k of very many queries, others in none.

For each variant of a model, in both directions, N_k(item) counts the queries whose top k
include the item, under the scores the variant ranks by (its scoring: dot, dual softmax,
inverted softmax, QB-Norm, multi-grained; sign-code agreement for binary codes). Reported:
the skewness of N_k (Radovanović et al., JMLR 2010), the share of antihubs (N_k = 0), the
share of all k-occurrences held by the top 1 % of items, and the five strongest hubs with a
caption. k is the report's largest R@K cut-off. Definitions: docs/definitions.md.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np

from vidspace.analyses import Analysis, Input
from vidspace.core.io import (
    load_embeddings,
    load_sidecar,
    read_json,
    read_table,
    write_json,
)
from vidspace.report.markdown import fmt, table

logger = logging.getLogger(__name__)

HIGH_SKEW = 1.2  # "high hubness" in the hubness literature (Feldbauer and Flexer 2019)
HUBS_SHOWN = 5
HUB_FIGHTERS = ("dual_softmax", "inverted_softmax", "qb_norm")  # scorings designed against hubs
DIRECTIONS = {"t2v": "text→video", "v2t": "video→text"}


def k_occurrences(scores: np.ndarray, k: int) -> np.ndarray:
    """N_k of each column of a (queries x items) score matrix: the number of rows in whose
    top k it ranks, with ties counted against the item (its rank is 1 + the number of
    other items scoring at least as high), as the ranking stage counts them."""
    scores = np.asarray(scores)
    counts = np.zeros(scores.shape[1], np.int64)
    for start in range(0, scores.shape[0], 1024):
        block = scores[start : start + 1024]
        if k >= block.shape[1]:
            counts += block.shape[0]
            continue
        # the k-th largest score of each row: an item is in the top k when fewer than k
        # other items score at least as high, i.e. (ties against it) when its score
        # exceeds the (k+1)-th largest, or equals it with fewer than k items above
        kth = np.partition(block, -k, axis=1)[:, -k][:, None]
        above = (block > kth).sum(1, keepdims=True)
        at = block == kth
        # items tied at the k-th score: in the top k only if above + ties <= k
        tied = at.sum(1, keepdims=True)
        inside = (block > kth) | (at & (above + tied <= k))
        counts += inside.sum(0)
    return counts


def hubness_stats(counts: np.ndarray, k: int) -> dict:
    """Skewness of N_k (population moments, as scipy.stats.skew), antihub share, the top
    1 % of items' share of all k-occurrences."""
    counts = np.asarray(counts, np.float64)
    n = counts.size
    sd = counts.std()
    skew = float(((counts - counts.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0
    top = max(1, math.ceil(0.01 * n))
    total = counts.sum()
    return {
        "k": int(k),
        "items": int(n),
        "skewness": skew,
        "antihub_share": float(np.mean(counts == 0)),
        "top1pct_share": float(np.sort(counts)[::-1][:top].sum() / total) if total else 0.0,
        "top1pct_items": int(top),
        "max_occurrence": int(counts.max()) if n else 0,
    }


class Scored(NamedTuple):
    """A variant's evaluated rows and its (captions x videos) matrices as the retrieval
    stage ranks them: order keys per direction (t2v by rows, v2t by columns; a rescore
    variant's binary shortlist re-ranked by its float scores) and the scores to show (a
    rescore variant's float cosine within the shortlist and its sign-code score beyond,
    else the keys themselves)."""

    sub: dict
    t2v: np.ndarray
    v2t: np.ndarray
    t2v_shown: np.ndarray
    v2t_shown: np.ndarray


def variant_scores(path: str, split: str, rescore: bool = True) -> Scored | None:
    """The evaluated rows of a variant file and its score matrices as the retrieval stage
    ranks them (:class:`Scored`; None: nothing to rank). ``rescore=False``: a rescore
    variant's shortlist scores (its sign-code agreement), as hubness counts them."""
    from vidspace.core.linalg import l2_normalize
    from vidspace.metrics.scoring import MultiGrained, rescored_keys, score_matrices
    from vidspace.metrics.stage import ranked_rows

    meta = load_sidecar(path)
    if meta.get("skipped"):
        return None
    scoring = meta.get("scoring", "dot")
    arrays = load_embeddings(path, frames=scoring == "multi_grained")
    if "text_emb" not in arrays:
        return None
    if scoring in ("inverted_softmax", "qb_norm") and not np.any(
        np.asarray(arrays.get("split", np.array([]))) == "train"
    ):
        return None  # no querybank: retrieval skipped this variant
    sub, text, video, querybank = ranked_rows(arrays, meta, split)
    scores = text @ video.T
    if scoring == "multi_grained":
        scores = MultiGrained.from_spec(sub["frame_emb"], meta).scores(text, scores)
        return Scored(sub, scores, scores, scores, scores)
    bank = None
    if querybank is not None:
        bank = (querybank[0] @ video.T, querybank[1] @ text.T)
    t2v, v2t = score_matrices(scores, scoring, float(meta.get("temperature", 0.01)), bank)
    if not (rescore and meta.get("rescore")):
        return Scored(sub, t2v, v2t, t2v, v2t)
    # as the retrieval stage re-ranks: the float embeddings' cosine, in float64
    exact = (
        np.asarray(l2_normalize(sub["rescore_text_emb"]), np.float64)
        @ np.asarray(l2_normalize(sub["rescore_video_emb"]), np.float64).T
    )
    top = int(meta["rescore"])
    t2v, v2t = (rescored_keys(scores, exact, top, axis=a) for a in (1, 0))
    # shown: the float cosine within the shortlist (what ordered it), the sign-code score
    # beyond it (keys above every code score mark the shortlist)
    above = scores.max()
    return Scored(
        sub, t2v, v2t, np.where(t2v > above, exact, scores), np.where(v2t > above, exact, scores)
    )


def ranked_first(keys: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` gallery positions of one query as its rank counts them: by key,
    the query's own items after the others that score the same (ties against the model),
    then in gallery order; ``own``: a boolean mask of its relevant items."""
    return np.lexsort((np.arange(keys.size), own, -keys))[:k]


def hubness_file(
    variants: dict[str, str],
    metrics: dict[str, str],
    captions_path: str,
    out_path: str,
    split: str,
    k: int,
) -> dict:
    """The hubness stage: every variant of one model (``variants``: name -> file), with
    each variant's text→video R@1 from ``metrics`` beside it and the strongest hubs of each
    direction named by id and a caption."""
    captions = read_table(captions_path)
    text_of = dict(zip(captions["caption_id"], captions["caption"], strict=True))
    first_caption = captions.drop_duplicates("video_id").set_index("video_id")["caption"]
    result: dict = {"k": int(k), "split": split, "variants": {}}
    for name, path in variants.items():
        r1 = read_json(metrics[name]).get("t2v", {}).get("R@1")
        scored = variant_scores(path, split, rescore=False)
        if scored is None:
            result["variants"][name] = {"skipped": "nothing ranked (skipped or video only)"}
            continue
        sub, t2v, v2t = scored.sub, scored.t2v, scored.v2t
        scoring = load_sidecar(path).get("scoring", "dot")
        entry: dict = {"t2v_R@1": r1, "n_videos": int(t2v.shape[1]), "scoring": scoring}
        for d, items in (("t2v", sub["video_ids"]), ("v2t", sub["text_ids"])):
            matrix = t2v if d == "t2v" else v2t.T  # rows: queries, columns: gallery items
            if k >= matrix.shape[1]:
                entry[d] = {"skipped": f"k = {k} is at least the gallery ({matrix.shape[1]})"}
                continue
            counts = k_occurrences(matrix, k)
            stats = hubness_stats(counts, k)
            order = np.argsort(-counts, kind="stable")[:HUBS_SHOWN]
            stats["hubs"] = [
                {
                    "id": str(items[i]),
                    "occurrences": int(counts[i]),
                    "caption": str(
                        first_caption.get(items[i], "") if d == "t2v" else text_of.get(items[i])
                    ),
                }
                for i in order
            ]
            entry[d] = stats
        result["variants"][name] = entry
    write_json(out_path, result)
    return result


def hubness_section(report) -> str:
    rows, hubs = [], []
    k = None
    for ds, d in report.datasets.items():
        for m, md in d["models"].items():
            r = read_json(md["hubness"])
            k = r["k"]
            for v, e in r["variants"].items():
                if "skipped" in e:
                    continue
                scoring = read_json(md["metrics"][v]).get("scoring", "dot")
                if v != report.ref and scoring == "dot":
                    continue  # the reference and the scorings that fight hubness
                cells = []
                for d_ in DIRECTIONS:
                    s = e.get(d_, {})
                    cells += (
                        ["–", "–", "–"]
                        if "skipped" in s or not s
                        else [fmt(s["skewness"]), fmt(s["antihub_share"]), fmt(s["top1pct_share"])]
                    )
                rows.append([ds, m, v, scoring, fmt(e["t2v_R@1"]), *cells])
            ref = r["variants"].get(report.ref, {}).get("t2v", {})
            for h in ref.get("hubs", [])[:3]:
                hubs.append([ds, m, h["id"], h["occurrences"], h["caption"][:80]])
    if not rows:
        return ""
    out = [
        "## Hubness",
        f"N_k of an item: the queries whose top k = {k} include it (ties against the item). "
        "Skewness of N_k (Radovanović et al. 2010; above "
        f"{HIGH_SKEW} counts as high), share of antihubs (N_k = 0), and the share of all "
        "k-occurrences held by the top 1 % of items, for the reference variant and the "
        "scorings designed against hubs (docs/definitions.md):",
        table(
            ["Dataset", "Model", "Variant", "Scoring", "t2v R@1"]
            + [f"{label} {s}" for label in ("t2v", "v2t") for s in ("skew", "antihubs", "top 1 %")],
            rows,
        ),
    ]
    if hubs:
        out.append(
            f"Strongest text→video hubs of `{report.ref}` (videos in the top {k} of most "
            "captions), with one of their captions:\n\n"
            + table(["Dataset", "Model", "Video", "N_k", "A caption"], hubs)
        )
    return "\n\n".join(out)


def hubness_diagnostics(ds: str, m: str, r: dict) -> list[str]:
    """A hub-ridden space (text→video skewness above HIGH_SKEW on a variant above chance,
    R@1 > 3/N) that a scoring designed against hubs (HUB_FIGHTERS) of the same model
    lowers while R@1 rises."""
    ranked = [
        (v, e)
        for v, e in r["variants"].items()
        if "skewness" in e.get("t2v", {})
        and e["t2v_R@1"] is not None
        and e["t2v_R@1"] > 3 / e["n_videos"]
    ]
    if not ranked:
        return []
    v0, e0 = max(ranked, key=lambda ve: ve[1]["t2v"]["skewness"])
    skew = e0["t2v"]["skewness"]
    gains = [
        (v, e)
        for v, e in ranked
        if e.get("scoring") in HUB_FIGHTERS
        and e["t2v"]["skewness"] < skew
        and e["t2v_R@1"] > e0["t2v_R@1"]
    ]
    if skew <= HIGH_SKEW or not gains:
        return []
    v1, e1 = max(gains, key=lambda ve: ve[1]["t2v_R@1"])
    return [
        f"**{ds} / {m}**: hubs crowd the text→video rankings of `{v0}` (skewness of "
        f"N_{r['k']} {skew:.2f} > {HIGH_SKEW}; the top 1 % of videos hold "
        f"{e0['t2v']['top1pct_share']:.0%} of the top-{r['k']} places), and `{v1}` lowers "
        f"it to {e1['t2v']['skewness']:.2f} while text→video R@1 rises from "
        f"{e0['t2v_R@1']:.2f} to {e1['t2v_R@1']:.2f}."
    ]


def _skipped(r: dict) -> list[tuple[str, str]]:
    rows = []
    for v, e in r["variants"].items():
        for d, label in DIRECTIONS.items():
            if "skipped" in e.get(d, {}):
                rows.append((f"hubness ({v}, {label})", e[d]["skipped"]))
    return rows


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    hubness_file(
        inputs["variants"],
        inputs["metrics"],
        inputs["captions"],
        outputs["hubness"],
        split=config["evaluation"]["split"],
        k=max(config["evaluation"]["ks"]),
    )


ANALYSIS = Analysis(
    name="hubness",
    outputs={"hubness": "results/hubness/{dataset}/{model}.json"},
    inputs={
        "variants": Input("transform", "embeddings", each=("variant",)),
        "metrics": Input("retrieval", "metrics", each=("variant",)),
        "captions": Input("download", "captions"),
    },
    run=_run,
    config_keys=("evaluation.split", "evaluation.ks"),
    metrics=("hubness",),
    section=hubness_section,
    order=35,
    diagnostics=hubness_diagnostics,
    skipped=_skipped,
)
