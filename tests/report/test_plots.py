from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sofeval import report as plots
from sofeval.errors import OptionError, SofevalError


@pytest.fixture
def km_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entry_week": [1, 1, 5, 5, 5, 1, 5, 5, 1, 5],
            "last_week": [3, 6, 8, 10, 12, 4, 9, 20, 7, 15],
            "event": [1, 1, 0, 1, 1, 1, 1, 0, 1, 1],
            "group": ["Programme, during"] * 5 + ["Comparison, during"] * 5,
        }
    )


@pytest.fixture
def cells() -> pd.DataFrame:
    rows = [(w, g, 100, e) for g, es in (("A", (5, 8, 6)), ("B", (9, 7, 1))) for w, e in
            zip((1, 2, 3), es, strict=True)]
    return pd.DataFrame(rows, columns=["week", "group", "at_risk", "event"])


@pytest.fixture
def jc() -> pd.DataFrame:
    rows = []
    for est in ("ex_ante", "programme"):
        for j, hr, q, holm in (("Herning", 1.4, 0.01, 0.2), ("Vejle", 0.9, 0.5, 0.5),
                               ("Odder", 1.1, 0.2, 0.02)):
            rows.append(dict(jobcentre=j, estimand=est, hazard_ratio=hr, ci_low=hr / 1.3,
                             ci_high=hr * 1.3, p_holm=holm, q_bh=q, flag=""))
    df = pd.DataFrame(rows)
    df.loc[5, ["hazard_ratio", "ci_low", "ci_high"]] = np.nan
    df.loc[5, "flag"] = "not_identified"
    return df


@pytest.fixture
def dose() -> pd.DataFrame:
    return pd.DataFrame({"window": ["weeks_1_7", "weeks_8_plus"], "mediator": "share",
                         "coef": [0.13, 0.02], "se": [0.05, 0.04],
                         "pct_per_10pp": [1.3, 0.2], "ci_low_pct": [0.3, -0.6],
                         "ci_high_pct": [2.3, 1.0]})


@pytest.fixture
def monitoring() -> pd.DataFrame:
    rows = []
    for j in ("Herning", "Vejle"):
        for m, (f, w) in zip(("2018-01", "2018-02", "2018-03"), ((10, 3), (3, 1), (20, 10)),
                             strict=True):
            rows.append(dict(jobcentre=j, month_label=m, first_meetings=f, workplace_meetings=w,
                             share=w / f, in_window=True))
    rows.append(dict(jobcentre="Lejre", month_label="2018-01", first_meetings=10,
                     workplace_meetings=5, share=0.5, in_window=False))
    return pd.DataFrame(rows)


def test_style_is_local() -> None:
    import matplotlib as mpl

    before = mpl.rcParams["font.size"]
    with plots.style():
        assert mpl.rcParams["font.size"] == 9
    assert mpl.rcParams["font.size"] == before


def test_km_curves_one_line_per_group(km_frame: pd.DataFrame) -> None:
    fig = plots.km_curves(km_frame)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    # 1 - S is a cumulative share: non-decreasing from 0, within [0, 1]
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        assert y[0] == 0 and np.all(np.diff(y) >= -1e-12) and y.max() <= 1
    assert ax.get_xlabel() == plots.LABELS["en"]["spell_week"]


def test_km_curves_danish(km_frame: pd.DataFrame) -> None:
    fig = plots.km_curves(km_frame, lang="da")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Kumuleret andel afgået til beskæftigelse"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Programkommuner, under" in legend and "Sammenligning, under" in legend


def test_weekly_hazard_points_and_min_count(cells: pd.DataFrame) -> None:
    fig = plots.weekly_hazard(cells)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and all(len(ln.get_xdata()) == 3 for ln in lines)
    np.testing.assert_allclose(lines[0].get_ydata(), [0.05, 0.08, 0.06])
    hidden = plots.weekly_hazard(cells, min_count=5).axes[0].get_lines()[1].get_ydata()
    assert np.isnan(hidden[2]) and np.isfinite(hidden[:2]).all()
    assert plots.weekly_hazard(cells, lang="da").axes[0].get_ylabel() == (
        "Ugentlig afgangsrate til beskæftigelse")


def test_binomial_ci_matches_statsmodels_wilson() -> None:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = plots.binomial_ci(np.array([5, 0, 30]), np.array([100, 50, 40]))
    ref = proportion_confint([5, 0, 30], [100, 50, 40], method="wilson")
    np.testing.assert_allclose(lo, ref[0], atol=1e-12)
    np.testing.assert_allclose(hi, ref[1], atol=1e-12)


