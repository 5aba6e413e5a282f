"""Temporal pooling and multi-grained scoring over stored per-frame embeddings (SUMA,
arXiv 2302.09473; CRET, Ji et al.), at no re-embedding cost.

For one embedding file with ``frame_emb``:

- pooling: R@1 of the video rows pooled again from the frames (mean, max, middle frame),
  each the variant ``{kind: float32, pooling: P}`` the transform stage writes;
- multi-grained: R@1 of S = S_g + beta S_l (:class:`~vidspace.metrics.scoring.MultiGrained`)
  at every beta of a grid, on a selection split and on the evaluated split. The beta with
  the best mean R@1 of both directions on the selection split (the val split, else the
  train split, when it shares no video with the evaluated one; the smallest beta among
  ties) is the one applied to the evaluated split, so nothing is tuned on what is
  reported; its effect against beta = 0 gets the paired bootstrap over videos.

Each point is ranked as the retrieval stage ranks the variant ``{kind: float32, scoring:
multi_grained, beta: B, ...}``, so it equals that variant's metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vidspace.analyses import Analysis, Figure, Input
from vidspace.core.io import (
    eval_rows,
    load_embeddings,
    load_sidecar,
    read_json,
    subset_videos,
    write_json,
)
from vidspace.core.linalg import POOLINGS, l2_normalize
from vidspace.metrics.ranking import query_ranks
from vidspace.metrics.scoring import MultiGrained
from vidspace.metrics.statistics import paired_bootstrap
from vidspace.report.claims import overfit_sentence, overfits, p_text
from vidspace.report.markdown import fmt, rel, table
from vidspace.variants import NO_FRAMES, TRANSDUCTIVE, apply_variant

logger = logging.getLogger(__name__)

DIRECTIONS = ("t2v", "v2t")
SELECTION_SPLITS = ("val", "train")


def selection_rows(arrays: dict[str, np.ndarray], split: str) -> tuple[np.ndarray, str]:
    """The videos beta is chosen on: the val split, else the train split, when it has
    videos and captions and shares no video with the evaluated ``split``; otherwise the
    evaluated videos themselves (labelled transductive)."""
    evaluated = eval_rows(arrays, split)
    if "split" in arrays:
        splits = np.asarray(arrays["split"])
        for name in SELECTION_SPLITS:
            rows = splits == name
            has_captions = rows[np.asarray(arrays["text_video_index"])].any()
            if rows.sum() >= 2 and has_captions and not (rows & evaluated).any():
                return rows, name
    return evaluated, TRANSDUCTIVE


def first_ranks(arrays: dict, rows: np.ndarray, multi: dict | None = None) -> dict:
    """Rank of the first relevant item of every query on the videos ``rows``: t2v per
    caption, v2t per video, and each caption's video (the bootstrap's clusters). ``multi``:
    the multi-grained settings (beta, aggregation, ...), scored on the subset's frames."""
    sub = subset_videos(arrays, rows)
    scorer = MultiGrained.from_spec(sub["frame_emb"], multi) if multi is not None else None
    ranks = query_ranks(
        l2_normalize(sub["text_emb"]),
        l2_normalize(sub["video_emb"]),
        sub["text_video_index"],
        multi_grained=scorer,
    )
    return {
        "t2v": ranks["t2v"],
        "v2t": np.array([p[0] for p in ranks["v2t"]]),
        "clusters": np.searchsorted(ranks["v2t_queries"], sub["text_video_index"]),
    }


def _r1(ranks: dict) -> dict[str, float]:
    return {d: float(np.mean(ranks[d] <= 1)) for d in DIRECTIONS}


