"""Rules plot_*: one figure of the report from result files given as NAME=PATH."""

import argparse

from vidspace.core.cli import pairs_arg, run
from vidspace.report import figures as plots


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="kind", required=True)
    s = sub.add_parser("spectrum", help="singular values of one model across datasets")
    s.add_argument("--model", required=True)
    s.add_argument("--spectrum", type=pairs_arg, nargs="+", required=True, metavar="DATASET=JSON")
    g = sub.add_parser("projections", help="UMAP + t-SNE of each model on one dataset")
    g.add_argument("--dataset", required=True)
    g.add_argument("--embeddings", type=pairs_arg, nargs="+", required=True, metavar="MODEL=NPZ")
    g.add_argument("--split", required=True)
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--notes", help="JSON listing the projections skipped (too few points)")
    g.add_argument(
        "--clusters", type=pairs_arg, nargs="*", default=[], metavar="MODEL=NPZ",
        help="each model's cluster labels (clustering stage): a third column by cluster",
    )  # fmt: skip
    r = sub.add_parser("retrieval", help="R@K against variant on one dataset")
    r.add_argument("--dataset", required=True)
    r.add_argument(
        "--metrics", type=pairs_arg, nargs="+", required=True, metavar="MODEL/VARIANT=JSON"
    )
    r.add_argument("--ks", type=int, nargs="+", required=True)
    d = sub.add_parser("dimensions", help="R@1 against reduced dimension on one dataset")
    d.add_argument("--dataset", required=True)
    d.add_argument("--curves", type=pairs_arg, nargs="+", required=True, metavar="MODEL=JSON")
    t = sub.add_parser("temporal", help="R@1 against beta (multi-grained) on one dataset")
    t.add_argument("--dataset", required=True)
    t.add_argument("--sweeps", type=pairs_arg, nargs="+", required=True, metavar="MODEL=JSON")
    c = sub.add_parser("pareto", help="R@1 against bytes per vector on one dataset")
    c.add_argument("--dataset", required=True)
    c.add_argument(
        "--metrics", type=pairs_arg, nargs="+", required=True, metavar="MODEL/VARIANT=JSON"
    )
    for q in (s, g, r, d, t, c):
        q.add_argument("--out", required=True, help="PNG to write")
    a = p.parse_args()
    if a.kind == "spectrum":
        plots.plot_spectrum(a.model, dict(a.spectrum), a.out)
    elif a.kind == "dimensions":
        plots.plot_dimensions(a.dataset, dict(a.curves), a.out)
    elif a.kind == "temporal":
        plots.plot_temporal(a.dataset, dict(a.sweeps), a.out)
    elif a.kind == "projections":
        plots.plot_projection_grid(
            a.dataset, dict(a.embeddings), a.out, a.split, a.seed, a.notes, dict(a.clusters)
        )
    else:
        nested: dict[str, dict[str, str]] = {}
        for label, path in a.metrics:
            model, _, variant = label.partition("/")
            nested.setdefault(model, {})[variant] = path
        if a.kind == "pareto":
            plots.plot_pareto(a.dataset, nested, a.out)
        else:
            plots.plot_retrieval(a.dataset, nested, a.out, a.ks)


if __name__ == "__main__":
    run(main)
