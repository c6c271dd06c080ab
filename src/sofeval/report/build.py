"""The whole publication of one analysis: :func:`build_report`.

Named steps: disclose the tables (:func:`sofeval.report.disclosure.auto_disclose`, then
secondary suppression across the declared sums and the rows that rest on another table's
count, :class:`RowLink`), write the files (the CSVs and the workbook, in a forked process),
assemble the report sections (the key findings first, then figures and tables per
analysis, every figure of an added section drawn from the disclosed tables), draw the
figures in two lanes (:func:`sofeval.report.figure_lanes.render_figures`) and render the
HTML (:func:`sofeval.report.html.render_html`). Figures drawn ahead by
:func:`report_figures` (for example in the process that estimated their analysis) are
embedded as they are where they were drawn from the tables the report shows
(:mod:`sofeval.report.prerender`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from sofeval.errors import SofevalError, check_option
from sofeval.report.disclosure import (
    SECONDARY_ATTR,
    SUPPRESSED_ATTR,
    CellSet,
    auto_disclose,
    check_threshold,
    is_key_column,
    secondary_mask,
    suppressed_mask,
)
from sofeval.report.figure_lanes import FigureJob, render_figures
from sofeval.report.figures import dose_response_plot, forest
from sofeval.report.figures_descriptive import km_curves, monitoring_plot, weekly_hazard
from sofeval.report.findings import FindingsSettings, key_findings
from sofeval.report.html import RenderedFigure, ReportSection, figure_png_base64, render_html
from sofeval.report.labels import LANGS, Lang, label
from sofeval.report.prerender import PrerenderedFigure, ReadLog
from sofeval.report.publication import (
    ExtraSection,
    FigureFactory,
    FrameSource,
    PublishedTable,
    RowLink,
)
from sofeval.report.relations import SHARE_DEPENDENTS, core_relations
from sofeval.report.secondary import SumRelation, protect_tables
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
    tables: Sequence[PublishedTable], relations: Sequence[SumRelation], threshold: int
) -> dict[str, pd.DataFrame]:
    """Step 1: primary suppression of every table, then secondary suppression across them."""
    shown = {
        t.name: auto_disclose(t.frame, threshold, count_columns=t.count_columns) for t in tables
    }
    dependents = {t.name: list(t.dependents) for t in tables}
    protected = protect_tables(shown, relations, threshold, dependents=dependents)
    for t in tables:
        if t.follows is not None:
            protected[t.name] = _follow(protected[t.name], protected, t.follows)
    return protected


def _follow(frame: pd.DataFrame, shown: Mapping[str, pd.DataFrame], link: RowLink) -> pd.DataFrame:
    """Hide the statistics of the rows of ``frame`` whose count in ``link.table`` is hidden.

    The cells take the marker of the count they rest on: ``<5`` after primary suppression,
    ``..`` after secondary suppression.
    """
    parent = shown.get(link.table)
    if parent is None or link.column not in parent.columns:
        raise SofevalError(
            f"build_report: a table follows {link.table}.{link.column}, which is not published."
        )
    j = list(parent.columns).index(link.column)
    hidden = suppressed_mask(parent)[:, j]
    second = secondary_mask(parent)[:, j]
    if not hidden.any():
        return frame
    keys_parent = parent[list(link.on.values())].astype(str)
    keys_own = frame[list(link.on)].astype(str)
    own = pd.MultiIndex.from_frame(keys_own)
    rows = own.isin(pd.MultiIndex.from_frame(keys_parent.loc[hidden]))
    rows_second = own.isin(pd.MultiIndex.from_frame(keys_parent.loc[hidden & second]))
    stats = [
        str(c)
        for c in frame.columns
        if not is_key_column(str(c))
        and (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool)
    ]
    out = frame.copy()
    for c in stats:
        col = out[c].astype(object) if out[c].dtype == bool else out[c]
        out[c] = col.mask(rows)
    labels = frame.index.to_numpy()
    cells = {(r, c) for r in labels[rows] for c in stats}
    out.attrs[SUPPRESSED_ATTR] = CellSet(frame.attrs.get(SUPPRESSED_ATTR, frozenset()) | cells)
    second_cells = {(r, c) for r in labels[rows_second] for c in stats}
    out.attrs[SECONDARY_ATTR] = CellSet(
        frame.attrs.get(SECONDARY_ATTR, frozenset()) | second_cells
    )
    return out


def _write_files(
    folder: Path,
    tables: Sequence[PublishedTable],
    shown: Mapping[str, pd.DataFrame],
    audit: pd.DataFrame | None,
    threshold: int,
) -> dict[str, Path]:
    """Step 2: the CSVs of the disclosed tables and the analyst's row-level audit."""
    csv = {t.name: shown[t.name] for t in tables if t.csv}
    paths = write_csv_tables(folder, csv, threshold)
    if audit is not None:
        # data_audit.csv is the analyst's row-level record of every dropped row (table,
        # row id, rule, detail), not a published table; the report and the workbook
        # show only its counts by table and rule, with disclosure control.
        rows = audit.reindex(columns=["table", "row_id", "rule", "detail"]).astype(str)
        rows = rows.sort_values(["table", "rule", "row_id"], kind="mergesort")
        rows.to_csv(folder / "data_audit.csv", index=False, lineterminator="\n")
        paths["data_audit"] = folder / "data_audit.csv"
    return paths


