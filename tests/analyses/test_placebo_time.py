"""Placebo in time: the sample rule, the shifted windows, zero where nothing happened."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from presentation import assert_shared_presentation
from sofeval.analyses import PLACEBO_TIME_COLUMNS, placebo_study, placebo_time
from sofeval.data import WEEK8_OFFSET, simulate, validate_study
from sofeval.errors import EstimationError, OptionError
from sofeval.panel import StudyDesign

#: A placebo effect whose truth is zero lies within this many standard errors of it.
N_SE = 3.0





def _study(scenario: str, n: int, seed: int):
    sim = simulate(scenario, n_spells=n, seed=seed, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    return sim, study


@pytest.fixture(scope="module")
def homogeneous():
    return _study("homogeneous", 40_000, 21)


def test_sample_rule_and_windows(homogeneous):
    _, study = homogeneous
    new, design, w0, w1, dropped = placebo_study(study)
    real = pd.to_datetime(study.programme["start"]).min()
    w8 = pd.to_datetime(new.spells["absence_start"]) + WEEK8_OFFSET
    assert (w8 < real).all()
    assert dropped == len(study.spells) - len(new.spells) > 0
    assert design.data_end == study.data_end()  # censoring as in the full study
    shifted = pd.to_datetime(new.programme["start"])
    assert (shifted == pd.to_datetime(study.programme["start"]) - pd.DateOffset(months=12)).all()
    assert (w0, w1) == (pd.Timestamp("2016-10-01"), pd.Timestamp("2017-09-30"))
    assert new.meetings["spell_id"].isin(new.spells["spell_id"]).all()
    own, _, _, _, dropped_own = placebo_study(study, sample="before_own")
    comparison = ~own.spells["jobcentre"].isin(study.programme["jobcentre"])
    assert comparison.sum() == (~study.spells["jobcentre"].isin(
        study.programme["jobcentre"])).sum()  # comparison spells are all kept
    assert dropped_own < dropped


@pytest.fixture(scope="module")
def placebo(homogeneous):
    _, study = homogeneous
    return placebo_time(study, bootstrap_draws=199, seed=2)


def test_placebo_is_zero_where_the_programme_did_not_run(placebo):
    """`homogeneous` has real effects (0.05, 0.10) after the start and none before it."""
    res = placebo
    t = res.table
    assert tuple(t.columns) == PLACEBO_TIME_COLUMNS
    assert t["estimand"].tolist() == ["ex_ante", "programme"]
    assert (np.abs(t["coef"]) < N_SE * t["se"]).all(), t
    assert t["p_wild"].between(0, 1).all()
    assert (t["n_spells"] > 0).all() and (t["n_events"] > 0).all()
    assert t["window_start"].tolist() == ["2016-10-01"] * 2


def test_presentation(placebo):
    res = placebo
    assert_shared_presentation(res, res.table)
    assert res.title.startswith("Placebo in time: programme windows moved 12 months")
    assert isinstance(res.plot(), Figure)


def test_bad_options_are_refused(homogeneous):
    _, study = homogeneous
    with pytest.raises(OptionError, match="calendar"):
        placebo_study(study, StudyDesign(treatment="calendar"))
    with pytest.raises(OptionError, match="sample"):
        placebo_study(study, sample="everything")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="shift_months"):
        placebo_study(study, shift_months=0)
    with pytest.raises(EstimationError, match="data start too late"):
        placebo_study(study, shift_months=60)


# --------------------------------------------------------------------------------------
# Known truth: needs the `pretrend` scenario of sofeval.data.simulate (another branch)
# --------------------------------------------------------------------------------------


def test_placebo_rejects_under_a_pretrend():
    _, study = _study("pretrend", 60_000, 7)
    res = placebo_time(study, bootstrap_draws=199, seed=0)
    assert (res.table["p_value"] < 0.05).any(), res.table
    assert (res.table["p_wild"] < 0.05).any(), res.table
