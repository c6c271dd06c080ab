from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from matplotlib.figure import Figure

from sofeval.analyses import (
    MonitoringResult,
    aggregate_shares,
    first_meetings,
    half_year_label,
    link_mediator,
    measure_did,
    measure_shares,
    meeting_shares,
    success_criteria,
)
from sofeval.data import StudyData
from sofeval.errors import ContractError, NotIdentifiedWarning, OptionError, SofevalError

#: PanelOLS (absorbed effects) and statsmodels (explicit dummies) solve the same normal
#: equations; differences are floating-point only.
OLS_EQUALITY_TOL = 1e-8
#: The simulated DiD estimate must lie within this many standard errors of the truth.
DID_SE_BAND = 3.0

T = pd.Timestamp


def _spells() -> pd.DataFrame:
    rows = [
        # spell, jobcentre, absence_start, benefit_end, visitation
        ("s1", "A", "2018-01-01", "2018-06-30", 2),
        ("s2", "A", "2018-01-05", None, 1),
        ("s3", "A", "2018-01-10", "2018-06-30", 3),
        ("s4", "B", "2018-01-03", "2018-06-30", 2),
        ("s5", "B", "2018-01-15", "2018-06-30", 3),
        ("s6", "B", "2018-02-01", "2018-06-30", 2),
        ("s7", "B", "2018-01-08", "2018-06-30", 1),
        ("s8", "C", "2018-01-02", "2018-06-30", 2),
        ("s9", "C", "2018-01-02", "2018-01-20", 2),
    ]
    df = pd.DataFrame(rows, columns=["spell_id", "jobcentre", "absence_start", "benefit_end",
                                     "visitation_category"])
    df["person_id"] = "p" + df["spell_id"]
    df["absence_start"] = pd.to_datetime(df["absence_start"])
    df["benefit_start"] = df["absence_start"]
    df["benefit_end"] = pd.to_datetime(df["benefit_end"])
    df["exit_state"] = np.where(df["benefit_end"].isna(), "censored", "employment")
    return df


def _meetings() -> pd.DataFrame:
    rows = [
        ("s1", "2018-02-10", "jobcentre"),
        ("s1", "2018-02-10", "workplace"),  # tie on the earliest date: workplace wins
        ("s1", "2018-03-01", "phone"),
        ("s2", "2018-02-12", "phone"),
        ("s2", "2018-02-12", "phone"),  # duplicated row
        ("s3", "2018-02-20", "workplace"),
        ("s3", "2018-02-20", "workplace"),  # duplicated row
        ("s4", "2018-02-05", "digital"),
        ("s4", "2018-01-30", "jobcentre"),  # earlier, listed later
        ("s5", "2018-02-25", "workplace"),
        ("s6", "2018-03-10", "workplace"),
        ("s7", "2018-02-14", "jobcentre"),
        ("s8", "2018-02-01", "other"),
        ("zz", "2018-02-01", "workplace"),  # unknown spell: ignored
    ]
    df = pd.DataFrame(rows, columns=["spell_id", "date", "location"])
    df["date"] = pd.to_datetime(df["date"])
    return df


def _interventions() -> pd.DataFrame:
    rows = [
        ("s1", "2018-02-25", "2018-03-10", "internship"),
        ("s2", "2018-01-20", "2018-02-10", "graded_return"),
        ("s3", "2018-04-20", None, "wage_subsidy"),
        ("s4", "2018-01-20", None, "graded_return"),
    ]
    df = pd.DataFrame(rows, columns=["spell_id", "start", "end", "type"])
    df["start"] = pd.to_datetime(df["start"])
    df["end"] = pd.to_datetime(df["end"])
    return df


def _programme() -> pd.DataFrame:
    return pd.DataFrame(
        {"jobcentre": ["A", "B"], "start": pd.to_datetime(["2018-01-01", "2018-03-01"]),
         "end": pd.to_datetime(["2018-12-31", "2018-12-31"])}
    )


