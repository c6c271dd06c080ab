from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from sofeval import report
from sofeval.errors import OptionError, SofevalError
from sofeval.report import LABELS

SECTION_KEYS = ("sec_design", "sec_km", "sec_hazard", "sec_pooled", "sec_forest", "sec_dose",
                "sec_monitoring")
CSV_NAMES = ("effects", "jobcentre_effects", "dose_response", "success_criteria", "data_audit")


def _inputs() -> dict[str, pd.DataFrame]:
    """Small hand-made tables; Odder/programme has 3 events and one audit rule drops 3 rows."""
    hr = np.array([1.10, 0.95, 1.40, 0.80])
    effects = pd.DataFrame({
        "estimand": ["ex_ante", "programme"], "coef": [0.05, -0.02], "se": [0.03, 0.04],
        "hazard_ratio": [1.05, 0.98], "ci_low": [0.99, 0.90], "ci_high": [1.12, 1.06],
        "p_value": [0.1, 0.6], "p_wild": [0.12, 0.62], "p_ri": [0.15, 0.7],
        "n_spells": [5000, 5000], "n_events": [900, 3100]})
    jce = pd.DataFrame({
        "jobcentre": ["Herning", "Odder", "Herning", "Odder"],
        "estimand": ["ex_ante", "ex_ante", "programme", "programme"],
        "coef": np.log(hr), "se": 0.1, "hazard_ratio": hr, "ci_low": hr / 1.2,
        "ci_high": hr * 1.2, "p_value": [0.01, 0.6, 0.001, 0.7], "p_holm": [0.03, 0.9, 0.004, 0.9],
        "q_bh": [0.02, 0.7, 0.004, 0.7], "p_placebo": 0.2, "n_spells": [200, 40, 150, 30],
        "n_events": [120, 0, 90, 3], "flag": ""})
    dose = pd.DataFrame({
        "window": ["weeks_1_7", "weeks_8_plus"], "mediator": "share_workplace",
        "coef": [0.13, 0.02], "se": [0.05, 0.04], "p_value": [0.01, 0.6],
        "pct_per_10pp": [1.31, 0.2], "ci_low_pct": [0.33, -0.58], "ci_high_pct": [2.3, 0.99],
        "n_spells": [4000, 3000]})
    sc = pd.DataFrame({
        "jobcentre": ["Herning"] * 3 + ["Odder"] * 3,
        "month_label": ["2018-01", "2018-02", "2018-03"] * 2,
        "first_meetings": [20, 12, 30, 8, 10, 0],
        "workplace_meetings": [6, 3, 12, 0, 5, 0],
        "share": [0.3, 0.25, 0.4, 0.0, 0.5, np.nan],
        "share_v23": [0.35, 0.3, 0.45, 0.0, 0.5, np.nan],
        "meets_target": [False, False, False, False, False, False], "in_window": True})
    audit = pd.DataFrame({"table": ["spells"] * 3 + ["meetings"] * 6,
                          "row_id": [f"s{i}" for i in range(9)],
                          "rule": ["duplicate_spell_id"] * 3 + ["unknown_spell"] * 6,
                          "detail": ""})
    panel = pd.DataFrame({"item": ["spells", "person_weeks"], "value": [5000, 81234]})
    rng = np.random.default_rng(3)
    n = 80
    km = pd.DataFrame({"entry_week": rng.choice([1, 5], n), "group": rng.choice(
        ["Programme, during", "Comparison, during"], n)})
    km["last_week"] = km["entry_week"] + rng.integers(0, 20, n)
    km["event"] = (rng.random(n) < 0.8).astype(int)
    haz = pd.DataFrame({"week": np.tile(np.arange(1, 9), 2),
                        "group": np.repeat(["Programme, during", "Comparison, during"], 8),
                        "at_risk": 200, "event": rng.integers(0, 20, 16)})
    return {"effects": effects, "jobcentre_effects": jce, "dose_response": dose,
            "success_criteria": sc, "audit": audit, "panel_summary": panel, "km_frame": km,
            "hazard_frame": haz}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, Path]]:
    a = report.build_report(tmp_path_factory.mktemp("a"), design_text="Design <text>.",
                            **_inputs())  # type: ignore[arg-type]
    b = report.build_report(tmp_path_factory.mktemp("b"), design_text="Design <text>.",
                            **_inputs())  # type: ignore[arg-type]
    return a, b


