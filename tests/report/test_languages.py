"""The whole report in Danish (and English) from the embedded data, and its layout pieces."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sofeval import report
from sofeval.config import RunConfig
from sofeval.data import read_study_dir
from sofeval.errors import OptionError
from sofeval.pipeline import RunResults, design_text, run_analysis, write_outputs

DATA = Path(__file__).resolve().parents[2] / "data" / "synthetic"

#: English words and codes that would betray a half translation of the Danish report.
ENGLISH = (
    "Programme", "programme", "Comparison", "Week", "weeks", "Exit", "exit", "exits",
    "spells", "Spells", "spell", "Success", "criteria", "Study", "design", "Contents",
    "pooled", "Pooled", "Effects", "effects", "before", "during", "after", "Target",
    "Share", "share", "Month", "Rows", "yes", "no", "low", "high", "Coef", "Events",
    "ex_ante", "weeks_1_7", "weeks_8_plus", "spells_in", "exits_employment",
    "person_weeks", "censored", "first_meetings", "workplace_meetings", "Significant",
    "significant", "clustered", "Treatment", "Phases", "Follow-up", "covariates",
    "randomisation", "permutations", "Dose-response", "Monitoring", "Overall", "Period",
    "Half-year", "jobcentres", "estimand", "item", "value", "Number",
)


def _visible_text(page: str) -> str:
    """The text a reader sees: no tags, no embedded images, entities decoded."""
    page = re.sub(r'src="data:image/png;base64,[^"]*"', "", page)
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture(scope="module")
def results() -> RunResults:
    study = read_study_dir(DATA)
    config = RunConfig(bootstrap_draws=19, ri_draws=19, lang="da")
    return run_analysis(study, config, progress=False, parallel=False)


@pytest.fixture(scope="module")
def danish(results: RunResults, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("da")
    write_outputs(results, out)
    return out


def test_danish_report_has_no_english_words(danish: Path) -> None:
    text = _visible_text((danish / "report.html").read_text(encoding="utf-8"))
    found = sorted({w for w in ENGLISH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)})
    assert found == [], found
    for term in ("afgangsrate", "Programeffekt", "Ex ante-effekt", "Datagrundlag",
                 "datakontrol", "Sygedagpengeforløb", "programperioden"):
        assert term in text, term
    assert "0,0" in text  # decimal comma


def test_html_success_criteria_cover_programme_windows_only(danish: Path) -> None:
    page = (danish / "report.html").read_text(encoding="utf-8")
    full = pd.read_csv(danish / "success_criteria.csv")
    shown = full.loc[full["programme"] & full["in_window"]]
    assert 0 < len(shown) < len(full)
    assert f"({len(shown)})" in page  # the collapsed monthly table lists these rows only
    outside = set(full.loc[~full["programme"], "jobcentre"]) - set(shown["jobcentre"])
    tail = page[page.index(report.label("cap_monitoring_table", "da")):]
    assert not any(f"<td>{jc}</td>" in tail for jc in outside)


def test_design_text_in_both_languages(results: RunResults) -> None:
    en, da = design_text(results), design_text(results, "da")
    assert "Discrete-time" in en and "programme window" in en
    assert "afgang til beskæftigelse" in da and "programperiode" in da
    assert not re.search(r"\b(weeks?|spell|programme|clustered)\b", da)


# --- figures --------------------------------------------------------------------------


def test_km_small_multiples_have_one_panel_per_period_and_a_legend_below() -> None:
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame({
        "entry_week": rng.choice([1, 3], n), "event": (rng.random(n) < 0.8).astype(int),
        "group": pd.Categorical(rng.choice(["Programme", "Comparison"], n),
                                categories=["Programme", "Comparison"]),
        "period": pd.Categorical(rng.choice(["before", "during", "after"], n),
                                 categories=["before", "during", "after"])})
    frame["last_week"] = frame["entry_week"] + rng.integers(0, 30, n)
    fig = report.km_curves(frame, panel="period", lang="da")
    assert [a.get_title() for a in fig.axes] == [
        "Før programmet", "Under programmet", "Efter programmet"]
    assert all(a.get_legend() is None for a in fig.axes)  # no legend over the curves
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "Programjobcentre", "Sammenligningsjobcentre"]
    assert all(len(a.get_lines()) == 2 for a in fig.axes)
    with pytest.raises(OptionError, match="one axes per panel"):
        report.km_curves(frame, panel="period", ax=Figure().add_subplot())


def test_monitoring_shows_programme_jobcentres_only() -> None:
    rows = [dict(jobcentre=j, month_label=m, first_meetings=10, workplace_meetings=w,
                 share=w / 10, in_window=True, programme=p)
            for j, p, w in (("Herning", True, 7), ("Odder", True, 3), ("Aalborg", False, 1))
            for m in ("2018-01", "2018-02")]
    ax = report.monitoring_plot(pd.DataFrame(rows)).axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4  # 2 programme jobcentres, the pooled line, the target
    np.testing.assert_allclose(lines[2].get_ydata(), [0.5, 0.5])  # (7 + 3) / 20
    assert lines[2].get_linewidth() > 2 * lines[0].get_linewidth()


def test_figure_axes_new_and_given() -> None:
    fig, axes = report.figure_axes(None, height_cm=5, ncols=3, sharey=True)
    assert len(axes) == 3 and fig.get_figwidth() == pytest.approx(report.FIG_WIDTH_IN)
    again, same = report.figure_axes(axes, height_cm=5, ncols=3)
    assert again is fig and same == axes


# --- further sections -----------------------------------------------------------------


def test_extra_sections_are_published_and_protected(tmp_path: Path) -> None:
    dest = pd.DataFrame({
        "destination": ["employment", "unemployment", "flexjob"], "estimand": "programme",
        "coef": [0.1, -0.2, 0.3], "n_spells": 500, "n_events": [300, 3, 40]})
    pooled = pd.DataFrame({"estimand": ["programme"], "n_events": [343]})
    relations = report.sum_relations("destination_effects", dest, "destination_total",
                                     pooled, columns=["n_events"], on={"estimand": "estimand"})
    sec = report.ExtraSection(
        "sec_destinations",
        tables=[report.PublishedTable("destination_effects", dest, "cap_destinations"),
                report.PublishedTable("destination_total", pooled)],
        relations=relations)
    paths = report.build_report(tmp_path, extra_sections=[sec], lang="da", parallel=False)
    assert {"destination_effects", "destination_total", "html", "workbook"} <= set(paths)
    shown = pd.read_csv(paths["destination_effects"])
    assert shown["n_events"].isna().tolist() == [False, True, True]  # 3 and its complement
    assert shown["coef"].isna().tolist() == [False, True, False]
    page = paths["html"].read_text(encoding="utf-8")
    assert "Effekter pr. afgangsårsag" in page and "Ledighed" in page and ">..<" in page


def test_every_label_and_header_exists_in_both_languages() -> None:
    assert set(report.LABELS["en"]) == set(report.LABELS["da"])
    assert set(report.COLUMN_HEADERS["en"]) == set(report.COLUMN_HEADERS["da"])
    for lang in report.LANGS:
        assert all(v.strip() for v in report.LABELS[lang].values())
    # the tables announced by issues 15 and 16 have their headers already
    for column in ("destination", "weeks_saved", "kroner_total", "recurrence_with",
                   "event_quarter", "band_low", "n_leads", "window_start", "level"):
        assert report.column_header(column, "da") != column
