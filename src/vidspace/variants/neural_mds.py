"""Neural MDS (docs/definitions.md): a small network g mapping embeddings to D' dimensions so that
distances are kept (``isometric``: d(i, j) = e(g(i), g(j))) or their order is
(``isotonic``: d(i, j) < d(k, l) => e(g(i), g(j)) < e(g(k), g(l))).

d and e are Euclidean distances (of the L2-normalised inputs, and of the outputs). The
network is g(x) = (x - mean) P + MLP(x): P is the top-D' principal directions of the fit
set and the MLP's last layer starts at zero, so before training g is exactly PCA, and
training moves it only where the loss improves.

- isometric: Kruskal's stress on a batch, sum (e_ij - d_ij)^2 / sum d_ij^2 over its pairs;
- isotonic: a logistic ranking loss on sampled quadruples of a batch, softplus(-s (e_ij -
  e_kl) / (tau mean(e))) with s = sign(d_ij - d_kl) (ties dropped); dividing by the
  batch's mean output distance makes it scale-free, as the order is.

Fitting runs on the CPU in one thread with seeded batches, so a seed gives the same
bytes on any machine load.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vidspace.core.errors import TooFewRows
from vidspace.core.linalg import deterministic_torch

LOSSES = ("isometric", "isotonic")
MIN_FIT_ROWS = 16
MAX_FIT_ROWS = 20000  # a seeded sample of the fit set beyond this
ISOTONIC_TAU = 0.1


def _pair_distances(torch, x):
    """Distances of every pair i < j of the rows of x, from the Gram matrix (one GEMM;
    differentiable at 0)."""
    sq = (x * x).sum(1)
    squared = (sq[:, None] + sq[None, :] - 2 * (x @ x.T)).clamp_min(0)
    upper = torch.ones(x.shape[0], x.shape[0], dtype=torch.bool).triu(1)
    return torch.sqrt(squared[upper] + 1e-12)


def _loss(torch, loss: str, target, out, generator, quads: int):
    if loss == "isometric":
        return ((out - target) ** 2).sum() / (target**2).sum().clamp_min(1e-12)
    a = torch.randint(0, target.numel(), (quads,), generator=generator)
    b = torch.randint(0, target.numel(), (quads,), generator=generator)
    sign = torch.sign(target[a] - target[b])
    keep = sign != 0
    scale = out.mean().clamp_min(1e-12) * ISOTONIC_TAU
    margin = sign[keep] * (out[a][keep] - out[b][keep]) / scale
    return torch.nn.functional.softplus(-margin).mean()


def fit_neural_mds(
    x: np.ndarray,
    dim: int,
    loss: str = "isometric",
    epochs: int = 200,
    seed: int = 0,
    hidden: int = 256,
    batch_size: int = 512,
    lr: float = 1e-3,
    quads: int = 8192,
    held_out: np.ndarray | None = None,
) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """Fit g on the rows of ``x`` (module docstring); returns (g as a NumPy function, facts:
    rows fitted on, the loss before and after training on the whole fit set's batches, and
    after training on the rows of ``held_out`` when given: a loss far above the fitted
    rows' there is overfitting)."""
    if loss not in LOSSES:
        raise ValueError(f"neural_mds: loss must be one of {list(LOSSES)}, got {loss!r}")
    x = np.asarray(x, np.float32)
    n, d = x.shape
    if dim >= d:
        raise ValueError(f"neural_mds: dim={dim} must be below the embedding dimension {d}")
    if n < max(MIN_FIT_ROWS, dim + 1):
        raise TooFewRows(
            f"neural_mds: {n} rows to fit on, fewer than {max(MIN_FIT_ROWS, dim + 1)} "
            f"(at least {MIN_FIT_ROWS} and more than dim={dim})"
        )
    rng = np.random.default_rng(seed)
    if n > MAX_FIT_ROWS:
        x = x[np.sort(rng.choice(n, MAX_FIT_ROWS, replace=False))]
        n = MAX_FIT_ROWS
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    with deterministic_torch() as torch:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        linear = torch.nn.Linear(d, dim, bias=False)
        mlp = torch.nn.Sequential(
            torch.nn.Linear(d, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, dim)
        )
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(vt[:dim])))
            mlp[2].weight.zero_()
            mlp[2].bias.zero_()
        centre = torch.from_numpy(mean)

        def forward(rows):
            return linear(rows - centre) + mlp(rows)

        data = torch.from_numpy(x)
        params = [*linear.parameters(), *mlp.parameters()]
        optimiser = torch.optim.Adam(params, lr=lr)

        def epoch_loss(data=data) -> float:
            n = data.shape[0]
            with torch.no_grad():
                total = [
                    float(
                        _loss(
                            torch,
                            loss,
                            _pair_distances(torch, data[s : s + batch_size]),
                            _pair_distances(torch, forward(data[s : s + batch_size])),
                            torch.Generator().manual_seed(seed),
                            quads,
                        )
                    )
                    for s in range(0, n, batch_size)
                    if min(n, s + batch_size) - s >= 2
                ]
            return float(np.mean(total))

        before = epoch_loss()
        for _ in range(int(epochs)):
            order = torch.randperm(n, generator=generator)
            for s in range(0, n, batch_size):
                rows = data[order[s : s + batch_size]]
                if rows.shape[0] < 2:
                    continue
                optimiser.zero_grad()
                value = _loss(
                    torch,
                    loss,
                    _pair_distances(torch, rows),
                    _pair_distances(torch, forward(rows)),
                    generator,
                    quads,
                )
                value.backward()
                optimiser.step()
        after = epoch_loss()
        unseen = None
        if held_out is not None and len(held_out) >= 2:
            if len(held_out) > MAX_FIT_ROWS:  # the same cap as the fit set's
                held_out = held_out[np.sort(rng.choice(len(held_out), MAX_FIT_ROWS, False))]
            unseen = epoch_loss(torch.from_numpy(np.ascontiguousarray(held_out, np.float32)))
        for p in params:
            p.requires_grad_(False)

    def apply(rows: np.ndarray) -> np.ndarray:
        with deterministic_torch() as torch:
            out = [
                forward(torch.from_numpy(np.ascontiguousarray(rows[s : s + 4096], np.float32)))
                for s in range(0, len(rows), 4096)
            ]
            return (torch.cat(out) if out else torch.zeros((0, dim))).numpy().astype(np.float32)

    facts = {"fit_rows": int(n), "loss_before": round(before, 6), "loss_after": round(after, 6)}
    if unseen is not None:
        facts["loss_held_out"] = round(unseen, 6)
    return apply, facts
