"""Event study: agreement with statsmodels, a planted pre-trend, the null, HonestDiD export."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from matplotlib.figure import Figure
from scipy import stats

from presentation import assert_shared_presentation
from sofeval.analyses import (
    EVENT_STUDY_COLUMNS,
    PRETREND_COLUMNS,
    SOFCells,
    event_study,
    honestdid_inputs,
    sof_cells,
    sup_t_critical,
    write_honestdid_csv,
    write_honestdid_json,
)
from sofeval.data import simulate, validate_study
from sofeval.errors import OptionError
from sofeval.panel import Cells, StudyDesign, week_block

#: Cells fits (sofeval IRLS and statsmodels IRLS at tol 1e-13) agree to the solvers'
#: convergence tolerance; 1e-6 leaves room for statsmodels' own stopping rule.
TOL_COEF = 1e-6
#: Recovery of planted or simulated truths: within this many standard errors.
N_SE = 4.0
#: Monte Carlo error of a sup-t critical value from 200,000 draws is about 0.003.
TOL_CRIT = 0.02
#: Start quarter of the synthetic SOF windows (2017-10-01): 4 * 2017 + 3.
Q_START = 4 * 2017 + 3





def _study(scenario: str, n: int, seed: int):
    sim = simulate(scenario, n_spells=n, seed=seed, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    return sim, study


@pytest.fixture(scope="module")
def homogeneous_cells():
    _, study = _study("homogeneous", 20_000, 5)
    return sof_cells(study, extra_keys=("link_month",), progress=False)


@pytest.fixture(scope="module")
def homogeneous_es(homogeneous_cells):
    return event_study(homogeneous_cells, bootstrap_draws=99, seed=1)


def test_table_layout(homogeneous_es):
    es = homogeneous_es
    assert tuple(es.table.columns) == EVENT_STUDY_COLUMNS
    assert tuple(es.pretrend.columns) == PRETREND_COLUMNS
    for est in ("ex_ante", "programme"):
        t = es.table[es.table["estimand"] == est]
        assert t["event_quarter"].tolist() == list(range(-6, 6))
        ref = t[t["event_quarter"] == -1].iloc[0]
        assert ref["coef"] == 0.0 and np.isnan(ref["se"])
        rest = t[t["event_quarter"] != -1]
        # the simultaneous band contains the pointwise interval
        assert (rest["band_low"] < rest["ci_low"]).all()
        assert (rest["band_high"] > rest["ci_high"]).all()
        assert (t["n_spells"] > 0).all() and (t["n_events"] > 0).all()
    assert es.pretrend["n_leads"].tolist() == [5, 5]
    assert es.pretrend["df"].tolist() == [5, 5]
    assert es.pretrend["p_wild"].between(0, 1).all()
    assert_shared_presentation(es, es.table, es.pretrend)
    assert isinstance(es.plot(), Figure)
    h = es.honestdid("programme")
    np.testing.assert_array_equal(h.betahat, honestdid_inputs(es, "programme").betahat)


def test_coefficients_equal_statsmodels_on_the_same_cells():
    """Binomial counts GLM with an independently built event-time design."""
    sim = simulate("homogeneous", n_spells=10_000, seed=8, n_jobcentres=40, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme)
    cells = sof_cells(study, extra_keys=("link_month",), progress=False)
    es = event_study(cells, bootstrap_draws=0)
    f = cells.cells.frame
    prog = set(cells.programme)
    k = np.clip(f["link_month"].to_numpy() // 3 - Q_START, -6, 5)
    is_prog = f["jobcentre"].astype(str).isin(prog).to_numpy()
    late = f["week"].to_numpy() >= 8
    frame = pd.DataFrame({
        "event": f["event"].to_numpy(float),
        "trials": f["at_risk"].to_numpy(float),
        "week_block": week_block(f["week"].to_numpy()),
        "jobcentre": f["jobcentre"].astype(str).to_numpy(),
        "month": f["month"].astype(str).to_numpy(),
    })
    es_cols = []
    for name, phase in (("ex_ante", False), ("programme", True)):
        for q in range(-6, 6):
            if q != -1:
                col = f"{name}{q}"
                frame[col] = (is_prog & (k == q) & (late == phase)).astype(float)
                es_cols.append(col)
    for col in ("jobcentre", "week_block", "month"):  # categories without events: -inf
        frame = frame[frame.groupby(col)["event"].transform("sum") > 0]
    # one row per distinct regressor pattern (the likelihood depends on nothing else)
    frame = frame.groupby([c for c in frame.columns if c not in ("event", "trials")],
                          as_index=False)[["event", "trials"]].sum()
    dummies = pd.get_dummies(frame[["week_block", "jobcentre", "month"]], drop_first=True,
                             dtype=float)
    X = sm.add_constant(pd.concat([dummies, frame[es_cols]], axis=1))
    y = np.column_stack([frame["event"], frame["trials"] - frame["event"]])
    ref = sm.GLM(y, X, family=sm.families.Binomial(sm.families.links.CLogLog())).fit(
        tol=1e-13, maxiter=200)
    ours = es.table[es.table["event_quarter"] != -1]
    expected = ref.params[es_cols].to_numpy()
    np.testing.assert_allclose(ours["coef"].to_numpy(), expected, atol=TOL_COEF)


def _planted_cells(trend: float, seed: int = 0) -> tuple[SOFCells, dict[int, float]]:
    """Cells of 30 jobcentres (10 in the programme) with a planted linear pre-trend.

    Programme jobcentres' log hazard moves by ``trend * (k + 1)`` in event quarter
    ``k < -1`` (binned at -6), zero from quarter -1 on: the lead coefficients' truth.
    """
    rng = np.random.default_rng(seed)
    n_jc, n_prog = 30, 10
    jcs = [f"J{j:02d}" for j in range(n_jc)]
    link = np.arange(2016 * 12, 2019 * 12 + 6)  # 2016-01 .. 2019-06
    weeks = np.arange(1, 13)
    jj, lm, wk = (a.ravel() for a in np.meshgrid(np.arange(n_jc), link, weeks, indexing="ij"))
    month = lm + (wk - 8) * 7 // 30
    prog = jj < n_prog
    kb = np.clip(lm // 3 - Q_START, -6, 5)
    in_window = (lm >= 2017 * 12 + 9) & (lm <= 2018 * 12 + 11)
    truth = {q: trend * (q + 1) for q in range(-6, -1)}
    eta = (-2.6 - 0.3 * np.log(wk / 5) + rng.normal(0, 0.1, n_jc)[jj]
           + 0.05 * np.sin(2 * np.pi * month / 12)
           + np.where(prog & (kb < -1), trend * (kb + 1), 0.0))
    at_risk = rng.poisson(150, size=len(jj)) + 1
    events = rng.binomial(at_risk, 1 - np.exp(-np.exp(eta)))
    d = (prog & in_window).astype(np.int8)
    frame = pd.DataFrame({
        "jobcentre": pd.Categorical(np.array(jcs)[jj], categories=jcs),
        "week": wk.astype(np.int16),
        "month": month.astype(np.int32),
        "exposure": in_window.astype(np.int16),
        "D": d,
        "link_month": lm.astype(np.int32),
        "at_risk": at_risk.astype(np.int64),
        "event": events.astype(np.int64),
    })
    keys = ("jobcentre", "week", "month", "exposure", "D", "link_month")
    # one pseudo-spell per jobcentre and link month (the counts are not under test here)
    sp = frame.drop_duplicates(["jobcentre", "link_month"])
    spells = pd.DataFrame({
        "jobcentre": sp["jobcentre"].astype(str).to_numpy(),
        "link_month": sp["link_month"].to_numpy(),
        "entry_week": 1,
        "last_week": 12,
        "D": sp["D"].to_numpy(),
    })
    windows = pd.DataFrame({"k": [0], "start": [pd.Timestamp("2017-10-01")],
                            "end": [pd.Timestamp("2018-12-31")],
                            "jobcentres": [tuple(jcs[:n_prog])]})
    jc_window = pd.Series(np.where(prog, 0, -1), index=frame.index)
    sc = SOFCells(Cells(frame, keys), spells, StudyDesign(), windows, jc_window,
                  pd.DataFrame(), tuple(jcs[:n_prog]))
    return sc, truth


def test_planted_pretrend_is_recovered_and_detected():
    sc, truth = _planted_cells(trend=0.06)
    es = event_study(sc, bootstrap_draws=199, seed=3)
    t = es.table.set_index(["estimand", "event_quarter"])
    for est in ("ex_ante", "programme"):
        for q, value in truth.items():
            row = t.loc[(est, q)]
            assert abs(row["coef"] - value) < N_SE * row["se"], (est, q, row["coef"], value)
        for q in range(0, 6):  # no effect after the start
            row = t.loc[(est, q)]
            assert abs(row["coef"]) < N_SE * row["se"], (est, q)
    pre = es.pretrend.set_index("estimand")
    assert (pre["p_value"] < 0.01).all(), pre
    assert (pre["p_wild"] < 0.05).all(), pre


def test_flat_planted_data_has_no_pretrend():
    sc, _ = _planted_cells(trend=0.0, seed=1)
    es = event_study(sc, bootstrap_draws=199, seed=3)
    assert (es.pretrend["p_value"] > 0.05).all(), es.pretrend
    assert (es.pretrend["p_wild"] > 0.05).all(), es.pretrend


def test_null_lead_test_does_not_reject():
    _, study = _study("null", 30_000, 3)
    es = event_study(study, bootstrap_draws=199, seed=0)
    assert (es.pretrend["p_value"] > 0.05).all(), es.pretrend
    assert (es.pretrend["p_wild"] > 0.05).all(), es.pretrend


def test_cells_without_link_month_are_refused():
    _, study = _study("null", 2_000, 1)
    with pytest.raises(OptionError, match="link_month"):
        event_study(sof_cells(study, progress=False))


def test_sup_t_critical_values():
    m = 8
    exact = stats.norm.ppf((1 + 0.95 ** (1 / m)) / 2)  # independent coordinates
    assert abs(sup_t_critical(np.eye(m), 0.95, 200_000, seed=0) - exact) < TOL_CRIT
    one = np.ones((m, m))  # perfectly correlated: the pointwise value
    assert abs(sup_t_critical(one, 0.95, 200_000, seed=0) - 1.959964) < TOL_CRIT
    a = sup_t_critical(np.eye(3) + 0.3, seed=4)
    assert a == sup_t_critical(np.eye(3) + 0.3, seed=4)  # seeded, deterministic


def test_honestdid_export_round_trips(homogeneous_es, tmp_path):
    es = homogeneous_es
    h = honestdid_inputs(es, "programme")
    assert h.num_pre_periods == 5 and h.num_post_periods == 6
    assert list(h.event_quarters) == [-6, -5, -4, -3, -2, 0, 1, 2, 3, 4, 5]
    t = es.table[(es.table["estimand"] == "programme") & (es.table["event_quarter"] != -1)]
    np.testing.assert_array_equal(h.betahat, t["coef"].to_numpy())
    np.testing.assert_allclose(np.sqrt(np.diag(h.sigma)), t["se"].to_numpy(), rtol=1e-12)
    csv_paths = write_honestdid_csv(es, tmp_path)
    json_paths = write_honestdid_json(es, tmp_path)
    assert [p.name for p in csv_paths] == ["honestdid_ex_ante.csv", "honestdid_programme.csv"]
    back = pd.read_csv(tmp_path / "honestdid_programme.csv", float_precision="round_trip")
    np.testing.assert_array_equal(back["betahat"].to_numpy(), h.betahat)
    np.testing.assert_array_equal(back.filter(like="sigma_").to_numpy(), h.sigma)
    assert back["period"].tolist() == ["pre"] * 5 + ["post"] * 6
    doc = json.loads(json_paths[1].read_text(encoding="utf-8"))
    assert doc["numPrePeriods"] == 5 and doc["numPostPeriods"] == 6
    np.testing.assert_array_equal(np.array(doc["sigma"]), h.sigma)
    first = json_paths[0].read_bytes()
    write_honestdid_json(es, tmp_path)
    assert json_paths[0].read_bytes() == first


# --------------------------------------------------------------------------------------
# Known truth: needs the `pretrend` scenario of sofeval.data.simulate (another branch)
# --------------------------------------------------------------------------------------


def test_pretrend_scenario_leads_match_truth_and_are_detected():
    sim, study = _study("pretrend", 60_000, 7)
    es = event_study(study, bootstrap_draws=199, seed=0)
    truth = sim.truth.event_study.set_index(["estimand", "event_quarter"])["value"]
    t = es.table.set_index(["estimand", "event_quarter"])
    for (est, q), row in t.iterrows():
        # the end bins average several quarters: compare the quarters inside them only
        if q in (-1, es.min_lead, es.top) or (est, q) not in truth.index:
            continue
        ref = truth.get((est, -1), 0.0)
        assert abs(row["coef"] - (truth[(est, q)] - ref)) < 3 * row["se"], (est, q)
    assert (es.pretrend["p_value"] < 0.05).any(), es.pretrend
    assert (es.pretrend["p_wild"] < 0.05).any(), es.pretrend
