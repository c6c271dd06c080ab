"""Figures drawn ahead of the report: the report is the same whether they were or not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sofeval import report

#: Base64 text no figure renders to: shows whether a pre-rendered figure was embedded.
MARKER = "UFJFUkVOREVSRUQ="


def _tables() -> dict[str, pd.DataFrame]:
    """Pooled effects and jobcentre effects whose Odder/programme events (3) are suppressed.

    The jobcentre rows add up to the pooled counts, so with ``effects`` published secondary
    suppression hides a second jobcentre cell: a figure drawn from ``jobcentre_effects``
    alone sees a cell the whole report hides.
    """
    hr = np.array([1.10, 0.95, 1.40, 0.80])
    effects = pd.DataFrame({
        "estimand": ["ex_ante", "programme"], "coef": [0.05, -0.02], "se": [0.03, 0.04],
        "hazard_ratio": [1.05, 0.98], "ci_low": [0.99, 0.90], "ci_high": [1.12, 1.06],
        "p_value": [0.1, 0.6], "n_spells": [240, 180], "n_events": [120, 93]})  # fmt: skip
    jce = pd.DataFrame({
        "jobcentre": ["Herning", "Odder", "Herning", "Odder"],
        "estimand": ["ex_ante", "ex_ante", "programme", "programme"],
        "coef": np.log(hr), "se": 0.1, "hazard_ratio": hr, "ci_low": hr / 1.2,
        "ci_high": hr * 1.2, "p_value": [0.01, 0.6, 0.001, 0.7], "q_bh": [0.02, 0.7, 0.004, 0.7],
        "p_holm": [0.03, 0.9, 0.004, 0.9], "n_spells": [200, 40, 150, 30],
        "n_events": [120, 0, 90, 3]})  # fmt: skip
    dose = pd.DataFrame({
        "window": ["weeks_1_7", "weeks_8_plus"], "mediator": "share_workplace",
        "coef": [0.13, 0.02], "se": [0.05, 0.04], "p_value": [0.01, 0.6],
        "pct_per_10pp": [1.31, 0.2], "ci_low_pct": [0.33, -0.58], "ci_high_pct": [2.3, 0.99],
        "n_spells": [4000, 3000]})  # fmt: skip
    return {"effects": effects, "jobcentre_effects": jce, "dose_response": dose}


def _placebo() -> report.ExtraSection | None:
    placebo = pd.DataFrame({
        "estimand": ["ex_ante", "programme"], "window_start": "2017-01-01",
        "window_end": "2017-06-30", "coef": [0.01, -0.03], "se": [0.05, 0.06],
        "p_value": [0.8, 0.6], "p_wild": [0.82, 0.64], "n_spells": [300, 300],
        "n_events": [150, 140]})  # fmt: skip
    return report.credibility_section(placebo_time=placebo)


def _build(folder: Path, prerendered: tuple[report.PrerenderedFigure, ...] = ()) -> bytes:
    section = _placebo()
    assert section is not None
    paths = report.build_report(
        folder, **_tables(), extra_sections=[section], prerendered=prerendered, parallel=False
    )
    return paths["html"].read_bytes()


def _marked(figures: tuple[report.PrerenderedFigure, ...]) -> tuple[report.PrerenderedFigure, ...]:
    return tuple(replace(f, png=MARKER) for f in figures)


def test_report_with_prerendered_figures_is_the_same(tmp_path: Path) -> None:
    section = _placebo()
    assert section is not None
    figures = report.report_figures(**_tables(), extra_sections=[section])
    assert [f.key for f in figures] == ["cap_forest", "cap_dose", "cap_placebo_time"]
    assert _build(tmp_path / "drawn") == _build(tmp_path / "ahead", figures)


def test_prerendered_figures_are_embedded_as_they_are(tmp_path: Path) -> None:
    section = _placebo()
    assert section is not None
    figures = report.report_figures(**_tables(), extra_sections=[section])
    page = _build(tmp_path, _marked(figures)).decode()
    assert page.count(MARKER) == len(figures)


def test_figure_drawn_from_other_tables_is_drawn_again(tmp_path: Path) -> None:
    # drawn from jobcentre_effects alone: its secondary suppression differs from the report's
    alone = report.report_figures(jobcentre_effects=_tables()["jobcentre_effects"])
    with_effects = report.report_figures(
        effects=_tables()["effects"], jobcentre_effects=_tables()["jobcentre_effects"]
    )
    assert [f.key for f in alone] == ["cap_forest"]
    assert alone[0].reads != with_effects[0].reads
    page = _build(tmp_path / "ahead", _marked(alone))
    assert MARKER.encode() not in page
    assert page == _build(tmp_path / "drawn")


def test_figure_of_another_language_or_threshold_is_drawn_again(tmp_path: Path) -> None:
    tables = _tables()
    danish = report.report_figures(**tables, lang="da")
    strict = report.report_figures(**tables, threshold=10)
    page = _build(tmp_path, _marked(danish + strict))
    assert MARKER.encode() not in page


def test_table_fingerprint_sees_values_dtypes_and_markers() -> None:
    frame = pd.DataFrame({"jobcentre": ["A", "B"], "n_spells": [3, 40], "coef": [0.1, np.nan]})
    same = frame.copy()
    assert report.table_fingerprint(frame) == report.table_fingerprint(same)
    other_value = frame.assign(coef=[0.1, 0.2])
    other_dtype = frame.astype({"n_spells": "float64"})
    disclosed = report.disclose(frame, threshold=5, count_columns=["n_spells"])
    prints = {
        report.table_fingerprint(f) for f in (frame, other_value, other_dtype, disclosed, None)
    }
    assert len(prints) == 5


def test_read_log_records_tables_read_and_missing() -> None:
    tables = {"a": pd.DataFrame({"x": [1]}), "b": pd.DataFrame({"x": [2]})}
    log = report.ReadLog(tables)
    assert log["a"] is tables["a"]
    assert log.get("missing") is None
    assert dict(log.reads()) == {
        "a": report.table_fingerprint(tables["a"]),
        "missing": report.table_fingerprint(None),
    }
    assert len(log) == 2
    assert list(log) == ["a", "b"]
    assert {name for name, _ in log.reads()} == {"a", "b", "missing"}
