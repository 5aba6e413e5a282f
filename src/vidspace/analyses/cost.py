"""What each variant costs to search (seed 003): bytes per vector, queries per second and
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

import numpy as np

from vidspace.core.io import eval_rows, load_embeddings, load_sidecar, subset_videos, write_json
from vidspace.core.linalg import l2_normalize

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
        m, nbits = int(spec.get("m", max(1, d // 8))), int(spec.get("nbits", 8))
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
