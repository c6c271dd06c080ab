"""The default SOF specification (DESIGN.md §4) in one place, used by every SOF analysis.

The model is the discrete-time cause-specific hazard of exit to employment,

.. math::

    g\\{P(y_{it}=1)\\} = \\alpha_{b(t)} + \\gamma_j + \\delta_{month} + x_i'\\beta
        + \\theta_{EA} D_i 1[t<8] + \\theta_P D_i 1[t\\ge 8],

with :math:`g` the complementary log-log link (default) or the logit link, fitted on
collapsed cells (:mod:`sofeval.panel.cells`). This module holds what the pooled effects,
the per-jobcentre effects, randomisation inference, the dose-response model, the frailty
wrapper and the newer analyses share:

* the cells of the model (:class:`SOFCells`, :func:`sof_cells`, :func:`coarsen_cells`,
  :func:`as_cells`);
* the regressors (:func:`model_frame`, :func:`model_arrays`, :func:`base_categorical`),
  the design with the largest category as base (:func:`design_matrix`) and the fit
  (:func:`fit_cells`);
* the estimands (:data:`ESTIMANDS`, :data:`INTEREST`), their Wald rows
  (:func:`effect_rows`) and the treated spells and events per phase (:func:`phase_counts`);
* the efficient-score pieces of a fit (:class:`ScoreParts`, :func:`score_parts`) that the
  randomisation test and the placebo-in-space statistics project on.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, overload

import numpy as np
import pandas as pd
from scipy import sparse

from sofeval.data import StudyData
from sofeval.errors import NotIdentifiedWarning
from sofeval.models import (
    DesignMatrix,
    GLMFit,
    Matrix,
    SparseDesign,
    build_design,
    build_sparse_design,
    fisher_weights,
    fit_glm_cells,
    gram,
    sparse_view,
    subset_matrix,
    wald_table,
)
from sofeval.panel import (
    CHUNK_SIZE,
    Cells,
    StudyDesign,
    cells_for_key_sets,
    coarsen,
    week_block,
)

__all__ = [
    "EFFECT_ROW_COLUMNS",
    "ESTIMANDS",
    "INTEREST",
    "SOF_FAMILIES",
    "SOF_KEYS",
    "CellSpec",
    "SOFCells",
    "ScoreParts",
    "as_cells",
    "base_categorical",
    "coarsen_cells",
    "design_matrix",
    "effect_rows",
    "fit_cells",
    "model_arrays",
    "model_frame",
    "phase_counts",
    "score_parts",
    "sof_cells",
    "sof_cells_many",
]

#: The two estimands of the SOF model: before week 8 and from week 8 on.
ESTIMANDS: tuple[str, ...] = ("ex_ante", "programme")
#: Regressors of the estimands (model-frame columns), in the order of :data:`ESTIMANDS`.
INTEREST: tuple[str, str] = ("D_early", "D_late")
#: Keys of the cells of the SOF model before covariates and extra keys.
SOF_KEYS: tuple[str, ...] = ("jobcentre", "week", "month", "exposure", "D")
#: Links of the SOF hazard models.
SOF_FAMILIES: tuple[str, ...] = ("cloglog", "logit")
#: Columns of :func:`effect_rows`.
EFFECT_ROW_COLUMNS: tuple[str, ...] = (
    "coef",
    "se",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
)


# --------------------------------------------------------------------------------------
# Cells of the model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SOFCells:
    """Cells of the default SOF model together with what the effects need beside them.

    Attributes
    ----------
    cells
        Collapsed cells keyed by jobcentre, week, month, exposure, D and covariates.
    spells
        The per-spell frame of :func:`sofeval.panel.build.spell_frame` (used spells only).
    design
        The panel rules used.
    windows
        Distinct programme windows (``start``, ``end``) numbered 0..K-1.
    jc_window
        Window index of every jobcentre of the cells (-1 for non-programme jobcentres).
    audit
        Panel audit summary (item, value).
    programme
        Every jobcentre with a programme window (also those without spells).
    """

    cells: Cells
    spells: pd.DataFrame
    design: StudyDesign
    windows: pd.DataFrame
    jc_window: pd.Series
    audit: pd.DataFrame
    programme: tuple[str, ...] = ()


def sof_cells(
    study: StudyData,
    design: StudyDesign | None = None,
    covariates: Sequence[str] = (),
    *,
    extra_keys: Sequence[str] = (),
    progress: bool | None = None,
    parallel: bool = True,
) -> SOFCells:
    """Collapse a study to the cells of the default SOF model.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules; default :class:`~sofeval.panel.build.StudyDesign`.
    covariates
        Covariates to key the cells by (binned when continuous).
    extra_keys
        Further panel columns to key by (for example ``link_month`` for dose-response).
    progress
        Show a progress bar over chunks (default: only in an interactive terminal).
    parallel
        Collapse half of the spells in a forked process (see
        :func:`~sofeval.panel.cells.cells_from_spells`); the cells are identical either way.

    Returns
    -------
    SOFCells
    """
    spec = CellSpec(tuple(covariates), tuple(extra_keys))
    return sof_cells_many(study, design, [spec], progress=progress, parallel=parallel)[0]


@dataclass(frozen=True)
class CellSpec:
    """Keys of one model's cells: the SOF keys, minus ``without``, plus the others.

    Attributes
    ----------
    covariates
        Covariates to key the cells by (as :func:`sof_cells` takes them).
    extra_keys
        Further panel columns (as ``extra_keys`` of :func:`sof_cells`).
    without
        SOF keys left out (for example ``("exposure",)``: the cells of
        ``coarsen_cells(sof_cells(...), ["exposure"])``).
    """

    covariates: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()
    without: tuple[str, ...] = ()

    def keys(self) -> tuple[str, ...]:
        """The cell keys, in order."""
        base = tuple(k for k in SOF_KEYS if k not in self.without)
        return (*base, *self.extra_keys, *self.covariates)


def sof_cells_many(
    study: StudyData,
    design: StudyDesign | None,
    specs: Sequence[CellSpec],
    *,
    progress: bool | None = None,
    parallel: bool = True,
) -> tuple[SOFCells, ...]:
    """The cells of several SOF models from one pass over the spells.

    ``sof_cells_many(study, design, [CellSpec(covs, extra), ...])[i]`` equals
    ``sof_cells(study, design, covs, extra_keys=extra)`` for each specification (and with
    ``without``, those cells coarsened over the keys left out); the
    person-week rows are generated once (:func:`~sofeval.panel.cells_for_key_sets`), so,
    for example, the cells of every subgroup variable cost little more than one collapse.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules; default :class:`~sofeval.panel.build.StudyDesign`.
    specs
        The keys of each model's cells.
    progress, parallel
        As :func:`sof_cells`.

    Returns
    -------
    tuple of SOFCells
        One per specification, in order; they share one spell frame.
    """
    design = design or StudyDesign()
    key_sets = [spec.keys() for spec in specs]
    covariates = list(dict.fromkeys(c for spec in specs for c in spec.covariates))
    cells, prep, sf = cells_for_key_sets(
        study, design, key_sets, covariates or None, CHUNK_SIZE, progress, parallel
    )
    windows, jc_map = design.windows(study)
    programme = tuple(sorted(str(j) for j in jc_map))
    return tuple(
        SOFCells(c, sf, design, windows, _jc_window(c, jc_map), prep.audit.summary, programme)
        for c in cells
    )


def _jc_window(cells: Cells, jc_map: Mapping[str, int]) -> pd.Series:
    """Programme-window index of every cell's jobcentre (-1: comparison jobcentre)."""
    jcs = cells.frame["jobcentre"]
    if isinstance(jcs.dtype, pd.CategoricalDtype):  # one lookup per jobcentre, not per cell
        of_code = np.array([jc_map.get(str(j), -1) for j in jcs.cat.categories] + [-1])
        return pd.Series(of_code[jcs.cat.codes.to_numpy()].astype(int), index=cells.frame.index)
    jcs = jcs.astype(str)
    return pd.Series(jcs.map(jc_map).fillna(-1).astype(int).to_numpy(), index=cells.frame.index)


