"""UMAP and t-SNE of each model's evaluated videos (the projections stage stores the
coordinates; the projection grid only draws them), coloured by category and, from the
clustering stage's labels, by cluster."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vidspace.analyses import Analysis, Figure, Input
from vidspace.core.io import (
    atomic_path,
    eval_rows,
    load_embeddings,
    load_npz,
    read_json,
    subset_videos,
    write_json,
)
from vidspace.core.linalg import l2_normalize
from vidspace.report.markdown import fmt, rel, table

logger = logging.getLogger(__name__)

METHODS = {"umap": "UMAP", "tsne": "t-SNE"}


MIN_PROJECTION_POINTS = 4
NEIGHBOURS = 5  # trustworthiness: the neighbourhood a map must keep
OVERSTATES = 0.25  # a map's category silhouette this far above the space's overstates it


def _project(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    n = x.shape[0]
    if n < MIN_PROJECTION_POINTS:
        raise ValueError(
            f"a {method} projection needs at least {MIN_PROJECTION_POINTS} points, got {n}"
        )
    if method == "umap":
        import umap

        return umap.UMAP(n_neighbors=min(15, n - 1), random_state=seed, n_jobs=1).fit_transform(x)
    from sklearn.manifold import TSNE

    return TSNE(
        n_components=2, perplexity=min(30.0, (n - 1) / 3), random_state=seed, init="pca"
    ).fit_transform(x)


def project_file(
    embeddings_path: str | Path,
    coordinates_path: str | Path,
    out_path: str | Path,
    split: str = "test",
    seed: int = 0,
) -> dict:
    """The projections stage: UMAP and t-SNE of one embedding file's evaluated videos
    (L2-normalised). ``coordinates_path`` (.npz) gets each video's id, category and its
    2-D coordinates per method; ``out_path`` (JSON) the scope, the count and each method
    skipped for too few points, with the reason."""
    arrays = load_embeddings(embeddings_path)
    scope = f"{split} split"
    if "split" not in arrays or not np.any(arrays["split"] != ""):
        scope = "all videos: no split"  # eval_rows falls back to every row
    arrays = subset_videos(arrays, eval_rows(arrays, split))
    x = l2_normalize(arrays["video_emb"])
    cats = arrays.get("categories", np.full(x.shape[0], ""))
    coordinates = {"video_ids": np.asarray(arrays["video_ids"]), "categories": np.asarray(cats)}
    result: dict = {"source": str(embeddings_path), "scope": scope, "n_videos": int(x.shape[0])}
    for method in METHODS:
        if x.shape[0] < MIN_PROJECTION_POINTS:
            reason = (
                f"{x.shape[0]} videos evaluated; a projection needs at least "
                f"{MIN_PROJECTION_POINTS}"
            )
            result.setdefault("skipped", {})[method] = reason
            logger.warning("%s %s projection skipped: %s", embeddings_path, method, reason)
            continue
        coordinates[method] = _project(x, method, seed)
        result.setdefault("faithfulness", {})[method] = _faithfulness(x, coordinates[method], cats)
    result["joint"] = _joint(arrays, x, coordinates, seed)
    with atomic_path(coordinates_path, suffix=".npz") as tmp:
        np.savez(tmp, **coordinates)
    write_json(out_path, result)
    return result


def _joint(arrays: dict, x: np.ndarray, coordinates: dict, seed: int) -> dict:
    """A t-SNE of the videos and their captions together (the first caption of each video
    that has one, by caption order), stored as ``joint_tsne`` (videos' rows, then the
    captions'), ``joint_text_ids`` and ``joint_text_videos`` (each caption's video row):
    where a category's captions sit beside its videos (the explorer shows it). Returns the
    count, or why there is none."""
    if "text_emb" not in arrays:
        return {"skipped": "video-only embeddings: no captions to place"}
    videos, first = np.unique(arrays["text_video_index"], return_index=True)
    n = x.shape[0] + first.size
    if n < MIN_PROJECTION_POINTS:
        return {"skipped": f"{n} videos and captions; a projection needs {MIN_PROJECTION_POINTS}"}
    text = l2_normalize(arrays["text_emb"][first])
    coordinates["joint_tsne"] = _project(np.vstack([x, text]), "tsne", seed)
    coordinates["joint_text_ids"] = np.asarray(arrays["text_ids"])[first]
    coordinates["joint_text_videos"] = videos  # each caption's video row (some have none)
    return {"method": "tsne", "n_videos": int(x.shape[0]), "n_captions": int(first.size)}


def _faithfulness(x: np.ndarray, xy: np.ndarray, cats: np.ndarray) -> dict:
    """How far a 2-D map can be read as the space: trustworthiness (scikit-learn; 1 = every
    map neighbour a neighbour in the space) and the categories' silhouette in the space
    (cosine) and in the map (Euclidean), None where it is undefined."""
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_score

    n = x.shape[0]
    k = min(NEIGHBOURS, n // 2 - 1)
    out: dict = {"neighbours": k, "trustworthiness": None}
    if k >= 1:
        out["trustworthiness"] = float(trustworthiness(x, xy, n_neighbors=k, metric="cosine"))
    known = cats != ""
    found = np.unique(cats[known]).size
    ok = 2 <= found <= int(known.sum()) - 1
    out["category_silhouette"] = {
        "space": float(silhouette_score(x[known], cats[known], metric="cosine")) if ok else None,
        "map": float(silhouette_score(xy[known], cats[known])) if ok else None,
    }
    return out


def projection_diagnostics(ds: str, m: str, r: dict) -> list[str]:
    """A map that separates the categories far better than the space does is said to."""
    lines = []
    for method, f in r.get("faithfulness", {}).items():
        space, flat = f["category_silhouette"]["space"], f["category_silhouette"]["map"]
        if space is None or flat is None or r["n_videos"] < 30:
            continue
        if flat - space >= OVERSTATES:
            lines.append(
                f"**{ds} / {m}**: the {METHODS[method]} map separates the categories more "
                f"than the space does (silhouette {flat:.2f} in the map, {space:.2f} in the "
                f"space; trustworthiness {f['trustworthiness']:.2f}): read its clusters as "
                "neighbourhoods, not as distances."
            )
    return lines


def category_colour(index: int, count: int):
    """Well-separated hues for ``count`` categories: matplotlib's tab10 up to ten, else
    colorcet's glasbey (256 hues chosen to be told apart; repeats beyond that)."""
    if count <= 10:
        from vidspace.report.figures import plt

        return plt.get_cmap("tab10")(index)
    import colorcet

    return colorcet.glasbey[index % len(colorcet.glasbey)]


