"""Published outputs: disclosure control, CSVs, Excel workbook and HTML report (DESIGN.md §5).

Disclosure rule
---------------
Danish register practice suppresses cells based on few persons. :func:`disclose`
suppresses every count in ``1 .. threshold-1`` (default: 1–4) and, in the same row,
the statistics that depend on it; a count of 0 is shown (it reveals no person), as
are counts ``>= threshold``. Suppressed cells are ``NaN``/``<NA>`` in numeric output
(the CSV files, where they are empty fields) and the marker ``"<5"`` (``"<threshold"``)
in the Excel workbook and the HTML report. Secondary suppression across rows (for
example recovering a cell from a published total) is *not* done; avoid publishing
totals next to suppressed rows.

Which cells were suppressed travels with the frame in ``frame.attrs`` as a frozenset of
``(index label, column)`` pairs, so formatters can tell a suppressed cell from a
missing one.

Determinism: equal inputs give byte-identical files. CSVs use a fixed float format and
LF line endings; the workbook gets fixed document timestamps and its zip archive is
rewritten with fixed entry timestamps; figures are embedded as PNG without a
``Software`` tag; the HTML contains no time unless it is passed in ``metadata``.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sofeval.errors import OptionError, SofevalError, check_option
from sofeval.report import figures as plots
from sofeval.report.figures import LANGS, label
from sofeval.runtime import Background

Lang = Literal["en", "da"]

SUPPRESSED_ATTR = "sofeval_suppressed"


class _CellSet(frozenset):  # type: ignore[type-arg]
    """An immutable set of suppressed cells that pandas need not deep-copy.

    pandas deep-copies ``DataFrame.attrs`` on every derived frame; for a frozen set that
    copy is pure overhead (it dominated report writing in the profile).
    """

    def __copy__(self) -> _CellSet:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _CellSet:
        return self
THRESHOLD_ATTR = "sofeval_disclosure_threshold"

#: Column names treated as person counts by the writers (besides any ``n_*`` column).
COUNT_COLUMNS: frozenset[str] = frozenset(
    "n_spells n_events n_persons n_rows first_meetings workplace_meetings at_risk event".split()
)

#: Fixed timestamp written into the workbook (document properties and zip entries).
FIXED_TIMESTAMP = dt.datetime(2000, 1, 1, 0, 0, 0)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_P_COLUMNS = frozenset({"p_value", "p_wild", "p_ri", "p_holm", "q_bh", "p_placebo"})
_SHARE_COLUMNS = frozenset({"share", "share_v23"})

#: Danish column headers (``column=header`` pairs).
_DA_COLUMNS: dict[str, str] = dict(
    pair.split("=", 1)
    for pair in (
        "estimand=estimand;jobcentre=jobcenter;coef=koef.;se=std.fejl;"
        "hazard_ratio=hazard ratio;ci_low=KI nedre;ci_high=KI øvre;p_value=p-værdi;"
        "n_spells=antal forløb;n_events=antal afgange;window=vindue;"
        "pct_per_10pp=% pr. 10 pct.-point;ci_low_pct=KI nedre (%);ci_high_pct=KI øvre (%);"
        "month_label=måned;first_meetings=første samtaler;"
        "workplace_meetings=samtaler på arbejdspladsen;share=andel;"
        "share_v23=andel (kat. 2+3);meets_target=mål nået;in_window=i programperiode;"
        "table=tabel;rule=regel;n_rows=antal rækker;item=post;value=værdi;flag=markering"
    ).split(";")
)


# --- disclosure control ---------------------------------------------------------------


def _check_threshold(threshold: int) -> None:
    if not isinstance(threshold, (int, np.integer)) or isinstance(threshold, bool) or threshold < 1:
        raise OptionError(f"threshold={threshold!r} must be an integer >= 1 (default 5).")


def disclose(
    frame: pd.DataFrame,
    count_columns: Sequence[str],
    threshold: int = 5,
    *,
    dependent_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Suppress small counts (``1 <= count < threshold``) and the statistics that depend on them.

    Parameters
    ----------
    frame
        Table to publish (not modified).
    count_columns
        Columns holding counts of persons (or spells, events, meetings).
    threshold
        Smallest count that may be shown; counts ``1 .. threshold-1`` are suppressed,
        0 is shown.
    dependent_columns
        Statistic columns suppressed in every row where any count was suppressed.

    Returns
    -------
    pandas.DataFrame
        A copy with suppressed cells set to missing (integer count columns become
        nullable ``Int64``) and the suppressed ``(index, column)`` pairs recorded in
        ``attrs["sofeval_suppressed"]`` (merged with those of earlier calls).

    Raises
    ------
    SofevalError
        If a named column is missing.
    OptionError
        If ``threshold`` is not an integer >= 1.
    """
    _check_threshold(threshold)
    dependents = list(dependent_columns or ())
    missing = [c for c in [*count_columns, *dependents] if c not in frame.columns]
    if missing:
        raise SofevalError(
            f"disclose: column(s) {missing} not in the table (columns: {list(frame.columns)}); "
            "pass the names of existing count and statistic columns."
        )
    out = frame.copy()
    if not out.index.is_unique:
        out = out.reset_index(drop=True)
    prior = frame.attrs.get(SUPPRESSED_ATTR, frozenset()) if frame.index.is_unique else frozenset()
    cells: set[tuple[Any, str]] = set(prior)
    row_small = pd.Series(False, index=out.index)
    for c in count_columns:
        values = pd.to_numeric(out[c], errors="coerce")
        in_range = ((values >= 1) & (values < threshold)).fillna(False)
        small = pd.Series(in_range.to_numpy(dtype=bool), index=out.index)
        row_small |= small
        if pd.api.types.is_integer_dtype(values.dtype):
            out[c] = values.astype("Int64").mask(small)
        else:
            out[c] = values.astype(float).mask(small)
        cells.update((i, c) for i in out.index[small.to_numpy()])
    for c in dependents:
        if row_small.any():
            col = out[c]
            if col.dtype == bool:
                col = col.astype(object)
            out[c] = col.mask(row_small)
        cells.update((i, c) for i in out.index[row_small.to_numpy()])
    out.attrs[SUPPRESSED_ATTR] = _CellSet(cells)
    out.attrs[THRESHOLD_ATTR] = int(threshold)
    return out


