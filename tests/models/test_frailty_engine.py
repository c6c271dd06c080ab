"""Tests of the mass-point frailty engine on arrays: reference GLM and simulated truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from sofeval.errors import OptionError
from sofeval.models import fit_glm_cells, fit_mass_points

#: With one mass point the engine is the cloglog GLM on the rows; both solvers stop at
#: ~1e-10 relative change, so the coefficients agree to ~1e-7.
GLM_TOL = 1e-6
#: Recovery: estimates within this many standard errors of the simulated truth.
N_SE = 3.5


def simulate(n_units: int, seed: int, frailty: bool):
    """Units with up to 12 periods, one binary covariate, optional 2-point frailty."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n_units).astype(float)
    v = np.where(rng.uniform(size=n_units) < 0.6, 0.0, 1.5) if frailty else np.zeros(n_units)
    rows_unit, rows_t, rows_y = [], [], []
    alive = np.ones(n_units, bool)
    for t in range(12):
        h = 1 - np.exp(-np.exp(-2.5 + 0.05 * t + 0.5 * x + v))
        y = (rng.uniform(size=n_units) < h) & alive
        idx = np.flatnonzero(alive)
        rows_unit.append(idx)
        rows_t.append(np.full(idx.size, t))
        rows_y.append(y[idx].astype(float))
        alive &= ~y
    unit = np.concatenate(rows_unit)
    t = np.concatenate(rows_t).astype(float)
    yv = np.concatenate(rows_y)
    X = np.column_stack([np.ones(unit.size), t, x[unit]])
    return sparse.csr_matrix(X), yv, unit, unit % 10


def test_one_point_is_the_cloglog_glm():
    X, y, unit, cl = simulate(3000, 1, frailty=False)
    fit = fit_mass_points(X, y, unit, cl, n_points=1, names=["Intercept", "t", "x"])
    ref = fit_glm_cells(X.toarray(), y, np.ones_like(y), "cloglog")
    np.testing.assert_allclose(fit.theta, ref.params, atol=GLM_TOL)
    # observed information of K = 1 is the cloglog observed (not expected) information
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), np.sqrt(np.diag(ref.cov)), rtol=0.05)
    assert fit.names == ("Intercept", "t", "x") and fit.frailty_variance == 0.0
    assert fit.converged and fit.n_units == 3000 and fit.n_clusters == 10


def test_two_points_recover_the_frailty_distribution():
    X, y, unit, cl = simulate(6000, 2, frailty=True)
    fit = fit_mass_points(X, y, unit, cl, n_points=2, names=["Intercept", "t", "x"])
    se = np.sqrt(np.diag(fit.cov))
    names = list(fit.names)
    k = names.index("x")
    assert abs(fit.theta[k] - 0.5) < N_SE * se[k]
    m = names.index("mass_point[2]")
    assert abs(fit.theta[m] - 1.5) < N_SE * se[m]
    sup = fit.support()
    assert np.isclose(sup["probability"].sum(), 1.0)
    assert abs(sup["probability"].iloc[0] - 0.6) < 0.1


def test_bad_points_and_event_free_dummies():
    X, y, unit, cl = simulate(500, 3, frailty=False)
    with pytest.raises(OptionError):
        fit_mass_points(X, y, unit, cl, n_points=0)
    # a dummy without events is set aside with its rows
    extra = np.zeros((X.shape[0], 1))
    no_event_rows = np.flatnonzero(y == 0)[:5]
    extra[no_event_rows, 0] = 1.0
    X2 = sparse.hstack([X, sparse.csr_matrix(extra)]).tocsr()
    fit = fit_mass_points(X2, y, unit, cl, n_points=1)
    assert fit.separated.tolist() == [False, False, False, True]
    assert fit.n_rows == X.shape[0] - 5