def _monitoring() -> pd.DataFrame:
    return pd.DataFrame(
        {"jobcentre": ["A", "A", "B"], "month": ["2018-02", "2018-08", "2018-09"],
         "first_meetings": [10, 20, 5], "workplace_meetings": [7, 10, 5]}
    )


@pytest.fixture
def study() -> StudyData:
    return StudyData(spells=_spells(), meetings=_meetings(), interventions=_interventions(),
                     programme=_programme())


@pytest.fixture
def study_mon(study: StudyData) -> StudyData:
    return StudyData(spells=study.spells, meetings=study.meetings,
                     interventions=study.interventions, programme=study.programme,
                     monitoring=_monitoring())


def _m(label: str) -> int:
    y, m = label.split("-")
    return 12 * int(y) + int(m) - 1


def _row(frame: pd.DataFrame, **keys: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        mask &= (frame[k] == v).to_numpy()
    assert mask.sum() == 1, keys
    return frame[mask].iloc[0]


# --- first meetings and shares -------------------------------------------------------------


def test_first_meetings_by_hand(study: StudyData) -> None:
    fm = first_meetings(study).set_index("spell_id")
    assert sorted(fm.index) == ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"]
    assert fm.loc["s1", "location"] == "workplace"  # tie broken by MEETING_LOCATIONS
    assert fm.loc["s1", "date"] == T("2018-02-10")
    assert fm.loc["s1", "week"] == 6  # 40 days after absence start
    assert fm.loc["s4", "date"] == T("2018-01-30")
    assert fm.loc["s4", "location"] == "jobcentre"
    assert fm.loc["s4", "month"] == _m("2018-01")
    assert fm["workplace"].to_dict() == {
        "s1": 1, "s2": 0, "s3": 1, "s4": 0, "s5": 1, "s6": 1, "s7": 0, "s8": 0
    }
    assert fm.loc["s3", "visitation_category"] == 3


def test_meeting_shares_by_hand(study: StudyData) -> None:
    sh = meeting_shares(study)
    got = {(r.jobcentre, r.month_label): (r.first_meetings, r.workplace_meetings)
           for r in sh.itertuples()}
    assert got == {
        ("A", "2018-02"): (3, 2),  # duplicated s2/s3 rows counted once
        ("B", "2018-01"): (1, 0),
        ("B", "2018-02"): (2, 1),
        ("B", "2018-03"): (1, 1),
        ("C", "2018-02"): (1, 0),
    }
    assert _row(sh, jobcentre="A", month_label="2018-02")["share"] == pytest.approx(2 / 3)
    assert sh["month"].dtype == np.int32
    assert set(sh["source"]) == {"meetings"}


def test_visitation_filter(study: StudyData) -> None:
    sh = meeting_shares(study, visitation=(2, 3))
    got = {(r.jobcentre, r.month_label): (r.first_meetings, r.workplace_meetings)
           for r in sh.itertuples()}
    assert got == {
        ("A", "2018-02"): (2, 2),
        ("B", "2018-01"): (1, 0),
        ("B", "2018-02"): (1, 1),
        ("B", "2018-03"): (1, 1),
        ("C", "2018-02"): (1, 0),
    }


def test_monitoring_override_replaces_exactly_covered(study_mon: StudyData,
                                                      study: StudyData) -> None:
    auto = meeting_shares(study_mon)
    base = meeting_shares(study)
    got = {(r.jobcentre, r.month_label): (r.first_meetings, r.workplace_meetings, r.source)
           for r in auto.itertuples()}
    assert got == {
        ("A", "2018-02"): (10, 7, "monitoring"),  # replaced
        ("A", "2018-08"): (20, 10, "monitoring"),  # added
        ("B", "2018-09"): (5, 5, "monitoring"),  # added
        ("B", "2018-01"): (1, 0, "meetings"),
        ("B", "2018-02"): (2, 1, "meetings"),
        ("B", "2018-03"): (1, 1, "meetings"),
        ("C", "2018-02"): (1, 0, "meetings"),
    }
    uncovered = auto[auto["source"] == "meetings"].drop(columns="source").reset_index(drop=True)
    expect = base[base["jobcentre"] != "A"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(uncovered, expect)
    only_mon = meeting_shares(study_mon, source="monitoring")
    assert len(only_mon) == 3 and set(only_mon["source"]) == {"monitoring"}
    assert meeting_shares(study_mon, source="meetings").equals(base)
    # a visitation filter cannot use monitoring counts: auto falls back to meetings
    assert meeting_shares(study_mon, visitation=(2, 3)).equals(
        meeting_shares(study, visitation=(2, 3)))


def test_errors(study: StudyData, study_mon: StudyData) -> None:
    with pytest.raises(SofevalError, match="monitoring"):
        meeting_shares(study, source="monitoring")
    with pytest.raises(OptionError):
        meeting_shares(study_mon, source="monitoring", visitation=(2, 3))
    with pytest.raises(OptionError, match="'auto'"):
        meeting_shares(study, source="register")  # type: ignore[arg-type]
    no_visit = StudyData(spells=study.spells.drop(columns="visitation_category"),
                         meetings=study.meetings)
    with pytest.raises(ContractError, match="visitation_category"):
        meeting_shares(no_visit, visitation=(2, 3))
    bad = StudyData(spells=study.spells, meetings=study.meetings,
                    monitoring=_monitoring().assign(month=["2018-02", "2018-02", "x"]))
    with pytest.raises(ContractError):
        meeting_shares(bad)
    with pytest.raises(OptionError):
        measure_shares(study, weeks=(13, 8))


# --- link and measures -------------------------------------------------------------------


def test_link_mediator_uses_week8_month(study: StudyData) -> None:
    sh = meeting_shares(study)
    sp = study.spells.set_index("spell_id", drop=False)
    med = link_mediator(sp, sh)
    assert med.index.equals(sp.index) and med.name == "share"
    # s5: first meeting in Feb (B Feb share 0.5), week-8 date 2018-03-05 -> B March share 1.0
    assert med["s5"] == pytest.approx(1.0)
    # s4: week-8 date 2018-02-21 -> B Feb share 0.5
    assert med["s4"] == pytest.approx(0.5)
    assert med["s1"] == pytest.approx(2 / 3)
    # s6: week-8 date 2018-03-22 -> B March
    assert med["s6"] == pytest.approx(1.0)
    # C Feb has data (0.0); no jobcentre-month without data among these, so add one
    late = sp.loc[["s8"]].assign(absence_start=T("2018-05-01"))
    assert np.isnan(link_mediator(late, sh).iloc[0])
    with pytest.raises(ContractError):
        link_mediator(sp, pd.concat([sh, sh]))


def test_measure_shares_by_hand(study: StudyData) -> None:
    ms = measure_shares(study, weeks=(8, 13))
    got = {(r.jobcentre, r.month_label): (r.n_spells, r.n_measure) for r in ms.itertuples()}
    assert got == {
        ("A", "2018-02"): (3, 1),  # s1 active in weeks 8-13; s2 ended before; s3 starts after
        ("B", "2018-02"): (2, 1),  # s4 ongoing intervention, s7 none
        ("B", "2018-03"): (2, 0),  # s5, s6
        ("C", "2018-02"): (1, 0),  # s9 left benefit before week 8
    }
    assert _row(ms, jobcentre="A", month_label="2018-02")["share"] == pytest.approx(1 / 3)
    # linked by the first day of week 8 instead: s5 (2018-03-05) and s6 stay in March
    ws = measure_shares(study, weeks=(8, 13), link="week_start")
    assert ws["n_spells"].sum() == ms["n_spells"].sum()
    # weeks 1-13: s2 (intervention ended in week 6) and s9 now count
    w1 = measure_shares(study, weeks=(1, 13))
    a = _row(w1, jobcentre="A", month_label="2018-02")
    assert (a["n_spells"], a["n_measure"]) == (3, 2)
    assert w1["n_spells"].sum() == 9


# --- success criteria ----------------------------------------------------------------------


def test_half_year_label() -> None:
    s = pd.Series([_m("2018-01"), _m("2018-06"), _m("2018-07"), _m("2017-12")])
    assert half_year_label(s).tolist() == ["2018H1", "2018H1", "2018H2", "2017H2"]


def test_success_criteria_aggregation_by_hand(study_mon: StudyData) -> None:
    with pytest.warns(NotIdentifiedWarning):  # D is absorbed in this tiny example
        res = success_criteria(study_mon, target=0.70, min_count=5)
    assert np.isnan(res.did["coef"].iloc[0])
    assert isinstance(res, MonitoringResult)
    bm = res.by_month
    a2 = _row(bm, jobcentre="A", month_label="2018-02")
    assert (a2["first_meetings"], a2["workplace_meetings"]) == (10, 7)
    assert a2["share_v23"] == pytest.approx(1.0)  # v23 from meetings: s1, s3 at workplace
    assert bool(a2["meets_target"]) and bool(a2["in_window"])
    assert pd.isna(_row(bm, jobcentre="B", month_label="2018-03")["meets_target"])  # 1 < 5
    assert not bool(_row(bm, jobcentre="B", month_label="2018-02")["in_window"])
    assert not bool(_row(bm, jobcentre="C", month_label="2018-02")["programme"])

    bh = res.by_half_year
    expect = {
        ("A", "2018H1"): (10, 7, 1, 1),
        ("A", "2018H2"): (20, 10, 1, 1),
        ("B", "2018H1"): (4, 2, 3, 1),
        ("B", "2018H2"): (5, 5, 1, 1),
        ("C", "2018H1"): (1, 0, 1, 0),
    }
    got = {(r.jobcentre, r.half_year): (r.first_meetings, r.workplace_meetings, r.n_months,
                                        r.n_months_in_window) for r in bh.itertuples()}
    assert got == expect
    assert _row(bh, jobcentre="A", half_year="2018H2")["share"] == pytest.approx(0.5)
    assert _row(bh, jobcentre="B", half_year="2018H1")["share_v23"] == pytest.approx(2 / 3)

    ov = res.overall.set_index("period")
    assert list(ov.index) == ["2018H1", "2018H2", "overall"]
    # in-window programme months: H1 = A Feb (10, 7) + B Mar (1, 1); H2 = A Aug + B Sep
    assert ov.loc["2018H1", "share"] == pytest.approx(8 / 11)
    assert ov.loc["2018H2", "share"] == pytest.approx(15 / 25)
    assert ov.loc["overall", "share"] == pytest.approx(23 / 36)
    assert ov.loc["overall", "n_jobcentres"] == 2
    assert ov.loc["2018H1", "n_months_at_target"] == 1  # A Feb; B Mar below min_count

    meas = res.measures
    assert meas["n_spells"].sum() == 9
    b = _row(meas, jobcentre="B", half_year="2018H1", D=1)  # s5, s6
    assert (b["n_spells"], b["n_measure"]) == (2, 0)

    assert res.to_frame().equals(res.by_month)
    text = res.summary()
    assert "70%" in text and "pp" in text
    assert "<table" in res._repr_html_()
    fig = res.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 + 1 + 1  # A, B thin, pooled thick, target
    assert ax.lines[-1].get_linestyle() == "--"
    assert fig.canvas.manager is None  # drawn without pyplot state


# --- difference-in-differences ---------------------------------------------------------------


def _did_study(seed: int, effect: float) -> tuple[StudyData, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_jc, n_months, per_cell = 20, 30, 25
    jc = np.repeat(np.arange(n_jc), n_months * per_cell)
    month = np.tile(np.repeat(np.arange(n_months), per_cell), n_jc)
    start = pd.Timestamp("2016-11-01") + pd.to_timedelta(month * 30 + rng.integers(0, 20, jc.size),
                                                          unit="D")
    names = np.array([f"J{j:02d}" for j in range(n_jc)])
    w8 = start + pd.Timedelta(days=49)
    programme = jc < 10
    d = programme & (w8 >= pd.Timestamp("2018-01-01")) & (w8 <= pd.Timestamp("2018-12-31"))
    p = 0.15 + 0.01 * jc + 0.05 * np.sin(month / 3.0) + effect * d
    y = rng.random(jc.size) < p
    ids = np.array([f"s{i}" for i in range(jc.size)])
    spells = pd.DataFrame({
        "spell_id": ids, "person_id": ids, "jobcentre": names[jc], "absence_start": start,
        "benefit_start": start, "benefit_end": start + pd.Timedelta(days=150),
        "exit_state": "employment",
    })
    iv = pd.DataFrame({"spell_id": ids[y], "start": start[y] + pd.Timedelta(days=30),
                       "end": start[y] + pd.Timedelta(days=70), "type": "internship"})
    prog = pd.DataFrame({"jobcentre": names[:10], "start": pd.Timestamp("2018-01-01"),
                         "end": pd.Timestamp("2018-12-31")})
    truth = pd.DataFrame({"y": y.astype(float), "D": d.astype(float), "jc": names[jc],
                          "m": (w8.year * 12 + w8.month).to_numpy()})
    return StudyData(spells=spells, interventions=iv, programme=prog), truth


def test_did_recovers_known_effect_and_matches_ols() -> None:
    study, truth = _did_study(seed=20240501, effect=0.10)
    did = measure_did(study, weeks=(1, 13))
    r = did.iloc[0]
    assert r["n_spells"] == len(truth)
    assert abs(r["coef"] - 0.10) < DID_SE_BAND * r["se"]
    assert r["coef_pp"] == pytest.approx(100 * r["coef"])
    assert r["ci_low"] < r["coef"] < r["ci_high"]
    ols = smf.ols("y ~ D + C(jc) + C(m)", data=truth).fit()
    assert abs(ols.params["D"] - r["coef"]) < OLS_EQUALITY_TOL
    # reference: linearmodels PanelOLS on the spells themselves (sofeval fits the cells)
    from linearmodels import PanelOLS

    ref_data = truth.assign(
        spell=np.arange(len(truth)), jcc=pd.Categorical(truth["jc"]).codes.astype("int64")
    ).set_index(["spell", "m"])
    ref = PanelOLS(ref_data["y"], ref_data[["D"]], time_effects=True,
                   other_effects=ref_data[["jcc"]]).fit(cov_type="clustered",
                                                          clusters=ref_data[["jcc"]])
    ref_ci = ref.conf_int().loc["D"]
    assert r["coef"] == pytest.approx(ref.params["D"], rel=1e-9)
    assert r["se"] == pytest.approx(ref.std_errors["D"], rel=1e-9)
    assert r["p_value"] == pytest.approx(ref.pvalues["D"], rel=1e-7)
    assert r["ci_low"] == pytest.approx(ref_ci["lower"], rel=1e-8)
    assert r["ci_high"] == pytest.approx(ref_ci["upper"], rel=1e-8)
    # the success-criteria result carries the same DiD
    res = success_criteria(study)
    assert res.did["coef"].iloc[0] == pytest.approx(r["coef"], abs=1e-12)


def test_did_null_effect_is_not_the_simulated_effect() -> None:
    study, _ = _did_study(seed=7, effect=0.0)
    r = measure_did(study).iloc[0]
    assert abs(r["coef"]) < DID_SE_BAND * r["se"]
    assert abs(r["coef"] - 0.10) > DID_SE_BAND * r["se"]


def test_months_at_target_is_a_count_even_when_every_count_is_below_two() -> None:
    # a per-group lambda let pandas cast 0/1 counts back to the boolean flag's dtype
    frame = pd.DataFrame({
        "jobcentre": ["A", "A", "B", "B"], "month": [1, 2, 1, 2],
        "in_window": [True, True, True, True],
        "first_meetings": [10, 10, 10, 10], "workplace_meetings": [8, 1, 2, 1],
        "first_meetings_v23": [0, 0, 0, 0], "workplace_meetings_v23": [0, 0, 0, 0],
        "meets_target": pd.array([True, False, pd.NA, False], dtype="boolean"),
    })
    out = aggregate_shares(frame, ["jobcentre"], 0.7, 5)
    assert out["n_months_at_target"].dtype == np.int64
    assert out["n_months_at_target"].tolist() == [1, 0]
