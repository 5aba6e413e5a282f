"""Explorer size and build time at MSR-VTT 1k-A's shape: 1,000 videos with one caption
each, 5 models x the 13 variants of config.yaml (float32 files: every variant's browser
data has the same size), 20 categories, t-SNE/UMAP coordinates, thumbnails made by the
thumbnails stage from 240 x 320 frames. Prints the page's size (total and per part)
against the 25 MB target, and the build time.

The frames are generated (shapes moving on noisy backgrounds with a gradient): real video
compresses differently, so the thumbnails' share is an estimate (their size per video is
printed to scale it).

    python bench_explorer.py            # from benchmarks/, the project's venv active
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vidspace.analyses.explorer import explorer_files
from vidspace.analyses.thumbnails import thumbnails_file
from vidspace.core.io import write_json
from vidspace.frames.store import save_frames
from vidspace.metrics.stage import evaluate_file

N, MODELS, VARIANTS, CATEGORIES, D = 1000, 5, 13, 20, 256


def frames(rng: np.random.Generator):
    """One 240 x 320 frame per clip: a gradient, noise and a coloured block."""
    y, x = np.mgrid[0:240, 0:320]
    for i in range(N):
        base = np.stack([(x + 3 * i) % 256, (y + 7 * i) % 256, np.full_like(x, (11 * i) % 256)], -1)
        frame = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        top, left = rng.integers(0, 160), rng.integers(0, 220)
        frame[top : top + 60, left : left + 80] = rng.integers(0, 256, 3)
        yield frame[None]


def main() -> None:
    rng = np.random.default_rng(0)
    root = Path(tempfile.mkdtemp(prefix="bench_explorer_"))
    ids = [f"video{7010 + i}" for i in range(N)]
    cats = [str(i % CATEGORIES) for i in range(N)]
    pd.DataFrame({"video_id": ids, "category": cats, "split": "test"}).to_parquet(
        root / "manifest.parquet"
    )
    words = (
        "a man woman dog cat is cooking playing singing running in the kitchen park stage".split()
    )
    text = [" ".join(rng.choice(words, 11)) for _ in range(N)]
    pd.DataFrame(
        {"caption_id": [f"c{i}" for i in range(N)], "video_id": ids, "caption": text}
    ).to_parquet(root / "captions.parquet")
    save_frames(root / "frames.npz", frames(rng), np.array(ids))
    start = time.perf_counter()
    thumbnails_file(
        str(root / "frames.npz"), str(root / "manifest.parquet"), str(root / "thumbs.json")
    )
    thumb_seconds = time.perf_counter() - start
    inputs: dict = {
        "thumbnails": str(root / "thumbs.json"),
        "manifest": str(root / "manifest.parquet"),
        "captions": str(root / "captions.parquet"),
    }
    for key in ("coordinates", "projections", "clusters", "categories", "variants", "ranks"):
        inputs[key] = {}
    for m in range(MODELS):
        name = f"model{m}"
        video = rng.normal(size=(N, D)).astype(np.float32)
        arrays = {
            "video_emb": video,
            "text_emb": (video + rng.normal(scale=1.5, size=video.shape)).astype(np.float32),
            "video_ids": np.array(ids),
            "text_ids": np.array([f"c{i}" for i in range(N)]),
            "text_video_index": np.arange(N),
        }
        np.savez(root / f"{name}.npz", **arrays)
        write_json(root / f"{name}.json", {"kind": "float32"})
        evaluate_file(
            str(root / f"{name}.npz"),
            str(root / f"{name}.m.json"),
            bootstrap=0,
            ranks_path=str(root / f"{name}.ranks.npz"),
            split="all",
        )
        np.savez(
            root / f"{name}.xy.npz",
            video_ids=np.array(ids),
            categories=np.array(cats),
            umap=rng.normal(size=(N, 2)),
            tsne=rng.normal(size=(N, 2)),
            joint_tsne=rng.normal(size=(2 * N, 2)),
            joint_text_ids=arrays["text_ids"],
            joint_text_videos=np.arange(N),
        )
        write_json(root / f"{name}.proj.json", {"n_videos": N})
        np.savez(
            root / f"{name}.labels.npz", video_ids=np.array(ids), kmeans=rng.integers(0, 20, N)
        )
        per = {
            c: {
                "videos": 50,
                "captions": 50,
                "t2v": {"R@1": 0.3, "ci95": [0.2, 0.4]},
                "v2t": {"R@1": 0.3, "ci95": [0.2, 0.4]},
            }
            for c in map(str, range(CATEGORIES))
        }
        write_json(root / f"{name}.cat.json", {"categories": per})
        inputs["coordinates"][name] = str(root / f"{name}.xy.npz")
        inputs["projections"][name] = str(root / f"{name}.proj.json")
        inputs["clusters"][name] = str(root / f"{name}.labels.npz")
        inputs["categories"][name] = str(root / f"{name}.cat.json")
        for v in range(VARIANTS):
            inputs["variants"][f"{name}/v{v}"] = str(root / f"{name}.npz")
            inputs["ranks"][f"{name}/v{v}"] = str(root / f"{name}.ranks.npz")
    outputs = {"summary": str(root / "x.json"), "explorer": str(root / "msrvtt.html")}
    start = time.perf_counter()
    summary = explorer_files("msrvtt", inputs, outputs, split="all", seed=0)
    seconds = time.perf_counter() - start
    page = Path(outputs["explorer"]).read_text("utf-8")
    data = page[page.index('id="vidspace-data">') :]
    data = json.loads(data[data.index(">") + 1 : data.index("</script>")])
    thumb_bytes = sum(len(t) for t in data["videos"]["thumb"])
    variant_bytes = len(
        json.dumps([e["variants"] for e in data["models"].values()], separators=(",", ":"))
    )
    map_bytes = len(json.dumps([e["maps"] for e in data["models"].values()], separators=(",", ":")))
    from plotly.offline import get_plotlyjs

    print(f"page: {summary['bytes'] / 1e6:.1f} MB (target < 25 MB), built in {seconds:.1f} s")
    print(
        f"  plotly.js {len(get_plotlyjs()) / 1e6:.1f} MB, thumbnails {thumb_bytes / 1e6:.1f} MB "
        f"({thumb_bytes / N / 1e3:.1f} kB a video, made in {thumb_seconds:.1f} s), "
        f"browser data {variant_bytes / 1e6:.1f} MB ({MODELS} models x {VARIANTS} variants), "
        f"maps {map_bytes / 1e6:.1f} MB"
    )
    print(f"ratio page / 25 MB: {summary['bytes'] / 25e6:.2f}")
    print(f"(scratch files in {root})", file=sys.stderr)


if __name__ == "__main__":
    main()
