"""Counterfactual durations by g-computation: hand cases, references, inference, the truth."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter
from matplotlib.figure import Figure

from presentation import assert_shared_presentation
from sofeval.analyses import (
    BENEFIT_PER_WEEK,
    DURATION_COLUMNS,
    INCIDENCE_COLUMNS,
    Patterns,
    counterfactual_durations,
    destination_effects,
    gcomp_gradients,
    gcomp_means,
    gcomp_sums,
    sof_cells,
    survival_paths,
)
from sofeval.analyses.prediction import (
    design_rows,
    fitted_design,
    hazard_slope,
    linear_predictor,
    reference_levels,
    reference_levels_by,
    separation_signs,
)
from sofeval.data import simulate, validate_study
from sofeval.errors import EstimationError, NotIdentifiedWarning, OptionError, SofevalError
from sofeval.models import build_design, fit_glm_cells
from sofeval.panel import Cells, StudyDesign, bin_covariates, cells_from_spells, week_block
from sofeval.report import weeks_saved_forest

#: Recovery and null checks: estimates within this many standard errors.
N_SE = 3.0
#: Vectorised g-computation against a per-spell loop: the same sums in another order.
TOL_LOOP = 1e-10
#: Delta-method standard errors against central differences of the estimates along each
#: cluster's influence direction (step 1e-4: truncation error ~1e-8 relative).
TOL_DELTA = 1e-6





def _study(scenario: str, n: int, seed: int, **kw):
    sim = simulate(scenario, n_spells=n, seed=seed, progress=False, **kw)
    return sim, validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme)


def _two_destinations(study):
    """The study with every exit other than employment recoded to unemployment."""
    spells = study.spells.copy()
    other = ~spells["exit_state"].isin(["employment", "censored"])
    spells.loc[other, "exit_state"] = "unemployment"
    return validate_study(spells, study.meetings, study.interventions, study.programme)


@pytest.fixture(scope="module")
def small():
    """3,000 spells in the 20 programme jobcentres, spells in 2017-2018."""
    _, study = _study("homogeneous", 3_000, 8, n_jobcentres=20, start="2017-01-01",
                      end="2018-12-31", data_end="2019-06-30")
    study = _two_destinations(study)
    sc = sof_cells(study, progress=False)
    return study, sc, destination_effects(sc, bootstrap_draws=0, parallel=False)


# --------------------------------------------------------------------------------------
# the numerics by hand
# --------------------------------------------------------------------------------------


def test_gcomputation_of_a_tiny_case_by_hand():
    # two destinations, three weeks; pattern A (2 spells) enters in week 1, B (1) in week 2
    hazard = np.array([[0.1, 0.2, 0.3], [0.05, 0.1, 0.0]])
    rows = np.array([[0, 1, 2], [-1, 1, 2]])
    h, s_prev, weeks, inc = survival_paths(hazard, rows)
    np.testing.assert_allclose(s_prev, [[1, 0.85, 0.595], [1, 1, 0.7]])
    np.testing.assert_allclose(weeks, [1 + 0.85 + 0.595, 1 + 0.7])
    np.testing.assert_allclose(inc[0], [[0.1, 0.27, 0.4485], [0, 0.2, 0.41]])
    np.testing.assert_allclose(inc[1], [[0.05, 0.135, 0.135], [0, 0.1, 0.1]])
    pats = Patterns(rows=rows, count=np.array([2.0, 1.0]), scope=np.array([0, 0]), n_scopes=1)
    means = gcomp_means(hazard, pats)
    assert means.weeks[0] == pytest.approx(2 * 2.445 + 1.7)
    np.testing.assert_allclose(means.incidence[0, 0], 2 * inc[0][0] + inc[0][1])


def test_gcomp_sums_equal_means_bit_for_bit():
    rng = np.random.default_rng(4)
    k, n_rows, n_pat, tau = 3, 42, 25, 6  # n_rows a multiple of the 3 scopes
    hazard = rng.uniform(0.0, 0.2, (k, n_rows))
    rows = rng.integers(0, n_rows, (n_pat, tau))
    entry = rng.integers(0, tau, n_pat)
    rows[np.arange(tau)[None, :] < entry[:, None]] = -1
    scope = rng.integers(0, 3, n_pat)
    rows = np.where(rows >= 0, rows - rows % 3 + scope[:, None], -1)  # row % 3 = its scope
    pats = Patterns(rows=rows, count=rng.integers(1, 5, n_pat).astype(float), scope=scope,
                    n_scopes=3)
    means, grads = gcomp_sums(hazard, pats)
    ref_m = gcomp_means(hazard, pats)
    np.testing.assert_array_equal(means.weeks, ref_m.weeks)
    np.testing.assert_array_equal(means.incidence, ref_m.incidence)
    # the gradients' reference is the derivative itself: gcomp_gradients is gcomp_sums'
    # second half, checked against finite differences (test_gradients_equal_finite_differences)
    assert grads.weeks.shape == (n_rows,)


def test_reference_levels_by_equal_reference_levels_per_outcome():
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame({"a": rng.integers(0, 4, n), "b": rng.choice(["x", "y", "z"], n)})
    trials = rng.integers(1, 5, n).astype(float)
    events = {"rare": (rng.random(n) < 0.02).astype(float), "none": np.zeros(n),
              "common": rng.integers(0, 2, n).astype(float)}
    by = reference_levels_by(frame, ["a", "b"], trials, events)
    for name, e in events.items():
        assert by[name] == reference_levels(frame, ["a", "b"], trials, e)


def test_gcomputation_rejects_hazards_summing_to_one():
    with pytest.raises(EstimationError, match="sum to"):
        survival_paths(np.array([[0.6], [0.5]]), np.array([[0]]))


def test_gradients_equal_finite_differences():
    rng = np.random.default_rng(2)
    k, n_rows = 3, 14
    hazard = rng.uniform(0.01, 0.15, (k, n_rows))
    # 6 patterns over two scopes; rows are shared within a scope, entry weeks differ
    rows = np.array([
        [0, 1, 2, 3, 4], [-1, 1, 2, 3, 4], [-1, -1, 5, 6, 4],
        [7, 8, 9, 10, 11], [-1, 8, 9, 12, 13], [-1, -1, -1, 12, 13],
    ])
    pats = Patterns(rows=rows, count=np.array([3.0, 1, 2, 1, 4, 2]),
                    scope=np.array([0, 0, 0, 1, 1, 1]), n_scopes=2)
    grads = gcomp_gradients(hazard, pats)
    eps = 1e-7
    for kk in range(k):
        analytic = grads.incidence(kk)
        for u in range(n_rows):
            up, down = hazard.copy(), hazard.copy()
            up[kk, u] += eps
            down[kk, u] -= eps
            mu, md = gcomp_means(up, pats), gcomp_means(down, pats)
            j = grads.scope[u]
            np.testing.assert_allclose((mu.weeks[j] - md.weeks[j]) / (2 * eps), grads.weeks[u],
                                       rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose((mu.incidence[j] - md.incidence[j]) / (2 * eps),
                                       analytic[u], rtol=1e-6, atol=1e-8)


def test_curves_equal_aalen_johansen_where_the_model_is_saturated():
    """One jobcentre, everyone at risk from week 1, week dummies only: the fitted hazards
    are d_k(t)/n(t) and the g-computed curves are the Aalen-Johansen estimates."""
    rng = np.random.default_rng(5)
    n, tau = 2_000, 20
    week = np.minimum(rng.geometric(0.09, n), 30)
    state = rng.choice(["employment", "unemployment", "other"], n, p=[0.7, 0.2, 0.1])
    censored = (week > tau) | (rng.uniform(size=n) < 0.1)
    start = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    end = start + pd.to_timedelta(7 * (week - 1) + 3, unit="D")
    spells = pd.DataFrame({
        "spell_id": [f"s{i}" for i in range(n)], "person_id": [f"p{i}" for i in range(n)],
        "jobcentre": "A", "absence_start": start, "benefit_start": start,
        "benefit_end": end.where(~censored), "exit_state": np.where(censored, "censored", state),
    })
    study = validate_study(spells, programme=pd.DataFrame(
        {"jobcentre": ["A"], "start": [pd.Timestamp("2030-01-01")],
         "end": [pd.Timestamp("2030-12-31")]}))
    design = StudyDesign(max_weeks=tau, data_end=pd.Timestamp("2019-12-31"))
    cells, _ = cells_from_spells(study, design, by=("week",), parallel=False)
    f = cells.frame
    assert f["week"].tolist() == list(range(1, tau + 1))
    frame = pd.DataFrame({"week": f["week"].astype(str).str.zfill(2)})
    trials = f["at_risk"].to_numpy(float)
    states = ["employment", "unemployment", "other"]
    hazard = []
    for s in states:
        y = f["event" if s == "employment" else f"event_{s}"].to_numpy(float)
        dm = build_design(frame, categorical=["week"],
                          reference=reference_levels(frame, ["week"], trials, y))
        with warnings.catch_warnings():  # weeks without an exit of s: separated, hazard 0
            warnings.simplefilter("ignore", NotIdentifiedWarning)
            fit = fit_glm_cells(dm.X, y, trials, names=dm.names)
        x = design_rows(fitted_design(dm, frame, ["week"], []), frame)
        eta = linear_predictor(np.asarray(fit.params), separation_signs(fit, dm.X, y, trials), x)
        hazard.append(hazard_slope(eta, "cloglog")[0])
    _, _, _, inc = survival_paths(np.vstack(hazard), np.arange(tau)[None, :])
    # Aalen-Johansen on continuous times without ties: the exits of week T are spread over
    # (T-1, T), censoring is at T (the spell was at risk through week T)
    sf = study.spells
    t_last = ((sf["benefit_end"].fillna(pd.Timestamp("2019-12-31")) - sf["absence_start"]).dt.days
              // 7 + 1).clip(upper=tau).to_numpy()
    exit_code = pd.Series(sf["exit_state"]).map({s: i + 1 for i, s in enumerate(states)})
    exit_code = exit_code.fillna(0).astype(int).to_numpy()
    exit_code[t_last > tau] = 0
    rank = pd.Series(np.arange(n)).groupby(t_last).rank().to_numpy()
    durations = np.where(exit_code > 0, t_last - 1 + rank / (n + 1), t_last).astype(float)
    for k, s in enumerate(states):
        ajf = AalenJohansenFitter(calculate_variance=False)
        ajf.fit(durations, exit_code, event_of_interest=k + 1)
        cif = ajf.cumulative_density_.iloc[:, 0]
        at_weeks = np.array([cif[cif.index <= w].iloc[-1] for w in range(1, tau + 1)])
        np.testing.assert_allclose(inc[k, 0], at_weeks, rtol=0, atol=1e-9, err_msg=s)


# --------------------------------------------------------------------------------------
# the whole g-computation against a per-spell loop, and its delta method
# --------------------------------------------------------------------------------------


def _per_spell(dest, study, horizon):
    """Weeks and incidences of every programme spell by a plain loop over spells and weeks."""
    sf = dest.cells.spells
    prog = sf[sf["D"] == 1]
    covs = bin_covariates(study.spells.loc[sf.index], list(dest.covariates)).astype(str)
    months = np.array(sorted(int(m) for m in dest.designs["employment"].levels["month"]))
    coef = {}  # every term of every model, separated ones at their limit
    for k in dest.destinations:
        p = dest.params(k)
        limit = np.where(dest.signs[k] < 0, -np.inf, np.where(dest.signs[k] > 0, np.inf, 0.0))
        coef[k] = dict(zip(p.index, np.where(np.isfinite(p), p, limit), strict=True))
    out = []
    for i, s in prog.iterrows():
        for arm, d in (("with", 1.0), ("without", 0.0)):
            surv, weeks, inc = 1.0, 0.0, dict.fromkeys(dest.destinations, 0.0)
            curve = []
            for t in range(1, horizon + 1):
                if t >= s["entry_week"]:
                    day = s["absence_start"] + pd.Timedelta(days=7 * (t - 1))
                    m = day.year * 12 + day.month - 1
                    m = months[np.argmin(np.abs(months - m))]
                    terms = ["Intercept", f"week_block[{week_block(np.array([t]))[0]}]",
                             f"jobcentre[{s['jobcentre']}]", f"month[{m}]",
                             *(f"{c}[{covs.loc[i, c]}]" for c in dest.covariates)]
                    hs = {}
                    for k, c in coef.items():
                        eta = d * c["D_early" if t < 8 else "D_late"]
                        eta += sum(c.get(term, 0.0) for term in terms)
                        hs[k] = 1 - np.exp(-np.exp(eta))
                    weeks += surv
                    for k in dest.destinations:
                        inc[k] += surv * hs[k]
                    surv *= 1 - sum(hs.values())
                curve.append(dict(inc))
            out.append((s["jobcentre"], arm, weeks, curve))
    return out


def test_equals_a_per_spell_loop_with_a_covariate(small):
    study, sc0, _ = small
    sc = sof_cells(study, covariates=["sex"], progress=False)
    dest = destination_effects(sc, covariates=["sex"], bootstrap_draws=0, parallel=False)
    res = counterfactual_durations(dest, study, horizon=30)
    loop = _per_spell(dest, study, 30)
    for scope in ("all", res.durations["scope"].iloc[1]):
        sub = [r for r in loop if scope == "all" or r[0] == scope]
        row = res.durations.set_index("scope").loc[scope]
        for arm in ("with", "without"):
            w = np.mean([r[2] for r in sub if r[1] == arm])
            assert row[f"weeks_{arm}"] == pytest.approx(w, abs=TOL_LOOP)
            for k in dest.destinations:
                for week in (5, 13, 30):
                    f = np.mean([r[3][week - 1][k] for r in sub if r[1] == arm])
                    got = res.incidence.set_index(["scope", "destination", "week"]).loc[
                        (scope, k, week), arm]
                    assert got == pytest.approx(f, abs=TOL_LOOP)
    with pytest.raises(OptionError, match="study="):
        counterfactual_durations(dest)


def test_delta_method_equals_directional_derivatives(small):
    """se^2 = sum_g (grad' Z_g)^2: each term is the derivative of the estimate along the
    influence direction Z_g of cluster g, computed here by central differences."""
    _, _, dest = small
    res = counterfactual_durations(dest, horizon=20)
    eps = 1e-4
    psi_w, psi_f = [], []
    for g in range(len(dest.clusters)):
        est = []
        for sign in (1, -1):
            fits = {}
            for k in dest.destinations:
                fit = dest.fits[k]
                p = np.array(fit.params, copy=True)
                p[~np.asarray(fit.aliased)] += sign * eps * dest.influence[k][:, g]
                fits[k] = replace(fit, params=p)
            est.append(counterfactual_durations(replace(dest, fits=fits), horizon=20))
        psi_w.append((est[0].durations["weeks_saved"] - est[1].durations["weeks_saved"])
                     / (2 * eps))
        psi_f.append((est[0].incidence["difference"] - est[1].incidence["difference"])
                     / (2 * eps))
    se_w = np.sqrt((np.asarray(psi_w) ** 2).sum(axis=0))
    se_f = np.sqrt((np.asarray(psi_f) ** 2).sum(axis=0))
    np.testing.assert_allclose(res.durations["se"], se_w, rtol=TOL_DELTA)
    np.testing.assert_allclose(res.incidence["se"], se_f, rtol=TOL_DELTA, atol=1e-12)


def _resample(sc, rng):
    """Cells and spells of a cluster bootstrap draw: jobcentres drawn with replacement, each
    copy a jobcentre of its own."""
    f, sf = sc.cells.frame, sc.spells
    jcs = np.array(sorted(f["jobcentre"].astype(str).unique()))
    draw = rng.choice(jcs, size=len(jcs), replace=True)
    cells, spells, windows = [], [], []
    jc_cells = f["jobcentre"].astype(str).to_numpy()
    jc_spells = sf["jobcentre"].astype(str).to_numpy()
    for c, j in enumerate(draw):
        name = f"{j}#{c}"
        m = jc_cells == j
        cells.append(f[m].assign(jobcentre=name))
        spells.append(sf[jc_spells == j].assign(jobcentre=name))
        windows.append(sc.jc_window[m])
    frame = pd.concat(cells, ignore_index=True)
    return replace(sc, cells=Cells(frame, sc.cells.keys),
                   spells=pd.concat(spells, ignore_index=True),
                   jc_window=pd.Series(pd.concat(windows).to_numpy(), index=frame.index))


@pytest.mark.slow
def test_delta_method_agrees_with_a_cluster_bootstrap():
    """The delta-method SE of pooled weeks saved against the SD of a cluster bootstrap
    (jobcentres resampled, models refitted, g-computation redone).

    Tolerance: both are noisy estimates of the same sampling SD. With B = 80 draws the
    bootstrap SD has a relative error of about 1/sqrt(2B) = 8 %; the cluster-robust
    variance with 40 jobcentres of very unequal size has a relative error of 15-20 % (its
    effective degrees of freedom are well below G). Over seeds 12-14 the ratio was 1.24, 0.85
    and 0.83; it must lie in [0.6, 1.6], about 2.5 combined errors on the log scale.
    """
    _, study = _study("homogeneous", 6_000, 12, n_jobcentres=40, start="2017-01-01",
                      end="2018-12-31", data_end="2019-06-30")
    study = _two_destinations(study)
    sc = sof_cells(study, progress=False)
    dest = destination_effects(sc, bootstrap_draws=0, parallel=False)
    res = counterfactual_durations(dest, horizon=26)
    rng = np.random.default_rng(99)
    draws = []
    for _ in range(80):
        b = _resample(sc, rng)
        try:
            db = destination_effects(b, bootstrap_draws=0, parallel=False)
            draws.append(counterfactual_durations(db, horizon=26).durations.iloc[0])
        except EstimationError:  # a draw without programme spells
            continue
    boot = pd.DataFrame(draws)
    assert len(boot) >= 70
    ratio = res.durations["se"].iloc[0] / boot["weeks_saved"].std()
    print(f"delta / bootstrap SE ratio {ratio:.3f} over {len(boot)} draws")
    assert 0.6 < ratio < 1.6, ratio


# --------------------------------------------------------------------------------------
# scenarios, options, tables
# --------------------------------------------------------------------------------------


# 20,000 spells with all seven exit states: the effect on a rare exit (flexjob, education,
# disability pension) may be unidentified in one phase, which is warned about (the
# g-computation then holds it at its limit); these tests are about the pooled weeks.
RARE = "ignore::sofeval.errors.NotIdentifiedWarning"


@pytest.fixture(scope="module")
def null_result():
    _, study = _study("null", 20_000, 31)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotIdentifiedWarning)
        dest = destination_effects(study, bootstrap_draws=0)
    return counterfactual_durations(dest)


def test_null_scenario_saves_no_weeks(null_result):
    row = null_result.durations.iloc[0]
    assert row["scope"] == "all"
    assert abs(row["weeks_saved"]) < N_SE * row["se"]
    inc = null_result.incidence_at((13, 26, 52))
    pooled = inc[inc["scope"] == "all"]
    assert (pooled["difference"].abs() < N_SE * pooled["se"] + 1e-12).all()


@pytest.mark.filterwarnings(RARE)
def test_faster_exit_to_work_saves_weeks():
    """theta_EA = 0.2, theta_P = 0.3 raise the exit rate to employment: weeks are saved,
    and more programme spells have ended in employment by week 26."""
    _, study = _study("homogeneous", 20_000, 32, theta_ea=0.2, theta_p=0.3)
    res = counterfactual_durations(destination_effects(study, bootstrap_draws=0))
    row = res.durations.iloc[0]
    assert row["weeks_saved"] > N_SE * row["se"]
    emp = res.incidence_at((26,)).query("scope == 'all' and destination == 'employment'")
    assert emp["difference"].iloc[0] > 0


def test_tables_margins_and_kroner(null_result):
    d = null_result.to_frame()
    assert tuple(d.columns) == DURATION_COLUMNS
    assert tuple(null_result.to_frame("incidence").columns) == INCIDENCE_COLUMNS
    assert d["n_spells"].iloc[0] == d["n_spells"].iloc[1:].sum()  # additive margins
    np.testing.assert_allclose(d["weeks_saved"], d["weeks_without"] - d["weeks_with"])
    np.testing.assert_allclose(d["kroner_per_spell"], d["weeks_saved"] * BENEFIT_PER_WEEK)
    np.testing.assert_allclose(d["kroner_total"], d["kroner_per_spell"] * d["n_spells"])
    # the pooled row is the spell-weighted mean of the jobcentre rows
    w = d["n_spells"].iloc[1:] / d["n_spells"].iloc[1:].sum()
    assert d["weeks_with"].iloc[0] == pytest.approx((w * d["weeks_with"].iloc[1:]).sum())
    inc = null_result.incidence
    assert set(inc["week"]) == set(range(1, 53))
    with pytest.raises(OptionError, match="table"):
        null_result.to_frame("curves")  # type: ignore[arg-type]


def test_options_and_determinism(small):
    _, _, dest = small
    with pytest.raises(OptionError, match="horizon"):
        counterfactual_durations(dest, horizon=60)
    with pytest.raises(OptionError, match="benefit_per_week"):
        counterfactual_durations(dest, benefit_per_week=-1.0)
    calendar = replace(dest, cells=replace(dest.cells, design=StudyDesign(treatment="calendar")))
    with pytest.raises(OptionError, match="calendar"):
        counterfactual_durations(calendar)
    one = destination_effects(dest.cells, destinations=["employment"], bootstrap_draws=0)
    with pytest.raises(OptionError, match="no model"):
        counterfactual_durations(one)
    a = counterfactual_durations(dest, horizon=26, benefit_per_week=1000.0)
    b = counterfactual_durations(dest, horizon=26, benefit_per_week=1000.0)
    pd.testing.assert_frame_equal(a.durations, b.durations, check_exact=True)
    pd.testing.assert_frame_equal(a.incidence, b.incidence, check_exact=True)
    assert a.durations["kroner_per_spell"].iloc[0] == a.durations["weeks_saved"].iloc[0] * 1000


def test_plots_and_reprs(small):
    _, _, dest = small
    res = counterfactual_durations(dest, horizon=26)
    pooled = res.incidence_at()
    pooled = pooled[pooled["scope"] == "all"]
    assert sorted(pooled["week"].unique()) == [13, 26]
    assert_shared_presentation(res, res.durations, pooled)
    for kind in ("incidence", "survival", "stacked", "weeks"):
        fig = res.plot(kind, lang="da")  # type: ignore[arg-type]
        assert isinstance(fig, Figure) and fig.canvas.manager is None
    pd.testing.assert_frame_equal(res.tidy("incidence"), res.incidence)
    assert "weeks on sickness benefit within 26 weeks" in str(res).lower()
    with pytest.raises(OptionError, match="scope"):
        res.plot("incidence", scope="Atlantis")
    with pytest.raises(SofevalError, match="missing column"):
        weeks_saved_forest(res.incidence)


# --------------------------------------------------------------------------------------
# known truth (needs the ``destinations`` scenario and truth tables of sofeval.data)
# --------------------------------------------------------------------------------------


@pytest.mark.filterwarnings(RARE)
def test_recovers_weeks_saved_and_incidence_truth():
    sim, study = _study("destinations", 60_000, 41)
    res = counterfactual_durations(destination_effects(study, bootstrap_draws=0))
    truth = sim.truth.durations
    t = truth[(truth["scope"] == "all") & (truth["tau_weeks"] == 52)].iloc[0]
    row = res.durations.iloc[0]
    assert row["n_spells"] == t["n_spells"]
    assert abs(row["weeks_saved"] - t["weeks_saved"]) < N_SE * row["se"]
    inc = res.incidence_at((13, 26, 52)).set_index(["scope", "destination", "week"])
    true_inc = sim.truth.incidence.set_index(["scope", "destination", "week"])
    checked = 0
    for key, value in true_inc["difference"].items():
        if key[0] != "all" or key[2] not in (13, 26, 52) or key not in inc.index:
            continue
        assert abs(inc.loc[key, "difference"] - value) < N_SE * inc.loc[key, "se"] + 1e-9, key
        checked += 1
    assert checked >= 6
