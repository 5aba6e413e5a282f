"""Spectrum and geometry of an embedding space (definitions: docs/definitions.md).

Singular values come from the float64 Gram matrix (D x D, or N x N when N < D): at the
rank tolerance used here (float32 eps of the stored embeddings) that is accurate enough,
and far cheaper than a full SVD of an N x D matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vidspace.analyses import Analysis, Figure, Input
from vidspace.core.io import read_json
from vidspace.core.linalg import l2_normalize
from vidspace.report.markdown import fmt, rel, table

VARIANCE_LEVELS = (0.90, 0.95, 0.99)


def _check_matrix(x: np.ndarray, name: str = "X") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be floating point, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        rows = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
        raise ValueError(f"{name} has NaN or inf in {rows.size} rows (first: row {int(rows[0])})")
    return x


GRAM_CHUNK_ROWS = 8192


def _gram(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """float64 Gram matrix on the smaller side, built in row chunks (no full float64 copy).

    Returns (G, feature_side): feature_side is True for X^T X (D x D), False for X X^T.
    """
    n, d = x.shape
    if d <= n:
        gram = np.zeros((d, d))
        for start in range(0, n, GRAM_CHUNK_ROWS):
            block = np.asarray(x[start : start + GRAM_CHUNK_ROWS], dtype=np.float64)
            gram += block.T @ block
        return gram, True
    x64 = np.asarray(x, dtype=np.float64)
    return x64 @ x64.T, False


def _sv_from_gram(gram: np.ndarray) -> np.ndarray:
    eig = np.linalg.eigvalsh(gram)[::-1]
    return np.sqrt(np.clip(eig, 0.0, None))


def _centred_gram(gram: np.ndarray, feature_side: bool, x: np.ndarray) -> np.ndarray:
    """Gram matrix of X minus its mean row, from X's own Gram by a rank-one correction."""
    n = x.shape[0]
    mean = x.mean(axis=0, dtype=np.float64)
    if feature_side:
        return gram - n * np.outer(mean, mean)
    xm = np.asarray(x, dtype=np.float64) @ mean  # (N,)
    return gram - xm[:, None] - xm[None, :] + mean @ mean


def singular_values(x: np.ndarray) -> np.ndarray:
    """Singular values of X, descending, via the float64 Gram matrix. Shape (min(N, D),)."""
    return _sv_from_gram(_gram(_check_matrix(x))[0])


def matrix_rank_from_sv(sv: np.ndarray, shape: tuple[int, int], dtype: np.dtype) -> int:
    """NumPy ``matrix_rank`` convention with the eps of the dtype the data is stored in."""
    if sv.size == 0 or sv[0] == 0:
        return 0
    tol = sv[0] * max(shape) * np.finfo(dtype).eps
    return int(np.count_nonzero(sv > tol))


