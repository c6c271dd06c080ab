"""Report sections of the second wave: outcomes beyond the hazard ratio, and credibility.

DESIGN.md §4b.
:func:`outcome_sections` turns the tables of :mod:`sofeval.analyses.destinations`,
:mod:`~sofeval.analyses.durations` and :mod:`~sofeval.analyses.recurrence`, and
:func:`credibility_section` those of the event study, the placebo in time, the subgroups
and the homogeneity tests, into :class:`~sofeval.report.publication.ExtraSection` objects for
:func:`~sofeval.report.build.build_report`: each table is published (CSV, workbook sheet,
HTML) with its additive structure declared for secondary suppression, and every figure is
drawn from the *disclosed* tables. The disclosure structure:

* ``destination_effects``: counts ``n_spells`` and ``n_events``; the employment rows are the
  rows of ``effects`` and every destination's ``n_spells`` is the employment row's (the same
  treated spells at risk), declared as identities so that a cell hidden in one is hidden in
  all;
* ``duration_effects``: ``n_spells`` of the jobcentre rows sum to the ``all`` row; the row's
  statistics (``kroner_total`` reveals ``n_spells``) are hidden with it;
* ``cumulative_incidence``: no count of its own; a row is hidden with the ``n_spells`` of the
  same scope in ``duration_effects`` (:class:`~sofeval.report.publication.RowLink`);
* ``recurrence``: ``n_returns`` of the jobcentre rows sum to the ``all`` row, per horizon;
* ``subgroup_effects``: the levels of a variable sum to the pooled counts of ``effects``
  (missing values are a level), per estimand;
* ``event_study`` and ``placebo_time`` carry counts without a published margin (the quarters
  add up to programme-jobcentre spells at risk, which no table shows); ``pretrend_test`` and
  ``homogeneity`` hold test statistics only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sofeval.report.credibility_figures import (
    event_study_plot,
    homogeneity_plot,
    placebo_plot,
    subgroup_forest,
)
from sofeval.report.disclosure import is_count_column, is_key_column
from sofeval.report.findings import fmt_number
from sofeval.report.labels import Lang, label
from sofeval.report.outcome_figures import (
    destination_forest,
    destinations_stacked,
    incidence_curves,
    recurrence_curves,
    survival_curves,
    weeks_saved_forest,
)
from sofeval.report.publication import ExtraSection, FigureFactory, PublishedTable, RowLink
from sofeval.report.secondary import SumRelation, sum_relations

__all__ = [
    "INCIDENCE_HTML_WEEKS",
    "credibility_section",
    "outcome_sections",
    "statistic_columns",
]

#: Weeks of the pooled cumulative incidences shown in the HTML table.
INCIDENCE_HTML_WEEKS: tuple[int, ...] = (13, 26, 52)


def statistic_columns(frame: pd.DataFrame) -> list[str]:
    """The statistics of a table: numeric or boolean columns that are neither keys nor counts.

    Parameters
    ----------
    frame
        A table to publish.

    Returns
    -------
    list of str
        The columns hidden in a row whose count is hidden.
    """
    return [
        str(c)
        for c in frame.columns
        if not is_key_column(str(c))
        and not is_count_column(str(c))
        and (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool)
    ]


def _scope_mask(frame: pd.DataFrame) -> np.ndarray:
    return (frame["scope"].astype(str) == "all").to_numpy()


def _margins(name: str, frame: pd.DataFrame, column: str, on: Mapping[str, str] | None = None
             ) -> list[SumRelation]:
    """The jobcentre rows of ``column`` sum to the ``all`` row (per ``on`` group)."""
    pooled = _scope_mask(frame)
    if not pooled.any() or pooled.all():
        return []
    return sum_relations(
        name, frame, name, frame, columns=[column], on=on,
        parts_where=~pooled, total_where=pooled, check="skip",
    )  # fmt: skip


def _destination_relations(
    dest: pd.DataFrame, effects: pd.DataFrame | None
) -> list[SumRelation]:
    """Identities: employment rows = ``effects``; every destination's n_spells = employment's."""
    rel: list[SumRelation] = []
    employment = (dest["destination"].astype(str) == "employment").to_numpy()
    if not employment.any():
        return rel
    if effects is not None and {"estimand", "n_spells", "n_events"} <= set(effects.columns):
        rel += sum_relations(
            "destination_effects", dest, "effects", effects, columns=["n_spells", "n_events"],
            on={"estimand": "estimand"}, parts_where=employment, check="skip",
        )  # fmt: skip
    for d in sorted(set(dest["destination"].astype(str)) - {"employment"}):
        rows = (dest["destination"].astype(str) == d).to_numpy()
        rel += sum_relations(
            "destination_effects", dest, "destination_effects", dest, columns=["n_spells"],
            on={"estimand": "estimand"}, parts_where=rows, total_where=employment,
            check="skip",
        )  # fmt: skip
    return rel


def _pooled(frame: pd.DataFrame | None, need: str) -> pd.DataFrame | None:
    """The ``all`` rows of a disclosed table, if their ``need`` values are shown."""
    if frame is None:
        return None
    sub = frame[_scope_mask(frame)]
    values = pd.to_numeric(sub[need], errors="coerce")
    return sub if len(sub) and bool(values.notna().all()) else None


def _incidence_view(frame: pd.DataFrame) -> pd.DataFrame:
    keep = _scope_mask(frame) & frame["week"].isin(INCIDENCE_HTML_WEEKS).to_numpy()
    return frame.loc[keep]


def _destinations_section(
    dest: pd.DataFrame, effects: pd.DataFrame | None, lang: Lang
) -> ExtraSection:
    frame = dest.reset_index(drop=True)

    def forest(shown: Mapping[str, pd.DataFrame]) -> Figure | None:
        table = shown["destination_effects"]
        finite = np.isfinite(pd.to_numeric(table["hazard_ratio"], errors="coerce"))
        return destination_forest(table[finite.to_numpy()], lang=lang) if finite.any() else None

    return ExtraSection(
        "sec_destinations",
        tables=[
            PublishedTable("destination_effects", frame, "cap_destinations_table",
                           dependents=statistic_columns(frame))
        ],
        figures=[("cap_destinations", forest)],
        relations=_destination_relations(frame, effects),
    )  # fmt: skip


def _durations_section(
    durations: pd.DataFrame,
    incidence: pd.DataFrame | None,
    benefit_per_week: float | None,
    lang: Lang,
) -> ExtraSection:
    dur = durations.reset_index(drop=True)
    tables = [
        PublishedTable("duration_effects", dur, "cap_duration_table",
                       dependents=statistic_columns(dur))
    ]  # fmt: skip
    figures: list[tuple[str, Figure | FigureFactory]] = []
    if incidence is not None:
        tables.append(
            PublishedTable(
                "cumulative_incidence", incidence.reset_index(drop=True), "cap_incidence_table",
                html=_incidence_view, follows=RowLink("duration_effects", "n_spells",
                                                      {"scope": "scope"}),
            )
        )  # fmt: skip

        def curves(draw: Callable[..., Figure]) -> FigureFactory:
            def make(shown: Mapping[str, pd.DataFrame]) -> Figure | None:
                pooled = _pooled(shown.get("cumulative_incidence"), "with")
                return None if pooled is None else draw(pooled, scope="all", lang=lang)

            return make

        figures += [
            ("cap_survival", curves(survival_curves)),
            ("cap_cumulative_incidence", curves(incidence_curves)),
            ("cap_stacked", curves(destinations_stacked)),
        ]

    def weeks(shown: Mapping[str, pd.DataFrame]) -> Figure | None:
        table = shown["duration_effects"]
        finite = np.isfinite(pd.to_numeric(table["weeks_saved"], errors="coerce")).to_numpy()
        return weeks_saved_forest(table[finite], lang=lang) if finite.any() else None

    figures.append(("cap_weeks_saved", weeks))
    text = ""
    if benefit_per_week is not None:
        text = label("text_duration", lang).format(benefit=fmt_number(benefit_per_week, 0, lang))
    return ExtraSection(
        "sec_duration", text, tables, figures,
        relations=_margins("duration_effects", dur, "n_spells"),
    )  # fmt: skip


def _recurrence_section(
    recurrence: pd.DataFrame, curves: pd.DataFrame | None, lang: Lang
) -> ExtraSection:
    rec = recurrence.reset_index(drop=True)

    def draw(shown: Mapping[str, pd.DataFrame]) -> Figure | None:
        if curves is None or _pooled(shown.get("recurrence"), "n_returns") is None:
            return None
        return recurrence_curves(curves[_scope_mask(curves)], scope="all", lang=lang)

    return ExtraSection(
        "sec_recurrence",
        label("text_recurrence", lang),
        tables=[PublishedTable("recurrence", rec, "cap_recurrence_table",
                               dependents=statistic_columns(rec))],
        figures=[("cap_recurrence_curves", draw)],
        relations=_margins("recurrence", rec, "n_returns", on={"horizon_weeks": "horizon_weeks"}),
    )  # fmt: skip


def outcome_sections(
    *,
    destination_effects: pd.DataFrame | None = None,
    duration_effects: pd.DataFrame | None = None,
    cumulative_incidence: pd.DataFrame | None = None,
    recurrence: pd.DataFrame | None = None,
    recurrence_curves: pd.DataFrame | None = None,
    effects: pd.DataFrame | None = None,
    benefit_per_week: float | None = None,
    lang: Lang = "en",
) -> list[ExtraSection]:
    """The report sections of the destinations, the weeks and kroner saved and the recurrence.

    Parameters
    ----------
    destination_effects
        ``DestinationsResult.to_frame()`` (``destination_effects.csv``).
    duration_effects, cumulative_incidence
        ``DurationsResult.to_frame("durations")`` and ``to_frame("incidence")``.
    recurrence
        ``RecurrenceResult.to_frame()`` (``recurrence.csv``).
    recurrence_curves
        ``RecurrenceResult.curves``: only its ``all`` rows are drawn, and only when the
        pooled ``n_returns`` of ``recurrence`` is shown.
    effects
        The pooled effects table the employment rows of ``destination_effects`` repeat
        (for the identity of their counts in secondary suppression).
    benefit_per_week
        Kroner per week, quoted in the text of the durations section.
    lang
        ``en`` or ``da``.

    Returns
    -------
    list of ExtraSection
        One section per analysis given (``None`` inputs skipped), in the order
        destinations, durations, recurrence.
    """
    sections: list[ExtraSection] = []
    if destination_effects is not None:
        sections.append(_destinations_section(destination_effects, effects, lang))
    if duration_effects is not None:
        sections.append(
            _durations_section(duration_effects, cumulative_incidence, benefit_per_week, lang)
        )
    if recurrence is not None:
        sections.append(_recurrence_section(recurrence, recurrence_curves, lang))
    return sections


def _subgroup_relations(sub: pd.DataFrame, effects: pd.DataFrame | None) -> list[SumRelation]:
    """The levels of each variable sum to the pooled counts of ``effects``, per estimand."""
    if effects is None or not {"estimand", "n_spells", "n_events"} <= set(effects.columns):
        return []
    rel: list[SumRelation] = []
    for var in sorted(set(sub["variable"].astype(str))):
        rel += sum_relations(
            "subgroup_effects", sub, "effects", effects, columns=["n_spells", "n_events"],
            on={"estimand": "estimand"}, parts_where=(sub["variable"].astype(str) == var),
            check="skip",
        )  # fmt: skip
    return rel


def _published(name: str, frame: pd.DataFrame, caption: str) -> PublishedTable:
    table = frame.reset_index(drop=True)
    return PublishedTable(name, table, caption, dependents=statistic_columns(table))


def credibility_section(
    *,
    event_study: pd.DataFrame | None = None,
    pretrend_test: pd.DataFrame | None = None,
    placebo_time: pd.DataFrame | None = None,
    subgroup_effects: pd.DataFrame | None = None,
    homogeneity: pd.DataFrame | None = None,
    effects: pd.DataFrame | None = None,
    lang: Lang = "en",
) -> ExtraSection | None:
    """The section "Can we believe the comparison?" with its tables and figures.

    Parameters
    ----------
    event_study, pretrend_test
        ``EventStudyResult.to_frame()`` and ``pretrend_frame()``.
    placebo_time
        ``PlaceboTimeResult.to_frame()``.
    subgroup_effects
        ``SubgroupEffectsResult.to_frame()``.
    homogeneity
        The homogeneity tests of the subgroup variables and the jobcentres
        (``HomogeneityResult.to_frame()``).
    effects
        The pooled effects table the subgroup levels add up to (secondary suppression).
    lang
        ``en`` or ``da``.

    Returns
    -------
    ExtraSection or None
        ``None`` when no table is given.
    """
    tables: list[PublishedTable] = []
    figures: list[tuple[str, Figure | FigureFactory]] = []
    relations: list[SumRelation] = []
    if event_study is not None:
        tables.append(_published("event_study", event_study, "cap_event_study_table"))

        def es_plot(shown: Mapping[str, pd.DataFrame]) -> Figure:
            return event_study_plot(shown["event_study"], shown.get("pretrend_test"), lang=lang)

        figures.append(("cap_event_study", es_plot))
    if pretrend_test is not None:
        tables.append(_published("pretrend_test", pretrend_test, "cap_pretrend"))
    if placebo_time is not None:
        tables.append(_published("placebo_time", placebo_time, "cap_placebo_time"))
        figures.append(("cap_placebo_time",
                        lambda shown: placebo_plot(shown["placebo_time"], lang=lang)))
    if subgroup_effects is not None:
        tables.append(_published("subgroup_effects", subgroup_effects, "cap_subgroups_table"))
        relations += _subgroup_relations(tables[-1].frame, effects)

        def forest(shown: Mapping[str, pd.DataFrame]) -> Figure | None:
            table = shown["subgroup_effects"]
            if table.empty:
                return None
            return subgroup_forest(table, shown.get("homogeneity"), lang=lang)

        figures.append(("cap_subgroups", forest))
    if homogeneity is not None:
        tables.append(_published("homogeneity", homogeneity, "cap_homogeneity"))
        figures.append(("cap_homogeneity_fig",
                        lambda shown: homogeneity_plot(shown["homogeneity"], lang=lang)))
    if not tables:
        return None
    return ExtraSection(
        "sec_credibility", label("text_credibility", lang), tables, figures, relations
    )
