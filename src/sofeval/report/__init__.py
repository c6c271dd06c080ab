"""Presentation layer: labels, figures, disclosure control, tables and the HTML report.

It takes DataFrames, never analysis objects, so results' ``plot()`` can draw with it.

Modules: :mod:`~sofeval.report.labels` (every user-visible string, da/en),
:mod:`~sofeval.report.figures` (house style, axes helper, effect figures),
:mod:`~sofeval.report.figures_descriptive` (Kaplan–Meier, weekly exit rates, monitoring),
:mod:`~sofeval.report.disclosure` (suppression of small counts),
:mod:`~sofeval.report.formatting` (cell formatting), :mod:`~sofeval.report.tables`
(CSV, workbook), :mod:`~sofeval.report.html` (sections, rendering) and
:mod:`~sofeval.report.build` (:func:`build_report`).
"""

from __future__ import annotations

from sofeval.report.build import audit_summary, build_report
from sofeval.report.disclosure import (
    COUNT_COLUMNS,
    SUPPRESSED_ATTR,
    THRESHOLD_ATTR,
    auto_disclose,
    check_threshold,
    disclose,
    is_count_column,
    suppressed_mask,
    suppression_marker,
)
from sofeval.report.figures import (
    FIG_WIDTH_IN,
    PALETTE,
    dose_response_plot,
    figure_axes,
    forest,
    require_columns,
    style,
)
from sofeval.report.figures_descriptive import (
    binomial_ci,
    km_curves,
    monitoring_plot,
    weekly_hazard,
)
from sofeval.report.formatting import (
    EXCEL_FORMATS,
    FormattedCell,
    column_kind,
    format_rows,
    format_value,
)
from sofeval.report.html import ReportSection, figure_png_base64, render_html
from sofeval.report.labels import COLUMN_HEADERS, LABELS, LANGS, Lang, column_header, label
from sofeval.report.tables import FIXED_TIMESTAMP, write_csv_tables, write_workbook

__all__ = [
    "COLUMN_HEADERS",
    "COUNT_COLUMNS",
    "EXCEL_FORMATS",
    "FIG_WIDTH_IN",
    "FIXED_TIMESTAMP",
    "FormattedCell",
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
    "check_threshold",
    "column_header",
    "column_kind",
    "disclose",
    "dose_response_plot",
    "figure_axes",
    "figure_png_base64",
    "forest",
    "format_rows",
    "format_value",
    "is_count_column",
    "km_curves",
    "label",
    "monitoring_plot",
    "render_html",
    "require_columns",
    "style",
    "suppressed_mask",
    "suppression_marker",
    "weekly_hazard",
    "write_csv_tables",
    "write_workbook",
]