def coarsen_cells(sc: SOFCells, drop: Sequence[str]) -> SOFCells:
    """The same SOF cells summed over the keys in ``drop`` (e.g. ``link_month``).

    One pass over the spells keyed by ``link_month`` serves the dose-response model, and
    its coarsened cells are exactly those of :func:`sof_cells` without the extra key.
    """
    cells = coarsen(sc.cells, drop)
    per_jc = (
        pd.Series(sc.jc_window.to_numpy(), index=sc.cells.frame["jobcentre"].astype(str))
        .groupby(level=0)
        .first()
    )
    jc_map = {str(k): int(v) for k, v in per_jc.items() if v >= 0}
    return replace(sc, cells=cells, jc_window=_jc_window(cells, jc_map))


def as_cells(
    study: StudyData | SOFCells,
    design: StudyDesign | None,
    covariates: Sequence[str],
    progress: bool | None,
) -> SOFCells:
    """The cells themselves, or :func:`sof_cells` of a study.

    Parameters
    ----------
    study
        Validated study tables or cells of :func:`sof_cells`.
    design
        Panel rules (ignored for cells).
    covariates
        Covariates to key new cells by.
    progress
        Progress bar of a new collapse.

    Returns
    -------
    SOFCells
    """
    if isinstance(study, SOFCells):
        return study
    return sof_cells(study, design, covariates, progress=progress)


