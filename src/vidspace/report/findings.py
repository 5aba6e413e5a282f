"""The report's Findings: conclusions stated as sentences, each with the figure it rests on.

Every rule and threshold here is written out in docs/definitions.md ("Findings"); the
sentences read the same result files the tables do, through the report's index.
"""

from __future__ import annotations

from vidspace.core.io import read_json

CHANCE_FACTOR = 3  # R@1 at most 3/N (N evaluated videos): retrieval at chance level
COLLAPSED_RANK = 0.25  # numerical rank at most a quarter of min(N, D): a collapsed space
CONCENTRATED_ERANK = 0.05  # effective rank at most 5 % of min(N, D): few directions
LARGE_GAP = 0.5  # ||mean(video) - mean(text)|| of unit vectors, in [0, 2]


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _ci(r: dict, direction: str) -> str:
    ci = r.get("ci95", {}).get(direction, {}).get("R@1")
    return f" [{_f(ci[0])}, {_f(ci[1])}]" if ci else ""


def at_chance(r: dict) -> bool:
    """Text→video R@1 of a metrics file at most CHANCE_FACTOR / N."""
    return r["t2v"]["R@1"] <= CHANCE_FACTOR / r["n_videos"]


def dimension_headline(ds: str, m: str, r: dict) -> str:
    """One sentence on a dimensions file: the smallest minimal D' over the methods."""
    full = r["full"]
    method, curve = min(r["methods"].items(), key=lambda kv: kv[1]["minimal_dim"])
    point = next((p for p in curve["points"] if p["dim"] == curve["minimal_dim"]), None)
    chance = 1 / r["n_videos"]
    if full["t2v"] <= CHANCE_FACTOR * chance:
        return (
            f"**{ds} / {m}**: retrieval is at chance level (text→video R@1 "
            f"{_f(full['t2v'])}, 1/N = {_f(chance, 3)}): a minimal D′ means nothing here."
        )
    if point is None:
        return (
            f"**{ds} / {m}**: no reduced dimension in the grid keeps both directions' R@1 "
            f"within ε = {r['epsilon']:g} of the full D = {r['dim']} ({_f(full['t2v'])} / "
            f"{_f(full['v2t'])}, text→video / video→text)."
        )
    return (
        f"**{ds} / {m}**: {method} keeps retrieval within ε = {r['epsilon']:g} from "
        f"D′ = {curve['minimal_dim']} of {r['dim']} (R@1 {_f(point['t2v'])} / "
        f"{_f(point['v2t'])} against {_f(full['t2v'])} / {_f(full['v2t'])}, "
        "text→video / video→text)."
    )


def _p_text(test: dict, resamples: int) -> str:
    floor = 1 / resamples
    if test["p_value"] <= floor:
        return f"p ≤ {floor:g}, the resolution of {resamples} resamples"
    return f"p = {test['p_value']:.3g}"


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
            f"R@1 on {r['split']} stays {_f(plain, 3)}."
        )
    # three digits: the differences in question are often below 0.01
    text = f"{lead} takes text→video R@1 on {r['split']} from {_f(plain, 3)} to {_f(best, 3)}"
    effect = r.get("effect", {}).get("t2v")
    if effect is None:
        return text + " (no paired test: bootstrap off)."
    lo, hi = effect["ci95"]
    if lo <= 0 <= hi:
        verdict = "a change the paired bootstrap cannot tell from zero"
    else:
        verdict = "a clear gain" if effect["diff"] > 0 else "a clear loss"
    return text + (
        f": {effect['diff']:+.3f} (95 % CI [{_f(lo, 3)}, {_f(hi, 3)}], "
        f"{_p_text(effect, r['bootstrap_resamples'])}; paired bootstrap over videos), {verdict}."
    )


