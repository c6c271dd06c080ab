"""Per-jobcentre programme effects in one model, with placebo-in-space p-values.

Per-jobcentre effects put :math:`\\theta_{EA,j}` and :math:`\\theta_{P,j}` for every programme
jobcentre in one model of the default SOF specification
(:mod:`sofeval.analyses.specification`). Their standard errors are model-based (inverse
Fisher information): a cluster-robust covariance is degenerate for a parameter identified
by a single cluster (its cluster score is zero at the estimate). The placebo-in-space
p-value compares the Wald statistic of jobcentre j with the statistics of the same effect
estimated for every non-programme jobcentre (placebo window = the most common programme
window), each by one Newton step from the fitted per-jobcentre model (a Rao score
estimate, exact to first order; checked against full refits in the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sofeval.analyses.specification import (
    EFFECT_ROW_COLUMNS,
    ESTIMANDS,
    INTEREST,
    SOF_FAMILIES,
    SOFCells,
    as_cells,
    base_categorical,
    design_matrix,
    effect_rows,
    fit_cells,
    model_arrays,
    phase_counts,
    score_parts,
)
from sofeval.data import StudyData
from sofeval.errors import check_option
from sofeval.models import (
    Family,
    GLMFit,
    Matrix,
    ResultsBase,
    adjust_pvalues,
    group_sum,
    permutation_pvalue,
    vcov,
)
from sofeval.panel import StudyDesign
from sofeval.report import Lang, forest

__all__ = [
    "JOBCENTRE_COLUMNS",
    "MAX_SE",
    "PLACEBO_COLUMNS",
    "JobcentreEffectsResult",
    "jobcentre_effects",
]

#: A per-jobcentre log hazard ratio with a larger standard error is reported as not
#: identified (near-perfect prediction: a handful of events or non-events).
MAX_SE = 10.0

JOBCENTRE_COLUMNS: tuple[str, ...] = (
    "jobcentre",
    "estimand",
    "coef",
    "se",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "q_bh",
    "p_placebo",
    "n_spells",
    "n_events",
    "flag",
)
#: Columns of :attr:`JobcentreEffectsResult.placebo`.
PLACEBO_COLUMNS: tuple[str, ...] = ("jobcentre", "estimand", "coef", "se", "t")

#: (estimand, regressor, phase: 0 before the phase cut, 1 from it on).
_PHASES: tuple[tuple[str, str, int], ...] = tuple(
    (est, col, phase) for phase, (est, col) in enumerate(zip(ESTIMANDS, INTEREST, strict=True))
)


@dataclass(frozen=True)
class JobcentreEffectsResult(ResultsBase):
    """Per-jobcentre effects in one model (immutable).

    Attributes
    ----------
    table
        One row per programme jobcentre and estimand, columns :data:`JOBCENTRE_COLUMNS`.
    placebo
        The placebo-in-space statistics: jobcentre, estimand, coef, se, t.
    fit
        The numerical fit on cells.
    """

    table: pd.DataFrame
    placebo: pd.DataFrame
    fit: GLMFit = field(repr=False)

    title = (
        "Per-jobcentre programme effects (model-based SEs; p_holm/q_bh adjusted within "
        "estimand; p_placebo against non-programme jobcentres)"
    )

    def to_frame(self) -> pd.DataFrame:
        """The per-jobcentre table (a copy)."""
        return self.table.copy()

    def plot(
        self, ax: Axes | Sequence[Axes] | None = None, lang: Lang = "en", **kwargs: Any
    ) -> Figure:
        """Forest plot of hazard ratios per jobcentre and estimand.

        Parameters
        ----------
        ax
            One axes per estimand (default: a new figure).
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.forest` (e.g. ``alpha``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        return forest(self.table, ax=ax, lang=lang, **kwargs)


# --------------------------------------------------------------------------------------
# Steps of jobcentre_effects
# --------------------------------------------------------------------------------------


def _identification_flags(
    mf: pd.DataFrame, events: np.ndarray, trials: np.ndarray, programme_jcs: Sequence[str]
) -> dict[tuple[str, str], str]:
    """Flag (jobcentre, estimand) pairs that the data cannot identify."""
    treated = mf["D"].to_numpy() == 1
    frame = pd.DataFrame(
        {
            "jobcentre": mf["jobcentre"].to_numpy()[treated],
            "late": mf["late"].to_numpy()[treated],
            "events": events[treated],
            "trials": trials[treated],
        }
    )
    sums = frame.groupby(["jobcentre", "late"]).sum()
    ev_map = sums["events"].to_dict()
    tr_map = sums["trials"].to_dict()
    flags: dict[tuple[str, str], str] = {}
    for jc in programme_jcs:
        for est, _, late in _PHASES:
            key = (jc, late)
            ev = float(ev_map.get(key, 0.0))
            tr = float(tr_map.get(key, 0.0))
            if tr == 0:
                flags[(jc, est)] = "not identified: no treated person-weeks"
            elif ev == 0:
                flags[(jc, est)] = "not identified: no events"
            elif ev == tr:
                flags[(jc, est)] = "not identified: every person-week an event"
    return flags


def _add_jobcentre_terms(
    mf: pd.DataFrame, programme_jcs: Sequence[str], flags: dict[tuple[str, str], str]
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Add ``D_early[j]``/``D_late[j]`` columns to ``mf`` for every identifiable pair.

    Returns the new column names and, for each, its (jobcentre, estimand).
    """
    jc = mf["jobcentre"].to_numpy()
    numeric: list[str] = []
    term_of: dict[str, tuple[str, str]] = {}
    for j in programme_jcs:
        for est, col, _ in _PHASES:
            if (j, est) in flags:
                continue
            name = f"{col}[{j}]"
            mf[name] = mf[col].to_numpy() * (jc == j)
            numeric.append(name)
            term_of[name] = (j, est)
    return numeric, term_of


def _jobcentre_records(
    programme_jcs: Sequence[str],
    fit: GLMFit,
    names: list[str],
    se: np.ndarray,
    term_of: dict[str, tuple[str, str]],
    flags: dict[tuple[str, str], str],
) -> pd.DataFrame:
    """One row per (jobcentre, estimand): coef and se, or NaN with the reason in ``flag``."""
    params = np.asarray(fit.params)
    records = []
    for j in programme_jcs:
        for est, col, _ in _PHASES:
            name = f"{col}[{j}]"
            k = names.index(name) if name in names else -1
            if name in term_of and k >= 0 and np.isfinite(params[k]) and se[k] > MAX_SE:
                records.append((j, est, np.nan, np.nan,
                                "not identified: near-perfect prediction"))
            elif name in term_of and k >= 0 and np.isfinite(params[k]):
                records.append((j, est, params[k], se[k], ""))
            elif name in term_of:
                records.append((j, est, np.nan, np.nan, "not identified: perfect prediction"))
            else:
                records.append((j, est, np.nan, np.nan, flags.get((j, est), "not identified")))
    return pd.DataFrame(records, columns=["jobcentre", "estimand", "coef", "se", "flag"])


def _wald_with_adjustments(rec: pd.DataFrame) -> pd.DataFrame:
    """Wald rows of the records, NaN where flagged, Holm and BH adjusted within estimand."""
    eff = effect_rows(rec["coef"].to_numpy(float), rec["se"].to_numpy(float))
    table = pd.concat([rec[["jobcentre", "estimand"]], eff, rec[["flag"]]], axis=1)
    table.loc[table["flag"] != "", list(EFFECT_ROW_COLUMNS)] = np.nan
    table["p_holm"] = np.nan
    table["q_bh"] = np.nan
    for est in ESTIMANDS:
        m = (table["estimand"] == est) & table["p_value"].notna()
        if m.any():
            table.loc[m, "p_holm"] = adjust_pvalues(table.loc[m, "p_value"].to_numpy(), "holm")
            table.loc[m, "q_bh"] = adjust_pvalues(table.loc[m, "p_value"].to_numpy(), "bh")
    return table


def _placebo_pvalues(table: pd.DataFrame, placebo: pd.DataFrame) -> np.ndarray:
    """Permutation p-value of each row's Wald statistic among the placebo statistics."""
    t_of = {
        est: ts[np.isfinite(ts)]
        for est, ts in (
            (e, placebo.loc[placebo["estimand"] == e, "t"].to_numpy(dtype=float)) for e in ESTIMANDS
        )
    }
    out = np.full(len(table), np.nan)
    rows = zip(table["estimand"], table["coef"], table["se"], strict=True)
    for pos, (est, coef, se) in enumerate(rows):
        ts = t_of.get(est, np.empty(0))
        if np.isfinite(coef) and ts.size:
            out[pos] = permutation_pvalue(coef / se, ts)
    return out


def _placebo_statistics(
    sc: SOFCells, mf: pd.DataFrame, x_full: Matrix, fit: GLMFit, trials: np.ndarray
) -> pd.DataFrame:
    """One-step placebo estimates for every non-programme jobcentre and estimand.

    For jobcentre k and phase, Z marks k's cells whose reference date lies in the most
    common programme window; the Rao score estimate is
    ``theta = Z'u / (Z'WZ - Z'WX H^{-1} X'WZ)`` with standard error the inverse square root of
    the denominator (model-based), computed for all k at once from group sums.
    """
    parts = score_parts(fit, x_full, trials)
    win_counts = sc.jc_window[sc.jc_window >= 0].value_counts()
    if win_counts.empty:
        return pd.DataFrame(columns=list(PLACEBO_COLUMNS))
    modal = int(win_counts.index[0])
    exposure = sc.cells.frame["exposure"].to_numpy().astype(np.int64)
    placebo_cells = (sc.jc_window.to_numpy() < 0) & (((exposure >> modal) & 1) == 1)
    frames = []
    late = mf["late"].to_numpy()
    for est, _, phase in _PHASES:
        m = placebo_cells & (late == phase)
        codes, names = pd.factorize(mf["jobcentre"].to_numpy()[m], sort=True)
        n_k = len(names)
        if n_k == 0:
            continue
        rows = np.flatnonzero(m)
        score = group_sum(parts.u, codes, n_k, rows=rows)
        zz = group_sum(parts.w, codes, n_k, rows=rows)
        b = np.asarray(group_sum(parts.xs, codes, n_k, weights=parts.w[m], rows=rows))
        info = zz - np.einsum("kp,pq,kq->k", b, parts.h_inv, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            coef = score / info
            se = 1 / np.sqrt(info)
        frames.append(
            pd.DataFrame(
                {"jobcentre": names, "estimand": est, "coef": coef, "se": se, "t": coef / se}
            )
        )
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------
# Per-jobcentre effects
# --------------------------------------------------------------------------------------


def jobcentre_effects(
    study: StudyData | SOFCells,
    design: StudyDesign | None = None,
    *,
    covariates: Sequence[str] = (),
    family: Family = "cloglog",
    placebo: bool = True,
    progress: bool | None = None,
) -> JobcentreEffectsResult:
    """Estimate θ_EA,j and θ_P,j for every programme jobcentre in one model.

    Parameters
    ----------
    study
        Validated study tables, or cells prepared by :func:`sof_cells`.
    design
        Panel rules (ignored when ``study`` is :class:`SOFCells`).
    covariates
        Categorical covariates.
    family
        ``cloglog`` (default) or ``logit``.
    placebo
        Compute placebo-in-space p-values.
    progress
        Progress bars (default: only in an interactive terminal).

    Returns
    -------
    JobcentreEffectsResult
        Pairs the data cannot identify (no treated person-weeks or no events in a phase)
        are kept in the table with ``flag`` set and NaN estimates, not fitted.
    """
    check_option("family", family, SOF_FAMILIES)
    sc = as_cells(study, design, covariates, progress)
    mf, events, trials = model_arrays(sc, covariates)
    programme_jcs = sorted(
        set(mf["jobcentre"][sc.jc_window.to_numpy() >= 0].unique()) | set(sc.programme)
    )
    flags = _identification_flags(mf, events, trials, programme_jcs)
    numeric, term_of = _add_jobcentre_terms(mf, programme_jcs, flags)
    dm = design_matrix(mf, base_categorical(covariates), numeric, trials, csr=True)
    fit = fit_cells(dm, events, trials, family, ())
    se = np.sqrt(np.diag(vcov(fit, dm.X, method="model")))
    rec = _jobcentre_records(programme_jcs, fit, list(dm.names), se, term_of, flags)
    table = _wald_with_adjustments(rec)
    placebo_frame = pd.DataFrame(columns=list(PLACEBO_COLUMNS))
    table["p_placebo"] = np.nan
    if placebo:
        placebo_frame = _placebo_statistics(sc, mf, dm.X, fit, trials)
        table["p_placebo"] = _placebo_pvalues(table, placebo_frame)
    counts = phase_counts(sc, by_jobcentre=True)
    table = table.merge(counts, on=["jobcentre", "estimand"], how="left")
    table[["n_spells", "n_events"]] = table[["n_spells", "n_events"]].fillna(0).astype(int)
    return JobcentreEffectsResult(table[list(JOBCENTRE_COLUMNS)], placebo_frame, fit)
