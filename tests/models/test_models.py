"""Tests of sofeval.models.glm: equality with statsmodels and R, recovery, edge cases."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sofeval.errors import ConvergenceWarning, EstimationError, NotIdentifiedWarning, OptionError
from sofeval.models import (
    HazardResults,
    build_design,
    compare,
    fit_cox_panel,
    fit_glm_cells,
    fit_hazard,
    vcov,
)

# Both fits converge to gradients < 1e-7 on ~7k person-weeks, so coefficients agree to
# ~1e-9; 1e-8 leaves room for the different summation order (cells vs rows).
PARAMS_TOL = 1e-8
# Standard errors are square roots of inverted information matrices evaluated at
# coefficients that differ by ~1e-9: agreement to ~1e-8; 1e-6 is the brief's bound.
SE_TOL = 1e-6
CATEGORICAL = ("week_block", "jobcentre", "month", "phase")
NUMERIC = ("D_early", "D_late")
REF_DIR = Path(__file__).resolve().parents[1] / "reference"


def simulate_cells(
    seed: int = 1, n_jc: int = 20, n_month: int = 6, n_wb: int = 4, mean_trials: float = 6.0
) -> pd.DataFrame:
    """Cells with week-block, jobcentre and month FE and a treatment x phase dummy."""
    rng = np.random.default_rng(seed)
    g = pd.MultiIndex.from_product(
        [range(n_jc), range(n_month), range(n_wb), ("early", "late")],
        names=["jc", "m", "wb", "phase"],
    ).to_frame(index=False)
    treated = (g["jc"] < n_jc // 2) & (g["m"] >= n_month // 2)
    g["D_early"] = (treated & (g["phase"] == "early")).astype(float)
    g["D_late"] = (treated & (g["phase"] == "late")).astype(float)
    eta = (
        np.linspace(-2.0, -3.0, n_wb)[g["wb"]]
        + rng.normal(0, 0.3, n_jc)[g["jc"]]
        + rng.normal(0, 0.2, n_month)[g["m"]]
        + 0.1 * (g["phase"] == "late")
        + 0.2 * g["D_early"]
        - 0.15 * g["D_late"]
    )
    g["trials"] = rng.poisson(mean_trials, len(g)) + 1
    g["events"] = rng.binomial(g["trials"], 1 - np.exp(-np.exp(eta)))
    g["jobcentre"] = [f"JC{j:02d}" for j in g["jc"]]
    g["week_block"] = [f"w{w}" for w in g["wb"]]
    g["month"] = [f"m{m:02d}" for m in g["m"]]
    return g


def expand(cells: pd.DataFrame) -> pd.DataFrame:
    """Expand cells into person-week rows with a 0/1 event."""
    n = cells["trials"].to_numpy()
    idx = np.repeat(np.arange(len(cells)), n)
    rank = np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n)
    pw = cells.iloc[idx].reset_index(drop=True)
    pw["event"] = (rank < cells["events"].to_numpy()[idx]).astype(float)
    return pw


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = simulate_cells()
    return cells, expand(cells)


SM_FAMILIES = {
    "cloglog": lambda: sm.families.Binomial(sm.families.links.CLogLog()),
    "logit": lambda: sm.families.Binomial(sm.families.links.Logit()),
    "poisson": lambda: sm.families.Poisson(),
}


@pytest.mark.parametrize("family", ["cloglog", "logit", "poisson"])
def test_equals_statsmodels_on_person_weeks(data, family):
    cells, pw = data
    dm = build_design(cells, categorical=CATEGORICAL, numeric=NUMERIC)
    dp = build_design(pw, categorical=CATEGORICAL, numeric=NUMERIC)
    assert dm.names == dp.names
    fit = fit_glm_cells(dm.X, cells["events"], cells["trials"], family)
    offset = np.zeros(len(pw))  # log exposure of one person-week
    model = sm.GLM(pw["event"].to_numpy(), dp.X, family=SM_FAMILIES[family](), offset=offset)
    ref = model.fit(tol=1e-13, maxiter=200)
    np.testing.assert_allclose(fit.params, ref.params, rtol=0, atol=PARAMS_TOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), ref.bse, rtol=0, atol=SE_TOL)
    assert fit.loglik == pytest.approx(ref.llf, abs=1e-6)
    v = vcov(fit, dm.X, method="cluster", clusters=cells["jobcentre"].to_numpy(), correction="hc1")
    groups = pd.factorize(pw["jobcentre"])[0]
    if family == "cloglog":
        # statsmodels' cluster bread for a non-canonical link is the OBSERVED Hessian,
        # whereas R's vcovCL (and we) use the expected information. Rebuild statsmodels'
        # sandwich with its own score_obs and its expected Hessian.
        s = pd.DataFrame(model.score_obs(ref.params)).groupby(groups).sum().to_numpy()
        hinv = np.linalg.inv(-model.hessian(ref.params, observed=False))
        G, N, K = s.shape[0], len(pw), dp.X.shape[1]
        se_ref = np.sqrt(np.diag(G / (G - 1) * (N - 1) / (N - K) * hinv @ s.T @ s @ hinv))
    else:  # canonical links: observed = expected information
        se_ref = model.fit(
            start_params=ref.params, tol=1e-13, cov_type="cluster", cov_kwds={"groups": groups}
        ).bse
    np.testing.assert_allclose(np.sqrt(np.diag(v)), se_ref, rtol=0, atol=SE_TOL)


def test_poisson_offset_equals_statsmodels_on_cells(data):
    cells, _ = data
    dm = build_design(cells, categorical=CATEGORICAL, numeric=NUMERIC)
    extra = np.linspace(-0.1, 0.1, len(cells))
    fit = fit_glm_cells(dm.X, cells["events"], cells["trials"], "poisson", offset=extra)
    ref = sm.GLM(
        cells["events"].to_numpy(float),
        dm.X,
        family=sm.families.Poisson(),
        offset=np.log(cells["trials"].to_numpy(float)) + extra,
    ).fit(tol=1e-13)
    np.testing.assert_allclose(fit.params, ref.params, rtol=0, atol=PARAMS_TOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), ref.bse, rtol=0, atol=SE_TOL)


def test_recovers_truth():
    rng = np.random.default_rng(7)
    n = 4000
    frame = pd.DataFrame({"g": rng.integers(0, 4, n), "x": rng.normal(size=n)})
    truth = {"Intercept": -2.0, "g[1]": 0.3, "g[2]": -0.4, "g[3]": 0.1, "x": 0.25}
    eta = truth["Intercept"] + np.array([0, 0.3, -0.4, 0.1])[frame["g"]] + 0.25 * frame["x"]
    frame["at_risk"] = rng.integers(5, 30, n)
    frame["event"] = rng.binomial(frame["at_risk"], 1 - np.exp(-np.exp(eta)))
    res = fit_hazard(frame, categorical=["g"], numeric=["x"])
    z = (res.params - pd.Series(truth)) / res.std_errors
    assert np.all(np.abs(z) < 3), z


def test_aliased_column_is_nan_and_others_unchanged(data):
    cells, _ = data
    dm = build_design(cells, categorical=CATEGORICAL, numeric=NUMERIC)
    base = fit_glm_cells(dm.X, cells["events"], cells["trials"])
    X2 = np.column_stack([dm.X, dm.X[:, -1]])
    with pytest.warns(NotIdentifiedWarning, match="x31"):
        fit = fit_glm_cells(X2, cells["events"], cells["trials"])
    assert fit.aliased.tolist() == [False] * dm.X.shape[1] + [True]
    assert np.isnan(fit.params[-1]) and np.isnan(fit.cov[-1]).all()
    np.testing.assert_allclose(fit.params[:-1], base.params, atol=1e-10)
    np.testing.assert_allclose(fit.cov[:-1, :-1], base.cov, atol=1e-10)


def test_no_events_and_no_nonevents_raise():
    X = np.ones((3, 1))
    with pytest.raises(EstimationError, match="no events"):
        fit_glm_cells(X, np.zeros(3), np.full(3, 5.0))
    with pytest.raises(EstimationError, match="no non-events"):
        fit_glm_cells(X, np.full(3, 5.0), np.full(3, 5.0))
    with pytest.raises(EstimationError, match="events > trials"):
        fit_glm_cells(X, np.array([1.0, 6.0, 0.0]), np.full(3, 5.0))
    with pytest.raises(OptionError, match="cloglog"):
        fit_glm_cells(X, np.ones(3), np.full(3, 5.0), "probit")  # type: ignore[arg-type]


def test_separation_is_flagged(data):
    cells, _ = data
    cells = cells.copy()
    cells.loc[cells["week_block"] == "w3", "events"] = 0  # a week block without exits
    dm = build_design(cells, categorical=CATEGORICAL, numeric=NUMERIC)
    with pytest.warns(NotIdentifiedWarning, match="separation"):
        fit = fit_glm_cells(dm.X, cells["events"], cells["trials"], names=dm.names)
    assert fit.separated == ("week_block[w3]",)
    j = dm.names.index("week_block[w3]")
    assert np.isnan(fit.params[j]) and fit.aliased[j]
    assert np.all(np.isfinite(np.delete(fit.params, j)))
    # remaining estimates equal the fit without the separated cells (the MLE limit)
    keep = cells["week_block"] != "w3"
    dk = build_design(cells[keep], categorical=CATEGORICAL, numeric=NUMERIC)
    sub = fit_glm_cells(dk.X, cells.loc[keep, "events"], cells.loc[keep, "trials"])
    np.testing.assert_allclose(np.delete(fit.params, j), sub.params, atol=1e-8)
    mask = (cells["week_block"] == "w3").to_numpy()
    assert np.all(fit.mu[mask] == 0) and np.all(fit.score_factor[mask] == 0)


def test_build_design_names_and_reference():
    frame = pd.DataFrame({"jc": ["Vejle", "Herning", "Vejle", "Lejre"], "x": [1.0, 2, 3, 4]})
    dm = build_design(frame, categorical=["jc"], numeric=["x"])
    assert dm.names == ("Intercept", "jc[Lejre]", "jc[Vejle]", "x")
    np.testing.assert_array_equal(dm.X[:, 1:3], [[0, 1], [0, 0], [0, 1], [1, 0]])
    dm2 = build_design(frame, categorical=["jc"], reference={"jc": "Vejle"}, intercept=False)
    assert dm2.names == ("jc[Herning]", "jc[Lejre]")
    assert dm.X.dtype == np.float64


def test_fit_hazard_panel_equals_cells(data):
    cells, pw = data
    kw = dict(categorical=CATEGORICAL, numeric=NUMERIC, cluster="jobcentre")
    a = fit_hazard(cells, event="events", at_risk="trials", **kw)
    b = fit_hazard(pw, event="event", at_risk=None, **kw)
    pd.testing.assert_series_equal(a.params, b.params, atol=1e-9, rtol=0)
    pd.testing.assert_series_equal(a.std_errors, b.std_errors, atol=1e-9, rtol=0)
    assert (a.n_obs, a.n_events, a.n_clusters) == (len(pw), int(pw["event"].sum()), 20)
    assert a.vcov_name == "cluster" and b.n_cells == len(cells)


def test_results_api(data):
    cells, _ = data
    res = fit_hazard(
        cells,
        event="events",
        at_risk="trials",
        categorical=CATEGORICAL,
        numeric=NUMERIC,
        cluster="jobcentre",
    )
    assert isinstance(res, HazardResults)
    tidy = res.tidy()
    assert list(tidy.columns) == [
        "term",
        "coef",
        "se",
        "z",
        "p_value",
        "ci_low",
        "ci_high",
        "hazard_ratio",
        "pct_change",
    ]
    row = tidy.set_index("term").loc["D_late"]
    assert row["pct_change"] == pytest.approx(100 * (np.exp(row["coef"]) - 1))
    assert row["ci_low"] == pytest.approx(row["coef"] - 1.959963984540054 * row["se"])
    with pytest.raises(ValueError):
        res.params.iloc[0] = 0.0
    with pytest.raises(AttributeError):
        res.n_obs = 3  # type: ignore[misc]
    model = res.with_vcov("model")
    assert model is not res and res.vcov_name == "cluster" and model.vcov_name == "model"
    np.testing.assert_allclose(model.std_errors, np.sqrt(np.diag(res.fit.cov)))
    assert "D_late" in res.summary() and str(res) == res.summary()
    assert "<table" in res._repr_html_()
    both = compare(res, model, names=["cluster", "model"])
    assert both.loc["D_late", ("cluster", "coef")] == both.loc["D_late", ("model", "coef")]
    with pytest.raises(OptionError, match="'model', 'cluster'"):
        res.with_vcov("robust")  # type: ignore[arg-type]


def test_plot_returns_a_figure_without_pyplot_state(data):
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    cells, _ = data
    res = fit_hazard(cells, event="events", at_risk="trials", numeric=NUMERIC)
    open_before = plt.get_fignums()
    fig = res.plot(terms=["D_early", "D_late"], scale="hazard_ratio")
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].get_yticklabels()) == 2
    assert plt.get_fignums() == open_before  # no figure registered with pyplot


def test_cox_cross_check_runs():
    rng = np.random.default_rng(3)
    n = 300
    x = rng.integers(0, 2, n)
    t = np.minimum(rng.geometric(np.where(x == 1, 0.2, 0.1)), 10)
    event = (t < 10).astype(int)
    rows = np.repeat(np.arange(n), t)
    week = np.concatenate([np.arange(1, k + 1) for k in t])
    last = np.r_[np.diff(rows) != 0, True]
    panel = pd.DataFrame(
        {"id": rows, "week": week, "x": x[rows], "event": np.where(last, event[rows], 0)}
    )
    out = fit_cox_panel(panel, numeric=["x"])
    assert 0.3 < out.loc["x", "coef"] < 1.2


@pytest.mark.r_reference
@pytest.mark.parametrize("link", ["cloglog", "logit"])
def test_equals_stored_r_output(link):
    spec = importlib.util.spec_from_file_location("parse_r_output", REF_DIR / "parse_r_output.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ref = mod.load_r_reference()[link]
    cells = pd.read_csv(REF_DIR / "cloglog_cells.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit_hazard(
            cells,
            event="events",
            at_risk="trials",
            family=link,
            categorical=["week_block", "cluster", "month", "phase"],
            numeric=["D_early", "D_late"],
            cluster="cluster",
            correction="hc1",
        )
    assert list(res.names) == list(ref.index)
    assert res.n_obs == ref.attrs["n_obs"]
    np.testing.assert_allclose(res.params, ref["coef"], rtol=0, atol=SE_TOL)
    np.testing.assert_allclose(
        res.with_vcov("model").std_errors, ref["se_model"], rtol=0, atol=SE_TOL
    )
    np.testing.assert_allclose(res.std_errors, ref["se_cluster_hc1"], rtol=0, atol=SE_TOL)
    assert res.fit.loglik == pytest.approx(ref.attrs["loglik"], abs=1e-6)


def test_reference_level_without_events_is_flagged(data):
    cells, _ = data
    cells = cells.copy()
    cells.loc[cells["week_block"] == "w0", "events"] = 0  # the reference week block
    dm = build_design(cells, categorical=CATEGORICAL, numeric=NUMERIC)
    with pytest.warns(NotIdentifiedWarning, match="separation"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = fit_glm_cells(dm.X, cells["events"], cells["trials"], names=dm.names)
    assert set(fit.separated) >= {"Intercept", "week_block[w1]"}
    j = dm.names.index("D_late")
    assert np.isfinite(fit.params[j])


def test_warm_start_equals_cold_start_and_recovers_from_a_bad_one(data):
    """A start at the estimate converges to it; a start from which Fisher scoring stalls or
    settles badly (one parameter at -40, where the weights underflow, or at +15, where the
    hazard is 1 and the log-likelihood -inf) falls back to the default start instead of
    returning a non-converged or falsely separated fit."""
    import warnings

    cells, _ = data
    dm = build_design(cells, categorical=CATEGORICAL, numeric=NUMERIC)
    cold = fit_glm_cells(dm.X, cells["events"], cells["trials"])
    warm = fit_glm_cells(dm.X, cells["events"], cells["trials"], start=cold.params)
    np.testing.assert_allclose(warm.params, cold.params, atol=1e-8)
    for j, value in ((1, -40.0), (3, 15.0), (10, -25.0)):
        start = np.array(cold.params, copy=True)
        start[j] = value
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # neither ConvergenceWarning nor separation
            bad = fit_glm_cells(dm.X, cells["events"], cells["trials"], start=start)
        np.testing.assert_allclose(bad.params, cold.params, atol=1e-8)