def _in_html(frame: pd.DataFrame) -> pd.DataFrame:
    """The success criteria shown in the HTML: programme jobcentres in their windows."""
    if {"programme", "in_window"} <= set(frame.columns):
        keep = frame["programme"].fillna(False).astype(bool) & frame["in_window"].fillna(
            False
        ).astype(bool)
        out = frame.loc[keep.to_numpy()]
        drop = [c for c in ("programme", "in_window", "month", "source") if c in out.columns]
        return out.drop(columns=drop)
    return frame


def _core_tables(
    raw: Mapping[str, pd.DataFrame | None], panel_summary: pd.DataFrame | None
) -> list[PublishedTable]:
    """The core tables in publication order (``None`` inputs skipped)."""
    spec = [
        PublishedTable("effects", pd.DataFrame(), "cap_effects"),
        PublishedTable("jobcentre_effects", pd.DataFrame(), "cap_jc_table"),
        PublishedTable("dose_response", pd.DataFrame(), "cap_dose_table"),
        PublishedTable("success_criteria", pd.DataFrame(), "", dependents=SHARE_DEPENDENTS),
        PublishedTable(
            "success_criteria_half_year", pd.DataFrame(), "", dependents=SHARE_DEPENDENTS
        ),
        PublishedTable(
            "success_criteria_overall", pd.DataFrame(), "cap_overall", dependents=SHARE_DEPENDENTS
        ),
        PublishedTable("data_audit", pd.DataFrame(), "cap_audit", csv=False),
    ]
    out = [
        PublishedTable(t.name, frame.reset_index(drop=True), t.caption, None, t.dependents, t.csv)
        for t in spec
        if (frame := raw.get(t.name)) is not None
    ]
    if panel_summary is not None:
        out.append(
            PublishedTable(
                "panel_summary",
                panel_summary.reset_index(drop=True),
                "cap_panel",
                count_columns=["value"] if "value" in panel_summary.columns else None,
                csv=False,
            )
        )
    return out


@dataclass(frozen=True)
class _Planned:
    """A report section whose figures are still to be drawn.

    ``figures`` holds ``(caption text, caption as given, factory)``: the caption as given
    (label key or text) names the figure among pre-rendered ones (:class:`PrerenderedFigure`).
    """

    title: str
    text: str = ""
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    figures: Sequence[tuple[str, str, FigureFactory]] = ()


