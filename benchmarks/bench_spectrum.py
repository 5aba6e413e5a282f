"""spectrum_stats of a 100,000 x 1,024 float32 matrix against one float64 Gram GEMM.

python benchmarks/bench_spectrum.py [--n 100000] [--d 1024]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import best_of, table

from vidspace.analyses.spectra import spectrum_stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=1024)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(a.n, a.d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x64 = x.astype(np.float64)
    gram = best_of(lambda: x64.T @ x64)
    x64 = None  # free 800 MB before timing ours
    ours = best_of(lambda: spectrum_stats(x))
    full_svd_note = "not run (N x D SVD)"
    print(
        table(
            [
                ("N, D", f"{a.n}, {a.d}"),
                ("one float64 Gram GEMM (input already float64)", f"{gram:.2f} s"),
                ("spectrum_stats (raw + centred spectra, all stats)", f"{ours:.2f} s"),
                ("ratio ours / GEMM (target <= 1.5)", f"{ours / gram:.2f}"),
                ("full SVD", full_svd_note),
            ]
        )
    )


if __name__ == "__main__":
    main()