def effective_rank(sv: np.ndarray) -> float:
    """Roy & Vetterli (2007): exp of the Shannon entropy of sigma / sum(sigma)."""
    total = float(np.sum(sv))
    if total == 0:
        return 0.0
    p = sv[sv > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def stable_rank(sv: np.ndarray) -> float:
    """sum(sigma^2) / sigma_1^2."""
    return float(np.sum(sv**2) / sv[0] ** 2) if sv.size and sv[0] > 0 else 0.0


def rankme(sv: np.ndarray, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp entropy of sigma/||sigma||_1 + eps, with eps=1e-7 as
    in the paper's code. Equals the effective rank up to that eps."""
    p = sv / (np.sum(np.abs(sv)) + eps) + eps
    return float(np.exp(-np.sum(p * np.log(p))))


ALPHA_FIT = (11, 100)  # alpha-ReQ fits eigenvalues i = 11..100 (1-based), as reptrix does
ALPHA_MIN_POINTS = 10


def alpha_req(sv: np.ndarray, nonzero: int) -> dict:
    """alpha-ReQ (Agrawal et al., NeurIPS 2022): the decay alpha of the covariance
    eigenvalues lambda_i = sigma_i^2 of the centred rows, lambda_i ~ i^-alpha, fitted by least
    squares of log lambda_i on -log i weighted by 1/i (the reptrix recipe) over
    i = ALPHA_FIT[0] .. min(ALPHA_FIT[1], non-zero eigenvalues); R^2 of the fit on log
    lambda over the same range. Fewer than ALPHA_MIN_POINTS points: skipped."""
    first, last = ALPHA_FIT[0], min(ALPHA_FIT[1], int(nonzero))
    if last - first + 1 < ALPHA_MIN_POINTS:
        return {
            "skipped": f"{nonzero} non-zero eigenvalues: the fit over i = {first}..{ALPHA_FIT[1]} "
            f"needs at least {first + ALPHA_MIN_POINTS - 1}"
        }
    i = np.arange(first, last + 1, dtype=np.float64)
    y = np.log(np.asarray(sv, np.float64)[first - 1 : last] ** 2)
    x = np.stack([-np.log(i), np.ones_like(i)], axis=1)
    w = 1.0 / i
    slope, intercept = np.linalg.solve(x.T @ (x * w[:, None]), (x * w[:, None]).T @ y)
    fitted = x @ np.array([slope, intercept])
    r2 = 1.0 - np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2)
    return {"alpha": float(slope), "r2": float(r2), "fit": [first, last]}


def _dims_from_sv(sv: np.ndarray, levels=VARIANCE_LEVELS) -> dict[str, int]:
    var = sv**2
    total = var.sum()
    out = {}
    for level in levels:
        key = f"dims_{round(level * 100)}"
        if total == 0:
            out[key] = 0
            continue
        out[key] = int(np.searchsorted(np.cumsum(var) / total, level - 1e-12) + 1)
    return out


def dims_for_variance(x: np.ndarray, levels=VARIANCE_LEVELS) -> dict[str, int]:
    """Smallest number of principal components of the centred X explaining each level."""
    x = _check_matrix(x)
    gram, feature_side = _gram(x)
    return _dims_from_sv(_sv_from_gram(_centred_gram(gram, feature_side, x)), levels)


def spectrum_stats(x: np.ndarray, center: bool = False) -> dict:
    """Spectral statistics of the rows of X (N, D) as given (normalise before calling).

    Returns singular_values (descending, float64), shape, rank (matrix_rank convention on
    X's own dtype), effective_rank, stable_rank, rankme, and dims_90/95/99 and alpha_req
    of the centred matrix. ``center=True`` removes the mean row first (keys unchanged).
    One Gram matrix serves both the raw and the centred spectrum.
    """
    x = _check_matrix(x)
    gram, feature_side = _gram(x)
    centred = _sv_from_gram(_centred_gram(gram, feature_side, x))
    sv = centred if center else _sv_from_gram(gram)
    return {
        "shape": [int(x.shape[0]), int(x.shape[1])],
        "centered": bool(center),
        "rank": matrix_rank_from_sv(sv, x.shape, x.dtype),
        "effective_rank": effective_rank(sv),
        "stable_rank": stable_rank(sv),
        "rankme": rankme(sv),
        **_dims_from_sv(centred),
        "alpha_req": alpha_req(centred, matrix_rank_from_sv(centred, x.shape, x.dtype)),
        "singular_values": sv.tolist(),
    }


def modality_gap(video_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Liang et al. (2022): L2 distance between the centroids of the normalised modalities."""
    v = _check_matrix(video_emb, "video_emb")
    t = _check_matrix(text_emb, "text_emb")
    if v.shape[1] != t.shape[1]:
        raise ValueError(f"dimension mismatch: video D={v.shape[1]}, text D={t.shape[1]}")
    return float(
        np.linalg.norm(
            l2_normalize(v, dtype=np.float64).mean(axis=0)
            - l2_normalize(t, dtype=np.float64).mean(axis=0)
        )
    )


def alignment(video_emb: np.ndarray, text_emb: np.ndarray, text_video_index: np.ndarray) -> float:
    """Wang & Isola (2020): mean squared distance between each caption and its video."""
    v = l2_normalize(_check_matrix(video_emb, "video_emb"), dtype=np.float64)
    t = l2_normalize(_check_matrix(text_emb, "text_emb"), dtype=np.float64)
    idx = np.asarray(text_video_index)
    return float(np.mean(np.sum((v[idx] - t) ** 2, axis=1)))


def uniformity(x: np.ndarray, t: float = 2.0, max_rows: int = 5000, seed: int = 0) -> float:
    """Wang & Isola (2020): log mean exp(-t ||x - y||^2) over distinct pairs of rows.

    Above ``max_rows`` rows a fixed random subset is used (the pair count is quadratic).
    """
    x = l2_normalize(_check_matrix(x), dtype=np.float64)
    if x.shape[0] < 2:
        raise ValueError(f"uniformity needs at least 2 rows, got {x.shape[0]}")
    if x.shape[0] > max_rows:
        x = x[np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False)]
    sq = np.clip(2.0 - 2.0 * (x @ x.T), 0.0, None)
    iu = np.triu_indices(x.shape[0], k=1)
    vals = -t * sq[iu]
    peak = vals.max()
    return float(peak + np.log(np.mean(np.exp(vals - peak))))


def analyze_file(embeddings_path: str, out_path: str, split: str = "test") -> dict:
    """The spectrum stage: statistics of both modalities of one embedding file."""
    from vidspace.core.io import eval_rows, load_embeddings, subset_videos, write_json

    arrays = load_embeddings(embeddings_path)
    arrays = subset_videos(arrays, eval_rows(arrays, split))
    video = l2_normalize(arrays["video_emb"])
    notes = []

    def uniformity_or_note(x: np.ndarray, modality: str) -> float | None:
        if x.shape[0] < 2:
            notes.append(f"{modality} uniformity skipped: {x.shape[0]} row (needs 2)")
            return None
        return uniformity(x)

    result: dict = {
        "source": str(embeddings_path),
        "split": split,
        "video": spectrum_stats(video),
        "video_centered": spectrum_stats(video, center=True),
        "video_uniformity": uniformity_or_note(video, "video"),
    }
    if "text_emb" in arrays:
        text = l2_normalize(arrays["text_emb"])
        result.update(
            text=spectrum_stats(text),
            text_centered=spectrum_stats(text, center=True),
            text_uniformity=uniformity_or_note(text, "text"),
            modality_gap=modality_gap(video, text),
            alignment=alignment(video, text, arrays["text_video_index"]),
        )
    if notes:
        result["notes"] = notes
    write_json(out_path, result)
    return result


def plot_spectrum(model: str, spectra: Mapping[str, str | Path], out_png: str | Path) -> None:
    """Normalised singular values of one model on each dataset, video and text side by side.

    ``spectra`` maps a dataset name to its spectrum JSON.
    """
    from vidspace.report.figures import plt, save

    results = {name: read_json(path) for name, path in spectra.items()}
    modalities = ["video"] + (["text"] if any("text" in r for r in results.values()) else [])
    fig, axes = plt.subplots(
        1, len(modalities), figsize=(5.2 * len(modalities), 3.8), squeeze=False
    )
    for ax, modality in zip(axes[0], modalities, strict=False):
        for name, r in results.items():
            if modality not in r:
                continue
            sv = np.asarray(r[modality]["singular_values"], np.float64)
            stats = r[modality]
            if sv.size == 0 or not sv[0] > 0:  # no spread at all: nothing to draw on a log axis
                ax.plot([], [], label=f"{name}: no spread (every vector the same)")
                continue
            sv = sv / sv[0]
            ax.plot(
                np.arange(1, sv.size + 1),
                np.maximum(sv, 1e-12),
                label=f"{name} (erank {stats['effective_rank']:.1f}, rank {stats['rank']})",
            )
        drawn = [line for line in ax.get_lines() if len(line.get_ydata())]
        if drawn:
            ax.set_yscale("log")
            ax.set_xscale("log")
        low = min((line.get_ydata().min() for line in drawn), default=1e-3)
        ax.set_ylim(bottom=max(1e-9, min(1e-2, low / 3)), top=1.5)
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        ax.set_title(f"{modality} embeddings")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Singular value spectrum: {model}")
    fig.tight_layout()
    save(fig, out_png)


def spectrum_section(report) -> str:
    datasets, plots, report_dir = report.datasets, report.plots, report.report_dir
    out = [
        "## Spectral decomposition",
        "α-ReQ (Agrawal et al. 2022) is the decay λ_i ∝ i^−α of the centred covariance "
        "eigenvalues: α near 1 is what they found to go with the best generalisation; "
        "below 1 the variance spreads over many weak, noisy directions, well above 1 it "
        "concentrates in a few (towards collapse). α describes the shape of one modality's "
        "spectrum only: it says nothing of how captions and videos align, two spaces "
        "with the same α can retrieve very differently, and its best value moves with "
        "the task, so it does not rank models; R@K does.",
    ]
    models = list(dict.fromkeys(m for d in datasets.values() for m in d["models"]))
    names = list(datasets)
    for model in models:
        if model in plots.get("spectrum", {}):
            out.append(f"![spectrum_{model}]({rel(plots['spectrum'][model], report_dir)})")
        res = {
            ds: read_json(datasets[ds]["models"][model]["spectrum"])
            for ds in names
            if model in datasets[ds]["models"]
        }

        def row(label, fn, res=res):
            return [label] + [fn(res[ds]) if ds in res else "–" for ds in names]

        def dim(r):
            return r["video"]["shape"][1]

        def has_text(r):
            return "text" in r

        rows = [
            row("Video embeddings", lambda r: f"({r['video']['shape'][0]}, {dim(r)})"),
            row(
                "Text embeddings",
                lambda r: f"({r['text']['shape'][0]}, {dim(r)})" if has_text(r) else "–",
            ),
            row("Matrix rank (video)", lambda r: f"{r['video']['rank']}/{dim(r)}"),
            row(
                "Matrix rank (text)",
                lambda r: f"{r['text']['rank']}/{dim(r)}" if has_text(r) else "–",
            ),
            row(
                "Effective rank (video)", lambda r: f"{r['video']['effective_rank']:.2f} / {dim(r)}"
            ),
            row(
                "Effective rank (text)",
                lambda r: f"{r['text']['effective_rank']:.2f} / {dim(r)}" if has_text(r) else "–",
            ),
            row("Stable rank (video)", lambda r: f"{r['video']['stable_rank']:.2f}"),
            row(
                "Stable rank (text)",
                lambda r: f"{r['text']['stable_rank']:.2f}" if has_text(r) else "–",
            ),
            row("Modality gap (L2)", lambda r: fmt(r.get("modality_gap"), 4)),
            row("Alignment", lambda r: fmt(r.get("alignment"), 4)),
            row(
                "Uniformity (video / text)",
                lambda r: (
                    fmt(r.get("video_uniformity"), 3) + " / " + fmt(r.get("text_uniformity"), 3)
                ),
            ),
            row("α-ReQ (video / text)", lambda r: _alpha(r, "video") + " / " + _alpha(r, "text")),
            row(
                "Dims for 90/95/99 % variance (video, centred)",
                lambda r: "/".join(str(r["video"][f"dims_{p}"]) for p in (90, 95, 99)),
            ),
        ]
        out.append(
            f"### Singular value spectrum: {model}\n\n"
            + table(["Metric"] + [n.upper() for n in names], rows)
        )
    return "\n\n".join(out)


def _alpha(r: dict, modality: str) -> str:
    a = r.get(modality, {}).get("alpha_req")
    if not a:
        return "–"
    if "skipped" in a:
        return "too few eigenvalues"
    return f"{a['alpha']:.2f} (R² {a['r2']:.2f}, i = {a['fit'][0]}–{a['fit'][1]})"


COLLAPSED_RANK = 0.25  # numerical rank at most a quarter of min(N, D): a collapsed space
CONCENTRATED_ERANK = 0.05  # effective rank at most 5 % of min(N, D): few directions
GAP_NOTED = 0.5  # ||mean(video) - mean(text)|| of unit vectors, in [0, 2]: worth a sentence
MIN_ROWS = 30  # fewer rows per modality: too few to judge collapse or the gap


def spectrum_diagnostics(ds: str, model: str, spectrum: dict) -> list[str]:
    """Findings on a spectrum file: a collapsed space, few directions, the modality gap
    read against what contrastive models show; or that there are too few vectors."""
    rows = min(spectrum[m]["shape"][0] for m in ("video", "text") if m in spectrum)
    if rows < MIN_ROWS:
        return [
            f"**{ds} / {model}**: {rows} evaluated vectors are too few to judge a collapsed "
            f"space or the modality gap (at least {MIN_ROWS} per modality)."
        ]
    out = []
    for modality in ("video", "text"):
        s = spectrum.get(modality)
        if not s:
            continue
        n, dim = s["shape"]
        bound = min(n, dim)
        if s["rank"] <= COLLAPSED_RANK * bound:
            out.append(
                f"**{ds} / {model}**: the {modality} embeddings are collapsed: rank "
                f"{s['rank']} of {dim} dimensions ({n} rows), effective rank "
                f"{s['effective_rank']:.1f}."
            )
        elif s["effective_rank"] <= CONCENTRATED_ERANK * bound:
            out.append(
                f"**{ds} / {model}**: the {modality} embeddings use few directions: effective "
                f"rank {s['effective_rank']:.1f} of {bound} possible (rank {s['rank']})."
            )
    gap = spectrum.get("modality_gap")
    if gap is not None and gap >= GAP_NOTED:
        out.append(
            f"**{ds} / {model}**: videos and captions sit apart, a modality gap of "
            f"{gap:.2f} between their mean directions (unit vectors; 0 = the same centre, "
            "2 = opposite), as contrastive training typically leaves them (Liang et al., "
            'NeurIPS 2022, "Mind the Gap"). It is no defect by itself: ranking compares a '
            "query's scores with each other, which a shift shared by all of them leaves "
            "alone; it does make raw cosines incomparable across the two modalities "
            "(thresholds, searching videos and captions together)."
        )
    return out


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    analyze_file(inputs["embeddings"], outputs["spectrum"], config["evaluation"]["split"])


ANALYSIS = Analysis(
    name="spectrum",
    outputs={"spectrum": "results/spectra/{dataset}/{model}.json"},
    inputs={"embeddings": Input("embed", "embeddings")},
    run=_run,
    config_keys=("evaluation.split",),
    metrics=("spectrum",),
    section=spectrum_section,
    order=20,
    diagnostics=spectrum_diagnostics,
    skipped=lambda result: [("spectrum", note) for note in result.get("notes", [])],
    figure=Figure(
        name="spectrum",
        path="results/plots/spectrum_{model}.png",
        caption="spectrum.rst",
        category="Spectra",
        inputs={"spectrum": Input("spectrum", "spectrum", each=("dataset",))},
        draw=lambda inputs, out, wildcards, config: plot_spectrum(
            wildcards["model"], inputs["spectrum"], out
        ),
    ),
)
