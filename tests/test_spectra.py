"""Spectral statistics against NumPy and hand-computed cases."""

import numpy as np
import pytest

from vidspace.analyses.spectra import (
    alignment,
    dims_for_variance,
    effective_rank,
    modality_gap,
    rankme,
    singular_values,
    spectrum_stats,
    stable_rank,
    uniformity,
)


def _unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("shape", [(40, 12), (12, 40)])
def test_singular_values_match_numpy_svd(shape):
    x = np.random.default_rng(0).normal(size=shape)
    np.testing.assert_allclose(singular_values(x), np.linalg.svd(x, compute_uv=False), rtol=1e-8)


def test_rank_uses_stored_dtype_eps_and_matches_numpy():
    rng = np.random.default_rng(0)
    # rank-32 matrix stored in float32, as in the seed report's YouCook2 video embeddings
    x = _unit_rows(rng.normal(size=(1000, 32)) @ rng.normal(size=(32, 256))).astype(np.float32)
    stats = spectrum_stats(x)
    assert stats["rank"] == 32
    assert stats["rank"] == np.linalg.matrix_rank(x)
    # with float64 eps the float32 rounding noise would read as (nearly) full rank
    sv = np.array(stats["singular_values"])
    assert np.count_nonzero(sv > sv[0] * 1000 * np.finfo(np.float64).eps) > 100


def test_effective_and_stable_rank_hand_computed():
    sv = np.array([2.0, 1.0, 1.0])
    p = sv / 4
    assert effective_rank(sv) == pytest.approx(np.exp(-np.sum(p * np.log(p))))
    assert stable_rank(sv) == pytest.approx(6 / 4)
    # k equal singular values: effective rank k, stable rank k
    assert effective_rank(np.ones(5)) == pytest.approx(5)
    assert stable_rank(np.ones(5)) == pytest.approx(5)


def test_dims_for_variance():
    # variances 0.5, 0.3, 0.15, 0.05 along the axes of a centred matrix
    stds = np.sqrt([0.5, 0.3, 0.15, 0.05])
    z = np.random.default_rng(0).normal(size=(4000, 4))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T, bias=True))).T
    dims = dims_for_variance(z * stds)
    assert dims == {"dims_90": 3, "dims_95": 3, "dims_99": 4}


def test_modality_gap_alignment_uniformity_hand_computed():
    v = np.array([[1.0, 0.0], [1.0, 0.0]])
    t = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert modality_gap(v, t) == pytest.approx(np.sqrt(2))
    assert alignment(v, t, np.array([0, 1])) == pytest.approx(2.0)
    # two antipodal points: ||x-y||^2 = 4, log exp(-8) = -8
    assert uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((0, 3)), "non-empty"),
        (np.array([[np.inf, 1.0]]), "NaN or inf"),
        (np.ones((3, 2), dtype=int), "floating"),
    ],
)
def test_bad_input(x, match):
    with pytest.raises(ValueError, match=match):
        spectrum_stats(x)


def test_modality_gap_dimension_mismatch():
    with pytest.raises(ValueError, match="dimension mismatch"):
        modality_gap(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize("shape", [(60, 10), (10, 60)])
def test_centred_spectrum_matches_svd_of_centred_matrix(shape):
    x = np.random.default_rng(1).normal(loc=2.0, size=shape)
    stats = spectrum_stats(x, center=True)
    expected = np.linalg.svd(x - x.mean(0), compute_uv=False)
    # Gram-based values are accurate to about sqrt(eps) * sigma_1 (DESIGN.md)
    np.testing.assert_allclose(
        stats["singular_values"][: expected.size], expected, atol=1e-6 * expected[0]
    )


@pytest.mark.parametrize("n, d", [(300, 128), (80, 512)])
def test_alpha_req_and_rankme_match_reptrix(n, d):
    """reptrix (PyPI, the representation-quality library; a test dependency only) on the
    same matrix: its alpha over the same 1-based range i = 11..min(100, rank), and RankMe
    of the centred spectrum (reptrix's get_rankme takes the eigenvalues, sigma^2)."""
    import torch
    from reptrix import alpha as reptrix_alpha
    from reptrix import rankme as reptrix_rankme

    rng = np.random.default_rng(0)
    # a power-law spectrum with alpha = 1.3, randomly rotated
    scales = np.arange(1, d + 1) ** (-1.3 / 2)
    x = (rng.normal(size=(n, d)) * scales) @ np.linalg.qr(rng.normal(size=(d, d)))[0]
    x = x.astype(np.float32)
    stats = spectrum_stats(x, center=True)
    a = stats["alpha_req"]
    assert a["fit"] == [11, min(100, n - 1)]
    expected, *_ = reptrix_alpha.get_alpha(
        torch.from_numpy(x), fit_range=np.arange(a["fit"][0] - 1, a["fit"][1])
    )
    assert a["alpha"] == pytest.approx(expected, rel=1e-5)
    assert 0.9 < a["alpha"] < 1.7 and a["r2"] > 0.9
    # RankMe: the paper (Garrido et al. 2023) takes the singular values of the embeddings,
    # as spectrum_stats does; reptrix takes the covariance eigenvalues sigma^2 of the
    # centred rows. On sigma^2 the two formulas agree; on sigma they differ, by design.
    sv = np.asarray(stats["singular_values"])
    theirs = reptrix_rankme.get_rankme(torch.from_numpy(x))
    assert rankme(sv**2) == pytest.approx(theirs, rel=1e-4)
    assert stats["rankme"] == pytest.approx(rankme(sv)) and stats["rankme"] > theirs


def test_alpha_req_with_too_few_eigenvalues_is_a_reported_skip():
    x = np.random.default_rng(0).normal(size=(15, 64)).astype(np.float32)
    a = spectrum_stats(x, center=True)["alpha_req"]
    assert a == {"skipped": "14 non-zero eigenvalues: the fit over i = 11..100 needs at least 20"}
