"""Edge cases of the data path: each has a documented result or a clear error, never a crash.

Issue "Validation harness", item 3. Hand-built studies are tiny; synthetic ones use small
``n_spells`` so that the whole file runs in well under a minute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sofeval.analyses import estimate_effects, first_meetings, jobcentre_effects, meeting_shares
from sofeval.cli import main
from sofeval.data import read_study_dir, simulate, validate_study
from sofeval.errors import ContractError, EstimationError, SofevalError
from sofeval.panel import StudyDesign, build_panel

CLUSTER_ONLY = ("cluster",)
PROGRAMME = pd.DataFrame(
    {"jobcentre": ["Vejle"], "start": ["2017-10-01"], "end": ["2018-12-31"]}
)


def _spells(rows: list[tuple[str, str, str, str | None, str]]) -> pd.DataFrame:
    """Spells from (spell_id, jobcentre, absence_start, benefit_end, exit_state)."""
    frame = pd.DataFrame(
        rows, columns=["spell_id", "jobcentre", "absence_start", "benefit_end", "exit_state"]
    )
    frame.insert(1, "person_id", "P" + frame["spell_id"])
    return frame


def _synthetic(n: int = 5000, seed: int = 5, scenario: str = "homogeneous"):
    sim = simulate(scenario, n_spells=n, seed=seed, progress=False)
    study = validate_study(
        sim.spells, sim.meetings, sim.interventions, sim.programme, sim.monitoring
    )
    return sim, study


@pytest.fixture(scope="module")
def small():
    return _synthetic()


def _exit_week(spells: pd.DataFrame) -> pd.Series:
    return (spells["benefit_end"] - spells["absence_start"]).dt.days // 7 + 1


# --- identification per jobcentre -------------------------------------------------------


def test_jobcentre_without_events_in_a_phase_is_flagged(small):
    """No early (weeks 1-7) exits to employment in Vejle: ex-ante effect flagged, NaN."""
    sim, _ = small
    sp = sim.spells.copy()
    early = (sp["jobcentre"] == "Vejle") & (sp["exit_state"] == "employment") & (
        _exit_week(sp) <= 7
    )
    assert early.any()
    sp.loc[early, "exit_state"] = "unemployment"
    study = validate_study(sp, sim.meetings, sim.interventions, sim.programme)
    res = jobcentre_effects(study, placebo=False)
    row = res.table.set_index(["jobcentre", "estimand"]).loc[("Vejle", "ex_ante")]
    assert row["flag"].startswith("not identified")
    assert "no events" in row["flag"]
    assert np.isnan(row["coef"]) and np.isnan(row["se"])
    assert row["n_events"] == 0
    # Vejle's programme phase has 2 treated spells, both exiting: near-perfect prediction
    # (coefficient ~24, SE ~1e5 before the flag), reported as not identified, not a number
    late = res.table.set_index(["jobcentre", "estimand"]).loc[("Vejle", "programme")]
    assert late["flag"] == "not identified: near-perfect prediction" and np.isnan(late["coef"])
    # the other jobcentres are still estimated
    kolding = res.table.set_index(["jobcentre", "estimand"]).loc[("Kolding", "programme")]
    assert kolding["flag"] == "" and np.isfinite(kolding["coef"])


def test_programme_jobcentre_without_spells_is_flagged(small):
    """A programme jobcentre with no spells keeps its rows, flagged as not identified.

    The published table lists every programme jobcentre, so a window without data shows
    up as "not identified: no treated person-weeks" with NaN estimates.
    """
    sim, _ = small
    prog = pd.concat(
        [sim.programme, pd.DataFrame({"jobcentre": ["Ærø"], "start": [pd.Timestamp("2017-10-01")],
                                      "end": [pd.Timestamp("2018-12-31")]})],
        ignore_index=True,
    )
    sp = sim.spells[sim.spells["jobcentre"] != "Ærø"]
    study = validate_study(sp, None, None, prog)
    res = jobcentre_effects(study, placebo=False)
    rows = res.table[res.table["jobcentre"] == "Ærø"]
    assert len(rows) == 2
    assert rows["flag"].str.startswith("not identified").all() and rows["coef"].isna().all()
    assert (rows["n_spells"] == 0).all()
    assert set(sim.programme["jobcentre"]) <= set(res.table["jobcentre"])


# --- degenerate samples -----------------------------------------------------------------


def test_all_spells_censored_raises_estimation_error():
    sp = _spells(
        [
            ("1", "Vejle", "2018-01-03", None, "censored"),
            ("2", "Aarhus", "2018-02-03", "2018-06-01", "censored"),
            ("3", "Vejle", "2016-05-03", None, "censored"),
        ]
    )
    study = validate_study(sp, programme=PROGRAMME)
    with pytest.raises(EstimationError, match="no exit to employment"):
        estimate_effects(study, inference=CLUSTER_ONLY)


def test_single_spell_validates_and_estimation_raises_clear_error():
    sp = _spells([("1", "Vejle", "2018-01-03", "2018-03-01", "employment")])
    study = validate_study(sp, programme=PROGRAMME)
    assert len(study.spells) == 1
    panel = build_panel(study)
    assert panel.data["event"].sum() == 1
    with pytest.raises(SofevalError) as info:
        estimate_effects(study, inference=CLUSTER_ONLY)
    assert str(info.value)  # a message, not a bare exception


@pytest.mark.parametrize("kind", ["never_exit", "exit_first_week"])
def test_perfect_prediction_of_a_covariate_level(small, kind):
    """A covariate level that predicts the outcome perfectly: NaN for that level only.

    The separated nuisance level is recorded in ``fit.separated`` and reported as NaN
    (no warning: nuisance separation is routine, see ``sofeval.analyses.fit_cells``); the
    programme effects stay finite.
    """
    sim, _ = small
    sp = sim.spells.copy()
    level = sp.index[:150]
    sp["sector"] = sp["sector"].astype(object)
    sp.loc[level, "sector"] = "offshore"
    if kind == "never_exit":  # ongoing spells stay censored (rule ongoing_not_censored)
        ongoing = sp.loc[level, "benefit_end"].isna()
        sp.loc[level, "exit_state"] = np.where(ongoing, "censored", "unemployment")
    else:  # every spell of the level exits to employment in its first week at risk
        start = sp.loc[level, "benefit_start"]
        sp.loc[level, "benefit_end"] = start
        sp.loc[level, "exit_state"] = "employment"
    study = validate_study(sp, None, None, sim.programme)
    eff = estimate_effects(study, covariates=["sector"], inference=CLUSTER_ONLY)
    params = eff.params.set_index("term")
    assert np.isnan(params.loc["sector[offshore]", "coef"])
    assert "sector[offshore]" in eff.fit.separated
    assert np.isfinite(eff.table["coef"]).all() and np.isfinite(eff.table["se"]).all()
    assert np.isfinite(params.loc["sector[public]", "coef"])


# --- dates and durations ----------------------------------------------------------------


def test_extreme_dates_are_handled_and_pre_programme_spells_untreated():
    sp = _spells(
        [
            ("old", "Vejle", "1900-01-01", "1900-03-01", "employment"),
            ("far", "Vejle", "2100-01-01", "2100-02-15", "employment"),
            ("long", "Vejle", "2018-01-01", "2099-12-31", "employment"),
            ("in", "Vejle", "2018-03-01", "2018-05-01", "employment"),
        ]
    )
    study = validate_study(sp, programme=PROGRAMME)
    panel = build_panel(study)
    d = panel.data.groupby("spell_id", observed=True)["D"].max()
    assert d["old"] == 0 and d["far"] == 0 and d["in"] == 1
    months = panel.data.groupby("spell_id", observed=True)["month"].min()
    assert months["old"] == 1900 * 12 and months["far"] == 2100 * 12
    # benefit_end 81 years later: followed to max_weeks and censored there
    rows = panel.data[panel.data["spell_id"] == "long"]
    assert rows["week"].max() == 52 and rows["event"].sum() == 0
    assert panel.data.loc[panel.data["spell_id"] == "old", "event"].sum() == 1


def test_ten_year_spell_is_capped_and_censored():
    sp = _spells(
        [
            ("ten", "Aarhus", "2010-01-04", "2020-01-06", "employment"),
            ("short", "Aarhus", "2010-02-01", "2010-03-01", "employment"),
        ]
    )
    study = validate_study(sp, programme=PROGRAMME)
    panel = build_panel(study)
    rows = panel.data[panel.data["spell_id"] == "ten"]
    assert len(rows) == 52 and rows["week"].max() == 52 and rows["event"].sum() == 0
    audit = panel.audit.summary.set_index("item")["value"]
    assert audit["censored"] == 1 and audit["exits_employment"] == 1
    capped = build_panel(study, StudyDesign(max_weeks=20))
    assert capped.data.groupby("spell_id", observed=True).size()["ten"] == 20


def test_ongoing_spell_with_exit_state_employment():
    """An ongoing spell (no benefit_end) labelled employment is not silently censored: it
    breaks rule ongoing_not_censored, and drop mode drops it with an audit row."""
    sp = _spells(
        [
            ("ongoing", "Vejle", "2018-06-04", None, "employment"),
            ("closed", "Vejle", "2018-01-01", "2018-07-30", "employment"),
        ]
    )
    with pytest.raises(ContractError) as info:
        validate_study(sp, programme=PROGRAMME)
    assert (info.value.rule, info.value.rows) == ("ongoing_not_censored", ("ongoing",))
    study = validate_study(sp, programme=PROGRAMME, invalid="drop")
    assert list(study.spells["spell_id"]) == ["closed"]
    assert study.audit[["row_id", "rule"]].values.tolist() == [["ongoing", "ongoing_not_censored"]]


# --- meetings -----------------------------------------------------------------------------


def test_duplicated_meeting_rows_count_once(small):
    sim, study = small
    doubled = pd.concat([sim.meetings, sim.meetings.iloc[: len(sim.meetings) // 2]],
                        ignore_index=True)
    study2 = validate_study(sim.spells, doubled, sim.interventions, sim.programme)
    fm1, fm2 = first_meetings(study), first_meetings(study2)
    pd.testing.assert_frame_equal(fm1, fm2)
    s1 = meeting_shares(study, source="meetings")
    s2 = meeting_shares(study2, source="meetings")
    pd.testing.assert_frame_equal(s1, s2)
    p1, p2 = build_panel(study), build_panel(study2)
    assert (p1.data["met_workplace"].to_numpy() == p2.data["met_workplace"].to_numpy()).all()


# --- non-ASCII jobcentre names end to end -------------------------------------------------


def test_non_ascii_jobcentres_round_trip_and_cli(tmp_path):
    sim = simulate("report", n_spells=3000, seed=8, n_jobcentres=30, progress=False)
    sp = sim.spells.copy()
    other = sp.loc[~sp["jobcentre"].isin(sim.programme["jobcentre"]), "jobcentre"]
    sp["jobcentre"] = sp["jobcentre"].replace({other.value_counts().index[0]: "Ærø"})
    names = {"Tårnby/Dragør", "Ærø"}
    assert names <= set(sp["jobcentre"])
    data = tmp_path / "data"
    data.mkdir()
    for name, frame in (("spells", sp), ("programme", sim.programme),
                        ("meetings", sim.meetings), ("interventions", sim.interventions)):
        frame.to_csv(data / f"{name}.csv", index=False, date_format="%Y-%m-%d",
                     encoding="utf-8")
    raw = (data / "spells.csv").read_bytes().decode("utf-8")
    assert "Tårnby/Dragør" in raw and "Ærø" in raw
    study = read_study_dir(data)
    assert names <= set(study.spells["jobcentre"])
    panel = build_panel(study)
    assert names <= set(panel.data["jobcentre"].cat.categories)
    eff = estimate_effects(study, inference=CLUSTER_ONLY)
    assert {"jobcentre[Ærø]", "jobcentre[Tårnby/Dragør]"} & set(eff.params["term"])
    out = tmp_path / "out"
    args = ["run", "--spells", str(data / "spells.csv"), "--programme",
            str(data / "programme.csv"), "--meetings", str(data / "meetings.csv"),
            "--interventions", str(data / "interventions.csv"),
            "--bootstrap-draws", "9", "--ri-draws", "9", "--out", str(out)]
    assert main(args) == 0
    text = (out / "jobcentre_effects.csv").read_bytes().decode("utf-8")
    assert "Tårnby/Dragør" in text
    jc = pd.read_csv(out / "jobcentre_effects.csv", encoding="utf-8")
    assert "Tårnby/Dragør" in set(jc["jobcentre"])
