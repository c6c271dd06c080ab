"""Continuous-time cross-check of the pooled SOF effects: a stratified Cox model.

The engine's :func:`sofeval.models.fit_cox_panel` fits an unstratified Cox model with
dummy-coded covariates; the cross-check needs the baseline hazard stratified by
jobcentre (the analogue of the jobcentre fixed effects), so it calls lifelines'
:class:`~lifelines.CoxTimeVaryingFitter` with ``strata`` itself.
"""

from __future__ import annotations

import pandas as pd

from sofeval.analyses.specification import ESTIMANDS, INTEREST, effect_rows
from sofeval.data import StudyData
from sofeval.panel import StudyDesign, build_panel

__all__ = ["COX_MODEL", "cox_crosscheck"]

#: Description of the model in the ``model`` column of :func:`cox_crosscheck`.
COX_MODEL = "Cox with time-varying D (lifelines), strata jobcentre, calendar quarters"


def _cox_frame(study: StudyData, design: StudyDesign) -> pd.DataFrame:
    """Person-week intervals ``(week - 1, week]`` with D_early, D_late, jobcentre, quarters."""
    p = build_panel(study, design).data
    week = p["week"].to_numpy()
    d = p["D"].to_numpy().astype(float)
    df = pd.DataFrame({
        "id": p["spell_id"].cat.codes.to_numpy(),
        "start": week - 1.0,
        "stop": week * 1.0,
        "event": p["event"].to_numpy(),
        "D_early": d * (week < design.phase_cut),
        "D_late": d * (week >= design.phase_cut),
        "jc": p["jobcentre"].cat.codes.to_numpy(),
    })
    quarter = pd.get_dummies(p["month"].to_numpy() // 3, prefix="q", drop_first=True,
                             dtype=float)
    return pd.concat([df, quarter], axis=1)


def cox_crosscheck(study: StudyData, design: StudyDesign | None = None) -> pd.DataFrame:
    """The pooled effects from a Cox model with time-varying covariates (lifelines).

    A continuous-time cross-check of the default discrete-time model: each person-week is
    the interval ``(t - 1, t]`` of its spell (delayed entry is handled by the intervals),
    ``D_early`` and ``D_late`` are time-varying covariates, the baseline hazard is
    stratified by jobcentre (the analogue of the jobcentre fixed effects) and calendar
    quarters enter as dummies (months would make the partial likelihood slow). Ties are
    handled by Efron's method. It works on the full person-week panel, so it is meant for
    samples up to a few hundred thousand spells.

    Returns
    -------
    pandas.DataFrame
        ``estimand, coef, se, hazard_ratio, ci_low, ci_high, p_value, model``.
    """
    # lifelines (with autograd and formulaic) takes seconds to import: only on use
    from lifelines import CoxTimeVaryingFitter

    design = design or StudyDesign()
    ctv = CoxTimeVaryingFitter()
    ctv.fit(_cox_frame(study, design), id_col="id", event_col="event", start_col="start",
            stop_col="stop", strata=["jc"])
    s = ctv.summary.loc[list(INTEREST)]
    out = effect_rows(s["coef"].to_numpy(float), s["se(coef)"].to_numpy(float))
    out.insert(0, "estimand", list(ESTIMANDS))
    out["model"] = COX_MODEL
    return out
