"""Tests of the one first-meeting rule (DESIGN.md §2): hand-computed ties and a reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofeval.data import MEETING_LOCATIONS
from sofeval.panel import NEVER, day_numbers, first_meeting_rows, first_meeting_weeks

BASE = pd.Timestamp("2018-01-01")


def meetings_frame(rows: list[tuple[str, int | None, str]]) -> pd.DataFrame:
    """Contract-form meetings from (spell id, day after BASE or None, location)."""
    return pd.DataFrame(
        {
            "spell_id": [r[0] for r in rows],
            "date": pd.to_datetime(
                [None if r[1] is None else BASE + pd.Timedelta(days=r[1]) for r in rows]
            ).astype("datetime64[ns]"),
            "location": [r[2] for r in rows],
        }
    )


def reference(meetings: pd.DataFrame, spell_ids: list[str]) -> dict[int, int]:
    """Spell position -> row of its first meeting, by the rule written out plainly."""
    rank = {loc: i for i, loc in enumerate(MEETING_LOCATIONS)}
    best: dict[int, tuple[pd.Timestamp, int, int]] = {}
    for row, m in enumerate(meetings.itertuples(index=False)):
        if m.spell_id not in spell_ids or pd.isna(m.date):
            continue
        pos = spell_ids.index(m.spell_id)
        key = (m.date, rank.get(m.location, len(rank)), row)
        if pos not in best or key < best[pos]:
            best[pos] = key
    return {pos: key[2] for pos, key in best.items()}


def test_ties_by_hand() -> None:
    meetings = meetings_frame(
        [
            ("s1", 10, "phone"),  # row 0: same day as row 1, loses to the workplace
            ("s1", 10, "workplace"),  # row 1: first meeting of s1
            ("s1", 12, "workplace"),
            ("s2", 5, "phone"),  # row 3: earlier row, but jobcentre ranks before phone
            ("s2", 5, "jobcentre"),  # row 4: first meeting of s2
            ("s3", 7, "phone"),  # row 5: same day and location as row 6: first row wins
            ("s3", 7, "phone"),
            ("s4", None, "workplace"),  # undated: s4 has no first meeting
            ("s5", 3, "home"),  # not a contract location: ranks last
            ("s5", 3, "digital"),  # row 9: first meeting of s5
            ("zz", 1, "workplace"),  # spell not given: ignored
            ("s1", 9, "other"),  # row 11: earliest of s1 after all
        ]
    )
    ids = np.array(["s1", "s2", "s3", "s4", "s5", "s6"], dtype=object)
    first = first_meeting_rows(meetings, ids)
    assert first.spell.tolist() == [0, 1, 2, 4]
    assert first.row.tolist() == [11, 4, 5, 9]
    assert first.workplace.tolist() == [False, False, False, False]
    expected_days = day_numbers(BASE + pd.to_timedelta([9, 5, 7, 3], unit="D"))[0]
    assert first.day.tolist() == expected_days.tolist()
    # without the "other" meeting on day 9 the workplace wins s1's tie on day 10
    first = first_meeting_rows(meetings.iloc[:11], ids)
    assert first.row.tolist() == [1, 4, 5, 9]
    assert first.workplace.tolist() == [True, False, False, False]


def test_first_meeting_weeks_by_hand() -> None:
    meetings = meetings_frame([("a", 20, "workplace"), ("a", 6, "phone"), ("b", 13, "workplace")])
    ids = np.array(["a", "b", "c"], dtype=object)
    abs_day = day_numbers(pd.Series([BASE, BASE + pd.Timedelta(days=7), BASE]))[0]
    week, work = first_meeting_weeks(meetings, ids, abs_day)
    assert week.tolist() == [1, 1, int(NEVER)]  # day 6 is week 1; b's day 13 is its day 6
    assert work.tolist() == [False, True, False]


def test_no_meetings() -> None:
    first = first_meeting_rows(meetings_frame([]), np.array(["a"], dtype=object))
    assert len(first.spell) == len(first.row) == len(first.day) == len(first.workplace) == 0


def test_duplicated_rows_count_once() -> None:
    meetings = meetings_frame([("a", 4, "phone"), ("b", 2, "workplace"), ("a", 4, "workplace")])
    ids = np.array(["a", "b"], dtype=object)
    once = first_meeting_rows(meetings, ids)
    twice = first_meeting_rows(pd.concat([meetings, meetings], ignore_index=True), ids)
    for name in ("spell", "row", "day", "workplace"):
        np.testing.assert_array_equal(getattr(once, name), getattr(twice, name))
    assert once.row.tolist() == [2, 1]


@st.composite
def meeting_tables(draw: st.DrawFn) -> tuple[pd.DataFrame, list[str]]:
    n_spells = draw(st.integers(1, 6))
    spell_ids = [f"s{i}" for i in range(n_spells)]
    locations = st.sampled_from([*MEETING_LOCATIONS, "home"])
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from([*spell_ids, "zz"]),
                st.one_of(st.none(), st.integers(0, 4)),  # few days: many ties
                locations,
            ),
            max_size=25,
        )
    )
    return meetings_frame(rows), spell_ids


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meeting_tables())
def test_rule_matches_reference(case: tuple[pd.DataFrame, list[str]]) -> None:
    meetings, spell_ids = case
    first = first_meeting_rows(meetings, np.array(spell_ids, dtype=object))
    want = reference(meetings, spell_ids)
    assert first.spell.tolist() == sorted(want)
    assert first.row.tolist() == [want[p] for p in sorted(want)]
    loc = meetings["location"].to_numpy()
    assert first.workplace.tolist() == [loc[r] == "workplace" for r in first.row]
    np.testing.assert_array_equal(first.day, day_numbers(meetings["date"])[0][first.row])
