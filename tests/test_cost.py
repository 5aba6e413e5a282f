"""The cost stage (seed 003): the Pareto frontier against a sweep-line oracle, each index's
answers against brute-force NumPy, code sizes against the variants' bytes, and the stage
through the workflow. No timing is asserted (timings are measurements, not contracts)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidspace.analyses.cost import build_search, pareto_front


def _sweep_front(points):
    """Textbook frontier: by bytes ascending (best quality first among equal bytes), keep a
    point when its quality beats everything smaller; equal points are all kept."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best, best_bytes = [], -np.inf, None
    for i in order:
        b, q = points[i]
        if q > best or (q == best and b == best_bytes):
            front.append(i)
            best, best_bytes = q, b
    return front


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_matches_the_sweep(seed):
    rng = np.random.default_rng(seed)
    points = [(float(b), float(q)) for b, q in rng.integers(1, 6, size=(12, 2))]
    assert pareto_front(points) == _sweep_front(points)


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def gallery():
    rng = np.random.default_rng(0)
    video = _unit(rng.normal(size=(200, 32)))
    text = _unit(video[rng.integers(0, 200, 50)] + 0.3 * rng.normal(size=(50, 32)))
    return video, text


def test_flat_index_ranks_by_the_dot_product(gallery):
    video, text = gallery
    search, name, code = build_search({"kind": "pca"}, video, text)
    top = search(np.arange(50), 5)
    expected = np.argsort(-(text @ video.T), axis=1, kind="stable")[:, :5]
    assert name == "IndexFlatIP" and code == 4 * 32
    assert np.array_equal(top, expected)


def test_binary_index_is_hamming_and_rescoring_reorders_its_shortlist(gallery):
    video, text = gallery
    bits_v, bits_t = video > 0, text > 0
    hamming = (bits_t[:, None, :] != bits_v[None, :, :]).sum(2)
    search, _, code = build_search({"kind": "binary"}, video, text)
    assert code == 4  # 32 sign bits
    top = search(np.arange(50), 3)
    # ids may differ among equal distances: compare the distances
    assert np.array_equal(
        np.take_along_axis(hamming, top, 1), np.sort(hamming, axis=1, kind="stable")[:, :3]
    )
    rescored, name, _ = build_search({"kind": "binary", "rescore": 10}, video, text, (video, text))
    got = rescored(np.arange(50), 3)
    shortlist = search(np.arange(50), 10)
    exact = text @ video.T
    for q in range(50):
        expected = sorted(shortlist[q], key=lambda i: -exact[q, i])[:3]
        assert list(got[q]) == expected
    assert "re-ranking of the top 10" in name


@pytest.mark.parametrize(
    "meta, code_bytes",
    [
        ({"kind": "float16"}, 64),
        ({"kind": "int8"}, 32),
        ({"kind": "int4"}, 16),
        ({"kind": "faiss_pq", "spec": {"m": 8, "nbits": 4}}, 4),
    ],
)
def test_code_sizes_are_the_variants_bytes(gallery, meta, code_bytes):
    video, text = gallery
    search, _, code = build_search(meta, video, text)
    assert code == code_bytes
    assert search(np.arange(50), 4).shape == (50, 4)


def test_cost_stage_in_the_workflow(tiny_run):
    cost = json.loads((tiny_run / "results/cost/synthetic/aligned.json").read_text())
    variants = cost["variants"]
    assert set(variants) == {"float32", "int8", "pca4", "dsl", "binary-r3", "mg0"}
    for name in ("float32", "int8", "pca4", "binary-r3"):
        entry = variants[name]
        assert entry["code_bytes"] == entry["bytes_per_vector"]
        assert entry["batch"]["queries_per_second"] > 0 and entry["single"]["median_ms"] > 0
        metrics = json.loads(
            (tiny_run / f"results/metrics/synthetic/aligned/{name}.json").read_text()
        )
        assert (entry["gallery"], entry["queries"]) == (metrics["n_videos"], metrics["n_captions"])
    assert variants["float32"]["speedup_vs_float32"] == 1.0
    assert "not timed" in variants["dsl"]["skipped"]
    assert "not timed" in variants["mg0"]["skipped"]  # multi-grained: a score matrix
    random = json.loads((tiny_run / "results/cost/synthetic/random.json").read_text())
    assert "no per-frame embeddings" in random["variants"]["mg0"]["skipped"]
    motion = json.loads((tiny_run / "results/cost/synthetic/motion.json").read_text())
    assert motion["variants"]["float32"]["skipped"] == "video-only embeddings: no queries"
    report = (tiny_run / "results/report.md").read_text()
    assert "## Cost of each variant" in report and "plots/pareto_synthetic.png" in report
    png = tiny_run / "results/plots/pareto_synthetic.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_variant_without_an_index_is_a_skip_not_a_failed_stage(tmp_path):
    """Sign bits of a 12-dimensional space do not pack into bytes for IndexBinaryFlat: that
    variant is listed with the reason, the others are timed."""
    from vidspace.analyses.cost import cost_of_variants
    from vidspace.core.io import save_embeddings
    from vidspace.variants import transform

    rng = np.random.default_rng(0)
    video = rng.normal(size=(30, 12)).astype(np.float32)
    index = np.repeat(np.arange(30), 2)
    arrays = {
        "video_emb": video,
        "text_emb": video[index] + 0.1 * rng.normal(size=(60, 12)).astype(np.float32),
        "video_ids": np.array([f"v{i}" for i in range(30)]),
        "text_ids": np.array([f"t{i}" for i in range(60)]),
        "text_video_index": index,
    }
    save_embeddings(tmp_path / "e.npz", arrays, {"model": "m"})
    paths = {}
    for name, spec in {"full": {"kind": "float32"}, "bits": {"kind": "binary"}}.items():
        transform(tmp_path / "e.npz", tmp_path / f"{name}.npz", name, spec)
        paths[name] = str(tmp_path / f"{name}.npz")
    r = cost_of_variants(paths, str(tmp_path / "cost.json"), "all", k=5, min_seconds=0.01)
    assert "multiple of 8" in r["variants"]["bits"]["skipped"]
    assert r["variants"]["full"]["speedup_vs_float32"] == 1.0
    assert r["variants"]["full"]["gallery"] == 30


def test_pareto_labels_do_not_overlap(tmp_path, monkeypatch):
    """Frontier points close together (equal bytes, R@1 0.01 apart, as pca16 and rp16 on
    the demo): every label's box is clear of every other's."""
    import itertools

    from vidspace.analyses import cost

    points = {
        "float32": (128, 0.76),
        "float16": (64, 0.76),
        "pca16": (64, 0.77),
        "rp16": (64, 0.765),
        "prefix16": (64, 0.75),
        "int8": (32, 0.76),
        "int4": (16, 0.76),
        "nmds8": (32, 0.761),
        "binary": (4, 0.40),
        "binary-r20": (4, 0.74),
        "pq": (4, 0.45),
    }
    files = {}
    for v, (nbytes, r1) in points.items():
        path = tmp_path / f"{v}.json"
        path.write_text(json.dumps({"bytes_per_vector": nbytes, "t2v": {"R@1": r1}}))
        files[v] = str(path)
    figures = []
    monkeypatch.setattr("vidspace.report.figures.save", lambda fig, out: figures.append(fig))
    cost.plot_pareto("ds", {"m": files, "m2": files}, tmp_path / "p.png")
    (fig,) = figures
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) >= 6
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
