"""The generic hazard-model entry point.

* :func:`fit_hazard` -- fit a discrete-time hazard model to cells or a person-week panel
  and return :class:`sofeval.models.results.HazardResults`;
* :func:`collapse_panel` -- events and trials per regressor pattern of a panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from sofeval.errors import ContractError, check_option
from sofeval.models.covariance import VCOV_METHODS
from sofeval.models.covariance import vcov as vcov_fn
from sofeval.models.design import build_design
from sofeval.models.families import FAMILIES, Family
from sofeval.models.glm import fit_glm_cells
from sofeval.models.results import HazardResults

__all__ = ["collapse_panel", "fit_hazard"]


def collapse_panel(data: pd.DataFrame, keys: Sequence[str], event: str) -> pd.DataFrame:
    """Collapse a person-week panel to cells: ``events`` and ``trials`` per key pattern.

    Parameters
    ----------
    data
        One row per person-week at risk.
    keys
        Columns defining a cell.
    event
        0/1 event column.

    Returns
    -------
    pandas.DataFrame
        The key columns plus ``events`` and ``trials``.
    """
    ev = pd.to_numeric(data[event], errors="coerce")
    if not ev.isin([0, 1]).all():
        bad = np.flatnonzero(~ev.isin([0, 1]).to_numpy())
        raise ContractError(
            f"panel: event column {event!r} must be 0/1 in a person-week panel; {bad.size} "
            f"rows are not (rows {bad[:10].tolist()}). Pass at_risk= for cell data.",
            table="panel",
            rule="event_binary",
        )
    tmp = data[list(keys)].copy()
    tmp["events"] = ev.to_numpy(dtype=np.float64)
    tmp["trials"] = 1.0
    return (
        tmp.groupby(list(keys), observed=True, sort=True, dropna=False)[["events", "trials"]]
        .sum()
        .reset_index()
    )


def fit_hazard(
    data: pd.DataFrame,
    *,
    event: str = "event",
    at_risk: str | None = "at_risk",
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    family: Family = "cloglog",
    cluster: str | None = None,
    vcov: Literal["model", "cluster"] | None = None,
    correction: Literal["stata", "hc1", "none"] = "stata",
    offset: str | None = None,
    intercept: bool = True,
    reference: Mapping[str, object] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> HazardResults:
    """Fit a discrete-time hazard model to spell data (cells or a person-week panel).

    Parameters
    ----------
    data
        Cells (one row per regressor pattern with event counts and ``at_risk``) or, when
        ``at_risk`` is None, a person-week panel (one row per week at risk with a 0/1
        ``event``), which is collapsed to cells by the regressor, offset and cluster columns.
    event
        Event count (cells) or 0/1 indicator (panel).
    at_risk
        Person-weeks at risk per cell; None for a person-week panel.
    categorical, numeric
        Regressors (see :func:`build_design`).
    family
        ``"cloglog"`` (default), ``"logit"`` or ``"poisson"`` (piecewise exponential).
    cluster
        Cluster column (cells must nest within clusters: keep it constant within a cell).
    vcov
        ``"cluster"`` (default when ``cluster`` is given) or ``"model"``.
    correction
        Small-sample correction of the cluster covariance (see
        :func:`sofeval.models.covariance.vcov`).
    offset
        Optional offset column.
    intercept, reference
        Passed to :func:`build_design`.
    tol, max_iter
        Passed to :func:`fit_glm_cells`.

    Returns
    -------
    sofeval.models.results.HazardResults
    """
    check_option("family", family, FAMILIES)
    method = vcov if vcov is not None else ("cluster" if cluster else "model")
    check_option("vcov", method, VCOV_METHODS)
    if method == "cluster" and cluster is None:
        raise ContractError(
            "fit_hazard: vcov='cluster' needs cluster=<column>.",
            table="data",
            rule="cluster_missing",
        )
    extra = [c for c in (offset, cluster) if c is not None]
    if at_risk is None:
        keys = list(dict.fromkeys([*categorical, *numeric, *extra]))
        cells = collapse_panel(data, keys, event)
        ev_col, tr_col = "events", "trials"
    else:
        for c in (event, at_risk):
            if c not in data.columns:
                raise ContractError(
                    f"fit_hazard: column {c!r} is not in the data.",
                    table="data",
                    rule="missing_column",
                )
        cells, ev_col, tr_col = data, event, at_risk
    dm = build_design(
        cells, categorical=categorical, numeric=numeric, intercept=intercept, reference=reference
    )
    events = cells[ev_col].to_numpy(dtype=np.float64)
    trials = cells[tr_col].to_numpy(dtype=np.float64)
    off = None if offset is None else cells[offset].to_numpy(dtype=np.float64)
    fit = fit_glm_cells(
        dm.X, events, trials, family, offset=off, tol=tol, max_iter=max_iter, names=dm.names
    )
    clusters = None
    n_clusters = 0
    if cluster is not None:
        clusters, uniq = pd.factorize(cells[cluster], sort=True)
        n_clusters = len(uniq)
    cov = vcov_fn(
        fit,
        dm.X,
        method=method,
        clusters=clusters,
        correction=correction,
        n_obs=int(round(trials.sum())),
    )
    return HazardResults(
        names=dm.names,
        fit=fit,
        cov=cov,
        vcov_name=method,
        correction=correction,
        family=family,
        n_obs=int(round(trials.sum())),
        n_events=int(round(events.sum())),
        n_cells=len(cells),
        n_clusters=n_clusters,
        X=dm.X,
        clusters=clusters,
    )
