"""What a report publishes: tables (:class:`PublishedTable`) and sections (:class:`ExtraSection`).

The types :func:`sofeval.report.build.build_report` and
:func:`~sofeval.report.build.report_figures` take, and the sections of
:mod:`sofeval.report.sections` are made of.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import pandas as pd
from matplotlib.figure import Figure

from sofeval.report.secondary import SumRelation

__all__ = ["ExtraSection", "FigureFactory", "FrameSource", "PublishedTable", "RowLink"]

#: A frame, or work without arguments that computes it when it is needed.
FrameSource: TypeAlias = pd.DataFrame | Callable[[], pd.DataFrame]

#: A figure drawn from the disclosed tables (name -> frame) of the report, or ``None``
#: when the tables leave nothing to draw.
FigureFactory: TypeAlias = Callable[[Mapping[str, pd.DataFrame]], Figure | None]


@dataclass(frozen=True)
class RowLink:
    """The rows of a table rest on a count in another table: they are hidden with it.

    For example every row of ``cumulative_incidence`` (no count of its own) is a mean over
    the spells counted in ``n_spells`` of the same scope in ``duration_effects``.

    Attributes
    ----------
    table
        The table holding the count.
    column
        The count column.
    on
        Key columns of the linked table -> key columns of ``table``.
    """

    table: str
    column: str
    on: Mapping[str, str]


@dataclass(frozen=True)
class PublishedTable:
    """A table to publish: a CSV, a workbook sheet and (with a caption) an HTML table.

    Attributes
    ----------
    name
        File and sheet name (``<name>.csv``).
    frame
        The table before disclosure control.
    caption
        Label key (see :data:`sofeval.report.labels.LABELS`) or text of the HTML
        caption; ``""`` publishes the table in the CSV and the workbook only.
    count_columns
        Count columns (default: by name, see
        :func:`sofeval.report.disclosure.auto_disclose`).
    dependents
        Statistics hidden in a row where secondary suppression hid a count.
    csv
        Write ``<name>.csv`` (``False``: the workbook and the HTML only).
    html
        The part of the disclosed table the HTML shows (default: all of it).
    follows
        The count of another table this table's rows rest on (:class:`RowLink`): rows
        whose count is hidden there are hidden here.
    """

    name: str
    frame: pd.DataFrame
    caption: str = ""
    count_columns: Sequence[str] | None = None
    dependents: Sequence[str] = ()
    csv: bool = True
    html: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    follows: RowLink | None = None


@dataclass(frozen=True)
class ExtraSection:
    """A further report section (for example an analysis added after the core report).

    Attributes
    ----------
    title
        Label key or text of the section title.
    text
        Plain text; blank lines separate paragraphs.
    tables
        Tables published with the section (CSV, sheet, HTML when captioned).
    figures
        ``(caption label key or text, figure)`` pairs. A figure is either drawn already
        (from disclosed or aggregated data) or a :data:`FigureFactory` that draws it from
        the disclosed tables (it may return ``None``: no figure).
    relations
        Additive structure of the tables (:func:`sofeval.report.secondary.sum_relations`,
        on the tables' names), for secondary suppression.
    """

    title: str
    text: str = ""
    tables: Sequence[PublishedTable] = ()
    figures: Sequence[tuple[str, Figure | FigureFactory]] = ()
    relations: Sequence[SumRelation] = field(default=())
