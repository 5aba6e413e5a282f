"""dvc.yaml is generated from the Snakemake DAG, is up to date, and `dvc repro` runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_workdir, run_tool, snakemake
from test_workflow import _job_counts

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


def _git(args, cwd):
    return run_tool(["git", "-c", "user.name=vidspace", "-c", "user.email=ci@vidspace", *args], cwd)


def _make(target, cwd, *extra):
    venv = os.path.relpath(Path(sys.executable).parents[1], cwd)
    return run_tool(
        ["make", "-f", str(REPO / "Makefile"), target, "CONFIG=tiny.yaml", f"VENV={venv}", *extra],
        cwd,
    )


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def test_team_embeds_once_and_a_teammate_reuses_everything(tmp_path, tiny_run):
    """A runs the workflow and records it in DVC, pushes to a folder remote; B clones and
    pulls: neither tool wants to run anything. B then changes one variant parameter: both
    rerun only that variant's chain and what reads it."""
    a, b, remote = tmp_path / "a", tmp_path / "b", tmp_path / "remote"
    shutil.copytree(tiny_run, a, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    (a / "src").symlink_to(REPO / "src")
    shutil.copy2(REPO / ".gitignore", a / ".gitignore")
    _git(["init", "-q"], a)
    run_tool([sys.executable, "-m", "dvc", "init", "-q"], a)
    run_tool([sys.executable, "-m", "dvc", "remote", "add", "-d", "team", str(remote)], a)
    # A: the documented recording step, then commit and push
    _make("record", a)
    _git(["add", "-A"], a)
    _git(["commit", "-qm", "results of the tiny run"], a)
    run_tool([sys.executable, "-m", "dvc", "push", "-q"], a)
    # B: a clone has no results at all until it pulls
    _git(["clone", "-q", str(a), str(b)], tmp_path)
    assert not (b / "results/report.md").exists()
    _make("pull", b)
    for rel in (
        "results/report.md",
        "results/metrics/synthetic/aligned/float32.json",
        "results/plots/retrieval_synthetic.png",
        "results/embeddings/synthetic/aligned.npz",
    ):
        assert (b / rel).read_bytes() == (a / rel).read_bytes(), rel
    dry = snakemake(["-n", "--configfile", "tiny.yaml"], b).stdout
    assert "Nothing to be done" in dry
    status = run_tool([sys.executable, "-m", "dvc", "status"], b).stdout
    assert "Data and pipelines are up to date" in status
    # B changes one variant: only its transform/retrieval chain and its readers rerun
    config = yaml.safe_load((b / "tiny.yaml").read_text())
    config["variants"]["pca4"]["dim"] = 3
    (b / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_tool([sys.executable, "scripts/export_dvc.py", "--configfile", "tiny.yaml"], b)
    chain = {"transform": 3, "retrieval": 3, "plot_retrieval": 1, "report": 1}
    counts = _job_counts(snakemake(["-n", "--configfile", "tiny.yaml"], b).stdout)
    assert counts == {**chain, "all": 1, "total": 9}
    ran = _stages_run(run_tool([sys.executable, "-m", "dvc", "repro"], b).stdout)
    models = ("random", "aligned", "motion")
    assert ran == {
        *(f"transform--synthetic--{m}--pca4" for m in models),
        *(f"retrieval--synthetic--{m}--pca4" for m in models),
        "plot_retrieval--synthetic",
        "report--report",
    }
    pca = json.loads((b / "results/metrics/synthetic/aligned/pca4.json").read_text())
    assert pca["dim"] == 3


def test_a_pull_that_fails_marks_nothing_up_to_date(tmp_path, tiny_run):
    """With the remote gone, `make pull` stops at `dvc pull` with its error; Snakemake's
    touch never runs."""
    a = tmp_path / "a"
    shutil.copytree(tiny_run, a, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    (a / "src").symlink_to(REPO / "src")
    shutil.copy2(REPO / ".gitignore", a / ".gitignore")
    _git(["init", "-q"], a)
    run_tool([sys.executable, "-m", "dvc", "init", "-q"], a)
    run_tool(
        [sys.executable, "-m", "dvc", "remote", "add", "-d", "team", str(tmp_path / "gone")], a
    )
    _make("record", a)
    _git(["add", "-A"], a)
    _git(["commit", "-qm", "recorded, never pushed"], a)
    b = tmp_path / "b"
    _git(["clone", "-q", str(a), str(b)], tmp_path)
    venv = os.path.relpath(Path(sys.executable).parents[1], b)
    proc = run_tool(
        ["make", "-f", str(REPO / "Makefile"), "pull", "CONFIG=tiny.yaml", f"VENV={venv}"],
        b,
        check=False,
    )
    assert proc.returncode != 0
    assert "snakemake --touch" not in proc.stdout
    assert "missing" in (proc.stdout + proc.stderr).lower()
    assert not (b / ".snakemake/metadata").exists()


def test_each_stage_depends_on_the_code_it_can_run():
    """Static import closure per script: a superset of what Python really imports when the
    script starts (the oracle), and no more than its own part of the package."""
    from vidspace.dvc import code_deps

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for script in sorted(REPO.glob("scripts/*.py")):
        if script.name == "export_dvc.py":
            continue
        probe = (
            "import runpy, sys\n"
            f"sys.argv = [{str(script)!r}, '--help']\n"
            "try:\n"
            f"    runpy.run_path({str(script)!r}, run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            "print('\\n'.join(getattr(m, '__file__', '') or '' for n, m in sys.modules.items()"
            " if n.split('.')[0] == 'vidspace'))\n"
        )
        out = run_tool([sys.executable, "-c", probe], REPO).stdout
        loaded = {
            f"src/{Path(line).resolve().relative_to(REPO / 'src').as_posix()}"
            for line in out.splitlines()
            if line.endswith(".py") and (REPO / "src") in Path(line).resolve().parents
        }
        static = set(code_deps(script.resolve()))
        assert loaded and loaded <= static, (script.name, loaded - static)
    embed = stages["embed--synthetic--aligned"]["deps"]
    report = stages["report--report"]["deps"]
    assert "src/vidspace/models/stage.py" in embed and "src/vidspace/report.py" not in embed
    assert "src/vidspace/report.py" in report and "src/vidspace/models/stage.py" not in report
    assert "src/vidspace" not in embed  # no longer the whole package
