"""Shared fixtures: a tiny config, a scratch copy of the workflow, and one run of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = [
    "Snakefile",
    "rules",
    "scripts",
    "schemas",
    "config",
    "envs",
    "report",
    "profiles",
    "config.yaml",
]

TINY_CONFIG = {
    "seed": 0,
    "device": "cpu",
    "datasets": {
        "synthetic": {
            "adapter": "synthetic",
            "sampling": "u4",
            "options": {
                "n_videos": 24,
                "captions_per_video": 2,
                "num_frames": 8,
                "size": 48,
                "train_fraction": 0.5,
                "n_corrupt": 1,
            },
        }
    },
    "samplings": {"u4": {"method": "uniform", "num_frames": 4}},
    "models": {
        "random": {"adapter": "random", "dim": 64},
        "aligned": {
            "adapter": "aligned",
            "video": {"adapter": "descriptor", "window": 3},  # frame-level: keeps frame_emb
            "text": {"adapter": "hf_text", "path": "minilm"},
            "dim": 8,
        },
        "motion": {"adapter": "descriptor"},  # video-only: no retrieval, still geometry
    },
    "variants": {
        "float32": {"kind": "float32"},
        "int8": {"kind": "int8"},
        "pca4": {"kind": "pca", "dim": 4},
        "dsl": {"kind": "float32", "scoring": "dual_softmax", "temperature": 0.05},
        "binary-r3": {"kind": "binary", "rescore": 3},
        "mg0": {"kind": "float32", "scoring": "multi_grained", "beta": 0},
    },
    "temporal": {"betas": [0.5, 2], "aggregation": "max"},
    "clustering": {"dec": True},
    "embed": {"batch_size": 8},
    "evaluation": {
        "split": "test",
        "ks": [1, 5],
        "ndcg_k": 5,
        "pool_sizes": [5],
        "bootstrap": 200,
    },
    "report": {"title": "tiny", "reference_variant": "float32"},
}


def tool_env() -> dict:
    """Environment whose `python` and `snakemake` are this interpreter's."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def run_tool(args: list[str], cwd: Path, check: bool = True, timeout: int = 900):
    proc = subprocess.run(
        args, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    return proc


def make_workdir(path: Path, config: dict | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, path / name)
        else:
            shutil.copy2(src, path / name)
    (path / "tiny.yaml").write_text(yaml.safe_dump(config or TINY_CONFIG, sort_keys=False))
    return path


def snakemake(args: list[str], cwd: Path, check: bool = True):
    return run_tool([sys.executable, "-m", "snakemake", *args], cwd, check)


def random_arrays(n=40, d=16, m=80, seed=0):
    """An embedding file's arrays: n videos, m captions near their video, half train."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, m)
    video = rng.normal(size=(n, d)).astype(np.float32)
    return {
        "video_emb": video,
        "text_emb": (video[index] + rng.normal(scale=0.5, size=(m, d))).astype(np.float32),
        "video_ids": np.array([f"v{i}" for i in range(n)]),
        "text_ids": np.array([f"t{i}" for i in range(m)]),
        "text_video_index": index,
        "split": np.array(["train", "test"] * (n // 2)),
    }


def retrieval_script(embeddings, out):
    """scripts/retrieval.py on one variant file, as a plain CLI (cwd: the repository)."""
    return subprocess.run(
        [
            sys.executable,
            "scripts/retrieval.py",
            "--embeddings",
            str(embeddings),
            "--out",
            str(out),
            *"--split test --ks 1 5 --ndcg-k 10 --pool-sizes --bootstrap 0 --seed 0".split(),
            *"--device cpu".split(),
        ],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
    )


# The longest test files first, and in every file the tests that do not wait for the
# shared tiny run before those that do: with `-n 2 --dist loadfile --no-loadscope-reorder`
# (make test) the two workers then start on the long files and neither idles while the
# other builds the tiny run. Only the order changes, never what runs.
LONGEST_FIRST = (
    "test_dvc_team.py",
    "test_workflow.py",
    "test_first_hour.py",
    "test_dvc.py",
    "test_shards.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    files = list(dict.fromkeys(item.path.name for item in items))  # collection order
    position = {name: (rank.get(name, len(rank)), files.index(name)) for name in files}
    items.sort(key=lambda item: (position[item.path.name], "tiny_run" in item.fixturenames))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow on the tiny config, run once per test session: with pytest-xdist
    the first worker to need it runs it and the others wait for it (a file lock), so two
    workers on a 2-core machine do not each run it at half speed. Tests read and copy it;
    only tests/test_workflow.py runs Snakemake inside it (one worker, in turn)."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    workdir, done = root / "tiny_run", root / "tiny_run.done"
    with FileLock(str(root / "tiny_run.lock")):
        if not done.exists():
            if workdir.exists():  # a run that failed in another worker: start again
                shutil.rmtree(workdir)
            make_workdir(workdir)
            snakemake(["--cores", "2", "--configfile", "tiny.yaml"], workdir)
            done.touch()
    return workdir


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Selenium (Debian's chromium and chromium-driver, which
    .ci/run installs); skipped with the reason where either is missing. Console messages
    and network requests are logged for the tests to read."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip(
            "no chromium/chromedriver here (.ci/run installs Debian's): browser test skipped"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (dev extra): browser test skipped")
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1600")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as exc:  # a browser that is installed but cannot start here
        pytest.skip(f"chromium could not start here: {exc}"[:300])
    yield driver
    driver.quit()
