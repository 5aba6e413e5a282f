"""dvc.yaml is generated from the Snakemake DAG, is up to date, and `dvc repro` runs it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_workdir, run_tool, snakemake

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
    from vidspace.workflow.dvc import snakemake_jobs, stage_name

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


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def test_each_stage_depends_on_the_code_it_can_run():
    """Static import closure per script: a superset of what Python really imports when the
    script starts (the oracle), and no more than its own part of the package."""
    from vidspace.workflow.dvc import code_deps

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
    assert (
        "src/vidspace/models/stage.py" in embed and "src/vidspace/report/assemble.py" not in embed
    )
    assert (
        "src/vidspace/report/assemble.py" in report and "src/vidspace/models/stage.py" not in report
    )
    assert "src/vidspace" not in embed  # no longer the whole package


def test_the_private_snakemake_names_the_export_uses_still_exist():
    """Snakemake has no public API that hands over a DAG's jobs; vidspace.workflow.dvc uses
    these private names in one function. A release that renames one fails here, by name."""
    import importlib

    from vidspace.workflow.dvc import PRIVATE_SNAKEMAKE_NAMES

    for owner, name in PRIVATE_SNAKEMAKE_NAMES:
        module, _, cls = owner.rpartition(".")
        klass = getattr(importlib.import_module(module), cls)
        fields = getattr(klass, "__dataclass_fields__", {})
        annotations = {k for c in klass.__mro__ for k in getattr(c, "__annotations__", {})}
        found = hasattr(klass, name) or name in fields or name in annotations
        assert found, f"Snakemake no longer has {owner}.{name}: update _built_dag()"