def _best_model(ds: str, d: dict, ref: str, comparison: dict | None) -> tuple[str | None, str]:
    results = {m: read_json(md["metrics"][ref]) for m, md in d["models"].items()}
    ranked = sorted(
        (m for m, r in results.items() if "skipped" not in r),
        key=lambda m: (-results[m]["t2v"]["R@1"], -results[m]["v2t"]["R@1"]),
    )
    if not ranked:
        return None, f"**{ds}**: no model has a text tower, so nothing was retrieved."
    best = ranked[0]
    r = results[best]
    head = (
        f"**{ds}**: the best model is **{best}**, text→video R@1 {_f(r['t2v']['R@1'])}"
        f"{_ci(r, 't2v')}, video→text {_f(r['v2t']['R@1'])}{_ci(r, 'v2t')} ({r['n_videos']} "
        f"videos, 95 % bootstrap intervals over videos)"
    )
    if len(ranked) == 1:
        return best, head + "; it is the only model with text."
    second = ranked[1]
    pair = next(
        (p for p in (comparison or {}).get("pairs", []) if {p["a"], p["b"]} == {best, second}),
        None,
    )
    s2 = results[second]
    head += f"; runner-up {second} at {_f(s2['t2v']['R@1'])}"
    if pair is None:
        return best, head + " (no paired comparison available)."
    test = pair["t2v"]["R@1"]
    sign = 1 if pair["a"] == best else -1  # diff is a - b
    lo, hi = sorted(sign * x for x in test["ci95"])
    verdict = (
        "a difference the paired bootstrap cannot tell from zero"
        if lo <= 0 <= hi
        else "a clear difference"
    )
    p = _p_text(test, comparison["bootstrap_resamples"])
    return best, (
        head + f": difference {_f(sign * test['diff'])} (95 % CI [{_f(lo)}, {_f(hi)}], "
        f"{p}; paired bootstrap over videos), {verdict}."
    )


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


def _diagnostics(ds: str, model: str, md: dict, ref: str) -> list[str]:
    out = []
    r = read_json(md["metrics"][ref])
    if "skipped" not in r and at_chance(r):
        out.append(
            f"**{ds} / {model}** retrieves at chance level: text→video R@1 "
            f"{_f(r['t2v']['R@1'])} with 1/N = {_f(1 / r['n_videos'], 3)} ({r['n_videos']} "
            "videos)."
        )
    spectrum = read_json(md["spectrum"])
    for modality in ("video", "text"):
        s = spectrum.get(modality)
        if not s:
            continue
        n, dim = s["shape"]
        bound = min(n, dim)
        if s["rank"] <= COLLAPSED_RANK * bound:
            out.append(
                f"**{ds} / {model}**: the {modality} embeddings are collapsed: rank "
                f"{s['rank']} of {dim} dimensions ({n} rows), effective rank "
                f"{_f(s['effective_rank'], 1)}."
            )
        elif s["effective_rank"] <= CONCENTRATED_ERANK * bound:
            out.append(
                f"**{ds} / {model}**: the {modality} embeddings use few directions: effective "
                f"rank {_f(s['effective_rank'], 1)} of {bound} possible (rank {s['rank']})."
            )
    gap = spectrum.get("modality_gap")
    if gap is not None and gap >= LARGE_GAP:
        out.append(
            f"**{ds} / {model}**: a large modality gap, {_f(gap)} between the mean video and "
            "the mean caption (unit vectors; 0 = the same centre, 2 = opposite)."
        )
    return out


def findings(datasets: dict, ref: str, epsilon: float) -> list[str]:
    """The sentences of the Findings section, in order: best model, cheapest variant,
    minimal D', multi-grained scoring, then diagnostics."""
    best_lines, cheap, dims, temporal, diagnostics = [], [], [], [], []
    for ds, d in datasets.items():
        comparison = read_json(d["comparison"]) if d.get("comparison") else None
        best, line = _best_model(ds, d, ref, comparison)
        best_lines.append(line)
        if best is not None:
            cheap.append(_cheapest_variant(ds, best, d["models"][best], ref, epsilon))
        for m, md in d["models"].items():
            if "dimensions" in md:
                r = read_json(md["dimensions"])
                if "skipped" not in r and not at_chance(read_json(md["metrics"][ref])):
                    dims.append(dimension_headline(ds, m, r))
            if "temporal" in md:
                r = read_json(md["temporal"])
                if "skipped" not in r and not at_chance(read_json(md["metrics"][ref])):
                    temporal.append(temporal_headline(ds, m, r))
            diagnostics += _diagnostics(ds, m, md, ref)
    return [*best_lines, *cheap, *dims, *temporal, *diagnostics]
