"""When a number supports a claim: the chance level of retrieval, and how a p-value is
worded (rules written out in docs/definitions.md, "Findings"). Shared by the Findings and
by the analyses' own sentences."""

from __future__ import annotations

CHANCE_FACTOR = 3  # R@1 at most 3/N (N evaluated videos): retrieval at chance level
OVERFIT_GAP = 0.2  # R@1 where a part was fitted this far above the evaluated split's


def at_chance(r: dict) -> bool:
    """Text→video R@1 of a metrics file at most CHANCE_FACTOR / N."""
    return r["t2v"]["R@1"] <= CHANCE_FACTOR / r["n_videos"]


def conclusive(r: dict) -> bool:
    """A metrics file a claim may rest on: it ranks (not skipped), nothing in it was fitted
    on the evaluated videos themselves (transductive: optimistic), it is above chance
    level, and its 95 % bootstrap interval of text→video R@1 (when computed) lies above
    chance, 1/N: a small evaluated set whose interval reaches down to chance supports no
    claim."""
    if "skipped" in r or r.get("transductive") or at_chance(r):
        return False
    ci = r.get("ci95", {}).get("t2v", {}).get("R@1")
    return ci is None or ci[0] > 1 / r["n_videos"]


def p_text(test: dict, resamples: int) -> str:
    floor = 1 / resamples
    if test["p_value"] <= floor:
        return f"p ≤ {floor:g}, the resolution of {resamples} resamples"
    return f"p = {test['p_value']:.3g}"


def overfits(fitted: float, evaluated: float) -> bool:
    """R@1 on the videos a part was fitted (or chosen) on at least OVERFIT_GAP above R@1 on
    the evaluated videos: what the fit learnt does not carry over."""
    return fitted - evaluated >= OVERFIT_GAP


def overfit_sentence(where: str, what: str, on: str, fitted: float, evaluated: float) -> str:
    """``on``: where the fitted number comes from, e.g. "the train videos it was fitted on"."""
    return (
        f"{where}: {what} overfits: text→video R@1 {fitted:.2f} on {on} against "
        f"{evaluated:.2f} on the evaluated videos (a gap of {fitted - evaluated:.2f} ≥ "
        f"{OVERFIT_GAP}): what was fitted there does not carry over."
    )
