"""Every user-visible string of the report, in English and Danish, in one place.

:data:`LABELS` holds figure labels, section titles and captions (``LABELS[lang][key]``;
English data labels such as group names and estimands are keys too, so they translate);
:data:`COLUMN_HEADERS` holds the table column headers. :func:`label` and
:func:`column_header` look them up and fall back to the key itself.
"""

from __future__ import annotations

from typing import Literal

from sofeval.errors import check_option

Lang = Literal["en", "da"]
LANGS: tuple[str, ...] = ("en", "da")

#: Every label of the figures and the report, ``LABELS[lang][key]``. Keys that are
#: English group labels (``"Programme, before"``) translate data labels too.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "exit_rate": "Exit rate to employment",
        "weekly_hazard": "Weekly exit rate to employment",
        "cum_exit": "Cumulative share exited to employment",
        "spell_week": "Week of sickness absence",
        "ex_ante": "Ex ante (weeks 1–7)",
        "programme": "Programme (week 8+)",
        "weeks_1_7": "Weeks 1–7",
        "weeks_8_plus": "Week 8+",
        "hazard_ratio": "Hazard ratio (95 % CI)",
        "not_identified": "not identified",
        "not_shown": "not shown (few persons)",
        "significant": "Significant after adjustment (Holm or BH, 5 %)",
        "not_significant": "Not significant after adjustment",
        "share_workplace": "Share of first meetings at the workplace",
        "pct_per_10pp": "Change in exit rate per +10 pp share\n(%, 95 % CI)",
        "relative_rate": "Exit rate relative to share 0",
        "target": "Target 70 %",
        "pooled": "All programme jobcentres (pooled)",
        "jobcentre_lines": "Single jobcentres",
        "month": "Month",
        "jobcentre": "Jobcentre",
        # report sections and captions
        "report_title": "Sammen om Fastholdelse: effect evaluation",
        "contents": "Contents",
        "sec_design": "Study design and data audit",
        "sec_km": "Kaplan–Meier curves",
        "sec_hazard": "Weekly exit rates",
        "sec_pooled": "Pooled effects",
        "sec_forest": "Effects per jobcentre",
        "sec_dose": "Dose-response",
        "sec_monitoring": "Monitoring against the 70 % target",
        "cap_panel": "Panel summary",
        "cap_audit": "Rows dropped in validation, by table and rule",
        "cap_km": "Cumulative share exited to employment by spell week (Kaplan–Meier with delayed "
        "entry, 95 % CI)",
        "cap_hazard": "Weekly exit rate to employment by group (95 % binomial CI)",
        "cap_effects": "Pooled effects (hazard ratios with 95 % CI)",
        "cap_forest": "Hazard ratios per programme jobcentre (95 % CI)",
        "cap_jc_table": "Effects per jobcentre",
        "cap_dose": "Dose-response: change in the exit rate per +10 pp workplace share",
        "cap_dose_table": "Dose-response estimates",
        "cap_monitoring": "Monthly share of first meetings at the workplace",
        "cap_monitoring_table": "Success criteria by jobcentre and month",
        "suppressed_note": "Cells based on fewer than {t} persons are suppressed (shown as <{t}).",
        "generated": "Report metadata",
        "Programme, before": "Programme, before",
        "Programme, during": "Programme, during",
        "Comparison, before": "Comparison, before",
        "Comparison, during": "Comparison, during",
        "Programme": "Programme jobcentres",
        "Comparison": "Comparison jobcentres",
        "before": "Before the programme windows",
        "during": "During the programme windows",
        "after": "After the programme windows",
        "cap_overall": "Success criteria of the programme jobcentres, pooled over their "
        "months in the programme window, by half-year and overall",
        "secondary_note": "Cells marked .. are suppressed so that a small cell cannot be "
        "recovered from a total.",
    },
    "da": {
        "exit_rate": "Afgangsrate til beskæftigelse",
        "weekly_hazard": "Ugentlig afgangsrate til beskæftigelse",
        "cum_exit": "Kumuleret andel afgået til beskæftigelse",
        "spell_week": "Sygefraværsuge",
        "ex_ante": "Ex ante (uge 1–7)",
        "programme": "Programeffekt (uge 8+)",
        "weeks_1_7": "Uge 1–7",
        "weeks_8_plus": "Uge 8+",
        "hazard_ratio": "Hazard ratio (95 %-KI)",
        "not_identified": "ikke identificeret",
        "not_shown": "ikke vist (få personer)",
        "significant": "Signifikant efter korrektion (Holm eller BH, 5 %)",
        "not_significant": "Ikke signifikant efter korrektion",
        "share_workplace": "Andel første samtaler på arbejdspladsen",
        "pct_per_10pp": "Ændring i afgangsraten pr. +10 pct.-point\n(%, 95 %-KI)",
        "relative_rate": "Afgangsrate relativt til andel 0",
        "target": "Mål 70 %",
        "pooled": "Alle programjobcentre (samlet)",
        "jobcentre_lines": "Enkelte jobcentre",
        "month": "Måned",
        "jobcentre": "Jobcenter",
        "report_title": "Sammen om Fastholdelse: effektevaluering",
        "contents": "Indhold",
        "sec_design": "Undersøgelsesdesign og datarevision",
        "sec_km": "Kaplan–Meier-kurver",
        "sec_hazard": "Ugentlige afgangsrater",
        "sec_pooled": "Samlede effekter",
        "sec_forest": "Effekter pr. jobcenter",
        "sec_dose": "Dosis-respons",
        "sec_monitoring": "Monitorering i forhold til målet på 70 %",
        "cap_panel": "Oversigt over panelet",
        "cap_audit": "Rækker frasorteret ved validering, pr. tabel og regel",
        "cap_km": "Kumuleret andel afgået til beskæftigelse pr. sygefraværsuge (Kaplan–Meier med "
        "forsinket indgang, 95 %-KI)",
        "cap_hazard": "Ugentlig afgangsrate til beskæftigelse pr. gruppe (95 %-KI, binomial)",
        "cap_effects": "Samlede effekter (hazard ratios med 95 %-KI)",
        "cap_forest": "Hazard ratios pr. programjobcenter (95 %-KI)",
        "cap_jc_table": "Effekter pr. jobcenter",
        "cap_dose": "Dosis-respons: ændring i afgangsraten pr. +10 pct.-point andel på "
        "arbejdspladsen",
        "cap_dose_table": "Dosis-respons-estimater",
        "cap_monitoring": "Månedlig andel første samtaler på arbejdspladsen",
        "cap_monitoring_table": "Succeskriterier pr. jobcenter og måned",
        "suppressed_note": "Celler baseret på færre end {t} personer er diskretioneret "
        "(vist som <{t}).",
        "generated": "Metadata for rapporten",
        "Programme, before": "Programkommuner, før",
        "Programme, during": "Programkommuner, under",
        "Comparison, before": "Sammenligning, før",
        "Comparison, during": "Sammenligning, under",
        "Programme": "Programjobcentre",
        "Comparison": "Sammenligningsjobcentre",
        "before": "Før programperioden",
        "during": "Under programperioden",
        "after": "Efter programperioden",
        "cap_overall": "Succeskriterier for programjobcentrene, samlet over deres måneder i "
        "programperioden, pr. halvår og i alt",
        "secondary_note": "Celler markeret med .. er diskretioneret, så en lille celle ikke "
        "kan udledes af en total.",
    },
}


