"""Figures of the report: the shared way to save one, and the report's own figure
(retrieval against variant). Each analysis draws its own figures (``Analysis.figure``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vidspace.analyses import Figure, Input  # noqa: E402
from vidspace.core.io import atomic_path, read_json  # noqa: E402

logger = logging.getLogger(__name__)


def save(fig, out_png: str | Path) -> None:
    """Write ``fig`` to ``out_png`` atomically (120 dpi, tight) and close it."""
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_retrieval(
    dataset: str,
    metrics: Mapping[str, Mapping[str, str | Path]],
    out_png: str | Path,
    ks=(1, 5, 10),
) -> None:
    """R@K (the first cut-off) of every variant, text→video above and video→text below:
    variants are categories (grouped bars, one colour per model, never joined by lines),
    each bar with its 95 % bootstrap interval over videos. 900 px wide, for a page.

    ``metrics`` maps model -> variant -> metrics JSON; variants keep the given order; a
    skipped variant leaves its place empty.
    """
    k = ks[0]
    variants = list(dict.fromkeys(v for per_model in metrics.values() for v in per_model))
    results = {m: {v: read_json(p) for v, p in pm.items()} for m, pm in metrics.items()}
    shown = [m for m in results if any("t2v" in r for r in results[m].values())]
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 6.2), sharex=True, squeeze=False)
    width = 0.8 / max(1, len(shown))
    x = np.arange(len(variants))
    for ax, (direction, label) in zip(
        axes[:, 0], (("t2v", "text→video"), ("v2t", "video→text")), strict=True
    ):
        for i, model in enumerate(shown):
            values, low, high, at = [], [], [], []
            for j, v in enumerate(variants):
                r = results[model].get(v)
                if r is None or direction not in r:
                    continue
                value = r[direction][f"R@{k}"]
                lo, hi = r.get("ci95", {}).get(direction, {}).get(f"R@{k}", (value, value))
                values.append(value)
                low.append(value - lo)
                high.append(hi - value)
                at.append(j)
            offset = (i - (len(shown) - 1) / 2) * width
            ax.bar(
                x[at] + offset,
                values,
                width,
                yerr=[low, high],
                error_kw={"elinewidth": 0.8, "capsize": 1.5},
                color=f"C{i}",
                label=model,
            )
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"{label} R@{k}")
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0, 0].legend(fontsize=8, loc="upper right", ncol=max(1, len(shown)))
    axes[1, 0].set_xticks(x, variants, fontsize=8, rotation=45, ha="right")
    axes[1, 0].set_xlabel("variant (bytes per vector: see the report)")
    fig.suptitle(f"{dataset}: R@{k} of every variant, with 95 % intervals over videos")
    fig.tight_layout()
    save(fig, out_png)


def by_model(files: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``{"model/variant": path}`` as ``{model: {variant: path}}``, orders kept."""
    nested: dict[str, dict[str, str]] = {}
    for label, path in files.items():
        model, _, variant = label.partition("/")
        nested.setdefault(model, {})[variant] = path
    return nested


def _draw_retrieval(inputs: dict, out: str, wildcards: dict, config: dict) -> None:
    plot_retrieval(
        wildcards["dataset"], by_model(inputs["metrics"]), out, config["evaluation"]["ks"]
    )


FIGURES = (
    Figure(
        name="retrieval",
        path="results/plots/retrieval_{dataset}.png",
        caption="retrieval.rst",
        category="Retrieval",
        inputs={"metrics": Input("retrieval", "metrics", each=("model", "variant"))},
        draw=_draw_retrieval,
        config_keys=("evaluation.ks",),
        module=__name__,
    ),
)
