"""Predictions of fitted cell models on new rows, and the cluster influence of their parameters.

G-computation (:mod:`sofeval.analyses.durations`, :mod:`sofeval.analyses.recurrence`) predicts
hazards for regressor patterns that need not occur in the cells (a programme spell *without*
the programme, a calendar month after its exit). This module holds what those predictions
share:

* :class:`FittedDesign` and :func:`design_rows` -- rows of a fitted design for a new frame,
  matched to the fit's columns by name (a sparse matrix; unknown levels are an error);
* :func:`separation_signs` and :func:`linear_predictor` -- the linear predictor with every
  separated parameter at its limit (``-inf`` for a category without events, so its hazard
  is exactly 0, the maximum-likelihood limit), aliased parameters at 0;
* :func:`hazard_slope` -- the hazard and its derivative with respect to the linear predictor;
* :func:`cluster_influence` -- the matrix :math:`Z = \\sqrt{c}\\, H^{-1} S'` whose outer product
  :math:`ZZ'` is the cluster-robust covariance of :func:`sofeval.models.vcov`. The delta-method
  variance of a smooth function :math:`f(\\beta)` is then :math:`\\sum_g (\\nabla f' Z)_g^2`, and
  stacking the :math:`Z` of several models fitted on the same clusters gives their joint
  (Stata ``suest``) covariance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from sofeval.errors import EstimationError, check_option
from sofeval.models import (
    CORRECTIONS,
    DesignMatrix,
    GLMFit,
    Matrix,
    SparseDesign,
    as_matrix,
    cluster_scores,
    operand,
)
from sofeval.panel import group_codes

__all__ = [
    "FittedDesign",
    "PredictionRows",
    "cluster_influence",
    "design_rows",
    "fitted_design",
    "hazard_slope",
    "linear_predictor",
    "month_of_days",
    "nearest_level",
    "prediction_rows",
    "reference_levels",
    "reference_levels_by",
    "scope_influence",
    "separation_signs",
]


@dataclass(frozen=True)
class FittedDesign:
    """What is needed to build rows of a fitted design for new data.

    Attributes
    ----------
    names
        Column names of the fitted design (``Intercept``, ``col[level]``, numeric columns).
    categorical
        Dummy-coded columns.
    numeric
        Columns used as they are.
    levels
        Every level of each categorical column seen in the fit, as strings (the reference
        level is the one without a column).
    """

    names: tuple[str, ...]
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    levels: Mapping[str, tuple[str, ...]]


def fitted_design(
    dm: DesignMatrix | SparseDesign, frame: pd.DataFrame, categorical: Sequence[str],
    numeric: Sequence[str],
) -> FittedDesign:
    """The :class:`FittedDesign` of a design matrix built from ``frame``.

    Parameters
    ----------
    dm
        The fitted design (from :func:`sofeval.analyses.design_matrix`).
    frame
        The frame it was built from.
    categorical, numeric
        The columns it used.

    Returns
    -------
    FittedDesign
    """
    levels = {c: tuple(sorted({str(v) for v in frame[c].unique()})) for c in categorical}
    return FittedDesign(tuple(dm.names), tuple(categorical), tuple(numeric), levels)


def design_rows(fd: FittedDesign, frame: pd.DataFrame) -> sparse.csr_matrix:
    """Rows of the fitted design for the rows of ``frame`` (CSR, columns ``fd.names``).

    Parameters
    ----------
    fd
        The fitted design.
    frame
        One row per prediction pattern with every column of ``fd.categorical`` and
        ``fd.numeric``.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(frame), len(fd.names))``.

    Raises
    ------
    EstimationError
        If a categorical value was not seen in the fit (its effect is not estimated).
    """
    n = len(frame)
    col_of = {name: j for j, name in enumerate(fd.names)}
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    all_rows = np.arange(n, dtype=np.int64)
    if "Intercept" in col_of:
        rows.append(all_rows)
        cols.append(np.full(n, col_of["Intercept"], dtype=np.int64))
        vals.append(np.ones(n))
    for c in fd.categorical:
        codes, uniq = pd.factorize(frame[c].astype(str), sort=True)
        unknown = sorted(set(map(str, uniq)) - set(fd.levels[c]))
        if unknown:
            raise EstimationError(
                f"prediction: {len(unknown)} value(s) of {c!r} were not in the fitted cells "
                f"({', '.join(unknown[:10])}); their effect is not estimated. Predict only for "
                "levels the model saw (e.g. a horizon within the weeks of the data)."
            )
        pos = np.array([col_of.get(f"{c}[{u}]", -1) for u in uniq], dtype=np.int64)
        col = pos[codes]
        has = col >= 0  # the reference level has no column
        rows.append(all_rows[has])
        cols.append(col[has])
        vals.append(np.ones(int(has.sum())))
    for c in fd.numeric:
        v = pd.to_numeric(frame[c]).to_numpy(dtype=np.float64)
        nz = v != 0
        rows.append(all_rows[nz])
        cols.append(np.full(int(nz.sum()), col_of[c], dtype=np.int64))
        vals.append(v[nz])
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, len(fd.names)),
    )


def separation_signs(
    fit: GLMFit, X: Matrix, events: np.ndarray, trials: np.ndarray
) -> np.ndarray:
    """Direction in which each separated parameter diverges.

    A parameter set aside as separated runs to ``+inf`` when every person-week in the support
    of its (indicator) column is an event, and to ``-inf`` otherwise: its category has no
    event left once the categories separated before it are set aside.

    Parameters
    ----------
    fit
        A fit from :func:`sofeval.models.fit_glm_cells`.
    X, events, trials
        Its design matrix, event counts and person-weeks.

    Returns
    -------
    numpy.ndarray
        ``-1`` or ``+1`` for the separated parameters, ``0`` for every other parameter.
    """
    out = np.zeros(len(fit.names), dtype=np.int8)
    sep = np.asarray([fit.names.index(s) for s in fit.separated], dtype=np.int64)
    if sep.size:
        xt = operand(as_matrix(X)).T
        both = np.column_stack([np.asarray(events, np.float64), np.asarray(trials, np.float64)])
        ev, tr = np.asarray(xt @ both)[sep].T
        out[sep] = np.where((tr > 0) & (ev >= tr), 1, -1)
    return out


def linear_predictor(
    params: np.ndarray, signs: np.ndarray, rows: sparse.csr_matrix
) -> np.ndarray:
    """``rows @ params`` with separated parameters at their limits.

    Parameters
    ----------
    params
        Coefficients (NaN for parameters set aside by the fit).
    signs
        :func:`separation_signs` of the fit.
    rows
        Design rows (CSR).

    Returns
    -------
    numpy.ndarray
        The linear predictor; ``-inf`` (``+inf``) on rows that load on a parameter diverging
        to ``-inf`` (``+inf``); aliased (collinear) parameters count as 0, as in R.
    """
    b = np.where(np.isfinite(params), params, 0.0)
    eta = np.asarray(rows @ b, dtype=np.float64)
    for sign, value in ((-1, -np.inf), (1, np.inf)):
        cols = signs == sign
        if cols.any():
            hit = np.asarray(rows[:, np.flatnonzero(cols)].getnnz(axis=1)) > 0
            eta[hit] = value
    return eta


def hazard_slope(eta: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Discrete hazard ``h = g^{-1}(eta)`` and its slope ``dh/deta``.

    Parameters
    ----------
    eta
        Linear predictor (``+-inf`` allowed: hazard 0 or 1 with slope 0).
    family
        ``cloglog`` (``h = 1 - exp(-exp(eta))``, slope ``exp(eta - exp(eta))``) or ``logit``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(h, dh/deta)``.
    """
    check_option("family", family, ("cloglog", "logit"))
    with np.errstate(over="ignore", invalid="ignore"):
        if family == "cloglog":
            e = np.exp(eta)
            h = -np.expm1(-e)
            slope = np.exp(eta - e)
        else:
            h = 1.0 / (1.0 + np.exp(-eta))
            slope = h * (1.0 - h)
    slope = np.where(np.isfinite(eta), slope, 0.0)
    return h, np.nan_to_num(slope, nan=0.0)