def _sections(
    shown: Mapping[str, pd.DataFrame],
    *,
    km_frame: FrameSource | None,
    hazard_frame: FrameSource | None,
    success_criteria: pd.DataFrame | None,
    design_text: str,
    extra: Sequence[ExtraSection],
    lang: Lang,
    threshold: int,
) -> list[_Planned]:
    """Step 3: the report sections in order, with their tables and figures to draw."""

    def t(key: str) -> str:
        return label(key, lang)

    sections: list[_Planned] = []
    design_tables = [
        (t(cap), shown[name])
        for name, cap in (("panel_summary", "cap_panel"), ("data_audit", "cap_audit"))
        if name in shown and len(shown[name])
    ]
    if design_text or design_tables:
        sections.append(_Planned(t("sec_design"), design_text, design_tables))
    if km_frame is not None:
        km = km_frame
        figure: FigureFactory = lambda _: _km(km, lang)  # noqa: E731
        sections.append(_Planned(t("sec_km"), figures=[(t("cap_km"), "cap_km", figure)]))
    if hazard_frame is not None:
        hz = hazard_frame
        figure = lambda _: weekly_hazard(_frame(hz), min_count=threshold, lang=lang)  # noqa: E731
        sections.append(
            _Planned(t("sec_hazard"), figures=[(t("cap_hazard"), "cap_hazard", figure)])
        )
    if "effects" in shown:
        sections.append(_Planned(t("sec_pooled"), tables=[(t("cap_effects"), shown["effects"])]))
    if "jobcentre_effects" in shown:
        jce = shown["jobcentre_effects"]
        figure = lambda tables: forest(tables["jobcentre_effects"], lang=lang)  # noqa: E731
        sections.append(
            _Planned(
                t("sec_forest"),
                figures=[(t("cap_forest"), "cap_forest", figure)],
                tables=[(t("cap_jc_table"), jce)],
            )
        )
    if "dose_response" in shown:
        figure = lambda tables: dose_response_plot(tables["dose_response"], lang=lang)  # noqa: E731
        sections.append(
            _Planned(
                t("sec_dose"),
                figures=[(t("cap_dose"), "cap_dose", figure)],
                tables=[(t("cap_dose_table"), shown["dose_response"])],
            )
        )
    if success_criteria is not None:
        sc = success_criteria
        figure = lambda _: monitoring_plot(sc, min_count=threshold, lang=lang)  # noqa: E731
        tables = [
            (t(cap), view(shown[name]))
            for name, cap, view in (
                ("success_criteria_overall", "cap_overall", _identity),
                ("success_criteria", "cap_monitoring_table", _in_html),
            )
            if name in shown
        ]
        sections.append(
            _Planned(
                t("sec_monitoring"),
                figures=[(t("cap_monitoring"), "cap_monitoring", figure)],
                tables=tables,
            )
        )
    for sec in extra:
        tables = [
            (t(tab.caption), tab.html(shown[tab.name]) if tab.html else shown[tab.name])
            for tab in sec.tables
            if tab.caption
        ]
        figures = [(t(cap), cap, _factory(fig)) for cap, fig in sec.figures]
        sections.append(_Planned(t(sec.title), sec.text, tables, figures))
    return sections


def _frame(frame: FrameSource) -> pd.DataFrame:
    """The frame itself, or the frame the work computes."""
    return frame() if callable(frame) else frame


def _km(source: FrameSource, lang: Lang) -> Figure:
    """The Kaplan–Meier figure of the report (counted patterns when there is ``n``)."""
    km = _frame(source)
    weight = "n" if "n" in km.columns else None
    panel = "period" if "period" in km.columns else None
    return km_curves(km, weight=weight, panel=panel, lang=lang)


def _factory(fig: Figure | FigureFactory) -> FigureFactory:
    """The factory of a figure of an added section (drawn already, or from the tables)."""
    if callable(fig):
        return fig
    drawn = fig
    return lambda _: drawn


def _job(factory: FigureFactory, shown: Mapping[str, pd.DataFrame]) -> FigureJob:
    return lambda: factory(shown)


def _drawn(
    planned: Sequence[_Planned],
    shown: Mapping[str, pd.DataFrame],
    ready: Mapping[str, RenderedFigure | None],
    parallel: bool,
) -> list[ReportSection]:
    """Step 4: draw and render every figure not ``ready`` (two lanes); drop empty ones."""
    jobs = [
        _job(factory, shown) for sec in planned for _, key, factory in sec.figures
        if key not in ready
    ]  # fmt: skip
    rendered = iter(render_figures(jobs, parallel=parallel))
    out = []
    for sec in planned:
        pngs = [
            (cap, ready[key] if key in ready else next(rendered)) for cap, key, _ in sec.figures
        ]
        figures = [(cap, png) for cap, png in pngs if png is not None]
        out.append(ReportSection(sec.title, sec.text, sec.tables, figures))
    return out


def _fitting(
    prerendered: Sequence[PrerenderedFigure],
    shown: Mapping[str, pd.DataFrame],
    lang: Lang,
    threshold: int,
) -> dict[str, RenderedFigure | None]:
    """The pre-rendered figures drawn from the tables the report shows, by caption."""
    return {
        fig.key: None if fig.png is None else RenderedFigure(fig.png)
        for fig in prerendered
        if fig.fits(shown, lang, threshold)
    }


