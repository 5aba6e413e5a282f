"""Spectral statistics against NumPy and hand-computed cases."""

import numpy as np
import pytest

from vidspace.analyses.spectra import (
    alignment,
    dims_for_variance,
    effective_rank,
    modality_gap,
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