def cluster_influence(
    fit: GLMFit,
    X: Matrix,
    codes: np.ndarray,
    n_groups: int,
    correction: str = "stata",
    n_obs: float | None = None,
) -> np.ndarray:
    """Cluster influence ``Z = sqrt(c) H^{-1} S'`` of the identified parameters of a fit.

    ``S`` is the ``G x p`` matrix of cluster scores ``s_g = sum_{c in g} X[c] u[c]``,
    ``H^{-1}`` the inverse Fisher information and ``c`` the small-sample factor of
    :func:`sofeval.models.vcov` (``stata``: ``G/(G-1)``; ``hc1``: also ``(N-1)/(N-K)``;
    ``none``: 1), so that ``Z @ Z.T`` equals ``vcov(fit, X, method="cluster", ...)`` on the
    identified parameters.

    Parameters
    ----------
    fit
        A fit on cells.
    X
        Its design matrix.
    codes
        Cluster code ``0..G-1`` of every cell.
    n_groups
        Number of clusters ``G``.
    correction
        ``stata``, ``hc1`` or ``none``.
    n_obs
        Person-weeks ``N`` of the ``hc1`` factor (default ``fit.n_trials``).

    Returns
    -------
    numpy.ndarray
        ``(K, G)`` for the ``K`` parameters not set aside (``~fit.aliased``, in order).
    """
    check_option("correction", correction, CORRECTIONS)
    keep = ~np.asarray(fit.aliased)
    bread = np.asarray(fit.cov)[np.ix_(keep, keep)]
    # scores of every column through the design's cached sparse copy, then the kept ones
    # (cutting the columns out of a large dense design would copy it)
    s = cluster_scores(as_matrix(X), np.asarray(fit.score_factor), codes, n_groups)[:, keep]
    c = 1.0
    if correction in ("stata", "hc1"):
        c = n_groups / (n_groups - 1.0)
    if correction == "hc1":
        big_n = float(n_obs) if n_obs is not None else fit.n_trials
        c *= (big_n - 1.0) / (big_n - int(keep.sum()))
    return np.asarray(np.sqrt(c) * (bread @ s.T))


