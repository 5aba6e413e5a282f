"""Jobs of the full config and what they pay to start, before and after grouping.

    python benchmarks/bench_grouping.py [--configfile config.yaml] [--repeat 5]

Counts the jobs of the config's DAG by rule (Snakemake's own DAG, as `dvc.yaml` is made),
measures the start-up of one transform and one retrieval process (interpreter and the
imports of the script, `--help`, best of --repeat), and prints:

- local runs: every job is a process (Snakemake ignores `group:` without a cluster), so
  start-up = jobs x start-up per job, spread over --cores;
- SLURM (profiles/slurm): transform + retrieval of a variant form one chain, 30 chains a
  group job, so the cluster sees far fewer jobs; each job inside still starts its process.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml
from _common import table

REPO = Path(__file__).resolve().parents[1]
GROUPED = ("transform", "retrieval")


def startup(script: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, script, "--help"], cwd=REPO, check=True, capture_output=True
        )
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configfile", default="config.yaml")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--cores", type=int, default=8)
    a = p.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from vidspace.workflow.dvc import snakemake_jobs

    jobs = snakemake_jobs(a.configfile, REPO)
    counts = Counter(job["rule"] for job in jobs)
    profile = yaml.safe_load((REPO / "profiles/slurm/config.v8+.yaml").read_text())
    per_group = profile["group-components"]["variants"]
    seconds = {rule: startup(f"scripts/{rule}.py", a.repeat) for rule in GROUPED}
    chains = counts["transform"]
    small = sum(counts[r] for r in GROUPED)
    other = sum(counts.values()) - small
    rows = [(f"{rule} jobs", str(n)) for rule, n in sorted(counts.items())]
    rows += [
        ("jobs in total", str(sum(counts.values()))),
        ("transform start-up (s)", f"{seconds['transform']:.2f}"),
        ("retrieval start-up (s)", f"{seconds['retrieval']:.2f}"),
    ]
    startup_total = sum(counts[r] * seconds[r] for r in GROUPED)
    rows += [
        ("local: transform+retrieval processes", str(small)),
        ("local: their start-up, CPU-s", f"{startup_total:.0f}"),
        (f"local: their start-up, wall at {a.cores} cores (s)", f"{startup_total / a.cores:.0f}"),
        ("SLURM before grouping: jobs submitted", str(sum(counts.values()))),
        (
            f"SLURM after grouping ({per_group} chains a job): jobs submitted",
            str(other + math.ceil(chains / per_group)),
        ),
        ("  of which group jobs", str(math.ceil(chains / per_group))),
        (
            "one process per (dataset, model) for all variants (not built): processes",
            str(
                len(
                    {
                        (j["outs"][0].split("/")[2], j["outs"][0].split("/")[3])
                        for j in jobs
                        if j["rule"] == "transform"
                    }
                )
            ),
        ),
    ]
    print(table(rows))


if __name__ == "__main__":
    main()
