"""Descriptive frames of the SOF cells for the report: Kaplan–Meier counts, weekly hazards.

Both are plain DataFrames for the figure functions of :mod:`sofeval.report`
(:func:`~sofeval.report.km_curves`, :func:`~sofeval.report.weekly_hazard`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sofeval.analyses.specification import SOFCells

__all__ = ["hazard_frame", "km_frame"]

#: Start and end of the programme period when there is no window: after every date.
_NO_WINDOW = pd.Timestamp("2262-01-01")


def km_frame(sc: SOFCells) -> pd.DataFrame:
    """Spell counts for Kaplan–Meier curves, by programme status and period.

    One row per distinct ``group``, ``entry_week``, ``last_week`` and ``event`` (exit to
    employment) with the number of spells ``n`` (for :func:`sofeval.report.km_curves` with
    ``weight="n"``). ``group`` is ``"Programme"`` or ``"Comparison"`` and ``period`` the
    period of the spell's week-8 date relative to the programme windows (``before``,
    ``during``, ``after``; the small multiples of the report).

    Parameters
    ----------
    sc
        Cells of the SOF model with their spell frame.

    Returns
    -------
    pandas.DataFrame
        ``entry_week``, ``last_week``, ``event``, ``group``, ``period``, ``n``.
    """
    sf = sc.spells
    cell_jc = sc.cells.frame["jobcentre"].astype(str).to_numpy()
    programme_jcs = np.unique(cell_jc[sc.jc_window.to_numpy() >= 0])
    programme = sf["jobcentre"].isin(programme_jcs).to_numpy()
    if len(sc.windows):
        start = pd.Timestamp(sc.windows["start"].min())
        end = pd.Timestamp(sc.windows["end"].max())
    else:
        start = end = _NO_WINDOW
    w8 = sf["w8_date"].to_numpy("datetime64[ns]")
    period = np.select([w8 < start.to_datetime64(), w8 <= end.to_datetime64()], [0, 1], 2)
    counts = (
        pd.DataFrame(
            {
                "status": np.where(programme, 0, 1),
                "period": period,
                "entry_week": sf["entry_week"].to_numpy(),
                "last_week": sf["last_week"].to_numpy(),
                "event": (sf["event_state"] == sc.design.event_state).to_numpy(int),
            }
        )
        .groupby(["status", "period", "entry_week", "last_week", "event"], sort=True)
        .size()
        .rename("n")
        .reset_index()
    )
    status = np.array(["Programme", "Comparison"], dtype=object)[counts["status"].to_numpy()]
    when = pd.Categorical(
        np.array(["before", "during", "after"], dtype=object)[counts["period"].to_numpy()],
        categories=["before", "during", "after"],
    )
    return pd.DataFrame(
        {
            "entry_week": counts["entry_week"].to_numpy(),
            "last_week": counts["last_week"].to_numpy(),
            "event": counts["event"].to_numpy(),
            "group": pd.Categorical(status, categories=["Programme", "Comparison"]),
            "period": when,
            "n": counts["n"].to_numpy(np.int64),
        }
    )


def hazard_frame(sc: SOFCells) -> pd.DataFrame:
    """Events and person-weeks by spell week for programme and comparison jobcentres.

    Parameters
    ----------
    sc
        Cells of the SOF model.

    Returns
    -------
    pandas.DataFrame
        ``week``, ``group`` (``Programme``/``Comparison``), ``at_risk``, ``event``.
    """
    f = sc.cells.frame
    group = np.where(sc.jc_window.to_numpy() >= 0, "Programme", "Comparison")
    out = (
        pd.DataFrame(
            {
                "week": f["week"].to_numpy(),
                "group": pd.Categorical(group, categories=["Programme", "Comparison"]),
                "at_risk": f["at_risk"].to_numpy(),
                "event": f["event"].to_numpy(),
            }
        )
        .groupby(["week", "group"], as_index=False, observed=True)
        .sum()
    )
    return out
