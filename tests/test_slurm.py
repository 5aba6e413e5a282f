"""The workflow through Snakemake's SLURM executor on a real SLURM cluster (the one-node
cluster .ci/run starts with .ci/slurm-local.sh; skipped where SLURM_CONF names none)."""

from __future__ import annotations

import copy
import json
import os
import shutil

import pytest
from conftest import TINY_CONFIG, make_workdir, snakemake

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
