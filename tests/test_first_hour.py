"""A researcher's first hour: the demo's config pointed at a CSV of a few clips of one's
own, without a split (and without categories), runs to a report in one go, every fit the
data cannot support a reported skip, and the Findings claim nothing they cannot back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import make_workdir, snakemake

from vidspace.datasets.synthetic import render_clip, write_mp4

pytestmark = pytest.mark.slow

SCRIPT = "<script>window.pwned = 1</script> a caption that is markup"
MOTIONS = [("red", "circle", "left"), ("blue", "square", "right"), ("green", "triangle", "up")]
MOTIONS += [("yellow", "circle", "down"), ("purple", "square", "grow")]
MOTIONS += [("orange", "triangle", "shrink")]


def _write_dataset(work, n_clips: int, categories: str | None, extra_rows=()) -> None:
    """``extra_rows``: (clip, caption) pairs, more captions of the clips written."""
    rows = []

    def category(motion: str) -> str:
        return {"motion": f",{motion}", "one": ",shapes", None: ""}[categories]

    for i, (colour, shape, motion) in enumerate(MOTIONS[:n_clips]):
        frames = render_clip(colour, shape, motion, "gray", np.random.default_rng(i), 64, 12)
        write_mp4(work / f"clip{i}.mp4", frames, fps=8)
        rows.append(f"clip{i}.mp4,a {colour} {shape} that moves {motion}{category(motion)}")
    rows += [f"clip{i}.mp4,{text}{category(MOTIONS[i][2])}" for i, text in extra_rows]
    header = "video,caption" + (",category" if categories else "")
    (work / "mine.csv").write_text("\n".join([header, *rows]) + "\n")


def _run_mine(tmp_path, n_clips, categories, extra_rows=(), **dataset) -> tuple[str, object]:
    config = yaml.safe_load(open(make_workdir(tmp_path / "w") / "config/demo.yaml"))
    work = tmp_path / "w"
    _write_dataset(work, n_clips, categories, extra_rows)
    config["datasets"] = {"mine": {"adapter": "csv", "sampling": "uniform8", **dataset}}
    config["datasets"]["mine"]["options"] = {"path": "mine.csv"}
    (work / "mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run = snakemake(["--cores", "2", "--configfile", "mine.yaml"], work)  # one attempt
    assert "Error in rule" not in run.stderr
    return (work / "results/report.md").read_text(), work


@pytest.mark.parametrize("n_clips, categories", [(6, "motion"), (3, None)])
def test_the_demo_config_on_a_few_clips_of_ones_own(tmp_path, n_clips, categories):
    # a white-space caption and a duplicate of clip 0's caption on clip 1: counted; a
    # caption that is markup: data everywhere, never markup (the explorer, the report)
    extra = [(0, "   "), (1, "a red circle that moves left"), (2, SCRIPT)]
    report, work = _run_mine(tmp_path, n_clips, categories, extra)
    page = (work / "results/explorer/mine.html").read_text()
    assert SCRIPT not in page and SCRIPT not in report
    data = json.loads(page.split('id="vidspace-data">', 1)[1].split("</script>", 1)[0])
    assert SCRIPT in data["captions"]["text"]
    findings = report[report.index("## Findings") : report.index("## Data")]
    assert "**mine**: nothing is concluded about models or variants" in findings
    assert "aligned left out: fitted on the evaluated videos themselves" in findings
    assert "best model is" not in findings and "cheapest variant" not in findings
    skipped = report[report.index("## Skipped") :]
    for reason in ("pca: dim=16 exceeds", "faiss_pq:", "scoring 'qb_norm' needs a train split"):
        assert reason in skipped, reason
    assert "† transductive" in report  # every aligned variant is marked
    quality = json.loads((work / "results/data/mine/quality.json").read_text())
    assert quality["empty_captions_dropped"] == 1
    assert quality["ambiguous_captions"] == 2  # clip 0's and clip 1's identical captions
    assert "- mine: 2 of the" in report and "ambiguous_captions.csv" in report


@pytest.mark.parametrize("n_clips", [1, 2])
def test_one_or_two_clips_give_a_report_that_says_there_is_too_little(tmp_path, n_clips):
    report, _ = _run_mine(tmp_path, n_clips, "motion")
    findings = report[report.index("## Findings") : report.index("## Data")]
    assert f"**mine**: too little to evaluate: {n_clips} video" in findings
    assert "best model is" not in findings
    assert findings.count("\n- ") == 1  # that sentence alone: no claim about any model


def test_a_category_column_with_one_value_skips_what_needs_categories(tmp_path):
    report, _ = _run_mine(tmp_path, 6, "one")
    skipped = report[report.index("## Skipped") :]
    assert "only one category ('shapes')" in skipped


def test_a_seeded_hold_out_fits_on_clips_it_does_not_evaluate(tmp_path):
    report, work = _run_mine(tmp_path, 6, "motion", holdout=0.5)
    assert "the table has no split column, so 3 of 6 videos were held out" in report
    metrics = json.loads((work / "results/metrics/mine/aligned/float32.json").read_text())
    assert metrics["n_videos"] == 3 and not metrics["transductive"]
    assert "aligned left out" not in report
