"""Figures of the report: the shared way to save one, and the report's own figure
(retrieval against variant). Each analysis draws its own figures (``Analysis.figure``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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
