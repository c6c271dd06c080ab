"""The whole `sofeval run` in the library: the second-wave tables, their disclosure, the key
findings quoted from the tables, the Danish report, the workbook's numbers, failures as notes.

One small synthetic study (6,000 spells, few bootstrap draws, two subgroup variables) is
estimated once per module; writing the outputs is cheap beside it and is repeated with other
languages and thresholds.
"""

from __future__ import annotations

import html
import json
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from sofeval import report
from sofeval.analyses import subgroup_effects
from sofeval.config import RunConfig
from sofeval.data import StudyData, simulate, validate_study
from sofeval.errors import NotIdentifiedWarning
from sofeval.panel import StudyDesign
from sofeval.pipeline import (
    CORE_WORK,
    LANE_COST,
    MAX_LEVELS,
    MOVABLE,
    SECOND_LANE,
    RunResults,
    figures_for,
    lane_loads,
    merge_subgroups,
    run_analysis,
    second_lane_analyses,
    split_subgroups,
    subgroup_levels,
    subgroup_variables,
    write_outputs,
)
from sofeval.report import LABELS

#: Columns of the new tables, as issues 15 and 16 define them.
NEW_TABLES: dict[str, list[str]] = {
    "destination_effects": ["destination", "estimand", "coef", "se", "hazard_ratio", "ci_low",
                            "ci_high", "p_value", "p_wild", "n_spells", "n_events"],
    "duration_effects": ["scope", "tau_weeks", "n_spells", "weeks_with", "weeks_without",
                         "weeks_saved", "se", "ci_low", "ci_high", "kroner_per_spell",
                         "kroner_total"],
    "cumulative_incidence": ["scope", "destination", "week", "with", "without", "difference",
                             "se", "ci_low", "ci_high"],
    "recurrence": ["scope", "horizon_weeks", "n_returns", "recurrence_with",
                   "recurrence_without", "difference", "se", "ci_low", "ci_high"],
    "event_study": ["estimand", "event_quarter", "coef", "se", "ci_low", "ci_high", "band_low",
                    "band_high", "n_spells", "n_events"],
    "pretrend_test": ["estimand", "n_leads", "statistic", "df", "p_value", "p_wild"],
    "placebo_time": ["estimand", "window_start", "window_end", "coef", "se", "p_value", "p_wild",
                     "n_spells", "n_events"],
    "subgroup_effects": ["variable", "level", "estimand", "coef", "se", "hazard_ratio", "ci_low",
                         "ci_high", "p_value", "n_spells", "n_events"],
    "homogeneity": ["variable", "estimand", "statistic", "df", "p_value", "p_wild"],
}
HONESTDID_FILES = ("honestdid_ex_ante.json", "honestdid_ex_ante.csv",
                   "honestdid_programme.json", "honestdid_programme.csv")
DRAWS = 19
SUBGROUPS = ("sex", "visitation_category")


def _study(n_spells: int = 6000, seed: int = 3) -> StudyData:
    sim = simulate("report", n_spells=n_spells, seed=seed, progress=False)
    return validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                          sim.monitoring)