def month_of_days(days: np.ndarray) -> np.ndarray:
    """Integer month ``12 * year + month - 1`` of day numbers (days since 1970-01-01).

    The numbering of :func:`sofeval.data.month_index` and of the panel's ``month`` column.
    """
    d = np.asarray(days, dtype=np.int64)
    if d.size == 0:
        return d.copy()
    lo = int(d.min())
    span = np.arange(lo, int(d.max()) + 1, dtype=np.int64).astype("datetime64[D]")
    table = span.astype("datetime64[M]").astype(np.int64) + 1970 * 12  # one entry per day
    return np.asarray(table[d - lo])


def nearest_level(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each integer value replaced by the nearest known level (ties: the earlier level).

    A calendar month after the last month of the data keeps the last month's effect, one
    before the first keeps the first month's.

    Parameters
    ----------
    values
        Integer values (e.g. months).
    known
        The levels with an estimated effect (any order, no duplicates needed).

    Returns
    -------
    numpy.ndarray
        ``values`` with every unknown value moved to its nearest known level.
    """
    lv = np.unique(np.asarray(known, dtype=np.int64))
    if lv.size == 0:
        raise EstimationError("prediction: no known levels to map values onto.")
    v = np.asarray(values, dtype=np.int64)
    hi = np.clip(np.searchsorted(lv, v), 0, lv.size - 1)
    lo = np.clip(hi - 1, 0, lv.size - 1)
    take_lo = np.abs(v - lv[lo]) <= np.abs(lv[hi] - v)
    return np.where(take_lo, lv[lo], lv[hi])


def reference_levels(
    frame: pd.DataFrame, categorical: Sequence[str], trials: np.ndarray, events: np.ndarray
) -> dict[str, object]:
    """Reference level of each categorical: its largest level (person-weeks) with an event.

    The largest level as the base keeps every contrast well determined (see
    :func:`sofeval.analyses.design_matrix`); requiring an event keeps the intercept finite for
    a rare outcome whose largest category has none (it would run to ``-inf`` and every other
    level to ``+inf``). When every level has an event this is the largest level.

    Parameters
    ----------
    frame
        Regressor frame, one row per cell.
    categorical
        Its categorical columns.
    trials, events
        Person-weeks and events per cell.

    Returns
    -------
    dict
        Column -> reference level.
    """
    return reference_levels_by(frame, categorical, trials, {"": events})[""]


def reference_levels_by(
    frame: pd.DataFrame,
    categorical: Sequence[str],
    trials: np.ndarray,
    events: Mapping[str, np.ndarray],
) -> dict[str, dict[str, object]]:
    """:func:`reference_levels` of several outcomes on the same cells (each column coded once).

    Parameters
    ----------
    frame
        Regressor frame, one row per cell.
    categorical
        Its categorical columns.
    trials
        Person-weeks per cell.
    events
        Outcome -> events per cell.

    Returns
    -------
    dict
        Outcome -> (column -> reference level).
    """
    out: dict[str, dict[str, object]] = {name: {} for name in events}
    t = np.asarray(trials, float)
    for c in categorical:
        codes, levels = pd.factorize(frame[c].to_numpy(), sort=True)
        seen = codes >= 0
        codes = codes[seen]
        n = len(levels)
        t_sum = np.bincount(codes, weights=t[seen], minlength=n)
        for name, e in events.items():
            e_sum = np.bincount(codes, weights=np.asarray(e, float)[seen], minlength=n)
            cand = np.where(e_sum > 0, t_sum, -np.inf) if (e_sum > 0).any() else t_sum
            out[name][c] = levels[int(np.argmax(cand))]
    return out


@dataclass(frozen=True)
class PredictionRows:
    """Distinct prediction rows of a set of patterns followed week by week.

    Attributes
    ----------
    rows
        ``(n_patterns, horizon)``: row index of week ``t`` (column ``t - 1``), ``-1`` before
        the pattern's first week.
    keys
        Per row, the pattern key columns (codes, in the order given).
    week
        Per row, the week ``t``.
    month
        Per row, the calendar month of the week's first day, moved to the nearest month with
        an estimated effect.
    """

    rows: np.ndarray
    keys: list[np.ndarray]
    week: np.ndarray
    month: np.ndarray


def prediction_rows(
    keys: Sequence[np.ndarray],
    day1: np.ndarray,
    first_week: np.ndarray,
    horizon: int,
    months: np.ndarray,
) -> PredictionRows:
    """Prediction rows of patterns followed from ``first_week`` to ``horizon``.

    Week ``t`` of a pattern starts on day ``day1 + 7 (t - 1)``; its calendar month is that
    day's month (moved to the nearest of ``months``). Patterns that share the key columns,
    the week and the month share a row, so hazards are predicted once per row.

    Parameters
    ----------
    keys
        Integer key columns per pattern (e.g. jobcentre and covariate codes).
    day1
        Day number (days since 1970-01-01) of the first day of week 1 of each pattern.
    first_week
        First week at risk of each pattern (1 or later).
    horizon
        Last week.
    months
        Calendar months with an estimated effect.

    Returns
    -------
    PredictionRows
    """
    tau = np.arange(1, horizon + 1)
    active = tau[None, :] >= np.asarray(first_week)[:, None]
    month = month_of_days(np.asarray(day1, dtype=np.int64)[:, None] + 7 * (tau[None, :] - 1))
    month = nearest_level(month[active], months)
    pat = np.broadcast_to(np.arange(active.shape[0])[:, None], active.shape)[active]
    week = np.broadcast_to(tau[None, :], active.shape)[active]
    row_of, uniq = group_codes([*(np.asarray(k, dtype=np.int64)[pat] for k in keys), week, month])
    rows = np.full(active.shape, -1, dtype=np.int64)
    rows[active] = row_of
    return PredictionRows(rows=rows, keys=list(uniq[: len(keys)]), week=uniq[len(keys)],
                          month=uniq[len(keys) + 1])


def scope_influence(
    x: sparse.csr_matrix,
    dsum: np.ndarray,
    scope: np.ndarray,
    n_scopes: int,
    z: np.ndarray,
) -> np.ndarray:
    """Cluster influence of scope sums that depend on one model through its row predictors.

    With ``dsum[U, q]`` the derivative of quantity ``q``'s scope sum with respect to the
    linear predictor of row ``U`` (hazard slope times the derivative with respect to the
    hazard), the gradient of the scope-``j`` sum with respect to the model's parameters is
    ``X_U' dsum`` over the rows of scope ``j`` and its cluster influence that gradient times
    ``Z`` (:func:`cluster_influence`).

    Parameters
    ----------
    x
        ``(n_rows, K)`` design rows of the model's identified parameters.
    dsum
        ``(n_rows, n_q)``.
    scope
        ``(n_rows,)`` scope of each row (``-1``: read by no pattern).
    n_scopes
        Number of scopes.
    z
        ``(K, G)`` cluster influence of the parameters.

    Returns
    -------
    numpy.ndarray
        ``(n_scopes, n_q, G)``.
    """
    out = np.zeros((n_scopes, dsum.shape[1], z.shape[1]))
    order = np.argsort(scope, kind="stable")
    bounds = np.searchsorted(scope[order], np.arange(n_scopes + 1))
    for j in range(n_scopes):
        r = order[bounds[j] : bounds[j + 1]]
        xj = x[r]
        touched = np.unique(xj.indices)
        if touched.size:
            grad = np.asarray(xj[:, touched].T @ dsum[r])  # (touched, n_q)
            out[j] = grad.T @ z[touched]
    return out