def _is_count(column: str) -> bool:
    return column in COUNT_COLUMNS or column.startswith("n_")


def auto_disclose(frame: pd.DataFrame, threshold: int = 5) -> pd.DataFrame:
    """Apply :func:`disclose` with the default rule of the writers.

    Count columns are those in :data:`COUNT_COLUMNS` or named ``n_*``; every other
    numeric or boolean column is a dependent statistic.

    Parameters
    ----------
    frame
        Table to publish.
    threshold
        Smallest count that may be shown.

    Returns
    -------
    pandas.DataFrame
        The disclosed copy.
    """
    counts = [str(c) for c in frame.columns if _is_count(str(c))]
    dependents = [
        str(c)
        for c in frame.columns
        if str(c) not in counts
        and (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool)
    ]
    return disclose(frame, counts, threshold, dependent_columns=dependents)


def _suppressed(frame: pd.DataFrame) -> np.ndarray:
    """Boolean array (rows × columns) of the suppressed cells recorded in ``attrs``."""
    mask = np.zeros(frame.shape, dtype=bool)
    cells = frame.attrs.get(SUPPRESSED_ATTR, frozenset())
    if not cells or not frame.index.is_unique:
        return mask
    pos = {lab: i for i, lab in enumerate(frame.index)}
    cols = {str(c): j for j, c in enumerate(frame.columns)}
    for lab, col in cells:
        if lab in pos and col in cols:
            mask[pos[lab], cols[col]] = True
    return mask


def _marker(frame: pd.DataFrame, threshold: int) -> str:
    return f"<{frame.attrs.get(THRESHOLD_ATTR, threshold)}"


# --- CSV ------------------------------------------------------------------------------


def _out_dir(out_dir: str | Path) -> Path:
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_csv_tables(
    out_dir: str | Path, tables: Mapping[str, pd.DataFrame], threshold: int = 5
) -> dict[str, Path]:
    """Write each table as ``<name>.csv`` after disclosure control.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).
    tables
        Table name → frame.
    threshold
        Disclosure threshold (see :func:`auto_disclose`); suppressed cells are empty.

    Returns
    -------
    dict of str to pathlib.Path
        Table name → written file. UTF-8, LF line endings, no index,
        ``float_format="%.10g"``: equal inputs give byte-identical files.
    """
    _check_threshold(threshold)
    folder = _out_dir(out_dir)
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        auto_disclose(frame, threshold).to_csv(
            path, index=False, float_format="%.10g", lineterminator="\n", encoding="utf-8"
        )
        written[name] = path
    return written


