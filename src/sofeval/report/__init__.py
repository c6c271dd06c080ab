"""Presentation layer: labels, figures, disclosure control, tables and the HTML report.

It takes DataFrames, never analysis objects, so results' ``plot()`` can draw with it.

Modules: :mod:`~sofeval.report.labels` (every user-visible string, da/en),
:mod:`~sofeval.report.figures` (house style, axes helper, effect figures),
:mod:`~sofeval.report.figures_descriptive` (Kaplan–Meier, weekly exit rates, monitoring),
:mod:`~sofeval.report.disclosure` (suppression of small counts),
:mod:`~sofeval.report.secondary` (complementary suppression against subtraction),
:mod:`~sofeval.report.relations` (the additive structure of the core tables),
:mod:`~sofeval.report.formatting` (cell formatting), :mod:`~sofeval.report.tables`
(CSV, workbook), :mod:`~sofeval.report.html` (sections, rendering),
:mod:`~sofeval.report.figure_lanes` (figures drawn in two lanes),
:mod:`~sofeval.report.build` (:func:`build_report`, :func:`report_figures`),
:mod:`~sofeval.report.publication` (the tables and sections a report publishes),
:mod:`~sofeval.report.prerender` (figures drawn ahead of the report),
:mod:`~sofeval.report.findings` (the key findings in plain words),
:mod:`~sofeval.report.outcome_figures` and
:mod:`~sofeval.report.sections` (the sections of the outcomes beyond the hazard ratio),
:mod:`~sofeval.report.credibility_figures` (event study, placebo, subgroups, homogeneity).
"""

from __future__ import annotations

from sofeval.report.build import audit_summary, build_report, report_figures
from sofeval.report.credibility_figures import (
    CREDIBILITY_LABELS,
    credibility_label,
    event_study_plot,
    homogeneity_plot,
    placebo_plot,
    subgroup_forest,
)
from sofeval.report.disclosure import (
    COUNT_COLUMNS,
    KEY_COLUMNS,
    SECONDARY_ATTR,
    SECONDARY_MARKER,
    SUPPRESSED_ATTR,
    THRESHOLD_ATTR,
    CellSet,
    auto_disclose,
    check_threshold,
    disclose,
    is_count_column,
    is_key_column,
    secondary_mask,
    suppressed_mask,
    suppression_marker,
)
from sofeval.report.figure_lanes import FigureJob, render_figures
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
    kaplan_meier,
    km_curves,
    monitoring_plot,
    weekly_hazard,
)
from sofeval.report.findings import FindingsSettings, fmt_number, fmt_p, key_findings
from sofeval.report.formatting import (
    EXCEL_FORMATS,
    FormattedCell,
    column_kind,
    format_columns,
    format_rows,
    format_value,
)
from sofeval.report.html import RenderedFigure, ReportSection, figure_png_base64, render_html
from sofeval.report.labels import COLUMN_HEADERS, LABELS, LANGS, Lang, column_header, label
from sofeval.report.prerender import PrerenderedFigure, ReadLog, table_fingerprint
from sofeval.report.publication import (
    ExtraSection,
    FigureFactory,
    FrameSource,
    PublishedTable,
    RowLink,
)
from sofeval.report.relations import core_relations
from sofeval.report.secondary import (
    CellRef,
    SumRelation,
    determined_cells,
    protect_tables,
    sum_relations,
)
from sofeval.report.sections import (
    INCIDENCE_HTML_WEEKS,
    credibility_section,
    outcome_sections,
    statistic_columns,
)
from sofeval.report.tables import (
    CSV_FLOAT_FORMAT,
    FIXED_TIMESTAMP,
    round_array,
    round_floats,
    write_csv_tables,
    write_workbook,
)

__all__ = [
    "COLUMN_HEADERS",
    "COUNT_COLUMNS",
    "CSV_FLOAT_FORMAT",
    "CellRef",
    "CellSet",
    "EXCEL_FORMATS",
    "ExtraSection",
    "FigureFactory",
    "FigureJob",
    "FindingsSettings",
    "FrameSource",
    "FIG_WIDTH_IN",
    "FIXED_TIMESTAMP",
    "FormattedCell",
    "INCIDENCE_HTML_WEEKS",
    "KEY_COLUMNS",
    "LABELS",
    "LANGS",
    "Lang",
    "PALETTE",
    "PrerenderedFigure",
    "PublishedTable",
    "ReadLog",
    "RenderedFigure",
    "ReportSection",
    "RowLink",
    "SECONDARY_ATTR",
    "SECONDARY_MARKER",
    "SUPPRESSED_ATTR",
    "SumRelation",
    "THRESHOLD_ATTR",
    "audit_summary",
    "auto_disclose",
    "binomial_ci",
    "build_report",
    "check_threshold",
    "column_header",
    "column_kind",
    "core_relations",
    "credibility_section",
    "determined_cells",
    "disclose",
    "dose_response_plot",
    "figure_axes",
    "figure_png_base64",
    "fmt_number",
    "fmt_p",
    "forest",
    "format_columns",
    "format_rows",
    "format_value",
    "is_count_column",
    "is_key_column",
    "kaplan_meier",
    "key_findings",
    "km_curves",
    "label",
    "monitoring_plot",
    "outcome_sections",
    "protect_tables",
    "render_figures",
    "render_html",
    "report_figures",
    "require_columns",
    "round_array",
    "round_floats",
    "secondary_mask",
    "statistic_columns",
    "style",
    "sum_relations",
    "table_fingerprint",
    "suppressed_mask",
    "suppression_marker",
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

# --- outcome figures: destinations, weeks saved, recurrence (issue 15) ------------------
from sofeval.report.outcome_figures import (  # noqa: E402
    DESTINATION_ORDER,
    OUTCOME_LABELS,
    destination_forest,
    destinations_stacked,
    incidence_curves,
    outcome_label,
    recurrence_curves,
    survival_curves,
    weeks_saved_forest,
)

__all__ += [
    "DESTINATION_ORDER",
    "OUTCOME_LABELS",
    "destination_forest",
    "destinations_stacked",
    "incidence_curves",
    "outcome_label",
    "recurrence_curves",
    "survival_curves",
    "weeks_saved_forest",
]