def _prerender(
    planned: Sequence[_Planned], shown: Mapping[str, pd.DataFrame], lang: Lang, threshold: int
) -> tuple[PrerenderedFigure, ...]:
    """Draw every planned figure here, recording the tables each one read."""
    out = []
    for sec in planned:
        for _, key, factory in sec.figures:
            log = ReadLog(shown)
            fig = factory(log)
            png = None if fig is None else figure_png_base64(fig)
            out.append(PrerenderedFigure(key, png, log.reads(), lang, threshold))
    return tuple(out)


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def _published(
    raw: Mapping[str, pd.DataFrame | None],
    panel_summary: pd.DataFrame | None,
    extra_sections: Sequence[ExtraSection],
    threshold: int,
    *,
    part: bool = False,
) -> tuple[list[PublishedTable], dict[str, pd.DataFrame]]:
    """Steps 0 and 1: the tables to publish, and the tables as disclosed.

    ``part``: the tables are a part of a report (drawn ahead, :func:`report_figures`);
    relations on a table that is not in the part are left out.
    """
    tables = _core_tables(raw, panel_summary)
    tables += [tab for sec in extra_sections for tab in sec.tables]
    names = [tab.name for tab in tables]
    if len(set(names)) != len(names):
        raise SofevalError(f"build_report: table names must be unique; got {names}.")
    relations = core_relations({tab.name: tab.frame for tab in tables})
    relations += [r for sec in extra_sections for r in sec.relations]
    if part:
        present = set(names)
        relations = [
            r for r in relations if {r.total.table, *(p.table for p in r.parts)} <= present
        ]
    return tables, _disclosed_tables(tables, relations, threshold)


def report_figures(
    *,
    effects: pd.DataFrame | None = None,
    jobcentre_effects: pd.DataFrame | None = None,
    dose_response: pd.DataFrame | None = None,
    success_criteria: pd.DataFrame | None = None,
    km_frame: FrameSource | None = None,
    hazard_frame: FrameSource | None = None,
    extra_sections: Sequence[ExtraSection] = (),
    lang: Lang = "en",
    threshold: int = 5,
) -> tuple[PrerenderedFigure, ...]:
    """Draw the report figures of the inputs given, ahead of the report, in this process.

    The inputs are those of :func:`build_report` (any subset: for example one analysis'
    section as soon as it is estimated); the tables given are disclosed among themselves
    and every figure they make is drawn and rendered as PNG. Pass the figures of all the
    parts to :func:`build_report` (``prerendered``): it uses each one that was drawn from
    the tables the whole report shows (:meth:`PrerenderedFigure.fits`), and draws the others
    itself, so the report is the same byte for byte.

    Parameters
    ----------
    effects, jobcentre_effects, dose_response, success_criteria, km_frame, hazard_frame
        As in :func:`build_report` (``effects`` has no figure; it refines the disclosure
        of the tables that add up to it).
    extra_sections
        Further sections, as in :func:`build_report`.
    lang
        ``"en"`` or ``"da"``.
    threshold
        Disclosure threshold.

    Returns
    -------
    tuple of PrerenderedFigure
        One per figure of the given inputs, in report order.
    """
    check_option("lang", lang, LANGS)
    check_threshold(threshold)
    raw = {
        "effects": effects,
        "jobcentre_effects": jobcentre_effects,
        "dose_response": dose_response,
    }
    _, shown = _published(raw, None, extra_sections, threshold, part=True)
    planned = _sections(
        shown,
        km_frame=km_frame,
        hazard_frame=hazard_frame,
        success_criteria=success_criteria,
        design_text="",
        extra=extra_sections,
        lang=lang,
        threshold=threshold,
    )
    return _prerender(planned, shown, lang, threshold)


