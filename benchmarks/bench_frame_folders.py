"""MMEB-V2's frames: the hub adapter taking one set's frame folders out of a tar.gz archive
that holds two sets (as TIGER-Lab/MMEB-V2's video_ret.tar.gz holds five), 64 JPEG frames a
video, 100, 400 and 1,600 videos a set — frames per second written and peak memory (the
process's VmHWM), each size in a fresh process; the archive is read once, front to back.

    python bench_frame_folders.py  # from benchmarks/, the project's venv active
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

FRAMES = 64


def build(root: Path, n: int) -> Path:
    """Annotations (JSON, MSVD's shape) and an archive of two sets' frame folders."""
    from PIL import Image

    from vidspace.datasets.synthetic import render_clip

    jpegs = []
    clip = render_clip("red", "circle", "left", "gray", np.random.default_rng(0), 160, FRAMES)
    for frame in clip:  # one clip's frames, repeated: the bytes differ in size, not kind
        out = io.BytesIO()
        Image.fromarray(frame).resize((320, 240)).save(out, format="JPEG", quality=90)
        jpegs.append(out.getvalue())
    folder = root / f"set{n}"
    (folder / "data").mkdir(parents=True)
    rows = [{"video_id": f"v{i}", "video": f"v{i}.avi", "caption": [f"clip {i}"]} for i in range(n)]
    (folder / "data" / "msvd_test.json").write_text(json.dumps(rows))
    with tarfile.open(folder / "video_ret.tar.gz", "w:gz", compresslevel=1) as tar:
        for name in ("DiDeMo", "MSVD"):  # the wanted set second: the whole archive is read
            for i in range(n):
                for t, data in enumerate(jpegs):
                    info = tarfile.TarInfo(f"video_ret/{name}/v{i}/frame_{t:04d}.jpg")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return folder


def measure(folder: str) -> None:
    """In this process: read the set through the hub adapter; print counts, seconds, RSS."""
    from vidspace.datasets.hub import hub

    out = Path(tempfile.mkdtemp()) / "videos"
    out.mkdir()
    options = {
        "preset": "mmeb-v2-msvd",
        "path": f"{folder}/data",
        "frames": {"path": f"{folder}/video_ret.tar.gz"},
    }
    start = time.perf_counter()
    videos = len(hub(out, options).manifest)
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text().split("VmHWM:")[1]
    print(
        json.dumps({"videos": videos, "seconds": seconds, "rss_mb": int(status.split()[0]) / 1024})
    )


def main() -> None:
    if len(sys.argv) == 2:
        measure(sys.argv[1])
        return
    root = Path(tempfile.mkdtemp(prefix="bench_frames_"))
    results = {}
    for n in (100, 400, 1600):
        folder = build(root, n)
        size = (folder / "video_ret.tar.gz").stat().st_size / 2**20
        run = subprocess.run(
            [sys.executable, __file__, str(folder)], capture_output=True, text=True, check=True
        )
        r = results[n] = json.loads(run.stdout.strip().splitlines()[-1])
        assert r["videos"] == n, r  # every video of the set found, none of the other set
        print(
            f"{n:5d} videos a set ({size:.0f} MB archive, {2 * n * FRAMES} frames): "
            f"{n * FRAMES / r['seconds']:.0f} frames/s written, "
            f"{2 * n * FRAMES / r['seconds']:.0f} archive members/s, peak RSS {r['rss_mb']:.0f} MB"
        )
    print(
        f"peak RSS ratio 1,600 / 100 videos: {results[1600]['rss_mb'] / results[100]['rss_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