def plot_projection_grid(
    dataset: str,
    projections: Mapping[str, tuple[str | Path, str | Path]],
    out_png: str | Path,
    clusters: Mapping[str, str | Path] | None = None,
) -> None:
    """UMAP and t-SNE of each model's videos, coloured by category, one legend; with
    ``clusters`` (model -> the clustering stage's labels .npz) a third column shows the same
    t-SNE coloured by cluster (DEC where it ran, else k-means).

    ``projections`` maps a model to its projections stage's (JSON, coordinates .npz).
    Rows: models; columns: methods. A projection skipped for too few points shows why.
    """
    from vidspace.report.figures import plt, save

    models = list(projections)
    columns = 3 if clusters else 2
    fig, axes = plt.subplots(
        len(models), columns, figsize=(4 * columns, 3.6 * len(models)), squeeze=False
    )
    categories: list[str] = []
    handles = {}
    scopes = set()
    for row, model in enumerate(models):
        facts_path, coordinates_path = projections[model]
        facts = read_json(facts_path)
        scopes.add(facts["scope"])
        stored = load_npz(coordinates_path)
        cats = stored["categories"]
        for c in np.unique(cats):
            if c not in categories:
                categories.append(c)
        for col, (method, label) in enumerate(METHODS.items()):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{model}: {label}", fontsize=10)
            if method not in stored:
                if method == "tsne" and clusters:
                    axes[row, 2].set_axis_off()
                ax.text(
                    0.5,
                    0.5,
                    f"{label} skipped:\n{facts['skipped'][method]}",
                    ha="center",
                    va="center",
                    wrap=True,
                    fontsize=9,
                    transform=ax.transAxes,
                    color="0.35",
                )
                continue
            xy = stored[method]
            if method == "tsne" and clusters:
                _cluster_panel(axes[row, 2], model, xy, stored["video_ids"], clusters.get(model))
            for c in np.unique(cats):
                m = cats == c
                colour = category_colour(categories.index(c), len(categories))
                handles[c] = ax.scatter(
                    xy[m, 0],
                    xy[m, 1],
                    s=10,
                    color=colour,
                    label=c or "(none)",
                    alpha=0.85,
                    linewidths=0,
                )
    ordered = sorted(handles)
    if ordered:
        fig.legend(
            [handles[c] for c in ordered],
            [c or "(none)" for c in ordered],
            loc="lower center",
            ncol=min(8, len(ordered)),
            frameon=False,
            markerscale=2,
            bbox_to_anchor=(0.5, -0.01),
        )
    scope = "all videos: no split" if "all videos: no split" in scopes else scopes.pop()
    by = "by category" + (" (legend), and on the right by cluster" if clusters else "")
    fig.suptitle(f"{dataset}: video embeddings {by} ({scope})")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save(fig, out_png)


