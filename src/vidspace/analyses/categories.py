"""Per-category retrieval: R@1 of each category's queries in both directions, with a
cluster-bootstrap interval over that category's videos, from the reference variant's
per-query ranks (the retrieval stage's, so nothing is ranked twice). The gallery stays
the whole evaluated set: a category's R@1 says how often its captions find their own
video among all videos (and its videos their captions among all captions).
Definitions: docs/definitions.md ("Per-category retrieval").
"""

from __future__ import annotations

import numpy as np

from vidspace.analyses import Analysis, Figure, Input, skipped_whole
from vidspace.core.io import load_npz, read_json, read_table, write_json
from vidspace.report.claims import CHANCE_FACTOR
from vidspace.report.markdown import rel, table

DIRECTIONS = {"t2v": "text→video", "v2t": "video→text"}


def category_recall(
    ranks_path: str, manifest_path: str, out_path: str, bootstrap: int, seed: int
) -> dict:
    """The categories stage (module docstring); skipped with its reason when the evaluated
    videos have no categories or only one."""
    from vidspace.metrics.statistics import bootstrap_ci

    ranks = load_npz(ranks_path)
    result: dict = {"source": str(ranks_path)}
    if "skipped" in ranks:
        result["skipped"] = f"retrieval skipped: {ranks['skipped']}"
        write_json(out_path, result)
        return result
    manifest = read_table(manifest_path)
    category_of = dict(zip(manifest["video_id"], manifest["category"].fillna(""), strict=True))
    videos = np.asarray(ranks["video_ids"])
    cats = np.array([str(category_of.get(v, "")) for v in videos])
    found = sorted(set(map(str, cats)) - {""})
    if not found:
        result["skipped"] = "the evaluated videos have no categories"
    elif len(found) == 1:
        result["skipped"] = f"only one category ({found[0]!r}): nothing to compare"
    if "skipped" in result:
        write_json(out_path, result)
        return result
    caption_video = np.asarray(ranks["text_video"])  # each caption's row among the videos
    per: dict = {}
    for c in found:
        in_c = cats == c
        captions = in_c[caption_video]
        entry = {"videos": int(in_c.sum()), "captions": int(captions.sum())}
        hits = {"t2v": ranks["t2v"][captions] <= 1, "v2t": ranks["v2t"][in_c] <= 1}
        clusters = {"t2v": caption_video[captions], "v2t": None}
        for d in DIRECTIONS:
            entry[d] = {"R@1": float(np.mean(hits[d])) if hits[d].size else None}
            if bootstrap and hits[d].size:
                entry[d]["ci95"] = list(
                    bootstrap_ci(hits[d], bootstrap, seed, clusters=clusters[d])
                )
        per[c] = entry
    result["categories"] = per
    result["n_videos"] = int(videos.size)
    result["t2v_R@1"] = float(np.mean(ranks["t2v"] <= 1))
    result["uncategorised_videos"] = int(np.sum(cats == ""))
    result["bootstrap_resamples"] = int(bootstrap)
    write_json(out_path, result)
    return result


def _ci(e: dict) -> str:
    ci = e.get("ci95")
    return f"{e['R@1']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{e['R@1']:.2f}"


def categories_section(report) -> str:
    out = ["## Retrieval by category"]
    for ds, d in report.datasets.items():
        results = {m: read_json(md["categories"]) for m, md in d["models"].items()}
        ranked = {m: r for m, r in results.items() if "skipped" not in r}
        if not ranked:
            reasons = sorted({r["skipped"] for r in results.values()})
            out.append(f"**{ds}**: skipped: {'; '.join(reasons)}.")
            continue
        cats = list(next(iter(ranked.values()))["categories"])
        rows = [
            [c, next(iter(ranked.values()))["categories"][c]["videos"]]
            + [_ci(r["categories"][c][d]) for r in ranked.values() for d in DIRECTIONS]
            for c in cats
        ]
        heads = [f"{m} {label} R@1" for m in ranked for label in ("t2v", "v2t")]
        out.append(
            f"**{ds}** (reference variant `{report.ref}`; each category's queries against "
            "the whole gallery; 95 % intervals over the category's videos):\n\n"
            + table(["Category", "Videos", *heads], rows)
        )
        if ds in report.plots.get("categories", {}):
            out.append(
                f"![categories_{ds}]({rel(report.plots['categories'][ds], report.report_dir)})"
            )
    return "\n\n".join(out)


