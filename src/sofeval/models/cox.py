"""A continuous-time cross-check: Cox model with time-varying covariates (lifelines)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sofeval.models.design import build_design

__all__ = ["fit_cox_panel"]


def fit_cox_panel(
    panel: pd.DataFrame,
    *,
    id_col: str = "id",
    week: str = "week",
    event: str = "event",
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    penalizer: float = 0.0,
) -> pd.DataFrame:
    """Fit a Cox model with time-varying covariates on a person-week panel (lifelines).

    Each row is the interval ``(week - 1, week]`` of one spell; ties are handled by
    lifelines (Efron). Useful as a continuous-time cross-check of the cloglog model,
    whose week effects play the role of the Cox baseline hazard.

    Parameters
    ----------
    panel
        One row per spell-week at risk with ``id_col``, ``week``, ``event`` and covariates.
    id_col, week, event
        Column names of the spell id, spell week and 0/1 event indicator.
    categorical, numeric
        Covariates (dummy-coded without intercept, as in
        :func:`sofeval.models.design.build_design`).
    penalizer
        Ridge penalty passed to :class:`lifelines.CoxTimeVaryingFitter`.

    Returns
    -------
    pandas.DataFrame
        lifelines' summary frame (``coef``, ``se(coef)``, ``p``, ...), indexed by term.
    """
    from lifelines import CoxTimeVaryingFitter

    dm = build_design(panel, categorical=categorical, numeric=numeric, intercept=False)
    df = pd.DataFrame(dm.X, columns=list(dm.names))
    df["_id"] = panel[id_col].to_numpy()
    df["_stop"] = panel[week].to_numpy(dtype=np.float64)
    df["_start"] = df["_stop"] - 1.0
    df["_event"] = panel[event].to_numpy(dtype=np.int64)
    ctv = CoxTimeVaryingFitter(penalizer=penalizer)
    ctv.fit(df, id_col="_id", event_col="_event", start_col="_start", stop_col="_stop")
    out = ctv.summary.copy()
    out.index.name = "term"
    return out
