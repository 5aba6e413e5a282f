"""When a number supports a claim: the chance level of retrieval, and how a p-value is
worded (rules written out in docs/definitions.md, "Findings"). Shared by the Findings and
by the analyses' own sentences."""

from __future__ import annotations

CHANCE_FACTOR = 3  # R@1 at most 3/N (N evaluated videos): retrieval at chance level


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
