"""Deep Embedded Clustering (Xie, Girshick and Farhadi, ICML 2016), as the seed study reports it
beside k-means.

1. An autoencoder D -> 256 -> 128 -> ``latent_dim`` -> 128 -> 256 -> D (ReLU) is trained
   on the rows to reconstruct them (mean squared error; ``pretrain_iterations`` Adam steps
   on shuffled batches of 256).
2. k-means (k clusters, 20 starts) on the latent codes z gives the centroids mu; these
   labels are the "autoencoder + k-means" baseline of the seed's table.
3. Refinement: soft assignments q_ij = (1 + |z_i - mu_j|^2 / alpha)^(-(alpha + 1) / 2),
   normalised over j (Student's t, alpha = 1), are pulled towards the sharpened target
   p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'), f_j = sum_i q_ij, by minimising
   KL(P || Q) over the encoder and the centroids (Adam, batches of 256). P is recomputed
   every ``update_interval`` steps; refinement stops when fewer than ``tol`` of the labels
   argmax_j q_ij changed since the last update, or after ``max_iterations`` steps.

On the CPU in one thread from ``seed`` (:func:`~vidspace.core.linalg.deterministic_torch`).
"""

from __future__ import annotations

import numpy as np

from vidspace.core.errors import TooFewRows
from vidspace.core.linalg import deterministic_torch

HIDDEN = (256, 128)
ALPHA = 1.0
MIN_ROWS = 20  # and at least 2 rows per cluster


def soft_assignment(torch, z, centroids, alpha: float = ALPHA):
    """q_ij of the module docstring (rows sum to 1)."""
    squared = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(2)
    q = (1.0 + squared / alpha) ** (-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q):
    """p_ij of the module docstring, from q (rows sum to 1)."""
    weight = q**2 / q.sum(0)
    return weight / weight.sum(1, keepdims=True)


def too_few_rows(n: int, k: int) -> str | None:
    """Why ``n`` rows cannot train DEC for ``k`` clusters, or None."""
    need = max(MIN_ROWS, 2 * k)
    if n < need:
        return f"{n} rows for {k} clusters: DEC needs at least {need} to train its autoencoder"
    return None


def dec_clusters(
    x: np.ndarray,
    k: int,
    seed: int = 0,
    latent_dim: int = 10,
    pretrain_iterations: int = 1000,
    max_iterations: int = 5000,
    update_interval: int = 100,
    tol: float = 0.001,
    batch_size: int = 256,
    lr: float = 1e-3,
) -> dict:
    """DEC labels of the rows of ``x`` into ``k`` clusters, with the autoencoder + k-means
    labels it starts from and how refinement went (module docstring)."""
    x = np.asarray(x, np.float32)
    n, d = x.shape
    reason = too_few_rows(n, k)
    if reason:
        raise TooFewRows(reason)
    with deterministic_torch() as torch:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        nn = torch.nn

        def mlp(sizes):  # Linear layers with ReLU between them, none after the last
            layers = [
                m
                for a, b in zip(sizes[:-1], sizes[1:], strict=True)
                for m in (nn.Linear(a, b), nn.ReLU())
            ]
            return nn.Sequential(*layers[:-1])

        sizes = (d, *HIDDEN, latent_dim)
        encoder, decoder = mlp(sizes), mlp(sizes[::-1])
        data = torch.from_numpy(x)

        def batches():
            """Endless shuffled batches of row indices (a new order every pass)."""
            while True:
                order = torch.randperm(n, generator=generator)
                for s in range(0, n, batch_size):
                    yield order[s : s + batch_size]

        stream = batches()
        optimiser = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=lr)
        for _ in range(int(pretrain_iterations)):
            rows = data[next(stream)]
            optimiser.zero_grad()
            loss = ((decoder(encoder(rows)) - rows) ** 2).mean()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            z = encoder(data).numpy().astype(np.float64)
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, n_init=20, random_state=seed).fit(z)
        start_labels = km.labels_.copy()
        centroids = nn.Parameter(torch.from_numpy(km.cluster_centers_.astype(np.float32)))
        optimiser = torch.optim.Adam([*encoder.parameters(), centroids], lr=lr)

        def kl_divergence(p, q):
            return (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(1)

        labels, changed, steps, kl = start_labels, 1.0, 0, []
        while steps < int(max_iterations):
            with torch.no_grad():
                q_all = soft_assignment(torch, encoder(data), centroids)
                target = target_distribution(q_all)
                kl.append(float(kl_divergence(target, q_all).mean()))
            for _ in range(min(int(update_interval), int(max_iterations) - steps)):
                idx = next(stream)
                optimiser.zero_grad()
                loss = kl_divergence(
                    target[idx], soft_assignment(torch, encoder(data[idx]), centroids)
                )
                loss.mean().backward()
                optimiser.step()
                steps += 1
            with torch.no_grad():
                new = soft_assignment(torch, encoder(data), centroids).argmax(1).numpy()
            changed = float(np.mean(new != labels))
            labels = new
            if changed < tol:
                break
    return {
        "labels": labels.astype(np.int64),
        "autoencoder_labels": start_labels.astype(np.int64),
        "iterations": int(steps),
        "converged": bool(changed < tol),
        "kl_first": round(kl[0], 6) if kl else None,
        "kl_last": round(kl[-1], 6) if kl else None,
    }
