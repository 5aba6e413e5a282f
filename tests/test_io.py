"""File contracts on bad files: a truncated or mangled npz, parquet, CSV or JSON ends its
job with one line naming the file and what to do, not a traceback from NumPy or pyarrow."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, tool_env

from vidspace.core.errors import CorruptFile
from vidspace.core.io import (
    load_embeddings,
    load_npz,
    read_failures,
    read_json,
    read_table,
    save_embeddings,
)


def _embeddings(path):
    rng = np.random.default_rng(0)
    save_embeddings(
        path,
        {
            "video_emb": rng.normal(size=(6, 4)).astype(np.float32),
            "video_ids": np.array([f"v{i}" for i in range(6)]),
            "text_emb": rng.normal(size=(6, 4)).astype(np.float32),
            "text_ids": np.array([f"t{i}" for i in range(6)]),
            "text_video_index": np.arange(6),
            "split": np.array(["test"] * 6),
        },
        {"model": "m"},
    )
    return path


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9])
def test_truncated_files_name_themselves(tmp_path, keep):
    npz = _embeddings(tmp_path / "e.npz")
    table = tmp_path / "m.parquet"
    pd.DataFrame({"video_id": ["a", "b"], "path": ["x", "y"]}).to_parquet(table)
    sidecar = tmp_path / "e.json"
    for path in (npz, table, sidecar):
        _truncate(path, keep)
    for read, path in (
        (load_embeddings, npz),
        (load_npz, npz),
        (read_table, table),
        (read_json, sidecar),
    ):
        with pytest.raises(CorruptFile, match="delete it and rerun") as info:
            read(path)
        assert str(path) in str(info.value)


def test_a_mangled_failures_table_names_itself(tmp_path):
    path = tmp_path / "failures.csv"
    path.write_bytes(b'video_id,stage,reason\n"a,b\n\xff\xfe')
    with pytest.raises(CorruptFile, match="failures.csv"):
        read_failures(path)


def test_a_missing_file_stays_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_embeddings(tmp_path / "absent.npz")


def _stage(*args):
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=tool_env(), capture_output=True, text=True
    )


def test_a_stage_on_a_truncated_input_ends_with_one_line(tmp_path):
    """The layout issue's case: transform on a truncated embedding file, then on a good
    file with a truncated sidecar; sample_frames on a truncated manifest."""
    npz = _embeddings(tmp_path / "aligned.npz")
    spec = json.dumps({"kind": "float32"})
    transform = ["scripts/transform.py", "--variant", "float32", "--spec", spec]
    transform += ["--split", "test", "--embeddings", str(npz), "--out", str(tmp_path / "v.npz")]
    sidecar = tmp_path / "aligned.json"
    good = sidecar.read_bytes()
    _truncate(sidecar)
    run = _stage(*transform)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {sidecar} cannot be read")
    assert "Traceback" not in run.stderr
    sidecar.write_bytes(good)
    _truncate(npz)
    run = _stage(*transform)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {npz} cannot be read (BadZipFile")
    assert last.endswith("delete it and rerun (the workflow writes it again)")
    assert "Traceback" not in run.stderr and not (tmp_path / "v.npz").exists()
    manifest = tmp_path / "manifest.parquet"
    pd.DataFrame({"video_id": ["a"], "path": ["a.mp4"]}).to_parquet(manifest)
    _truncate(manifest, 0.6)
    run = _stage(
        "scripts/sample_frames.py",
        "--spec",
        json.dumps({"method": "uniform", "num_frames": 2}),
        "--manifest",
        str(manifest),
        "--frames",
        str(tmp_path / "frames.npz"),
        "--failures",
        str(tmp_path / "failures.csv"),
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {manifest} cannot be read")
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_stage_writes_files_as_the_umask_allows(tmp_path, umask, mode):
    """Atomic writes go through an owner-only temporary file; what lands has the mode a
    plain open() gives under the umask (teammates, SLURM jobs, a shared DVC cache)."""
    import os
    import stat

    npz = _embeddings(tmp_path / "aligned.npz")
    spec = json.dumps({"kind": "int8"})
    run = subprocess.run(
        [sys.executable, "scripts/transform.py", "--variant", "int8", "--spec", spec]
        + ["--split", "test", "--embeddings", str(npz), "--out", str(tmp_path / "v.npz")],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
    )
    assert run.returncode == 0, run.stderr
    for name in ("v.npz", "v.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
