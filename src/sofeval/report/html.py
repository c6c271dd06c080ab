"""The self-contained HTML report: sections, embedded figures, formatted tables.

Figures are embedded as PNG without a ``Software`` tag and the HTML contains no time
unless it is passed in ``metadata``, so equal inputs give byte-identical files. The page
is rendered from the jinja template ``templates/report.html`` (inline CSS, no scripts,
no external resources).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from sofeval.errors import check_option
from sofeval.report.disclosure import secondary_mask, suppressed_mask
from sofeval.report.formatting import column_kind, format_rows
from sofeval.report.labels import LANGS, Lang, column_header, label


@dataclass(frozen=True)
class RenderedFigure:
    """A figure rendered already (by :func:`figure_png_base64`, possibly in another process).

    Attributes
    ----------
    png
        Base64 text of the PNG.
    """

    png: str


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
        ``(caption, figure)`` pairs, embedded as PNG (150 dpi, base64); a
        :class:`RenderedFigure` is embedded as it is.
    """

    title: str
    text: str = ""
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    figures: Sequence[tuple[str, Figure | RenderedFigure]] = ()


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


def _png(fig: Figure | RenderedFigure) -> str:
    """Base64 PNG text of a figure (rendered here unless rendered already)."""
    return fig.png if isinstance(fig, RenderedFigure) else figure_png_base64(fig)


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
    any_suppressed = any_secondary = False
    ctx_sections = []
    for k, sec in enumerate(sections, start=1):
        tables = []
        for caption, frame in sec.tables:
            any_suppressed |= bool(suppressed_mask(frame).any())
            any_secondary |= bool(secondary_mask(frame).any())
            tables.append(
                {
                    "caption": caption,
                    "header": [column_header(str(c), lang) for c in frame.columns],
                    "numeric": [
                        column_kind(str(c), frame[c]) not in ("text", "bool") for c in frame.columns
                    ],
                    "rows": format_rows(frame, lang, threshold, lambda v: label(v, lang)),
                }
            )
        figures = [{"caption": cap, "png": _png(fig)} for cap, fig in sec.figures]
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
        note=" ".join(
            [label("suppressed_note", lang).format(t=threshold)] * any_suppressed
            + [label("secondary_note", lang)] * any_secondary
        ),
        metadata_title=label("generated", lang),
        metadata=list((metadata or {}).items()),
    )
    out.write_text(html, encoding="utf-8", newline="\n")
    return out
