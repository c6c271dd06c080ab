"""The additive structure of the core report tables, for secondary suppression.

The per-jobcentre effects sum to the pooled ones, the monthly success criteria to the
half-years and those to the overall rows, and the panel summary's items to their totals:
:func:`core_relations` declares these sums (:func:`sofeval.report.secondary.sum_relations`)
so that no suppressed count can be recovered by subtraction.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sofeval.report.secondary import SumRelation, sum_relations

#: Meeting counts of the success-criteria tables (each sums over months and jobcentres).
MEETING_COUNTS: tuple[str, ...] = (
    "first_meetings",
    "workplace_meetings",
    "first_meetings_v23",
    "workplace_meetings_v23",
)

#: Statistics of a success-criteria row computed from its counts: hidden with them.
SHARE_DEPENDENTS: tuple[str, ...] = ("share", "share_v23", "meets_target")

#: Panel-summary items that are sums of other items (``total: parts``).
PANEL_SUMS: dict[str, tuple[str, ...]] = {
    "spells_in": ("spells_excluded", "spells_used"),
    "spells_excluded": (
        "excluded_outside_cohort",
        "excluded_entry_after_data_end",
        "excluded_entry_after_max_weeks",
        "excluded_no_weeks_at_risk",
    ),
    "spells_used": (
        "exits_employment",
        "exits_unemployment",
        "exits_job_clarification",
        "exits_flexjob",
        "exits_disability_pension",
        "exits_education",
        "exits_other",
        "censored",
    ),
}


def core_relations(raw: Mapping[str, pd.DataFrame]) -> list[SumRelation]:
    """The additive structure of the core tables (relations that do not hold are skipped).

    Parameters
    ----------
    raw
        The core tables before disclosure control, by name (``jobcentre_effects``,
        ``effects``, ``success_criteria``, ``success_criteria_half_year``,
        ``success_criteria_overall``, ``panel_summary``; absent ones are skipped).

    Returns
    -------
    list of SumRelation
        For :func:`sofeval.report.secondary.protect_tables`.
    """
    rel: list[SumRelation] = []
    jce, eff = raw.get("jobcentre_effects"), raw.get("effects")
    if jce is not None and eff is not None and "estimand" in jce.columns:
        cols = [c for c in ("n_spells", "n_events") if c in jce.columns and c in eff.columns]
        rel += sum_relations(
            "jobcentre_effects", jce, "effects", eff,
            columns=cols, on={"estimand": "estimand"}, check="skip",
        )  # fmt: skip
    month = raw.get("success_criteria")
    half = raw.get("success_criteria_half_year")
    overall = raw.get("success_criteria_overall")
    counts = [c for c in MEETING_COUNTS if month is not None and c in month.columns]
    if month is not None and half is not None:
        rel += sum_relations(
            "success_criteria", month, "success_criteria_half_year", half,
            columns=counts, on={"jobcentre": "jobcentre", "half_year": "half_year"},
            check="skip",
        )  # fmt: skip
    if month is not None and overall is not None and {"programme", "in_window"} <= set(month):
        periods = overall["period"].astype(str) != "overall"
        in_window = (month["programme"] & month["in_window"]).to_numpy(bool)
        rel += sum_relations(
            "success_criteria", month, "success_criteria_overall", overall,
            columns=counts, on={"half_year": "period"},
            parts_where=in_window, total_where=periods, check="skip",
        )  # fmt: skip
        rel += sum_relations(
            "success_criteria_overall", overall, "success_criteria_overall", overall,
            columns=counts, parts_where=periods, total_where=~periods, check="skip",
        )  # fmt: skip
    panel = raw.get("panel_summary")
    if panel is not None:
        items = panel["item"].astype(str)
        for total, parts in PANEL_SUMS.items():
            if (items == total).sum() == 1 and items.isin(parts).any():
                rel += sum_relations(
                    "panel_summary", panel, "panel_summary", panel,
                    columns=["value"], parts_where=items.isin(parts),
                    total_where=items == total, check="skip",
                )  # fmt: skip
    return rel