def _run(study: StudyData, config: RunConfig) -> RunResults:
    """run_analysis, recording the warnings a small sample gives (rare exits not identified)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_analysis(study, config, progress=False)
    unexpected = [w for w in caught if not issubclass(w.category, NotIdentifiedWarning)]
    assert not unexpected, [str(w.message) for w in unexpected]
    return res


@pytest.fixture(scope="module")
def study() -> StudyData:
    return _study()


@pytest.fixture(scope="module")
def res(study: StudyData) -> RunResults:
    config = RunConfig(bootstrap_draws=DRAWS, ri_draws=DRAWS, subgroups=SUBGROUPS)
    return _run(study, config)


def _write(res: RunResults, folder: Path, **changes: object) -> Path:
    out = replace(res, config=res.config.updated(**changes)) if changes else res
    write_outputs(out, folder)
    return folder


@pytest.fixture(scope="module")
def out_en(res: RunResults, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(res, tmp_path_factory.mktemp("en"))


@pytest.fixture(scope="module")
def out_da(res: RunResults, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(res, tmp_path_factory.mktemp("da"), lang="da")


def _csv(folder: Path, name: str, **kw: object) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", **kw)  # type: ignore[call-overload]


def _sections(page: str) -> dict[str, str]:
    """Section title -> its text (tags stripped), in order."""
    out = {}
    for m in re.finditer(r'<section id="s\d+">\s*<h2>\d+\. (.*?)</h2>(.*?)</section>', page,
                         flags=re.S):
        out[html.unescape(m.group(1))] = html.unescape(re.sub(r"<[^>]+>", " ", m.group(2)))
    return out


def _findings(folder: Path, lang: str) -> str:
    page = (folder / "report.html").read_text(encoding="utf-8")
    sections = _sections(page)
    first = next(iter(sections))
    assert first == LABELS[lang]["sec_findings"], "the report opens with the key findings"
    return " ".join(sections[first].split())


def _num(text: str, lang: str = "en") -> float:
    """A number as the report writes it (typographic minus, Danish decimal comma)."""
    t = text.replace("−", "-").rstrip(".")
    t = t.replace(".", "").replace(",", ".") if lang == "da" else t.replace(",", "")
    return float(t)


# --- the tables ----------------------------------------------------------------------------


def test_new_tables_have_exactly_the_issue_columns(out_en: Path) -> None:
    for name, columns in NEW_TABLES.items():
        assert list(_csv(out_en, name).columns) == columns, name
    for name in HONESTDID_FILES:
        assert (out_en / name).is_file(), name
    export = json.loads((out_en / "honestdid_programme.json").read_text(encoding="utf-8"))
    numbers = [*export["betahat"], *(v for row in export["sigma"] for v in row)]
    # 10 significant digits, as every table: the export does not depend on BLAS threads
    assert numbers and all(float(f"{v:.10g}") == v for v in numbers)
    assert set(_csv(out_en, "subgroup_effects")["variable"]) == set(SUBGROUPS)
    hom = _csv(out_en, "homogeneity")
    assert list(dict.fromkeys(hom["variable"])) == [*SUBGROUPS, "jobcentre"]


def test_destination_employment_rows_equal_effects(out_en: Path) -> None:
    """Read as text: the employment rows carry exactly the bytes of effects.csv."""
    dest = _csv(out_en, "destination_effects", dtype=str)
    eff = _csv(out_en, "effects", dtype=str)
    employment = dest[dest["destination"] == "employment"].reset_index(drop=True)
    cols = [c for c in NEW_TABLES["destination_effects"] if c != "destination"]
    pd.testing.assert_frame_equal(employment[cols], eff[cols])


def _protected(hidden_parts: int, total_hidden: bool) -> bool:
    """A margin protects its hidden parts: none, or two or more, or the total hidden too."""
    return hidden_parts != 1 or total_hidden


def test_every_table_is_disclosed_and_its_margins_protected(res: RunResults, tmp_path: Path
                                                            ) -> None:
    """At a threshold that hides small jobcentres, no hidden count is a margin's only gap."""
    threshold = 60
    out = _write(res, tmp_path, threshold=threshold)
    for name in ("destination_effects", "duration_effects", "recurrence", "event_study",
                 "placebo_time", "subgroup_effects"):
        t = _csv(out, name)
        for c in ("n_spells", "n_events", "n_returns"):
            if c in t.columns:
                shown = t[c].dropna()
                assert not ((shown >= 1) & (shown < threshold)).any(), (name, c)
    dur = _csv(out, "duration_effects")
    pooled = dur["scope"] == "all"
    hidden = dur.loc[~pooled, "n_spells"].isna()
    assert hidden.any()
    assert _protected(hidden.sum(), dur.loc[pooled, "n_spells"].isna().any())
    assert dur.loc[hidden.index[hidden], "kroner_total"].isna().all()
    inc = _csv(out, "cumulative_incidence")
    gone = set(dur.loc[hidden.index[hidden], "scope"])
    rows = inc["scope"].isin(gone)
    assert inc.loc[rows, ["with", "without", "difference", "se"]].isna().all().all()
    assert inc.loc[~rows, "with"].notna().all()
    rec = _csv(out, "recurrence")
    for _, per in rec.groupby("horizon_weeks"):
        parts = per.loc[per["scope"] != "all", "n_returns"].isna().sum()
        assert _protected(parts, per.loc[per["scope"] == "all", "n_returns"].isna().any())
    sub = _csv(out, "subgroup_effects")
    eff = _csv(out, "effects").set_index("estimand")
    for (_, est), per in sub.groupby(["variable", "estimand"]):
        for c in ("n_spells", "n_events"):
            assert _protected(per[c].isna().sum(), np.isnan(eff.loc[est, c]))


