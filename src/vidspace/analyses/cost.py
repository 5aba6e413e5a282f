"""What each variant costs to search: bytes per vector, queries per second and
latency per query, ranking the evaluated gallery through a FAISS index of the variant's
code, and the accuracy-against-bytes Pareto frontier.

Each variant's gallery (its evaluated video rows) goes into the index its code calls for:

- float vectors at their dimension (float32, and pca / random_projection / prefix /
  neural_mds at D'): ``IndexFlatIP``;
- float16, int8, int4, faiss_sq8, faiss_sq4: ``IndexScalarQuantizer`` (fp16, 8 bit, 4 bit;
  FAISS trains its own ranges on the gallery: the timing is that of the code size, the
  ranking quality is the variant's own, from the retrieval stage);
- faiss_pq: ``IndexPQ`` with the variant's m and nbits;
- binary: ``IndexBinaryFlat`` on the sign bits (Hamming), and with ``rescore: R`` the float
  re-ranking of each query's top R, timed together.

Variants with another scoring (dual softmax, querybanks, multi-grained) rank a score
matrix, not an index: they are listed as not timed, with the reason.

Timings are wall-clock on the host that ran the stage, FAISS on one thread: ``batch`` is
all evaluated captions searched at once (queries per second, and per query), ``single``
the median latency of one query searched alone. They vary between runs and machines, so
the file says where it was measured; the bytes and the frontier do not.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from vidspace.analyses import Analysis, Figure, Input
from vidspace.core.config import defaults_for
from vidspace.core.io import (
    eval_rows,
    load_embeddings,
    load_sidecar,
    read_json,
    subset_videos,
    write_json,
)
from vidspace.core.linalg import l2_normalize
from vidspace.report.markdown import fmt, rel, table

logger = logging.getLogger(__name__)

SQ_TYPES = {
    "float16": "QT_fp16",
    "int8": "QT_8bit",
    "faiss_sq8": "QT_8bit",
    "int4": "QT_4bit",
    "faiss_sq4": "QT_4bit",
}
FLAT_KINDS = ("float32", "pca", "random_projection", "prefix", "neural_mds")
SINGLE_QUERIES = 100  # queries timed one at a time for the median latency


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (bytes, quality) no other point dominates: none has bytes <=
    and quality >= with one of them strictly better. Sorted by bytes."""
    front = []
    for i, (b, q) in enumerate(points):
        dominated = any(
            b2 <= b and q2 >= q and (b2 < b or q2 > q)
            for j, (b2, q2) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def build_search(
    meta: dict,
    video: np.ndarray,
    text: np.ndarray,
    rescore: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Callable, str, float]:
    """(search(query rows, k) -> gallery ids, index description, bytes per code) of a
    variant: ``video`` the gallery's rows, ``text`` the queries', ``rescore`` the float
    (video, text) rows a rescored binary variant re-ranks with."""
    import faiss

    kind, spec = meta["kind"], meta.get("spec", {})
    video = np.ascontiguousarray(video, np.float32)
    text = np.ascontiguousarray(text, np.float32)
    d = video.shape[1]
    if kind == "binary":
        if d % 8:
            raise ValueError(f"binary codes of {d} bits: FAISS needs a multiple of 8")
        index = faiss.IndexBinaryFlat(d)
        index.add(np.packbits(video > 0, axis=1))
        codes = np.packbits(text > 0, axis=1)
        top_r = int(meta.get("rescore") or 0)

        def search(rows, k):
            if not top_r:
                return index.search(codes[rows], k)[1]
            float_video, float_text = rescore
            _, top = index.search(codes[rows], max(k, top_r))
            exact = np.einsum("qd,qcd->qc", float_text[rows], float_video[top])
            order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(top, order, axis=1)

        name = "IndexBinaryFlat" + (f" + float re-ranking of the top {top_r}" if top_r else "")
        return search, name, float(index.code_size)
    if kind in FLAT_KINDS:
        index, name = faiss.IndexFlatIP(d), "IndexFlatIP"
    elif kind in SQ_TYPES:
        qtype = getattr(faiss.ScalarQuantizer, SQ_TYPES[kind])
        index = faiss.IndexScalarQuantizer(d, qtype, faiss.METRIC_INNER_PRODUCT)
        name = f"IndexScalarQuantizer({SQ_TYPES[kind]})"
    elif kind == "faiss_pq":
        from vidspace.variants import pq_shape

        m, nbits = pq_shape(defaults_for("variant", spec), d)
        index = faiss.IndexPQ(d, m, nbits, faiss.METRIC_INNER_PRODUCT)
        name = f"IndexPQ(m={m}, nbits={nbits})"
    else:
        raise ValueError(f"no index for variant kind {kind!r}")
    if not index.is_trained:
        index.train(video)
    index.add(video)
    code = float(getattr(index, "code_size", 4 * d))
    return (lambda rows, k: index.search(text[rows], k)[1]), name, code


def time_search(search: Callable, n_queries: int, k: int, min_seconds: float) -> dict:
    """Batch throughput (repeated until ``min_seconds``; the best repeat) and the median
    latency of single queries."""
    rows = np.arange(n_queries)
    search(rows[:1], k)  # warm-up
    best, repeats, spent = float("inf"), 0, 0.0
    while repeats < 3 or spent < min_seconds:
        start = time.perf_counter()
        search(rows, k)
        elapsed = time.perf_counter() - start
        best, repeats, spent = min(best, elapsed), repeats + 1, spent + elapsed
    singles = []
    for q in rows[:SINGLE_QUERIES]:
        start = time.perf_counter()
        search(rows[q : q + 1], k)
        singles.append(time.perf_counter() - start)
    return {
        "batch": {
            "queries_per_second": round(n_queries / best, 1),
            "ms_per_query": round(1000 * best / n_queries, 5),
            "repeats": repeats,
        },
        "single": {"median_ms": round(1000 * float(np.median(singles)), 5), "n": len(singles)},
    }


def cost_of_variants(
    variants: Mapping[str, str],
    out_path: str,
    split: str,
    k: int = 10,
    min_seconds: float = 0.2,
) -> dict:
    """The cost stage for one (dataset, model): every variant file in ``variants`` (name ->
    .npz, sidecar beside it) searched as the module docstring says."""
    import faiss

    faiss.omp_set_num_threads(1)
    result: dict = {
        "split": split,
        "k": int(k),
        "measured": (
            f"wall-clock on host {platform.node()}, FAISS on 1 thread (they vary between runs)"
        ),
        "variants": {},
    }
    for name, path in variants.items():
        meta = load_sidecar(path)
        entry: dict = {"kind": meta.get("kind"), "bytes_per_vector": meta.get("bytes_per_vector")}
        result["variants"][name] = entry
        if meta.get("skipped"):
            entry["skipped"] = meta["skipped"]
            continue
        scoring = meta.get("scoring", "dot")
        if scoring != "dot":
            entry["skipped"] = f"scoring {scoring} ranks a score matrix, not an index: not timed"
            continue
        arrays = load_embeddings(path)
        if "text_emb" not in arrays:
            entry["skipped"] = "video-only embeddings: no queries"
            continue
        sub = subset_videos(arrays, eval_rows(arrays, split))
        video, text = l2_normalize(sub["video_emb"]), l2_normalize(sub["text_emb"])
        if not len(text) or not len(video):
            entry["skipped"] = "no captions or videos in the evaluated split"
            continue
        floats = None
        if meta.get("rescore"):
            floats = (l2_normalize(sub["rescore_video_emb"]), l2_normalize(sub["rescore_text_emb"]))
        try:
            search, index_name, code = build_search(meta, video, text, floats)
        except (ValueError, RuntimeError) as exc:  # e.g. sign bits not a multiple of 8
            entry["skipped"] = f"no index: {str(exc).splitlines()[0]}"
            logger.warning("%s: %s", name, entry["skipped"])
            continue
        entry.update(
            index=index_name,
            code_bytes=code,
            gallery=int(video.shape[0]),
            queries=int(text.shape[0]),
            **time_search(search, text.shape[0], min(k, video.shape[0]), min_seconds),
        )
        if meta.get("rescore"):
            entry["rescore"] = int(meta["rescore"])
    timed = {n: e for n, e in result["variants"].items() if "batch" in e}
    # the speed of reference: the full-precision float vectors
    reference = next((e for e in timed.values() if e["kind"] == "float32"), None)
    if reference:
        for e in timed.values():
            e["speedup_vs_float32"] = round(
                e["batch"]["queries_per_second"] / reference["batch"]["queries_per_second"], 3
            )
    write_json(out_path, result)
    for n, e in timed.items():
        logger.info("%s: %s, %.1f queries/s", n, e["index"], e["batch"]["queries_per_second"])
    return result


def plot_pareto(
    dataset: str, metrics: Mapping[str, Mapping[str, str | Path]], out_png: str | Path
) -> None:
    """Text→video R@1 against bytes per vector (log scale) of every variant, one colour
    per model, the Pareto frontier of each model drawn through its undominated variants
    (``vidspace.analyses.cost.pareto_front``). ``metrics`` maps model -> variant -> metrics JSON;
    variants without a ranking (skipped) or with another scoring are left out."""
    import matplotlib.ticker

    from vidspace.report.figures import plt, save

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    drawn = 0
    labels: list[tuple[str, tuple[float, float], str]] = []
    for i, (model, variants) in enumerate(metrics.items()):
        results = {v: read_json(p) for v, p in variants.items()}
        points = [
            (v, r["bytes_per_vector"], r["t2v"]["R@1"])
            for v, r in results.items()
            if "t2v" in r and r.get("scoring", "dot") == "dot" and r.get("bytes_per_vector")
        ]
        if not points:
            continue
        drawn += 1
        color = f"C{i}"
        xs = [p[1] for p in points]
        ys = [p[2] for p in points]
        ax.scatter(xs, ys, color=color, s=18, label=model, zorder=3)
        front = pareto_front([(p[1], p[2]) for p in points])
        ax.step(
            [points[j][1] for j in front],
            [points[j][2] for j in front],
            where="post",
            color=color,
            linewidth=1.2,
            alpha=0.8,
        )
        for j in front:
            name = points[j][0]
            if results[name].get("rescore"):  # its bytes are the codes'; floats are read too
                name += f" (+ floats of the top {results[name]['rescore']})"
            labels.append((name, (points[j][1], points[j][2]), color))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("bytes per vector (log scale)")
    ax.set_ylabel("text→video R@1")
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(
            0.5, 0.5, "no model with text: nothing to retrieve", ha="center", transform=ax.transAxes
        )
    ax.set_title(f"{dataset}: accuracy against bytes (line: Pareto frontier, labelled)")
    fig.tight_layout()
    place_labels(ax, labels)
    save(fig, out_png)


# where a label may sit beside its point (points of text), tried in order
LABEL_OFFSETS = [(3, 4), (3, -10), (3, 14), (3, -20), (3, 24), (-6, 4), (3, -30), (3, 34)]


def place_labels(ax, labels) -> list:
    """Annotate each (text, point, colour) at the first offset whose box overlaps no label
    placed before (the last offset when all collide); returns the annotations."""
    renderer = ax.figure.canvas.get_renderer()
    placed, boxes = [], []
    for text, xy, color in labels:
        for dx, dy in LABEL_OFFSETS:
            note = ax.annotate(
                text,
                xy,
                textcoords="offset points",
                xytext=(dx, dy),
                ha="right" if dx < 0 else "left",
                fontsize=7,
                color=color,
            )
            box = note.get_window_extent(renderer).expanded(1.02, 1.1)
            if not any(box.overlaps(b) for b in boxes) or (dx, dy) == LABEL_OFFSETS[-1]:
                break
            note.remove()
        boxes.append(box)
        placed.append(note)
    return placed


def variant_cost_section(report) -> str:
    """Bytes, quality and measured search speed of every variant, the Pareto
    frontier of R@1 against bytes marked."""
    datasets, plots, report_dir = report.datasets, report.plots, report.report_dir
    ref = report.ref
    blocks, measured = [], set()
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            if "cost" not in md:
                continue
            cost = read_json(md["cost"])
            measured.add(cost["measured"])
            results = {v: read_json(path) for v, path in md["metrics"].items()}
            ranked = {
                v: r
                for v, r in results.items()
                if "t2v" in r and r.get("scoring", "dot") == "dot" and r.get("bytes_per_vector")
            }
            if not ranked:
                continue
            names = list(ranked)
            front = {
                names[i]
                for i in pareto_front(
                    [(ranked[v]["bytes_per_vector"], ranked[v]["t2v"]["R@1"]) for v in names]
                )
            }
            rows = []
            for v, r in results.items():
                c = cost["variants"].get(v, {})
                timed = "batch" in c
                rows.append(
                    [
                        f"{v} ★" if v in front else v,
                        fmt(r.get("bytes_per_vector"), 1) if r.get("bytes_per_vector") else "–",
                        f"{fmt(r['t2v']['R@1'])} / {fmt(r['v2t']['R@1'])}" if "t2v" in r else "–",
                        c.get("index", "–"),
                        fmt(c["batch"]["queries_per_second"], 0) if timed else "–",
                        fmt(c["single"]["median_ms"], 4) if timed else "–",
                        fmt(c.get("speedup_vs_float32"), 2) if timed else c.get("skipped", "–"),
                    ]
                )
            blocks.append(
                f"**{ds} / {m}** ({cost['variants'].get(ref, {}).get('gallery', '–')} videos "
                "searched by each caption):\n\n"
                + table(
                    [
                        "Variant",
                        "Bytes / vector",
                        "R@1 (t2v / v2t)",
                        "Index",
                        "Queries / s",
                        "ms / query alone",
                        "× float32",
                    ],
                    rows,
                )
            )
    if not blocks:
        return ""
    out = [
        "## Cost of each variant",
        "Bytes per vector of each code, and the time to rank the evaluated gallery through a "
        "FAISS index of it (top K, one thread). ★: on the Pareto frontier of text→video R@1 "
        "against bytes (no other variant is both smaller and better); a rescored binary "
        "variant's bytes are its codes', it also reads the float vectors of its top R. "
        "Timings are "
        + "; ".join(sorted(measured))
        + "; the bytes and the frontier do not. At the demo's size the timings are "
        "dominated by fixed costs: benchmarks/bench_variants.py measures them at scale.",
        *blocks,
    ]
    for ds, path in plots.get("pareto", {}).items():
        out.append(f"![{ds}_pareto]({rel(path, report_dir)})")
    return "\n\n".join(out)


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    cost_of_variants(
        inputs["variants"],
        outputs["cost"],
        split=config["evaluation"]["split"],
        k=max(config["evaluation"]["ks"]),
    )


def _draw_pareto(inputs: dict, out: str, wildcards: dict, config: dict) -> None:
    from vidspace.report.figures import by_model

    plot_pareto(wildcards["dataset"], by_model(inputs["metrics"]), out)


ANALYSIS = Analysis(
    name="cost",
    outputs={"cost": "results/cost/{dataset}/{model}.json"},
    inputs={"variants": Input("transform", "embeddings", each=("variant",))},
    run=_run,
    config_keys=("evaluation.split", "evaluation.ks"),
    metrics=("cost",),
    section=variant_cost_section,
    order=80,
    figure=Figure(
        name="pareto",
        path="results/plots/pareto_{dataset}.png",
        caption="pareto.rst",
        category="Cost",
        inputs={"metrics": Input("retrieval", "metrics", each=("model", "variant"))},
        draw=_draw_pareto,
    ),
)
