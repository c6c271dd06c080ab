"""The person-week panel: :class:`Panel` and :func:`build_panel` (DESIGN.md §3).

The rules are those of DESIGN.md §3; the column layout is fixed in CONTRIBUTING.md
("Internal representations"). The rows come from :func:`sofeval.panel.rows.panel_rows`, the
same machinery the chunked :func:`sofeval.panel.cells.cells_from_spells` uses; for register-scale
data use the cells, which never hold the whole panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.data import StudyData
from sofeval.panel.design import (
    KEY_COLUMNS,
    StudyDesign,
    event_column_of_state,
    event_columns,
)
from sofeval.panel.rows import PanelAudit, decode, panel_rows, prepare
from sofeval.panel.spells import check_covariates

__all__ = ["Panel", "build_panel"]


@dataclass(frozen=True)
class Panel:
    """Person-week hazard panel (columns: CONTRIBUTING.md, "Panel").

    Attributes
    ----------
    data
        One row per spell-week at risk.
    audit
        Spells in, used, excluded (with reasons), person-weeks, exits.
    design
        The settings that built it.
    windows
        The distinct programme windows (bit ``k`` of ``exposure``).
    data_end
        Data end used.
    """

    data: pd.DataFrame
    audit: PanelAudit
    design: StudyDesign
    windows: pd.DataFrame
    data_end: pd.Timestamp


def build_panel(
    study: StudyData,
    design: StudyDesign | None = None,
    covariates: Sequence[str] | None = None,
) -> Panel:
    """Build the person-week panel of ``study`` (DESIGN.md §3).

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel settings (default :class:`~sofeval.panel.design.StudyDesign()`).
    covariates
        Columns of ``spells`` to carry, binned by :func:`~sofeval.panel.spells.bin_covariates`.

    Returns
    -------
    Panel
        ``data`` with columns ``spell_id, person_id, jobcentre, week, month, event,
        event_<state>…, D, phase, link_month, exposure, met, met_workplace, in_measure``
        and the covariates; plus the audit.

    Notes
    -----
    For register-scale data use :func:`sofeval.panel.cells.cells_from_spells`, which never
    materialises this panel.
    """
    design = design or StudyDesign()
    covs = check_covariates(covariates, design)
    prep = prepare(study, design, covs, frozenset(KEY_COLUMNS))
    rows = panel_rows(prep, 0, prep.n, [*KEY_COLUMNS, *covs])
    data: dict[str, object] = {}
    ev_cols = event_columns(design.event_state)
    ev_of_state = event_column_of_state(design.event_state)
    events = {c: np.zeros(rows.n_rows, dtype=np.int8) for c in ev_cols}
    for code, col in ev_of_state.items():
        events[col][rows.event_pos[rows.event_code == code]] = 1
    for name in ("spell_id", "person_id", "jobcentre", "week", "month"):
        data[name] = decode(prep, name, rows.columns[name])
    data.update(events)
    for name in ("D", "phase", "link_month", "exposure", "met", "met_workplace", "in_measure"):
        data[name] = decode(prep, name, rows.columns[name])
    for name in covs:
        data[name] = decode(prep, name, rows.columns[name])
    frame = pd.DataFrame(data)
    return Panel(
        data=frame, audit=prep.audit, design=design, windows=prep.windows, data_end=prep.data_end
    )
