"""Programme effects of the default SOF specification (DESIGN.md §4), pooled and per jobcentre.

The model is the discrete-time cause-specific hazard of exit to employment,

.. math::

    g\\{P(y_{it}=1)\\} = \\alpha_{b(t)} + \\gamma_j + \\delta_{month} + x_i'\\beta
        + \\theta_{EA} D_i 1[t<8] + \\theta_P D_i 1[t\\ge 8],

with :math:`g` the complementary log-log link (default) or the logit link, fitted on
collapsed cells (:mod:`sofeval.panel.cells`). Inference for the pooled effects:

* ``cluster``: sandwich covariance clustered by jobcentre (exact on cells);
* ``wild``: restricted wild cluster bootstrap under :math:`\\theta = 0`: by default the
  bootstrap-t whose clustered variance is re-estimated in every draw (``wald``), or the
  Kline and Santos (2012) score bootstrap (``score``); see :mod:`sofeval.models.bootstrap`;
* ``ri``: randomisation inference under Fisher's sharp null of no programme effect:
  the programme windows are re-assigned at random across all jobcentres and the
  cluster-robust score statistic of the restricted model (no programme terms) is
  recomputed for every draw. Because the restricted model does not depend on the
  assignment, one fit serves all draws; each draw costs O(jobcentres x parameters).

Per-jobcentre effects put :math:`\\theta_{EA,j}` and :math:`\\theta_{P,j}` for every programme
jobcentre in one model. Their standard errors are model-based (inverse Fisher
information): a cluster-robust covariance is degenerate for a parameter identified by a
single cluster (its cluster score is zero at the estimate). The placebo-in-space p-value
compares the Wald statistic of jobcentre j with the statistics of the same effect
estimated for every non-programme jobcentre (placebo window = the most common programme
window), each by one Newton step from the fitted per-jobcentre model (a Rao score
estimate, exact to first order; checked against full refits in the tests).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from sofeval.data import StudyData
from sofeval.errors import EstimationError, NotIdentifiedWarning, check_option
from sofeval.models import (
    BootStatistic,
    DesignMatrix,
    Family,
    GLMFit,
    adjust_pvalues,
    build_design,
    fisher_weights,
    fit_glm_cells,
    gram,
    group_sum,
    permutation_pvalue,
    sparse_view,
    subset_matrix,
    vcov,
    wald_table,
    wild_score_bootstrap,
)
from sofeval.panel import (
    CHUNK_SIZE,
    Cells,
    StudyDesign,
    cells_with_spell_frame,
    coarsen,
    week_block,
)

ESTIMANDS: tuple[str, ...] = ("ex_ante", "programme")
#: A per-jobcentre log hazard ratio with a larger standard error is reported as not
#: identified (near-perfect prediction: a handful of events or non-events).
MAX_SE = 10.0
INFERENCE_METHODS: tuple[str, ...] = ("cluster", "wild", "ri")

EFFECT_COLUMNS: tuple[str, ...] = (
    "estimand",
    "coef",
    "se",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "p_wild",
    "p_ri",
    "n_spells",
    "n_events",
)
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


# --------------------------------------------------------------------------------------
# Building the model frame on cells
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
    design = design or StudyDesign()
    keys = ("jobcentre", "week", "month", "exposure", "D", *extra_keys, *covariates)
    cells, prep, sf = cells_with_spell_frame(
        study, design, keys, list(covariates) or None, CHUNK_SIZE, progress, parallel
    )
    windows, jc_map = design.windows(study)
    return SOFCells(cells, sf, design, windows, _jc_window(cells, jc_map), prep.audit.summary,
                    tuple(sorted(str(j) for j in jc_map)))


def _jc_window(cells: Cells, jc_map: Mapping[str, int]) -> pd.Series:
    """Programme-window index of every cell's jobcentre (-1: comparison jobcentre)."""
    jcs = cells.frame["jobcentre"].astype(str)
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
            "jobcentre": f["jobcentre"].astype(str).to_numpy(),
            "month": f["month"].to_numpy(),
            "late": (week >= cut).astype(np.int8),
            "D": f["D"].to_numpy().astype(np.int8),
        }
    )
    for c in covariates:
        out[c] = f[c].astype(str).to_numpy()
    out["D_early"] = (out["D"] * (1 - out["late"])).astype(float)
    out["D_late"] = (out["D"] * out["late"]).astype(float)
    return out


