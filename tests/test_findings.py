"""The Findings rules (docs/definitions.md) on hand-made result files whose answers are
known: the best model and its paired test, the cheapest variant within epsilon, collapsed
spaces, chance level, a large modality gap."""

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
    assert "a large modality gap, 0.90" in text
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