def test_workbook_numbers_equal_the_csvs(out_en: Path) -> None:
    book = openpyxl.load_workbook(out_en / "sofeval_results.xlsx", read_only=True)
    for name in [*NEW_TABLES, "effects", "jobcentre_effects"]:
        csv = _csv(out_en, name, float_precision="round_trip")
        rows = list(book[name[:31]].iter_rows(min_row=2, values_only=True))
        assert len(rows) == len(csv), name
        for j, col in enumerate(csv.columns):
            if not pd.api.types.is_float_dtype(csv[col]):
                continue
            got = np.array([r[j] if isinstance(r[j], (int, float)) else np.nan for r in rows],
                           dtype=float)
            np.testing.assert_array_equal(got, csv[col].to_numpy(), err_msg=f"{name}.{col}")


# --- the key findings ----------------------------------------------------------------------


def test_key_findings_quote_the_tables(out_en: Path) -> None:
    text = _findings(out_en, "en")
    eff = _csv(out_en, "effects").set_index("estimand")
    hr = re.findall(r"hazard ratio (\S+) \(95 % CI (\S+) to (\S+)\), p = (\S+) \(wild", text)
    assert len(hr) == 2
    for (h, lo, hi, p), est in zip(hr, ["ex_ante", "programme"], strict=True):
        row = eff.loc[est]
        assert [_num(h), _num(lo), _num(hi)] == [
            round(row["hazard_ratio"], 2), round(row["ci_low"], 2), round(row["ci_high"], 2)]
        assert _num(p) == round(row["p_wild"], 3)
    dur = _csv(out_en, "duration_effects").set_index("scope").loc["all"]
    m = re.search(r"within (\d+) weeks, averaged over the (\S+) programme spells: (\S+) with the "
                  r"programme and (\S+) without it; weeks saved per spell (\S+) \(95 % CI (\S+) "
                  r"to (\S+)\)\. At (\S+) kr\. per week that is (\S+) kr\. per spell", text)
    assert m is not None, text
    assert int(m.group(1)) == dur["tau_weeks"] and _num(m.group(2)) == dur["n_spells"]
    assert [_num(m.group(k)) for k in range(3, 8)] == [
        round(dur[c], 2) for c in ("weeks_with", "weeks_without", "weeks_saved", "ci_low",
                                   "ci_high")]
    assert _num(m.group(8)) == 4300 and _num(m.group(9)) == round(dur["kroner_per_spell"])
    dose = _csv(out_en, "dose_response").set_index("window")
    m = re.search(r"changes by (\S+) % in weeks 1–7 \(95 % CI (\S+) to (\S+) %, p = (\S+)\)", text)
    assert m is not None
    a = dose.loc["weeks_1_7"]
    assert [_num(m.group(k)) for k in (1, 2, 3)] == [
        round(a[c], 2) for c in ("pct_per_10pp", "ci_low_pct", "ci_high_pct")]
    overall = _csv(out_en, "success_criteria_overall").set_index("period")
    m = re.search(r"Monitoring: (\S+) % of", text)
    assert m is not None and _num(m.group(1)) == round(100 * overall.loc["overall", "share"], 1)
    pre = _csv(out_en, "pretrend_test").set_index("estimand")
    got = [_num(p) for p in re.findall(r"before the start is zero [a-z ]+ at the 5 % level "
                                        r"\(p = (\S+),", text)]
    assert got == [round(pre.loc[e, "p_wild"], 3) for e in ("ex_ante", "programme")]
    plc = _csv(out_en, "placebo_time").set_index("estimand")
    got = [_num(p) for p in re.findall(r"before the real ones [a-z ]+ at the 5 % level "
                                        r"\(p = (\S+),", text)]
    assert got == [round(plc.loc[e, "p_wild"], 3) for e in ("ex_ante", "programme")]
    hom = _csv(out_en, "homogeneity")
    jc = hom[hom["variable"] == "jobcentre"].set_index("estimand")
    got = [_num(p) for p in re.findall(r"same in every programme jobcentre [a-z ]+ at the 5 % "
                                        r"level \(p = (\S+),", text)]
    assert got == [round(jc.loc[e, "p_wild"], 3) for e in ("ex_ante", "programme")]


