"""Tests of sofeval.models.covariance, .bootstrap and .pvalues.

Covariances by hand, the wild score bootstrap, multiplicity adjustments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from sofeval.errors import EstimationError, OptionError
from sofeval.models import (
    adjust_pvalues,
    draw_weights,
    fit_glm_cells,
    permutation_pvalue,
    rademacher_bits,
    score_contributions,
    vcov,
    wild_score_bootstrap,
    wild_t,
)

# Hand computations repeat the same float64 operations in another order.
HAND_TOL = 1e-10
# 200 x 1000 fair bits: the share of ones has sd 0.5 / sqrt(2e5) ~ 0.0011; 5 sd.
BIT_SHARE_TOL = 0.0056
# a column's (or row's) share over 200 (1000) bits: sd <= 0.036; a bound of 5 sd.
BIT_LINE_TOL = 0.18


@pytest.fixture(scope="module")
def tiny():
    X = np.array([[1, 0, 0.5], [1, 1, -1.0], [1, 0, 2.0], [1, 1, 0.0], [1, 0, -0.5], [1, 1, 1.0]])
    events = np.array([2.0, 3, 1, 4, 2, 5])
    trials = np.array([10.0, 12, 9, 15, 11, 14])
    clusters = np.array(["a", "a", "b", "b", "c", "c"])
    return X, events, trials, clusters, fit_glm_cells(X, events, trials, "logit")


def test_cluster_vcov_by_hand(tiny):
    X, events, trials, clusters, fit = tiny
    mu = 1 / (1 + np.exp(-X @ fit.params))
    u = events - trials * mu  # logit: dmu/deta / V(mu) = 1
    np.testing.assert_allclose(fit.score_factor, u, atol=HAND_TOL)
    H = X.T @ (X * (trials * mu * (1 - mu))[:, None])
    Hinv = np.linalg.inv(H)
    np.testing.assert_allclose(fit.cov, Hinv, atol=HAND_TOL)
    s = np.array([(X[clusters == g] * u[clusters == g, None]).sum(0) for g in "abc"])
    meat = s.T @ s
    G, N, K = 3, trials.sum(), 3
    stata = G / (G - 1) * Hinv @ meat @ Hinv
    np.testing.assert_allclose(
        vcov(fit, X, method="cluster", clusters=clusters), stata, atol=HAND_TOL
    )
    np.testing.assert_allclose(
        vcov(fit, X, method="cluster", clusters=clusters, correction="hc1"),
        stata * (N - 1) / (N - K),
        atol=HAND_TOL,
    )
    np.testing.assert_allclose(
        vcov(fit, X, method="cluster", clusters=clusters, correction="none", n_obs=5),
        Hinv @ meat @ Hinv,
        atol=HAND_TOL,
    )
    np.testing.assert_allclose(vcov(fit, X, method="model"), Hinv, atol=HAND_TOL)


def test_option_errors(tiny):
    X, events, trials, clusters, fit = tiny
    with pytest.raises(OptionError, match="'model', 'cluster'"):
        vcov(fit, X, method="hc3")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="'stata', 'hc1', 'none'"):
        vcov(fit, X, method="cluster", clusters=clusters, correction="cr2")  # type: ignore
    with pytest.raises(EstimationError, match="clusters"):
        vcov(fit, X, method="cluster")
    with pytest.raises(OptionError, match="'holm', 'bh'"):
        adjust_pvalues(np.array([0.1]), "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="'rademacher', 'webb'"):
        wild_score_bootstrap(
            X,
            events,
            trials,
            "logit",
            clusters,
            1,
            weights="mammen",  # type: ignore
            seed=1,
        )


def _cluster_data(effect: float, seed: int = 11, n_clusters: int = 16):
    rng = np.random.default_rng(seed)
    g = pd.MultiIndex.from_product([range(n_clusters), range(10)], names=["c", "t"]).to_frame(
        index=False
    )
    d = ((g["c"] < n_clusters // 2) & (g["t"] >= 5)).to_numpy(float)
    fe = rng.normal(0, 0.2, n_clusters)
    eta = -2.5 + fe[g["c"]] + 0.05 * g["t"] + effect * d
    trials = rng.poisson(60, len(g)) + 1.0
    events = rng.binomial(trials.astype(int), 1 - np.exp(-np.exp(eta))).astype(float)
    X = np.column_stack([np.ones(len(g)), g["t"].to_numpy(float), d])
    return X, events, trials, g["c"].to_numpy()


def test_rademacher_bits_are_fair_seeded_and_chunk_free():
    shape = (200, 1000)
    u = rademacher_bits(np.random.default_rng(3), shape)
    assert u.dtype == np.uint8 and u.shape == shape and set(np.unique(u)) == {0, 1}
    assert abs(u.mean() - 0.5) < BIT_SHARE_TOL
    assert np.abs(u.mean(axis=0) - 0.5).max() < BIT_LINE_TOL
    assert np.abs(u.mean(axis=1) - 0.5).max() < BIT_LINE_TOL
    np.testing.assert_array_equal(u, rademacher_bits(np.random.default_rng(3), shape))
    rng = np.random.default_rng(3)  # rows drawn in chunks: the same bits
    parts = [rademacher_bits(rng, (b, shape[1])) for b in (1, 63, 100, 36)]
    np.testing.assert_array_equal(np.vstack(parts), u)
    v = draw_weights(np.random.default_rng(3), "rademacher", shape)
    np.testing.assert_array_equal(v, 2.0 * u - 1.0)
    assert v.dtype == np.float64
    assert not np.array_equal(u, rademacher_bits(np.random.default_rng(4), shape))


def test_wild_bootstrap_seeded_and_identity_draw():
    X, events, trials, cl = _cluster_data(0.0)
    a = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, B=199, seed=5, progress=False)
    b = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, B=199, seed=5, progress=False)
    c = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, B=199, seed=6, progress=False)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert a.p_value == b.p_value and not np.array_equal(a.draws, c.draws)
    assert a.draws.shape == (199,) and 0 <= a.p_value <= 1
    q = score_contributions(X, events, trials, "cloglog", cl, 2)
    assert wild_t(q, np.ones((1, q.size)))[0] == pytest.approx(a.statistic, abs=1e-12)
    assert a.statistic == pytest.approx(q.sum() / np.sqrt((q**2).sum()))
    w = wild_score_bootstrap(
        X, events, trials, "cloglog", cl, 2, B=99, seed=5, weights="webb", progress=False
    )
    assert w.statistic == pytest.approx(a.statistic)


def test_wild_bootstrap_detects_strong_effect():
    X, events, trials, cl = _cluster_data(0.6)
    res = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, B=999, seed=1, progress=False)
    assert res.p_value < 0.01 and res.statistic > 0


def test_score_statistic_is_zero_at_restricted_optimum():
    # the score of a column already in the restricted model is zero: t for a column equal
    # to an existing one would be NaN, so test the aliased-column error instead
    X, events, trials, cl = _cluster_data(0.0)
    X2 = np.column_stack([X, X[:, 2]])
    with pytest.raises(EstimationError, match="aliased"):
        score_contributions(X2, events, trials, "cloglog", cl, 3)


@pytest.mark.parametrize("method,sm_name", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjust_pvalues_matches_statsmodels(method, sm_name):
    p = np.random.default_rng(0).uniform(0, 0.2, 17)
    p[3] = p[5]  # ties
    np.testing.assert_allclose(
        adjust_pvalues(p, method), multipletests(p, method=sm_name)[1], atol=1e-14
    )
    with_nan = np.r_[p[:4], np.nan, p[4:]]
    out = adjust_pvalues(with_nan, method)
    assert np.isnan(out[4])
    np.testing.assert_allclose(np.delete(out, 4), multipletests(p, method=sm_name)[1])


def test_permutation_pvalue():
    draws = np.array([-3.0, -1.0, 0.5, 2.0, np.nan])
    assert permutation_pvalue(2.0, draws) == pytest.approx((1 + 2) / (1 + 4))
    assert permutation_pvalue(10.0, draws) == pytest.approx(1 / 5)


def test_wild_bootstrap_null_value_inverts_at_the_estimate():
    """Testing theta_k = its own MLE gives a zero score (t = 0, p = 1); a null far from
    the truth (effect 0.6) is rejected, and the true value is not."""
    X, events, trials, cl = _cluster_data(0.6)
    fit = fit_glm_cells(X, events, trials, "cloglog")
    at_mle = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, B=199, seed=3,
                                  progress=False, null_value=float(fit.params[2]))
    assert abs(at_mle.statistic) < 1e-6 and at_mle.p_value == 1.0
    far = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, B=199, seed=3,
                               progress=False, null_value=-0.4)
    assert far.p_value < 0.01 and far.statistic > 0
    offset = np.full(len(events), 0.1)
    shifted = score_contributions(X, events, trials, "cloglog", cl, 2, offset=offset,
                                  null_value=0.2)
    X_off = X.copy()
    manual = score_contributions(X_off, events, trials, "cloglog", cl, 2,
                                 offset=offset + 0.2 * X[:, 2])
    np.testing.assert_allclose(shifted, manual, rtol=1e-10, atol=1e-14)
