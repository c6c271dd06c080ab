"""Presentation layer: labels, figures, disclosure control, tables and the HTML report.

It takes DataFrames, never analysis objects, so results' ``plot()`` can draw with it.
"""

from __future__ import annotations

from sofeval.report.build import (
    COUNT_COLUMNS,
    FIXED_TIMESTAMP,
    SUPPRESSED_ATTR,
    THRESHOLD_ATTR,
    ReportSection,
    audit_summary,
    auto_disclose,
    build_report,
    disclose,
    figure_png_base64,
    render_html,
    write_csv_tables,
    write_workbook,
)
from sofeval.report.credibility_figures import (
    CREDIBILITY_LABELS,
    credibility_label,
    event_study_plot,
    homogeneity_plot,
    placebo_plot,
    subgroup_forest,
)
from sofeval.report.figures import (
    FIG_WIDTH_IN,
    LABELS,
    LANGS,
    PALETTE,
    Lang,
    binomial_ci,
    dose_response_plot,
    forest,
    km_curves,
    label,
    monitoring_plot,
    style,
    weekly_hazard,
)

__all__ = [
    "COUNT_COLUMNS",
    "FIG_WIDTH_IN",
    "FIXED_TIMESTAMP",
    "LABELS",
    "LANGS",
    "Lang",
    "PALETTE",
    "ReportSection",
    "SUPPRESSED_ATTR",
    "THRESHOLD_ATTR",
    "audit_summary",
    "auto_disclose",
    "binomial_ci",
    "build_report",
    "disclose",
    "dose_response_plot",
    "figure_png_base64",
    "forest",
    "km_curves",
    "label",
    "monitoring_plot",
    "render_html",
    "style",
    "weekly_hazard",
    "write_csv_tables",
    "write_workbook",
    # credibility (issue 16)
    "CREDIBILITY_LABELS",
    "credibility_label",
    "event_study_plot",
    "homogeneity_plot",
    "placebo_plot",
    "subgroup_forest",
]
