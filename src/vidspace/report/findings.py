"""The report's Findings: conclusions stated as sentences, each with the figure it rests on.

Every rule and threshold here is written out in docs/definitions.md ("Findings"); the
sentences read the same result files the tables do, through the report's index.
"""

from __future__ import annotations

from vidspace.analyses import registry
from vidspace.core.io import read_json
from vidspace.report.claims import (
    CHANCE_FACTOR,
    at_chance,
    conclusive,
    overfit_sentence,
    overfits,
    p_text,
)

NMDS_OVERFIT = 2.0  # neural MDS: loss on the evaluated rows this many times the fitted rows
MIN_VIDEOS = 3  # fewer evaluated videos: too little to evaluate at all
FEW_VIDEOS = 30  # below: a dataset too small to conclude is said to be so, not at chance


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _ci(r: dict, direction: str) -> str:
    ci = r.get("ci95", {}).get(direction, {}).get("R@1")
    return f" [{_f(ci[0])}, {_f(ci[1])}]" if ci else ""


def _best_model(ds: str, d: dict, ref: str, comparison: dict | None) -> tuple[str | None, str]:
    results = {m: read_json(md["metrics"][ref]) for m, md in d["models"].items()}
    texts = [m for m, r in results.items() if "skipped" not in r]
    if not texts:
        return None, f"**{ds}**: no model has a text tower, so nothing was retrieved."
    # a model fitted on the evaluated videos themselves ranks no one: its numbers leak
    ranked = sorted(
        (m for m in texts if not results[m].get("transductive")),
        key=lambda m: (-results[m]["t2v"]["R@1"], -results[m]["v2t"]["R@1"]),
    )
    left_out = [m for m in texts if results[m].get("transductive")]
    aside = (
        f" ({', '.join(left_out)} left out: fitted on the evaluated videos themselves, "
        "its numbers are optimistic)"
        if left_out
        else ""
    )
    n = results[texts[0]]["n_videos"]
    if n < MIN_VIDEOS:
        return None, (
            f"**{ds}**: too little to evaluate: {n} video{'s' if n != 1 else ''} in the "
            f"evaluated split, so R@1 is {'1 whatever the model' if n == 1 else 'a coin toss'}; "
            f"nothing is concluded (at least {MIN_VIDEOS} needed, far more to conclude)."
        )
    if not ranked or not conclusive(results[ranked[0]]):
        best = ranked[0] if ranked else texts[0]
        return None, _nothing_concluded(ds, best, results[best], aside)
    best = ranked[0]
    r = results[best]
    head = (
        f"**{ds}**: the best model is **{best}**, text→video R@1 {_f(r['t2v']['R@1'])}"
        f"{_ci(r, 't2v')}, video→text {_f(r['v2t']['R@1'])}{_ci(r, 'v2t')} ({r['n_videos']} "
        f"videos, 95 % bootstrap intervals over videos){aside}"
    )
    if len(ranked) == 1:
        return best, head + ("; it is the only model with text." if not left_out else ".")
    second = ranked[1]
    s2 = results[second]
    head += f"; runner-up {second} at {_f(s2['t2v']['R@1'])}"
    paired = _paired(comparison, best, second)
    if paired is None:
        return best, head + " (no paired comparison available)."
    test, diff, lo, hi = paired
    verdict = (
        "a difference the paired bootstrap cannot tell from zero"
        if lo <= 0 <= hi
        else "a clear difference"
    )
    p = p_text(test, comparison["bootstrap_resamples"])
    return best, (
        head + f": difference {_f(diff)} (95 % CI [{_f(lo)}, {_f(hi)}], "
        f"{p}; paired bootstrap over videos), {verdict}."
    )


def _paired(comparison: dict | None, first: str, other: str) -> tuple | None:
    """The compare stage's text→video R@1 test of ``first`` against ``other``, oriented as
    first − other: (test, difference, interval low, high); None when the pair was not
    compared."""
    pair = next(
        (p for p in (comparison or {}).get("pairs", []) if {p["a"], p["b"]} == {first, other}),
        None,
    )
    if pair is None:
        return None
    test = pair["t2v"]["R@1"]
    sign = 1 if pair["a"] == first else -1  # diff is a - b
    lo, hi = sorted(sign * x for x in test["ci95"])
    return test, sign * test["diff"], lo, hi