def _as_cells(
    study: StudyData | SOFCells,
    design: StudyDesign | None,
    covariates: Sequence[str],
    progress: bool | None,
) -> SOFCells:
    """The cells themselves, or :func:`sof_cells` of a study."""
    if isinstance(study, SOFCells):
        return study
    return sof_cells(study, design, covariates, progress=progress)


def _model_arrays(
    sc: SOFCells, covariates: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Model frame, event counts and person-weeks at risk of the cells (float arrays)."""
    cells = sc.cells.frame
    return (
        model_frame(sc, covariates),
        cells["event"].to_numpy(float),
        cells["at_risk"].to_numpy(float),
    )


def _base_categorical(covariates: Sequence[str]) -> list[str]:
    return ["week_block", "jobcentre", "month", *covariates]


def design_matrix(
    mf: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str], trials: np.ndarray
) -> DesignMatrix:
    """Design matrix whose reference level of each categorical is its largest (by trials).

    The largest category as the base (Stata's ``fvset base most``) keeps every contrast
    well determined; the first sorted level may be a tiny month or week whose estimate
    runs off towards plus or minus infinity and drags every other level with it.
    """
    reference = {
        c: pd.Series(trials).groupby(mf[c].to_numpy()).sum().idxmax() for c in categorical
    }
    return build_design(mf, categorical=categorical, numeric=numeric, reference=reference)


def fit_cells(
    dm: DesignMatrix,
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
# Results
# --------------------------------------------------------------------------------------


def _effect_rows(coef: np.ndarray, se: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Wald rows on the hazard-ratio scale: coef, se, hazard_ratio, ci_low, ci_high, p_value."""
    tab = wald_table(coef, se, level, ci_scale="hazard_ratio")
    return tab[["coef", "se", "hazard_ratio", "ci_low", "ci_high", "p_value"]]


@dataclass(frozen=True)
class EffectsResult:
    """Pooled programme effects (immutable).

    Attributes
    ----------
    table
        One row per estimand with the columns :data:`EFFECT_COLUMNS`
        (coef and se on the log-hazard scale, CI on the hazard-ratio scale).
    params
        Every coefficient of the model with its clustered standard error.
    fit
        The numerical fit on cells.
    family
        Link function.
    n_person_weeks, n_cells, n_clusters
        Sizes of the estimation sample.
    ri_draws, wild_draws
        Permutation and bootstrap statistics (empty when not computed).
    """

    table: pd.DataFrame
    params: pd.DataFrame
    fit: GLMFit = field(repr=False)
    family: str
    n_person_weeks: int
    n_cells: int
    n_clusters: int
    ri_draws: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    wild_draws: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The effects table (a copy)."""
        return self.table.copy()

    tidy = to_frame

    def summary(self) -> str:
        """Text summary of the pooled effects."""
        t = self.table.copy()
        t["pct_change"] = 100 * (t["hazard_ratio"] - 1)
        cols = [
            "estimand",
            "coef",
            "se",
            "hazard_ratio",
            "pct_change",
            "ci_low",
            "ci_high",
            "p_value",
            "p_wild",
            "p_ri",
            "n_spells",
            "n_events",
        ]
        head = (
            "SOF programme effects: discrete-time hazard of exit to employment "
            f"({self.family} link)\n"
            f"person-weeks {self.n_person_weeks:,}, cells {self.n_cells:,}, "
            f"clusters (jobcentres) {self.n_clusters}\n"
            "coef/se: log hazard ratio, clustered by jobcentre; CI: hazard ratio; "
            "p_wild: restricted wild cluster bootstrap; p_ri: randomisation inference\n"
        )
        return head + t[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return (
            f"<p><b>SOF programme effects</b> ({self.family} link; {self.n_person_weeks:,} "
            f"person-weeks in {self.n_cells:,} cells, {self.n_clusters} jobcentres)</p>"
            + self.table.to_html(index=False, float_format=lambda v: f"{v:.4f}")
        )

    def plot(self, ax: object | None = None) -> object:
        """Hazard ratios with 95 % CIs of the two estimands (a small forest plot)."""
        from sofeval.report import figures as plots

        frame = self.table.assign(
            jobcentre="All programme jobcentres",
            q_bh=self.table["p_value"],
            p_holm=self.table["p_value"],
            flag="",
        )
        return plots.forest(frame, ax=ax)  # type: ignore[arg-type]


@dataclass(frozen=True)
class JobcentreEffectsResult:
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

    def to_frame(self) -> pd.DataFrame:
        """The per-jobcentre table (a copy)."""
        return self.table.copy()

    tidy = to_frame

    def summary(self) -> str:
        """Text table of per-jobcentre effects."""
        head = (
            "Per-jobcentre programme effects (model-based SEs; p_holm/q_bh adjusted within "
            "estimand; p_placebo against non-programme jobcentres)\n"
        )
        return head + self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return "<p><b>Per-jobcentre programme effects</b></p>" + self.table.to_html(
            index=False, float_format=lambda v: f"{v:.4f}"
        )

    def plot(self, ax: object | None = None, lang: str = "en") -> object:
        """Forest plot of hazard ratios per jobcentre and estimand."""
        from sofeval.report import figures as plots

        return plots.forest(self.table, ax=ax, lang=lang)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Counting spells and events per jobcentre and phase (for the tables)
# --------------------------------------------------------------------------------------


def _phase_counts(sc: SOFCells, by_jobcentre: bool) -> pd.DataFrame:
    """Treated spells at risk and their events per estimand (and jobcentre)."""
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
    for est, s, e in (("ex_ante", early, ev_early), ("programme", late, ev_late)):
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
# Randomisation inference (score-based, one restricted fit)
# --------------------------------------------------------------------------------------


def ri_statistics(
    assign: np.ndarray,
    a: np.ndarray,
    big_a: np.ndarray,
    s_g: np.ndarray,
    h_inv: np.ndarray,
) -> np.ndarray:
    """Cluster-robust score statistics for assignments ``assign`` (R x G window indices).

    ``a[g, k]`` is the score sum of jobcentre g's cells exposed to window k (the last index
    K stands for "not treated" and is zero), ``big_a[g, k]`` the matching sum of
    w_c X_c (p-vector), ``s_g`` the nuisance cluster scores, ``h_inv`` the inverse
    information of the restricted model.
    """
    g_idx = np.arange(a.shape[0])[None, :]
    sel = a[g_idx, assign]  # R x G
    b = big_a[g_idx, assign].sum(axis=1)  # R x p
    e = sel - (b @ h_inv) @ s_g.T  # R x G efficient cluster scores
    num = e.sum(axis=1)
    den = np.sqrt((e**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def randomization_test(
    sc: SOFCells,
    covariates: Sequence[str] = (),
    *,
    family: Family = "cloglog",
    draws: int = 999,
    seed: int = 0,
    null: tuple[float, float] = (0.0, 0.0),
) -> tuple[dict[str, float], pd.DataFrame]:
    """Randomisation inference for the pooled effects under the sharp null of no effect.

    The programme windows are permuted across all jobcentres (the number of treated
    jobcentres and their windows are kept); for each draw the treatment indicator of every
    cell is recomputed exactly from its exposure bitmask and the statistic

    .. math:: t^* = \\frac{\\sum_g \\tilde s_g^*}{\\sqrt{\\sum_g (\\tilde s_g^*)^2}},
        \\qquad \\tilde s_g^* = \\sum_{c \\in g} (D^*_c - X_c H^{-1} X'WD^*) u_c

    is the cluster-robust efficient score statistic of the restricted model (no
    programme terms). Returns the p-values ``(1 + #|t*| >= |t|) / (1 + R)`` per estimand and
    the draws.

    ``null = (theta_EA, theta_P)`` tests a constant non-zero effect instead: the restricted
    model carries ``theta_EA D_early + theta_P D_late`` of the observed assignment as an
    offset and the permuted score is taken around it. The exact randomisation argument holds
    only for the sharp null of no effect; at a non-zero null the test is the usual
    model-based approximation (used to invert the test into an interval in the Monte Carlo).
    """
    mf, events, trials = _model_arrays(sc, covariates)
    cells = sc.cells.frame
    dm = design_matrix(mf, _base_categorical(covariates), (), trials)
    offset = (
        null[0] * mf["D_early"].to_numpy() + null[1] * mf["D_late"].to_numpy()
        if any(null)
        else None
    )
    fit = fit_cells(dm, events, trials, family, (), offset=offset)
    keep = ~np.asarray(fit.aliased)
    x = subset_matrix(dm.X, cols=keep)
    u = np.nan_to_num(np.asarray(fit.score_factor), nan=0.0, posinf=0.0, neginf=0.0)
    w = np.nan_to_num(fisher_weights(fit.eta, trials, fit.family), nan=0.0, posinf=0.0)
    h_inv = np.linalg.pinv(gram(x, w))
    xs = sparse_view(x)
    xs = sparse.csr_matrix(x) if xs is None else xs
    jc_codes, jc_names = pd.factorize(mf["jobcentre"], sort=True)
    n_g = len(jc_names)
    s_g = np.asarray(group_sum(xs, jc_codes, n_g, weights=u))
    n_win = len(sc.windows)
    exposure = cells["exposure"].to_numpy().astype(np.int64)
    jc_window = pd.Series(sc.jc_window.to_numpy(), index=mf["jobcentre"]).groupby(level=0).first()
    observed_assign = jc_window.reindex(jc_names).fillna(-1).astype(int).to_numpy()
    observed_assign = np.where(observed_assign < 0, n_win, observed_assign)
    rng = np.random.default_rng(seed)
    perms = (
        np.stack([rng.permutation(observed_assign) for _ in range(draws)])
        if draws
        else (np.empty((0, n_g), dtype=int))
    )
    out: dict[str, float] = {}
    frames = []
    late = mf["late"].to_numpy()
    for est, phase in (("ex_ante", 0), ("programme", 1)):
        a = np.zeros((n_g, n_win + 1))
        big_a = np.zeros((n_g, n_win + 1, x.shape[1]))
        for k in range(n_win):
            mask = (((exposure >> k) & 1) == 1) & (late == phase)
            codes = jc_codes[mask]
            a[:, k] = np.bincount(codes, weights=u[mask], minlength=n_g)
            big_a[:, k, :] = group_sum(xs, codes, n_g, weights=w[mask], rows=np.flatnonzero(mask))
        t_obs = float(ri_statistics(observed_assign[None, :], a, big_a, s_g, h_inv)[0])
        t_draws = (
            np.concatenate(
                [
                    ri_statistics(perms[i : i + 200], a, big_a, s_g, h_inv)
                    for i in range(0, draws, 200)
                ]
            )
            if draws
            else np.empty(0)
        )
        out[est] = permutation_pvalue(t_obs, t_draws) if draws else float("nan")
        frames.append(pd.DataFrame({"estimand": est, "draw": np.arange(draws), "t": t_draws}))
    return out, pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------
# Pooled effects
# --------------------------------------------------------------------------------------


def estimate_effects(
    study: StudyData | SOFCells,
    design: StudyDesign | None = None,
    *,
    covariates: Sequence[str] = (),
    family: Family = "cloglog",
    inference: Sequence[str] = ("cluster", "wild", "ri"),
    bootstrap_draws: int = 999,
    bootstrap_weights: Literal["rademacher", "webb"] = "rademacher",
    bootstrap_statistic: BootStatistic = "wald",
    ri_draws: int = 999,
    seed: int = 0,
    correction: Literal["stata", "hc1", "none"] = "stata",
    progress: bool | None = None,
    null: tuple[float, float] = (0.0, 0.0),
) -> EffectsResult:
    """Estimate the pooled ex-ante and programme effects of the default SOF model.

    Parameters
    ----------
    study
        Validated study tables, or cells prepared by :func:`sof_cells`.
    design
        Panel rules (ignored when ``study`` is already :class:`SOFCells`).
    covariates
        Categorical covariates (continuous ones are binned; see :mod:`sofeval.panel.build`).
    family
        ``cloglog`` (grouped-time proportional hazards, default) or ``logit``.
    inference
        Any of ``cluster`` (always computed), ``wild`` and ``ri``.
    bootstrap_draws, bootstrap_weights
        Wild cluster bootstrap settings.
    bootstrap_statistic
        ``wald`` (restricted wild cluster bootstrap-t, the variance re-estimated in every
        draw) or ``score`` (Kline-Santos score bootstrap); see
        :mod:`sofeval.models.bootstrap`.
    ri_draws
        Number of randomisation-inference permutations.
    seed
        Seed of every random draw.
    correction
        Small-sample factor of the clustered covariance (``stata``: G/(G-1)).
    progress
        Progress bars (default: only in an interactive terminal).
    null
        Values ``(theta_EA, theta_P)`` tested by the wild bootstrap and randomisation
        p-values (default: no effect). The clustered Wald p-value always tests zero.

    Returns
    -------
    EffectsResult
    """
    check_option("family", family, ("cloglog", "logit"))
    for m in inference:
        check_option("inference", m, INFERENCE_METHODS)
    sc = _as_cells(study, design, covariates, progress)
    mf, events, trials = _model_arrays(sc, covariates)
    cells = sc.cells.frame
    dm = design_matrix(mf, _base_categorical(covariates), ["D_early", "D_late"], trials)
    if events.sum() == 0:
        raise EstimationError("spells: no exit to employment in the estimation sample.")
    fit = fit_cells(dm, events, trials, family, ("D_early", "D_late"))
    clusters, jc_names = pd.factorize(mf["jobcentre"], sort=True)
    cov = vcov(
        fit,
        dm.X,
        method="cluster",
        clusters=clusters,
        correction=correction,
        n_obs=int(trials.sum()),
    )
    se_all = np.sqrt(np.clip(np.diag(cov), 0, None))
    names = list(dm.names)
    idx = [names.index("D_early"), names.index("D_late")]
    rows = _effect_rows(np.asarray(fit.params)[idx], se_all[idx])
    rows.insert(0, "estimand", list(ESTIMANDS))
    rows["p_wild"] = np.nan
    rows["p_ri"] = np.nan
    wild_frames = []
    if "wild" in inference and bootstrap_draws > 0:
        for i, (est, k) in enumerate(zip(ESTIMANDS, idx, strict=True)):
            with warnings.catch_warnings():  # nuisance separation: see fit_cells
                warnings.simplefilter("ignore", NotIdentifiedWarning)
                bres = wild_score_bootstrap(
                    dm.X, events, trials, family, clusters, k, B=bootstrap_draws,
                    weights=bootstrap_weights, seed=seed + i, progress=progress,
                    null_value=null[i], start=np.asarray(fit.params),
                    statistic=bootstrap_statistic,
                )
            rows.loc[i, "p_wild"] = bres.p_value
            wild_frames.append(pd.DataFrame({"estimand": est, "t": np.asarray(bres.draws)}))
    ri_frame = pd.DataFrame()
    if "ri" in inference and ri_draws > 0:
        pri, ri_frame = randomization_test(
            sc, covariates, family=family, draws=ri_draws, seed=seed, null=null
        )
        rows["p_ri"] = [pri["ex_ante"], pri["programme"]]
    counts = _phase_counts(sc, by_jobcentre=False)
    rows = rows.merge(counts, on="estimand", how="left")
    params = _effect_rows(np.asarray(fit.params), se_all)
    params.insert(0, "term", names)
    return EffectsResult(
        table=rows[list(EFFECT_COLUMNS)],
        params=params,
        fit=fit,
        family=family,
        n_person_weeks=int(trials.sum()),
        n_cells=len(cells),
        n_clusters=len(jc_names),
        ri_draws=ri_frame,
        wild_draws=pd.concat(wild_frames, ignore_index=True) if wild_frames else pd.DataFrame(),
    )


# --------------------------------------------------------------------------------------
# Per-jobcentre effects
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
        for est, late in (("ex_ante", 0), ("programme", 1)):
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
    check_option("family", family, ("cloglog", "logit"))
    sc = _as_cells(study, design, covariates, progress)
    mf, events, trials = _model_arrays(sc, covariates)
    programme_jcs = sorted(
        set(mf["jobcentre"][sc.jc_window.to_numpy() >= 0].unique()) | set(sc.programme)
    )
    flags = _identification_flags(mf, events, trials, programme_jcs)
    jc = mf["jobcentre"].to_numpy()
    numeric: list[str] = []
    term_of: dict[str, tuple[str, str]] = {}
    for j in programme_jcs:
        for est, col in (("ex_ante", "D_early"), ("programme", "D_late")):
            if (j, est) in flags:
                continue
            name = f"{col}[{j}]"
            mf[name] = mf[col].to_numpy() * (jc == j)
            numeric.append(name)
            term_of[name] = (j, est)
    dm = design_matrix(mf, _base_categorical(covariates), numeric, trials)
    fit = fit_cells(dm, events, trials, family, ())
    cov = vcov(fit, dm.X, method="model")
    se = np.sqrt(np.diag(cov))
    names = list(dm.names)
    params = np.asarray(fit.params)
    records = []
    for j in programme_jcs:
        for est, col in (("ex_ante", "D_early"), ("programme", "D_late")):
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
    rec = pd.DataFrame(records, columns=["jobcentre", "estimand", "coef", "se", "flag"])
    eff = _effect_rows(rec["coef"].to_numpy(float), rec["se"].to_numpy(float))
    table = pd.concat([rec[["jobcentre", "estimand"]], eff, rec[["flag"]]], axis=1)
    table.loc[
        table["flag"] != "", ["coef", "se", "hazard_ratio", "ci_low", "ci_high", "p_value"]
    ] = np.nan
    table["p_holm"] = np.nan
    table["q_bh"] = np.nan
    for est in ESTIMANDS:
        m = (table["estimand"] == est) & table["p_value"].notna()
        if m.any():
            table.loc[m, "p_holm"] = adjust_pvalues(table.loc[m, "p_value"].to_numpy(), "holm")
            table.loc[m, "q_bh"] = adjust_pvalues(table.loc[m, "p_value"].to_numpy(), "bh")
    placebo_frame = pd.DataFrame(columns=["jobcentre", "estimand", "coef", "se", "t"])
    table["p_placebo"] = np.nan
    if placebo:
        placebo_frame = _placebo_statistics(sc, mf, dm.X, fit, trials)
        for i, row in table.iterrows():
            if not np.isfinite(row["coef"]):
                continue
            ts = placebo_frame.loc[placebo_frame["estimand"] == row["estimand"], "t"].to_numpy()
            ts = ts[np.isfinite(ts)]
            if ts.size:
                table.loc[i, "p_placebo"] = permutation_pvalue(row["coef"] / row["se"], ts)
    counts = _phase_counts(sc, by_jobcentre=True)
    table = table.merge(counts, on=["jobcentre", "estimand"], how="left")
    table[["n_spells", "n_events"]] = table[["n_spells", "n_events"]].fillna(0).astype(int)
    return JobcentreEffectsResult(table[list(JOBCENTRE_COLUMNS)], placebo_frame, fit)


def _placebo_statistics(
    sc: SOFCells, mf: pd.DataFrame, x_full: np.ndarray, fit: GLMFit, trials: np.ndarray
) -> pd.DataFrame:
    """One-step placebo estimates for every non-programme jobcentre and estimand.

    For jobcentre k and phase, Z marks k's cells whose reference date lies in the most
    common programme window; the Rao score estimate is
    ``theta = Z'u / (Z'WZ - Z'WX H^{-1} X'WZ)`` with standard error the inverse square root of
    the denominator (model-based), computed for all k at once from group sums.
    """
    keep = ~np.asarray(fit.aliased)
    x = subset_matrix(x_full, cols=keep)
    u = np.nan_to_num(np.asarray(fit.score_factor), nan=0.0, posinf=0.0, neginf=0.0)
    w = np.nan_to_num(fisher_weights(fit.eta, trials, fit.family), nan=0.0, posinf=0.0)
    h_inv = np.linalg.pinv(gram(x, w))
    xs = sparse_view(x)
    xs = sparse.csr_matrix(x) if xs is None else xs
    win_counts = sc.jc_window[sc.jc_window >= 0].value_counts()
    if win_counts.empty:
        return pd.DataFrame(columns=["jobcentre", "estimand", "coef", "se", "t"])
    modal = int(win_counts.index[0])
    exposure = sc.cells.frame["exposure"].to_numpy().astype(np.int64)
    placebo_cells = (sc.jc_window.to_numpy() < 0) & (((exposure >> modal) & 1) == 1)
    frames = []
    late = mf["late"].to_numpy()
    for est, phase in (("ex_ante", 0), ("programme", 1)):
        m = placebo_cells & (late == phase)
        codes, names = pd.factorize(mf["jobcentre"].to_numpy()[m], sort=True)
        n_k = len(names)
        if n_k == 0:
            continue
        score = np.bincount(codes, weights=u[m], minlength=n_k)
        zz = np.bincount(codes, weights=w[m], minlength=n_k)
        b = np.asarray(group_sum(xs, codes, n_k, weights=w[m], rows=np.flatnonzero(m)))
        info = zz - np.einsum("kp,pq,kq->k", b, h_inv, b)
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
# Continuous-time cross-check
# --------------------------------------------------------------------------------------


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
    from lifelines import CoxTimeVaryingFitter

    from sofeval.panel import build_panel

    design = design or StudyDesign()
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
    df = pd.concat([df, quarter], axis=1)
    ctv = CoxTimeVaryingFitter()
    ctv.fit(df, id_col="id", event_col="event", start_col="start", stop_col="stop",
            strata=["jc"])
    s = ctv.summary.loc[["D_early", "D_late"]]
    out = _effect_rows(s["coef"].to_numpy(float), s["se(coef)"].to_numpy(float))
    out.insert(0, "estimand", list(ESTIMANDS))
    out["model"] = "Cox with time-varying D (lifelines), strata jobcentre, calendar quarters"
    return out
