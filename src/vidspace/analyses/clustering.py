"""Do the embeddings cluster by category? k-means and DEC against labels (ARI, NMI,
AMI, FMI)."""

from __future__ import annotations

import logging

import numpy as np

from vidspace.analyses import Analysis, Input, skipped_whole
from vidspace.core.io import read_json
from vidspace.report.markdown import fmt, table

logger = logging.getLogger(__name__)

# Conclusion thresholds (docs/definitions.md, "Clustering"): a mean silhouette above
# STRUCTURE is at least the "weak structure" of Kaufman and Rousseeuw (1990), at or below it
# "no substantial structure"; an ARI at or above BY_CATEGORY is a clustering that follows
# the categories (0 is chance agreement, 1 identity).
STRUCTURE = 0.25
BY_CATEGORY = 0.5
MIN_PER_CLUSTER = 5  # fewer videos per category on average: too few to judge structure


def cluster_scores(labels_true, labels_pred) -> dict[str, float]:
    """ARI, NMI, AMI and FMI of a clustering against reference labels."""
    from sklearn.metrics import (
        adjusted_mutual_info_score,
        adjusted_rand_score,
        fowlkes_mallows_score,
        normalized_mutual_info_score,
    )

    return {
        "ARI": float(adjusted_rand_score(labels_true, labels_pred)),
        "NMI": float(normalized_mutual_info_score(labels_true, labels_pred)),
        "AMI": float(adjusted_mutual_info_score(labels_true, labels_pred)),
        "FMI": float(fowlkes_mallows_score(labels_true, labels_pred)),
    }


def kmeans_against_categories(
    x: np.ndarray, categories: np.ndarray, seed: int = 0, n_init: int = 10, labels: bool = False
) -> dict:
    """k-means with k = number of categories on the rows of x; scores against categories
    (and the cluster of each row under ``labels``, with ``labels=True``)."""
    x = np.asarray(x, dtype=np.float64)
    categories = np.asarray(categories)
    if x.ndim != 2 or x.shape[0] != categories.shape[0]:
        raise ValueError(f"x has shape {x.shape} but there are {categories.shape[0]} labels")
    classes = np.unique(categories)
    if classes.size < 2:
        raise ValueError(f"clustering needs at least 2 categories, got {classes.tolist()}")
    if classes.size > x.shape[0]:
        raise ValueError(f"{classes.size} categories but only {x.shape[0]} rows")
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    pred = KMeans(n_clusters=classes.size, n_init=n_init, random_state=seed).fit_predict(x)
    result = {"k": int(classes.size), "n": int(x.shape[0]), **cluster_scores(categories, pred)}
    # the data's own structure, whatever the categories: how well k-means' clusters separate,
    # and how well the categories themselves do (cosine distance between the rows)
    for key, grouping in (("silhouette", pred), ("category_silhouette", categories)):
        found = np.unique(grouping).size
        result[key] = (
            float(silhouette_score(x, grouping, metric="cosine"))
            if 2 <= found <= x.shape[0] - 1
            else None
        )
    if labels:
        result["labels"] = pred.astype(np.int64)
    return result


def dec_against_categories(x: np.ndarray, categories: np.ndarray, seed: int, **options) -> dict:
    """DEC (vidspace.analyses.dec) with k = number of categories, and the autoencoder + k-means
    labels it starts from, both scored against the categories; a set too small to train
    on is a skip with its reason."""
    from vidspace.analyses.dec import dec_clusters, too_few_rows

    k = int(np.unique(categories).size)
    reason = too_few_rows(x.shape[0], k)
    if reason:
        return {"skipped": reason}
    r = dec_clusters(x, k, seed, **options)
    return {
        "k": k,
        "n": int(x.shape[0]),
        **cluster_scores(categories, r["labels"]),
        "autoencoder_kmeans": cluster_scores(categories, r["autoencoder_labels"]),
        # videos whose cluster the KL refinement changed (it starts from those centroids)
        "refinement_moved": int(np.sum(r["labels"] != r["autoencoder_labels"])),
        **{key: r[key] for key in ("iterations", "converged", "kl_first", "kl_last")},
        "options": options,
        "labels": r["labels"],
    }


