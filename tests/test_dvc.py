"""dvc.yaml is generated from the Snakemake DAG, is up to date, and `dvc repro` runs it."""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from conftest import REPO, make_workdir, run_tool

pytestmark = pytest.mark.slow


def test_dvc_yaml_is_up_to_date(tmp_path):
    run_tool([sys.executable, "scripts/export_dvc.py", "--out", str(tmp_path / "dvc.yaml")], REPO)
    assert (tmp_path / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text(), (
        "dvc.yaml is stale: run `python scripts/export_dvc.py`"
    )


def test_dvc_stages_name_the_snakemake_outputs():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = set()
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for item in stage.get(key, []):
                outs.add(item if isinstance(item, str) else next(iter(item)))
    assert "results/report.md" in outs
    assert "results/embeddings/synthetic/aligned.npz" in outs
    assert "data/raw/synthetic/videos" in outs
    # every dependency is produced by a stage or is code in the repository
    for stage in stages.values():
        for dep in stage["deps"]:
            assert dep in outs or (REPO / dep).exists(), dep


def test_dvc_repro_matches_snakemake(tmp_path, tiny_run):
    workdir = make_workdir(tmp_path / "repo")
    (workdir / "src").symlink_to(REPO / "src")
    run_tool(["git", "init", "-q"], workdir)
    run_tool([sys.executable, "-m", "dvc", "init", "-q"], workdir)
    run_tool([sys.executable, "scripts/export_dvc.py", "--configfile", "tiny.yaml"], workdir)
    run_tool([sys.executable, "-m", "dvc", "repro", "-q"], workdir)
    for model in ("random", "aligned"):
        rel = f"results/metrics/synthetic/{model}/float32.json"
        ours, theirs = (json.loads((d / rel).read_text()) for d in (workdir, tiny_run))
        assert ours["t2v"] == theirs["t2v"] and ours["v2t"] == theirs["v2t"]
    assert (workdir / "results/report.md").exists()
    status = run_tool([sys.executable, "-m", "dvc", "status", "-q"], workdir, check=False)
    assert status.returncode == 0
