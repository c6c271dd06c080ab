"""Key findings from hand-made tables, and the report machinery the added sections use:
rows that follow another table's hidden count, figures drawn from the disclosed tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sofeval import report
from sofeval.errors import SofevalError
from sofeval.report import FindingsSettings, fmt_number, fmt_p, key_findings


def _effects(hr_programme: float = 1.25, p_programme: float = 0.004) -> pd.DataFrame:
    return pd.DataFrame({
        "estimand": ["ex_ante", "programme"], "coef": np.log([0.97, hr_programme]),
        "se": [0.04, 0.05], "hazard_ratio": [0.97, hr_programme], "ci_low": [0.9, 1.1],
        "ci_high": [1.05, 1.42], "p_value": [0.47, 0.003], "p_wild": [0.48, p_programme],
        "n_spells": [2400, 1600], "n_events": [690, 1140]})


def _jobcentres() -> pd.DataFrame:
    return pd.DataFrame({
        "jobcentre": ["Vejle", "Herning", "Odder"] * 2,
        "estimand": ["ex_ante"] * 3 + ["programme"] * 3,
        "hazard_ratio": [1.0, 1.1, 0.9, 1.52, 1.31, 0.95],
        "p_holm": [1.0, 1.0, 1.0, 0.01, 0.2, 1.0], "q_bh": [0.9, 0.9, 0.9, 0.01, 0.04, 0.8],
        "n_spells": [100, 90, 80, 70, 60, 50], "n_events": [30, 20, 10, 50, 40, 30]})


def _durations() -> pd.DataFrame:
    return pd.DataFrame({
        "scope": ["all", "Vejle"], "tau_weeks": 52, "n_spells": [2417, 40],
        "weeks_with": [13.1746, 12.0], "weeks_without": [13.3174, 12.5],
        "weeks_saved": [0.1428, 0.5], "se": [0.35, 0.9], "ci_low": [-0.5401, -1.3],
        "ci_high": [0.8257, 2.3], "kroner_per_spell": [614.04, 2150.0],
        "kroner_total": [1484135.0, 86000.0]})


def test_numbers_follow_the_language() -> None:
    assert fmt_number(-1234.567, 2, "en") == "−1,234.57"
    assert fmt_number(-1234.567, 2, "da") == "−1.234,57"
    assert fmt_number(-0.001, 2, "en") == "0.00"  # no negative zero
    assert fmt_p(0.0004, "da") == "<0,001" and fmt_p(0.0456, "en") == "0.046"


def test_effects_and_jobcentres_in_plain_words() -> None:
    tables = {"effects": _effects(), "jobcentre_effects": _jobcentres(),
              "homogeneity": pd.DataFrame({
                  "variable": ["jobcentre", "jobcentre"], "estimand": ["ex_ante", "programme"],
                  "statistic": [2.0, 9.0], "df": [2, 2], "p_value": [0.4, 0.01],
                  "p_wild": [0.41, 0.02]})}
    text = " ".join(key_findings(tables))
    assert ("The programme effect (week 8 onward), pooled over the programme jobcentres: "
            "hazard ratio 1.25 (95 % CI 1.10 to 1.42), p = 0.004 (wild cluster bootstrap); "
            "the exit rate to employment is 25.0 % higher") in text
    assert "no statistically significant change" in text  # the ex-ante effect
    assert "in Vejle (hazard ratio 1.52) (Holm) and in Herning (hazard ratio 1.31) and " \
           "Vejle (hazard ratio 1.52) (Benjamini–Hochberg)" in text
    assert "none of them" in text  # no ex-ante effect differs
    assert re.search(r"programme effect \(week 8 onward\) is the same in every programme "
                     r"jobcentre rejects at the 5 % level \(p = 0\.020", text)
    da = " ".join(key_findings(tables, lang="da"))
    assert "hazard ratio 1,25 (95 %-KI 1,10 til 1,42)" in da and "25,0 % højere" in da
    assert "Vejle (hazard ratio 1,52) og Herning" not in da  # Holm: Vejle only
    assert "forkastes på 5 %-niveau (p = 0,020" in da


def test_weeks_and_kroner_with_confidence_intervals() -> None:
    text = " ".join(key_findings({"duration_effects": _durations()},
                                 settings=FindingsSettings(benefit_per_week=4300)))
    assert ("averaged over the 2,417 programme spells: 13.17 with the programme and 13.32 "
            "without it; weeks saved per spell 0.14 (95 % CI −0.54 to 0.83)") in text
    lo, hi = -0.5401 * 4300, 0.8257 * 4300
    assert (f"614 kr. per spell (95 % CI {fmt_number(lo, 0)} kr. to {fmt_number(hi, 0)} kr.) "
            f"and 1.48 million kr. in total (95 % CI {fmt_number(lo * 2417 / 1e6, 2)} million "
            f"kr. to {fmt_number(hi * 2417 / 1e6, 2)} million kr.)") in text
    no_rate = " ".join(key_findings({"duration_effects": _durations()}))
    assert "That is 614 kr. per spell and 1.48 million kr. in total." in no_rate
    da = " ".join(key_findings({"duration_effects": _durations()}, lang="da"))
    assert "de 2.417 programforløb" in da and "1,48 mio. kr. i alt" in da


def test_hidden_cells_leave_their_sentence_out() -> None:
    shown = report.auto_disclose(_durations().assign(n_spells=[4, 40]), 5)
    assert key_findings({"duration_effects": shown}) == []
    assert key_findings({}) == []
    eff = _effects()
    eff.loc[1, "hazard_ratio"] = np.nan
    assert "programme effect" not in " ".join(key_findings({"effects": eff}))


# --- build_report: row links and figure factories ------------------------------------------


def _outcome_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Durations where Odder (3 spells) is small; Herning must hide with it (its margin)."""
    dur = pd.DataFrame({
        "scope": ["all", "Herning", "Odder", "Vejle"], "tau_weeks": 52,
        "n_spells": [63, 20, 3, 40], "weeks_with": [13.0, 12.0, 11.0, 14.0],
        "weeks_without": 13.5, "weeks_saved": 0.5, "se": 0.2, "ci_low": 0.1, "ci_high": 0.9,
        "kroner_per_spell": 2150.0, "kroner_total": [135450.0, 43000.0, 6450.0, 86000.0]})
    weeks = np.arange(1, 4)
    inc = pd.DataFrame({
        "scope": np.repeat(dur["scope"], len(weeks)), "destination": "employment",
        "week": np.tile(weeks, len(dur)), "with": 0.1, "without": 0.09, "difference": 0.01,
        "se": 0.005, "ci_low": 0.0, "ci_high": 0.02}).reset_index(drop=True)
    return dur, inc


