"""The workbook holds the CSVs' numbers: floats rounded to the CSVs' 10 significant digits."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd

from sofeval import report


def _table() -> pd.DataFrame:
    """Floats whose 11th and later digits differ (as sums under different BLAS threads do)."""
    rng = np.random.default_rng(7)
    coef = rng.normal(size=6) / 3.0
    return pd.DataFrame({
        "estimand": ["ex_ante", "programme"] * 3,
        "coef": coef,
        "se": np.abs(coef) / 7.0 + 1e-13,
        "p_value": [1 / 3, 2 / 3, 1e-9 / 3, 0.5, np.nan, 1.0 - 1e-12],
        "n_spells": [1200, 3, 1300, 1400, 1500, 1600],
    })


def _workbook_values(path, sheet: str) -> list[list[object]]:
    ws = openpyxl.load_workbook(path, read_only=True)[sheet]
    return [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]


def test_round_floats_gives_the_csv_numbers():
    frame = pd.DataFrame({"x": [1 / 3, -2e-12 / 3, np.nan, 123456.78901234567], "n": [1, 2, 3, 4]})
    got = report.round_floats(frame)
    want = [float(report.CSV_FLOAT_FORMAT % v) for v in frame["x"].dropna()]
    assert got["x"].dropna().tolist() == want
    assert got["n"].tolist() == [1, 2, 3, 4] and np.isnan(got["x"].iloc[2])


def test_workbook_numbers_equal_the_csv(tmp_path):
    table = _table()
    csv = report.write_csv_tables(tmp_path, {"t": table})["t"]
    book = report.write_workbook(tmp_path / "t.xlsx", {"t": table})
    # round_trip: Python's own float parsing of the CSV text, as exact as the text
    from_csv = pd.read_csv(csv, float_precision="round_trip")
    rows = _workbook_values(book, "t")
    assert len(rows) == len(from_csv)
    for i, row in enumerate(rows):
        for j, col in enumerate(from_csv.columns):
            want = from_csv[col].iloc[i]
            if isinstance(want, str):
                assert row[j] == want
            elif pd.isna(want):  # suppressed (the small count and its row's statistics)
                assert row[j] in (None, "<5"), (col, i, row[j])
            else:
                assert row[j] == want, (col, i, row[j], want)
    assert rows[1][4] == "<5" and rows[1][1] == "<5"


def test_workbook_does_not_depend_on_the_last_digits(tmp_path):
    table = _table()
    nudged = table.assign(coef=table["coef"] * (1 + 1e-14), se=table["se"] * (1 - 1e-14))
    a = report.write_workbook(tmp_path / "a.xlsx", {"t": table})
    b = report.write_workbook(tmp_path / "b.xlsx", {"t": nudged})
    assert a.read_bytes() == b.read_bytes()