# --- disclose ---------------------------------------------------------------------------


def test_disclose_suppresses_small_nonzero_counts_and_dependents() -> None:
    df = pd.DataFrame({"n": [0, 3, 5, 12], "coef": [0.1, 0.2, 0.3, 0.4], "label": list("abcd")})
    out = report.disclose(df, ["n"], dependent_columns=["coef"])
    assert out["n"].tolist()[0] == 0 and out["n"].tolist()[2:] == [5, 12]
    assert pd.isna(out.loc[1, "n"]) and pd.isna(out.loc[1, "coef"])
    assert out.loc[[0, 2, 3], "coef"].tolist() == [0.1, 0.3, 0.4]
    assert out.attrs[report.SUPPRESSED_ATTR] == frozenset({(1, "n"), (1, "coef")})
    assert df["n"].tolist() == [0, 3, 5, 12]  # input untouched


def test_disclose_threshold_configurable() -> None:
    df = pd.DataFrame({"n": [3, 7, 10]})
    assert report.disclose(df, ["n"], threshold=10)["n"].isna().tolist() == [True, True, False]
    assert report.disclose(df, ["n"], threshold=3)["n"].isna().tolist() == [False] * 3
    with pytest.raises(OptionError, match="threshold"):
        report.disclose(df, ["n"], threshold=0)
    with pytest.raises(SofevalError, match="missing|not in the table"):
        report.disclose(df, ["n_events"])


def test_auto_disclose_twice_keeps_markers() -> None:
    df = pd.DataFrame({"n_events": [3, 50], "coef": [1.0, 2.0]})
    twice = report.auto_disclose(report.auto_disclose(df))
    assert twice.attrs[report.SUPPRESSED_ATTR] == frozenset({(0, "n_events"), (0, "coef")})


# --- files ------------------------------------------------------------------------------


def test_csvs_never_show_small_counts(built: tuple[dict[str, Path], dict[str, Path]]) -> None:
    paths = built[0]
    for name in CSV_NAMES[:-1]:
        text = paths[name].read_bytes()
        assert b"\r\n" not in text
        frame = pd.read_csv(paths[name])
        for col in frame.columns:
            if col in report.COUNT_COLUMNS:
                assert not frame[col].isin([1, 2, 3, 4]).any(), (name, col)
    jce = pd.read_csv(paths["jobcentre_effects"])
    odder = jce.loc[(jce["jobcentre"] == "Odder")]
    assert odder["n_events"].tolist()[0] == 0  # a zero count is shown
    assert odder[["n_events", "coef", "hazard_ratio"]].iloc[1].isna().all()
    # data_audit.csv is the analyst's row-level audit (every dropped row, with its id) ...
    audit = pd.read_csv(paths["data_audit"], dtype=str)
    assert audit.columns.tolist() == ["table", "row_id", "rule", "detail"]
    assert len(audit) == 9 and audit["row_id"].notna().all()
    # ... while the published workbook sheet shows counts by rule with disclosure control
    sheet = pd.read_excel(paths["workbook"], sheet_name="data_audit")
    assert sheet.columns.tolist() == ["Table", "Rule", "Rows"]
    assert sheet["Rows"].astype(str).tolist() == ["6", "<5"]  # meetings 6, spells 3 hidden
    sc = pd.read_csv(paths["success_criteria"])
    assert sc.loc[1, ["workplace_meetings", "share"]].isna().all()
    assert sc.loc[3, "workplace_meetings"] == 0


