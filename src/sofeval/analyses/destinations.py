"""Where people go: the programme effect on every exit state, with one joint covariance.

DESIGN.md §4b. The default DiD model of §4 is fitted to the cause-specific hazard of every
competing exit state ``k`` (employment, unemployment, job clarification, flexjob,
disability pension, education, other) on the *same* cells (one collapse serves all: the
cells keep an event count per exit state),

.. math::

    g\\{h_k(t)\\} = \\alpha_{k,b(t)} + \\gamma_{k,j} + \\delta_{k,month} + x_i'\\beta_k
        + \\theta_{EA,k} D_i 1[t<8] + \\theta_{P,k} D_i 1[t\\ge 8].

The parameters of all destination models get one covariance clustered by jobcentre from the
stacked cluster scores, as Stata's ``suest``:

.. math::

    V = \\begin{pmatrix} Z_1 \\\\ \\vdots \\\\ Z_K \\end{pmatrix}
        \\begin{pmatrix} Z_1' & \\cdots & Z_K' \\end{pmatrix}, \\qquad
    Z_k = \\sqrt{c_k}\\, H_k^{-1} S_k',

with :math:`S_k` the ``G x p`` cluster scores and :math:`H_k` the Fisher information of model
``k`` and :math:`c_k` its small-sample factor
(:func:`sofeval.analyses.prediction.cluster_influence`).
Its diagonal blocks are each model's own clustered covariance; the off-diagonal blocks
carry the correlation between destinations, so quantities that combine destinations
(weeks on benefit, cumulative incidences) get honest standard errors.

A state without any exit in the sample has no model: its maximum-likelihood hazard is 0
everywhere, and it is listed in :attr:`DestinationsResult.skipped`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sofeval.analyses.effects import EffectsResult
from sofeval.analyses.prediction import (
    FittedDesign,
    cluster_influence,
    fitted_design,
    reference_levels,
    reference_levels_by,
    separation_signs,
)
from sofeval.analyses.specification import (
    ESTIMANDS,
    SOFCells,
    design_matrix,
    effect_rows,
    fit_cells,
    model_frame,
    sof_cells,
)
from sofeval.data import COMPETING_STATES, StudyData
from sofeval.errors import EstimationError, NotIdentifiedWarning, check_option
from sofeval.models import (
    CORRECTIONS,
    BootStatistic,
    Family,
    GLMFit,
    Matrix,
    ResultsBase,
    SparseDesign,
    build_sparse_design,
    restricted_start,
    wild_score_bootstrap,
)
from sofeval.panel import StudyDesign, group_codes
from sofeval.report import Lang, destination_forest
from sofeval.runtime import Background, fork_available

__all__ = [
    "DESTINATION_COLUMNS",
    "DestinationsResult",
    "destination_effects",
    "destination_event_column",
]

DESTINATION_COLUMNS: tuple[str, ...] = (
    "destination",
    "estimand",
    "coef",
    "se",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "p_wild",
    "n_spells",
    "n_events",
)
_INTEREST = ("D_early", "D_late")


def destination_event_column(state: str, event_state: str = "employment") -> str:
    """Cell column counting exits to ``state`` (``event`` for the design's event state).

    Parameters
    ----------
    state
        A competing exit state.
    event_state
        The state counted in ``event`` (:attr:`sofeval.panel.StudyDesign.event_state`).

    Returns
    -------
    str
    """
    check_option("destination", state, COMPETING_STATES)
    return "event" if state == event_state else f"event_{state}"


@dataclass(frozen=True)
class DestinationsResult(ResultsBase):
    """Programme effects on every exit state, with their joint covariance (immutable).

    Attributes
    ----------
    table
        One row per destination and estimand, columns :data:`DESTINATION_COLUMNS` (coef and
        se on the log-hazard scale, CI on the hazard-ratio scale; the employment rows are
        those of :func:`sofeval.analyses.estimate_effects` on the same cells).
    fits
        The fit of every destination model, in :data:`~sofeval.data.COMPETING_STATES` order.
    designs
        The design of every destination model (column names and levels, for predictions).
        The reference level of each categorical is its largest level (by person-weeks)
        with an exit to that destination, so a rare destination's intercept stays finite;
        for employment this is the design of :func:`~sofeval.analyses.estimate_effects`.
    signs
        :func:`~sofeval.analyses.prediction.separation_signs` of every fit.
    influence
        Cluster influence ``Z_k`` of every fit (identified parameters x jobcentres); the
        joint covariance is ``Z Z'`` of the stacked ``Z_k``.
    clusters
        Jobcentre of each column of the influence matrices.
    cells
        The cells the models were fitted on.
    covariates
        Covariates of the models.
    family
        Link function.
    correction
        Small-sample factor of the clustered covariance.
    skipped
        Competing states without any exit in the sample (no model; hazard 0).
    """

    table: pd.DataFrame
    fits: Mapping[str, GLMFit] = field(repr=False)
    designs: Mapping[str, FittedDesign] = field(repr=False)
    signs: Mapping[str, np.ndarray] = field(repr=False)
    influence: Mapping[str, np.ndarray] = field(repr=False)
    clusters: tuple[str, ...] = field(repr=False)
    cells: SOFCells = field(repr=False)
    covariates: tuple[str, ...] = ()
    family: str = "cloglog"
    correction: str = "stata"
    skipped: tuple[str, ...] = ()

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return (
            "Programme effects by destination: cause-specific discrete-time hazards "
            f"({self.family} link)"
        )

    def header(self) -> list[tuple[str, str]]:
        """Covariance, scales and the states without exits."""
        rows = [
            ("covariance", f"one joint covariance clustered by jobcentre "
                           f"({len(self.clusters)} clusters, as Stata's suest)"),
            ("scales", "coef/se: log hazard ratio; CI: hazard ratio; p_wild: wild cluster "
                       "score bootstrap"),
        ]
        if self.skipped:
            rows.append(("no exits (hazard 0)", ", ".join(self.skipped)))
        return rows

    @property
    def destinations(self) -> tuple[str, ...]:
        """The exit states with a model."""
        return tuple(self.fits)

    def to_frame(self) -> pd.DataFrame:
        """The destination effects table (a copy; columns :data:`DESTINATION_COLUMNS`)."""
        return self.table.copy()

    def params(self, destination: str) -> pd.Series:
        """Every coefficient of one destination model (NaN where set aside)."""
        fit = self.fits[destination]
        return pd.Series(np.asarray(fit.params), index=list(fit.names), name=destination)

    def joint_vcov(self) -> pd.DataFrame:
        """The joint clustered covariance of all destination models (``suest``).

        Returns
        -------
        pandas.DataFrame
            Square, indexed by ``(destination, term)`` of every identified parameter.
        """
        z = np.vstack([self.influence[d] for d in self.destinations])
        index = pd.MultiIndex.from_tuples(
            [
                (d, n)
                for d in self.destinations
                for n, a in zip(self.fits[d].names, self.fits[d].aliased, strict=True)
                if not a
            ],
            names=["destination", "term"],
        )
        return pd.DataFrame(z @ z.T, index=index, columns=index)

    def plot(self, lang: Lang = "en", **kwargs: Any) -> Figure:
        """Hazard ratios with 95 % CIs per destination and estimand (a forest plot).

        The report's figure function builds the whole house-style figure, so this
        replaces the base's ``plot`` rather than drawing in ``_draw``.

        Parameters
        ----------
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.destination_forest`.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure, not registered with pyplot.
        """
        return destination_forest(self.table, lang=lang, **kwargs)


def _phase_counts(
    sc: SOFCells, columns: Mapping[str, str]
) -> dict[str, tuple[list[int], list[int]]]:
    """Treated spells at risk and treated exits per phase (ex ante, programme), per state."""
    sf = sc.spells
    cut = sc.design.phase_cut
    treated = sf["D"].to_numpy().astype(int) == 1
    n_spells = [int((treated & (sf["entry_week"].to_numpy() < cut)).sum()),
                int((treated & (sf["last_week"].to_numpy() >= cut)).sum())]
    f = sc.cells.frame
    tr = f["D"].to_numpy().astype(int) == 1
    week = f["week"].to_numpy()
    early, late = tr & (week < cut), tr & (week >= cut)
    return {
        s: (n_spells, [int(f[c].to_numpy()[early].sum()), int(f[c].to_numpy()[late].sum())])
        for s, c in columns.items()
    }


def _wild_pvalues(
    dm_x: Matrix,
    events: np.ndarray,
    trials: np.ndarray,
    family: str,
    clusters: np.ndarray,
    fit: GLMFit,
    idx: Sequence[int],
    draws: int,
    weights: str,
    seed: int,
    progress: bool | None,
    statistic: BootStatistic = "wald",
) -> list[float]:
    """Restricted wild cluster bootstrap p-value of each tested column (NaN if not identified)."""
    out = []
    params = np.asarray(fit.params)
    for i, k in enumerate(idx):
        if draws <= 0 or not np.isfinite(params[k]):
            out.append(float("nan"))
            continue
        with warnings.catch_warnings():  # nuisance separation: see fit_cells
            warnings.simplefilter("ignore", NotIdentifiedWarning)
            res = wild_score_bootstrap(
                dm_x, events, trials, family, clusters, k,  # type: ignore[arg-type]
                B=draws, weights=weights, seed=seed + i,  # type: ignore[arg-type]
                progress=progress, statistic=statistic,
                start=restricted_start(params, np.asarray(fit.cov), np.eye(len(params))[[k]]),
            )
        out.append(res.p_value)
    return out


@dataclass(frozen=True)
class _Fitted:
    """One destination model: fit, cluster influence, separation signs and table rows."""

    fit: GLMFit
    influence: np.ndarray
    signs: np.ndarray
    rows: pd.DataFrame


@dataclass(frozen=True)
class _Job:
    """What every destination fit of one design needs."""

    dm: SparseDesign
    trials: np.ndarray
    codes: np.ndarray
    n_clusters: int
    family: str
    correction: str
    draws: int
    weights: str
    seed: int
    statistic: BootStatistic = "wald"


def _fit_destination(
    job: _Job, state: str, events: np.ndarray, reuse: EffectsResult | None, progress: bool | None
) -> _Fitted:
    """Fit one destination model and its table rows.

    ``reuse``: the pooled effects of the same model (employment), whose rows and wild
    bootstrap p-values are taken as they are (the refit here serves the joint covariance).
    """
    names = list(job.dm.names)
    idx = [names.index(c) for c in _INTEREST]
    fit = fit_cells(job.dm, events, job.trials, job.family, _INTEREST)
    z = cluster_influence(fit, job.dm.X, job.codes, job.n_clusters, job.correction,
                          float(job.trials.sum()))
    se = np.full(len(names), np.nan)
    se[~np.asarray(fit.aliased)] = np.sqrt(np.einsum("ij,ij->i", z, z))
    rows = effect_rows(np.asarray(fit.params)[idx], se[idx])
    if reuse is not None:
        rows = reuse.table[list(rows.columns) + ["p_wild"]].reset_index(drop=True)
    else:
        rows["p_wild"] = _wild_pvalues(
            job.dm.X, events, job.trials, job.family, job.codes, fit, idx, job.draws,
            job.weights, job.seed, progress, job.statistic,
        )
    rows.insert(0, "estimand", list(ESTIMANDS))
    rows.insert(0, "destination", state)
    return _Fitted(fit, z, separation_signs(fit, job.dm.X, events, job.trials), rows)


def _model_cells(
    mf: pd.DataFrame, trials: np.ndarray, events: Mapping[str, np.ndarray], columns: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Cells summed over equal regressors (the likelihood's sufficient statistics).

    The SOF cells are keyed by spell week and exposure; the model sees week blocks and
    ``D``, so weeks 27-52 of a block and exposure patterns of the same ``D`` share a row:
    about a third fewer rows to fit, with the same estimates. Jobcentre is a key, so the
    cells still nest within clusters.
    """
    codes = [pd.factorize(mf[c], sort=True)[0].astype(np.int64) for c in columns]
    group, _ = group_codes(codes)
    n = int(group.max()) + 1 if len(group) else 0
    first = np.full(n, len(group), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(group), dtype=np.int64))
    out = mf.iloc[first][list(columns)].reset_index(drop=True)
    summed = {s: np.bincount(group, weights=e, minlength=n) for s, e in events.items()}
    return out, np.bincount(group, weights=trials, minlength=n), summed


def _design_groups(
    mf: pd.DataFrame,
    categorical: Sequence[str],
    trials: np.ndarray,
    events: Mapping[str, np.ndarray],
    states: Sequence[str],
) -> list[tuple[dict[str, object], list[str]]]:
    """The destinations grouped by the reference levels of their design."""
    groups: dict[tuple[object, ...], tuple[dict[str, object], list[str]]] = {}
    by_state = reference_levels_by(mf, categorical, trials, {s: events[s] for s in states})
    for s in states:
        refs = by_state[s]
        key = tuple(refs[c] for c in categorical)
        groups.setdefault(key, (refs, []))[1].append(s)
    return list(groups.values())


def _fit_all(
    job: _Job,
    states: list[str],
    events: Mapping[str, np.ndarray],
    reuse: Mapping[str, EffectsResult],
    parallel: bool,
    progress: bool | None,
) -> dict[str, _Fitted]:
    """Fit the destinations sharing one design; every second one in a forked process."""
    mine, theirs = states[0::2], states[1::2]
    forked = parallel and len(theirs) > 0 and fork_available()
    side = Background(
        lambda: {s: _fit_destination(job, s, events[s], reuse.get(s), False) for s in theirs},
        enabled=forked,
    )
    out = {s: _fit_destination(job, s, events[s], reuse.get(s), progress) for s in mine}
    out.update(side.result())
    return out


def _reusable(
    effects: EffectsResult | None, dm: SparseDesign, family: str, trials: np.ndarray
) -> EffectsResult | None:
    """The pooled effects if they are this design's employment model (no refit), else None."""
    if (
        effects is not None
        and effects.family == family
        and tuple(effects.fit.names) == tuple(dm.names)
        and effects.fit.n_trials == float(trials.sum())
    ):
        return effects
    return None


def destination_effects(
    study: StudyData | SOFCells,
    design: StudyDesign | None = None,
    *,
    covariates: Sequence[str] = (),
    family: Family = "cloglog",
    destinations: Sequence[str] | None = None,
    bootstrap_draws: int = 999,
    bootstrap_weights: Literal["rademacher", "webb"] = "rademacher",
    bootstrap_statistic: BootStatistic = "wald",
    seed: int = 0,
    correction: Literal["stata", "hc1", "none"] = "stata",
    progress: bool | None = None,
    effects: EffectsResult | None = None,
    parallel: bool = True,
) -> DestinationsResult:
    """Fit the default SOF model to every competing exit state, with a joint covariance.

    Parameters
    ----------
    study
        Validated study tables, or cells prepared by :func:`sofeval.analyses.sof_cells`
        (the cells of :func:`~sofeval.analyses.estimate_effects` serve as they are).
    design
        Panel rules (ignored when ``study`` is already :class:`SOFCells`).
    covariates
        Categorical covariates of every destination model.
    family
        ``cloglog`` (default) or ``logit``.
    destinations
        Exit states to model (default: every competing state with at least one exit).
        Counterfactual durations need every state with exits.
    bootstrap_draws, bootstrap_weights, seed
        Wild cluster score bootstrap of each destination's two effects. The estimand
        ``i`` (0 ex ante, 1 programme) uses ``seed + i`` in every destination, as
        :func:`~sofeval.analyses.estimate_effects` does, so the employment rows equal its
        table and the destinations share their cluster weights.
    bootstrap_statistic
        ``wald`` (restricted wild cluster bootstrap-t, the default, as for the pooled
        effects) or ``score`` (Kline-Santos); see :mod:`sofeval.models.bootstrap`.
    correction
        Small-sample factor of the clustered covariance (``stata``: G/(G-1)).
    progress
        Progress bars (default: only in an interactive terminal).
    effects
        The pooled effects of :func:`~sofeval.analyses.estimate_effects` on the same cells:
        when its design and family match, its fit is the employment model and its
        ``p_wild`` the employment rows' (no refit, no second bootstrap).
    parallel
        Fit every second destination in a forked process (:mod:`sofeval.runtime`); the
        results are identical either way.

    Returns
    -------
    DestinationsResult

    Raises
    ------
    EstimationError
        If none of the requested states has an exit.
    """
    check_option("family", family, ("cloglog", "logit"))
    check_option("correction", correction, CORRECTIONS)
    for d in destinations or ():
        check_option("destination", d, COMPETING_STATES)
    sc = study if isinstance(study, SOFCells) else sof_cells(
        study, design, covariates, progress=progress
    )
    covs = tuple(covariates)
    frame = sc.cells.frame
    categorical = ["week_block", "jobcentre", "month", *covs]
    wanted = [s for s in COMPETING_STATES if destinations is None or s in destinations]
    ev_col = {s: destination_event_column(s, sc.design.event_state) for s in wanted}
    skipped = tuple(s for s in wanted if frame[ev_col[s]].sum() == 0)
    fitted = [s for s in wanted if s not in skipped]
    if not fitted:
        raise EstimationError(
            f"spells: no exit to any of {', '.join(wanted)} in the estimation sample."
        )
    counts = _phase_counts(sc, {s: ev_col[s] for s in fitted})
    mf, trials, events = _model_cells(
        model_frame(sc, covs), frame["at_risk"].to_numpy(float),
        {s: frame[ev_col[s]].to_numpy(float) for s in fitted}, [*categorical, *_INTEREST],
    )
    dm = design_matrix(mf, categorical, _INTEREST, trials, csr=True)
    codes, jc_names = pd.factorize(mf["jobcentre"], sort=True)
    common = reference_levels(mf, categorical, trials, np.ones_like(trials))
    done: dict[str, _Fitted] = {}
    designs: dict[str, FittedDesign] = {}
    for refs, states in _design_groups(mf, categorical, trials, events, fitted):
        # one design matrix alive at a time
        dk = dm if refs == common else build_sparse_design(
            mf, categorical=categorical, numeric=_INTEREST, reference=refs
        )
        fd = fitted_design(dk, mf, categorical, _INTEREST)
        job = _Job(dk, trials, codes, len(jc_names), family, correction, bootstrap_draws,
                   bootstrap_weights, seed, bootstrap_statistic)
        pooled = _reusable(effects, dk, family, trials)
        reuse = {} if pooled is None else {s: pooled for s in states if ev_col[s] == "event"}
        done.update(_fit_all(job, states, events, reuse, parallel, progress))
        designs.update({s: fd for s in states})
        del dk, job
    tables = [done[s].rows.assign(n_spells=counts[s][0], n_events=counts[s][1])
              for s in fitted]
    table = pd.concat(tables, ignore_index=True)[list(DESTINATION_COLUMNS)]
    return DestinationsResult(
        table=table,
        fits={s: done[s].fit for s in fitted},
        designs={s: designs[s] for s in fitted},
        signs={s: done[s].signs for s in fitted},
        influence={s: done[s].influence for s in fitted},
        clusters=tuple(str(j) for j in jc_names),
        cells=sc,
        covariates=covs,
        family=family,
        correction=correction,
        skipped=skipped,
    )
