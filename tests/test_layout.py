"""One analysis, one room: an analysis is one module of vidspace.analyses, and the
workflow's rules, the report (index, section, figure, Findings), DVC's metrics and
parameters all follow from its declaration."""

from __future__ import annotations

import os
import shutil
import sys

import pytest
import yaml
from conftest import REPO, run_tool

from vidspace.analyses import Input, figures, grouped, input_key, registry, select

# A new analysis, written as a user would: this one file is all it takes.
NORMS = '''"""Mean norm of the raw video embeddings (an analysis added by a test)."""

import numpy as np

from vidspace.analyses import Analysis, Figure, Input
from vidspace.core.io import load_embeddings, read_json, write_json
from vidspace.report.markdown import rel, table


def _run(inputs, outputs, config):
    norms = np.linalg.norm(load_embeddings(inputs["embeddings"])["video_emb"], axis=1)
    write_json(outputs["norms"], {"mean_norm": float(norms.mean()), "seed": config["seed"]})


def _section(report):
    rows = [
        [ds, m, f"{read_json(md['norms'])['mean_norm']:.3f}"]
        for ds, d in report.datasets.items()
        for m, md in d["models"].items()
    ]
    figures = [f"![{ds}]({rel(p, report.report_dir)})" for ds, p in report.plots["norms"].items()]
    body = table(["Dataset", "Model", "Mean norm"], rows)
    return "## Norms\\n\\n" + body + "\\n\\n" + "".join(figures)


def _draw(inputs, out, wildcards, config):
    from vidspace.report.figures import plt, save

    values = {m: read_json(p)["mean_norm"] for m, p in inputs["norms"].items()}
    fig, ax = plt.subplots()
    ax.bar(list(values), list(values.values()))
    save(fig, out)


ANALYSIS = Analysis(
    name="norms",
    outputs={"norms": "results/norms/{dataset}/{model}.json"},
    inputs={"embeddings": Input("embed", "embeddings")},
    run=_run,
    config_keys=("seed",),
    metrics=("norms",),
    section=_section,
    order=45,
    headline=lambda ds, m, r: f"**{ds} / {m}**: mean video norm {r['mean_norm']:.3f}.",
    figure=Figure(
        name="norms",
        path="results/plots/norms_{dataset}.png",
        caption="spectrum.rst",
        category="Norms",
        inputs={"norms": Input("norms", "norms", each=("model",))},
        draw=_draw,
    ),
)
'''


def test_the_analyses_are_discovered_in_report_order():
    """Every module of the package that declares ANALYSIS is found (a new one needs no
    entry here), in report order."""
    analyses = registry()
    declared = sorted(
        f.stem
        for f in (REPO / "src/vidspace/analyses").glob("*.py")
        if "\nANALYSIS = Analysis(" in f.read_text()
    )
    assert sorted(a.module.rsplit(".", 1)[1] for a in analyses.values()) == declared
    assert [a.order for a in analyses.values()] == sorted(a.order for a in analyses.values())
    assert {"spectrum", "dimensions", "temporal", "clustering", "projections", "cost"} <= set(
        analyses
    )
    assert all(a.module.startswith("vidspace.analyses.") for a in analyses.values())
    assert {
        "plot_retrieval",
        "plot_spectrum",
        "plot_dimensions",
        "plot_temporal",
        "plot_projections",
        "plot_pareto",
    } <= set(figures())
    temporal = analyses["temporal"]
    assert temporal.log() == "logs/temporal/{dataset}/{model}.log"
    assert temporal.benchmark() == "results/benchmarks/temporal/{dataset}/{model}.tsv"
    assert figures()["plot_spectrum"].log() == "logs/plot_spectrum/{model}.log"


def test_inputs_are_named_and_grouped_back():
    inputs = {"embeddings": Input("embed", "embeddings"), "runs": Input("x", "y", each=("model",))}
    named = {
        input_key("embeddings", ""): "e.npz",
        input_key("runs", "a"): "a.json",
        input_key("runs", "b/c"): "b.json",
    }
    assert grouped(named, inputs) == {
        "embeddings": "e.npz",
        "runs": {"a": "a.json", "b/c": "b.json"},
    }
    with pytest.raises(ValueError, match="unknown wildcards"):
        Input("x", "y", each=("sampling",))


def test_a_stage_is_given_its_declared_config_keys_only():
    config = {"seed": 3, "evaluation": {"split": "test", "ks": [1]}, "temporal": {"betas": [1]}}
    assert select(config, ("evaluation.split", "temporal", "seed", "absent.key")) == {
        "evaluation": {"split": "test"},
        "temporal": {"betas": [1]},
        "seed": 3,
    }


def test_a_new_analysis_is_one_module(tiny_run, tmp_path, monkeypatch):
    """Add an analysis as one new file and nothing else: its stage runs for every
    (dataset, model), its figure is drawn, the report gets its section and Findings
    sentence, DVC lists its outputs as metrics and its config key as a parameter, and
    nothing else reruns."""
    package = tmp_path / "package"
    shutil.copytree(REPO / "src" / "vidspace", package / "vidspace")
    (package / "vidspace" / "analyses" / "norms.py").write_text(NORMS)
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, ignore=shutil.ignore_patterns("locks"))  # metadata kept
    monkeypatch.setenv("PYTHONPATH", f"{package}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")

    def tool(*args):
        return run_tool(list(args), work)

    dry = tool(sys.executable, "-m", "snakemake", "-n", "--configfile", "tiny.yaml")
    jobs = {
        line.split()[0]: int(line.split()[1])
        for line in (dry.stdout + dry.stderr).splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit() and ":" not in line
    }
    assert jobs == {"norms": 3, "plot_norms": 1, "report": 1, "all": 1, "total": 6}, jobs
    tool(sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tiny.yaml")
    for model in ("random", "aligned", "motion"):
        assert (work / f"results/norms/synthetic/{model}.json").exists()
    assert (work / "results/plots/norms_synthetic.png").read_bytes()[:4] == b"\x89PNG"
    report = (work / "results/report.md").read_text()
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    at = sections.index("## Norms")
    assert sections[at - 1] == "## Quality against dimension"
    assert sections[at + 1] == "## Temporal pooling and multi-grained scoring"
    assert "plots/norms_synthetic.png" in report
    findings = report[report.index("## Findings") : report.index("## Data")]
    assert "**synthetic / aligned**: mean video norm" in findings  # above chance
    assert "**synthetic / random**: mean video norm" not in findings  # at chance
    listed = tool(sys.executable, "scripts/analysis.py", "--list").stdout
    assert "norms (vidspace.analyses.norms):" in listed
    tool(sys.executable, "scripts/export_dvc.py", "--configfile", "tiny.yaml")
    stage = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]["norms--synthetic--aligned"]
    assert stage["metrics"] == ["results/norms/synthetic/aligned.json"]
    assert stage["params"] == [{"tiny.yaml": ["seed"]}]
    assert "src/vidspace/analyses/norms.py" in stage["deps"]
    assert "src/vidspace/analyses/temporal.py" not in stage["deps"]
