"""Recurrence after a return to work: the returns, the hazard model, g-computation, truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from matplotlib.figure import Figure

from presentation import assert_shared_presentation
from sofeval.analyses import (
    RECURRENCE_BLOCK_WEEKS,
    RECURRENCE_COLUMNS,
    RecurrenceResult,
    recurrence_effects,
    return_spells,
    sof_cells,
)
from sofeval.data import simulate, validate_study
from sofeval.errors import EstimationError, OptionError
from sofeval.models import build_design
from sofeval.panel import StudyDesign

#: Cells against person-weeks: the same likelihood, solver tolerance.
TOL_COEF = 1e-6
#: g-computation against a per-return loop: the same sums in another order.
TOL_LOOP = 1e-10
#: Recovery of the synthetic truth: estimates within this many standard errors.
N_SE = 3.0





def _spell(sid, pid, start, end, state, jc="A"):
    return {"spell_id": sid, "person_id": pid, "jobcentre": jc,
            "absence_start": pd.Timestamp(start),
            "benefit_end": pd.Timestamp(end) if end else pd.NaT, "exit_state": state}


def test_return_spells_by_hand():
    spells = pd.DataFrame([
        _spell("a1", "p1", "2018-01-01", "2018-02-10", "employment"),
        _spell("a2", "p1", "2018-03-01", "2018-04-01", "unemployment"),
        _spell("b1", "p2", "2018-05-01", "2018-06-01", "employment"),
        _spell("c1", "p3", "2018-01-15", "2018-03-01", "unemployment"),
        _spell("d1", "p4", "2018-09-01", "2018-11-20", "employment"),
        _spell("d2", "p4", "2019-02-01", None, "censored"),
        _spell("e1", "p5", "2018-07-01", None, "censored"),
    ])
    programme = pd.DataFrame({"jobcentre": ["A"], "start": [pd.Timestamp("2018-01-01")],
                              "end": [pd.Timestamp("2018-06-30")]})
    study = validate_study(spells, programme=programme)
    design = StudyDesign(data_end=pd.Timestamp("2019-01-15"))
    ret = return_spells(study, design, horizon=52).set_index("spell_id")
    assert list(ret.index) == ["a1", "b1", "d1"]
    # a1: back on 2018-02-11, next spell 18 days later: week 3, recurred
    assert ret.loc["a1", "last_week"] == 3 and ret.loc["a1", "recurred"] == 1
    # b1: no later spell; complete weeks from 2018-06-02 to 2019-01-15: 32
    assert ret.loc["b1", "last_week"] == 32
    assert ret.loc["b1", "recurred"] == 0
    # d1: the next spell starts after the data end: censored after 8 complete weeks
    assert ret.loc["d1", "last_week"] == 8 and ret.loc["d1", "recurred"] == 0
    # D: the week-8 date of a1 (2018-02-19) and b1 (2018-06-19) lie in the window, d1's not
    assert ret["D"].tolist() == [1, 1, 0]
    capped = return_spells(study, design, horizon=4).set_index("spell_id")
    assert capped.loc["b1", "last_week"] == 4 and capped.loc["a1", "last_week"] == 3


@pytest.fixture(scope="module")
def small():
    sim = simulate("homogeneous", n_spells=10_000, seed=6, n_jobcentres=20,
                   start="2017-01-01", end="2018-12-31", data_end="2019-06-30", progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme)
    return study, recurrence_effects(study, horizons=(8, 16))


def _person_weeks(study, horizon):
    """Every return expanded to its weeks since return (the reference data)."""
    ret = return_spells(study, StudyDesign(), horizon)
    ret = ret[ret["last_week"] >= 1]
    idx = np.repeat(np.arange(len(ret)), ret["last_week"].to_numpy())
    week = np.concatenate([np.arange(1, k + 1) for k in ret["last_week"]])
    r = ret.iloc[idx]
    day = r["return_day"].to_numpy() + 7 * (week - 1)
    month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12
    block = (week - 1) // RECURRENCE_BLOCK_WEEKS * RECURRENCE_BLOCK_WEEKS + 1
    return pd.DataFrame({
        "week_block": [f"{b:02d}-{b + RECURRENCE_BLOCK_WEEKS - 1:02d}" for b in block],
        "jobcentre": r["jobcentre"].astype(str).to_numpy(),
        "month": month,
        "D": r["D"].to_numpy(float),
        "event": ((week == r["last_week"].to_numpy()) & (r["recurred"].to_numpy() == 1))
        .astype(float),
    })


def _statsmodels_coefficients(
    frame: pd.DataFrame, res: RecurrenceResult, categorical: list[str]
) -> pd.Series:
    """statsmodels' cloglog GLM on the person-weeks, after checking our fit equals it."""
    while True:  # categories without a recurrence are at minus infinity: drop them
        keep = np.ones(len(frame), dtype=bool)
        for c in categorical:
            keep &= frame.groupby(c)["event"].transform("sum").to_numpy() > 0
        if keep.all():
            break
        frame = frame[keep]
    names = set(res.fit.names)
    refs = {c: next(v for v in sorted(frame[c].unique()) if f"{c}[{v}]" not in names)
            for c in categorical}
    dm = build_design(frame, categorical=categorical, numeric=["D"], reference=refs)
    ref = sm.GLM(frame["event"].to_numpy(), dm.X,
                 family=sm.families.Binomial(sm.families.links.CLogLog())).fit(tol=1e-13)
    ours = pd.Series(np.asarray(res.fit.params), index=res.fit.names).dropna()
    theirs = pd.Series(ref.params, index=dm.names)
    assert set(ours.index) == set(theirs.index)
    np.testing.assert_allclose(ours[theirs.index], theirs, rtol=0, atol=TOL_COEF)
    return theirs


