"""The whole publication of one analysis: :func:`build_report`.

Named steps: disclose the tables (:func:`sofeval.report.disclosure.auto_disclose`), write
the files (CSVs; the workbook in a forked process), assemble the report sections (figures
and tables per analysis) and render the HTML (:func:`sofeval.report.html.render_html`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sofeval.errors import check_option
from sofeval.report.disclosure import auto_disclose, check_threshold
from sofeval.report.figures import dose_response_plot, forest
from sofeval.report.figures_descriptive import km_curves, monitoring_plot, weekly_hazard
from sofeval.report.html import ReportSection, render_html
from sofeval.report.labels import LANGS, Lang, label
from sofeval.report.tables import write_csv_tables, write_workbook
from sofeval.runtime import Background


def audit_summary(audit: pd.DataFrame) -> pd.DataFrame:
    """Count dropped rows by table and rule (row ids are not published).

    Parameters
    ----------
    audit
        Audit frame with ``table``, ``row_id``, ``rule``, ``detail``.

    Returns
    -------
    pandas.DataFrame
        Columns ``table``, ``rule``, ``n_rows``, sorted.
    """
    if len(audit) == 0:
        return pd.DataFrame(
            {
                "table": pd.Series([], dtype=object),
                "rule": pd.Series([], dtype=object),
                "n_rows": pd.Series([], dtype="int64"),
            }
        )
    keys = audit[["table", "rule"]].astype(str)
    out = keys.groupby(["table", "rule"], sort=True).size().rename("n_rows").reset_index()
    return out.astype({"n_rows": "int64"})


def _disclosed_tables(
    raw: Mapping[str, pd.DataFrame | None], threshold: int
) -> dict[str, pd.DataFrame]:
    """Step 1: the published tables after disclosure control (``None`` inputs skipped)."""
    return {k: auto_disclose(v, threshold) for k, v in raw.items() if v is not None}


def _write_files(
    folder: Path, shown: Mapping[str, pd.DataFrame], audit: pd.DataFrame | None, threshold: int
) -> dict[str, Path]:
    """Step 2: the CSVs of the disclosed tables and the analyst's row-level audit."""
    paths = write_csv_tables(folder, shown, threshold)
    if audit is not None:
        # data_audit.csv is the analyst's row-level record of every dropped row (table,
        # row id, rule, detail), not a published table; the report and the workbook
        # show only its counts by table and rule, with disclosure control.
        rows = audit.reindex(columns=["table", "row_id", "rule", "detail"]).astype(str)
        rows = rows.sort_values(["table", "rule", "row_id"], kind="mergesort")
        rows.to_csv(folder / "data_audit.csv", index=False, lineterminator="\n")
        paths["data_audit"] = folder / "data_audit.csv"
    return paths


def _sections(
    shown: Mapping[str, pd.DataFrame],
    *,
    panel_summary: pd.DataFrame | None,
    km_frame: pd.DataFrame | None,
    hazard_frame: pd.DataFrame | None,
    success_criteria: pd.DataFrame | None,
    design_text: str,
    lang: Lang,
    threshold: int,
) -> list[ReportSection]:
    """Step 3: the report sections in order, with their figures and tables."""

    def t(key: str) -> str:
        return label(key, lang)

    sections: list[ReportSection] = []
    design_tables = []
    if panel_summary is not None:
        design_tables.append((t("cap_panel"), panel_summary))
    if "data_audit" in shown:
        design_tables.append((t("cap_audit"), shown["data_audit"]))
    if design_text or design_tables:
        sections.append(ReportSection(t("sec_design"), design_text, design_tables))
    if km_frame is not None:
        weight = "n" if "n" in km_frame.columns else None
        fig = km_curves(km_frame, weight=weight, lang=lang)
        sections.append(ReportSection(t("sec_km"), figures=[(t("cap_km"), fig)]))
    if hazard_frame is not None:
        fig = weekly_hazard(hazard_frame, min_count=threshold, lang=lang)
        sections.append(ReportSection(t("sec_hazard"), figures=[(t("cap_hazard"), fig)]))
    if "effects" in shown:
        sections.append(
            ReportSection(t("sec_pooled"), tables=[(t("cap_effects"), shown["effects"])])
        )
    if "jobcentre_effects" in shown:
        fig = forest(shown["jobcentre_effects"], lang=lang)
        sections.append(
            ReportSection(
                t("sec_forest"),
                figures=[(t("cap_forest"), fig)],
                tables=[(t("cap_jc_table"), shown["jobcentre_effects"])],
            )
        )
    if "dose_response" in shown:
        fig = dose_response_plot(shown["dose_response"], lang=lang)
        sections.append(
            ReportSection(
                t("sec_dose"),
                figures=[(t("cap_dose"), fig)],
                tables=[(t("cap_dose_table"), shown["dose_response"])],
            )
        )
    if success_criteria is not None:
        fig = monitoring_plot(success_criteria, min_count=threshold, lang=lang)
        sections.append(
            ReportSection(
                t("sec_monitoring"),
                figures=[(t("cap_monitoring"), fig)],
                tables=[(t("cap_monitoring_table"), shown["success_criteria"])],
            )
        )
    return sections


