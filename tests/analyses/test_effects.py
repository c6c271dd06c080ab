"""The default SOF model: recovery of the synthetic truth and agreement with references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sofeval.analyses import (
    estimate_effects,
    jobcentre_effects,
    model_frame,
    randomization_test,
    ri_statistics,
    sof_cells,
)
from sofeval.data import simulate, validate_study
from sofeval.errors import OptionError
from sofeval.models import build_design, fisher_weights, fit_glm_cells
from sofeval.panel import build_panel, week_block

#: Coefficients of an IRLS fit on cells and on the expanded panel agree to the solvers'
#: convergence tolerance; 1e-6 leaves room for statsmodels' own stopping rule.
TOL_COEF = 1e-6
#: Recovery: estimates within this many standard errors of the truth.
N_SE = 3.0


def _study(scenario: str, n: int, seed: int):
    sim = simulate(scenario, n_spells=n, seed=seed, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    return sim, study


@pytest.fixture(scope="module")
def homogeneous():
    return _study("homogeneous", 60_000, 11)


def test_homogeneous_recovers_truth(homogeneous):
    sim, study = homogeneous
    eff = estimate_effects(study, inference=("cluster",))
    truth = sim.truth.estimands.set_index(["estimand", "jobcentre"])["value"]
    for row in eff.table.itertuples():
        assert abs(row.coef - truth[(row.estimand, "ALL")]) < N_SE * row.se, row
        assert row.ci_low < row.hazard_ratio < row.ci_high
        assert row.n_spells >= 5 and row.n_events >= 5
    assert list(eff.table["estimand"]) == ["ex_ante", "programme"]


def test_effects_equal_statsmodels_on_person_week_panel():
    """Cells vs statsmodels GLM on every person-week: coefficients and model-based SEs.

    Categories without any event (a small jobcentre, an early week, a month) have fixed
    effects at minus infinity; sofeval leaves their cells out (the exact limit), so the
    reference is fitted on the person-weeks of categories with events. Cluster-robust SEs
    are checked against R's sandwich::vcovCL in test_models (statsmodels uses the observed
    Hessian for the non-canonical cloglog link, R and sofeval the expected information).
    """
    _, study = _study("homogeneous", 4_000, 3)
    sc = sof_cells(study)
    eff = estimate_effects(sc, inference=("cluster",))
    panel = build_panel(study).data
    frame = pd.DataFrame({
        "event": panel["event"].to_numpy(float),
        "week_block": week_block(panel["week"].to_numpy()),
        "jobcentre": panel["jobcentre"].astype(str).to_numpy(),
        "month": panel["month"].to_numpy(),
        "D_early": (panel["D"].to_numpy() * (panel["week"].to_numpy() < 8)).astype(float),
        "D_late": (panel["D"].to_numpy() * (panel["week"].to_numpy() >= 8)).astype(float),
    })
    for col in ("jobcentre", "week_block", "month"):
        frame = frame[frame.groupby(col)["event"].transform("sum") > 0]
    dm = build_design(frame, categorical=["week_block", "jobcentre", "month"],
                      numeric=["D_early", "D_late"])
    ref = sm.GLM(frame["event"].to_numpy(), dm.X,
                 family=sm.families.Binomial(sm.families.links.CLogLog())).fit(tol=1e-13)
    names = list(dm.names)
    model_se = np.sqrt(np.diag(np.asarray(eff.fit.cov)))
    eff_names = list(eff.params["term"])
    for est, col in (("ex_ante", "D_early"), ("programme", "D_late")):
        k = names.index(col)
        row = eff.table.set_index("estimand").loc[est]
        assert abs(row["coef"] - ref.params[k]) < TOL_COEF
        assert model_se[eff_names.index(col)] == pytest.approx(ref.bse[k], rel=1e-5)


def test_ri_statistic_matches_explicit_projection(homogeneous):
    _, study = homogeneous
    sc = sof_cells(study)
    mf = model_frame(sc, ())
    f = sc.cells.frame
    dm = build_design(mf, categorical=["week_block", "jobcentre", "month"])
    events = f["event"].to_numpy(float)
    trials = f["at_risk"].to_numpy(float)
    fit = fit_glm_cells(dm.X, events, trials, "cloglog")
    x = dm.X[:, ~np.asarray(fit.aliased)]
    u = np.asarray(fit.score_factor)
    w = fisher_weights(fit.eta, trials, fit.family)
    h_inv = np.linalg.inv((x * w[:, None]).T @ x)
    # a random re-assignment of windows across jobcentres, D built explicitly per cell
    jc_codes, jc_names = pd.factorize(mf["jobcentre"], sort=True)
    jc_window = pd.Series(sc.jc_window.to_numpy(), index=mf["jobcentre"]).groupby(level=0).first()
    obs = jc_window.reindex(jc_names).to_numpy()
    n_win = len(sc.windows)
    obs = np.where(obs < 0, n_win, obs)
    perm = np.random.default_rng(5).permutation(obs)
    exposure = f["exposure"].to_numpy().astype(np.int64)
    assigned = perm[jc_codes]
    d_star = np.where(assigned < n_win, (exposure >> np.minimum(assigned, 15)) & 1, 0)
    late = mf["late"].to_numpy()
    col = (d_star * (late == 1)).astype(float)
    d_tilde = col - x @ (h_inv @ (x.T @ (w * col)))
    e_g = np.bincount(jc_codes, weights=d_tilde * u)
    t_explicit = e_g.sum() / np.sqrt((e_g**2).sum())
    # the library's O(G p) computation
    n_g = len(jc_names)
    a = np.zeros((n_g, n_win + 1))
    big_a = np.zeros((n_g, n_win + 1, x.shape[1]))
    for k in range(n_win):
        m = (((exposure >> k) & 1) == 1) & (late == 1)
        a[:, k] = np.bincount(jc_codes[m], weights=u[m], minlength=n_g)
        for g in range(n_g):
            mm = m & (jc_codes == g)
            big_a[g, k] = (x[mm] * w[mm, None]).sum(axis=0)
    s_g = np.stack([(x[jc_codes == g] * u[jc_codes == g, None]).sum(axis=0) for g in range(n_g)])
    t_lib = ri_statistics(perm[None, :], a, big_a, s_g, h_inv)[0]
    assert t_lib == pytest.approx(t_explicit, rel=1e-8)


def test_randomization_inference_is_seeded_and_valid(homogeneous):
    _, study = homogeneous
    sc = sof_cells(study)
    p1, d1 = randomization_test(sc, draws=99, seed=7)
    p2, d2 = randomization_test(sc, draws=99, seed=7)
    assert p1 == p2
    pd.testing.assert_frame_equal(d1, d2)
    for p in p1.values():
        assert 1 / 100 <= p <= 1
    assert np.isfinite(d1["t"]).all()


def test_placebo_one_step_matches_full_refit():
    _, study = _study("null", 20_000, 21)
    sc = sof_cells(study)
    res = jobcentre_effects(sc)
    pl = res.placebo
    assert len(pl) > 0 and np.isfinite(pl["t"]).all()
    # refit with the placebo column of two comparison jobcentres: one Newton step is
    # first-order exact, so it agrees with the full fit to a small fraction of an SE
    mf = model_frame(sc, ())
    f = sc.cells.frame
    modal = int(sc.jc_window[sc.jc_window >= 0].value_counts().index[0])
    exposure = f["exposure"].to_numpy().astype(np.int64)
    for jc in pl["jobcentre"].unique()[:2]:
        numeric: list[str] = []
        mf2 = mf.copy()
        for j in sorted(mf["jobcentre"][sc.jc_window.to_numpy() >= 0].unique()):
            for col in ("D_early", "D_late"):
                mf2[f"{col}[{j}]"] = mf2[col] * (mf2["jobcentre"] == j)
                numeric.append(f"{col}[{j}]")
        ind = ((mf2["jobcentre"] == jc).to_numpy() & (((exposure >> modal) & 1) == 1))
        mf2["P_late"] = (ind & (mf2["late"].to_numpy() == 1)).astype(float)
        dm = build_design(mf2, categorical=["week_block", "jobcentre", "month"],
                          numeric=[*dict.fromkeys(numeric), "P_late"])
        fit = fit_glm_cells(dm.X, f["event"].to_numpy(float), f["at_risk"].to_numpy(float))
        k = list(dm.names).index("P_late")
        one_step = pl[(pl["jobcentre"] == jc) & (pl["estimand"] == "programme")].iloc[0]
        se_full = float(np.sqrt(np.asarray(fit.cov)[k, k]))
        assert abs(one_step["coef"] - np.asarray(fit.params)[k]) < 0.1 * se_full
        # the one-step SE uses the information at the fit without the placebo column:
        # equal to first order, so only close (10 %), not equal
        assert one_step["se"] == pytest.approx(se_full, rel=0.10)


def test_jobcentre_effects_table_and_adjustments():
    sim, study = _study("heterogeneous", 80_000, 5)
    res = jobcentre_effects(study)
    t = res.table
    assert set(t["estimand"]) == {"ex_ante", "programme"}
    ok = t[t["flag"] == ""]
    assert (ok["p_holm"] >= ok["p_value"] - 1e-12).all()
    assert (ok["q_bh"] >= ok["p_value"] - 1e-12).all()
    assert ok["p_placebo"].between(0, 1).all()
    truth = sim.truth.estimands.set_index(["estimand", "jobcentre"])["value"]
    tv = np.array([truth[(r.estimand, r.jobcentre)] for r in ok.itertuples()])
    lo = ok["coef"] - 1.96 * ok["se"]
    hi = ok["coef"] + 1.96 * ok["se"]
    coverage = float(((lo <= tv) & (tv <= hi)).mean())
    # nominal 95 %; with ~40 estimands a coverage below 80 % has probability < 0.001
    assert coverage >= 0.80, coverage


def test_programme_jobcentre_without_events_is_flagged():
    _, study = _study("homogeneous", 6_000, 8)
    spells = study.spells.copy()
    victim = sorted(study.programme["jobcentre"])[0]
    m = spells["jobcentre"] == victim
    spells.loc[m & (spells["exit_state"] == "employment"), "exit_state"] = "other"
    study2 = validate_study(spells, study.meetings, study.interventions, study.programme)
    res = jobcentre_effects(study2, placebo=False)
    rows = res.table[res.table["jobcentre"] == victim]
    assert (rows["flag"].str.startswith("not identified")).all()
    assert rows["coef"].isna().all()
    others = res.table[res.table["jobcentre"] != victim]
    assert np.isfinite(others.loc[others["flag"] == "", "coef"]).all()


def test_unknown_options_are_refused(homogeneous):
    _, study = homogeneous
    with pytest.raises(OptionError, match="cloglog"):
        estimate_effects(study, family="probit")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="wild"):
        estimate_effects(study, inference=("jackknife",))


def test_null_small_monte_carlo_does_not_reject_systematically():
    """20 null replications: each method rejects at 5 % in at most 4 (P < 0.02 if valid)."""
    from sofeval.montecarlo import monte_carlo

    mc = monte_carlo("null", reps=20, n_spells=6_000, seed=99, jobs=2, bootstrap_draws=99,
                     ri_draws=99)
    pooled = mc.table[(mc.table["jobcentre"] == "ALL")
                      & mc.table["estimand"].isin(["ex_ante", "programme"])]
    for col in ("reject_cluster", "reject_wild", "reject_ri"):
        assert (pooled[col] <= 0.2).all(), pooled
    assert (pooled["n_reps"] == 20).all()


def test_cox_crosscheck_agrees_with_the_discrete_time_model():
    """Same data, continuous-time Cox vs grouped-time cloglog: the estimates nearly coincide
    (they differ by model, not by sample), and both cover the truth."""
    from sofeval.analyses import cox_crosscheck

    sim, study = _study("homogeneous", 12_000, 31)
    cox = cox_crosscheck(study).set_index("estimand")
    eff = estimate_effects(study, inference=("cluster",)).table.set_index("estimand")
    for est in ("ex_ante", "programme"):
        assert abs(cox.loc[est, "coef"] - eff.loc[est, "coef"]) < 0.5 * eff.loc[est, "se"]
        assert np.isfinite(cox.loc[est, "se"]) and cox.loc[est, "se"] > 0


def test_wild_and_ri_null_at_the_estimate_do_not_reject(homogeneous):
    """The tests inverted at the point estimates: zero scores, p-values of one; at zero
    (the truth is a positive effect on 60k spells) the programme effect is rejected."""
    _, study = homogeneous
    sc = sof_cells(study, progress=False)
    eff = estimate_effects(sc, bootstrap_draws=99, ri_draws=99, progress=False)
    est = tuple(float(v) for v in eff.table["coef"])
    at = estimate_effects(sc, bootstrap_draws=99, ri_draws=99, progress=False,
                          null=(est[0], est[1]))
    assert (at.table["p_ri"] > 0.5).all(), at.table
    assert (at.table["p_wild"] > 0.5).all(), at.table
    prog = eff.table.set_index("estimand").loc["programme"]
    assert prog["p_wild"] < 0.05 and prog["p_ri"] < 0.05
