"""Quality against dimension: R@1 at a grid of reduced dimensions D' for PCA,
random projection and prefix truncation, and the minimal D' that keeps retrieval quality.

Each point is the variant the transform stage would write for ``{kind, dim: D'}`` (the
same :func:`~vidspace.variants.apply_variant`, fitted where that fits), ranked the way the
retrieval stage ranks it, so a point equals the metrics of the matching variant file.
The minimal D' of a method is the smallest grid D' from which on every larger grid point
keeps both directions' R@1 within ``epsilon`` (absolute) of the full dimension's; the
full dimension always qualifies, so a method that never gets there reports D.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vidspace.analyses import Analysis, Figure, Input
from vidspace.core.io import eval_rows, load_embeddings, read_json, subset_videos, write_json
from vidspace.core.linalg import l2_normalize
from vidspace.metrics.ranking import query_ranks, summarise_ranks
from vidspace.report.claims import CHANCE_FACTOR
from vidspace.report.markdown import fmt, rel, table
from vidspace.variants import DIMENSION_KINDS, apply_variant

logger = logging.getLogger(__name__)

DIRECTIONS = ("t2v", "v2t")


def recall_at_1(arrays: dict[str, np.ndarray], split: str) -> dict[str, float]:
    """Both directions' R@1 of embeddings on the evaluated split, as the retrieval stage
    computes them (L2-normalised rows, dot scores, ties against the model)."""
    sub = subset_videos(arrays, eval_rows(arrays, split))
    ranks = query_ranks(
        l2_normalize(sub["text_emb"]), l2_normalize(sub["video_emb"]), sub["text_video_index"]
    )
    return {d: summarise_ranks(ranks[d], [1], 1)["R@1"] for d in DIRECTIONS}


def _gallery(arrays: dict[str, np.ndarray], split: str) -> dict[str, int]:
    """How many videos and captions the evaluated split holds (no copy of the rows)."""
    evaluated = eval_rows(arrays, split)
    captions = evaluated[np.asarray(arrays["text_video_index"])]
    return {"n_videos": int(evaluated.sum()), "n_captions": int(captions.sum())}


def minimal_dim(points: Sequence[dict], full: dict[str, float], full_dim: int, epsilon: float):
    """The smallest D' from which on every point (sorted by dim) is within ``epsilon`` of
    ``full`` in both directions; ``full_dim`` when none is."""
    best = full_dim
    for point in sorted(points, key=lambda p: p["dim"], reverse=True):
        if all(point[d] >= full[d] - epsilon for d in DIRECTIONS):
            best = point["dim"]
        else:
            break
    return best


def dimension_curve(
    arrays: dict[str, np.ndarray],
    split: str,
    grid: Sequence[int],
    epsilon: float,
    methods: Sequence[str] = DIMENSION_KINDS,
    seed: int = 0,
) -> dict:
    """R@1 against D' for each method, and each method's minimal D' (module docstring)."""
    if epsilon < 0:
        raise ValueError(f"dimensions.epsilon must be >= 0, got {epsilon}")
    unknown = sorted(set(methods) - set(DIMENSION_KINDS))
    if unknown:
        raise ValueError(f"unknown dimension methods {unknown}; available: {DIMENSION_KINDS}")
    full_dim = int(arrays["video_emb"].shape[1])
    result: dict = {"dim": full_dim, "split": split, "epsilon": float(epsilon)}
    if "text_emb" not in arrays:
        result["skipped"] = "video-only embeddings: no text to retrieve"
        return result
    full = recall_at_1(apply_variant(arrays, {"kind": "float32"}, split)[0], split)
    result["full"] = full
    result.update(_gallery(arrays, split))
    usable = sorted({int(g) for g in grid if 0 < int(g) < full_dim})
    notes = []
    above = sorted({int(g) for g in grid if int(g) >= full_dim})
    if above:
        notes.append(f"grid D' {above} not below the dimension {full_dim}: skipped")
    curves = {}
    for method in methods:
        points = []
        for dim in usable:
            spec = {"kind": method, "dim": dim}
            if method in ("random_projection", "neural_mds"):
                spec["seed"] = int(seed)
            try:
                out, meta = apply_variant(arrays, spec, split)
            except ValueError as exc:  # a fit set smaller than D' (PCA)
                notes.append(f"{method} at D'={dim} skipped: {exc}")
                continue
            points.append({"dim": dim, **recall_at_1(out, split), "fits": meta["fits"]})
        curves[method] = {
            "points": points,
            "minimal_dim": minimal_dim(points, full, full_dim, epsilon),
        }
    result["methods"] = curves
    if notes:
        result["notes"] = notes
    return result


