"""Pooled programme effects of the default SOF specification (DESIGN.md §4).

The model, its cells and its design are those of :mod:`sofeval.analyses.specification`.
Inference for the pooled effects :math:`\\theta_{EA}` and :math:`\\theta_P`:

* ``cluster``: sandwich covariance clustered by jobcentre (exact on cells);
* ``wild``: restricted wild cluster bootstrap under :math:`\\theta = 0`: by default the
  bootstrap-t whose clustered variance is re-estimated in every draw (``wald``), or the
  Kline and Santos (2012) score bootstrap (``score``); see :mod:`sofeval.models.bootstrap`;
* ``ri``: randomisation inference under Fisher's sharp null of no programme effect
  (:mod:`sofeval.analyses.randomization`).

Per-jobcentre effects are in :mod:`sofeval.analyses.jobcentres`, the Cox cross-check in
:mod:`sofeval.analyses.crosscheck`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sofeval.analyses.randomization import randomization_test
from sofeval.analyses.specification import (
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
)
from sofeval.data import StudyData
from sofeval.errors import EstimationError, NotIdentifiedWarning, check_option
from sofeval.models import (
    BootStatistic,
    Family,
    GLMFit,
    ResultsBase,
    SparseDesign,
    restricted_start,
    vcov,
    wild_score_bootstrap,
)
from sofeval.panel import StudyDesign
from sofeval.report import Lang, forest

__all__ = [
    "EFFECT_COLUMNS",
    "INFERENCE_METHODS",
    "EffectsResult",
    "estimate_effects",
    "pooled_forest",
]

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
#: Columns of the printed summary (the table with ``pct_change`` after the hazard ratio).
_SUMMARY_COLUMNS: tuple[str, ...] = (
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
)


def _fmt(v: float) -> str:
    return f"{v:.4f}"


def pooled_forest(
    table: pd.DataFrame,
    row_label: str,
    *,
    ax: Axes | Sequence[Axes] | None = None,
    lang: Lang = "en",
    **kwargs: Any,
) -> Figure:
    """Forest plot of pooled estimands (one row ``row_label`` per estimand panel).

    Parameters
    ----------
    table
        ``estimand``, ``hazard_ratio``, ``ci_low``, ``ci_high``, ``p_value``.
    row_label
        Label of the row (the y tick) in every panel.
    ax
        One axes per estimand (default: a new figure).
    lang
        Label language.
    **kwargs
        Passed to :func:`sofeval.report.forest`.

    Returns
    -------
    matplotlib.figure.Figure
        Filled points where ``p_value`` is below ``alpha``.
    """
    frame = table.assign(jobcentre=row_label, q_bh=table["p_value"], p_holm=table["p_value"],
                         flag="")
    return forest(frame, ax=ax, lang=lang, **kwargs)


@dataclass(frozen=True)
class EffectsResult(ResultsBase):
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

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return (
            "SOF programme effects: discrete-time hazard of exit to employment "
            f"({self.family} link)"
        )

    def header(self) -> list[tuple[str, str]]:
        """Sample sizes (shown above the table in notebooks)."""
        return [
            ("person-weeks", f"{self.n_person_weeks:,}"),
            ("cells", f"{self.n_cells:,}"),
            ("clusters (jobcentres)", str(self.n_clusters)),
        ]

    def to_frame(self) -> pd.DataFrame:
        """The effects table (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """Text summary of the pooled effects (printed by ``sofeval run``)."""
        t = self.table.copy()
        t["pct_change"] = 100 * (t["hazard_ratio"] - 1)
        head = (
            f"{self.title}\n"
            f"person-weeks {self.n_person_weeks:,}, cells {self.n_cells:,}, "
            f"clusters (jobcentres) {self.n_clusters}\n"
            "coef/se: log hazard ratio, clustered by jobcentre; CI: hazard ratio; "
            "p_wild: restricted wild cluster bootstrap; p_ri: randomisation inference\n"
        )
        return head + t[list(_SUMMARY_COLUMNS)].to_string(index=False, float_format=_fmt)

    def plot(
        self, ax: Axes | Sequence[Axes] | None = None, lang: Lang = "en", **kwargs: Any
    ) -> Figure:
        """Hazard ratios with 95 % CIs of the two estimands (a small forest plot).

        Parameters
        ----------
        ax
            One axes per estimand (default: a new figure).
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.forest`.

        Returns
        -------
        matplotlib.figure.Figure
        """
        return pooled_forest(self.table, "All programme jobcentres", ax=ax, lang=lang, **kwargs)


def _wild_pvalues(
    dm: SparseDesign,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    fit: GLMFit,
    idx: Sequence[int],
    *,
    draws: int,
    weights: Literal["rademacher", "webb"],
    statistic: BootStatistic,
    seed: int,
    progress: bool | None,
    null: tuple[float, float],
) -> tuple[list[float], pd.DataFrame]:
    """Wild cluster bootstrap p-value and draws of each estimand (seed ``seed + i``)."""
    p_values: list[float] = []
    frames = []
    params, p = np.asarray(fit.params), len(fit.params)
    for i, (est, k) in enumerate(zip(ESTIMANDS, idx, strict=True)):
        start = restricted_start(params, np.asarray(fit.cov), np.eye(p)[[k]], null[i])
        with warnings.catch_warnings():  # nuisance separation: see fit_cells
            warnings.simplefilter("ignore", NotIdentifiedWarning)
            bres = wild_score_bootstrap(
                dm.X, events, trials, family, clusters, k, B=draws,
                weights=weights, seed=seed + i, progress=progress,
                null_value=null[i], start=start,
                statistic=statistic,
            )
        p_values.append(bres.p_value)
        frames.append(pd.DataFrame({"estimand": est, "t": np.asarray(bres.draws)}))
    return p_values, pd.concat(frames, ignore_index=True)


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
    check_option("family", family, SOF_FAMILIES)
    for m in inference:
        check_option("inference", m, INFERENCE_METHODS)
    sc = as_cells(study, design, covariates, progress)
    mf, events, trials = model_arrays(sc, covariates)
    dm = design_matrix(mf, base_categorical(covariates), list(INTEREST), trials, csr=True)
    if events.sum() == 0:
        raise EstimationError("spells: no exit to employment in the estimation sample.")
    fit = fit_cells(dm, events, trials, family, INTEREST)
    clusters, jc_names = pd.factorize(mf["jobcentre"], sort=True)
    cov = vcov(fit, dm.X, method="cluster", clusters=clusters, correction=correction,
               n_obs=int(trials.sum()))
    se_all = np.sqrt(np.clip(np.diag(cov), 0, None))
    names = list(dm.names)
    idx = [names.index(n) for n in INTEREST]
    rows = effect_rows(np.asarray(fit.params)[idx], se_all[idx])
    rows.insert(0, "estimand", list(ESTIMANDS))
    rows["p_wild"] = np.nan
    rows["p_ri"] = np.nan
    wild_frame = pd.DataFrame()
    if "wild" in inference and bootstrap_draws > 0:
        rows["p_wild"], wild_frame = _wild_pvalues(
            dm, events, trials, family, clusters, fit, idx, draws=bootstrap_draws,
            weights=bootstrap_weights, statistic=bootstrap_statistic, seed=seed,
            progress=progress, null=null,
        )
    ri_frame = pd.DataFrame()
    if "ri" in inference and ri_draws > 0:
        pri, ri_frame = randomization_test(
            sc, covariates, family=family, draws=ri_draws, seed=seed, null=null
        )
        rows["p_ri"] = [pri[est] for est in ESTIMANDS]
    rows = rows.merge(phase_counts(sc, by_jobcentre=False), on="estimand", how="left")
    params = effect_rows(np.asarray(fit.params), se_all)
    params.insert(0, "term", names)
    return EffectsResult(
        table=rows[list(EFFECT_COLUMNS)],
        params=params,
        fit=fit,
        family=family,
        n_person_weeks=int(trials.sum()),
        n_cells=len(sc.cells.frame),
        n_clusters=len(jc_names),
        ri_draws=ri_frame,
        wild_draws=wild_frame,
    )
