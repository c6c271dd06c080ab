"""The results objects of the SOF analyses share one presentation (models.ResultsBase).

Every results class gives a tidy copy of its table, a text summary, an HTML view and a
``plot()`` that returns a matplotlib Figure drawn without pyplot state; the numbers in
the summaries are those of the tables.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from sofeval.analyses import (
    EFFECT_COLUMNS,
    ESTIMANDS,
    JOBCENTRE_COLUMNS,
    DoseResponseResult,
    EffectsResult,
    FrailtyResult,
    JobcentreEffectsResult,
    MonitoringResult,
    dose_response,
    effect_rows,
    estimate_effects,
    fit_npmle_frailty,
    hazard_frame,
    jobcentre_effects,
    km_frame,
    sof_cells,
    success_criteria,
)
from sofeval.data import simulate, validate_study
from sofeval.models import ResultsBase, wald_table

#: The summary prints 4 decimals: a printed value is within half a unit of the last digit.
PRINT_TOL = 5e-5

@pytest.fixture(scope="module")
def study():
    sim = simulate("homogeneous", n_spells=4_000, seed=13, progress=False)
    return validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                          sim.monitoring)


@pytest.fixture(scope="module")
def results(study):
    sc = sof_cells(study, progress=False)
    return {
        "effects": estimate_effects(sc, inference=("cluster",)),
        "jobcentres": jobcentre_effects(sc, placebo=False),
        "dose": dose_response(study, progress=False),
        "monitoring": success_criteria(study),
        "frailty": fit_npmle_frailty(study, n_points=1),
    }


@pytest.mark.parametrize("name", ["effects", "jobcentres", "dose", "monitoring", "frailty"])
def test_every_result_shares_the_presentation(results, name):
    res = results[name]
    assert isinstance(res, ResultsBase)
    frame = res.to_frame()
    pd.testing.assert_frame_equal(res.tidy(), frame)
    frame.iloc[:, 0] = None  # a copy: the result is not changed through it
    assert res.to_frame().iloc[:, 0].notna().all()
    assert str(res) == res.summary()
    assert "<table" in res._repr_html_()
    fig = res.plot()
    assert isinstance(fig, Figure)
    assert fig.canvas.manager is None  # not registered with pyplot
    assert fig.axes


def test_result_types(results):
    assert isinstance(results["effects"], EffectsResult)
    assert isinstance(results["jobcentres"], JobcentreEffectsResult)
    assert isinstance(results["dose"], DoseResponseResult)
    assert isinstance(results["monitoring"], MonitoringResult)
    assert isinstance(results["frailty"], FrailtyResult)


def test_effects_summary_text(results):
    """The text printed by ``sofeval run``: heading, sizes, and the table with % change."""
    eff = results["effects"]
    lines = eff.summary().splitlines()
    assert lines[0] == ("SOF programme effects: discrete-time hazard of exit to employment "
                        "(cloglog link)")
    assert lines[1] == (f"person-weeks {eff.n_person_weeks:,}, cells {eff.n_cells:,}, "
                        f"clusters (jobcentres) {eff.n_clusters}")
    assert lines[3].split() == [EFFECT_COLUMNS[0], *EFFECT_COLUMNS[1:4], "pct_change",
                                *EFFECT_COLUMNS[4:]]
    for line, est in zip(lines[4:], ESTIMANDS, strict=True):
        row = eff.table.set_index("estimand").loc[est]
        values = line.split()
        assert values[0] == est
        assert float(values[1]) == pytest.approx(row["coef"], abs=PRINT_TOL)
        assert float(values[4]) == pytest.approx(100 * (row["hazard_ratio"] - 1), abs=PRINT_TOL)


def test_plots_draw_into_given_axes(results):
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert results["jobcentres"].plot(ax=list(axes)) is fig
    fig2 = Figure()
    ax = fig2.add_subplot()
    assert results["monitoring"].plot(ax=ax) is fig2


def test_effect_rows_are_the_wald_table_on_the_hazard_ratio_scale():
    coef, se = np.array([0.1, -0.3]), np.array([0.05, 0.2])
    rows = effect_rows(coef, se)
    ref = wald_table(coef, se, ci_scale="hazard_ratio")
    pd.testing.assert_frame_equal(rows, ref[list(rows.columns)])
    np.testing.assert_allclose(rows["ci_low"], np.exp(coef - stats.norm.ppf(0.975) * se))


def test_jobcentre_table_columns(results):
    assert tuple(results["jobcentres"].table.columns) == JOBCENTRE_COLUMNS


def test_descriptive_frames_count_the_cells(study):
    sc = sof_cells(study, progress=False)
    haz = hazard_frame(sc)
    f = sc.cells.frame
    assert haz["at_risk"].sum() == f["at_risk"].sum()
    assert haz["event"].sum() == f["event"].sum()
    km = km_frame(sc)
    assert km["n"].sum() == len(sc.spells)
    assert set(km["group"].str.split(", ").str[0]) <= {"Programme", "Comparison"}
