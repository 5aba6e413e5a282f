"""Fusion of models (docs/definitions.md, "Fusion"): with weights (1, 0) the fused model
retrieves exactly as the first; the weight search picks the grid's best on the train split
by a brute-force R@1 written here; rows are matched by id, what one model lacks is dropped
and counted; bad configs name their key."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import REPO

from vidspace.core.config import ConfigError, validate_config
from vidspace.core.io import load_embeddings, load_sidecar, save_embeddings
from vidspace.metrics import evaluate_file
from vidspace.models.fusion import fuse_files, weight_candidates


def _model(tmp_path, name, video, text, order=None, drop_video=None, drop_caption=None):
    n, m = len(video), len(text)
    index = np.arange(m) % n
    ids = np.array([f"v{i}" for i in range(n)])
    tids = np.array([f"c{i}" for i in range(m)])
    keep_v = np.array([i != drop_video for i in range(n)])
    keep_t = np.array([i != drop_caption and keep_v[index[i]] for i in range(m)])
    rows = np.flatnonzero(keep_v) if order is None else np.flatnonzero(keep_v)[order]
    new_row = {r: k for k, r in enumerate(rows)}
    trows = np.flatnonzero(keep_t)
    arrays = {
        "video_emb": video[rows].astype(np.float32),
        "text_emb": text[trows].astype(np.float32),
        "video_ids": ids[rows],
        "text_ids": tids[trows],
        "text_video_index": np.array([new_row[index[t]] for t in trows], np.int64),
        "split": np.array(["train", "test"] * (n // 2))[rows],
        "categories": np.array(["a", "b", "c"] * n)[:n][rows],
    }
    path = tmp_path / f"{name}.npz"
    save_embeddings(path, arrays, {"model": name})
    return str(path)


def _signal(n=60, m=120, d=24, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    video = rng.normal(size=(n, d))
    text = video[np.arange(m) % n] + noise * rng.normal(size=(m, d))
    return video, text


def test_weight_candidates_sum_to_one_most_even_first():
    assert weight_candidates(2, [0, 0.25, 0.5, 0.75, 1]) == [
        (0.5, 0.5),
        (0.75, 0.25),
        (0.25, 0.75),
        (1.0, 0.0),
        (0.0, 1.0),
    ]
    assert weight_candidates(3, [0, 0.5, 1])[0] == (0.5, 0.5, 0.0)
    assert weight_candidates(3, [0, 0.25, 0.5, 0.75, 1])[0] == (0.5, 0.25, 0.25)
    with pytest.raises(ValueError, match="no 2 values of the weight grid"):
        weight_candidates(2, [0.3])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        weight_candidates(2, [0, 1.5])


def test_weights_one_zero_retrieve_exactly_as_the_first_model(tmp_path):
    video, text = _signal()
    rng = np.random.default_rng(1)
    good = _model(tmp_path, "good", video, text)
    noise = _model(tmp_path, "noise", rng.normal(size=video.shape), rng.normal(size=text.shape))
    out = tmp_path / "fused.npz"
    meta = fuse_files(
        {"good": good, "noise": noise},
        [0, 1],
        out,
        tmp_path / "fused.json",
        tmp_path / "fused.run.json",
    )
    assert meta["fusion_weights"] == {"good": 1.0, "noise": 0.0}  # noise only hurts
    assert meta["fusion_fit_on"] == "train" and meta["dim"] == 24  # the zero block left out
    single = evaluate_file(good, str(tmp_path / "m1.json"), split="test", bootstrap=0)
    both = evaluate_file(str(out), str(tmp_path / "m2.json"), split="test", bootstrap=0)
    for d in ("t2v", "v2t"):
        assert both[d] == single[d]


def test_weights_tuned_on_evaluated_videos_are_marked_transductive(tmp_path):
    """With split 'all' the train videos are evaluated too: the weights are then fitted on
    the evaluated videos, and say so."""
    video, text = _signal()
    a = _model(tmp_path, "a", video, text)
    b = _model(tmp_path, "b", video + np.random.default_rng(3).normal(size=video.shape), text)
    paths = (tmp_path / "f.npz", tmp_path / "f.json", tmp_path / "f.run.json")
    assert fuse_files({"a": a, "b": b}, [0, 0.5, 1], *paths, split="test")["fusion_fit_on"] == (
        "train"
    )
    meta = fuse_files({"a": a, "b": b}, [0, 0.5, 1], *paths, split="all")
    assert meta["fusion_fit_on"] == "evaluated (transductive)"
    from vidspace.variants import transform  # marks every variant with the model's fit

    transform(str(paths[0]), str(tmp_path / "v.npz"), "float32", {"kind": "float32"}, "all")
    assert json.loads((tmp_path / "v.json").read_text())["fits"]["fusion weights"] == (
        "evaluated (transductive)"
    )
    # a model fitted on the train split (a fusion, an alignment) whose variant is evaluated
    # on split 'all', which queries those train videos too: transductive there
    fuse_files({"a": a, "b": b}, [0, 0.5, 1], *paths, split="test")
    for split, expected in (("test", "train"), ("all", "evaluated (transductive)")):
        transform(str(paths[0]), str(tmp_path / "v.npz"), "float32", {"kind": "float32"}, split)
        assert json.loads((tmp_path / "v.json").read_text())["fits"]["fusion weights"] == expected


def test_the_search_keeps_the_grids_best_on_the_train_split(tmp_path):
    video, text = _signal(noise=1.2)
    rng = np.random.default_rng(2)
    # two views of the same signal with independent noise: fusing them helps
    a = _model(tmp_path, "a", video + 0.8 * rng.normal(size=video.shape), text)
    b = _model(
        tmp_path,
        "b",
        video + 0.8 * rng.normal(size=video.shape),
        text + 0.8 * rng.normal(size=text.shape),
    )
    grid = [0, 0.25, 0.5, 0.75, 1]
    meta = fuse_files(
        {"a": a, "b": b}, grid, tmp_path / "f.npz", tmp_path / "f.json", tmp_path / "f.run.json"
    )
    arrays = {k: load_embeddings(p) for k, p in (("a", a), ("b", b))}
    train = arrays["a"]["split"] == "train"

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def train_r1(w):  # brute force: argmax of the weighted cosines among the train videos
        rows = np.flatnonzero(train)
        caps = np.flatnonzero(train[arrays["a"]["text_video_index"]])
        s = sum(
            wi * unit(arrays[k]["text_emb"][caps]) @ unit(arrays[k]["video_emb"][rows]).T
            for k, wi in zip("ab", w, strict=True)
        )
        own = np.searchsorted(rows, arrays["a"]["text_video_index"][caps])
        t2v = np.mean([(s[i] >= s[i, own[i]]).sum() == 1 for i in range(len(caps))])
        # a video's R@1: no caption of another video scores at least its best own caption
        v2t = np.mean(
            [not np.any(s[own != j, j] >= s[own == j, j].max()) for j in range(len(rows))]
        )
        return (t2v + v2t) / 2

    scores = {tuple(e["weights"]): e["mean_R@1"] for e in meta["fusion_scores"]}
    for w, score in scores.items():
        assert score == pytest.approx(train_r1(w), abs=1e-9), w
    chosen = tuple(meta["fusion_weights"].values())
    assert scores[chosen] == max(scores.values())
    assert 0 < chosen[0] < 1  # both views count


def test_rows_are_matched_by_id_and_what_one_model_lacks_is_dropped(tmp_path):
    video, text = _signal(n=10, m=20)
    a = _model(tmp_path, "a", video, text)
    order = np.random.default_rng(0).permutation(9)
    b = _model(tmp_path, "b", video, text, order=order, drop_video=3, drop_caption=5)
    meta = fuse_files(
        {"a": a, "b": b}, [0.5], tmp_path / "f.npz", tmp_path / "f.json", tmp_path / "f.run.json"
    )
    fused = load_embeddings(tmp_path / "f.npz")
    # video 3 (and its captions 3, 13) and caption 5 are gone, in a's order
    assert list(fused["video_ids"]) == [f"v{i}" for i in range(10) if i != 3]
    assert "c5" not in set(fused["text_ids"]) and "c13" not in set(fused["text_ids"])
    assert meta["fusion_dropped"] == {"videos": 1, "captions": 3}
    assert "1 videos and 3 captions that not every one of a, b embedded" in meta["notes"][0]
    # each half of a fused row is that model's own normalised row of the same video
    half = fused["video_emb"][:, 24:] / np.sqrt(0.5)
    ids = list(load_embeddings(b)["video_ids"])
    for row, vid in enumerate(fused["video_ids"]):
        own = load_embeddings(b)["video_emb"][ids.index(vid)]
        np.testing.assert_allclose(half[row], own / np.linalg.norm(own), rtol=1e-5, atol=1e-6)
    assert load_sidecar(tmp_path / "f.npz")["fusion_fit_on"] == "train"


def _demo():
    return yaml.safe_load((REPO / "config/demo.yaml").read_text())


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            lambda c: c["models"].update(f={"adapter": "fusion", "models": ["aligned", "nope"]}),
            r"models.f.models'.*'nope' is not under 'models'",
        ),
        (
            lambda c: c["models"].update(
                f={"adapter": "fusion", "models": ["aligned", "random"]},
                g={"adapter": "fusion", "models": ["f", "random"]},
            ),
            r"'f' is itself a fusion",
        ),
        (
            lambda c: (
                c["models"].update(f={"adapter": "fusion", "models": ["aligned", "random"]}),
                c["datasets"]["synthetic"].update(models=["aligned", "f"]),
            ),
            r"datasets.synthetic.models'.*not its models \['random'\]",
        ),
        (
            lambda c: c["models"].update(
                f={"adapter": "fusion", "models": ["aligned", "random"], "weights": [0.3, 0.4]}
            ),
            r"models.f.weights'.*sum to 1",
        ),
        (
            lambda c: c["models"].update(
                f={"adapter": "fusion", "models": ["aligned", "random"], "weights": [0, 2]}
            ),
            r"models.f.weights",
        ),
    ],
)
def test_a_bad_fusion_names_its_key(edit, match):
    config = _demo()
    edit(config)
    with pytest.raises(ConfigError, match=match):
        validate_config(config)


def test_the_demo_with_a_fusion_validates_and_plans_a_fuse_job():
    config = _demo()
    config["models"]["fused"] = {"adapter": "fusion", "models": ["aligned", "random"]}
    validate_config(config)
    assert config["models"]["fused"]["weights"] == [0, 0.25, 0.5, 0.75, 1]
    assert json.loads(json.dumps(config))  # plain data


@pytest.mark.slow
def test_a_fusion_runs_through_the_workflow_beside_its_models(tiny_run, tmp_path):
    """Declared in the config only: the fuse rule makes its embedding file from the two
    models' files (nothing re-embedded), every stage reads it, the report compares it."""
    import shutil

    from conftest import snakemake

    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, ignore=shutil.ignore_patterns("locks"))
    config = yaml.safe_load((work / "tiny.yaml").read_text())
    config["models"]["fused"] = {"adapter": "fusion", "models": ["aligned", "random"]}
    (work / "fused.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dry = snakemake(["-n", "--configfile", "fused.yaml"], work).stdout
    assert "rule fuse:" in dry and "rule embed:" not in dry
    snakemake(["--cores", "2", "--configfile", "fused.yaml"], work)
    meta = json.loads((work / "results/embeddings/synthetic/fused.json").read_text())
    assert set(meta["fusion_weights"]) == {"aligned", "random"}
    assert meta["fusion_fit_on"] == "train"
    report = (work / "results/report.md").read_text()
    header = [line for line in report.splitlines() if line.startswith("| Models |")]
    assert header and "| fused |" in header[0]  # ranked beside its models
    metrics = json.loads((work / "results/metrics/synthetic/fused/float32.json").read_text())
    assert metrics["fits"]["fusion weights"] == "train"
