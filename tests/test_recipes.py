"""The recipes of docs/recipes.md, as a user runs them: the own-videos example end to end
(offline), and the MSR-VTT 1k-A config as far as it goes without the network (it validates,
and its DAG is the one model on the one dataset)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from conftest import REPO, make_workdir, snakemake

from vidspace.core.config import validate_config

pytestmark = pytest.mark.slow


def test_your_own_videos_example_runs_to_a_report(tmp_path):
    work = make_workdir(tmp_path / "w")
    shutil.copytree(REPO / "examples", work / "examples")
    table = (work / "examples/own-videos/clips.csv").read_text().splitlines()
    clips = {row.split(",")[0] for row in table[1:]}
    run = snakemake(["--cores", "2", "--configfile", "examples/own-videos/config.yaml"], work)
    assert "Error in rule" not in run.stderr
    report = (work / "results/report.md").read_text()
    assert report.startswith("# vidspace report: my clips")
    quality = json.loads((work / "results/data/mine/quality.json").read_text())
    assert (quality["videos"], quality["captions"]) == (len(clips), len(table) - 1)
    metrics = json.loads((work / "results/metrics/mine/aligned/float32.json").read_text())
    assert metrics["n_videos"] == len(clips) and metrics["transductive"]  # no split: marked
    findings = report[report.index("## Findings") : report.index("## Data")]
    assert "**mine**: nothing is concluded" in findings  # 12 clips conclude nothing
    for figure in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):
        assert (work / "results" / figure).read_bytes()[:4] == b"\x89PNG", figure


def test_the_msrvtt_recipe_is_one_model_on_one_dataset():
    config = yaml.safe_load((REPO / "examples/msrvtt-1ka-xclip.yaml").read_text())
    validate_config(config)
    assert list(config["datasets"]) == ["msrvtt"] and list(config["models"]) == ["xclip"]
    assert config["datasets"]["msrvtt"]["options"]["split"] == "1k-A"
    # the recipe's table quotes the benchmark numbers it rests on
    recipe = (REPO / "docs/recipes.md").read_text()
    benchmarks = (REPO / "benchmarks/README.md").read_text()
    for measured in ("257.1", "1,489", "1.84 GB"):
        assert measured in benchmarks
    for quoted in ("257 videos/s", "1,489 texts/s", "1.84 GB"):
        assert quoted in recipe


def test_the_msrvtt_recipe_plans_its_jobs_offline(tmp_path):
    work = make_workdir(tmp_path / "w")
    shutil.copytree(REPO / "examples", work / "examples")
    dry = snakemake(["-n", "--configfile", "examples/msrvtt-1ka-xclip.yaml"], work).stdout
    assert "results/embeddings/msrvtt/xclip.npz" in dry
    assert len(set(re.findall(r"results/metrics/msrvtt/xclip/([\w-]+)\.json", dry))) == 5