def build_report(
    out_dir: str | Path,
    *,
    effects: pd.DataFrame | None = None,
    jobcentre_effects: pd.DataFrame | None = None,
    dose_response: pd.DataFrame | None = None,
    success_criteria: pd.DataFrame | None = None,
    success_half_year: pd.DataFrame | None = None,
    success_overall: pd.DataFrame | None = None,
    audit: pd.DataFrame | None = None,
    panel_summary: pd.DataFrame | None = None,
    km_frame: FrameSource | None = None,
    hazard_frame: FrameSource | None = None,
    design_text: str = "",
    extra_sections: Sequence[ExtraSection] = (),
    findings: FindingsSettings | None = None,
    lang: Lang = "en",
    threshold: int = 5,
    title: str | None = None,
    metadata: Mapping[str, str] | None = None,
    parallel: bool = True,
    prerendered: Sequence[PrerenderedFigure] = (),
) -> dict[str, Path]:
    """Write the CSVs, the Excel workbook and the HTML report of one analysis.

    Any input may be ``None``; its file and report section are then skipped.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).
    effects, jobcentre_effects, dose_response, success_criteria
        Tidy result tables (schemas in the module's issues; see :mod:`sofeval.report.figures`).
        The full monthly ``success_criteria`` is published in the CSV and the workbook; the
        HTML shows the programme jobcentres in their windows.
    success_half_year, success_overall
        The success criteria by jobcentre and half-year, and pooled over the programme
        jobcentres' in-window months by half-year and ``overall`` (``period``).
    audit
        Rows dropped in validation (``table, row_id, rule, detail``); published only as
        counts by table and rule (``data_audit.csv``).
    panel_summary
        ``item, value`` overview of the analysis panel.
    km_frame
        Frame for :func:`sofeval.report.figures_descriptive.km_curves`: one row per spell,
        or counted patterns with the number of spells in a column ``n``; or work without
        arguments that computes it (then computed in the lane that draws the figure).
    hazard_frame
        Cells-like frame for :func:`sofeval.report.figures_descriptive.weekly_hazard`
        (or work that computes it).
    design_text
        Text of the study-design section (blank lines separate paragraphs).
    extra_sections
        Further sections after the core ones, each with its tables (published as CSVs and
        sheets too), figures and the additive relations of its tables.
    findings
        Open the report with the key findings in plain words, built from the disclosed
        tables (:func:`sofeval.report.findings.key_findings`); ``None``: no such section.
    lang
        ``"en"`` or ``"da"``: section titles, captions, headers, number format.
    threshold
        Disclosure threshold for every table and the figures' small cells.
    title
        Report title (default ``LABELS[lang]["report_title"]``).
    metadata
        Listed at the end of the HTML report (add a run date here if wanted).
    parallel
        Write the CSVs and the workbook in a forked process, and draw every second figure
        in another, while the other figures and the HTML are made here
        (:mod:`sofeval.runtime`); the files are identical either way.
    prerendered
        Figures drawn ahead (:func:`report_figures`); each one drawn from the tables this
        report shows is embedded as it is, the others are drawn here. The report is the same
        either way.

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
        "success_criteria_half_year": success_half_year,
        "success_criteria_overall": success_overall,
        "data_audit": audit_summary(audit) if audit is not None else None,
    }
    tables, shown = _published(raw, panel_summary, extra_sections, threshold)
    sheets = {tab.name: shown[tab.name] for tab in tables}

    def files() -> tuple[dict[str, Path], Path]:
        written = _write_files(folder, tables, shown, audit, threshold)
        book = write_workbook(
            folder / "sofeval_results.xlsx", sheets, threshold=threshold, lang=lang
        )
        return written, book

    # the CSVs and the workbook are written in a forked process beside the figures
    files_lane = Background(files, enabled=parallel)
    opening: list[ReportSection] = []
    if findings is not None:
        paragraphs = key_findings(shown, lang=lang, settings=findings)
        if paragraphs:
            opening.append(ReportSection(label("sec_findings", lang), "\n\n".join(paragraphs)))
    planned = _sections(
        shown,
        km_frame=km_frame,
        hazard_frame=hazard_frame,
        success_criteria=success_criteria,
        design_text=design_text,
        extra=extra_sections,
        lang=lang,
        threshold=threshold,
    )
    ready = _fitting(prerendered, shown, lang, threshold)
    sections = opening + _drawn(planned, shown, ready, parallel)
    html = render_html(
        folder / "report.html",
        title=title or label("report_title", lang),
        sections=sections,
        lang=lang,
        metadata=metadata,
        threshold=threshold,
    )
    paths, workbook = files_lane.result()
    return paths | {"html": html, "workbook": workbook}
