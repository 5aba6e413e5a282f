"""The Snakemake workflow end to end on a tiny config, its DAG, lint, and config errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY_CONFIG, make_workdir, snakemake

pytestmark = pytest.mark.slow


def test_end_to_end_report_and_results(tiny_run):
    report = (tiny_run / "results/report.md").read_text()
    # 24 clips, one planted corrupt: counted, with its reason, and its captions dropped
    assert "| synthetic | generated | 23/24 | 0 | 1 | 46/48 |" in report
    failures = pd.read_csv(tiny_run / "data/frames/synthetic/u4/failures.csv")
    assert failures["video_id"].tolist() == ["synth00023"]
    assert failures["reason"].str.len().min() > 10
    for heading in (
        "## Spectral decomposition",
        "## Retrieval metrics",
        "## Clustering",
        "## Projections",
        "Matrix rank (video)",
        "Modality gap (L2)",
    ):
        assert heading in report
    for png in (
        "spectrum_random.png",
        "spectrum_aligned.png",
        "retrieval_synthetic.png",
        "grids/synthetic_projections.png",
    ):
        path = tiny_run / "results/plots" / png
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{png}" in report
    leftovers = [p for p in (tiny_run / "results").rglob(".*") if p.is_file()]
    assert leftovers == []
    from PIL import Image  # matplotlib's own dependency

    width, _ = Image.open(tiny_run / "results/plots/retrieval_synthetic.png").size
    assert width <= 900  # readable at page width


def test_aligned_beats_random_by_far(tiny_run):
    def r1(model):
        path = tiny_run / f"results/metrics/synthetic/{model}/float32.json"
        return json.loads(path.read_text())["t2v"]["R@1"]

    # about 12 test clips: chance R@1 is about 1/12; 24 queries make the random model's
    # R@1 noisy, so the margin is absolute as well as relative to chance
    assert r1("aligned") >= 4 / 12
    assert r1("aligned") >= r1("random") + 0.25


def test_variant_metrics_record_their_protocols(tiny_run):
    metrics = tiny_run / "results/metrics/synthetic/aligned"
    dsl = json.loads((metrics / "dsl.json").read_text())
    assert dsl["scoring"] == "dual_softmax" and dsl["backend"] == "numpy"
    rescored = json.loads((metrics / "binary-r3.json").read_text())
    assert rescored["rescore"] == 3 and rescored["bytes_per_vector"] == 1.0
    reference = json.loads((metrics / "float32.json").read_text())
    assert reference["pools"]["5"]["t2v"]["random_baseline"]["R@5"] == 1.0
    lo, hi = reference["ci95"]["t2v"]["R@1"]
    assert lo <= reference["t2v"]["R@1"] <= hi
    comparison = json.loads((tiny_run / "results/comparisons/synthetic.json").read_text())
    assert {(p["a"], p["b"]) for p in comparison["pairs"]} == {("random", "aligned")}


def test_video_only_model_gets_geometry_and_no_retrieval(tiny_run):
    """A model without a text tower (VideoMAE-like; here the weight-free descriptor) runs
    through spectra, clustering and projections; its retrieval is recorded as skipped."""
    metrics = json.loads((tiny_run / "results/metrics/synthetic/motion/float32.json").read_text())
    assert metrics["skipped"] == "video-only embeddings: no text to retrieve"
    assert "t2v" not in metrics
    spectrum = json.loads((tiny_run / "results/spectra/synthetic/motion.json").read_text())
    assert spectrum["video"]["rank"] > 0 and "text" not in spectrum
    assert (tiny_run / "results/clustering/synthetic/motion.json").exists()
    assert (tiny_run / "results/plots/spectrum_motion.png").read_bytes()[:4] == b"\x89PNG"
    report = (tiny_run / "results/report.md").read_text()
    assert "plots/spectrum_motion.png" in report
    assert "Not ranked (video-only embeddings, no text tower): `motion`" in report
    comparison = json.loads((tiny_run / "results/comparisons/synthetic.json").read_text())
    assert all("motion" not in (p["a"], p["b"]) for p in comparison["pairs"])


def test_embedding_rows_align_with_captions(tiny_run):
    with np.load(tiny_run / "results/embeddings/synthetic/aligned.npz") as data:
        video_ids, text_ids = data["video_ids"], data["text_ids"]
        index = data["text_video_index"]
    captions = pd.read_parquet(tiny_run / "data/raw/synthetic/captions.parquet")
    owner = dict(zip(captions["caption_id"], captions["video_id"], strict=True))
    assert [owner[t] for t in text_ids] == list(video_ids[index])
    assert "synth00023" not in set(video_ids)


def test_spectrum_and_clustering_files(tiny_run):
    manifest = pd.read_parquet(tiny_run / "data/raw/synthetic/manifest.parquet")
    n_test = int(((manifest["split"] == "test") & (manifest["video_id"] != "synth00023")).sum())
    spectrum = json.loads((tiny_run / "results/spectra/synthetic/random.json").read_text())
    assert spectrum["video"]["shape"] == [n_test, 64]
    assert spectrum["video"]["rank"] == n_test  # Gaussian rows: full row rank
    clustering = json.loads((tiny_run / "results/clustering/synthetic/aligned.json").read_text())
    assert clustering["video"]["k"] == 6
    assert set(clustering["video"]) >= {"ARI", "NMI", "AMI", "FMI"}
    # DEC is on by default; 11 test videos cannot train it: a skip the report names
    assert "DEC needs at least 20" in clustering["dec"]["skipped"]
    report = (tiny_run / "results/report.md").read_text()
    assert f"synthetic / aligned: DEC skipped: {clustering['dec']['skipped']}" in report
    # each clustered video's k-means cluster, by id, for the projection grid
    with np.load(tiny_run / "results/clustering/synthetic/aligned.labels.npz") as labels:
        assert set(labels.files) == {"video_ids", "kmeans"}  # no DEC: skipped
        assert len(labels["video_ids"]) == len(labels["kmeans"]) == clustering["video"]["n"]
        assert set(labels["video_ids"]) <= set(
            manifest.loc[manifest["split"] == "test", "video_id"]
        )
        assert len(set(labels["kmeans"].tolist())) <= 6


def test_data_quality_and_projection_faithfulness_files(tiny_run):
    """The data-quality stage counts the evaluated captions that the pairwise search finds
    shared with another video; each map's trustworthiness is scikit-learn's on the stored
    coordinates (the video embeddings, L2-normalised, cosine)."""
    from sklearn.manifold import trustworthiness

    from vidspace.core.io import eval_rows, load_embeddings, subset_videos
    from vidspace.core.linalg import l2_normalize
    from vidspace.datasets.quality import normalise

    quality = json.loads((tiny_run / "results/data/synthetic/quality.json").read_text())
    emb = load_embeddings(tiny_run / "results/embeddings/synthetic/random.npz")
    captions = pd.read_parquet(tiny_run / "data/raw/synthetic/captions.parquet")
    evaluated = set(subset_videos(emb, eval_rows(emb, "test"))["video_ids"])
    rows = captions[captions["video_id"].isin(evaluated)]
    videos_of: dict[str, set] = {}
    for video, text in zip(rows["video_id"], rows["caption"], strict=True):
        videos_of.setdefault(normalise(text), set()).add(video)
    shared = sum(len(videos_of[normalise(t)]) > 1 for t in rows["caption"])
    assert (quality["captions"], quality["ambiguous_captions"]) == (len(rows), shared)
    listed = pd.read_csv(tiny_run / "results/data/synthetic/ambiguous_captions.csv")
    assert len(listed) == shared
    report = (tiny_run / "results/report.md").read_text()
    assert f"{quality['distinct_texts']}/{quality['captions']} distinct" in report

    result = json.loads((tiny_run / "results/projections/synthetic/aligned.json").read_text())
    aligned = load_embeddings(tiny_run / "results/embeddings/synthetic/aligned.npz")
    x = l2_normalize(subset_videos(aligned, eval_rows(aligned, "test"))["video_emb"])
    with np.load(tiny_run / "results/projections/synthetic/aligned.npz") as coordinates:
        for method, faith in result["faithfulness"].items():
            k = faith["neighbours"]
            expected = trustworthiness(x, coordinates[method], n_neighbors=k, metric="cosine")
            assert faith["trustworthiness"] == pytest.approx(expected)
    assert "Trustworthiness" in report


def test_snakemake_html_report(tiny_run):
    snakemake(["--configfile", "tiny.yaml", "--report", "report.html"], tiny_run)
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "spectrum_random.png" in html and "synthetic_projections.png" in html
    assert "dimensions_synthetic.png" in html
    # the markdown report, Findings first, travels inside the HTML report
    import base64

    embedded = re.search(r"data:text/markdown[^\"']*base64,([A-Za-z0-9+/=]+)", html)
    assert embedded, "results/report.md is not in the HTML report"
    markdown = base64.b64decode(embedded.group(1)).decode()
    assert markdown == (tiny_run / "results/report.md").read_text()
    assert "## Findings" in markdown


def _job_counts(dry_run_output: str) -> dict[str, int]:
    stats = dry_run_output[dry_run_output.index("Job stats:") :]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}


def test_single_plot_target_builds_only_its_chain(tmp_path):
    workdir = make_workdir(tmp_path)
    out = snakemake(
        ["results/plots/spectrum_random.png", "-n", "--configfile", "tiny.yaml"], workdir
    ).stdout
    assert _job_counts(out) == {
        "download": 1,
        "sample_frames": 1,
        "embed": 1,
        "spectrum": 1,
        "plot_spectrum": 1,
        "total": 5,
    }
    assert "results/embeddings/synthetic/aligned.npz" not in out


def test_a_dataset_runs_the_models_it_names(tmp_path):
    """``models`` on a dataset: only those are embedded, compared and reported there; the
    other dataset runs every model; naming them changes no download command."""
    workdir = make_workdir(tmp_path)
    config = yaml.safe_load((workdir / "tiny.yaml").read_text())
    before = snakemake(["-n", "-p", "--configfile", "tiny.yaml"], workdir).stdout
    config["datasets"]["mine"] = dict(config["datasets"]["synthetic"], models=["aligned"])
    (workdir / "two.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(["-n", "-p", "--configfile", "two.yaml"], workdir).stdout
    embeds = set(re.findall(r"results/embeddings/(\w+/\w+)\.npz", out))
    assert embeds == {"synthetic/random", "synthetic/aligned", "synthetic/motion", "mine/aligned"}
    counts, alone = _job_counts(out), _job_counts(before)
    assert counts["embed"] == alone["embed"] + 1 and counts["compare"] == 2
    assert counts["plot_spectrum"] == alone["plot_spectrum"]  # every model runs somewhere
    download = [line for line in before.splitlines() if "scripts/download.py" in line]
    assert download and all(line in out for line in download)


def test_a_key_left_out_takes_the_schema_default_everywhere(tmp_path):
    """The schema's `default:` is the one place a default lives: with the keys left out,
    the commands Snakemake runs carry exactly the schema's values."""
    import copy

    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())["properties"]
    config = copy.deepcopy(TINY_CONFIG)
    del config["embed"], config["report"]
    del config["evaluation"]["pool_sizes"], config["evaluation"]["bootstrap"]
    workdir = make_workdir(tmp_path, config)
    out = snakemake(["-n", "-p", "--configfile", "tiny.yaml"], workdir).stdout
    embed = schema["embed"]["properties"]
    evaluation = schema["evaluation"]["properties"]
    assert f"--batch-size {embed['batch_size']['default']} " in out
    assert evaluation["pool_sizes"]["default"] == []
    assert f"--pool-sizes  --bootstrap {evaluation['bootstrap']['default']} " in out
    title = schema["report"]["properties"]["title"]["default"]
    assert f'"title":"{title}"' in out
    assert "embed_shard" not in out  # shards: 1, the default


