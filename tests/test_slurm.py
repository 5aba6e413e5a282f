"""The workflow through Snakemake's SLURM executor on a real SLURM cluster (the one-node
cluster .ci/run starts with .ci/slurm-local.sh; skipped where SLURM_CONF names none)."""

from __future__ import annotations

import copy
import json
import os
import shutil

import pytest
from conftest import REPO, TINY_CONFIG, make_workdir, snakemake

pytestmark = pytest.mark.skipif(
    not os.environ.get("SLURM_CONF") or not shutil.which("sbatch"),
    reason="no SLURM cluster here (.ci/run starts one with .ci/slurm-local.sh)",
)

MODELS = ("random",)  # one GPU job, one CPU job, one grouped job: few SLURM round trips
VARIANTS = ("float32", "int8")


def test_tiny_workflow_on_slurm_equals_the_local_run(tiny_run, tmp_path):
    config = copy.deepcopy(TINY_CONFIG)
    config["models"] = {m: config["models"][m] for m in MODELS}
    config["variants"] = {v: config["variants"][v] for v in VARIANTS}
    workdir = make_workdir(tmp_path / "w", config)
    files = [f"spectra/synthetic/{m}.json" for m in MODELS]
    files += [f"metrics/synthetic/random/{v}.json" for v in VARIANTS]
    proc = snakemake(
        [
            *[f"results/{f}" for f in files],  # GPU, CPU and grouped jobs; no plots
            "--profile",
            "profiles/slurm",
            "--configfile",
            "tiny.yaml",
            # a cluster without slurmdbd: no sacct; a 2-CPU node with 1 fake GPU
            "--slurm-status-command",
            "squeue",
            "--slurm-init-seconds-before-status-checks",
            "1",
            "--seconds-between-status-checks",
            "2",
            "--max-threads",
            "2",
            "--default-resources",
            "mem_mb=1000",
            "runtime=10",
            "--set-resources",
            "embed:mem_mb=1500",
            "sample_frames:mem_mb=1500",
        ],
        workdir,
    )
    log = proc.stdout + proc.stderr
    assert "has been submitted with SLURM jobid" in log
    assert "group_variants" in log  # transform + retrieval went as grouped jobs
    results = workdir / "results"
    for model in MODELS:
        run = json.loads((results / f"embeddings/synthetic/{model}.run.json").read_text())
        assert run["cuda_visible_devices"] == "0"  # SLURM ran embed as a GPU job
        files += [f"embeddings/synthetic/{model}.npz", f"embeddings/synthetic/{model}.json"]
    for rel in files:
        assert (results / rel).read_bytes() == (tiny_run / "results" / rel).read_bytes(), rel


# attempt 1 writes a partial output and hangs (until cancelled); a retry finishes at once
SLOW_SNAKEFILE = """
rule slow:
    output:
        "out.txt",
    resources:
        hang=lambda wildcards, attempt: 600 if attempt == 1 else 0,
    shell:
        "echo partial > {output}; sleep {resources.hang}; echo done > {output}"
"""


def _cancel_first_job(workdir, retries: int):
    """Run the slow rule through the profile, scancel its first SLURM job once it has
    written its partial output, and return snakemake's exit code and log."""
    import subprocess
    import sys
    import time

    from conftest import tool_env

    args = [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--retries"]
    args += [str(retries), "--slurm-status-command", "squeue"]
    args += ["--slurm-init-seconds-before-status-checks", "1"]
    args += ["--seconds-between-status-checks", "2", "--default-resources"]
    args += ["mem_mb=500", "runtime=10"]
    proc = subprocess.Popen(
        args,
        cwd=workdir,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline, cancelled = time.time() + 180, None
    while time.time() < deadline and cancelled is None:
        time.sleep(1)
        out = workdir / "out.txt"
        if out.exists() and out.read_text().strip() == "partial":
            jobs = subprocess.run(
                ["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, check=True
            ).stdout.split("\n")
            running = [line.split()[0] for line in jobs if line.endswith("RUNNING")]
            if running:
                cancelled = running[0]
                subprocess.run(["scancel", cancelled], check=True)
    try:
        log, _ = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert cancelled, f"the job never ran:\n{log[-2000:]}"
    return proc.returncode, log


def test_a_cancelled_slurm_job_is_reported_and_nothing_partial_is_kept(tmp_path):
    """scancel of a running job that has written part of its output: Snakemake reports the
    failed job, removes the partial output and still wants to run it. (With the profile's
    `retries: 1` the same cancellation is resubmitted and completes: run
    `_cancel_first_job(workdir, retries=1)`; it is left out of CI for time.)"""
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(SLOW_SNAKEFILE)
    shutil.copytree(REPO / "profiles", workdir / "profiles")
    code, log = _cancel_first_job(workdir, retries=0)
    assert code != 0
    assert "Error in rule slow" in log, log[-3000:]
    assert not (workdir / "out.txt").exists(), "a cancelled job's partial output was kept"
    dry = snakemake(["-n"], workdir).stdout
    assert "slow" in dry and "Nothing to be done" not in dry


def test_a_cluster_without_a_default_partition_gets_sbatchs_message(tmp_path):
    """The profile names no partition; where the cluster has no default one, the run stops
    at submission with SLURM's own reason, and no job or output is left."""
    import subprocess

    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(
        'rule one:\n    output:\n        "out.txt",\n    shell:\n        "echo done > {output}"\n'
    )
    shutil.copytree(REPO / "profiles", workdir / "profiles")

    partition = subprocess.run(
        ["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, check=True
    ).stdout.split()[0]

    def default(flag: str) -> None:
        subprocess.run(
            ["scontrol", "update", f"PartitionName={partition}", f"Default={flag}"], check=True
        )

    default("NO")
    try:
        proc = snakemake(
            [
                "--profile",
                "profiles/slurm",
                "--retries",
                "0",
                "--slurm-status-command",
                "squeue",
                "--slurm-init-seconds-before-status-checks",
                "1",
                "--default-resources",
                "mem_mb=100",
                "runtime=5",
            ],
            workdir,
            check=False,
        )
    finally:
        default("YES")
    assert proc.returncode != 0
    assert "No partition specified or system default partition" in proc.stdout + proc.stderr
    assert not (workdir / "out.txt").exists()