# --- cell formatting (shared by HTML and Excel) ----------------------------------------


def _kind(column: str, series: pd.Series) -> str:
    if _is_count(column):
        return "count"
    if column in _P_COLUMNS or column.startswith("p_"):
        return "p"
    if column in _SHARE_COLUMNS or column.startswith("share"):
        return "share"
    if column.endswith("_pct") or column.startswith("pct_"):
        return "pct"
    if series.dtype == bool or column in ("meets_target", "in_window"):
        return "bool"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "count"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "float"
    return "text"


_EXCEL_FORMATS = {"count": "#,##0", "p": "0.000", "share": "0.0%", "pct": "0.00", "float": "0.000"}


_DA_DIGITS = str.maketrans(",.", ".,")


def _format_value(value: Any, kind: str, lang: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if kind == "bool" or isinstance(value, (bool, np.bool_)):
        yes, no = ("ja", "nej") if lang == "da" else ("yes", "no")
        return yes if bool(value) else no
    if kind == "text" or isinstance(value, str):
        return str(value)
    x = float(value)
    if kind == "count":
        text = f"{x:,.0f}"
    elif kind == "p":
        text = "<0.001" if x < 0.001 else f"{x:.3f}"
    elif kind == "share":
        text = f"{100 * x:.1f} %"
    elif kind == "pct":
        text = f"{x:.2f}"
    else:
        text = f"{x:.3f}"
    if lang == "da":
        text = text.translate(_DA_DIGITS)
    return text.replace("-", "−")


def _header(column: str, lang: str) -> str:
    return _DA_COLUMNS.get(column, column) if lang == "da" else column


@dataclass(frozen=True)
class _Cell:
    text: str
    numeric: bool


def _table_rows(frame: pd.DataFrame, lang: str, threshold: int) -> list[list[_Cell]]:
    """Format a (disclosed) frame into text cells with suppression markers."""
    mask = _suppressed(frame)
    marker = _marker(frame, threshold)
    kinds = [_kind(str(c), frame[c]) for c in frame.columns]
    rows: list[list[_Cell]] = []
    for i, values in enumerate(frame.itertuples(index=False, name=None)):
        row = []
        for j, v in enumerate(values):
            numeric = kinds[j] not in ("text", "bool")
            row.append(_Cell(marker if mask[i, j] else _format_value(v, kinds[j], lang), numeric))
        rows.append(row)
    return rows


# --- Excel ----------------------------------------------------------------------------


_CORE_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _fix_zip(data: bytes) -> bytes:
    """Rewrite an xlsx archive deterministically.

    openpyxl stamps the current time twice: every zip entry's date and, in
    ``openpyxl.writer.excel.save_workbook``, ``dcterms:modified`` in
    ``docProps/core.xml`` (overriding ``wb.properties.modified``). Both are replaced
    by fixed values here.
    """
    fixed = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            new = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            new.compress_type = zipfile.ZIP_DEFLATED
            new.external_attr = 0o600 << 16
            new.create_system = 3
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_MODIFIED.sub(rb"\g<1>" + fixed + rb"\g<2>", content)
            dst.writestr(new, content)
    return buf.getvalue()


def write_workbook(
    path: str | Path,
    tables: Mapping[str, pd.DataFrame],
    *,
    threshold: int = 5,
    lang: Lang = "en",
) -> Path:
    """Write one formatted sheet per table to an ``.xlsx`` workbook.

    Each sheet has a bold, frozen header row (Danish column names for ``lang="da"``),
    column widths fitted to the content and number formats per column kind (counts
    ``#,##0``, coefficients ``0.000``, p-values ``0.000``, shares ``0.0%``, percent
    changes ``0.00``). Suppressed cells (see :func:`auto_disclose`) hold ``"<5"``.

    Parameters
    ----------
    path
        Output file.
    tables
        Sheet name (truncated to 31 characters) → frame.
    threshold
        Disclosure threshold.
    lang
        Header language.

    Returns
    -------
    pathlib.Path
        The written file. The document timestamps are :data:`FIXED_TIMESTAMP` and the
        zip entries carry a fixed date, so equal inputs give byte-identical files.
    """
    from openpyxl.styles import Alignment, Font

    check_option("lang", lang, LANGS)
    _check_threshold(threshold)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        book = writer.book
        book.properties.created = FIXED_TIMESTAMP
        book.properties.modified = FIXED_TIMESTAMP
        book.properties.creator = "sofeval"
        for name, frame in tables.items():
            sheet_name = name[:31]
            shown = auto_disclose(frame, threshold)
            mask = _suppressed(shown)
            marker = _marker(shown, threshold)
            kinds = [_kind(str(c), shown[c]) for c in shown.columns]
            texts = _table_rows(shown, lang, threshold)
            export = shown.copy()
            export.columns = [_header(str(c), lang) for c in shown.columns]
            export.to_excel(writer, sheet_name=sheet_name, index=False)
            ws = writer.sheets[sheet_name]
            ws.freeze_panes = "A2"
            for j, col in enumerate(export.columns):
                head = ws.cell(row=1, column=j + 1)
                head.font = Font(bold=True)
                head.alignment = Alignment(horizontal="center", wrap_text=True)
                width = max([len(str(col))] + [len(r[j].text) for r in texts])
                letter = head.column_letter
                ws.column_dimensions[letter].width = min(max(width + 2, 8), 40)
                fmt = _EXCEL_FORMATS.get(kinds[j])
                for i in range(len(shown)):
                    cell = ws.cell(row=i + 2, column=j + 1)
                    if mask[i, j]:
                        cell.value = marker
                        cell.alignment = Alignment(horizontal="right")
                    elif fmt is not None:
                        cell.number_format = fmt
    out.write_bytes(_fix_zip(buf.getvalue()))
    return out


# --- HTML -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSection:
    """One section of the HTML report.

    Attributes
    ----------
    title
        Section heading (also listed in the table of contents).
    text
        Plain text; blank lines separate paragraphs (HTML is escaped).
    tables
        ``(caption, frame)`` pairs; frames from :func:`disclose` show ``"<5"`` markers.
    figures
        ``(caption, figure)`` pairs, embedded as PNG (150 dpi, base64).
    """

    title: str
    text: str = ""
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    figures: Sequence[tuple[str, Figure]] = ()


def figure_png_base64(fig: Figure, dpi: int = 150) -> str:
    """Render ``fig`` as a deterministic PNG (no ``Software`` metadata), base64-encoded.

    Parameters
    ----------
    fig
        The figure.
    dpi
        Resolution.

    Returns
    -------
    str
        Base64 text for a ``data:image/png;base64,`` URI.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _template() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html")


def render_html(
    path: str | Path,
    *,
    title: str,
    sections: Sequence[ReportSection],
    lang: Lang = "en",
    metadata: Mapping[str, str] | None = None,
    threshold: int = 5,
) -> Path:
    """Write a self-contained HTML report (inline CSS and figures, no external resources).

    Parameters
    ----------
    path
        Output file.
    title
        Report title.
    sections
        Sections in order; each gets an anchor in the table of contents.
    lang
        Language of fixed texts and number formatting (decimal comma for ``"da"``).
    metadata
        Key → value pairs listed at the end (for example a run date; nothing is added
        automatically, so the output is deterministic).
    threshold
        Threshold quoted in the suppression note (markers come from the frames' attrs).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    check_option("lang", lang, LANGS)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    any_suppressed = False
    ctx_sections = []
    for k, sec in enumerate(sections, start=1):
        tables = []
        for caption, frame in sec.tables:
            any_suppressed |= bool(_suppressed(frame).any())
            tables.append(
                {
                    "caption": caption,
                    "header": [_header(str(c), lang) for c in frame.columns],
                    "numeric": [
                        _kind(str(c), frame[c]) not in ("text", "bool") for c in frame.columns
                    ],
                    "rows": _table_rows(frame, lang, threshold),
                }
            )
        figures = [{"caption": cap, "png": figure_png_base64(fig)} for cap, fig in sec.figures]
        paragraphs = [p.strip() for p in sec.text.split("\n\n") if p.strip()]
        ctx_sections.append(
            {
                "id": f"s{k}",
                "number": k,
                "title": sec.title,
                "paragraphs": paragraphs,
                "tables": tables,
                "figures": figures,
            }
        )
    html = _template().render(
        title=title,
        lang=lang,
        contents=label("contents", lang),
        sections=ctx_sections,
        note=label("suppressed_note", lang).format(t=threshold) if any_suppressed else "",
        metadata_title=label("generated", lang),
        metadata=list((metadata or {}).items()),
    )
    out.write_text(html, encoding="utf-8", newline="\n")
    return out


# --- orchestration --------------------------------------------------------------------


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
        Frame for :func:`sofeval.report.figures.km_curves`: one row per spell, or counted patterns
        with the number of spells in a column ``n``.
    hazard_frame
        Cells-like frame for :func:`sofeval.report.figures.weekly_hazard`.
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
    _check_threshold(threshold)
    folder = _out_dir(out_dir)
    raw: dict[str, pd.DataFrame | None] = {
        "effects": effects,
        "jobcentre_effects": jobcentre_effects,
        "dose_response": dose_response,
        "success_criteria": success_criteria,
        "data_audit": audit_summary(audit) if audit is not None else None,
    }
    shown = {k: auto_disclose(v, threshold) for k, v in raw.items() if v is not None}
    paths = write_csv_tables(folder, shown, threshold)
    if audit is not None:
        # data_audit.csv is the analyst's row-level record of every dropped row (table,
        # row id, rule, detail), not a published table; the report and the workbook
        # show only its counts by table and rule, with disclosure control.
        rows = audit.reindex(columns=["table", "row_id", "rule", "detail"]).astype(str)
        rows = rows.sort_values(["table", "rule", "row_id"], kind="mergesort")
        rows.to_csv(folder / "data_audit.csv", index=False, lineterminator="\n")
        paths["data_audit"] = folder / "data_audit.csv"
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

    def t(key: str) -> str:
        return label(key, lang)

    sections: list[ReportSection] = []
    design_tables = []
    if panel_summary is not None:
        design_tables.append((t("cap_panel"), sheets["panel_summary"]))
    if "data_audit" in shown:
        design_tables.append((t("cap_audit"), shown["data_audit"]))
    if design_text or design_tables:
        sections.append(ReportSection(t("sec_design"), design_text, design_tables))
    if km_frame is not None:
        weight = "n" if "n" in km_frame.columns else None
        fig = plots.km_curves(km_frame, weight=weight, lang=lang)
        sections.append(ReportSection(t("sec_km"), figures=[(t("cap_km"), fig)]))
    if hazard_frame is not None:
        fig = plots.weekly_hazard(hazard_frame, min_count=threshold, lang=lang)
        sections.append(ReportSection(t("sec_hazard"), figures=[(t("cap_hazard"), fig)]))
    if "effects" in shown:
        sections.append(
            ReportSection(t("sec_pooled"), tables=[(t("cap_effects"), shown["effects"])])
        )
    if jobcentre_effects is not None:
        fig = plots.forest(shown["jobcentre_effects"], lang=lang)
        sections.append(
            ReportSection(
                t("sec_forest"),
                figures=[(t("cap_forest"), fig)],
                tables=[(t("cap_jc_table"), shown["jobcentre_effects"])],
            )
        )
    if dose_response is not None:
        fig = plots.dose_response_plot(shown["dose_response"], lang=lang)
        sections.append(
            ReportSection(
                t("sec_dose"),
                figures=[(t("cap_dose"), fig)],
                tables=[(t("cap_dose_table"), shown["dose_response"])],
            )
        )
    if success_criteria is not None:
        fig = plots.monitoring_plot(success_criteria, min_count=threshold, lang=lang)
        sections.append(
            ReportSection(
                t("sec_monitoring"),
                figures=[(t("cap_monitoring"), fig)],
                tables=[(t("cap_monitoring_table"), shown["success_criteria"])],
            )
        )
    paths["html"] = render_html(
        folder / "report.html",
        title=title or t("report_title"),
        sections=sections,
        lang=lang,
        metadata=metadata,
        threshold=threshold,
    )
    paths["workbook"] = workbook.result()
    return paths