def test_lint_is_clean():
    out = snakemake(["--lint", "--configfile", "config/demo.yaml"], REPO)
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["datasets"]["synthetic"]["options"].update(n_vidoes=3),
            "unknown key in 'datasets.synthetic.options'",
        ),
        (lambda c: c["evaluation"].update(ndcg_k="ten"), "bad value at 'evaluation.ndcg_k'"),
        (lambda c: c.pop("models"), "'models' is a required property"),
        (
            lambda c: c["models"]["random"].update(adapter="rnadom"),
            "bad value at 'models.random.adapter'",
        ),
        (
            lambda c: c["datasets"].update({"Bad/Name": c["datasets"]["synthetic"]}),
            "does not match",
        ),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, edit, message):
    config = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    edit(config)
    workdir = make_workdir(tmp_path, config)
    proc = snakemake(["-n", "--configfile", "tiny.yaml"], workdir, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert "Job stats" not in proc.stdout


def _small_csv_config(workdir, n_good: int) -> dict:
    """A user's CSV: ``n_good`` real clips beside broken, empty, missing and mislabelled rows."""
    from vidspace.datasets.synthetic import render_clip, write_mp4

    media = workdir / "media"
    media.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    colours = ["red", "green", "blue", "yellow"]
    for i in range(n_good):
        frames = render_clip(colours[i], "circle", "left" if i % 2 else "up", "gray", rng, 32, 8)
        write_mp4(media / f"clip{i}.mp4", frames, fps=4)
        category = "up" if i % 2 == 0 else "left"
        rows += [
            (f"media/clip{i}.mp4", f"a {colours[i]} circle", f"clip{i}", category),
            (f"media/clip{i}.mp4", f"the {colours[i]} one moving", f"clip{i}", category),
        ]
    (media / "empty.mp4").write_bytes(b"")
    (media / "text.mp4").write_text("this is not a video\n")
    data = (media / "clip0.mp4").read_bytes()
    (media / "truncated.mp4").write_bytes(data[: len(data) // 3])
    rows += [
        ("media/empty.mp4", "an empty file", "empty", "up"),
        ("media/text.mp4", "a text file", "text", "up"),
        ("media/truncated.mp4", "a cut download", "truncated", "up"),
        ("media/nowhere.mp4", "a missing file", "nowhere", "up"),
        ("media/clip0.mp4", "mislabelled", "clip0", "left"),  # clip0 is 'up' above
    ]
    pd.DataFrame(rows, columns=["video", "caption", "video_id", "category"]).to_csv(
        workdir / "mine.csv", index=False
    )
    config = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    config["datasets"] = {
        "mine": {"adapter": "csv", "sampling": "u4", "options": {"path": "mine.csv"}}
    }
    config["models"] = {
        "random": {"adapter": "random", "dim": 16},
        "motion": {"adapter": "descriptor"},
    }
    config["variants"] = {
        "float32": {"kind": "float32"},
        "pca1": {"kind": "pca", "dim": 1},
        "binary-r50": {"kind": "binary", "rescore": 50},
    }
    config["evaluation"].update(ks=[1, 5, 10], ndcg_k=10, pool_sizes=[20], bootstrap=50)
    return config


@pytest.mark.parametrize("n_good", [4, 2, 1])
def test_small_user_csv_runs_to_a_report_that_says_what_was_skipped(tmp_path, n_good):
    workdir = tmp_path / "w"
    workdir.mkdir()
    config = _small_csv_config(workdir, n_good)
    workdir = make_workdir(workdir, config)
    snakemake(["--cores", "2", "--configfile", "tiny.yaml"], workdir)
    report = (workdir / "results/report.md").read_text()
    # the four broken rows are counted with their reasons; the mislabelled caption is dropped
    assert f"| mine | table mine.csv | {n_good}/{n_good + 4} |" in report
    for broken in ("empty", "text", "truncated", "nowhere", "other attributes"):
        assert broken in report
    metrics = json.loads((workdir / "results/metrics/mine/random/float32.json").read_text())
    assert metrics["n_videos"] == n_good
    assert metrics["t2v"]["R@5"] == 1.0
    assert metrics["trivial_ks"]["t2v"] == [k for k in (1, 5, 10) if k >= n_good]
    assert "‡ K ≥ gallery" in report
    rescored = json.loads((workdir / "results/metrics/mine/random/binary-r50.json").read_text())
    assert any("covers all" in n for n in rescored["notes"])
    assert any("C=20 skipped" in n for n in metrics["notes"])
    pca = json.loads((workdir / "results/metrics/mine/random/pca1.json").read_text())
    assert pca["transductive"] == ["pca"] and "† transductive" in report
    skipped = report[report.index("## Skipped") :]
    assert "C=20 skipped" in skipped and "covers all" in skipped
    if n_good < 4:
        assert "umap projection" in skipped and "tsne projection" in skipped
        assert ("k-means needs more videos" if n_good == 2 else "only one category") in skipped
    else:
        assert "projection" not in skipped
    if n_good == 1:
        assert "video uniformity skipped" in skipped
    assert (workdir / "results/plots/grids/mine_projections.png").read_bytes()[:4] == b"\x89PNG"
    if n_good == 4:
        # the user's table is a declared input: editing it reruns the download and after
        table = workdir / "mine.csv"
        table.write_text(table.read_text().replace("a red circle", "a red disc"))
        counts = _job_counts(snakemake(["-n", "--configfile", "tiny.yaml"], workdir).stdout)
        assert counts["download"] == 1 and counts["report"] == 1


def test_the_tiny_workflow_gives_the_same_numbers_twice(tiny_run, tmp_path):
    """A second run from scratch (new clips, frames, embeddings) writes byte-identical
    metrics, spectra, clustering, comparison and temporal files."""
    folders = ("metrics", "spectra", "clustering", "comparisons", "temporal")
    first = {
        p.relative_to(tiny_run): p.read_bytes()
        for folder in folders
        for p in sorted((tiny_run / "results" / folder).rglob("*.json"))
    }
    assert len(first) > 20
    again = make_workdir(tmp_path / "again")
    snakemake([*map(str, first), "--cores", "2", "--configfile", "tiny.yaml"], again)
    for path, data in first.items():
        assert (again / path).read_bytes() == data, path


def test_report_is_byte_identical_for_identical_results(tiny_run):
    before = (tiny_run / "results/report.md").read_bytes()
    snakemake(["--forcerun", "report", "--cores", "1", "--configfile", "tiny.yaml"], tiny_run)
    assert (tiny_run / "results/report.md").read_bytes() == before