def test_workbook_sheets_headers_values(built: tuple[dict[str, Path], dict[str, Path]]) -> None:
    wb = openpyxl.load_workbook(built[0]["workbook"])
    assert wb.sheetnames == [*CSV_NAMES, "panel_summary"]
    inputs = _inputs()
    for name in ("effects", "jobcentre_effects", "dose_response", "success_criteria"):
        ws = wb[name]
        assert [c.value for c in ws[1]] == [report.column_header(c) for c in inputs[name].columns]
        assert ws.freeze_panes == "A2" and ws["A1"].font.bold
    ws = wb["effects"]
    assert ws["B2"].value == pytest.approx(0.05) and ws["B2"].number_format == "0.000"
    assert ws["K3"].value == 3100
    jc = wb["jobcentre_effects"]
    counts = {c: i + 1 for i, c in enumerate(inputs["jobcentre_effects"].columns)}
    col_events, col_coef = counts["n_events"], counts["coef"]
    assert jc.cell(row=5, column=col_events).value == "<5"
    assert jc.cell(row=5, column=col_coef).value == "<5"
    assert jc.cell(row=3, column=col_events).value == 0
    count_headers = {report.column_header(c) for c in report.COUNT_COLUMNS}
    assert "Events" in count_headers
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                header = ws.cell(row=1, column=cell.column).value
                if header in count_headers:
                    assert cell.value not in (1, 2, 3, 4), (ws.title, header)
    assert wb["success_criteria"]["E2"].number_format == "0.0%"


def test_workbook_danish_headers(tmp_path: Path) -> None:
    path = report.write_workbook(tmp_path / "x.xlsx", {"effects": _inputs()["effects"]},
                                 lang="da")
    ws = openpyxl.load_workbook(path)["effects"]
    assert ws["B1"].value == "Koef." and ws["K1"].value == "Antal afgange"


def test_html_sections_figures_tables(built: tuple[dict[str, Path], dict[str, Path]]) -> None:
    html = built[0]["html"].read_text(encoding="utf-8")
    for key in SECTION_KEYS:
        assert LABELS["en"][key] in html, key
    assert html.count('<img src="data:image/png;base64,') == 5
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert html.count("<table>") == 6
    assert "Design &lt;text&gt;." in html  # escaped
    assert ">&lt;5<" in html
    cells = re.findall(r'<td class="num">([^<]*(?:&lt;5)?)</td>', html)
    assert cells and "3" not in cells and "0" in cells


def test_build_report_is_deterministic(built: tuple[dict[str, Path], dict[str, Path]]) -> None:
    a, b = built
    assert set(a) == {*CSV_NAMES, "workbook", "html"}
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    with zipfile.ZipFile(a["workbook"]) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2000-01-01T00:00:00Z" in zf.read("docProps/core.xml")


def test_build_report_partial_and_danish(tmp_path: Path) -> None:
    inputs = _inputs()
    paths = report.build_report(tmp_path, effects=inputs["effects"], lang="da", threshold=10,
                                metadata={"Kørsel": "test"})
    assert set(paths) == {"effects", "workbook", "html"}
    html = paths["html"].read_text(encoding="utf-8")
    assert LABELS["da"]["sec_pooled"] in html and LABELS["da"]["sec_km"] not in html
    assert "0,050" in html  # decimal comma
    assert "Kørsel" in html
    assert "data:image/png" not in html


def test_render_html_marks_suppressed_from_disclose(tmp_path: Path) -> None:
    df = report.disclose(pd.DataFrame({"n": [2, 9]}), ["n"], threshold=3)
    path = report.render_html(tmp_path / "r.html", title="T", threshold=3,
                              sections=[report.ReportSection("S", tables=[("cap", df)])])
    html = path.read_text(encoding="utf-8")
    assert ">&lt;3<" in html and ">9<" in html and ">2<" not in html