def test_danish_findings_use_decimal_commas(out_da: Path) -> None:
    text = _findings(out_da, "da")
    dur = _csv(out_da, "duration_effects").set_index("scope").loc["all"]
    m = re.search(r"sparede uger pr\. forløb (\S+) \(95 %-KI (\S+) til (\S+)\)", text)
    assert m is not None, text
    assert [_num(m.group(k), "da") for k in (1, 2, 3)] == [
        round(dur[c], 2) for c in ("weeks_saved", "ci_low", "ci_high")]
    assert re.search(r"\d\.\d\d\b", text) is None, "an English decimal point in Danish text"


def test_danish_report_has_no_english_section_titles(out_da: Path) -> None:
    page = (out_da / "report.html").read_text(encoding="utf-8")
    titles = list(_sections(page))
    english = {v for k, v in LABELS["en"].items() if k.startswith("sec_")}
    danish = {v for k, v in LABELS["da"].items() if k.startswith("sec_")}
    assert titles[0] == "Hovedresultater"
    assert "Kan vi stole på sammenligningen?" in titles
    assert not set(titles) & (english - danish), set(titles) & english
    assert set(titles) <= danish


def test_small_counts_are_never_quoted(res: RunResults) -> None:
    """With a threshold above the programme spells, their count and weeks are not quoted."""
    assert res.durations is not None and res.monitoring is not None
    n = int(res.durations.durations["n_spells"].max())
    raw = {"effects": res.effects.table, "duration_effects": res.durations.to_frame(),
           "success_criteria_overall": res.monitoring.overall}
    settings = report.FindingsSettings(benefit_per_week=4300)
    for threshold, quoted in ((n, True), (n + 1, False)):
        shown = {k: report.auto_disclose(v, threshold) for k, v in raw.items()}
        text = " ".join(report.key_findings(shown, settings=settings))
        assert (f"{n:,} programme spells" in text) is quoted, (threshold, text)
        assert ("weeks saved per spell" in text) is quoted


# --- the pipeline's own steps --------------------------------------------------------------


def test_subgroups_split_over_lanes_equal_one_call(study: StudyData) -> None:
    variables = ("sex", "age")
    design = StudyDesign()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotIdentifiedWarning)
        whole = subgroup_effects(study, design, variables, bootstrap_draws=9, seed=5,
                                 progress=False)
        parts = [(i, subgroup_effects(study, design, [v], bootstrap_draws=9, seed=5 + i,
                                      progress=False))
                 for i, v in reversed(list(enumerate(variables)))]
    merged = merge_subgroups(parts)
    assert merged is not None
    pd.testing.assert_frame_equal(merged.table, whole.table)
    pd.testing.assert_frame_equal(merged.homogeneity.table, whole.homogeneity.table)
    assert merged.variables == whole.variables
    assert merge_subgroups([]) is None