def _markers(ax: object) -> tuple[int, int]:
    filled = hollow = 0
    for ln in ax.get_lines():  # type: ignore[attr-defined]
        if ln.get_marker() == "o":
            n = len(ln.get_xdata())
            if ln.get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0)):
                hollow += n
            else:
                filled += n
    return filled, hollow


def test_forest_panels_markers_and_flags(jc: pd.DataFrame) -> None:
    fig = plots.forest(jc)
    assert len(fig.axes) == 2
    ea, pr = fig.axes
    assert ea.get_title() == "Ex ante (weeks 1–7)" and pr.get_title() == "Programme (week 8+)"
    assert _markers(ea) == (2, 1)  # Herning (q_bh) and Odder (p_holm) filled, Vejle hollow
    assert _markers(pr) == (1, 1)  # Odder flagged: drawn as text, not a point
    assert [t.get_text() for t in pr.texts] == ["not identified"]
    assert any(ln.get_xdata()[0] == 1.0 for ln in pr.get_lines() if ln.get_linestyle() == "--")
    da = plots.forest(jc, lang="da")
    assert da.axes[1].get_title() == "Programeffekt (uge 8+)"
    assert [t.get_text() for t in da.axes[1].texts] == ["ikke identificeret"]


def test_forest_wrong_number_of_axes(jc: pd.DataFrame) -> None:
    fig = Figure()
    with pytest.raises(OptionError, match="one axes per panel"):
        plots.forest(jc, ax=fig.add_subplot())


def test_dose_response_plot(dose: pd.DataFrame) -> None:
    fig = plots.dose_response_plot(dose)
    assert len(fig.axes) == 2
    effect, curve = fig.axes
    assert len(effect.collections[-1].get_offsets()) == 2
    assert len(curve.get_lines()) == 3  # two windows + reference line at 1
    np.testing.assert_allclose(curve.get_lines()[0].get_ydata()[-1], np.exp(0.13))
    only = plots.dose_response_plot(dose, kind="curve", lang="da")
    assert only.axes[0].get_xlabel() == "Andel første samtaler på arbejdspladsen"
    with pytest.raises(OptionError):
        plots.dose_response_plot(dose, kind="bars")  # type: ignore[arg-type]


def test_monitoring_plot(monitoring: pd.DataFrame) -> None:
    fig = plots.monitoring_plot(monitoring)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4  # 2 jobcentres in window, pooled, target
    pooled = lines[2]
    np.testing.assert_allclose(pooled.get_ydata(), [6 / 20, 2 / 6, 20 / 40])
    assert lines[3].get_ydata()[0] == pytest.approx(0.70)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Target 70 %" in [t.get_text() for t in ax.texts]  # labelled on the line
    assert "Programme jobcentres pooled" in legend
    hidden = plots.monitoring_plot(monitoring, min_count=5).axes[0].get_lines()[0].get_ydata()
    assert np.isnan(hidden[1])
    da = plots.monitoring_plot(monitoring, lang="da").axes[0]
    assert "Mål 70 %" in [t.get_text() for t in da.texts]
    assert da.get_ylabel() == "Andel første samtaler på arbejdspladsen"


def test_draws_into_given_axes(cells: pd.DataFrame) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.weekly_hazard(cells, ax=ax) is fig
    assert len(ax.get_lines()) == 2


def test_bad_inputs(cells: pd.DataFrame) -> None:
    with pytest.raises(OptionError, match="lang"):
        plots.weekly_hazard(cells, lang="de")  # type: ignore[arg-type]
    with pytest.raises(SofevalError, match="at_risk"):
        plots.weekly_hazard(cells.drop(columns="at_risk"))


def test_km_curves_from_counted_patterns_equal_the_spells(km_frame: pd.DataFrame) -> None:
    """Rows counted by a weight column give the same curves and bands as the spells."""
    spells = pd.concat([km_frame, km_frame.iloc[[0, 2, 3, 3, 6]]], ignore_index=True)
    counted = (
        spells.groupby(["group", "entry_week", "last_week", "event"]).size().rename("n")
        .reset_index()
    )
    assert len(counted) < len(spells)
    a = plots.km_curves(spells).axes[0]
    b = plots.km_curves(counted, weight="n").axes[0]
    for la, lb in zip(a.get_lines(), b.get_lines(), strict=True):
        np.testing.assert_allclose(la.get_xydata(), lb.get_xydata(), rtol=0, atol=1e-12)
    for pa_, pb in zip(a.collections, b.collections, strict=True):  # the confidence bands
        for qa, qb in zip(pa_.get_paths(), pb.get_paths(), strict=True):
            np.testing.assert_allclose(qa.vertices, qb.vertices, rtol=0, atol=1e-12)
