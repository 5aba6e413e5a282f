"""Report sections of the seeds' analyses: clustering (k-means, DEC), quality against
dimension (with neural MDS beside PCA), temporal pooling and multi-grained scoring, and
the cost of each variant with its Pareto frontier."""

from __future__ import annotations

from pathlib import Path

from vidspace.core.io import read_json
from vidspace.core.linalg import POOLINGS
from vidspace.report.findings import dimension_headline, temporal_headline
from vidspace.report.markdown import fmt, rel, table


def clustering_section(datasets: dict) -> str:
    rows, notes = [], []

    def scores(r: dict) -> list[str]:
        return [fmt(r[key]) for key in ("ARI", "NMI", "AMI", "FMI")]

    for ds, d in datasets.items():
        for m, md in d["models"].items():
            r = read_json(md["clustering"])
            if "skipped" in r:
                rows.append([ds, m, "–", "–", "–", "–", "–", "–", r["skipped"]])
                continue
            v = r["video"]
            captions = "captions: ARI " + fmt(r["text"]["ARI"]) if "text" in r else "–"
            rows.append([ds, m, "k-means", v["k"], *scores(v), captions])
            dec = r.get("dec")
            if dec is None:
                continue
            if "skipped" in dec:
                notes.append(f"- {ds} / {m}: DEC skipped: {dec['skipped']}")
                continue
            ae = dec["autoencoder_kmeans"]
            rows.append([ds, m, "autoencoder + k-means", dec["k"], *scores(ae), "–"])
            state = "converged" if dec["converged"] else "stopped"
            rows.append(
                [ds, m, "DEC", dec["k"], *scores(dec), f"{state} after {dec['iterations']} steps"]
            )
    out = [
        "## Clustering against categories",
        "k-means (scikit-learn, 10 starts) on the video embeddings with k = the number of "
        "categories; DEC (Xie et al. 2016: autoencoder, k-means on its codes, then KL "
        "refinement of soft assignments; seed 002) beside it, with the autoencoder + "
        "k-means labels it starts from.",
        table(["Dataset", "Model", "Method", "k", "ARI", "NMI", "AMI", "FMI", "Notes"], rows),
    ]
    if notes:
        out.append("\n".join(notes))
    return "\n\n".join(out)


def dimensions_section(datasets: dict, plots: dict, report_dir: Path) -> str:
    """Minimal D' per model and method, and the R@1 it keeps (seed 002)."""
    rows, headlines, notes = [], [], []
    methods: list[str] = []
    results = {}
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            if "dimensions" not in md:
                continue
            r = read_json(md["dimensions"])
            results[(ds, m)] = r
            methods += [k for k in r.get("methods", {}) if k not in methods]
    if not results:
        return ""
    for (ds, m), r in results.items():
        if "skipped" in r:
            notes.append(f"- {ds} / {m}: {r['skipped']}")
            continue
        full = r["full"]
        cells = []
        for method in methods:
            curve = r["methods"].get(method)
            cells.append("–" if curve is None else str(curve["minimal_dim"]))
        rows.append([ds, m, r["dim"], f"{fmt(full['t2v'])} / {fmt(full['v2t'])}", *cells])
        headlines.append(f"- {dimension_headline(ds, m, r)}")
        notes += [f"- {ds} / {m}: {note}" for note in r.get("notes", [])]
    mds_rows = _neural_mds_rows(datasets, results)
    out = [
        "## Quality against dimension",
        "Minimal D′: the smallest grid dimension from which on every larger one keeps both "
        "directions' R@1 within ε (absolute) of the full dimension, for PCA (fitted on the "
        "train split where one is disjoint), random projection and prefix truncation; D "
        "when none does. Each point equals the metrics of the matching variant.",
        "\n".join(headlines),
        table(["Dataset", "Model", "D", "R@1 full (t2v / v2t)", *methods], rows),
    ]
    if mds_rows:
        out.append(
            "Neural MDS (seed 002; a network initialised at PCA of the train videos and "
            "captions, trained to keep their distances, isometric, or their order, "
            "isotonic) beside PCA at the same D′, R@1 text→video / video→text:\n\n"
            + table(
                ["Dataset", "Model", "Variant", "Loss", "D′", "Neural MDS", "PCA", "Loss fitted"],
                mds_rows,
            )
        )
    for ds, path in plots.get("dimensions", {}).items():
        out.append(f"![{ds}_dimensions]({rel(path, report_dir)})")
    if notes:
        out.append("Skipped:\n\n" + "\n".join(notes))
    return "\n\n".join(o for o in out if o)


