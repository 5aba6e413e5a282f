"""GPU checks for the device machine (not part of the tests): ranking on CUDA against NumPy,
GPU ranking time against the GEMM alone, image processors run on the GPU against the same
processors in CPU workers, Qwen3-VL on the GPU against the CPU, and the embed stage on CUDA
against the CPU.

    python benchmarks/gpu_check.py --assets .gpu   # frames.npz, manifest/captions, tok/
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

# GPU_CHECK_DEVICE=cpu GPU_CHECK_SIZES=2000 runs the same code here, small, to catch bugs
DEV = os.environ.get("GPU_CHECK_DEVICE", "cuda")
SIZES = [int(s) for s in os.environ.get("GPU_CHECK_SIZES", "10000,50000,100000").split(",")]


def sync():
    import torch

    if DEV == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def ranking(report: dict) -> None:
    import torch

    from vidspace.metrics import query_ranks, summarise_ranks

    rng = np.random.default_rng(0)
    n, d = SIZES[0], 1024
    v = rng.normal(size=(n, d)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    idx = np.repeat(np.arange(n // 2), 2)  # two captions per video: multi-caption v2t
    t = v[idx] + rng.normal(scale=0.7, size=(n, d)).astype(np.float32) / np.sqrt(d) * 30
    t = (t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32)
    vg = v[: n // 2]
    for name, (tt, vv) in {"float": (t, vg), "binary": (np.sign(t), np.sign(vg))}.items():
        cpu = query_ranks(tt, vv, idx)
        gpu = query_ranks(tt, vv, idx, device=DEV)
        v2t_differing = sum(
            not np.array_equal(a, b) for a, b in zip(cpu["v2t"], gpu["v2t"], strict=True)
        )
        report[f"ranking_{name}"] = {
            "t2v_ranks_differing": int(np.sum(cpu["t2v"] != gpu["t2v"])),
            "v2t_queries_differing": int(v2t_differing),
            "t2v_R@1_cpu": summarise_ranks(cpu["t2v"], [1], 10)["R@1"],
            "t2v_R@1_gpu": summarise_ranks(gpu["t2v"], [1], 10)["R@1"],
        }
    torch.set_float32_matmul_precision("highest")
    for n in SIZES:
        x = torch.nn.functional.normalize(torch.randn(n, d, device=DEV), dim=1)
        y = torch.nn.functional.normalize(x + 0.5 * torch.randn(n, d, device=DEV), dim=1)
        xn, yn = x.cpu().numpy(), y.cpu().numpy()
        gemm = timed(
            lambda x=x, y=y, n=n: [(y[s : s + 16384] @ x.T).max() for s in range(0, n, 16384)]
        )
        ours = timed(lambda xn=xn, yn=yn, n=n: query_ranks(yn, xn, np.arange(n), device=DEV), 2)
        report[f"gpu_ranking_n{n}"] = {
            "gemm_s": round(gemm, 4),
            "ranking_s": round(ours, 4),
            "ratio": round(ours / gemm, 2),
        }


def embedding(report: dict, assets: Path) -> None:
    from transformers import BertConfig, BertModel

    from vidspace.models import load
    from vidspace.models.stage import embed_dataset

    model_dir = Path("/tmp/minilm-random")
    config = BertConfig.from_pretrained(assets / "tok")
    BertModel(config).save_pretrained(model_dir)  # real size, random weights
    for f in (assets / "tok").iterdir():
        if f.name != "config.json":
            (model_dir / f.name).write_bytes(f.read_bytes())
    texts = [f"a red circle number {i} moves to the left slowly" for i in range(4096)]
    out = {}
    for device in ("cpu", DEV):
        enc = load({"adapter": "hf_text", "path": str(model_dir)}, device)
        enc.encode_texts(texts[:64])
        start = time.perf_counter()
        emb = np.concatenate([enc.encode_texts(texts[s : s + 256]) for s in range(0, 4096, 256)])
        out[device] = (emb, time.perf_counter() - start)
    report["hf_text_cuda_vs_cpu"] = {
        "max_abs_diff": float(np.abs(out["cpu"][0] - out[DEV][0]).max()),
        "texts_per_s_cpu": round(4096 / out["cpu"][1], 1),
        "texts_per_s_gpu": round(4096 / out[DEV][1], 1),
    }
    spec = {
        "adapter": "aligned",
        "video": {"adapter": "descriptor"},
        "text": {"adapter": "hf_text", "path": str(model_dir)},
        "dim": 16,
    }
    metas = {}
    for device in ("cpu", "auto"):
        metas[device] = embed_dataset(
            assets / "frames.npz",
            assets / "manifest.parquet",
            assets / "captions.parquet",
            "aligned",
            spec,
            f"/tmp/emb-{device}.npz",
            device=device,
        )
    report["embed_stage"] = {
        d: {k: m[k] for k in ("device", "seconds", "n_videos", "n_captions")}
        for d, m in metas.items()
    }


def preprocessing(report: dict) -> None:
    """pixel_values made on the device (preprocess: device) against CPU workers, per family;
    then Qwen3-VL embeddings on the device against the CPU (tiny random checkpoints)."""
    import tempfile

    import torch

    from vidspace.frames import TimedFrames
    from vidspace.models import load
    from vidspace.testing.checkpoints import build_checkpoint

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 4, 40, 48, 3), dtype=np.uint8)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("clip", "siglip", "xclip", "videomae"):
            path = str(build_checkpoint(family, Path(tmp) / family))
            cpu = load({"adapter": family, "path": path, "preprocess": "workers"}, "cpu")
            dev = load({"adapter": family, "path": path, "preprocess": "device"}, DEV)
            per_clip = family in ("xclip", "videomae")
            proc = getattr(dev.processor, "image_processor", dev.processor)
            want = cpu.preprocess_videos(frames)["pixel_values"]
            with torch.inference_mode():
                got = dev._pixels(proc, dev.preprocess_videos(frames), per_clip)
            out[family] = {
                "pixels_max_abs_diff": float((got.float().cpu() - want).abs().max()),
                "pixels_device": str(got.device),
            }
        path = str(build_checkpoint("qwen3_vl", Path(tmp) / "qwen"))
        clips = TimedFrames(
            rng.integers(0, 255, (3, 4, 32, 32, 3), dtype=np.uint8),
            np.tile(np.arange(4, dtype=np.float32) / 2, (3, 1)),
        )
        emb = {
            d: load({"adapter": "qwen3_vl", "path": path}, d).encode_videos(clips)
            for d in ("cpu", DEV)
        }
        out["qwen3_vl_embeddings_max_abs_diff (bf16 autocast on cuda)"] = float(
            np.abs(emb["cpu"] - emb[DEV]).max()
        )
    report["preprocessing_and_qwen"] = out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--assets", default=".gpu")
    p.add_argument("--out", default="gpu_check.json")
    a = p.parse_args()
    import torch

    name = torch.cuda.get_device_name(0) if DEV == "cuda" else "cpu (dry run)"
    report = {"device": name, "torch": torch.__version__}
    ranking(report)
    preprocessing(report)
    embedding(report, Path(a.assets))
    text = json.dumps(report, indent=2)
    print(text)
    Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