def label(key: str, lang: str = "en") -> str:
    """Return ``LABELS[lang][key]``, or ``key`` itself when it has no entry.

    Parameters
    ----------
    key
        Label key or an English data label (group names, estimands, windows).
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    str
        The translated label.
    """
    check_option("lang", lang, LANGS)
    return LABELS[lang].get(key, key)


#: Column headers of the published tables per language (``column`` -> header); a column
#: without an entry keeps its name.
COLUMN_HEADERS: dict[str, dict[str, str]] = {
    "en": {},
    "da": {
        "estimand": "estimand",
        "jobcentre": "jobcenter",
        "coef": "koef.",
        "se": "std.fejl",
        "hazard_ratio": "hazard ratio",
        "ci_low": "KI nedre",
        "ci_high": "KI øvre",
        "p_value": "p-værdi",
        "n_spells": "antal forløb",
        "n_events": "antal afgange",
        "window": "vindue",
        "pct_per_10pp": "% pr. 10 pct.-point",
        "ci_low_pct": "KI nedre (%)",
        "ci_high_pct": "KI øvre (%)",
        "month_label": "måned",
        "first_meetings": "første samtaler",
        "workplace_meetings": "samtaler på arbejdspladsen",
        "share": "andel",
        "share_v23": "andel (kat. 2+3)",
        "meets_target": "mål nået",
        "in_window": "i programperiode",
        "table": "tabel",
        "rule": "regel",
        "n_rows": "antal rækker",
        "item": "post",
        "value": "værdi",
        "flag": "markering",
    },
}


def column_header(column: str, lang: str = "en") -> str:
    """Return the header of ``column`` in ``lang`` (the column name when it has none).

    Parameters
    ----------
    column
        Column name of a published table.
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    str
        The header.
    """
    check_option("lang", lang, LANGS)
    return COLUMN_HEADERS[lang].get(column, column)