def _nothing_concluded(ds: str, best: str, r: dict, aside: str = "") -> str:
    """Why a dataset's Findings claim nothing (no best model, cheapest variant, minimal D′
    or pooling): every model at chance, or too few videos for the interval to exclude it."""
    n, chance = r["n_videos"], 1 / r["n_videos"]
    if r.get("transductive"):
        why = (
            f"every model with text was fitted on the evaluated videos themselves ({best}: "
            f"{', '.join(r['transductive'])}; no train split apart), so its numbers are "
            "optimistic: give the table a split column, or the dataset `holdout: 0.5`"
        )
    elif at_chance(r) and n >= FEW_VIDEOS:
        why = (
            f"every model retrieves at chance level (the best, {best}, text→video R@1 "
            f"{_f(r['t2v']['R@1'])} ≤ {CHANCE_FACTOR}/N with N = {n} videos)"
        )
    else:
        why = (
            f"with {n} evaluated videos the best text→video R@1 ({best}, "
            f"{_f(r['t2v']['R@1'])}{_ci(r, 't2v')}) cannot be told from chance, "
            f"1/N = {_f(chance, 3)}: evaluate more videos"
        )
    return f"**{ds}**: nothing is concluded about models or variants: {why}{aside}."


def _cheapest_variant(ds: str, model: str, md: dict, ref: str, epsilon: float) -> str | None:
    base = read_json(md["metrics"][ref])
    cheaper = []
    for name, path in md["metrics"].items():
        r = read_json(path)
        if name == ref or "skipped" in r or r.get("bytes_per_vector") is None:
            continue
        if r["bytes_per_vector"] >= base["bytes_per_vector"]:
            continue
        if all(r[d]["R@1"] >= base[d]["R@1"] - epsilon for d in ("t2v", "v2t")):
            cheaper.append((r["bytes_per_vector"], name, r))
    if not cheaper:
        return (
            f"**{ds} / {model}**: no variant smaller than `{ref}` keeps both directions' R@1 "
            f"within ε = {epsilon:g}."
        )
    nbytes, name, r = min(cheaper, key=lambda c: c[0])
    return (
        f"**{ds} / {model}**: the cheapest variant within ε = {epsilon:g} of `{ref}` is "
        f"`{name}`, {nbytes:g} bytes per vector instead of {base['bytes_per_vector']:g} "
        f"({base['bytes_per_vector'] / nbytes:.0f}x smaller), text→video R@1 "
        f"{_f(r['t2v']['R@1'])} against {_f(base['t2v']['R@1'])}."
    )


def _chance(ds: str, model: str, r: dict) -> list[str]:
    if "skipped" in r or not at_chance(r):
        return []
    return [
        f"**{ds} / {model}** retrieves at chance level: text→video R@1 "
        f"{_f(r['t2v']['R@1'])} with 1/N = {_f(1 / r['n_videos'], 3)} ({r['n_videos']} "
        "videos)."
    ]


def _overfitting(ds: str, model: str, md: dict, r: dict) -> list[str]:
    """An alignment (the embedding's own fit) or a neural MDS variant whose fit does not
    carry over to the evaluated videos."""
    lines = []
    meta = read_json(md["embedding_meta"]) if "embedding_meta" in md else {}
    if "skipped" not in r and meta.get("align_fit_on") == "train" and "align_fit_r1" in meta:
        if overfits(meta["align_fit_r1"], r["t2v"]["R@1"]):
            lines.append(
                overfit_sentence(
                    f"**{ds} / {model}**",
                    f"the {meta['align_method']} alignment",
                    f"the {meta['align_pairs']} train pairs it was fitted on",
                    meta["align_fit_r1"],
                    r["t2v"]["R@1"],
                )
            )
    for variant, path in md["metrics"].items():
        nmds = read_json(path).get("neural_mds", {})
        held_out, fitted = nmds.get("loss_held_out"), nmds.get("loss_after")
        if held_out is not None and fitted and held_out >= NMDS_OVERFIT * fitted:
            lines.append(
                f"**{ds} / {model}**: neural MDS `{variant}` overfits: its {nmds['loss']} loss "
                f"is {fitted:.4g} on the {nmds['fit_rows']} rows it was fitted on against "
                f"{held_out:.4g} on the evaluated rows (≥ {NMDS_OVERFIT:g}x)."
            )
    return lines