def test_default_subgroups_are_the_contract_covariates_present(study: StudyData) -> None:
    assert subgroup_variables(study, RunConfig()) == (
        "sex", "age", "diagnosis_group", "visitation_category", "sector",
        "partial_sick_listing")
    assert subgroup_variables(study, RunConfig(subgroups=())) == ()


def test_an_analysis_that_cannot_be_estimated_becomes_a_note(tmp_path: Path) -> None:
    """No person with a second spell (no recurrence), no sector column (subgroups)."""
    base = _study(n_spells=3000, seed=11)
    spells = base.spells.drop(columns=["sector"]).assign(person_id=base.spells["spell_id"])
    study = validate_study(spells, base.meetings, base.interventions, base.programme,
                           base.monitoring)
    res = _run(study, RunConfig(bootstrap_draws=0, ri_draws=0, subgroups=("sector",)))
    notes = " ".join(res.notes)
    assert res.recurrence is None and "recurrence not estimated" in notes
    assert res.subgroups is None and "subgroup effects by sector not estimated" in notes
    assert res.homogeneity is not None
    assert set(res.homogeneity.table["variable"]) == {"jobcentre"}
    paths = write_outputs(res, tmp_path)
    assert "recurrence" not in paths and "subgroup_effects" not in paths
    assert "recurrence not estimated" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_skipped_analyses_are_not_run_and_the_rest_is_unchanged(
    study: StudyData, res: RunResults, tmp_path: Path
) -> None:
    skip = ("destinations", "event_study", "homogeneity")
    part = _run(study, replace(res.config, skip=skip))
    assert part.destinations is None and part.durations is None
    assert part.event_study is None and part.homogeneity is not None
    # the jobcentre test is left out; the subgroup variables' tests stay
    assert set(part.homogeneity.table["variable"]) == set(SUBGROUPS)
    assert part.notes[-1].endswith("destinations, durations, event study, homogeneity.")
    pd.testing.assert_frame_equal(part.effects.table, res.effects.table)
    pd.testing.assert_frame_equal(part.recurrence.table, res.recurrence.table)
    pd.testing.assert_frame_equal(part.subgroups.table, res.subgroups.table)
    paths = write_outputs(part, tmp_path)
    assert {"destination_effects", "duration_effects", "event_study"}.isdisjoint(paths)


@pytest.mark.parametrize("n_vars", [0, 1, 4, 9])
@pytest.mark.parametrize(
    "skip", [(), ("placebo_time",), ("recurrence", "event_study", "homogeneity", "destinations")]
)
def test_subgroup_models_are_shared_so_the_lanes_finish_together(
    n_vars: int, skip: tuple[str, ...]
) -> None:
    """Every model goes to one lane; the lanes end at most one model apart (or all to one)."""
    variables = tuple(f"v{i}" for i in range(n_vars))
    levels = {v: 2 + (3 * i) % 4 for i, v in enumerate(variables)}  # 2..5 levels
    config = RunConfig(skip=skip)
    mine, theirs = split_subgroups(variables, levels, config)
    assert sorted(mine + theirs) == list(range(n_vars)) and not set(mine) & set(theirs)
    assert mine == sorted(mine) and theirs == sorted(theirs)
    load = lane_loads(config)
    end = [load[0] + sum(levels[variables[i]] for i in mine),
           load[1] + sum(levels[variables[i]] for i in theirs)]
    if mine and theirs:  # greedy, longest first: the lanes end within one model's cost
        assert abs(end[0] - end[1]) <= max(levels.values())
    elif n_vars:  # all to the lane that had less: it still ends no later than the other began
        lighter = 0 if mine else 1
        assert load[lighter] <= load[1 - lighter]
    # the same split with the core done elsewhere gives the main lane less to start with
    mine_d, _ = split_subgroups(variables, levels, config, core_done=True)
    assert len(mine_d) >= len(mine)