def categories_diagnostics(ds: str, m: str, r: dict) -> list[str]:
    """For a model above chance (text→video R@1 > 3/N overall), the weakest category when
    its interval lies below the best one's."""
    if "skipped" in r or not r["t2v_R@1"] > CHANCE_FACTOR / r["n_videos"]:
        return []
    per = {c: e["t2v"] for c, e in r["categories"].items() if e["t2v"].get("ci95")}
    if len(per) < 2:
        return []
    worst = min(per, key=lambda c: (per[c]["R@1"], c))
    best = max(per, key=lambda c: (per[c]["R@1"], c))
    if per[worst]["ci95"][1] >= per[best]["ci95"][0]:
        return []
    below = sorted(c for c in per if per[c]["ci95"][1] < per[best]["ci95"][0])
    return [
        (
            f"**{ds} / {m}**: the weakest category is `{worst}`, text→video R@1 {_ci(per[worst])} "
            f"against `{best}` at {_ci(per[best])}; the intervals of {len(below)} of "
            f"{len(per)} categories lie below the best's ({', '.join(f'`{c}`' for c in below)})."
        )
    ]


def plot_categories(dataset: str, results: dict[str, str], out_png: str) -> None:
    """Sorted bars of text→video R@1 per category with their intervals, one panel per
    model (the categories in each panel's own order)."""
    from vidspace.report.figures import plt, save

    data = {m: read_json(p) for m, p in results.items()}
    shown = {m: r for m, r in data.items() if "skipped" not in r}
    fig, axes = plt.subplots(
        1, max(1, len(shown)), figsize=(min(9.0, 3.2 * max(1, len(shown))), 3.8), squeeze=False
    )
    for ax, (m, r) in zip(axes[0], shown.items(), strict=False):
        per = sorted(r["categories"].items(), key=lambda ce: ce[1]["t2v"]["R@1"] or 0)
        names = [c for c, _ in per]
        values = np.array([e["t2v"]["R@1"] or 0 for _, e in per])
        cis = [e["t2v"].get("ci95", [v, v]) for (_, e), v in zip(per, values, strict=True)]
        err = np.array(
            [
                [v - lo for v, (lo, _) in zip(values, cis, strict=True)],
                [hi - v for v, (_, hi) in zip(values, cis, strict=True)],
            ]
        )
        ax.barh(names, values, xerr=err, color="tab:blue", alpha=0.8, capsize=2)
        ax.set_xlim(0, 1)
        ax.set_xlabel("text→video R@1")
        ax.set_title(m, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no categories to compare", ha="center", va="center")
        axes[0, 0].set_axis_off()
    fig.suptitle(
        f"Retrieval by category: {dataset} (95 % intervals over each category's videos)",
        fontsize=10,
    )
    fig.tight_layout()
    save(fig, out_png)


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    category_recall(
        inputs["ranks"],
        inputs["manifest"],
        outputs["categories"],
        bootstrap=config["evaluation"]["bootstrap"],
        seed=config["seed"],
    )


ANALYSIS = Analysis(
    name="categories",
    outputs={"categories": "results/categories/{dataset}/{model}.json"},
    inputs={
        "ranks": Input("retrieval", "ranks", variant="reference"),
        "manifest": Input("download", "manifest"),
    },
    run=_run,
    config_keys=("evaluation.bootstrap", "seed"),
    metrics=("categories",),
    section=categories_section,
    order=32,
    diagnostics=categories_diagnostics,
    skipped=skipped_whole("categories"),
    figure=Figure(
        name="categories",
        path="results/plots/categories_{dataset}.png",
        caption="categories.rst",
        category="Retrieval",
        inputs={"results": Input("categories", "categories", each=("model",))},
        draw=lambda inputs, out, wildcards, config: plot_categories(
            wildcards["dataset"], inputs["results"], out
        ),
    ),
)