def _fusion(ds: str, d: dict, ref: str, comparison: dict | None) -> list[str]:
    """A fusion against the better of its models on the reference variant: does it gain
    beyond the paired bootstrap's interval?"""
    lines = []
    for m, md in d["models"].items():
        meta = read_json(md["embedding_meta"]) if "embedding_meta" in md else {}
        weights = meta.get("fusion_weights")
        r = read_json(md["metrics"][ref])
        if not weights or not conclusive(r):
            continue
        single = {p: read_json(d["models"][p]["metrics"][ref]) for p in weights if p in d["models"]}
        single = {p: s for p, s in single.items() if "skipped" not in s}
        if not single:
            continue
        best = max(single, key=lambda p: single[p]["t2v"]["R@1"])
        alone = [p for p, w in weights.items() if w == 1]
        if alone:
            lines.append(
                f"**{ds} / {m}**: fusing {' + '.join(weights)} gains nothing: the "
                f"{meta['fusion_fit_on']} videos put all the weight on {alone[0]} (the others "
                f"only lowered R@1 there), so the fusion retrieves as {alone[0]} does."
            )
            continue
        how = "/".join(f"{weights[p]:g}" for p in weights)
        head = (
            f"**{ds} / {m}**: fusing {' + '.join(weights)} (weights {how}, chosen on the "
            f"{meta['fusion_fit_on']} videos) gives text→video R@1 {_f(r['t2v']['R@1'])} "
            f"against {_f(single[best]['t2v']['R@1'])} for the better single model, {best}"
        )
        paired = _paired(comparison, m, best)
        if paired is None:
            lines.append(head + " (no paired comparison available).")
            continue
        test, diff, lo, hi = (x + 0.0 if isinstance(x, float) else x for x in paired)  # no "-0"
        verdict = (
            "no gain the paired bootstrap can tell from zero"
            if lo <= 0 <= hi
            else ("a gain beyond the interval" if lo > 0 else "a clear loss")
        )
        lines.append(
            head + f": {diff:+.3f} (95 % CI [{lo:+.3f}, {hi:+.3f}], "
            f"{p_text(test, comparison['bootstrap_resamples'])}), {verdict}."
        )
    return lines


def findings(datasets: dict, ref: str, epsilon: float) -> list[str]:
    """The sentences of the Findings section, in order: best model, cheapest variant, each
    analysis' headline (for models above chance), then diagnostics (chance level and each
    analysis' own)."""
    analyses = registry().values()
    best_lines, cheap, diagnostics = [], [], []
    headlines: dict[str, list[str]] = {a.name: [] for a in analyses}
    for ds, d in datasets.items():
        comparison = read_json(d["comparison"]) if d.get("comparison") else None
        best, line = _best_model(ds, d, ref, comparison)
        best_lines.append(line)
        if line.startswith(f"**{ds}**: too little to evaluate"):
            continue  # no other claim about its models or variants
        if best is not None:
            cheap.append(_cheapest_variant(ds, best, d["models"][best], ref, epsilon))
        cheap += _fusion(ds, d, ref, comparison)
        for m, md in d["models"].items():
            reference = read_json(md["metrics"][ref])
            above_chance = conclusive(reference)
            diagnostics += _chance(ds, m, reference)
            diagnostics += _overfitting(ds, m, md, reference)
            for a in analyses:
                if a.result not in md or not (a.headline or a.diagnostics):
                    continue
                r = read_json(md[a.result])
                if a.headline and above_chance and "skipped" not in r:
                    headlines[a.name].append(a.headline(ds, m, r))
                if a.diagnostics:
                    diagnostics += a.diagnostics(ds, m, r)
    return [*best_lines, *cheap, *(h for lines in headlines.values() for h in lines), *diagnostics]