def _neural_mds_rows(datasets: dict, curves: dict) -> list[list]:
    """Each neural_mds variant's R@1 beside PCA's at its D': the dimensions stage's PCA
    point, else a pca variant of that dimension."""
    rows = []
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            results = {v: read_json(path) for v, path in md["metrics"].items()}
            for v, r in results.items():
                if r.get("kind") != "neural_mds" or "skipped" in r:
                    continue
                pca = next(
                    (
                        p
                        for p in curves.get((ds, m), {})
                        .get("methods", {})
                        .get("pca", {})
                        .get("points", [])
                        if p["dim"] == r["dim"]
                    ),
                    None,
                )
                if pca is None:
                    same = [x for x in results.values() if x.get("kind") == "pca"]
                    match = next((x for x in same if x.get("dim") == r["dim"] and "t2v" in x), None)
                    pca = match and {d: match[d]["R@1"] for d in ("t2v", "v2t")}
                facts = r["neural_mds"]
                rows.append(
                    [
                        ds,
                        m,
                        v,
                        facts["loss"],
                        r["dim"],
                        f"{fmt(r['t2v']['R@1'])} / {fmt(r['v2t']['R@1'])}",
                        f"{fmt(pca['t2v'])} / {fmt(pca['v2t'])}" if pca else "–",
                        f"{facts['loss_before']:.4g} → {facts['loss_after']:.4g}",
                    ]
                )
    return rows


def temporal_section(datasets: dict, plots: dict, report_dir: Path) -> str:
    """Pooling again from the stored frames, and multi-grained scoring with beta chosen
    away from the evaluated split (seeds 000, 001, 004)."""
    rows, headlines, notes = [], [], []
    for ds, d in datasets.items():
        for m, md in d["models"].items():
            if "temporal" not in md:
                continue
            r = read_json(md["temporal"])
            if "skipped" in r:
                notes.append(f"- {ds} / {m}: {r['skipped']}")
                continue
            pool = r["pooling"]
            rows.append(
                [
                    ds,
                    m,
                    *(f"{fmt(pool[p]['t2v'])} / {fmt(pool[p]['v2t'])}" for p in POOLINGS),
                    f"{r['best_beta']:g} ({r['chosen_on']})",
                    f"{fmt(r['best']['t2v'])} / {fmt(r['best']['v2t'])}",
                ]
            )
            headlines.append(f"- {temporal_headline(ds, m, r)}")
            notes += [f"- {ds} / {m}: {note}" for note in r.get("notes", [])]
    if not rows and not notes:
        return ""
    out = [
        "## Temporal pooling and multi-grained scoring",
        "R@1 (text→video / video→text) on the evaluated split of the video rows pooled "
        "again from the stored per-frame embeddings, and of the multi-grained score S = "
        "S_g + β·S_l (video score plus the aggregated caption–frame scores) at the β with "
        "the best R@1 on the split named beside it, never the evaluated one.",
        "\n".join(headlines),
        table(
            ["Dataset", "Model", *(f"{p} pooling" for p in POOLINGS), "β (chosen on)"]
            + ["multi-grained"],
            rows,
        )
        if rows
        else "",
    ]
    for ds, path in plots.get("temporal", {}).items():
        out.append(f"![{ds}_temporal]({rel(path, report_dir)})")
    if notes:
        out.append("Skipped or noted:\n\n" + "\n".join(notes))
    return "\n\n".join(o for o in out if o)


def variant_cost_section(datasets: dict, plots: dict, ref: str, report_dir: Path) -> str:
    """Bytes, quality and measured search speed of every variant (seed 003), the Pareto
    frontier of R@1 against bytes marked."""
    from vidspace.analyses.cost import pareto_front

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
