"""The Findings rules (docs/definitions.md) on hand-made result files whose answers are
known: the best model and its paired test, the cheapest variant within epsilon, collapsed
spaces, chance level, the modality gap; and no claim from chance or too few videos."""

from __future__ import annotations

import json

from vidspace.report.findings import findings


def _metrics(t2v, v2t, nbytes, n_videos=100, ci=None):
    r = {"t2v": {"R@1": t2v}, "v2t": {"R@1": v2t}, "bytes_per_vector": nbytes}
    r["n_videos"] = n_videos
    if ci:
        r["ci95"] = {"t2v": {"R@1": ci}, "v2t": {"R@1": ci}}
    return r


def _spectrum(rank, erank, shape, gap):
    block = {"rank": rank, "effective_rank": erank, "shape": shape}
    return {"video": block, "text": dict(block), "modality_gap": gap}


def _comparison(a, b, diff, ci, p_value, resamples=1000):
    """A compare-stage file with one pair: text→video R@1 difference a - b."""
    t2v = {"R@1": {"diff": diff, "ci95": ci, "p_value": p_value}}
    return {"bootstrap_resamples": resamples, "pairs": [{"a": a, "b": b, "t2v": t2v}]}


def _write(tmp_path, name, obj) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


def _dataset(tmp_path, models, pair):
    d = {"models": {}, "comparison": _write(tmp_path, "cmp.json", pair)}
    for m, (variants, spectrum) in models.items():
        d["models"][m] = {
            "metrics": {v: _write(tmp_path, f"{m}-{v}.json", r) for v, r in variants.items()},
            "spectrum": _write(tmp_path, f"{m}-spectrum.json", spectrum),
        }
    return d


def test_findings_follow_their_rules(tmp_path):
    healthy = _spectrum(500, 300.0, [1000, 512], 0.2)
    qwen_like = _spectrum(32, 20.0, [1000, 2560], 0.9)  # seed 000: rank 32 of 2560
    models = {
        "good": (
            {
                "float32": _metrics(0.50, 0.48, 2048, ci=[0.45, 0.55]),
                "float16": _metrics(0.50, 0.48, 1024),
                "int8": _metrics(0.495, 0.476, 512),  # within 0.01 in both: cheapest
                "binary": _metrics(0.30, 0.30, 64),  # too far
                "v2t-drop": _metrics(0.50, 0.40, 256),  # t2v fine, v2t not: out
            },
            healthy,
        ),
        "close": ({"float32": _metrics(0.48, 0.47, 2048)}, healthy),
        "flat": ({"float32": _metrics(0.02, 0.01, 10240)}, qwen_like),
    }
    # good - close: the interval crosses zero
    pair = _comparison("close", "good", -0.02, [-0.05, 0.01], 0.21)
    lines = findings({"ds": _dataset(tmp_path, models, pair)}, "float32", 0.01)
    text = "\n".join(lines)
    assert "the best model is **good**, text→video R@1 0.50 [0.45, 0.55]" in lines[0]
    # the sign follows best - runner-up although the pair was stored the other way round
    assert "difference 0.02 (95 % CI [-0.01, 0.05], p = 0.21" in lines[0]
    assert "cannot tell from zero" in lines[0]
    assert "cheapest variant within ε = 0.01 of `float32` is `int8`, 512 bytes" in text
    assert "(4x smaller)" in text
    assert "**ds / flat** retrieves at chance level" in text  # 0.02 <= 3/100
    assert "video embeddings are collapsed: rank 32 of 2560 dimensions" in text
    assert "a modality gap of 0.90" in text and "Liang et al." in text
    assert "defect" not in text.split("0.90")[0]  # a gap is described, not flagged
    assert "good" not in text.split("chance level")[1]  # no diagnostic for healthy models
    assert sum("collapsed" in line for line in lines) == 2  # video and text of 'flat'


def test_one_model_with_text_and_a_clear_difference(tmp_path):
    healthy = _spectrum(60, 40.0, [100, 64], 0.1)
    models = {
        "a": ({"float32": _metrics(0.9, 0.9, 256)}, healthy),
        "b": ({"float32": _metrics(0.2, 0.2, 256)}, healthy),
    }
    pair = _comparison("a", "b", 0.7, [0.6, 0.8], 0.001)
    lines = findings({"ds": _dataset(tmp_path, models, pair)}, "float32", 0.01)
    assert "p ≤ 0.001, the resolution of 1000 resamples" in lines[0]
    assert "a clear difference" in lines[0]
    assert "no variant smaller than `float32`" in lines[1]
    only = {"a": models["a"], "v": ({"float32": {"skipped": "video-only"}}, healthy)}
    lines = findings({"ds": _dataset(tmp_path, only, {"pairs": []})}, "float32", 0.01)
    assert lines[0].endswith("it is the only model with text.")


