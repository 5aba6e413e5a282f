"""Figures of the report. Each function reads result files and writes one PNG atomically."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vidspace.core.io import (  # noqa: E402
    atomic_path,
    eval_rows,
    load_embeddings,
    read_json,
    subset_videos,
    write_json,
)
from vidspace.core.linalg import l2_normalize  # noqa: E402

logger = logging.getLogger(__name__)


def _save(fig, out_png: str | Path) -> None:
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_spectrum(model: str, spectra: Mapping[str, str | Path], out_png: str | Path) -> None:
    """Normalised singular values of one model on each dataset, video and text side by side.

    ``spectra`` maps a dataset name to its spectrum JSON.
    """
    results = {name: read_json(path) for name, path in spectra.items()}
    modalities = ["video"] + (["text"] if any("text" in r for r in results.values()) else [])
    fig, axes = plt.subplots(
        1, len(modalities), figsize=(5.2 * len(modalities), 3.8), squeeze=False
    )
    for ax, modality in zip(axes[0], modalities, strict=False):
        for name, r in results.items():
            if modality not in r:
                continue
            sv = np.asarray(r[modality]["singular_values"])
            sv = sv / sv[0]
            stats = r[modality]
            ax.plot(
                np.arange(1, sv.size + 1),
                np.maximum(sv, 1e-12),
                label=f"{name} (erank {stats['effective_rank']:.1f}, rank {stats['rank']})",
            )
        ax.set_yscale("log")
        ax.set_xscale("log")
        low = min((line.get_ydata().min() for line in ax.get_lines()), default=1e-3)
        ax.set_ylim(bottom=max(1e-9, min(1e-2, low / 3)), top=1.5)
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        ax.set_title(f"{modality} embeddings")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Singular value spectrum: {model}")
    fig.tight_layout()
    _save(fig, out_png)


MIN_PROJECTION_POINTS = 4


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


def plot_projection_grid(
    dataset: str,
    embeddings: Mapping[str, str | Path],
    out_png: str | Path,
    split: str = "test",
    seed: int = 0,
    notes_path: str | Path | None = None,
    clusters: Mapping[str, str | Path] | None = None,
) -> dict:
    """UMAP and t-SNE of each model's video embeddings, coloured by category, one legend;
    with ``clusters`` (model -> the clustering stage's labels .npz) a third column shows the
    same t-SNE coloured by cluster (DEC where it ran, else k-means).

    ``embeddings`` maps a model name to its embedding file. Rows: models; columns: methods.
    A projection with too few points is skipped: its panel says why, and so does the
    JSON at ``notes_path`` (``{"skipped": {model: {method: reason}}}``, read by the report).
    """
    skipped: dict[str, dict[str, str]] = {}
    scope = f"{split} split"
    models = list(embeddings)
    columns = 3 if clusters else 2
    fig, axes = plt.subplots(
        len(models), columns, figsize=(4 * columns, 3.6 * len(models)), squeeze=False
    )
    categories: list[str] = []
    cmap = plt.get_cmap("tab20")
    handles = {}
    for row, model in enumerate(models):
        arrays = load_embeddings(embeddings[model])
        if "split" not in arrays or not np.any(arrays["split"] != ""):
            scope = "all videos: no split"  # eval_rows falls back to every row
        arrays = subset_videos(arrays, eval_rows(arrays, split))
        x = l2_normalize(arrays["video_emb"])
        cats = arrays.get("categories", np.full(x.shape[0], ""))
        for c in np.unique(cats):
            if c not in categories:
                categories.append(c)
        for col, method in enumerate(("umap", "tsne")):
            ax = axes[row, col]
            label = "UMAP" if method == "umap" else "t-SNE"
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{model}: {label}", fontsize=10)
            if x.shape[0] < MIN_PROJECTION_POINTS:
                reason = (
                    f"{x.shape[0]} videos evaluated; "
                    f"a projection needs at least {MIN_PROJECTION_POINTS}"
                )
                skipped.setdefault(model, {})[method] = reason
                if method == "tsne" and clusters:
                    axes[row, 2].set_axis_off()
                ax.text(
                    0.5,
                    0.5,
                    f"{label} skipped:\n{reason}",
                    ha="center",
                    va="center",
                    wrap=True,
                    fontsize=9,
                    transform=ax.transAxes,
                    color="0.35",
                )
                continue
            xy = _project(x, method, seed)
            if method == "tsne" and clusters:
                _cluster_panel(axes[row, 2], model, xy, arrays["video_ids"], clusters.get(model))
            for c in np.unique(cats):
                m = cats == c
                colour = cmap(categories.index(c) % 20)
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
    by = "by category" + (" (legend), and on the right by cluster" if clusters else "")
    fig.suptitle(f"{dataset}: video embeddings {by} ({scope})")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, out_png)
    notes = {"skipped": skipped}
    if notes_path:
        write_json(notes_path, notes)
    for model, methods in skipped.items():
        for method, reason in methods.items():
            logger.warning("%s %s projection skipped: %s", model, method, reason)
    return notes


def _cluster_panel(ax, model: str, xy: np.ndarray, video_ids, labels_path) -> None:
    """The t-SNE points of ``model`` coloured by their cluster (DEC, else k-means), matched
    to the clustering stage's labels by video id."""
    ax.set_xticks([])
    ax.set_yticks([])
    found = {}
    if labels_path:
        with np.load(labels_path, allow_pickle=False) as data:
            found = {k: data[k] for k in data.files}
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
    cmap = plt.get_cmap("Dark2")  # not the categories' palette: clusters are not categories
    for c in np.unique(colours[known]):
        m = known & (colours == c)
        ax.scatter(xy[m, 0], xy[m, 1], s=10, color=cmap(int(c) % 8), alpha=0.85, linewidths=0)
    if (~known).any():  # videos without a category are not clustered
        ax.scatter(xy[~known, 0], xy[~known, 1], s=6, color="0.75", linewidths=0)
    name = "DEC" if method == "dec" else "k-means"
    ax.set_title(f"{model}: t-SNE by {name} cluster", fontsize=10)


def plot_retrieval(
    dataset: str,
    metrics: Mapping[str, Mapping[str, str | Path]],
    out_png: str | Path,
    ks=(1, 5, 10),
) -> None:
    """Text→video R@K against variant, one line per model.

    ``metrics`` maps model -> variant -> metrics JSON; variants keep the given order.
    """
    variants: list[str] = []
    for per_model in metrics.values():
        for v in per_model:
            if v not in variants:
                variants.append(v)
    width = max(4.2, 0.42 * len(variants))
    fig, axes = plt.subplots(1, len(ks), figsize=(width * len(ks), 4.0), squeeze=False)
    for model, per_model in metrics.items():
        results = {v: read_json(p) for v, p in per_model.items()}
        if all("skipped" in r for r in results.values()):
            continue
        for ax, k in zip(axes[0], ks, strict=False):
            xs, ys = [], []
            for i, v in enumerate(variants):
                r = results.get(v)
                if r is None or "skipped" in r:
                    continue
                xs.append(i)
                ys.append(r["t2v"][f"R@{k}"])
            # variants are categories: the thin line only guides the eye
            ax.plot(xs, ys, marker="o", linestyle=":", linewidth=0.8, label=model)
    for ax, k in zip(axes[0], ks, strict=False):
        ax.set_xticks(
            range(len(variants)),
            variants,
            fontsize=8,
            rotation=45,
            ha="right",
            rotation_mode="anchor",
        )
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"text→video R@{k}")
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("recall")
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{dataset}: retrieval against variant (bytes per vector: see the report)")
    fig.tight_layout()
    _save(fig, out_png)