def analyze_file(
    embeddings_path: str,
    out_path: str,
    split: str = "test",
    seed: int = 0,
    dec: dict | None = None,
    labels_path: str | None = None,
) -> dict:
    """The clustering stage: video (and caption) embeddings against the video categories
    by k-means; with ``dec`` (its options, or {} for the defaults) also DEC on the videos
    (``result["dec"]``). ``labels_path``: an .npz of each clustered video's id and its
    k-means (and DEC) cluster, for the projection grid (empty when skipped)."""
    from vidspace.core.io import eval_rows, load_embeddings, subset_videos, write_json
    from vidspace.core.linalg import l2_normalize

    arrays = load_embeddings(embeddings_path)
    arrays = subset_videos(arrays, eval_rows(arrays, split))
    result: dict = {"source": str(embeddings_path), "split": split}
    clusters: dict = {"video_ids": np.array([], dtype=str)}
    cats = arrays.get("categories")
    if cats is None or not np.any(cats != ""):
        result["skipped"] = "the dataset has no categories"
    elif np.unique(cats[cats != ""]).size < 2:
        result["skipped"] = f"only one category ({str(cats[cats != ''][0])!r})"
    elif np.unique(cats[cats != ""]).size > int(np.sum(cats != "")) - 1:
        n_cats = np.unique(cats[cats != ""]).size
        result["skipped"] = (
            f"{int(np.sum(cats != ''))} labelled videos for {n_cats} categories: "
            "k-means needs more videos than categories"
        )
    else:
        labelled = cats != ""
        result["video"] = kmeans_against_categories(
            l2_normalize(arrays["video_emb"][labelled]), cats[labelled], seed, labels=True
        )
        clusters["video_ids"] = arrays["video_ids"][labelled]
        clusters["kmeans"] = result["video"].pop("labels")
        if dec is not None:
            result["dec"] = dec_against_categories(
                l2_normalize(arrays["video_emb"][labelled]), cats[labelled], seed, **dec
            )
            if "labels" in result["dec"]:
                clusters["dec"] = result["dec"].pop("labels")
                # 1.0: the same partition as k-means on the embeddings (labels up to renaming)
                result["dec"]["agreement_with_kmeans"] = cluster_scores(
                    clusters["kmeans"], clusters["dec"]
                )["ARI"]
            if "skipped" in result["dec"]:
                logger.warning("%s: DEC skipped: %s", embeddings_path, result["dec"]["skipped"])
        if "text_emb" in arrays:
            text_cats = cats[arrays["text_video_index"]]
            keep = text_cats != ""
            result["text"] = kmeans_against_categories(
                l2_normalize(arrays["text_emb"][keep]), text_cats[keep], seed
            )
    if "skipped" in result:
        logger.warning("%s: clustering skipped: %s", embeddings_path, result["skipped"])
    write_json(out_path, result)
    if labels_path:
        from vidspace.core.io import atomic_path

        with atomic_path(labels_path, suffix=".npz") as tmp:
            np.savez(tmp, **{k: np.asarray(v) for k, v in clusters.items()})
    return result


def clustering_section(report) -> str:
    datasets = report.datasets
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
        "refinement of soft assignments) beside it, with the autoencoder + "
        "k-means labels it starts from.",
        table(["Dataset", "Model", "Method", "k", "ARI", "NMI", "AMI", "FMI", "Notes"], rows),
    ]
    if notes:
        out.append("\n".join(notes))
    return "\n\n".join(out)


def clustering_diagnostics(ds: str, m: str, r: dict) -> list[str]:
    """One sentence on whether the videos cluster, and by category (thresholds above), and
    one when DEC's labels are k-means' own or its start's."""
    if "skipped" in r or r["video"].get("silhouette") is None:
        return []
    v = r["video"]
    where = f"**{ds} / {m}**"
    if v["n"] < MIN_PER_CLUSTER * v["k"]:
        return [
            f"{where}: {v['n']} videos for {v['k']} categories are too few to judge cluster "
            f"structure (fewer than {MIN_PER_CLUSTER} a category); no clustering sentence."
        ]
    s, ari = v["silhouette"], v["ARI"]
    scores = f"k-means silhouette {s:.2f}, ARI against the categories {ari:.2f}"
    if ari >= BY_CATEGORY:
        shape = "" if s > STRUCTURE else ", though the clusters are not well separated"
        verdict = f"the videos cluster by category{shape}"
    elif s > STRUCTURE:
        verdict = "the videos cluster, but not by category: something else groups them"
    else:
        verdict = "no cluster structure, and none along the categories"
    lines = [
        f"{where}: {verdict} ({scores}; silhouette of the categories themselves "
        f"{fmt(v.get('category_silhouette'))})."
    ]
    dec = r.get("dec", {})
    if dec.get("agreement_with_kmeans") == 1.0:
        lines.append(
            f"{where}: DEC's clusters are exactly k-means' on the embeddings (ARI 1.00 between "
            "them): its autoencoder and refinement change no assignment here."
        )
    elif dec.get("refinement_moved") == 0:
        lines.append(
            f"{where}: DEC's KL refinement moved no video from the autoencoder + k-means "
            "clusters it starts from."
        )
    return lines


def _run(inputs: dict, outputs: dict, config: dict) -> None:
    options = dict(config["clustering"])
    dec = options if options.pop("dec") else None
    analyze_file(
        inputs["embeddings"],
        outputs["clustering"],
        split=config["evaluation"]["split"],
        seed=config["seed"],
        dec=dec,
        labels_path=outputs["labels"],
    )


ANALYSIS = Analysis(
    name="clustering",
    outputs={
        "clustering": "results/clustering/{dataset}/{model}.json",
        "labels": "results/clustering/{dataset}/{model}.labels.npz",
    },
    inputs={"embeddings": Input("embed", "embeddings")},
    run=_run,
    config_keys=("evaluation.split", "seed", "clustering"),
    metrics=("clustering",),
    section=clustering_section,
    diagnostics=clustering_diagnostics,
    order=60,
    skipped=skipped_whole("clustering"),
)