def test_lane_loads_count_each_piece_of_work_once_in_its_lane() -> None:
    config = RunConfig()
    approx = pytest.approx  # sums of the same floats in another order
    main, second = lane_loads(config)
    assert second == approx(sum(LANE_COST[w] for w in SECOND_LANE))
    assert main + second == approx(sum(LANE_COST.values()) - LANE_COST["figures"] - sum(
        LANE_COST[f"{m}_second"] for m in MOVABLE))
    moved = lane_loads(config, moved=("recurrence",))
    assert moved[0] == approx(main - LANE_COST["recurrence"])
    assert moved[1] == approx(second + LANE_COST["recurrence_second"])
    assert lane_loads(config, figures=True)[0] == approx(main + LANE_COST["figures"])
    done = lane_loads(config, core_done=True)
    assert main - done[0] + second - done[1] == approx(sum(LANE_COST[w] for w in CORE_WORK))


def test_the_second_lane_takes_the_recurrence_only_when_it_would_wait() -> None:
    variables = ("sex", "age", "diagnosis_group", "visitation_category", "sector")
    levels = {"sex": 2, "age": 5, "diagnosis_group": 4, "visitation_category": 3, "sector": 2}
    # every subgroup model: the second lane has enough to do
    assert second_lane_analyses(variables, levels, RunConfig(), figures=True) == ()
    # none (the first wave and issue 15's analyses only): it would wait, so it takes it
    no_subgroups = RunConfig(subgroups=())
    assert second_lane_analyses((), {}, no_subgroups, figures=True) == ("recurrence",)
    skipped = RunConfig(subgroups=(), skip=("recurrence",))
    assert second_lane_analyses((), {}, skipped, figures=True) == ()
    main, second = lane_loads(no_subgroups, figures=True, moved=("recurrence",))
    assert second <= main


def test_subgroup_levels_are_capped_and_count_missing(study: StudyData) -> None:
    levels = subgroup_levels(study, ("sex", "age", "nonexistent"))
    assert levels["sex"] == study.spells["sex"].nunique(dropna=False)
    assert levels["age"] == MAX_LEVELS  # many ages, binned in five bands
    assert levels["nonexistent"] == 1


def test_models_are_fitted_with_one_blas_thread_in_one_process_too(
    study: StudyData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last digits of a result must not depend on the cores of the machine."""
    import sofeval.pipeline.run as pipeline

    seen: list[int] = []
    fit = pipeline.estimate_effects

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return fit(*args, **kwargs)

    monkeypatch.setattr(pipeline, "estimate_effects", spy)
    config = RunConfig(bootstrap_draws=0, ri_draws=0, subgroups=(),
                       skip=("destinations", "event_study", "placebo_time", "homogeneity"))
    with threadpool_limits(limits=2), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotIdentifiedWarning)
        run_analysis(study, config, progress=False, parallel=False)
        assert max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") == 2
    assert seen == [1]


def test_figures_drawn_ahead_per_analysis_give_the_same_files(
    res: RunResults, out_en: Path, tmp_path: Path
) -> None:
    # each part as a lane would draw it once its analyses are estimated
    parts: list[dict[str, object]] = [
        {"cells": res.cells},
        {"effects": res.effects, "jobcentres": res.jobcentres, "dose": res.dose},
        {"monitoring": res.monitoring, "destinations": res.destinations},
        {"durations": res.durations, "recurrence": res.recurrence},
        {"event_study": res.event_study, "placebo": res.placebo},
        {"subgroups": res.subgroups, "homogeneity": res.homogeneity},
    ]
    figures = tuple(f for part in parts for f in figures_for(res.config, **part))  # type: ignore[arg-type]
    assert len({f.key for f in figures}) == len(figures) >= 10
    write_outputs(res, tmp_path, prerendered=figures)
    for path in sorted(out_en.iterdir()):
        if path.name != "warnings.csv":
            assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