METHOD_STYLES = {"pca": "-", "random_projection": "--", "prefix": ":"}


def plot_dimensions(dataset: str, curves: Mapping[str, str | Path], out_png: str | Path) -> None:
    """Text→video R@1 against reduced dimension D', one panel per model, one line per
    method; the full dimension's R@1 (dashed), the band within epsilon of it, and each
    method's minimal D' (marked). ``curves`` maps model -> dimensions JSON."""
    results = {m: read_json(p) for m, p in curves.items()}
    shown = {m: r for m, r in results.items() if "skipped" not in r}
    fig, axes = plt.subplots(
        1, max(1, len(shown)), figsize=(4.6 * max(1, len(shown)), 3.8), squeeze=False
    )
    for ax, (model, r) in zip(axes[0], shown.items(), strict=False):
        full, eps = r["full"]["t2v"], r["epsilon"]
        ax.axhspan(full - eps, full + eps, color="0.85", label=f"full ± ε ({eps:g})")
        ax.axhline(full, color="0.3", linestyle="--", linewidth=1, label=f"full D={r['dim']}")
        for i, (method, curve) in enumerate(r["methods"].items()):
            points = curve["points"]
            if not points:
                continue
            xs = [p["dim"] for p in points] + [r["dim"]]
            ys = [p["t2v"] for p in points] + [full]
            color = f"C{i}"
            ax.plot(
                xs,
                ys,
                METHOD_STYLES.get(method, "-"),
                marker="o",
                color=color,
                markersize=3,
                label=f"{method} (min D' {curve['minimal_dim']})",
            )
            at = xs.index(curve["minimal_dim"])
            ax.plot([xs[at]], [ys[at]], marker="*", markersize=12, color=color)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("dimension D'")
        ax.set_title(model)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[0, 0].set_ylabel("text→video R@1")
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no model with text: nothing to retrieve", ha="center")
        axes[0, 0].set_axis_off()
    fig.suptitle(f"{dataset}: retrieval against dimension (star: minimal D' within ε)")
    fig.tight_layout()
    _save(fig, out_png)


