"""Tests of sofeval.data.validation: one failing fixture per rule, drop mode, properties."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofeval.data import (
    AUDIT_COLUMNS,
    RULES,
    STRING_COLUMNS,
    StudyData,
    as_string,
    validate_study,
    validate_tables,
)
from sofeval.errors import ContractError, OptionError

Tables = dict[str, pd.DataFrame]


def clean_tables() -> Tables:
    """A small study that breaks no rule."""
    spells = pd.DataFrame(
        {
            "spell_id": ["S1", "S2", "S3", "S4"],
            "person_id": ["P1", "P1", "P2", "P3"],
            "jobcentre": ["Herning", "Herning", "Vejle", "Aarhus"],
            "absence_start": ["2018-01-01", "2018-03-01", "2018-02-01", "2018-01-15"],
            "benefit_start": ["2018-02-01", "", "2018-02-10", "2018-02-12"],
            "benefit_end": ["2018-02-20", "", "2018-05-01", "2018-04-01"],
            "exit_state": ["employment", "censored", "Unemployment", "other"],
            "age": [34, 51, 29, 45],
        }
    )
    meetings = pd.DataFrame(
        {
            "spell_id": ["S1", "S2", "S3"],
            "date": ["2018-02-10", "2018-04-01", "2018-03-01"],
            "location": ["workplace", "Phone", "jobcentre"],
        }
    )
    interventions = pd.DataFrame(
        {
            "spell_id": ["S3"],
            "start": ["2018-03-10"],
            "end": [""],
            "type": ["internship"],
        }
    )
    programme = pd.DataFrame(
        {
            "jobcentre": ["Herning", "Vejle"],
            "start": ["2017-10-01", "2017-10-01"],
            "end": ["2018-12-31", "2018-12-31"],
        }
    )
    monitoring = pd.DataFrame(
        {
            "jobcentre": ["Herning", "Herning", "Vejle"],
            "month": ["2018-01", "2018-02", "2018-01"],
            "first_meetings": [10, 12, 5],
            "workplace_meetings": [3, 12, 0],
        }
    )
    return {
        "spells": spells,
        "meetings": meetings,
        "interventions": interventions,
        "programme": programme,
        "monitoring": monitoring,
    }


JOBCENTRES = ("Herning", "Vejle", "Aarhus")


def run(tables: Tables, **kw: object) -> StudyData:
    return validate_study(
        tables["spells"],
        tables.get("meetings"),
        tables.get("interventions"),
        tables.get("programme"),
        tables.get("monitoring"),
        **kw,  # type: ignore[arg-type]
    )


def test_clean_study_passes_with_contract_dtypes() -> None:
    tables = clean_tables()
    before = {k: v.copy() for k, v in tables.items()}
    study = run(tables, jobcentres=JOBCENTRES)
    for name, df in tables.items():  # inputs untouched
        pd.testing.assert_frame_equal(df, before[name])
    sp = study.spells
    assert list(sp["spell_id"]) == ["S1", "S2", "S3", "S4"]
    assert sp["absence_start"].dtype == "datetime64[ns]"
    assert sp.loc[1, "benefit_start"] == pd.Timestamp("2018-03-01")  # default absence_start
    assert pd.isna(sp.loc[1, "benefit_end"])  # ongoing
    assert sp.loc[2, "exit_state"] == "unemployment"
    assert study.meetings.loc[1, "location"] == "phone"
    assert pd.isna(study.interventions.loc[0, "end"])
    assert study.monitoring is not None
    assert study.monitoring["first_meetings"].dtype == "int64"
    assert list(study.monitoring["month"]) == ["2018-01", "2018-02", "2018-01"]
    assert study.audit.empty and tuple(study.audit.columns) == AUDIT_COLUMNS
    assert list(sp["age"]) == [34, 51, 29, 45]


def test_benefit_start_column_may_be_absent() -> None:
    tables = clean_tables()
    tables["spells"] = tables["spells"].drop(columns="benefit_start")
    sp = run(tables).spells
    assert (sp["benefit_start"] == sp["absence_start"]).all()


def test_numeric_ids_become_strings_without_decimals() -> None:
    tables = clean_tables()
    tables["spells"]["spell_id"] = [1.0, 2.0, 3.0, np.nan]
    tables = {"spells": tables["spells"]}
    with pytest.raises(ContractError) as info:
        run(tables)
    assert info.value.rule == "missing_value"
    tables["spells"]["spell_id"] = [1.0, 2.0, 3.0, 4.0]
    assert list(run(tables).spells["spell_id"]) == ["1", "2", "3", "4"]


def _set(table: str, row: int, col: str, value: object) -> Callable[[Tables], None]:
    def edit(t: Tables) -> None:
        t[table] = t[table].astype({col: object}) if col in t[table] else t[table]
        t[table].loc[row, col] = value

    return edit


def _append(table: str, row: dict[str, object]) -> Callable[[Tables], None]:
    def edit(t: Tables) -> None:
        t[table] = pd.concat([t[table], pd.DataFrame([row])], ignore_index=True)

    return edit


# (table, rule, edit, expected ids, expected row count, the quoted values in the message)
CASES: list[tuple[str, str, Callable[[Tables], None], list[str], int, str]] = [
    ("spells", "unparseable_date", _set("spells", 2, "benefit_end", "2018-13-40"), ["S3"], 1,
     "spell_id S3: benefit_end '2018-13-40' is not a date (YYYY-MM-DD)"),
    ("spells", "missing_value", _set("spells", 3, "person_id", ""), ["S4"], 1,
     "spell_id S4: missing person_id"),
    ("spells", "end_before_start", _set("spells", 0, "benefit_end", "2017-12-01"), ["S1"], 1,
     "spell_id S1: benefit_end 2017-12-01 < absence_start 2018-01-01; "
     "benefit_end 2017-12-01 < benefit_start 2018-02-01"),
    ("spells", "duplicate_spell_id", _set("spells", 3, "spell_id", "S3"), ["S3"], 2,
     "spell_id S3: spell_id occurs 2 times (2 rows)"),
    ("spells", "overlapping_spells", _set("spells", 0, "benefit_end", "2018-03-05"),
     ["S1", "S2"], 2, "spell_id S1: person_id 'P1': 2018-01-01 to 2018-03-05 overlaps "
     "spell_id 'S2' (2018-03-01 to ongoing)"),
    ("spells", "unknown_exit_state", _set("spells", 2, "exit_state", "holiday"), ["S3"], 1,
     "spell_id S3: exit_state 'holiday'"),
    ("spells", "ongoing_not_censored", _set("spells", 2, "benefit_end", ""), ["S3"], 1,
     "spell_id S3: no benefit_end (ongoing) but exit_state 'unemployment'"),
    ("spells", "unknown_jobcentre", _set("spells", 3, "jobcentre", "Atlantis"), ["S4"], 1,
     "spell_id S4: jobcentre 'Atlantis'"),
    ("meetings", "unknown_spell", _set("meetings", 1, "spell_id", "S99"), ["S99"], 1,
     "spell_id S99: spell_id 'S99' is not in spells"),
    ("meetings", "outside_spell", _set("meetings", 0, "date", "2018-03-01"), ["S1"], 1,
     "spell_id S1: date 2018-03-01 after benefit_end 2018-02-20"),
    ("meetings", "unknown_location", _set("meetings", 2, "location", "cafe"), ["S3"], 1,
     "spell_id S3: location 'cafe'"),
    ("meetings", "unparseable_date", _set("meetings", 2, "date", "yesterday"), ["S3"], 1,
     "spell_id S3: date 'yesterday' is not a date (YYYY-MM-DD)"),
    ("interventions", "end_before_start", _set("interventions", 0, "end", "2018-03-01"),
     ["S3"], 1, "spell_id S3: end 2018-03-01 < start 2018-03-10"),
    ("interventions", "outside_spell", _set("interventions", 0, "start", "2017-01-01"),
     ["S3"], 1, "spell_id S3: start 2017-01-01 before absence_start 2018-02-01"),
    ("interventions", "unknown_spell", _set("interventions", 0, "spell_id", "S77"), ["S77"], 1,
     "spell_id S77: spell_id 'S77' is not in spells"),
    ("programme", "end_before_start", _set("programme", 1, "end", "2017-01-01"), ["Vejle"], 1,
     "jobcentre Vejle: end 2017-01-01 < start 2017-10-01"),
    ("programme", "duplicate_jobcentre", _set("programme", 1, "jobcentre", "Herning"),
     ["Herning"], 2, "jobcentre Herning: jobcentre occurs 2 times (2 rows)"),
    ("programme", "unknown_jobcentre", _set("programme", 1, "jobcentre", "Gotham"),
     ["Gotham"], 1, "jobcentre Gotham: jobcentre 'Gotham'"),
    ("monitoring", "bad_month", _set("monitoring", 2, "month", "2018-13"), ["Vejle 2018-13"],
     1, "jobcentre month Vejle 2018-13: month '2018-13' is not YYYY-MM"),
    ("monitoring", "negative_count", _set("monitoring", 2, "first_meetings", -1),
     ["Vejle 2018-01"], 1, "jobcentre month Vejle 2018-01: first_meetings -1"),
    ("monitoring", "bad_count", _set("monitoring", 2, "first_meetings", "many"),
     ["Vejle 2018-01"], 1,
     "jobcentre month Vejle 2018-01: first_meetings 'many' is not a whole number"),
    ("monitoring", "workplace_exceeds_first", _set("monitoring", 0, "workplace_meetings", 11),
     ["Herning 2018-01"], 1,
     "jobcentre month Herning 2018-01: workplace_meetings 11 > first_meetings 10 (share 1.10)"),
    ("monitoring", "duplicate_jobcentre_month", _set("monitoring", 1, "month", "2018-01"),
     ["Herning 2018-01"], 2,
     "jobcentre month Herning 2018-01: jobcentre-month occurs 2 times (2 rows)"),
    ("monitoring", "unknown_jobcentre", _set("monitoring", 2, "jobcentre", "Narnia"),
     ["Narnia 2018-01"], 1, "jobcentre month Narnia 2018-01: jobcentre 'Narnia'"),
]

#: How each audience is told to drop bad rows, and the spelling it must not see.
DROP_HINTS = {"python": ('invalid="drop"', "--invalid"), "cli": ("--invalid drop", 'invalid="')}


@pytest.mark.parametrize("audience", ["python", "cli"])
@pytest.mark.parametrize(
    ("table", "rule", "edit", "ids", "n", "quoted"), CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_each_rule_raises_a_named_error_quoting_the_values(
    table: str, rule: str, edit: Callable[[Tables], None], ids: list[str], n: int, quoted: str,
    audience: str,
) -> None:
    tables = clean_tables()
    edit(tables)
    with pytest.raises(ContractError) as info:
        run(tables, jobcentres=JOBCENTRES, audience=audience)
    err = info.value
    assert (err.table, err.rule) == (table, rule)
    assert sorted(err.rows) == sorted(ids)
    msg = str(err)
    assert f"{table}: rule '{rule}' broken by {n} row" in msg
    assert "\n  " + quoted in msg  # the offending values, quoted, on their own line
    said, unsaid = DROP_HINTS[audience]
    assert said in msg and unsaid not in msg
    assert isinstance(err, ValueError)
    # the audit carries the same detail per row
    audit = run(tables, jobcentres=JOBCENTRES, invalid="drop").audit
    rows = audit[(audit["table"] == table) & (audit["rule"] == rule)]
    assert len(rows) == n
    assert quoted.split(": ", 1)[1].removesuffix(" (2 rows)") in set(rows["detail"])


def test_every_rule_has_a_failing_case() -> None:
    tested = {(t, r) for t, r, *_ in CASES}
    untested = {
        (r.table, r.name) for r in RULES if not r.drop_only and r.name != "missing_value"
    } - tested
    # missing_value of the other tables and unparseable dates of programme/interventions
    # share their code with the spells/meetings cases above.
    assert untested <= {
        ("interventions", "unparseable_date"),
        ("programme", "unparseable_date"),
        ("monitoring", "unparseable_date"),
    }


def test_missing_columns_always_raise() -> None:
    tables = clean_tables()
    tables["spells"] = tables["spells"].drop(columns=["exit_state", "person_id"])
    for invalid in ("error", "drop"):
        with pytest.raises(ContractError) as info:
            run(tables, invalid=invalid)
        assert (info.value.table, info.value.rule) == ("spells", "missing_columns")
        assert "exit_state" in str(info.value) and "person_id" in str(info.value)


def test_empty_spells_always_raise() -> None:
    tables = clean_tables()
    tables["spells"] = tables["spells"].iloc[:0]
    for invalid in ("error", "drop"):
        with pytest.raises(ContractError) as info:
            run(tables, invalid=invalid)
        assert info.value.rule == "empty_table"


def test_all_broken_rules_in_one_error() -> None:
    tables = clean_tables()
    _set("spells", 2, "exit_state", "sick")(tables)
    _set("meetings", 1, "location", "cafe")(tables)
    _set("monitoring", 0, "workplace_meetings", 11)(tables)
    with pytest.raises(ContractError) as info:
        run(tables)
    msg = str(info.value)
    assert "3 contract rules" in msg
    assert "unknown_exit_state" in msg and "unknown_location" in msg
    assert "workplace_exceeds_first" in msg
    assert info.value.rule == "unknown_exit_state"


def test_message_shows_at_most_ten_ids() -> None:
    n = 25
    spells = pd.DataFrame(
        {
            "spell_id": [f"S{i:02d}" for i in range(n)] * 2,
            "person_id": [f"P{i}" for i in range(2 * n)],
            "jobcentre": "Herning",
            "absence_start": "2018-01-01",
            "benefit_end": "2018-02-01",
            "exit_state": "employment",
        }
    )
    with pytest.raises(ContractError) as info:
        validate_study(spells)
    msg = str(info.value)
    assert "broken by 50 rows" in msg and "(15 more)" in msg
    assert "S09" in msg and "S10" not in msg
    assert len(info.value.rows) == n


def test_invalid_option_is_checked() -> None:
    with pytest.raises(OptionError, match="'error', 'drop'"):
        run(clean_tables(), invalid="skip")


def test_drop_mode_audits_exactly_the_dropped_rows() -> None:
    tables = clean_tables()
    _set("spells", 2, "exit_state", "sick")(tables)  # S3 dropped -> its meeting, intervention
    _set("meetings", 0, "location", "cafe")(tables)
    _append("meetings", {"spell_id": "S9", "date": "2018-01-01", "location": "phone"})(tables)
    _set("monitoring", 1, "first_meetings", -3)(tables)
    study = run(tables, invalid="drop", jobcentres=JOBCENTRES)
    audit = study.audit
    got = set(map(tuple, audit[["table", "row_id", "rule"]].to_numpy().tolist()))
    assert got == {
        ("spells", "S3", "unknown_exit_state"),
        ("meetings", "S3", "parent_spell_dropped"),
        ("interventions", "S3", "parent_spell_dropped"),
        ("meetings", "S1", "unknown_location"),
        ("meetings", "S9", "unknown_spell"),
        ("monitoring", "Herning 2018-02", "negative_count"),
    }
    assert len(audit) == 6
    assert audit["detail"].str.len().min() > 0
    assert list(study.spells["spell_id"]) == ["S1", "S2", "S4"]
    assert list(study.meetings["spell_id"]) == ["S2"]
    assert study.interventions.empty
    assert study.monitoring is not None and len(study.monitoring) == 2
    # the remaining data are clean
    again = validate_study(
        study.spells, study.meetings, study.interventions, study.programme, study.monitoring
    )
    pd.testing.assert_frame_equal(again.spells, study.spells)


def test_validate_tables_with_arrow_text_equals_validate_study() -> None:
    import pyarrow as pa

    tables = clean_tables()
    _set("spells", 0, "spell_id", " S1 ")(tables)  # text still to clean: trimmed
    _set("spells", 2, "exit_state", "sick")(tables)  # a dropped spell and its children
    _set("meetings", 2, "location", None)(tables)  # missing text
    _append("meetings", {"spell_id": "S9", "date": "2018-01-01", "location": "phone"})(tables)
    arrow = {
        (name, col): pa.array(df[col], type=pa.string(), from_pandas=True)
        for name, df in tables.items()
        for col in STRING_COLUMNS[name]
        if col in df
    }
    kw: dict[str, object] = {"invalid": "drop", "jobcentres": JOBCENTRES}
    expected = run(tables, **kw)
    for given_arrow in (arrow, None):
        got = validate_tables(tables, arrow=given_arrow, **kw)  # type: ignore[arg-type]
        for name in ("spells", "meetings", "interventions", "programme", "monitoring", "audit"):
            pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name))
    assert list(expected.spells["spell_id"]) == ["S1", "S2", "S4"]
    assert validate_tables({"spells": tables["spells"]}, invalid="drop").monitoring is None


def test_drop_mode_all_spells_dropped_raises() -> None:
    tables = {"spells": clean_tables()["spells"].assign(exit_state="sick")}
    with pytest.raises(ContractError, match="all 4 spells were dropped"):
        run(tables, invalid="drop")


def test_overlap_chain_and_ongoing_spell() -> None:
    spells = pd.DataFrame(
        {
            "spell_id": ["A", "B", "C", "D", "E"],
            "person_id": ["P", "P", "P", "Q", "Q"],
            "jobcentre": "Vejle",
            # A long spell covers C but not B's neighbour; Q's D is ongoing, E after it
            "absence_start": ["2018-01-01", "2018-06-01", "2018-02-01", "2018-01-01", "2019-01-01"],
            "benefit_end": ["2018-03-01", "2018-07-01", "2018-02-10", "", "2019-02-01"],
            "exit_state": ["employment", "employment", "employment", "censored", "other"],
        }
    )
    with pytest.raises(ContractError) as info:
        validate_study(spells)
    assert info.value.rule == "overlapping_spells"
    assert sorted(info.value.rows) == ["A", "C", "D", "E"]


def test_overlap_details_name_the_person_and_both_spells() -> None:
    spells = pd.DataFrame(
        {
            "spell_id": ["A", "B", "C", "D", "E"],
            "person_id": ["P", "P", "P", "Q", "Q"],
            "jobcentre": "Vejle",
            "absence_start": ["2018-01-01", "2018-06-01", "2018-02-01", "2018-01-01", "2019-01-01"],
            "benefit_end": ["2018-03-01", "2018-07-01", "2018-02-10", "", "2019-02-01"],
            "exit_state": ["employment", "employment", "employment", "censored", "other"],
        }
    )
    audit = validate_study(spells, invalid="drop").audit.set_index("row_id")["detail"]
    assert audit.to_dict() == {
        "A": "person_id 'P': 2018-01-01 to 2018-03-01 overlaps spell_id 'C' (2018-02-01 to "
        "2018-02-10)",
        "C": "person_id 'P': 2018-02-01 to 2018-02-10 overlaps spell_id 'A' (2018-01-01 to "
        "2018-03-01)",
        "D": "person_id 'Q': 2018-01-01 to ongoing overlaps spell_id 'E' (2019-01-01 to "
        "2019-02-01)",
        "E": "person_id 'Q': 2019-01-01 to 2019-02-01 overlaps spell_id 'D' (2018-01-01 to "
        "ongoing)",
    }


def test_message_groups_rows_by_value_with_counts() -> None:
    """Twelve distinct unknown exit states on 14 rows: ten values shown, with their ids and
    row counts, then how many more."""
    states = ["holiday", "holiday", "holiday", *[f"code{i}" for i in range(11)]]
    n = len(states)
    spells = pd.DataFrame(
        {
            "spell_id": [f"S{i}" for i in range(n)],
            "person_id": [f"P{i}" for i in range(n)],
            "jobcentre": "Herning",
            "absence_start": "2018-01-01",
            "benefit_end": "2018-02-01",
            "exit_state": states,
        }
    )
    with pytest.raises(ContractError) as info:
        validate_study(spells)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("spells: rule 'unknown_exit_state' broken by 14 rows.")
    assert lines[1] == "  spell_id S0, S1, S2: exit_state 'holiday' (3 rows)"
    assert lines[2] == "  spell_id S3: exit_state 'code0'"
    assert lines[-1] == "  ... (2 more, 2 rows)"
    assert len(lines) == 1 + 10 + 1


@pytest.mark.parametrize(("audience", "said"), [("python", "RegisterMapping"),
                                                ("cli", "--mapping FILE.toml")])
def test_missing_columns_message_speaks_to_its_audience(audience: str, said: str) -> None:
    tables = clean_tables()
    tables["spells"] = tables["spells"].rename(columns={"exit_state": "ophoersaa"})
    with pytest.raises(ContractError, match="exit_state") as info:
        run(tables, audience=audience)
    assert said in str(info.value) and "ophoersaa" in str(info.value)


@pytest.mark.parametrize(("audience", "said"), [("python", 'invalid="drop" cannot'),
                                                ("cli", "--invalid drop cannot")])
def test_all_dropped_message_speaks_to_its_audience(audience: str, said: str) -> None:
    tables = {"spells": clean_tables()["spells"].assign(exit_state="sick")}
    with pytest.raises(ContractError, match="all 4 spells were dropped") as info:
        run(tables, invalid="drop", audience=audience)
    assert said in str(info.value)


def test_audience_option_is_checked() -> None:
    with pytest.raises(OptionError, match="'python', 'cli'"):
        run(clean_tables(), audience="shell")


def test_as_string_handles_mixed_inputs() -> None:
    s = pd.Series([" a ", "", None, 3.0], dtype=object)
    assert as_string(s).tolist() == ["a", None, None, "3.0"]
    assert as_string(pd.Series([7.0, np.nan])).tolist() == ["7", None]


# --- properties --------------------------------------------------------------------------


@st.composite
def valid_spells(draw: st.DrawFn) -> pd.DataFrame:
    """Random valid spells: per person consecutive non-overlapping spells."""
    n_person = draw(st.integers(1, 6))
    rows = []
    k = 0
    for p in range(n_person):
        day = draw(st.integers(0, 100))
        for _ in range(draw(st.integers(1, 4))):
            length = draw(st.integers(0, 300))
            start = pd.Timestamp("2016-01-01") + pd.Timedelta(days=day)
            end = start + pd.Timedelta(days=length)
            rows.append(
                {
                    "spell_id": f"S{k}",
                    "person_id": f"P{p}",
                    "jobcentre": draw(st.sampled_from(JOBCENTRES)),
                    "absence_start": start,
                    "benefit_start": start + pd.Timedelta(days=draw(st.integers(0, length))),
                    "benefit_end": end,
                    "exit_state": draw(st.sampled_from(["employment", "other", "censored"])),
                }
            )
            k += 1
            day += length + 1 + draw(st.integers(0, 50))
    # the last spell of a person may be ongoing
    df = pd.DataFrame(rows)
    last = ~df["person_id"].duplicated(keep="last")
    make_ongoing = np.array(draw(st.lists(st.booleans(), min_size=len(df), max_size=len(df))))
    ongoing = last.to_numpy() & make_ongoing
    df.loc[ongoing, "benefit_end"] = pd.NaT
    df.loc[ongoing, "exit_state"] = "censored"  # an ongoing spell has not exited yet
    perm = draw(st.permutations(range(len(df))))
    return df.iloc[list(perm)].reset_index(drop=True)


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(valid_spells())
def test_property_valid_spells_pass_unchanged(spells: pd.DataFrame) -> None:
    study = validate_study(spells, jobcentres=JOBCENTRES)
    pd.testing.assert_frame_equal(study.spells, spells, check_dtype=False)
    assert study.audit.empty


@PROPERTY
@given(valid_spells(), st.data())
def test_property_injected_duplicates_are_reported(
    spells: pd.DataFrame, data: st.DataObject
) -> None:
    k = data.draw(st.integers(1, len(spells)))
    picks = data.draw(
        st.lists(st.integers(0, len(spells) - 1), min_size=k, max_size=k, unique=True)
    )
    extra = spells.iloc[picks].copy()
    extra["person_id"] = [f"X{i}" for i in range(k)]  # new persons: no overlap
    bad = pd.concat([spells, extra], ignore_index=True)
    with pytest.raises(ContractError) as info:
        validate_study(bad)
    assert info.value.rule == "duplicate_spell_id"
    assert set(info.value.rows) == set(spells["spell_id"].iloc[picks])
    assert f"broken by {2 * k} rows" in str(info.value)


@PROPERTY
@given(valid_spells(), st.data())
def test_property_drop_mode_conserves_rows(spells: pd.DataFrame, data: st.DataObject) -> None:
    n = len(spells)
    bad = spells.copy().astype({"exit_state": object, "benefit_end": object})
    corrupt = data.draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True))
    for i in corrupt:
        kind = data.draw(st.sampled_from(["state", "date", "order", "dup"]))
        if kind == "state":
            bad.loc[i, "exit_state"] = "sick"
        elif kind == "date":
            bad.loc[i, "benefit_end"] = "not a date"
        elif kind == "order":
            bad.loc[i, "benefit_end"] = bad.loc[i, "absence_start"] - pd.Timedelta(days=1)
        else:
            bad.loc[i, "spell_id"] = bad.loc[(i + 1) % n, "spell_id"]
    try:
        study = validate_study(bad, invalid="drop")
    except ContractError as err:  # everything dropped
        assert err.rule == "empty_table"
        return
    kept = len(study.spells)
    audited = int((study.audit["table"] == "spells").sum())
    assert kept + audited == n
    assert set(study.spells["spell_id"]).isdisjoint(
        study.audit.loc[study.audit["table"] == "spells", "row_id"]
    )