def test_no_claim_at_chance_or_from_too_few_videos(tmp_path):
    """3 evaluated videos: the best R@1 0.33 has the interval [0, 1], which holds chance
    (1/3): no best model, no cheapest variant, one sentence saying why; the spectrum of 3
    vectors is too small to judge. Every model at chance: likewise, with that reason."""
    small = _spectrum(3, 2.9, [3, 512], 0.8)
    models = {
        "random": (
            {
                "float32": _metrics(0.34, 0.34, 2048, n_videos=3, ci=[0.0, 1.0]),
                "binary": _metrics(0.34, 0.34, 64, n_videos=3),
            },
            small,
        ),
        "other": ({"float32": _metrics(0.0, 0.0, 2048, n_videos=3, ci=[0.0, 0.0])}, small),
    }
    pair = _comparison("random", "other", 0.33, [0.0, 1.0], 0.5)
    lines = findings({"ds": _dataset(tmp_path, models, pair)}, "float32", 0.01)
    text = "\n".join(lines)
    assert lines[0].startswith("**ds**: nothing is concluded about models or variants")
    assert "with 3 evaluated videos the best text→video R@1 (random, 0.34 [0.00, 1.00])" in lines[0]
    assert "cannot be told from chance, 1/N = 0.333: evaluate more videos" in lines[0]
    assert "best model" not in text and "cheapest" not in text and "gap of" not in text
    assert "3 evaluated vectors are too few to judge" in text
    flat = _spectrum(90, 50.0, [100, 512], 0.1)
    at_chance = {
        "a": ({"float32": _metrics(0.02, 0.01, 2048, ci=[0.0, 0.05])}, flat),
        "b": ({"float32": _metrics(0.01, 0.01, 2048, ci=[0.0, 0.03])}, flat),
    }
    pair = _comparison("a", "b", 0.01, [-0.02, 0.04], 0.6)
    lines = findings({"ds": _dataset(tmp_path, at_chance, pair)}, "float32", 0.01)
    assert "every model retrieves at chance level (the best, a," in lines[0]
    assert "**ds / a** retrieves at chance level" in "\n".join(lines)


def test_a_model_fitted_on_the_evaluated_videos_ranks_no_one(tmp_path):
    """An alignment fitted on the evaluated videos (no train split) scores R@1 1.00: it is
    left out of the ranking, and when no other model supports a claim nothing is
    concluded, saying why."""
    healthy = _spectrum(60, 40.0, [100, 64], 0.1)
    leaked = _metrics(1.0, 1.0, 128, ci=[1.0, 1.0])
    leaked["transductive"] = ["model alignment"]
    models = {
        "aligned": ({"float32": leaked}, healthy),
        "clip": ({"float32": _metrics(0.6, 0.6, 2048, ci=[0.5, 0.7])}, healthy),
    }
    pair = _comparison("aligned", "clip", 0.4, [0.3, 0.5], 0.001)
    lines = findings({"ds": _dataset(tmp_path, models, pair)}, "float32", 0.01)
    assert "the best model is **clip**" in lines[0]
    assert "(aligned left out: fitted on the evaluated videos themselves" in lines[0]
    alone = {
        "aligned": models["aligned"],
        "random": ({"float32": _metrics(0.01, 0.01, 2048)}, healthy),
    }
    lines = findings({"ds": _dataset(tmp_path, alone, {"pairs": []})}, "float32", 0.01)
    assert lines[0].startswith("**ds**: nothing is concluded")
    assert "aligned left out" in lines[0] and "best model" not in "\n".join(lines)