def plot_temporal(dataset: str, sweeps: Mapping[str, str | Path], out_png: str | Path) -> None:
    """R@1 against beta of the multi-grained score, one panel per direction, one colour
    per model: the split beta is chosen on (dashed) and the evaluated split (solid), a star
    at the chosen beta. ``sweeps`` maps model -> temporal JSON; skipped models are named."""
    results = {m: read_json(p) for m, p in sweeps.items()}
    shown = {m: r for m, r in results.items() if "skipped" not in r}
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.8), squeeze=False)
    for ax, (direction, label) in zip(
        axes[0], (("t2v", "text→video R@1"), ("v2t", "video→text R@1")), strict=True
    ):
        for i, (model, r) in enumerate(shown.items()):
            betas = [p["beta"] for p in r["sweep"]]
            color = f"C{i}"
            ax.plot(
                betas,
                [p["evaluated"][direction] for p in r["sweep"]],
                "-o",
                color=color,
                markersize=3,
                label=f"{model}: {r['split']}",
            )
            if "selection" in r["sweep"][0]:
                ax.plot(
                    betas,
                    [p["selection"][direction] for p in r["sweep"]],
                    "--",
                    color=color,
                    linewidth=1,
                    label=f"{model}: {r['chosen_on']} (choice)",
                )
            ax.plot([r["best_beta"]], [r["best"][direction]], "*", markersize=12, color=color)
        ax.set_xlabel("β (S = S_g + β·S_l)")
        ax.set_ylabel(label)
        ax.margins(y=0.25)  # the differences in question are small: not a 0-1 axis
        ax.grid(True, alpha=0.3)
    if shown:
        axes[0, 1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    skipped = sorted(m for m in results if m not in shown)
    if not shown:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "no model stores per-frame embeddings", ha="center")
    title = f"{dataset}: multi-grained scoring against β (star: β chosen)"
    if skipped:
        title += f"\nwithout per-frame embeddings: {', '.join(skipped)}"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, out_png)


def plot_pareto(
    dataset: str, metrics: Mapping[str, Mapping[str, str | Path]], out_png: str | Path
) -> None:
    """Text→video R@1 against bytes per vector (log scale) of every variant, one colour
    per model, the Pareto frontier of each model drawn through its undominated variants
    (``vidspace.analyses.cost.pareto_front``). ``metrics`` maps model -> variant -> metrics JSON;
    variants without a ranking (skipped) or with another scoring are left out."""
    from vidspace.analyses.cost import pareto_front

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    drawn = 0
    for i, (model, variants) in enumerate(metrics.items()):
        results = {v: read_json(p) for v, p in variants.items()}
        points = [
            (v, r["bytes_per_vector"], r["t2v"]["R@1"])
            for v, r in results.items()
            if "t2v" in r and r.get("scoring", "dot") == "dot" and r.get("bytes_per_vector")
        ]
        if not points:
            continue
        drawn += 1
        color = f"C{i}"
        xs = [p[1] for p in points]
        ys = [p[2] for p in points]
        ax.scatter(xs, ys, color=color, s=18, label=model, zorder=3)
        front = pareto_front([(p[1], p[2]) for p in points])
        ax.step(
            [points[j][1] for j in front],
            [points[j][2] for j in front],
            where="post",
            color=color,
            linewidth=1.2,
            alpha=0.8,
        )
        for j in front:
            name = points[j][0]
            if results[name].get("rescore"):  # its bytes are the codes'; floats are read too
                name += f" (+ floats of the top {results[name]['rescore']})"
            ax.annotate(
                name,
                (points[j][1], points[j][2]),
                textcoords="offset points",
                xytext=(3, 4),
                fontsize=7,
                color=color,
            )
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("bytes per vector (log scale)")
    ax.set_ylabel("text→video R@1")
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(
            0.5, 0.5, "no model with text: nothing to retrieve", ha="center", transform=ax.transAxes
        )
    ax.set_title(f"{dataset}: accuracy against bytes (line: Pareto frontier, labelled)")
    fig.tight_layout()
    _save(fig, out_png)