# --------------------------------------------------------------------------------------
# Regressors, design and fit
# --------------------------------------------------------------------------------------


def _strings(values: pd.Series) -> np.ndarray:
    """``values.astype(str)`` as an object array.

    A categorical of string labels converts its categories only, once each, and takes
    them by code (a missing value reads ``"nan"``, as ``astype(str)`` gives it).
    """
    if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.dtype == object:
        labels = values.cat.categories.astype(str).to_numpy(dtype=object)
        return np.append(labels, str(np.nan))[values.cat.codes.to_numpy()]  # code -1: last
    return values.astype(str).to_numpy()


def model_frame(sc: SOFCells, covariates: Sequence[str]) -> pd.DataFrame:
    """The regressor frame of the SOF model, one row per cell.

    Columns ``week_block``, ``jobcentre``, ``month``, ``late``, ``D``, ``D_early``,
    ``D_late`` and the covariates (as strings, for dummy coding by the design builder).
    """
    f = sc.cells.frame
    cut = sc.design.phase_cut
    week = f["week"].to_numpy()
    out = pd.DataFrame(
        {
            "week_block": week_block(week),
            "jobcentre": _strings(f["jobcentre"]),
            "month": f["month"].to_numpy(),
            "late": (week >= cut).astype(np.int8),
            "D": f["D"].to_numpy().astype(np.int8),
        }
    )
    for c in covariates:
        out[c] = _strings(f[c])
    out["D_early"] = (out["D"] * (1 - out["late"])).astype(float)
    out["D_late"] = (out["D"] * out["late"]).astype(float)
    return out


