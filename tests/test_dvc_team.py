"""The team story through DVC (README, "Embed once, share everywhere"): A records and
pushes, B pulls and reuses everything, a changed parameter reruns only its chain, and a
failed or partial pull marks nothing up to date. Apart from test_dvc.py so the two test
workers can share the slow DVC tests."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_tool, snakemake
from test_dvc import _stages_run
from test_workflow import _job_counts

from vidspace.analyses import figures, registry

pytestmark = pytest.mark.slow


def _git(args, cwd):
    return run_tool(["git", "-c", "user.name=vidspace", "-c", "user.email=ci@vidspace", *args], cwd)


def _make(target, cwd, *extra):
    venv = os.path.relpath(Path(sys.executable).parents[1], cwd)
    return run_tool(
        ["make", "-f", str(REPO / "Makefile"), target, "CONFIG=tiny.yaml", f"VENV={venv}", *extra],
        cwd,
    )


def test_team_embeds_once_and_a_teammate_reuses_everything(tmp_path, tiny_run):
    """A runs the workflow and records it in DVC, pushes to a folder remote; B clones and
    pulls: neither tool wants to run anything. B then changes one variant parameter: both
    rerun only that variant's chain and what reads it."""
    # A: the documented recording step, then commit and push; B clones
    a, b, _ = _recorded_clone(tmp_path, tiny_run, push=True)
    # B: a clone has no results at all until it pulls
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
    # B changes one variant, in the config only (no regeneration step): DVC sees the
    # parameter, and both tools rerun only that variant's chain and its readers
    config = yaml.safe_load((b / "tiny.yaml").read_text())
    config["variants"]["pca4"]["dim"] = 3
    (b / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    diff = run_tool([sys.executable, "-m", "dvc", "params", "diff", "--json"], b).stdout
    change = {"old": 4, "new": 3, "diff": -1}
    assert json.loads(diff) == {"tiny.yaml": {"variants.pca4.dim": change}}

    # the readers of a variant's files: the declared analyses that read every variant of
    # a model (one job per model, or per dataset for a dataset's page; not those reading the
    # reference variant only) and the
    # figures over every variant's metrics or over those readers (one per dataset)
    def every_variant(inputs):
        return any(i.rule in ("transform", "retrieval") and "variant" in i.each for i in inputs)

    readers = [a.name for a in registry().values() if every_variant(a.inputs.values())]
    plots = [
        f.rule
        for f in figures().values()
        if every_variant(f.inputs.values()) or any(i.rule in readers for i in f.inputs.values())
    ]
    assert {"cost"} <= set(readers) and {"plot_retrieval", "plot_pareto"} <= set(plots)
    jobs = {a.name: 3 if "model" in a.wildcards else 1 for a in registry().values()}
    chain = {
        "transform": 3,
        "retrieval": 3,
        **{r: jobs[r] for r in readers},
        **dict.fromkeys(plots, 1),
    }
    counts = _job_counts(snakemake(["-n", "--configfile", "tiny.yaml"], b).stdout)
    assert counts == {**chain, "report": 1, "all": 1, "total": sum(chain.values()) + 2}
    ran = _stages_run(run_tool([sys.executable, "-m", "dvc", "repro"], b).stdout)
    models = ("random", "aligned", "motion")
    pca4_chain = {
        *(f"transform--synthetic--{m}--pca4" for m in models),
        *(f"retrieval--synthetic--{m}--pca4" for m in models),
        *(f"{a}--synthetic--{m}" for a in readers if jobs[a] == 3 for m in models),
        *(f"{a}--synthetic" for a in readers if jobs[a] == 1),  # every variant file
        *(f"{f}--synthetic" for f in plots),
        "report--report",
    }
    assert ran == {"check-dvc-yaml", *pca4_chain}
    pca = json.loads((b / "results/metrics/synthetic/aligned/pca4.json").read_text())
    assert pca["dim"] == 3
    # the two tools agree afterwards
    assert "Nothing to be done" in snakemake(["-n", "--configfile", "tiny.yaml"], b).stdout
    assert "up to date" in run_tool([sys.executable, "-m", "dvc", "status"], b).stdout
    # an experiment from the command line: DVC edits the config and reruns what reads it
    # (one model's metrics as the target, to keep the test short)
    _git(["commit", "-qam", "pca4 at 3 dimensions"], b)
    exp = [sys.executable, "-m", "dvc", "exp", "run", "-n", "pca2", "-S"]
    target = "retrieval--synthetic--aligned--pca4"
    ran = _stages_run(run_tool([*exp, "tiny.yaml:variants.pca4.dim=2", target], b).stdout)
    assert ran == {"check-dvc-yaml", "transform--synthetic--aligned--pca4", target}
    pca = json.loads((b / "results/metrics/synthetic/aligned/pca4.json").read_text())
    assert pca["dim"] == 2
    shown = json.loads(run_tool([sys.executable, "-m", "dvc", "exp", "show", "--json"], b).stdout)
    dims = {
        (row.get("name") or row["rev"]): row["data"]["params"]["tiny.yaml"]["data"]["variants"][
            "pca4"
        ]["dim"]
        for row in _exp_rows(shown)
    }
    assert dims["pca2"] == 2 and 3 in dims.values(), dims


def _exp_rows(shown: list) -> list[dict]:
    """Rows of `dvc exp show --json`: each commit and the experiments based on it."""
    rows = []
    for entry in shown:
        rows.append(entry)
        for group in entry.get("experiments") or []:
            rows += group.get("revs", [])
    return [r for r in rows if r.get("data")]


def _recorded_clone(tmp_path, tiny_run, push: bool) -> tuple[Path, Path, Path]:
    """A recorded and committed copy of the tiny run (pushed to a folder remote or not)
    and B's clone of it, which has no results."""
    a, b, remote = tmp_path / "a", tmp_path / "b", tmp_path / "remote"
    shutil.copytree(tiny_run, a, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    (a / "src").symlink_to(REPO / "src")
    shutil.copy2(REPO / ".gitignore", a / ".gitignore")
    _git(["init", "-q"], a)
    run_tool([sys.executable, "-m", "dvc", "init", "-q"], a)
    run_tool([sys.executable, "-m", "dvc", "remote", "add", "-d", "team", str(remote)], a)
    _make("record", a)
    _git(["add", "-A"], a)
    _git(["commit", "-qm", "recorded"], a)
    if push:
        run_tool([sys.executable, "-m", "dvc", "push", "-q"], a)
    _git(["clone", "-q", str(a), str(b)], tmp_path)
    return a, b, remote


def _failed_pull(b: Path) -> str:
    venv = os.path.relpath(Path(sys.executable).parents[1], b)
    proc = run_tool(
        ["make", "-f", str(REPO / "Makefile"), "pull", "CONFIG=tiny.yaml", f"VENV={venv}"],
        b,
        check=False,
    )
    assert proc.returncode != 0
    assert not (b / ".snakemake/metadata").exists(), "something was marked up to date"
    return proc.stdout + proc.stderr


def test_a_pull_that_fails_marks_nothing_up_to_date(tmp_path, tiny_run):
    """A remote that was never pushed to, then one that lost a file (a partial pull), then
    a lock older than the pipeline: each stops `make pull` with a message, before Snakemake
    is told anything is up to date."""
    a, b, remote = _recorded_clone(tmp_path, tiny_run, push=False)
    out = _failed_pull(b)
    assert "dvc pull failed" in out and "nothing was marked up to date" in out
    # partial: the remote has everything but one cached file
    run_tool([sys.executable, "-m", "dvc", "push", "-q"], a)
    lost = next(p for p in sorted((remote / "files").rglob("*")) if p.is_file())
    lost.unlink()
    out = _failed_pull(b)
    assert "dvc pull failed" in out and "failed to pull" in out.lower()
    # older lock: A changed the pipeline and committed dvc.yaml without recording it
    run_tool([sys.executable, "-m", "dvc", "push", "-q"], a)  # the remote is whole again
    config = yaml.safe_load((a / "tiny.yaml").read_text())
    config["variants"]["pca2"] = {"kind": "pca", "dim": 2}
    (a / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_tool([sys.executable, "scripts/export_dvc.py", "--configfile", "tiny.yaml"], a)
    _git(["commit", "-qam", "a new variant, not recorded"], a)
    _git(["pull", "-q"], b)
    out = _failed_pull(b)
    assert "dvc.lock is older than dvc.yaml" in out and "make record" in out
    assert "retrieval--synthetic--aligned--pca2" in out
