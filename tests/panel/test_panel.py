"""Tests of the weekly hazard panel (DESIGN.md §3): hand-computed cases and properties."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofeval.data import COMPETING_STATES, EXIT_STATES, StudyData
from sofeval.errors import ContractError, OptionError
from sofeval.panel import (
    AGE_LABELS,
    StudyDesign,
    bin_covariates,
    build_panel,
    event_columns,
    programme_windows,
    spell_frame,
    week_block,
)

BASE = pd.Timestamp("2018-01-01")
PROGRAMME = pd.DataFrame(
    {
        "jobcentre": ["A", "B"],
        "start": pd.to_datetime(["2017-10-01", "2017-10-01"]),
        "end": pd.to_datetime(["2018-12-31", "2018-03-31"]),  # B is Billund-like
    }
)


def day(n: int, base: pd.Timestamp = BASE) -> pd.Timestamp:
    return base + pd.Timedelta(days=n)


def make_study(
    rows: list[dict[str, object]],
    meetings: list[tuple[str, pd.Timestamp, str]] | None = None,
    interventions: list[tuple[str, pd.Timestamp, pd.Timestamp | None]] | None = None,
    programme: pd.DataFrame = PROGRAMME,
) -> StudyData:
    """A contract-form StudyData from a few hand-written spells."""
    spells = pd.DataFrame(rows)
    spells["spell_id"] = spells["spell_id"].astype(str)
    spells["person_id"] = spells.get("person_id", spells["spell_id"]).astype(str)
    if "jobcentre" not in spells:
        spells["jobcentre"] = "C"
    if "benefit_start" not in spells:
        spells["benefit_start"] = spells["absence_start"]
    for c in ("absence_start", "benefit_start", "benefit_end"):
        spells[c] = pd.to_datetime(spells[c]).astype("datetime64[ns]")
    m = pd.DataFrame(meetings or [], columns=["spell_id", "date", "location"])
    m["date"] = pd.to_datetime(m["date"]).astype("datetime64[ns]")
    iv = pd.DataFrame(interventions or [], columns=["spell_id", "start", "end"])
    iv["type"] = "internship"
    iv["start"] = pd.to_datetime(iv["start"]).astype("datetime64[ns]")
    iv["end"] = pd.to_datetime(iv["end"]).astype("datetime64[ns]")
    return StudyData(spells=spells, meetings=m, interventions=iv, programme=programme)


def spell(sid: str, start: pd.Timestamp, end: pd.Timestamp | None, state: str, **kw: object):
    row: dict[str, object] = {
        "spell_id": sid,
        "absence_start": start,
        "benefit_end": end if end is not None else pd.NaT,
        "exit_state": state,
    }
    row.update(kw)
    return row


def rows_of(panel_data: pd.DataFrame, sid: str) -> pd.DataFrame:
    return panel_data[panel_data["spell_id"].astype(str) == sid].reset_index(drop=True)


# --- hand-computed cases ---------------------------------------------------------------


def test_delayed_entry_starts_in_week_5() -> None:
    study = make_study([spell("s1", BASE, day(70), "employment", benefit_start=day(28))])
    p = build_panel(study, StudyDesign(data_end=day(400)))
    r = rows_of(p.data, "s1")
    assert r["week"].tolist() == list(range(5, 12))  # day 70 is in week 11
    assert r["event"].tolist() == [0] * 6 + [1]


def test_exit_in_entry_week_gives_one_row_with_event() -> None:
    study = make_study([spell("s1", BASE, day(30), "employment", benefit_start=day(28))])
    p = build_panel(study, StudyDesign(data_end=day(400)))
    r = rows_of(p.data, "s1")
    assert r["week"].tolist() == [5]
    assert r["event"].tolist() == [1]


def test_spell_longer_than_max_weeks_is_censored_at_52() -> None:
    study = make_study([spell("s1", BASE, day(400), "employment")])
    p = build_panel(study, StudyDesign(data_end=day(800)))
    r = rows_of(p.data, "s1")
    assert len(r) == 52 and r["week"].iloc[-1] == 52
    assert r[list(event_columns())].to_numpy().sum() == 0
    assert p.audit.value("censored") == 1
    assert p.audit.value("exits_employment") == 0


def test_ongoing_spell_runs_to_week_of_data_end() -> None:
    study = make_study([spell("s1", BASE, None, "censored")])
    p = build_panel(study, StudyDesign(data_end=day(100)))  # day 100 -> week 15
    r = rows_of(p.data, "s1")
    assert r["week"].tolist() == list(range(1, 16))
    assert r["event"].sum() == 0


def test_censoring_is_exact_at_data_end() -> None:
    study = make_study(
        [
            spell("on", BASE, day(100), "employment"),
            spell("after", BASE, day(101), "employment"),
        ]
    )
    p = build_panel(study, StudyDesign(data_end=day(100)))
    on, after = rows_of(p.data, "on"), rows_of(p.data, "after")
    assert on["event"].iloc[-1] == 1 and on["week"].iloc[-1] == 15
    assert after["event"].sum() == 0 and after["week"].iloc[-1] == 15


def test_exit_in_week_max_weeks_is_an_event() -> None:
    study = make_study(
        [
            spell("in", BASE, day(7 * 10 - 1), "employment"),
            spell("out", BASE, day(70), "employment"),
        ]
    )
    p = build_panel(study, StudyDesign(data_end=day(400), max_weeks=10))
    assert rows_of(p.data, "in")["event"].tolist()[-1] == 1
    out = rows_of(p.data, "out")
    assert len(out) == 10 and out["event"].sum() == 0


def test_competing_exit_is_at_risk_without_event() -> None:
    study = make_study([spell("s1", BASE, day(20), "unemployment")])
    r = rows_of(build_panel(study, StudyDesign(data_end=day(400))).data, "s1")
    assert r["event"].tolist() == [0, 0, 0]
    assert r["event_unemployment"].tolist() == [0, 0, 1]
    assert "event_employment" not in r.columns


def test_billund_window_ending_early() -> None:
    # week-8 date = absence_start + 49 days; Billund-like B ends 2018-03-31.
    w8_in = pd.Timestamp("2018-03-31") - pd.Timedelta(days=49)
    w8_out = pd.Timestamp("2018-04-01") - pd.Timedelta(days=49)
    study = make_study(
        [
            spell("b_in", w8_in, w8_in + pd.Timedelta(days=90), "employment", jobcentre="B"),
            spell("b_out", w8_out, w8_out + pd.Timedelta(days=90), "employment", jobcentre="B"),
            spell("a_out", w8_out, w8_out + pd.Timedelta(days=90), "employment", jobcentre="A"),
            spell("c_out", w8_out, w8_out + pd.Timedelta(days=90), "employment", jobcentre="C"),
        ]
    )
    p = build_panel(study, StudyDesign(data_end=pd.Timestamp("2019-12-31")))
    got = p.data.groupby("spell_id", observed=True)[["D", "exposure"]].agg(["min", "max"])
    d = got[("D", "max")]
    assert (got[("D", "min")] == d).all()  # D is constant within a spell
    assert d.to_dict() == {"b_in": 1, "b_out": 0, "a_out": 1, "c_out": 0}
    # windows sorted: k=0 (2017-10-01, 2018-03-31), k=1 (2017-10-01, 2018-12-31)
    expo = got[("exposure", "max")].to_dict()
    assert expo == {"b_in": 3, "b_out": 2, "a_out": 2, "c_out": 2}


def test_exposure_bitmask_with_two_windows() -> None:
    windows, window_of = programme_windows(PROGRAMME)
    assert windows["k"].tolist() == [0, 1]
    assert windows["end"].tolist() == [pd.Timestamp("2018-03-31"), pd.Timestamp("2018-12-31")]
    assert window_of == {"B": 0, "A": 1}
    study = make_study(
        [spell("s", pd.Timestamp("2019-01-01"), day(30, pd.Timestamp("2019-01-01")), "other")]
    )
    sf = spell_frame(study.spells, study.programme, StudyDesign(), pd.Timestamp("2019-12-31"))
    assert sf["exposure"].tolist() == [0] and sf["D"].tolist() == [0]


def test_calendar_treatment_varies_by_row() -> None:
    start = pd.Timestamp("2018-03-15")  # weeks start Mar 15, 22, 29, Apr 5
    study = make_study([spell("b", start, day(27, start), "employment", jobcentre="B")])
    p = build_panel(study, StudyDesign(treatment="calendar", data_end=pd.Timestamp("2019-01-01")))
    r = rows_of(p.data, "b")
    assert r["D"].tolist() == [1, 1, 1, 0]
    assert r["exposure"].tolist() == [3, 3, 3, 2]


def test_spell_start_treatment_uses_absence_start() -> None:
    start = pd.Timestamp("2018-03-20")  # in B's window, week-8 date is not
    study = make_study([spell("b", start, day(60, start), "employment", jobcentre="B")])
    end = pd.Timestamp("2019-01-01")
    assert build_panel(study, StudyDesign(data_end=end)).data["D"].max() == 0
    p = build_panel(study, StudyDesign(treatment="spell_start", data_end=end))
    assert p.data["D"].min() == 1


def test_calendar_month_phase_and_link_month() -> None:
    start = pd.Timestamp("2018-01-25")
    study = make_study([spell("s", start, day(60, start), "employment")])
    r = rows_of(build_panel(study, StudyDesign(data_end=pd.Timestamp("2019-01-01"))).data, "s")
    jan, feb, mar = 2018 * 12 + 0, 2018 * 12 + 1, 2018 * 12 + 2
    # week first days: Jan 25, Feb 1, 8, 15, 22, Mar 1, 8, 15, 22
    assert r["month"].tolist() == [jan, feb, feb, feb, feb, mar, mar, mar, mar]
    assert (r["link_month"] == mar).all()  # Jan 25 + 49 days = Mar 15
    assert r["phase"].astype(str).tolist() == ["early"] * 7 + ["late"] * 2


def test_met_met_workplace_and_in_measure_timing() -> None:
    study = make_study(
        [spell("s1", BASE, day(69), "employment"), spell("s2", BASE, day(69), "employment")],
        meetings=[
            ("s1", day(30), "workplace"),  # week 5, not the first
            ("s1", day(20), "jobcentre"),  # week 3, first meeting
            ("s2", day(13), "workplace"),  # week 2
        ],
        interventions=[("s1", day(24), day(36)), ("s2", day(56), None)],  # wk 4-6; wk 9-
    )
    p = build_panel(study, StudyDesign(data_end=day(400)))
    r1, r2 = rows_of(p.data, "s1"), rows_of(p.data, "s2")
    assert r1["week"].tolist() == list(range(1, 11))
    assert r1["met"].tolist() == [0, 0] + [1] * 8
    assert r1["met_workplace"].sum() == 0
    assert r1["in_measure"].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert r2["met"].tolist() == [0] + [1] * 9
    assert r2["met_workplace"].tolist() == [0] + [1] * 9
    assert r2["in_measure"].tolist() == [0] * 8 + [1, 1]


def test_columns_and_dtypes_follow_contributing() -> None:
    study = make_study([spell("s", BASE, day(30), "employment", age=45, sex="F")])
    p = build_panel(study, StudyDesign(data_end=day(400)), covariates=["age", "sex"])
    expected = [
        "spell_id", "person_id", "jobcentre", "week", "month", *event_columns(), "D", "phase",
        "link_month", "exposure", "met", "met_workplace", "in_measure", "age", "sex",
    ]  # fmt: skip
    assert list(p.data.columns) == expected
    dtypes = {c: str(t) for c, t in p.data.dtypes.items()}
    assert dtypes["week"] == "int16" and dtypes["month"] == "int32"
    assert dtypes["exposure"] == "int16" and dtypes["link_month"] == "int32"
    for c in (*event_columns(), "D", "met", "met_workplace", "in_measure"):
        assert dtypes[c] == "int8"
    for c in ("jobcentre", "phase", "age", "sex"):
        assert dtypes[c] == "category"
    assert p.data["age"].astype(str).unique().tolist() == ["40-49"]


def test_exclusions_are_audited() -> None:
    study = make_study(
        [
            spell("ok", BASE, day(30), "employment"),
            spell("late_entry", BASE, day(500), "employment", benefit_start=day(400)),
            spell("after_end", day(460), day(490), "employment"),
            spell("cohort", pd.Timestamp("2016-01-01"), pd.Timestamp("2016-02-01"), "employment"),
        ]
    )
    design = StudyDesign(data_end=day(450), cohort_start=pd.Timestamp("2017-01-01"))
    p = build_panel(study, design)
    exc = dict(zip(p.audit.excluded["spell_id"], p.audit.excluded["reason"], strict=True))
    assert exc == {
        "late_entry": "entry_after_max_weeks",
        "after_end": "entry_after_data_end",
        "cohort": "outside_cohort",
    }
    assert p.audit.value("spells_in") == 4 and p.audit.value("spells_used") == 1
    assert p.audit.value("person_weeks") == len(p.data) == 5
    assert p.audit.value("excluded_outside_cohort") == 1


def test_cohort_on_week8() -> None:
    study = make_study(
        [spell("s", pd.Timestamp("2017-12-01"), pd.Timestamp("2018-03-01"), "other")]
    )
    end = pd.Timestamp("2019-01-01")
    design = StudyDesign(data_end=end, cohort_start=pd.Timestamp("2018-01-01"), cohort_on="week8")
    assert build_panel(study, design).audit.value("spells_used") == 1
    design = StudyDesign(data_end=end, cohort_start=pd.Timestamp("2018-01-01"))
    assert build_panel(study, design).audit.value("spells_used") == 0


def test_entry_absence_start_ignores_benefit_start() -> None:
    study = make_study([spell("s", BASE, day(50), "employment", benefit_start=day(28))])
    p = build_panel(study, StudyDesign(entry="absence_start", data_end=day(400)))
    assert p.data["week"].tolist() == list(range(1, 9))


def test_event_state_option_renames_event_columns() -> None:
    study = make_study([spell("s", BASE, day(20), "unemployment")])
    p = build_panel(study, StudyDesign(event_state="unemployment", data_end=day(400)))
    assert p.data["event"].tolist() == [0, 0, 1]
    assert "event_employment" in p.data.columns and "event_unemployment" not in p.data.columns


# --- options and helpers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"entry": "first_day"},
        {"treatment": "week9"},
        {"cohort_on": "end"},
        {"event_state": "censored"},
        {"max_weeks": 0},
        {"phase_cut": 1.5},
        {"cohort_start": "2018-02-01", "cohort_end": "2018-01-01"},
    ],
)
def test_bad_design_options_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(OptionError):
        StudyDesign(**kwargs)  # type: ignore[arg-type]


def test_unknown_exit_state_raises_contract_error() -> None:
    study = make_study([spell("s", BASE, day(20), "retired")])
    with pytest.raises(ContractError, match="retired|unknown exit_state"):
        build_panel(study, StudyDesign(data_end=day(100)))


def test_week_block_labels() -> None:
    weeks = np.arange(1, 53)
    labels = week_block(weeks)
    assert labels[0] == "01" and labels[25] == "26"
    assert list(labels[26:30]) == ["27-30"] * 4
    assert list(labels[46:50]) == ["47-50"] * 4
    assert list(labels[50:52]) == ["51-52"] * 2
    assert len(set(labels)) == 26 + 6 + 1
    assert list(labels) == sorted(labels)
    with pytest.raises(OptionError):
        week_block(np.array([0, 1]))


def test_bin_covariates_rules() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": [16, 29, 30, 45, 59, 60, 70, 15],
            "income": rng.normal(size=8).tolist(),
            "visitation_category": [1, 2, 3, 1, 2, 3, 1, 2],
            "sex": ["M", "F"] * 4,
        }
    )
    frame = pd.concat([frame] * 2, ignore_index=True)
    frame["income"] = np.arange(16, dtype=float)
    out = bin_covariates(frame, ["age", "income", "visitation_category", "sex"])
    assert out["age"].astype(str).tolist()[:8] == [
        "16-29", "16-29", "30-39", "40-49", "50-59", "60+", "60+", "16-29",
    ]  # fmt: skip
    assert list(out["age"].cat.categories) == list(AGE_LABELS)
    assert out["income"].cat.categories.size == 5
    assert out["income"].value_counts().tolist() == [4, 3, 3, 3, 3] or (
        out["income"].value_counts().sum() == 16
    )
    assert list(out["visitation_category"].cat.categories) == [1, 2, 3]
    assert list(out["sex"].cat.categories) == ["F", "M"]
    with pytest.raises(ContractError):
        bin_covariates(frame, ["nope"])


# --- properties against an independent per-spell reference ----------------------------


def reference_rows(study: StudyData, design: StudyDesign) -> pd.DataFrame:
    """Slow, loop-based reading of DESIGN.md §3 (independent of the vectorised code)."""
    data_end = design.data_end
    assert data_end is not None
    windows = sorted(
        {(s, e) for s, e in zip(study.programme["start"], study.programme["end"], strict=True)}
    )
    k_of_jc = {
        j: windows.index((s, e))
        for j, s, e in zip(study.programme["jobcentre"], study.programme["start"],
                           study.programme["end"], strict=True)
    }  # fmt: skip
    out = []
    for sp in study.spells.itertuples(index=False):
        a = sp.absence_start
        e = 1 if design.entry == "absence_start" else max((sp.benefit_start - a).days // 7 + 1, 1)
        closed = not pd.isna(sp.benefit_end) and sp.benefit_end <= data_end
        stop = sp.benefit_end if closed else data_end
        t_last = (stop - a).days // 7 + 1
        last = min(t_last, design.max_weeks)
        if sp.benefit_start > data_end or e > design.max_weeks or last < e:
            continue
        observed = closed and t_last <= design.max_weeks and sp.exit_state != "censored"
        state = sp.exit_state if observed else "censored"
        meets = study.meetings[study.meetings["spell_id"] == sp.spell_id].sort_values(
            ["date", "location"], key=lambda s: s if s.name == "date" else s != "workplace"
        )
        ivs = study.interventions[study.interventions["spell_id"] == sp.spell_id]
        for t in range(e, last + 1):
            first_day = a + pd.Timedelta(days=7 * (t - 1))
            week_end = first_day + pd.Timedelta(days=6)
            if design.treatment == "calendar":
                ref = first_day
            elif design.treatment == "spell_start":
                ref = a
            else:
                ref = a + pd.Timedelta(days=49)
            expo = sum(1 << k for k, (s, en) in enumerate(windows) if s <= ref <= en)
            k = k_of_jc.get(sp.jobcentre, -1)
            met = len(meets) > 0 and meets["date"].iloc[0] <= week_end
            active = any(
                (iv.start <= week_end) and (pd.isna(iv.end) or iv.end >= first_day)
                for iv in ivs.itertuples()
            )
            row = {
                "spell_id": sp.spell_id,
                "week": t,
                "month": first_day.year * 12 + first_day.month - 1,
                "D": int(k >= 0 and (expo >> k) & 1),
                "exposure": expo,
                "met": int(met),
                "met_workplace": int(met and meets["location"].iloc[0] == "workplace"),
                "in_measure": int(active),
                "link_month": (a + pd.Timedelta(days=49)).year * 12
                + (a + pd.Timedelta(days=49)).month
                - 1,
            }
            for s in COMPETING_STATES:
                col = "event" if s == design.event_state else f"event_{s}"
                row[col] = int(t == last and state == s)
            out.append(row)
    return pd.DataFrame(out)


@st.composite
def studies(draw: st.DrawFn) -> tuple[StudyData, StudyDesign]:
    n = draw(st.integers(1, 8))
    rows = []
    meetings = []
    ivs = []
    for i in range(n):
        a = day(draw(st.integers(-200, 200)), pd.Timestamp("2018-01-01"))
        entry = draw(st.sampled_from([0, 0, 28, 30, 13]))
        dur = draw(st.one_of(st.none(), st.integers(0, 420)))
        state = "censored" if dur is None else draw(st.sampled_from(EXIT_STATES))
        end = None if dur is None else a + pd.Timedelta(days=entry + dur)
        jc = draw(st.sampled_from(["A", "B", "C"]))
        rows.append(spell(f"s{i}", a, end, state, jobcentre=jc, benefit_start=day(entry, a)))
        for _ in range(draw(st.integers(0, 2))):
            loc = draw(st.sampled_from(["workplace", "phone"]))
            meetings.append((f"s{i}", day(draw(st.integers(0, 120)), a), loc))
        for _ in range(draw(st.integers(0, 2))):
            s0 = draw(st.integers(0, 120))
            e0 = draw(st.one_of(st.none(), st.integers(0, 60)))
            ivs.append((f"s{i}", day(s0, a), None if e0 is None else day(s0 + e0, a)))
    study = make_study(rows, meetings, ivs)
    design = StudyDesign(
        data_end=day(draw(st.integers(-100, 500)), pd.Timestamp("2018-01-01")),
        max_weeks=draw(st.sampled_from([3, 10, 52])),
        entry=draw(st.sampled_from(["benefit_start", "absence_start"])),
        treatment=draw(st.sampled_from(["week8", "spell_start", "calendar"])),
    )
    return study, design


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies())
def test_panel_matches_reference(case: tuple[StudyData, StudyDesign]) -> None:
    study, design = case
    p = build_panel(study, design)
    data = p.data
    ref = reference_rows(study, design)
    assert p.audit.value("person_weeks") == len(data) == len(ref)
    if len(ref) == 0:
        return
    cols = list(ref.columns)
    got = data.assign(spell_id=data["spell_id"].astype(str))[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref.astype(got.dtypes.to_dict()), check_dtype=False)
    # structural properties
    sf = spell_frame(study.spells, study.programme, design, p.data_end)
    used = sf[sf["reason"].isna()].set_index("spell_id")
    n_rows = data.groupby(data["spell_id"].astype(str)).size()
    expected = used["last_week"] - used["entry_week"] + 1
    assert n_rows.reindex(expected.index).tolist() == expected.tolist()
    ev = data[list(event_columns())].sum(axis=1)
    last = data["week"] == data.groupby("spell_id", observed=True)["week"].transform("max")
    assert (ev <= 1).all() and (ev[~last] == 0).all()
    per_spell = ev.groupby(data["spell_id"].astype(str)).sum()
    censored = used["event_state"].astype(str) == "censored"
    assert (per_spell.reindex(used.index)[censored] == 0).all()
    assert (per_spell.reindex(used.index)[~censored] == 1).all()
    assert (data["week"] <= design.max_weeks).all()


def test_programme_with_two_windows_for_one_jobcentre_raises() -> None:
    prog = pd.DataFrame(
        {
            "jobcentre": ["A", "A"],
            "start": pd.to_datetime(["2017-10-01", "2018-01-01"]),
            "end": pd.to_datetime(["2018-12-31", "2018-12-31"]),
        }
    )
    with pytest.raises(ContractError, match="more than one window"):
        programme_windows(prog)


def test_month_helpers_round_trip() -> None:
    from sofeval.data import month_index, month_label

    m = month_index(pd.Series(pd.to_datetime([dt.date(2018, 3, 1)])))
    assert month_label(int(m.iloc[0])) == "2018-03"
