"""File contracts (embedding files, atomic writes, subsets) and the scripts' error handling."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, random_arrays, retrieval_script, tool_env

from vidspace.core.io import atomic_path, save_embeddings, subset_videos, validate_embeddings


def test_subset_videos_remaps_caption_rows():
    arrays = random_arrays(n=4, m=6)
    arrays["text_video_index"] = np.array([0, 1, 2, 3, 3, 1])
    sub = subset_videos(arrays, np.array([False, True, False, True]))
    assert sub["video_ids"].tolist() == ["v1", "v3"]
    assert sub["text_ids"].tolist() == ["t1", "t3", "t4", "t5"]
    assert sub["text_video_index"].tolist() == [0, 1, 1, 0]
    np.testing.assert_array_equal(sub["text_emb"], arrays["text_emb"][[1, 3, 4, 5]])


def test_contract_violations_are_named():
    arrays = random_arrays()
    arrays["text_video_index"] = arrays["text_video_index"][:-1]
    with pytest.raises(ValueError, match="disagree"):
        validate_embeddings(arrays)
    arrays = random_arrays()
    arrays["video_emb"][3, 0] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf in 1 rows, e.g. \['v3'\]"):
        validate_embeddings(arrays)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        save_embeddings(target, {"video_emb": np.ones((2, 3)), "video_ids": ["a"]}, {})
    assert list(tmp_path.iterdir()) == []


def test_script_reports_bad_input_in_one_line(tmp_path):
    proc = retrieval_script(tmp_path / "no.npz", tmp_path / "m.json")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "error, user",
    [("ValueError('bad k')", True), ("KeyError('k')", False), ("RuntimeError('x')", False)],
)
def test_user_errors_end_in_one_line_and_bugs_keep_their_traceback(error, user):
    code = f"from vidspace.core.cli import run\ndef main():\n    raise {error}\nrun(main)\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=tool_env(), capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert ("Traceback" in proc.stderr) is not user
    if user:
        assert proc.stderr.strip().splitlines() == ["error: bad k"]


def test_scripts_have_help():
    for script in sorted((REPO / "scripts").glob("*.py")):
        proc = subprocess.run(
            [sys.executable, str(script), "--help"],
            cwd=REPO,
            env=tool_env(),
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, script
        assert "usage:" in proc.stdout


def test_report_table_keeps_odd_reasons_in_one_row():
    from vidspace.report.markdown import table as markdown_table

    table = markdown_table(["id", "reason"], [["v1", "HTTP 500 | retry\nthen gave up"]])
    assert table.splitlines()[-1] == "| v1 | HTTP 500 \\| retry then gave up |"