def _cluster_panel(ax, model: str, xy: np.ndarray, video_ids, labels_path) -> None:
    """The t-SNE points of ``model`` coloured by their cluster (DEC, else k-means), matched
    to the clustering stage's labels by video id."""
    ax.set_xticks([])
    ax.set_yticks([])
    found = {}
    if labels_path:
        found = load_npz(labels_path)
    method = "dec" if "dec" in found else "kmeans"
    if method not in found:
        ax.set_title(f"{model}: t-SNE by cluster", fontsize=10)
        ax.text(0.5, 0.5, "not clustered\n(see Skipped)", ha="center", va="center",
                transform=ax.transAxes, color="0.35", fontsize=9)  # fmt: skip
        return
    cluster_of = dict(zip(found["video_ids"].tolist(), found[method].tolist(), strict=True))
    ids = [str(v) for v in video_ids]
    known = np.array([v in cluster_of for v in ids])
    colours = np.array([cluster_of.get(v, -1) for v in ids])
    from vidspace.report.figures import plt

    cmap = plt.get_cmap("Dark2")  # not the categories' palette: clusters are not categories
    for c in np.unique(colours[known]):
        m = known & (colours == c)
        ax.scatter(xy[m, 0], xy[m, 1], s=10, color=cmap(int(c) % 8), alpha=0.85, linewidths=0)
    if (~known).any():  # videos without a category are not clustered
        ax.scatter(xy[~known, 0], xy[~known, 1], s=6, color="0.75", linewidths=0)
    name = "DEC" if method == "dec" else "k-means"
    ax.set_title(f"{model}: t-SNE by {name} cluster", fontsize=10)


def projection_section(report) -> str:
    out = ["## Projections (UMAP / t-SNE)"]
    rows = []
    for ds, d in report.datasets.items():
        for m, md in d["models"].items():
            r = read_json(md["projections"])
            for method, f in r.get("faithfulness", {}).items():
                sil = f["category_silhouette"]
                rows.append(
                    [
                        ds,
                        m,
                        METHODS[method],
                        r["n_videos"],
                        fmt(f["trustworthiness"]),
                        fmt(sil["space"]),
                        fmt(sil["map"]),
                    ]
                )
    if rows:
        out.append(
            "How far each map can be read as the space: trustworthiness (1 = the map's "
            f"{NEIGHBOURS} nearest neighbours of each video are its neighbours in the space "
            "too) and the categories' silhouette in the space (cosine) and in the map:\n\n"
            + table(
                [
                    "Dataset",
                    "Model",
                    "Map",
                    "Videos",
                    "Trustworthiness",
                    "Category silhouette, space",
                    "…, map",
                ],
                rows,
            )
        )
    for ds, path in report.plots.get("projections", {}).items():
        out.append(f"![{ds}_projections]({rel(path, report.report_dir)})")
    return "\n\n".join(out)


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    project_file(
        inputs["embeddings"],
        outputs["coordinates"],
        outputs["projections"],
        split=config["evaluation"]["split"],
        seed=config["seed"],
    )


def _draw(inputs: dict, out: str, wildcards: dict, config: dict) -> None:
    projections = {m: (path, inputs["coordinates"][m]) for m, path in inputs["projections"].items()}
    plot_projection_grid(wildcards["dataset"], projections, out, inputs["clusters"])


ANALYSIS = Analysis(
    name="projections",
    outputs={
        "projections": "results/projections/{dataset}/{model}.json",
        "coordinates": "results/projections/{dataset}/{model}.npz",
    },
    inputs={"embeddings": Input("embed", "embeddings")},
    run=_run,
    config_keys=("evaluation.split", "seed"),
    section=projection_section,
    diagnostics=projection_diagnostics,
    order=70,
    skipped=lambda result: [
        (f"{method} projection", reason) for method, reason in result.get("skipped", {}).items()
    ],
    figure=Figure(
        name="projections",
        path="results/plots/grids/{dataset}_projections.png",
        caption="projections.rst",
        category="Projections",
        inputs={
            "projections": Input("projections", "projections", each=("model",)),
            "coordinates": Input("projections", "coordinates", each=("model",)),
            "clusters": Input("clustering", "labels", each=("model",)),
        },
        draw=_draw,
    ),
)