def test_rows_follow_the_hidden_count_they_rest_on(tmp_path: Path) -> None:
    dur, inc = _outcome_tables()
    drawn: list[set[str]] = []

    def weeks_figure(shown):  # drawn from the disclosed table
        table = shown["duration_effects"]
        drawn.append(set(table.loc[table["weeks_with"].notna(), "scope"]))
        return report.weeks_saved_forest(table[table["weeks_with"].notna()])

    sections = report.outcome_sections(duration_effects=dur, cumulative_incidence=inc,
                                       benefit_per_week=4300)
    extra = [*sections, report.ExtraSection("sec_duration", figures=[
        ("cap_weeks_saved", weeks_figure), ("cap_survival", lambda shown: None)])]
    with pytest.raises(SofevalError, match="unique"):
        report.build_report(tmp_path / "dup", extra_sections=[*sections, *sections])
    paths = report.build_report(tmp_path, extra_sections=extra, lang="en")
    shown = pd.read_csv(paths["duration_effects"])
    hidden = set(shown.loc[shown["n_spells"].isna(), "scope"])
    assert "Odder" in hidden and len(hidden) >= 2, "Odder alone could be recovered from 'all'"
    assert shown.loc[shown["scope"].isin(hidden), "kroner_total"].isna().all()
    ci = pd.read_csv(paths["cumulative_incidence"])
    gone = ci["scope"].isin(hidden)
    assert ci.loc[gone, ["with", "without", "difference", "se"]].isna().all().all()
    assert ci.loc[~gone, "with"].notna().all()
    assert drawn == [{"all", "Herning", "Odder", "Vejle"} - hidden]
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count("<figure>") >= 2  # the factory's figure and the section's own ones
    assert "<5" in page or "&lt;5" in page


def test_sections_declare_their_margins() -> None:
    dur, inc = _outcome_tables()
    (sec,) = report.outcome_sections(duration_effects=dur, cumulative_incidence=inc)
    (total,) = {r.total for r in sec.relations}
    assert total == report.CellRef("duration_effects", 0, "n_spells")
    assert {p.row for r in sec.relations for p in r.parts} == {1, 2, 3}
    follows = [t.follows for t in sec.tables if t.follows is not None]
    assert follows == [report.RowLink("duration_effects", "n_spells", {"scope": "scope"})]
    assert all(isinstance(f, Figure) or callable(f) for _, f in sec.figures)
