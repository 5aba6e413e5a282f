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
    """`dvc repro` of a metrics stage runs its chain through Snakemake's own jobs: the same
    numbers as the Snakemake run, and afterwards both tools agree there is nothing to do."""
    workdir = make_workdir(tmp_path / "repo")
    (workdir / "src").symlink_to(REPO / "src")
    run_tool(["git", "init", "-q"], workdir)
    run_tool([sys.executable, "-m", "dvc", "init", "-q"], workdir)
    run_tool([sys.executable, "scripts/export_dvc.py", "--configfile", "tiny.yaml"], workdir)
    target = "retrieval--synthetic--random--float32"
    ran = _stages_run(run_tool([sys.executable, "-m", "dvc", "repro", target], workdir).stdout)
    assert ran == {
        "check-dvc-yaml",
        "download--synthetic",
        "sample_frames--synthetic--u4",
        "embed--synthetic--random",
        "transform--synthetic--random--float32",
        target,
    }
    for rel in (
        "results/embeddings/synthetic/random.npz",
        "results/embeddings/synthetic/random.json",
        "results/ranks/synthetic/random/float32.npz",
    ):
        assert (workdir / rel).read_bytes() == (tiny_run / rel).read_bytes(), rel
    rel = "results/metrics/synthetic/random/float32.json"
    ours, theirs = (json.loads((d / rel).read_text()) for d in (workdir, tiny_run))
    assert ours["t2v"] == theirs["t2v"] and ours["v2t"] == theirs["v2t"]
    status = run_tool([sys.executable, "-m", "dvc", "status", target], workdir).stdout
    assert "up to date" in status
    dry = snakemake([rel, "-n", "--configfile", "tiny.yaml"], workdir).stdout
    assert "Nothing to be done" in dry
    # a new variant in the config: the check stage rewrites dvc.yaml, names the new stages
    # and stops the run; the next run has them, and runs only the new chain
    config = yaml.safe_load((workdir / "tiny.yaml").read_text())
    config["variants"]["pca2"] = {"kind": "pca", "dim": 2}
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = run_tool([sys.executable, "-m", "dvc", "repro", target], workdir, check=False)
    assert proc.returncode != 0
    assert "dvc.yaml did not describe tiny.yaml" in proc.stderr
    assert "added: " in proc.stderr and "retrieval--synthetic--aligned--pca2" in proc.stderr
    assert "transform--synthetic--random--float32" not in _stages_run(proc.stdout)
    new = "retrieval--synthetic--random--pca2"
    ran = _stages_run(run_tool([sys.executable, "-m", "dvc", "repro", new], workdir).stdout)
    assert ran == {"check-dvc-yaml", "transform--synthetic--random--pca2", new}
    pca2 = json.loads((workdir / "results/metrics/synthetic/random/pca2.json").read_text())
    assert pca2["dim"] == 2


# (key, new value) for config keys of the tiny config: each changes some job's command
PERTURBATIONS = [
    ("seed", 1),
    ("device", "auto"),
    ("datasets.synthetic.options.n_videos", 25),
    ("samplings.u4.num_frames", 3),
    ("models.random.dim", 32),
    ("models.aligned.dim", 6),
    ("variants.pca4.dim", 3),
    ("variants.dsl.temperature", 0.1),
    ("embed.batch_size", 4),
    ("evaluation.split", "all"),
    ("evaluation.ks", [1, 3]),
    ("evaluation.ndcg_k", 3),
    ("evaluation.pool_sizes", [4]),
    ("evaluation.bootstrap", 10),
    ("report.title", "another title"),
    ("temporal.betas", [1, 3]),
    ("temporal.aggregation", "topk"),
    ("clustering.dec", False),
]


def test_every_config_key_a_command_reads_is_a_declared_param(tmp_path):
    """The oracle is Snakemake: change one config value, rebuild the DAG, and every job
    whose command changed (same inputs and outputs) must declare a key covering it in
    CONFIG_KEYS, or DVC would not rerun it."""
    from vidspace.dvc import snakemake_jobs, stage_name

    workdir = make_workdir(tmp_path)
    base = {stage_name(j): j for j in snakemake_jobs("tiny.yaml", workdir)}
    for key, value in PERTURBATIONS:
        config = yaml.safe_load((workdir / "tiny.yaml").read_text())
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        assert leaf in node, key
        node[leaf] = value
        (workdir / "changed.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        changed = []
        for job in snakemake_jobs("changed.yaml", workdir):
            before = base.get(stage_name(job))
            same_files = before and (before["deps"], before["outs"]) == (job["deps"], job["outs"])
            if same_files and before["cmd"] != job["cmd"]:
                changed.append(stage_name(job))
                covered = any(key == k or key.startswith(k + ".") for k in job["config_keys"])
                assert covered, f"{job['rule']} reads {key} but declares {job['config_keys']}"
        assert changed, f"changing {key} changed no command: the perturbation tests nothing"


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
    # B changes one variant, in the config only (no regeneration step): DVC sees the
    # parameter, and both tools rerun only that variant's chain and its readers
    config = yaml.safe_load((b / "tiny.yaml").read_text())
    config["variants"]["pca4"]["dim"] = 3
    (b / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    diff = run_tool([sys.executable, "-m", "dvc", "params", "diff", "--json"], b).stdout
    change = {"old": 4, "new": 3, "diff": -1}
    assert json.loads(diff) == {"tiny.yaml": {"variants.pca4.dim": change}}
    chain = {"transform": 3, "retrieval": 3, "cost": 3, "plot_retrieval": 1, "plot_pareto": 1}
    counts = _job_counts(snakemake(["-n", "--configfile", "tiny.yaml"], b).stdout)
    assert counts == {**chain, "report": 1, "all": 1, "total": 13}
    ran = _stages_run(run_tool([sys.executable, "-m", "dvc", "repro"], b).stdout)
    models = ("random", "aligned", "motion")
    pca4_chain = {
        *(f"transform--synthetic--{m}--pca4" for m in models),
        *(f"retrieval--synthetic--{m}--pca4" for m in models),
        *(f"cost--synthetic--{m}" for m in models),  # reads every variant file
        "plot_retrieval--synthetic",
        "plot_pareto--synthetic",
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
