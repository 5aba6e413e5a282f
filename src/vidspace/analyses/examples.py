"""Retrieval examples: what comes back for chosen queries of the reference variant.

Text→video: the captions whose true video ranks best, at the median and worst (by the
retrieval stage's rank, ties by caption order), and a few more drawn at random (seeded);
each with its top-k videos as thumbnails (the middle stored frame of each clip) and the
true video marked with its rank. Video→text likewise, with each chosen video's top-k
captions as text. Definitions: docs/definitions.md ("Retrieval examples").
"""

from __future__ import annotations

import textwrap

import numpy as np

from vidspace.analyses import Analysis, Figure, Input, skipped_whole
from vidspace.core.io import load_npz, read_json, read_table, write_json
from vidspace.report.markdown import rel, table

K = 5
RANDOM = 2  # random queries beside best, median and worst


def pick(ranks: np.ndarray, n_random: int, seed: int) -> list[tuple[str, int]]:
    """(label, row) of the best, median and worst ranked queries (stable order: ties by
    row), then ``n_random`` others drawn with ``seed``."""
    order = np.argsort(ranks, kind="stable")
    chosen = [
        ("best", int(order[0])),
        ("median", int(order[len(order) // 2])),
        ("worst", int(order[-1])),
    ]
    seen: set[int] = set()
    picked = []
    for label, row in chosen:
        if row not in seen:
            picked.append((label, row))
            seen.add(row)
    rest = np.array([r for r in range(len(ranks)) if r not in seen], np.int64)
    if rest.size and n_random:
        draws = np.random.default_rng(seed).choice(rest, min(n_random, rest.size), replace=False)
        picked += [("random", int(r)) for r in sorted(draws)]
    return picked


def examples_file(
    variant_path: str,
    ranks_path: str,
    captions_path: str,
    embedding_meta: str,
    out_path: str,
    split: str,
    seed: int,
) -> dict:
    """The examples stage (module docstring): the chosen queries with their top-K; the
    frame store they are drawn from is the embedding's (its sidecar, ``embedding_meta``)."""
    from vidspace.analyses.hubness import ranked_first, variant_scores

    result: dict = {"source": str(variant_path), "k": K}
    ranks = load_npz(ranks_path)
    scored = None if "skipped" in ranks else variant_scores(variant_path, split)
    if scored is None:
        result["skipped"] = "nothing ranked (the reference variant was skipped, or video only)"
        write_json(out_path, result)
        return result
    sub = scored.sub
    if list(map(str, ranks["text_ids"])) != list(map(str, sub["text_ids"])):
        raise ValueError(f"{ranks_path} ranks other captions than {variant_path}: rerun retrieval")
    captions = read_table(captions_path)
    text_of = dict(zip(captions["caption_id"], captions["caption"], strict=True))
    video_ids, text_ids = np.asarray(sub["video_ids"]), np.asarray(sub["text_ids"])
    index = np.asarray(sub["text_video_index"])
    result["frames"] = read_json(embedding_meta).get("frames")
    # each list as the retrieval stage orders it (a rescore variant re-ranked, ties against
    # the model), so the true item's place in it is its rank; scores as the variant shows
    result["t2v"] = []
    for label, i in pick(ranks["t2v"], RANDOM, seed):
        top = ranked_first(scored.t2v[i], np.arange(len(video_ids)) == index[i], K)
        result["t2v"].append(
            {
                "label": label,
                "caption_id": str(text_ids[i]),
                "caption": str(text_of.get(text_ids[i], "")),
                "true_video": str(video_ids[index[i]]),
                "rank": int(ranks["t2v"][i]),
                "top": [
                    {"video_id": str(video_ids[j]), "score": float(scored.t2v_shown[i, j])}
                    for j in top
                ],
            }
        )
    query_rows = {str(v): r for r, v in enumerate(video_ids)}
    result["v2t"] = []
    for label, q in pick(ranks["v2t"], RANDOM, seed):
        j = query_rows[str(ranks["video_ids"][q])]
        top = ranked_first(scored.v2t[:, j], index == j, K)
        result["v2t"].append(
            {
                "label": label,
                "video_id": str(video_ids[j]),
                "rank": int(ranks["v2t"][q]),
                "top": [
                    {
                        "caption_id": str(text_ids[c]),
                        "caption": str(text_of.get(text_ids[c], "")),
                        "own": bool(index[c] == j),
                        "score": float(scored.v2t_shown[c, j]),
                    }
                    for c in top
                ],
            }
        )
    write_json(out_path, result)
    return result


def thumbnails(frames_path: str, ids: set[str], side: int = 72) -> dict[str, np.ndarray]:
    """The middle stored frame of each clip in ``ids``, at most ``side`` pixels a side
    (strided, no interpolation); clips not in the store are absent."""
    from vidspace.frames.store import load_frames

    store, stored = load_frames(frames_path, mmap=True)
    out = {}
    for row, vid in enumerate(map(str, stored)):
        if vid in ids:
            clip = store.clip(row)
            frame = clip[clip.shape[0] // 2]
            step = max(1, int(np.ceil(max(frame.shape[:2]) / side)))
            out[vid] = np.ascontiguousarray(frame[::step, ::step])
    return out


def plot_examples(dataset: str, results: dict[str, str], out_png: str) -> None:
    """One block of rows per model: each chosen caption, then its top-K thumbnails; the
    true video framed in green (red title when it is not in the top K)."""
    from vidspace.report.figures import plt, save

    data = {m: read_json(p) for m, p in results.items()}
    shown = {m: r for m, r in data.items() if "skipped" not in r}
    rows = [(m, e) for m, r in shown.items() for e in r["t2v"]]
    if not rows:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.text(0.5, 0.5, "no model ranked any caption", ha="center", va="center")
        ax.set_axis_off()
        save(fig, out_png)
        return
    thumbs: dict[str, np.ndarray] = {}
    for r in shown.values():
        if r.get("frames"):
            ids = {t["video_id"] for e in r["t2v"] for t in e["top"]}
            try:
                thumbs |= thumbnails(r["frames"], ids - set(thumbs))
            except (OSError, ValueError):
                pass  # no thumbnails: placeholders below
    fig, axes = plt.subplots(
        len(rows),
        K + 1,
        figsize=(9.0, 1.35 * len(rows)),
        squeeze=False,
        gridspec_kw={"width_ratios": [2.6] + [1] * K},
    )
    for (m, e), ax_row in zip(rows, axes, strict=True):
        text = f"{m} · {e['label']} · true rank {e['rank']}\n" + textwrap.fill(e["caption"], 34)
        ax_row[0].text(0, 0.5, text, va="center", fontsize=7, wrap=True)
        ax_row[0].set_axis_off()
        for ax, t in zip(ax_row[1:], e["top"], strict=False):
            image = thumbs.get(t["video_id"])
            if image is None:
                ax.text(0.5, 0.5, "no frame", ha="center", va="center", fontsize=6)
            else:
                ax.imshow(image)
            own = t["video_id"] == e["true_video"]
            ax.set_title(
                f"{t['video_id'][-10:]}\n{t['score']:.2f}",
                fontsize=6,
                color="green" if own else "black",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("green" if own else "0.8")
                spine.set_linewidth(2.5 if own else 0.5)
    fig.suptitle(f"Text→video examples: {dataset} (top {K}; true video framed green)", fontsize=9)
    fig.tight_layout()
    save(fig, out_png)


def examples_section(report) -> str:
    out = ["## Retrieval examples"]
    for ds, d in report.datasets.items():
        if ds in report.plots.get("examples", {}):
            out.append(f"![examples_{ds}]({rel(report.plots['examples'][ds], report.report_dir)})")
        rows = []
        for m, md in d["models"].items():
            r = read_json(md["examples"])
            for e in r.get("v2t", []):
                top = "; ".join(
                    ("✓ " if t["own"] else "") + t["caption"][:50] for t in e["top"][:3]
                )
                rows.append([ds, m, e["label"], e["video_id"], e["rank"], top])
        if rows:
            out.append(
                f"Video→text examples (`{report.ref}`): each chosen video's first three "
                "captions (✓ its own):\n\n"
                + table(["Dataset", "Model", "Chosen", "Video", "Rank", "Top captions"], rows)
            )
    return "\n\n".join(out)


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    examples_file(
        inputs["variant"],
        inputs["ranks"],
        inputs["captions"],
        inputs["meta"],
        outputs["examples"],
        split=config["evaluation"]["split"],
        seed=config["seed"],
    )


ANALYSIS = Analysis(
    name="examples",
    outputs={"examples": "results/examples/{dataset}/{model}.json"},
    inputs={
        "variant": Input("transform", "embeddings", variant="reference"),
        "ranks": Input("retrieval", "ranks", variant="reference"),
        "captions": Input("download", "captions"),
        "meta": Input("embed", "meta"),
    },
    run=_run,
    config_keys=("evaluation.split", "seed"),
    section=examples_section,
    order=34,
    skipped=skipped_whole("examples"),
    figure=Figure(
        name="examples",
        path="results/plots/examples_{dataset}.png",
        caption="examples.rst",
        category="Retrieval",
        inputs={"results": Input("examples", "examples", each=("model",))},
        draw=lambda inputs, out, wildcards, config: plot_examples(
            wildcards["dataset"], inputs["results"], out
        ),
    ),
)