def dimensions_file(
    embeddings_path: str,
    out_path: str,
    split: str,
    grid: Sequence[int],
    epsilon: float,
    methods: Sequence[str],
    seed: int,
) -> dict:
    """The dimensions stage: :func:`dimension_curve` of one embedding file, as JSON."""
    result = dimension_curve(load_embeddings(embeddings_path), split, grid, epsilon, methods, seed)
    result = {"source": str(embeddings_path), **result}
    write_json(out_path, result)
    for method, curve in result.get("methods", {}).items():
        logger.info("%s: minimal D' %d of %d", method, curve["minimal_dim"], result["dim"])
    return result


METHOD_STYLES = {"pca": "-", "random_projection": "--", "prefix": ":"}


def plot_dimensions(dataset: str, curves: Mapping[str, str | Path], out_png: str | Path) -> None:
    """Text→video R@1 against reduced dimension D', one panel per model, one line per
    method; the full dimension's R@1 (dashed), the band within epsilon of it, and each
    method's minimal D' (marked). ``curves`` maps model -> dimensions JSON."""
    import matplotlib.ticker

    from vidspace.report.figures import plt, save

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
    save(fig, out_png)


def dimensions_section(report) -> str:
    """Minimal D' per model and method, and the R@1 it keeps."""
    datasets, plots, report_dir = report.datasets, report.plots, report.report_dir
    rows, headlines, notes = [], [], []
    methods: list[str] = []
    results = {}
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            if "dimensions" not in md:
                continue
            r = read_json(md["dimensions"])
            results[(ds, m)] = r
            methods += [k for k in r.get("methods", {}) if k not in methods]
    if not results:
        return ""
    for (ds, m), r in results.items():
        if "skipped" in r:
            notes.append(f"- {ds} / {m}: {r['skipped']}")
            continue
        full = r["full"]
        cells = []
        for method in methods:
            curve = r["methods"].get(method)
            cells.append("–" if curve is None else str(curve["minimal_dim"]))
        rows.append([ds, m, r["dim"], f"{fmt(full['t2v'])} / {fmt(full['v2t'])}", *cells])
        headlines.append(f"- {dimension_headline(ds, m, r)}")
        notes += [f"- {ds} / {m}: {note}" for note in r.get("notes", [])]
    mds_rows = _neural_mds_rows(datasets, results)
    out = [
        "## Quality against dimension",
        "Minimal D′: the smallest grid dimension from which on every larger one keeps both "
        "directions' R@1 within ε (absolute) of the full dimension, for PCA (fitted on the "
        "train split where one is disjoint), random projection and prefix truncation; D "
        "when none does. Each point equals the metrics of the matching variant.",
        "\n".join(headlines),
        table(["Dataset", "Model", "D", "R@1 full (t2v / v2t)", *methods], rows),
    ]
    if mds_rows:
        out.append(
            "Neural MDS (docs/definitions.md; a network initialised at PCA of the train videos and "
            "captions, trained to keep their distances, isometric, or their order, "
            "isotonic) beside PCA at the same D′, R@1 text→video / video→text:\n\n"
            + table(
                ["Dataset", "Model", "Variant", "Loss", "D′", "Neural MDS", "PCA", "Loss fitted"],
                mds_rows,
            )
        )
    for ds, path in plots.get("dimensions", {}).items():
        out.append(f"![{ds}_dimensions]({rel(path, report_dir)})")
    if notes:
        out.append("Skipped:\n\n" + "\n".join(notes))
    return "\n\n".join(o for o in out if o)