def build_report(
    out_dir: str | Path,
    *,
    effects: pd.DataFrame | None = None,
    jobcentre_effects: pd.DataFrame | None = None,
    dose_response: pd.DataFrame | None = None,
    success_criteria: pd.DataFrame | None = None,
    audit: pd.DataFrame | None = None,
    panel_summary: pd.DataFrame | None = None,
    km_frame: pd.DataFrame | None = None,
    hazard_frame: pd.DataFrame | None = None,
    design_text: str = "",
    lang: Lang = "en",
    threshold: int = 5,
    title: str | None = None,
    metadata: Mapping[str, str] | None = None,
    parallel: bool = True,
) -> dict[str, Path]:
    """Write the CSVs, the Excel workbook and the HTML report of one analysis.

    Any input may be ``None``; its file and report section are then skipped.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).
    effects, jobcentre_effects, dose_response, success_criteria
        Tidy result tables (schemas in the module's issues; see :mod:`sofeval.report.figures`).
    audit
        Rows dropped in validation (``table, row_id, rule, detail``); published only as
        counts by table and rule (``data_audit.csv``).
    panel_summary
        ``item, value`` overview of the analysis panel.
    km_frame
        Frame for :func:`sofeval.report.figures_descriptive.km_curves`: one row per spell,
        or counted patterns with the number of spells in a column ``n``.
    hazard_frame
        Cells-like frame for :func:`sofeval.report.figures_descriptive.weekly_hazard`.
    design_text
        Text of the study-design section (blank lines separate paragraphs).
    lang
        ``"en"`` or ``"da"``: section titles, captions, headers, number format.
    threshold
        Disclosure threshold for every table and the figures' small cells.
    title
        Report title (default ``LABELS[lang]["report_title"]``).
    metadata
        Listed at the end of the HTML report (add a run date here if wanted).
    parallel
        Write the workbook in a forked process while the figures and the HTML are made
        (:mod:`sofeval.runtime`); the files are identical either way.

    Returns
    -------
    dict of str to pathlib.Path
        ``effects``, ``jobcentre_effects``, ``dose_response``, ``success_criteria``,
        ``data_audit`` (CSVs present for the given inputs), ``workbook`` and ``html``.
    """
    check_option("lang", lang, LANGS)
    check_threshold(threshold)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    raw: dict[str, pd.DataFrame | None] = {
        "effects": effects,
        "jobcentre_effects": jobcentre_effects,
        "dose_response": dose_response,
        "success_criteria": success_criteria,
        "data_audit": audit_summary(audit) if audit is not None else None,
    }
    shown = _disclosed_tables(raw, threshold)
    paths = _write_files(folder, shown, audit, threshold)
    sheets = dict(shown)
    if panel_summary is not None:
        sheets["panel_summary"] = auto_disclose(panel_summary, threshold)
    # the workbook (openpyxl, cell by cell) is written in a forked process beside the figures
    workbook = Background(
        lambda: write_workbook(
            folder / "sofeval_results.xlsx", sheets, threshold=threshold, lang=lang
        ),
        enabled=parallel,
    )
    sections = _sections(
        shown,
        panel_summary=sheets.get("panel_summary"),
        km_frame=km_frame,
        hazard_frame=hazard_frame,
        success_criteria=success_criteria,
        design_text=design_text,
        lang=lang,
        threshold=threshold,
    )
    paths["html"] = render_html(
        folder / "report.html",
        title=title or label("report_title", lang),
        sections=sections,
        lang=lang,
        metadata=metadata,
        threshold=threshold,
    )
    paths["workbook"] = workbook.result()
    return paths
