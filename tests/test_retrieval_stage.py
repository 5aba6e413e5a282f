"""The retrieval stage through its files: metrics, ranks, fits and transductive parts."""

from __future__ import annotations

import numpy as np
from conftest import random_arrays

from vidspace.core.io import save_embeddings
from vidspace.variants import TRANSDUCTIVE


def test_retrieval_metrics_record_fits_and_transductive_parts(tmp_path):
    from vidspace.metrics import evaluate_file
    from vidspace.variants import transform

    arrays = random_arrays(n=60, m=120)
    save_embeddings(tmp_path / "e.npz", arrays, {"model": "m", "align_fit_on": "train"})
    cases = {
        "pca": ({"kind": "pca", "dim": 4}, "test", {"pca": "train"}, []),
        # split all queries the train videos too: the model's own alignment on them as well
        "pca-all": (
            {"kind": "pca", "dim": 4},
            "all",
            {"pca": TRANSDUCTIVE},
            ["model alignment", "pca"],
        ),
        "dsl": (
            {"kind": "float32", "scoring": "dual_softmax"},
            "test",
            {"dual softmax": TRANSDUCTIVE},
            ["dual softmax"],
        ),
        "qb": ({"kind": "float32", "scoring": "qb_norm"}, "test", {"querybank": "train"}, []),
        "qb-all": (
            {"kind": "float32", "scoring": "qb_norm"},
            "all",
            {"querybank": TRANSDUCTIVE},
            ["model alignment", "querybank"],
        ),
    }
    for name, (spec, split, fits, transductive) in cases.items():
        transform(tmp_path / "e.npz", tmp_path / f"{name}.npz", name, spec, split)
        r = evaluate_file(tmp_path / f"{name}.npz", tmp_path / f"{name}.json", split, (1,), 1)
        alignment = TRANSDUCTIVE if split == "all" else "train"
        assert r["fits"] == {"model alignment": alignment, **fits}
        assert r["transductive"] == transductive


def test_retrieval_stage_file_outputs(tmp_path):
    from vidspace.metrics import compare_models, evaluate_file

    arrays = random_arrays(n=60, m=120)
    for name, noise in (("good", 0.3), ("bad", 3.0)):
        a = dict(arrays)
        rng = np.random.default_rng(1)
        a["text_emb"] = (
            a["video_emb"][a["text_video_index"]]
            + rng.normal(scale=noise, size=a["text_emb"].shape)
        ).astype(np.float32)
        save_embeddings(tmp_path / f"{name}.npz", a, {"variant": "float32", "bytes_per_vector": 64})
        r = evaluate_file(
            tmp_path / f"{name}.npz",
            tmp_path / f"{name}.json",
            "test",
            (1, 5),
            5,
            pool_sizes=(10, 500),
            bootstrap=200,
            ranks_path=tmp_path / f"{name}.ranks.npz",
        )
        assert r["n_videos"] == 30
        assert r["ci95"]["t2v"]["R@1"][0] <= r["t2v"]["R@1"] <= r["ci95"]["t2v"]["R@1"][1]
        assert list(r["pools"]) == ["10"]  # 500 exceeds the gallery and is skipped
    comparison = compare_models(
        {"good": tmp_path / "good.ranks.npz", "bad": tmp_path / "bad.ranks.npz"},
        tmp_path / "c.json",
        (1,),
        n_boot=500,
    )
    pair = comparison["pairs"][0]
    assert (pair["a"], pair["b"]) == ("good", "bad")
    assert pair["t2v"]["R@1"]["diff"] > 0.2 and pair["t2v"]["R@1"]["p_value"] < 0.01


def test_querybank_scoring_without_a_train_split_is_a_reported_skip(tmp_path):
    from vidspace.metrics import evaluate_file

    arrays = random_arrays()
    arrays["split"] = np.array(["test"] * 40)
    save_embeddings(tmp_path / "e.npz", arrays, {"scoring": "qb_norm"})
    result = evaluate_file(
        tmp_path / "e.npz", tmp_path / "m.json", "test", (1,), 1, ranks_path=tmp_path / "r.npz"
    )  # a reported skip of this variant, not a failed job
    assert "needs a train split" in result["skipped"]
    assert "needs a train split" in str(np.load(tmp_path / "r.npz")["skipped"])
