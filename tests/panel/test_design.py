"""Tests of the panel's day numbers and design helpers: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sofeval.data import COMPETING_STATES
from sofeval.panel import (
    day_number,
    day_numbers,
    event_column_of_state,
    event_columns,
    exposure_mask,
    month_of_days,
    programme_windows,
    treated,
)


def test_day_numbers_and_months() -> None:
    dates = pd.Series(pd.to_datetime(["1970-01-02", "2018-02-28", None, "2018-03-01"]))
    days, missing = day_numbers(dates)
    assert missing.tolist() == [False, False, True, False]
    assert days[0] == 1 and days[2] == 0
    assert days[3] - days[1] == 1
    assert day_number(pd.Timestamp("2018-03-01 17:30")) == days[3]  # time of day floored
    months = month_of_days(days[[0, 1, 3]])
    assert months.tolist() == [1970 * 12, 2018 * 12 + 1, 2018 * 12 + 2]
    assert month_of_days(np.zeros(0, dtype=np.int64)).dtype == np.int32


def test_exposure_mask_and_treated() -> None:
    programme = pd.DataFrame(
        {
            "jobcentre": ["A", "B", "C"],
            "start": pd.to_datetime(["2018-01-01", "2018-01-01", "2018-06-01"]),
            "end": pd.to_datetime(["2018-12-31", "2018-12-31", None]),  # C open-ended
        }
    )
    windows, window_of = programme_windows(programme)
    assert window_of == {"A": 0, "B": 0, "C": 1}
    ref = day_numbers(pd.Series(pd.to_datetime(["2017-12-31", "2018-01-01", "2018-07-01",
                                                 "2019-01-01", "2030-01-01"])))[0]
    mask = exposure_mask(ref, windows)
    assert mask.tolist() == [0b00, 0b01, 0b11, 0b10, 0b10]
    window = np.array([0, 0, 1, 0, -1])  # the last row's jobcentre has no window
    assert treated(mask, window).tolist() == [0, 1, 1, 0, 0]
    assert treated(mask, window).dtype == np.int8


def test_event_column_of_state_follows_event_columns() -> None:
    for state in ("employment", "unemployment"):
        of_state = event_column_of_state(state)
        assert sorted(of_state) == list(range(len(COMPETING_STATES)))
        assert set(of_state.values()) == set(event_columns(state))
        assert of_state[COMPETING_STATES.index(state)] == "event"
