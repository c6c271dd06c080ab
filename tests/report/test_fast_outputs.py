"""The faster output path: figures in two lanes, column-wise formatting, the xlsxwriter workbook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from sofeval import report


def _effects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "jobcentre": ["A", "B", "C", "D"],
            "estimand": ["programme"] * 4,
            "hazard_ratio": [1.1, 0.9, 1.3, 1.0],
            "ci_low": [0.9, 0.7, 1.0, 0.8],
            "ci_high": [1.3, 1.1, 1.6, 1.2],
            "q_bh": [0.2, 0.5, 0.01, 0.9],
            "p_holm": [0.3, 0.6, 0.02, 0.9],
            "n_spells": [120, 3, 140, 150],
        }
    )


def _jobs() -> list[report.FigureJob]:
    frame = _effects()
    return [
        lambda: report.forest(frame),
        lambda: None,
        lambda: report.forest(frame, lang="da"),
    ]


def test_render_figures_two_lanes_equal_one_lane() -> None:
    one = report.render_figures(_jobs(), parallel=False)
    two = report.render_figures(_jobs(), parallel=True)
    assert one == two
    assert one[1] is None
    assert all(isinstance(f, report.RenderedFigure) for f in (one[0], one[2]))
    assert one[0] != one[2]  # the Danish labels give another picture


def test_rendered_figure_is_embedded_as_it_is(tmp_path: Path) -> None:
    fig = report.forest(_effects())
    drawn = report.RenderedFigure(report.figure_png_base64(fig))
    a = report.render_html(tmp_path / "a.html", title="T",
                           sections=[report.ReportSection("S", figures=[("cap", fig)])])
    b = report.render_html(tmp_path / "b.html", title="T",
                           sections=[report.ReportSection("S", figures=[("cap", drawn)])])
    assert a.read_bytes() == b.read_bytes()


def test_format_columns_are_the_texts_of_format_rows() -> None:
    frame = pd.DataFrame(
        {
            "estimand": ["ex_ante", "programme", "ex_ante"],
            "coef": [-0.12345, np.inf, np.nan],
            "p_value": [0.0004, 0.5, 1.0],
            "share": [0.25, -0.5, np.nan],
            "pct_change": [-1.5, 2.25, 3.0],
            "n_spells": [1200, 3, 15000],
            "meets_target": [True, False, None],
        }
    )
    shown = report.disclose(frame, ["n_spells"], 5)
    for lang in ("en", "da"):
        def translate(v: str, lang: str = lang) -> str:
            return report.label(v, lang)

        rows = report.format_rows(shown, lang, 5, translate)
        columns = report.format_columns(shown, lang, 5, translate)
        assert [list(c) for c in zip(*columns, strict=True)] == [
            [cell.text for cell in row] for row in rows
        ]
    en = report.format_columns(shown, "en", 5)
    assert en[1] == ["−0.123", "inf", ""] and en[5] == ["1,200", "<5", "15,000"]


def test_workbook_values_as_pandas_writes_them(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "estimand": ["a", "=1+1", "http://x"],
            "coef": [0.5, np.inf, np.nan],
            "n_spells": [10, 20, 30],
            "meets_target": [True, False, True],
        }
    )
    path = report.write_workbook(tmp_path / "t.xlsx", {"t": frame})
    ws = openpyxl.load_workbook(path)["t"]
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    # text stays text (no formula, no link); an infinity is the text "inf"; NaN is empty
    assert rows == [["a", 0.5, 10, True], ["=1+1", "inf", 20, False], ["http://x", None, 30, True]]
    assert ws["B2"].number_format == "0.000" and ws["C2"].number_format == "#,##0"
    again = report.write_workbook(tmp_path / "u.xlsx", {"t": frame})
    assert path.read_bytes() == again.read_bytes()


def test_workbook_columns_of_every_kind(tmp_path: Path) -> None:
    # nullable counts (one small, hidden), -inf, a mixed text column, a nullable boolean
    frame = pd.DataFrame(
        {
            "jobcentre": ["A", "B", "C"],
            "label": ["x", 3, None],
            "n_spells": pd.array([10, None, 3], dtype="Int64"),
            "coef": [-np.inf, 1.25, np.nan],
            "meets_target": pd.array([True, None, False], dtype="boolean"),
        }
    )
    path = report.write_workbook(tmp_path / "k.xlsx", {"k": frame})
    sheet = openpyxl.load_workbook(path)["k"]
    rows = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
    # the statistics of the row whose count is hidden are hidden with it
    assert rows == [
        ["A", "x", 10, "-inf", True],
        ["B", 3, None, 1.25, None],
        ["C", None, "<5", "<5", "<5"],
    ]


def test_kaplan_meier_equals_lifelines() -> None:
    """Independent reference: lifelines' KaplanMeierFitter with delayed entry and weights."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(3)
    n = 400
    entry = rng.integers(0, 8, n).astype(float)
    duration = entry + rng.integers(1, 30, n)
    event = rng.random(n) < 0.6
    weight = rng.integers(1, 6, n).astype(float)
    for w in (None, weight):
        km = report.kaplan_meier(entry, duration, event.astype(int), w)
        fit = KaplanMeierFitter().fit(duration, event, entry=entry, weights=w)
        np.testing.assert_array_equal(km.index.to_numpy(), fit.survival_function_.index)
        # the same operations in the same order: equal to the last bit
        np.testing.assert_array_equal(km["survival"], fit.survival_function_.iloc[:, 0])
        band = fit.confidence_interval_survival_function_.to_numpy()
        np.testing.assert_array_equal(km[["lower", "upper"]].to_numpy(), band)


def test_kaplan_meier_to_zero() -> None:
    """Every spell ends in an event: S reaches 0 and the band closes on it."""
    km = report.kaplan_meier(np.zeros(3), np.array([1.0, 2.0, 3.0]), np.ones(3, dtype=int))
    np.testing.assert_allclose(km["survival"], [1.0, 2 / 3, 1 / 3, 0.0])
    assert km["lower"].iloc[0] == 1.0 and km["upper"].iloc[-1] == 0.0


def test_frames_given_as_work_give_the_same_report(tmp_path: Path) -> None:
    km = pd.DataFrame(
        {
            "entry_week": [1, 1, 5, 5, 5, 1, 5, 5, 1, 5],
            "last_week": [3, 6, 8, 10, 12, 4, 9, 20, 7, 15],
            "event": [1, 1, 0, 1, 1, 1, 1, 0, 1, 1],
            "group": ["Programme"] * 5 + ["Comparison"] * 5,
        }
    )
    cells = pd.DataFrame(
        [(w, g, 100, e) for g, es in (("A", (5, 8, 6)), ("B", (9, 7, 1)))
         for w, e in zip((1, 2, 3), es, strict=True)],
        columns=["week", "group", "at_risk", "event"],
    )
    given = report.build_report(tmp_path / "a", km_frame=km, hazard_frame=cells)
    worked = report.build_report(
        tmp_path / "b", km_frame=lambda: km, hazard_frame=lambda: cells, parallel=False
    )
    html = given["html"].read_text(encoding="utf-8")
    assert html.count('<img src="data:image/png;base64,') == 2
    assert worked["html"].read_bytes() == given["html"].read_bytes()
    assert worked["workbook"].read_bytes() == given["workbook"].read_bytes()