def _neural_mds_rows(datasets: dict, curves: dict) -> list[list]:
    """Each neural_mds variant's R@1 beside PCA's at its D': the dimensions stage's PCA
    point, else a pca variant of that dimension."""
    rows = []
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            results = {v: read_json(path) for v, path in md["metrics"].items()}
            for v, r in results.items():
                if r.get("kind") != "neural_mds" or "skipped" in r:
                    continue
                pca = next(
                    (
                        p
                        for p in curves.get((ds, m), {})
                        .get("methods", {})
                        .get("pca", {})
                        .get("points", [])
                        if p["dim"] == r["dim"]
                    ),
                    None,
                )
                if pca is None:
                    same = [x for x in results.values() if x.get("kind") == "pca"]
                    match = next((x for x in same if x.get("dim") == r["dim"] and "t2v" in x), None)
                    pca = match and {d: match[d]["R@1"] for d in ("t2v", "v2t")}
                facts = r["neural_mds"]
                rows.append(
                    [
                        ds,
                        m,
                        v,
                        facts["loss"],
                        r["dim"],
                        f"{fmt(r['t2v']['R@1'])} / {fmt(r['v2t']['R@1'])}",
                        f"{fmt(pca['t2v'])} / {fmt(pca['v2t'])}" if pca else "–",
                        f"{facts['loss_before']:.4g} → {facts['loss_after']:.4g}",
                    ]
                )
    return rows


def dimension_headline(ds: str, m: str, r: dict) -> str:
    """One sentence on a dimensions file: the smallest minimal D' over the methods."""
    full = r["full"]
    method, curve = min(r["methods"].items(), key=lambda kv: kv[1]["minimal_dim"])
    point = next((p for p in curve["points"] if p["dim"] == curve["minimal_dim"]), None)
    chance = 1 / r["n_videos"]
    if full["t2v"] <= CHANCE_FACTOR * chance:
        return (
            f"**{ds} / {m}**: retrieval is at chance level (text→video R@1 "
            f"{full['t2v']:.2f}, 1/N = {chance:.3f}): a minimal D′ means nothing here."
        )
    if point is None:
        return (
            f"**{ds} / {m}**: no reduced dimension in the grid keeps both directions' R@1 "
            f"within ε = {r['epsilon']:g} of the full D = {r['dim']} ({full['t2v']:.2f} / "
            f"{full['v2t']:.2f}, text→video / video→text)."
        )
    return (
        f"**{ds} / {m}**: {method} keeps retrieval within ε = {r['epsilon']:g} from "
        f"D′ = {curve['minimal_dim']} of {r['dim']} (R@1 {point['t2v']:.2f} / "
        f"{point['v2t']:.2f} against {full['t2v']:.2f} / {full['v2t']:.2f}, "
        "text→video / video→text)."
    )


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    options = config["dimensions"]
    dimensions_file(
        inputs["embeddings"],
        outputs["dimensions"],
        split=config["evaluation"]["split"],
        grid=options["grid"],
        epsilon=options["epsilon"],
        methods=options["methods"],
        seed=config["seed"],
    )


ANALYSIS = Analysis(
    name="dimensions",
    outputs={"dimensions": "results/dimensions/{dataset}/{model}.json"},
    inputs={"embeddings": Input("embed", "embeddings")},
    run=_run,
    config_keys=("evaluation.split", "dimensions", "seed"),
    metrics=("dimensions",),
    section=dimensions_section,
    order=40,
    headline=dimension_headline,
    figure=Figure(
        name="dimensions",
        path="results/plots/dimensions_{dataset}.png",
        caption="dimensions.rst",
        category="Dimensions",
        inputs={"curves": Input("dimensions", "dimensions", each=("model",))},
        draw=lambda inputs, out, wildcards, config: plot_dimensions(
            wildcards["dataset"], inputs["curves"], out
        ),
    ),
)