def temporal_analysis(
    arrays: dict[str, np.ndarray],
    split: str,
    betas: Sequence[float],
    aggregation: str = "max",
    top_k: int = 2,
    temperature: float = 0.1,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict:
    """Pooling comparison and beta sweep of one embedding file (module docstring)."""
    betas = sorted({0.0, *(float(b) for b in betas)})
    if betas[0] < 0 or not all(np.isfinite(betas)):
        raise ValueError(f"temporal.betas must be numbers >= 0, got {betas}")
    result: dict = {"split": split, "dim": int(arrays["video_emb"].shape[1])}
    if "text_emb" not in arrays:
        result["skipped"] = "video-only embeddings: no text to retrieve"
        return result
    if "frame_emb" not in arrays:
        result["skipped"] = NO_FRAMES
        return result
    settings = {"aggregation": aggregation}
    if aggregation == "topk":
        settings["top_k"] = int(top_k)
    if aggregation == "softmax":
        settings["temperature"] = float(temperature)
    MultiGrained.from_spec(arrays["frame_emb"][:1], {"beta": 0.0, **settings})  # checks them
    evaluated = eval_rows(arrays, split)
    result.update(
        n_videos=int(evaluated.sum()),
        frames_per_video=int(arrays["frame_emb"].shape[1]),
        multi_grained=settings,
    )
    pooling = {}
    for name in POOLINGS:
        pooled, _ = apply_variant(arrays, {"kind": "float32", "pooling": name}, split)
        pooling[name] = _r1(first_ranks(pooled, evaluated))
    result["pooling"] = pooling

    spec = {"kind": "float32", "scoring": "multi_grained", **settings}
    scored, _ = apply_variant(arrays, spec, split)
    chosen_rows, chosen_on = selection_rows(arrays, split)
    result["chosen_on"] = chosen_on
    sweep, evaluated_ranks = [], {}
    for beta in betas:
        multi = {"beta": beta, **settings}
        ranks = first_ranks(scored, evaluated, multi)
        evaluated_ranks[beta] = ranks
        point = {"beta": beta, "evaluated": _r1(ranks)}
        if chosen_on != TRANSDUCTIVE:
            point["selection"] = _r1(first_ranks(scored, chosen_rows, multi))
        sweep.append(point)
    result["sweep"] = sweep
    key = "selection" if chosen_on != TRANSDUCTIVE else "evaluated"
    best = max(sweep, key=lambda p: (np.mean([p[key][d] for d in DIRECTIONS]), -p["beta"]))
    result["best_beta"] = best["beta"]
    result["best"] = best["evaluated"]
    result["plain"] = sweep[0]["evaluated"]  # beta = 0: the video score alone
    if bootstrap:
        a, b = evaluated_ranks[best["beta"]], evaluated_ranks[0.0]
        clusters = {"t2v": a["clusters"], "v2t": None}
        result["effect"] = {
            d: paired_bootstrap(a[d] <= 1, b[d] <= 1, bootstrap, seed, clusters[d])
            for d in DIRECTIONS
        }
        result["bootstrap_resamples"] = int(bootstrap)
    notes = []
    if chosen_on == TRANSDUCTIVE:
        notes.append(
            "no val or train split apart from the evaluated videos: beta was chosen on the "
            "evaluated videos themselves (transductive), so the gain it shows is optimistic"
        )
    if notes:
        result["notes"] = notes
    return result


def temporal_file(
    embeddings_path: str,
    out_path: str,
    split: str,
    betas: Sequence[float],
    aggregation: str,
    top_k: int,
    temperature: float,
    bootstrap: int,
    seed: int,
    meta_path: str | None = None,
) -> dict:
    """The temporal stage: :func:`temporal_analysis` of one embedding file, as JSON. A
    fit the model made on the train split (``aligned``) is recorded beside the choice."""
    arrays = load_embeddings(embeddings_path, frames=True)
    source = load_sidecar(embeddings_path, meta_path)
    result = temporal_analysis(
        arrays, split, betas, aggregation, top_k, temperature, bootstrap, seed
    )
    result = {"source": str(embeddings_path), **result}
    if "skipped" not in result and source.get("align_fit_on") == result["chosen_on"]:
        result.setdefault("notes", []).append(
            f"the model's alignment was fitted on the {result['chosen_on']} pairs beta is "
            "chosen on, which favours the video score S_g there"
        )
    if "skipped" in result:
        logger.info("%s: %s", embeddings_path, result["skipped"])
    write_json(out_path, result)
    if "best_beta" in result:
        logger.info(
            "best beta %g (on %s): t2v R@1 %.3f against %.3f at beta 0",
            result["best_beta"],
            result["chosen_on"],
            result["best"]["t2v"],
            result["plain"]["t2v"],
        )
    return result


def plot_temporal(dataset: str, sweeps: Mapping[str, str | Path], out_png: str | Path) -> None:
    """R@1 against beta of the multi-grained score, one panel per direction, one colour
    per model: the split beta is chosen on (dashed) and the evaluated split (solid), a star
    at the chosen beta with its paired-bootstrap interval against beta = 0 (a dotted line),
    so a zoomed axis cannot make a change the interval cannot tell from zero look large.
    ``sweeps`` maps model -> temporal JSON; skipped models are named."""
    from vidspace.report.figures import plt, save

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
            effect = r.get("effect", {}).get(direction)
            if effect:  # the chosen beta's 95 % paired interval against beta = 0 (dotted)
                plain = r["plain"][direction]
                lo, hi = effect["ci95"]
                ax.axhline(plain, color=color, linestyle=":", linewidth=1)
                ax.errorbar(
                    [r["best_beta"]],
                    [plain + effect["diff"]],
                    yerr=[[effect["diff"] - lo], [hi - effect["diff"]]],
                    color=color,
                    capsize=4,
                    linewidth=1.5,
                )
        ax.set_xlabel("β (S = S_g + β·S_l)")
        ax.set_ylabel(label)
        # the differences in question are small: a zoomed axis, with the interval drawn
        ax.margins(y=0.25)
        ax.grid(True, alpha=0.3)
    if shown:
        axes[0, 1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    skipped = sorted(m for m in results if m not in shown)
    if not shown:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "no model stores per-frame embeddings", ha="center")
    title = (
        f"{dataset}: multi-grained scoring against β (star: β chosen; bar: its 95 % paired "
        "interval against β = 0, dotted)"
    )
    if skipped:
        title += f"\nwithout per-frame embeddings: {', '.join(skipped)}"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save(fig, out_png)


def temporal_section(report) -> str:
    """Pooling again from the stored frames, and multi-grained scoring with beta chosen
    away from the evaluated split (definitions: docs/definitions.md)."""
    datasets, plots, report_dir = report.datasets, report.plots, report.report_dir
    rows, headlines, notes = [], [], []
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            if "temporal" not in md:
                continue
            r = read_json(md["temporal"])
            if "skipped" in r:
                notes.append(f"- {ds} / {m}: {r['skipped']}")
                continue
            pool = r["pooling"]
            rows.append(
                [
                    ds,
                    m,
                    *(f"{fmt(pool[p]['t2v'])} / {fmt(pool[p]['v2t'])}" for p in POOLINGS),
                    f"{r['best_beta']:g} ({r['chosen_on']})",
                    f"{fmt(r['best']['t2v'])} / {fmt(r['best']['v2t'])}",
                ]
            )
            headlines.append(f"- {temporal_headline(ds, m, r)}")
            notes += [f"- {ds} / {m}: {note}" for note in r.get("notes", [])]
    if not rows and not notes:
        return ""
    out = [
        "## Temporal pooling and multi-grained scoring",
        "R@1 (text→video / video→text) on the evaluated split of the video rows pooled "
        "again from the stored per-frame embeddings, and of the multi-grained score S = "
        "S_g + β·S_l (video score plus the aggregated caption–frame scores) at the β with "
        "the best R@1 on the split named beside it, never the evaluated one.",
        "\n".join(headlines),
        table(
            ["Dataset", "Model", *(f"{p} pooling" for p in POOLINGS), "β (chosen on)"]
            + ["multi-grained"],
            rows,
        )
        if rows
        else "",
    ]
    for ds, path in plots.get("temporal", {}).items():
        out.append(f"![{ds}_temporal]({rel(path, report_dir)})")
    if notes:
        out.append("Skipped or noted:\n\n" + "\n".join(notes))
    return "\n\n".join(o for o in out if o)


def temporal_headline(ds: str, m: str, r: dict) -> str:
    """One sentence on a temporal file: does multi-grained scoring help, at the beta chosen
    away from the evaluated split, with the paired test against beta = 0."""
    agg = r["multi_grained"]["aggregation"]
    how = {"max": "the best frame", "topk": "the mean of the top frames", "softmax": "a softmax"}
    where = (
        f"chosen on the {r['chosen_on']} split"
        if r["chosen_on"] in ("train", "val")
        else "chosen on the evaluated videos themselves"
    )
    plain, best = r["plain"]["t2v"], r["best"]["t2v"]
    lead = (
        f"**{ds} / {m}**: multi-grained scoring (video score + β × {how.get(agg, agg)} of "
        f"{r['frames_per_video']}; β = {r['best_beta']:g} {where})"
    )
    if r["best_beta"] == 0:
        return (
            f"{lead} does not help: no β > 0 beats the video score alone there; text→video "
            f"R@1 on {r['split']} stays {plain:.3f}."
        )
    # three digits: the differences in question are often below 0.01
    text = f"{lead} takes text→video R@1 on {r['split']} from {plain:.3f} to {best:.3f}"
    effect = r.get("effect", {}).get("t2v")
    if effect is None:
        return text + " (no paired test: bootstrap off)."
    lo, hi = effect["ci95"]
    if lo <= 0 <= hi:
        verdict = "a change the paired bootstrap cannot tell from zero"
    else:
        verdict = "a clear gain" if effect["diff"] > 0 else "a clear loss"
    return text + (
        f": {effect['diff']:+.3f} (95 % CI [{lo:.3f}, {hi:.3f}], "
        f"{p_text(effect, r['bootstrap_resamples'])}; paired bootstrap over videos), {verdict}."
    )


def temporal_diagnostics(ds: str, m: str, r: dict) -> list[str]:
    """A beta chosen on a split where R@1 is far above the evaluated split's (overfitting)."""
    if "skipped" in r or r.get("chosen_on") not in ("train", "val"):
        return []
    point = next(p for p in r["sweep"] if p["beta"] == r["best_beta"])
    chosen, evaluated = point["selection"]["t2v"], point["evaluated"]["t2v"]
    if not overfits(chosen, evaluated):
        return []
    return [
        overfit_sentence(
            f"**{ds} / {m}**",
            f"the multi-grained β choice (β = {r['best_beta']:g})",
            f"the {r['chosen_on']} videos β was chosen on",
            chosen,
            evaluated,
        )
    ]


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    options = config["temporal"]
    temporal_file(
        inputs["embeddings"],
        outputs["temporal"],
        split=config["evaluation"]["split"],
        betas=options["betas"],
        aggregation=options["aggregation"],
        top_k=options["top_k"],
        temperature=options["temperature"],
        bootstrap=config["evaluation"]["bootstrap"],
        seed=config["seed"],
        meta_path=inputs["meta"],
    )


ANALYSIS = Analysis(
    name="temporal",
    outputs={"temporal": "results/temporal/{dataset}/{model}.json"},
    inputs={"embeddings": Input("embed", "embeddings"), "meta": Input("embed", "meta")},
    run=_run,
    config_keys=("evaluation.split", "evaluation.bootstrap", "temporal", "seed"),
    metrics=("temporal",),
    section=temporal_section,
    order=50,
    headline=temporal_headline,
    diagnostics=temporal_diagnostics,
    figure=Figure(
        name="temporal",
        path="results/plots/temporal_{dataset}.png",
        caption="temporal.rst",
        category="Temporal",
        inputs={"sweeps": Input("temporal", "temporal", each=("model",))},
        draw=lambda inputs, out, wildcards, config: plot_temporal(
            wildcards["dataset"], inputs["sweeps"], out
        ),
    ),
)
