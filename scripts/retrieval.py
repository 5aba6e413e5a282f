"""Rule retrieval: text->video and video->text metrics of one embedding file."""

import argparse

from vidspace.core.cli import run
from vidspace.metrics import evaluate_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embeddings", required=True)
    p.add_argument("--meta", help="the variant's sidecar JSON (default: beside --embeddings)")
    p.add_argument("--out", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--ks", type=int, nargs="+", required=True)
    p.add_argument("--ndcg-k", type=int, required=True)
    p.add_argument(
        "--pool-sizes",
        type=int,
        nargs="*",
        required=True,
        help="candidate-pool sizes C (each query ranked against C items)",
    )
    p.add_argument("--bootstrap", type=int, required=True, help="resamples for 95%% CIs; 0: off")
    p.add_argument("--ranks", help="where to write the per-query ranks (.npz)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--device", required=True, help="auto | cpu | cuda | cuda:N (ranking)")
    a = p.parse_args()
    evaluate_file(
        a.embeddings,
        a.out,
        split=a.split,
        ks=a.ks,
        ndcg_k=a.ndcg_k,
        pool_sizes=a.pool_sizes,
        bootstrap=a.bootstrap,
        ranks_path=a.ranks,
        seed=a.seed,
        device=a.device,
        meta_path=a.meta,
    )


if __name__ == "__main__":
    run(main)
