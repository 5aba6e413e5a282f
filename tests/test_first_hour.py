"""A researcher's first hour: the demo's config pointed at a CSV of a few clips of one's
own, without a split (and without categories), runs to a report in one go, every fit the
data cannot support a reported skip, and the Findings claim nothing they cannot back."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import make_workdir, snakemake

from vidspace.datasets.synthetic import render_clip, write_mp4

pytestmark = pytest.mark.slow

MOTIONS = [("red", "circle", "left"), ("blue", "square", "right"), ("green", "triangle", "up")]
MOTIONS += [("yellow", "circle", "down"), ("purple", "square", "grow")]
MOTIONS += [("orange", "triangle", "shrink")]


@pytest.mark.parametrize("n_clips, categories", [(6, True), (3, False)])
def test_the_demo_config_on_a_few_clips_of_ones_own(tmp_path, n_clips, categories):
    config = yaml.safe_load(open(make_workdir(tmp_path / "w") / "config/demo.yaml"))
    work = tmp_path / "w"
    rows = []
    for i, (colour, shape, motion) in enumerate(MOTIONS[:n_clips]):
        frames = render_clip(colour, shape, motion, "gray", np.random.default_rng(i), 64, 12)
        write_mp4(work / f"clip{i}.mp4", frames, fps=8)
        row = f"clip{i}.mp4,a {colour} {shape} that moves {motion}"
        rows.append(row + (f",{motion}" if categories else ""))
    header = "video,caption" + (",category" if categories else "")
    (work / "mine.csv").write_text("\n".join([header, *rows]) + "\n")
    config["datasets"] = {"mine": {"adapter": "csv", "sampling": "uniform8"}}
    config["datasets"]["mine"]["options"] = {"path": "mine.csv"}
    (work / "mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run = snakemake(["--cores", "2", "--configfile", "mine.yaml"], work)  # one attempt
    assert "Error in rule" not in run.stderr
    report = (work / "results/report.md").read_text()
    findings = report[report.index("## Findings") : report.index("## Data")]
    assert "**mine**: nothing is concluded about models or variants" in findings
    assert "aligned left out: fitted on the evaluated videos themselves" in findings
    assert "best model is" not in findings and "cheapest variant" not in findings
    skipped = report[report.index("## Skipped") :]
    for reason in ("pca: dim=16 exceeds", "faiss_pq:", "scoring 'qb_norm' needs a train split"):
        assert reason in skipped, reason
    assert "† transductive" in report  # every aligned variant is marked