def model_arrays(
    sc: SOFCells, covariates: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Model frame, event counts and person-weeks at risk of the cells (float arrays).

    Parameters
    ----------
    sc
        Cells of the model.
    covariates
        Covariates of the model frame.

    Returns
    -------
    tuple
        ``(model_frame(sc, covariates), events, trials)``.
    """
    cells = sc.cells.frame
    return (
        model_frame(sc, covariates),
        cells["event"].to_numpy(float),
        cells["at_risk"].to_numpy(float),
    )


def base_categorical(covariates: Sequence[str]) -> list[str]:
    """Categorical regressors of the default model: week blocks, jobcentre, month, covariates."""
    return ["week_block", "jobcentre", "month", *covariates]


@overload
def design_matrix(
    mf: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str], trials: np.ndarray,
    *, csr: Literal[False] = ...,
) -> DesignMatrix: ...


@overload
def design_matrix(
    mf: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str], trials: np.ndarray,
    *, csr: Literal[True],
) -> SparseDesign: ...


def design_matrix(
    mf: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str], trials: np.ndarray,
    *, csr: bool = False,
) -> DesignMatrix | SparseDesign:
    """Design matrix whose reference level of each categorical is its largest (by trials).

    The largest category as the base (Stata's ``fvset base most``) keeps every contrast
    well determined; the first sorted level may be a tiny month or week whose estimate
    runs off towards plus or minus infinity and drags every other level with it.

    ``csr=True`` builds the same columns as a CSR matrix (:class:`sofeval.models.SparseDesign`):
    the large models of the analyses (a few hundred thousand cells, a few hundred dummy
    columns, about ten non-zeros per row) are fitted, scored and bootstrapped on it
    without a dense copy; the numbers equal those of the dense design.
    """
    # the builder sums the trials per level on the codes it factorises anyway
    weights = np.asarray(trials, dtype=np.float64)
    if csr:
        return build_sparse_design(
            mf, categorical=categorical, numeric=numeric, base="largest", weights=weights
        )
    return build_design(mf, categorical=categorical, numeric=numeric, base="largest",
                        weights=weights)


def fit_cells(
    dm: DesignMatrix | SparseDesign,
    events: np.ndarray,
    trials: np.ndarray,
    family: str,
    interest: Sequence[str],
    offset: np.ndarray | None = None,
) -> GLMFit:
    """Fit on cells, warning only when a parameter of interest is not identified.

    Fixed effects of categories without events (a small jobcentre, an early spell week, a
    calendar month) diverge to minus infinity; their cells carry no information on the
    other parameters and the fit leaves them out, which gives the exact limiting estimates.
    That is routine for nuisance parameters and is not warned about; a parameter named in
    ``interest`` that is not identified raises :class:`NotIdentifiedWarning`.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_glm_cells(
            dm.X, events, trials, family, names=dm.names, offset=offset  # type: ignore[arg-type]
        )
    for w in caught:
        if not issubclass(w.category, NotIdentifiedWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    bad = [n for n, a in zip(dm.names, np.asarray(fit.aliased), strict=True)
           if a and n in interest]
    if bad:
        warnings.warn(f"not identified (reported as NaN): {bad}", NotIdentifiedWarning,
                      stacklevel=2)
    return fit


# --------------------------------------------------------------------------------------
# Estimands: Wald rows and counts
# --------------------------------------------------------------------------------------


def effect_rows(coef: np.ndarray, se: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Wald rows on the hazard-ratio scale: :data:`EFFECT_ROW_COLUMNS`.

    Parameters
    ----------
    coef, se
        Log hazard ratios and their standard errors.
    level
        Confidence level of ``ci_low``/``ci_high`` (hazard-ratio scale).

    Returns
    -------
    pandas.DataFrame
        ``coef, se, hazard_ratio, ci_low, ci_high, p_value`` (see
        :func:`sofeval.models.wald_table`).
    """
    tab = wald_table(coef, se, level, ci_scale="hazard_ratio")
    return tab[list(EFFECT_ROW_COLUMNS)]


def phase_counts(sc: SOFCells, by_jobcentre: bool) -> pd.DataFrame:
    """Treated spells at risk and their events per estimand (and jobcentre).

    Parameters
    ----------
    sc
        Cells of the model (with their spell frame).
    by_jobcentre
        One row per jobcentre and estimand instead of one per estimand.

    Returns
    -------
    pandas.DataFrame
        ``[jobcentre,] n_spells, n_events, estimand``.
    """
    sf = sc.spells
    cut = sc.design.phase_cut
    treated = sf[sf["D"].astype(int) == 1]
    early = treated[treated["entry_week"] < cut]
    late = treated[treated["last_week"] >= cut]
    f = sc.cells.frame
    tr = f[f["D"].astype(int) == 1]
    ev_early = tr[tr["week"] < cut]
    ev_late = tr[tr["week"] >= cut]
    rows = []
    for est, s, e in ((ESTIMANDS[0], early, ev_early), (ESTIMANDS[1], late, ev_late)):
        if by_jobcentre:
            ns = s.groupby(s["jobcentre"].astype(str)).size()
            ne = e.groupby(e["jobcentre"].astype(str), observed=True)["event"].sum()
            frame = pd.DataFrame({"n_spells": ns, "n_events": ne}).fillna(0).astype(int)
            frame = frame.rename_axis("jobcentre").reset_index()
        else:
            frame = pd.DataFrame({"n_spells": [len(s)], "n_events": [int(e["event"].sum())]})
        frame["estimand"] = est
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------------------
# Efficient-score pieces of a fit (randomisation inference, placebo in space)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreParts:
    """What a score test of a new regressor Z needs from a fitted cell model.

    The efficient score of a new cell regressor ``z`` is
    ``sum_c (z_c - x_c H^{-1} x' W z) u_c`` and its information
    ``z'Wz - z'Wx H^{-1} x'Wz``; the randomisation test and the placebo-in-space
    statistics evaluate both for many ``z`` at once from grouped sums of these pieces.

    Attributes
    ----------
    x
        Design without the aliased columns (cells x p), dense or CSR.
    xs
        ``x`` as a CSR matrix (for grouped sums).
    u
        Score factor per cell (``d loglik / d eta``), non-finite values set to 0.
    w
        Fisher weight per cell, non-finite values set to 0.
    h_inv
        Pseudo-inverse of the information ``x' diag(w) x``.
    """

    x: Matrix
    xs: sparse.csr_matrix
    u: np.ndarray
    w: np.ndarray
    h_inv: np.ndarray


def score_parts(fit: GLMFit, x_full: Matrix, trials: np.ndarray) -> ScoreParts:
    """The :class:`ScoreParts` of a fit on cells.

    Parameters
    ----------
    fit
        Fit of :func:`fit_cells`.
    x_full
        Its design matrix (all columns; aliased ones are dropped here), dense or CSR.
    trials
        Person-weeks per cell.

    Returns
    -------
    ScoreParts
    """
    keep = ~np.asarray(fit.aliased)
    x = subset_matrix(x_full, cols=keep)
    u = np.nan_to_num(np.asarray(fit.score_factor), nan=0.0, posinf=0.0, neginf=0.0)
    w = np.nan_to_num(fisher_weights(fit.eta, trials, fit.family), nan=0.0, posinf=0.0)
    h_inv = np.linalg.pinv(gram(x, w))
    xs = sparse_view(x)
    if xs is None:
        xs = sparse.csr_matrix(x)
    return ScoreParts(x, xs, u, w, h_inv)
