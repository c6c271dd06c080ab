"""The restricted wild cluster bootstrap-t (``statistic="wald"``): hand computation, reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sofeval.errors import OptionError
from sofeval.models import (
    fisher_weights,
    fit_glm_cells,
    restricted_scores,
    vcov,
    wald_components,
    wild_score_bootstrap,
    wild_wald_t,
)

# Hand computations repeat the same float64 operations in another order.
HAND_TOL = 1e-10
#: Under the null the one-step (linearised) estimate and the full unrestricted estimate
#: differ by O(theta^2); on these data the two t statistics agree to a few per cent.
ONE_STEP_RTOL = 0.05


def cluster_data(effect: float, seed: int = 11, n_clusters: int = 16):
    """Cells: cluster x period, cluster effects, a trend and a treatment in half the clusters."""
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


def test_wald_statistic_by_hand():
    X, events, trials, cl = cluster_data(0.0)
    k = 2
    # restricted fit by hand: theta_k = 0, then the full model's scores and information
    rfit = fit_glm_cells(X[:, :2], events, trials, "cloglog")
    u = np.asarray(rfit.score_factor)
    w = fisher_weights(rfit.eta, trials, "cloglog")
    labels = np.unique(cl)
    s = np.array([X[cl == g].T @ u[cl == g] for g in labels])
    h_g = np.array([(X[cl == g] * w[cl == g, None]).T @ X[cl == g] for g in labels])
    h_inv = np.linalg.inv(h_g.sum(axis=0))
    rng = np.random.default_rng(3)
    v = np.vstack([np.ones(len(labels)), rng.choice([-1.0, 1.0], size=(5, len(labels)))])
    expected = []
    for vb in v:
        step = h_inv @ (vb[:, None] * s).sum(axis=0)  # one Newton step of the unrestricted fit
        s_star = vb[:, None] * s - h_g @ step  # cluster scores at the one-step estimate
        se = np.sqrt(np.sum((s_star @ h_inv[:, k]) ** 2))
        expected.append(step[k] / se)
    q, c = wald_components(restricted_scores(X, events, trials, "cloglog", cl, k))
    np.testing.assert_allclose(wild_wald_t(q, c, v), expected, rtol=HAND_TOL)


@pytest.mark.parametrize("family", ["cloglog", "logit"])
def test_observed_statistic_is_the_one_step_clustered_wald_t(family):
    # reference: the Wald t of the full unrestricted fit with the cluster covariance without
    # small-sample factor (they cancel in the bootstrap statistic)
    X, events, trials, cl = cluster_data(0.0, seed=4, n_clusters=30)
    full = fit_glm_cells(X, events, trials, family)
    cov = vcov(full, X, method="cluster", clusters=cl, correction="none")
    t_ref = full.params[2] / np.sqrt(cov[2, 2])
    res = wild_score_bootstrap(X, events, trials, family, cl, 2, B=99, seed=1,
                               statistic="wald", progress=False)
    assert res.statistic == pytest.approx(t_ref, rel=ONE_STEP_RTOL)


def test_wald_bootstrap_is_seeded_and_rejects_a_strong_effect():
    X, events, trials, cl = cluster_data(0.6)
    kw = {"B": 999, "statistic": "wald", "progress": False}
    a = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, seed=1, **kw)
    b = wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, seed=1, **kw)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert a.p_value < 0.01 and a.statistic > 0
    X0, events0, trials0, cl0 = cluster_data(0.0)
    null = wild_score_bootstrap(X0, events0, trials0, "cloglog", cl0, 2, seed=1, **kw)
    assert null.p_value > 0.05


def test_unknown_statistic_lists_the_valid_ones():
    X, events, trials, cl = cluster_data(0.0)
    with pytest.raises(OptionError, match="'score', 'wald'"):
        wild_score_bootstrap(X, events, trials, "cloglog", cl, 2, seed=1,
                             statistic="t", progress=False)  # type: ignore[arg-type]