def test_recurrence_model_equals_statsmodels_on_person_weeks(small):
    study, res = small
    frame = _person_weeks(study, 16)
    assert len(frame) == res.n_person_weeks and frame["event"].sum() == res.n_recurrences
    categorical = ["week_block", "jobcentre", "month"]
    theirs = _statsmodels_coefficients(frame, res, categorical)
    assert res.effect["coef"].iloc[0] == pytest.approx(theirs["D"], abs=TOL_COEF)


def test_gcomputation_equals_a_per_return_loop(small):
    """The g-computed curves of one jobcentre against a loop over its programme returns."""
    study, res = small
    ret = return_spells(study, StudyDesign(), 16)
    prog = ret[ret["D"] == 1]
    scope = prog["jobcentre"].value_counts().index[-1]  # the smallest programme jobcentre
    prog = prog[prog["jobcentre"] == scope]
    coef = dict(zip(res.fit.names, np.asarray(res.fit.params), strict=True))
    months = np.array(sorted(set(_person_weeks(study, 16)["month"])))  # months of the cells
    u = np.arange(1, 17)
    out = {"with": [], "without": []}
    for day0 in prog["return_day"].to_numpy():
        day = (day0 + 7 * (u - 1)).astype("datetime64[D]")
        month = day.astype("datetime64[M]").astype(np.int64) + 1970 * 12
        month = months[np.abs(months[None, :] - month[:, None]).argmin(axis=1)]
        for arm, d in (("with", 1.0), ("without", 0.0)):
            surv, curve = 1.0, []
            for week, m in zip(u, month, strict=True):
                b = (week - 1) // 4 * 4 + 1
                eta = coef["Intercept"] + d * coef["D"]
                for term in (f"week_block[{b:02d}-{b + 3:02d}]", f"jobcentre[{scope}]",
                             f"month[{m}]"):
                    v = coef.get(term, 0.0)
                    eta += v if np.isfinite(v) else -np.inf
                surv *= np.exp(-np.exp(eta))
                curve.append(1 - surv)
            out[arm].append(curve)
    curves = res.curves[res.curves["scope"] == scope].set_index("horizon_weeks")
    for arm in ("with", "without"):
        np.testing.assert_allclose(curves[f"recurrence_{arm}"], np.mean(out[arm], axis=0),
                                   rtol=0, atol=TOL_LOOP)
    assert curves["n_returns"].iloc[0] == len(prog)


def test_table_layout_margins_and_plots(small):
    study, res = small
    # the cells' spell frame gives the same returns as recomputing it, and the same table
    sc = sof_cells(study, progress=False)
    pd.testing.assert_frame_equal(return_spells(study, cells=sc, horizon=16),
                                  return_spells(study, horizon=16))
    again = recurrence_effects(study, horizons=(8, 16), cells=sc)
    pd.testing.assert_frame_equal(again.table, res.table, check_exact=True)
    t = res.to_frame()
    assert tuple(t.columns) == RECURRENCE_COLUMNS
    assert sorted(t["horizon_weeks"].unique()) == [8, 16]
    for _, sub in t.groupby("horizon_weeks"):
        assert sub["n_returns"].iloc[0] == sub["n_returns"].iloc[1:].sum()  # additive
        np.testing.assert_allclose(sub["difference"],
                                   sub["recurrence_with"] - sub["recurrence_without"])
    assert ((t["ci_low"] <= t["difference"]) & (t["difference"] <= t["ci_high"])).all()
    assert_shared_presentation(res, res.table, res.effect)
    assert ("returns", f"{res.n_returns:,}") in res.header()
    assert isinstance(res.plot(scope=t["scope"].iloc[-1], lang="en"), Figure)


def test_options_and_errors(small):
    study, _ = small
    with pytest.raises(OptionError, match="horizons"):
        recurrence_effects(study, horizons=(0, 26))
    with pytest.raises(OptionError, match="family"):
        recurrence_effects(study, family="probit")  # type: ignore[arg-type]
    spells = study.spells.copy()
    spells.loc[spells["exit_state"] == "employment", "exit_state"] = "unemployment"
    none = validate_study(spells, programme=study.programme)
    with pytest.raises(EstimationError, match="no spell ends in employment"):
        recurrence_effects(none)


def test_recovers_recurrence_truth():
    """Known truth (needs ``simulate(..., recurrence=True)`` and ``truth.recurrence``)."""
    sim = simulate("homogeneous", n_spells=60_000, seed=51, recurrence=True, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme)
    res = recurrence_effects(study)
    truth = sim.truth.recurrence
    table = res.table.set_index(["scope", "horizon_weeks"])
    for row in truth[truth["scope"] == "all"].itertuples():
        got = table.loc[("all", row.horizon_weeks)]
        assert abs(got["difference"] - row.difference) < N_SE * got["se"] + 1e-9, row


def test_recurrence_model_with_a_covariate_equals_statsmodels(small):
    """Cells keyed by a covariate too: the same fit as person-weeks with that covariate."""
    study, _ = small
    res = recurrence_effects(study, horizons=(8,), covariates=("sex",))
    ret = return_spells(study, StudyDesign(), 8)
    ret = ret[ret["last_week"] >= 1]
    frame = _person_weeks(study, 8)
    frame["sex"] = np.repeat(study.spells.loc[ret.index, "sex"].astype(str).to_numpy(),
                             ret["last_week"].to_numpy())
    assert len(frame) == res.n_person_weeks and frame["event"].sum() == res.n_recurrences
    categorical = ["week_block", "jobcentre", "month", "sex"]
    _statsmodels_coefficients(frame, res, categorical)
