"""Figures drawn ahead of the report: :class:`PrerenderedFigure`.

Drawing the figures is most of the time of writing a report, and each figure needs only the
tables of one analysis. A pipeline can therefore draw an analysis' figures as soon as it is
estimated, in whichever process estimated it (:func:`sofeval.report.build.report_figures`),
and hand them to :func:`~sofeval.report.build.build_report`, which then only assembles.

A figure of the report is drawn from the *disclosed* tables, and disclosure control spans
tables (secondary suppression across the declared sums), so a figure drawn from one
analysis' tables may see cells that the whole report hides. Every pre-rendered figure
therefore records a fingerprint of each disclosed table it read (:class:`ReadLog`);
:meth:`PrerenderedFigure.fits` accepts it only where the report's tables have the same
fingerprints, and the report draws the figure afresh otherwise. The report is thus the same,
byte for byte, whether its figures were pre-rendered or not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.report.disclosure import SECONDARY_ATTR, SUPPRESSED_ATTR

__all__ = ["PrerenderedFigure", "ReadLog", "table_fingerprint"]


def table_fingerprint(frame: pd.DataFrame | None) -> str:
    """A digest of a disclosed table: values, index, columns, dtypes and suppression markers.

    Parameters
    ----------
    frame
        A table (``None``: a table that is not there).

    Returns
    -------
    str
        Hex SHA-256 digest; equal tables (:meth:`pandas.DataFrame.equals`, same dtypes, same
        suppressed and secondary cells) give equal digests.

    Examples
    --------
    >>> import pandas as pd
    >>> table_fingerprint(pd.DataFrame({"a": [1]})) == table_fingerprint(pd.DataFrame({"a": [1]}))
    True
    >>> table_fingerprint(None) == table_fingerprint(pd.DataFrame({"a": [1]}))
    False
    """
    digest = hashlib.sha256()
    if frame is None:
        digest.update(b"absent")
        return digest.hexdigest()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(repr(frame.index.tolist()).encode())
    values = pd.util.hash_pandas_object(frame, index=False)
    digest.update(np.ascontiguousarray(values.to_numpy()).tobytes())
    for attr in (SUPPRESSED_ATTR, SECONDARY_ATTR):
        cells = frame.attrs.get(attr, frozenset())
        digest.update(repr(sorted((repr(r), str(c)) for r, c in cells)).encode())
    return digest.hexdigest()


class ReadLog(Mapping[str, pd.DataFrame]):
    """The disclosed tables as a mapping that records which tables a figure read.

    A figure factory (:data:`~sofeval.report.publication.FigureFactory`) given a ``ReadLog``
    reads as from the tables themselves; asking for a missing table (``in``, ``get``)
    counts as a read too, since the figure may differ once the table is there.

    Parameters
    ----------
    tables
        The disclosed tables by name.
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self._tables = tables
        self._read: dict[str, None] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        self._read[name] = None
        return self._tables[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self._read[name] = None
        return name in self._tables

    def __iter__(self) -> Iterator[str]:
        # iterating reads every table
        self._read.update(dict.fromkeys(self._tables))
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def reads(self) -> tuple[tuple[str, str], ...]:
        """Each table read so far with its :func:`table_fingerprint`, by name."""
        return tuple(
            (name, table_fingerprint(self._tables.get(name))) for name in sorted(self._read)
        )


@dataclass(frozen=True)
class PrerenderedFigure:
    """A report figure drawn ahead of the report, with what it was drawn from.

    Attributes
    ----------
    key
        The figure's caption as given to the report (label key or text), unique in a report.
    png
        Base64 PNG text (:func:`~sofeval.report.html.figure_png_base64`); ``None`` when the
        tables left nothing to draw.
    reads
        ``(table name, fingerprint)`` of every disclosed table the figure read.
    lang
        Language it was drawn in.
    threshold
        Disclosure threshold it was drawn with.
    """

    key: str
    png: str | None
    reads: tuple[tuple[str, str], ...]
    lang: str
    threshold: int

    def fits(self, tables: Mapping[str, pd.DataFrame], lang: str, threshold: int) -> bool:
        """Whether the figure is the one the report would draw from ``tables``.

        Parameters
        ----------
        tables
            The report's disclosed tables by name.
        lang, threshold
            The report's language and disclosure threshold.

        Returns
        -------
        bool
            ``True`` when the language and threshold are the same and every table read has
            the same fingerprint in ``tables``.
        """
        return (
            self.lang == lang
            and self.threshold == threshold
            and all(table_fingerprint(tables.get(name)) == fp for name, fp in self.reads)
        )
