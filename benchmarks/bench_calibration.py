"""Quantizer calibration: one scale (or FAISS codec) per modality, one for both, or the
videos' scale applied to captions too (what vidspace did before). Text->video R@1 of each
against float32, on embedding files and on CLIP-like pairs with a modality gap (captions
offset from videos along a shared direction, Liang et al. 2022).

    python benchmarks/bench_calibration.py [--embeddings results/embeddings/synthetic/aligned.npz]

Fits use the train split when the file has one (evaluated on test), as the workflow does.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import table

from vidspace.core.io import eval_rows, load_embeddings, subset_videos
from vidspace.core.linalg import l2_normalize
from vidspace.metrics import retrieval_metrics
from vidspace.variants import apply_variant, calibrate_scale, fit_rows, quantize_symmetric

KINDS = (
    {"kind": "int8"},
    {"kind": "int4"},
    {"kind": "faiss_sq4"},
    {"kind": "faiss_pq", "m": 8, "nbits": 4},
)


def gapped_pairs(n: int = 2000, d: int = 256, gap: float = 0.8, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    video = l2_normalize(rng.normal(size=(n, d)))
    direction = np.zeros(d, np.float32)
    direction[:8] = 1 / np.sqrt(8)  # the gap lives in a few dimensions, as in CLIP
    text = l2_normalize(video + rng.normal(scale=0.3, size=(n, d)) + gap * direction)
    return {
        "video_emb": video,
        "text_emb": text,
        "video_ids": np.array([f"v{i}" for i in range(n)]),
        "text_ids": np.array([f"t{i}" for i in range(n)]),
        "text_video_index": np.arange(n),
        "split": np.where(np.arange(n) % 2 == 0, "train", "test"),
    }


def video_scale_on_both(arrays: dict, kind: str) -> dict:
    """The former behaviour: the videos' per-dimension scale applied to the captions."""
    bits = 8 if kind == "int8" else 4
    video, text = l2_normalize(arrays["video_emb"]), l2_normalize(arrays["text_emb"])
    rows, _ = fit_rows(arrays, "test")
    scale = calibrate_scale(video[rows], bits)
    return dict(
        arrays,
        video_emb=quantize_symmetric(video, scale, bits),
        text_emb=quantize_symmetric(text, scale, bits),
    )


def r1(arrays: dict) -> float:
    sub = subset_videos(arrays, eval_rows(arrays, "test"))
    text, video = l2_normalize(sub["text_emb"]), l2_normalize(sub["video_emb"])
    return retrieval_metrics(text, video, sub["text_video_index"], ks=(1,), ndcg_k=1)["t2v"]["R@1"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embeddings", nargs="*", default=[])
    a = p.parse_args()
    sources = {path: load_embeddings(path) for path in a.embeddings}
    sources["gapped pairs (n=2000, D=256)"] = gapped_pairs()
    for name, arrays in sources.items():
        rows = [("source", name), ("float32", f"{r1(arrays):.3f}")]
        for spec in KINDS:
            cells = []
            for calibration in ("per_modality", "joint"):
                out, _ = apply_variant(arrays, {**spec, "calibration": calibration}, "test")
                cells.append(f"{calibration} {r1(out):.3f}")
            if spec["kind"] in ("int8", "int4"):
                cells.append(
                    f"video scale on both {r1(video_scale_on_both(arrays, spec['kind'])):.3f}"
                )
            rows.append((spec["kind"], ", ".join(cells)))
        print(table(rows), end="\n\n")


if __name__ == "__main__":
    main()