def test_a_fit_that_does_not_carry_over_is_named_with_both_numbers(tmp_path):
    """Overfitting (docs/definitions.md): the alignment's own R@1 on its train pairs against
    the evaluated split's, a neural MDS loss on unseen rows against the fitted rows', and
    the multi-grained beta chosen where R@1 is far above the evaluated split's."""
    from vidspace.analyses.temporal import temporal_diagnostics

    aligned = _metrics(0.10, 0.12, 128, ci=[0.05, 0.15])
    aligned["neural_mds"] = {
        "loss": "isometric",
        "fit_rows": 300,
        "loss_after": 0.1,
        "loss_held_out": 0.35,
    }
    d = _dataset(
        tmp_path,
        {"aligned": ({"float32": aligned}, _spectrum(60, 40.0, [100, 64], 0.2))},
        {"pairs": []},
    )
    d["models"]["aligned"]["embedding_meta"] = _write(
        tmp_path,
        "meta.json",
        {"align_fit_on": "train", "align_fit_r1": 0.95, "align_method": "cca", "align_pairs": 300},
    )
    text = "\n".join(findings({"ds": d}, "float32", 0.01))
    assert (
        "**ds / aligned**: the cca alignment overfits: text→video R@1 0.95 on the 300 train "
        "pairs it was fitted on against 0.10 on the evaluated videos (a gap of 0.85 ≥ 0.2)"
    ) in text
    assert "neural MDS `float32` overfits: its isometric loss is 0.1 on the 300 rows" in text
    meta = json.loads(open(d["models"]["aligned"]["embedding_meta"]).read())
    meta["align_fit_r1"] = 0.25  # within the gap: nothing said
    d["models"]["aligned"]["embedding_meta"] = _write(tmp_path, "meta.json", meta)
    assert "alignment overfits" not in "\n".join(findings({"ds": d}, "float32", 0.01))

    sweep = [
        {"beta": 0.0, "evaluated": {"t2v": 0.1}, "selection": {"t2v": 0.3}},
        {"beta": 0.5, "evaluated": {"t2v": 0.1}, "selection": {"t2v": 1.0}},
    ]
    r = {"chosen_on": "train", "best_beta": 0.5, "sweep": sweep, "split": "test"}
    (line,) = temporal_diagnostics("ds", "m", r)
    assert "R@1 1.00 on the train videos β was chosen on against 0.10" in line
    assert temporal_diagnostics("ds", "m", dict(r, best_beta=0.0)) == []  # 0.3 vs 0.1: < 0.2
    assert temporal_diagnostics("ds", "m", dict(r, chosen_on="evaluated (transductive)")) == []


def test_a_map_that_separates_more_than_its_space_is_said():
    from vidspace.analyses.projections import projection_diagnostics

    faith = {
        "neighbours": 5,
        "trustworthiness": 0.9,
        "category_silhouette": {"space": 0.05, "map": 0.45},
    }
    r = {"n_videos": 100, "faithfulness": {"umap": faith}}
    (line,) = projection_diagnostics("ds", "m", r)
    assert "UMAP map separates the categories more than the space does" in line
    faith["category_silhouette"]["map"] = 0.2
    assert projection_diagnostics("ds", "m", r) == []


def test_a_fusion_is_held_against_the_better_of_its_models(tmp_path):
    healthy = _spectrum(60, 40.0, [100, 64], 0.2)
    ci = [0.35, 0.45]
    models = {
        "a": ({"float32": _metrics(0.40, 0.40, 256, ci=ci)}, healthy),
        "b": ({"float32": _metrics(0.30, 0.30, 256, ci=ci)}, healthy),
        "f": ({"float32": _metrics(0.44, 0.42, 512, ci=[0.39, 0.49])}, healthy),
    }
    pair = _comparison("a", "f", -0.04, [-0.07, -0.01], 0.004)  # a - f: f gains
    d = _dataset(tmp_path, models, pair)
    meta = {"fusion_weights": {"a": 0.75, "b": 0.25}, "fusion_fit_on": "train"}
    d["models"]["f"]["embedding_meta"] = _write(tmp_path, "f-meta.json", meta)
    text = "\n".join(findings({"ds": d}, "float32", 0.01))
    assert (
        "**ds / f**: fusing a + b (weights 0.75/0.25, chosen on the train videos) gives "
        "text→video R@1 0.44 against 0.40 for the better single model, a: +0.040 "
        "(95 % CI [+0.010, +0.070], p = 0.004), a gain beyond the interval."
    ) in text
    d["comparison"] = _write(tmp_path, "cmp2.json", _comparison("a", "f", 0.0, [-0.02, 0.02], 1))
    assert "no gain the paired bootstrap can tell from zero" in "\n".join(
        findings({"ds": d}, "float32", 0.01)
    )
    # a model whose reference variant was skipped is no yardstick (and no crash)
    d["models"]["a"]["metrics"]["float32"] = _write(tmp_path, "a-skip.json", {"skipped": "x"})
    assert "for the better single model, b" in "\n".join(findings({"ds": d}, "float32", 0.01))
    meta["fusion_weights"] = {"a": 1.0, "b": 0.0}
    d["models"]["f"]["embedding_meta"] = _write(tmp_path, "f-meta.json", meta)
    assert (
        "**ds / f**: fusing a + b gains nothing: the train videos put all the weight on a"
    ) in "\n".join(findings({"ds": d}, "float32", 0.01))
