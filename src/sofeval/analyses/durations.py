"""Weeks and kroner: counterfactual benefit durations and destinations by g-computation.

DESIGN.md §4b. The programme spells ``P`` are the spells with ``D = 1``. For each, the
destination models (:func:`sofeval.analyses.destination_effects`) predict the hazard of every
exit state in every week from its entry week ``e_i`` to the horizon ``tau``, with the calendar
month of that week, once *with* the programme (``D`` as observed, i.e. 1) and once *without*
(``D = 0``). From them (:mod:`sofeval.analyses.gcomputation`):

* weeks on benefit within ``tau``: ``W_i = sum_{t=e_i..tau} S_i(t-1)``, and
  **weeks saved** = mean ``W`` without - mean ``W`` with;
* cumulative incidence of destination ``k`` by week ``w``:
  ``F_ik(w) = sum_{t=e_i..w} S_i(t-1) h_ik(t)``, with - without;

as means over ``P``, pooled (scope ``all``) and per programme jobcentre. The destination
models have one (pooled) effect per phase, so a jobcentre's row applies the pooled effects to
that jobcentre's programme spells (its baseline hazards, calendar months and entry weeks):
rows differ by composition, not by effect heterogeneity, which is the subject of
:func:`~sofeval.analyses.jobcentre_effects` (a clustered covariance cannot serve effects
identified by a single jobcentre). Standard errors are
delta-method from the joint clustered covariance of the destination models: the gradient of
each mean with respect to every model's parameters is computed analytically, and its
variance is ``sum_g (grad' Z)_g^2`` with the stacked cluster influence ``Z``
(:func:`sofeval.analyses.prediction.cluster_influence`); CIs are Wald intervals on the natural
scale. **Kroner saved** = weeks saved x ``benefit_per_week``.

Calendar months after the last month of the data (a spell predicted past the data end) take
the effect of the nearest month in the data. Parameters that a destination's data cannot
identify (a category without any exit of that kind) are held at their limit: the hazard there
is 0, with no sampling variance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import sparse, special

from sofeval.analyses.destinations import DestinationsResult, destination_event_column
from sofeval.analyses.gcomputation import (
    GCompGradients,
    Patterns,
    gcomp_sums,
)
from sofeval.analyses.prediction import (
    design_rows,
    hazard_slope,
    linear_predictor,
    prediction_rows,
    scope_influence,
)
from sofeval.data import COMPETING_STATES, StudyData
from sofeval.errors import EstimationError, OptionError, check_option
from sofeval.models import ResultsBase
from sofeval.panel import bin_covariates, group_codes, week_block
from sofeval.report import (
    Lang,
    destinations_stacked,
    incidence_curves,
    survival_curves,
    weeks_saved_forest,
)

__all__ = [
    "BENEFIT_PER_WEEK",
    "DURATION_COLUMNS",
    "DurationsResult",
    "INCIDENCE_COLUMNS",
    "REPORT_WEEKS",
    "counterfactual_durations",
]

#: Default weekly benefit in kroner: the maximum weekly sickness benefit (højeste
#: sygedagpengebeløb, sygedagpengeloven § 50, stk. 1) of 2018, 4,300 kr. per week
#: (Beskæftigelsesministeriet, "Satser for 2018", in force from 1 January 2018), the year of
#: 12 of the programme's 15 months (2019: 4,355 kr.). An upper bound per spell-week: the
#: benefit is 100 % of the wage up to this maximum.
BENEFIT_PER_WEEK = 4300.0
#: Weeks at which cumulative incidences are reported in summaries.
REPORT_WEEKS: tuple[int, ...] = (13, 26, 52)

DURATION_COLUMNS: tuple[str, ...] = (
    "scope",
    "tau_weeks",
    "n_spells",
    "weeks_with",
    "weeks_without",
    "weeks_saved",
    "se",
    "ci_low",
    "ci_high",
    "kroner_per_spell",
    "kroner_total",
)
INCIDENCE_COLUMNS: tuple[str, ...] = (
    "scope",
    "destination",
    "week",
    "with",
    "without",
    "difference",
    "se",
    "ci_low",
    "ci_high",
)
Table = Literal["durations", "incidence"]


@dataclass(frozen=True)
class DurationsResult(ResultsBase):
    """Counterfactual weeks on benefit and cumulative incidences (immutable).

    Attributes
    ----------
    durations
        One row per scope (``all``, then every programme jobcentre), columns
        :data:`DURATION_COLUMNS`; ``se`` and the CI refer to ``weeks_saved``.
    incidence
        One row per scope, destination and week ``1..tau``, columns
        :data:`INCIDENCE_COLUMNS`; ``difference`` = with - without, ``se`` and the CI refer
        to it.
    horizon
        ``tau`` in weeks.
    benefit_per_week
        Kroner per week on benefit used for the kroner columns.
    level
        Confidence level of the intervals.
    """

    durations: pd.DataFrame
    incidence: pd.DataFrame
    horizon: int
    benefit_per_week: float
    level: float = 0.95

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return (
            f"Weeks on sickness benefit within {self.horizon} weeks, programme spells with "
            "and without the programme (g-computation)"
        )

    def header(self) -> list[tuple[str, str]]:
        """Confidence intervals and the benefit per week."""
        return [
            ("CI", f"{self.level:.0%} of weeks saved, delta method, joint covariance "
                   "clustered by jobcentre"),
            ("benefit", f"{self.benefit_per_week:,.0f} kr. per week"),
        ]

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        """The pooled cumulative incidences at :data:`REPORT_WEEKS`."""
        inc = self.incidence_at()
        weeks = ", ".join(str(w) for w in REPORT_WEEKS)
        return [(f"Cumulative incidence by destination at weeks {weeks}, all programme "
                 "spells (difference = with - without)",
                 inc[inc["scope"] == "all"].reset_index(drop=True))]

    def to_frame(self, table: Table = "durations") -> pd.DataFrame:
        """A copy of one table: ``durations`` or ``incidence``.

        ``durations`` is ``duration_effects.csv``, ``incidence`` is
        ``cumulative_incidence.csv``.

        Parameters
        ----------
        table
            Which table.

        Returns
        -------
        pandas.DataFrame
        """
        check_option("table", table, ("durations", "incidence"))
        return (self.durations if table == "durations" else self.incidence).copy()

    def tidy(self, table: Table = "durations") -> pd.DataFrame:
        """Same as :meth:`to_frame`.

        Parameters
        ----------
        table
            ``durations`` or ``incidence``.

        Returns
        -------
        pandas.DataFrame
        """
        return self.to_frame(table)

    def incidence_at(self, weeks: Sequence[int] = REPORT_WEEKS) -> pd.DataFrame:
        """The cumulative incidences at the given weeks (those within the horizon)."""
        return self.incidence[self.incidence["week"].isin(list(weeks))].reset_index(drop=True)

    def plot(
        self,
        kind: Literal["incidence", "survival", "stacked", "weeks"] = "incidence",
        *,
        scope: str = "all",
        lang: Lang = "en",
        **kwargs: Any,
    ) -> Figure:
        """A figure of :mod:`sofeval.report.outcome_figures`.

        The report's figure functions build the whole house-style figure, so this
        replaces the base's ``plot`` rather than drawing in ``_draw``.

        Parameters
        ----------
        kind
            ``incidence`` (cumulative incidence per destination, with and without),
            ``survival`` (share still on benefit), ``stacked`` (destinations stacked) or
            ``weeks`` (weeks saved per jobcentre, a forest plot).
        scope
            ``all`` or a programme jobcentre (not used by ``weeks``).
        lang
            ``en`` or ``da``.
        **kwargs
            Passed to the figure function (e.g. ``ax`` for ``survival``).

        Returns
        -------
        matplotlib.figure.Figure
            A new figure, not registered with pyplot.
        """
        check_option("kind", kind, ("incidence", "survival", "stacked", "weeks"))
        if kind == "weeks":
            return weeks_saved_forest(self.durations, lang=lang, **kwargs)
        draw = {"incidence": incidence_curves, "survival": survival_curves,
                "stacked": destinations_stacked}[kind]
        return draw(self.incidence, scope=scope, lang=lang, **kwargs)


# --------------------------------------------------------------------------------------
# Patterns of programme spells and their prediction rows
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prediction:
    """Programme-spell patterns and the regressors of their prediction rows (both arms)."""

    patterns: Patterns
    scopes: tuple[str, ...]
    frames: dict[str, pd.DataFrame]


def _covariate_codes(
    dest: DestinationsResult, study: StudyData | None, index: pd.Index
) -> list[pd.Series]:
    """Binned covariates (as strings) of the programme spells, binned as the cells were."""
    if not dest.covariates:
        return []
    if study is None:
        raise OptionError(
            f"counterfactual_durations: the destination models have covariates "
            f"{list(dest.covariates)}; pass study= (the study the cells came from) so that "
            "each programme spell's covariates can be read."
        )
    used = dest.cells.spells.index
    binned = bin_covariates(study.spells.loc[used], list(dest.covariates))
    return [binned[c].astype(str).loc[index].reset_index(drop=True) for c in dest.covariates]


def _prediction(
    dest: DestinationsResult, study: StudyData | None, horizon: int
) -> _Prediction:
    """Group the programme spells into patterns and build their prediction rows."""
    sf = dest.cells.spells
    prog = sf[sf["D"].to_numpy().astype(int) == 1]
    if prog.empty:
        raise EstimationError(
            "spells: no programme spell (D = 1) in the cells; there is nothing to predict."
        )
    covs = _covariate_codes(dest, study, prog.index)
    jc_codes, scopes = pd.factorize(prog["jobcentre"].astype(str), sort=True)
    day = prog["absence_start"].to_numpy("datetime64[D]").astype(np.int64)
    entry = prog["entry_week"].to_numpy(np.int64)
    cov_levels = [pd.factorize(c, sort=True) for c in covs]
    inverse, uniq = group_codes(
        [jc_codes.astype(np.int64), day, entry, *(c[0].astype(np.int64) for c in cov_levels)]
    )
    levels = next(iter(dest.designs.values())).levels
    known = np.asarray([int(m) for m in levels["month"]], dtype=np.int64)
    p_jc, p_day, p_entry, p_covs = uniq[0], uniq[1], uniq[2], uniq[3:]
    pr = prediction_rows([p_jc, *p_covs], p_day, p_entry, horizon, known)
    frame = pd.DataFrame(
        {
            "jobcentre": np.asarray(scopes)[pr.keys[0]],
            "week_block": week_block(pr.week),
            "month": pr.month,
        }
    )
    for name, (_, lv), codes in zip(dest.covariates, cov_levels, pr.keys[1:], strict=True):
        frame[name] = np.asarray(lv)[codes]
    late = (pr.week >= dest.cells.design.phase_cut).astype(float)
    frames = {
        arm: frame.assign(D_early=d * (1.0 - late), D_late=d * late)
        for arm, d in (("with", 1.0), ("without", 0.0))
    }
    patterns = Patterns(rows=pr.rows, count=np.bincount(inverse).astype(float),
                        scope=p_jc.astype(np.int64), n_scopes=len(scopes))
    return _Prediction(patterns, tuple(str(s) for s in scopes), frames)


# --------------------------------------------------------------------------------------
# Hazards, means and the delta method
# --------------------------------------------------------------------------------------


def _design_rows(dest: DestinationsResult, frame: pd.DataFrame) -> dict[str, sparse.csr_matrix]:
    """Design rows of ``frame`` for every destination model (built once per distinct design)."""
    by_design: dict[int, sparse.csr_matrix] = {}
    out = {}
    for d in dest.destinations:
        fd = dest.designs[d]
        if id(fd) not in by_design:
            by_design[id(fd)] = design_rows(fd, frame)
        out[d] = by_design[id(fd)]
    return out


def _hazards(
    dest: DestinationsResult, x: dict[str, sparse.csr_matrix]
) -> tuple[np.ndarray, np.ndarray]:
    """``(K, n_rows)`` hazards and slopes of every destination model on its rows ``x[d]``."""
    hs, slopes = [], []
    for d in dest.destinations:
        eta = linear_predictor(np.asarray(dest.fits[d].params), dest.signs[d], x[d])
        h, s = hazard_slope(eta, dest.family)
        hs.append(h)
        slopes.append(s)
    return np.vstack(hs), np.vstack(slopes)


def _influence(
    dest: DestinationsResult,
    x: dict[str, sparse.csr_matrix],
    slopes: np.ndarray,
    grads: GCompGradients,
    n_scopes: int,
) -> np.ndarray:
    """``(n_scopes, 1 + K*tau, G)`` cluster influence of the scope sums of one arm.

    Quantity 0 is the weeks sum, quantity ``1 + k'*tau + (w-1)`` the incidence sum of
    destination ``k'`` by week ``w``; the influences of the destination models add up (their
    stacked influence is the joint covariance).
    """
    k_all = len(dest.destinations)
    n_rows, tau = grads.week.shape[0], grads.second.shape[2]
    out = np.zeros((n_scopes, 1 + k_all * tau, len(dest.clusters)))
    # the columns of grads.incidence(k): -second, plus `first` in destination k's block
    minus_second = -grads.second.reshape(n_rows, k_all * tau)
    upto = grads.week[:, None] <= np.arange(1, tau + 1)[None, :]
    first = np.where(upto, grads.first[:, None], 0.0)
    dsum = np.empty((n_rows, 1 + k_all * tau))
    for k, d in enumerate(dest.destinations):
        keep = np.flatnonzero(~np.asarray(dest.fits[d].aliased))
        dsum[:, 0] = grads.weeks
        dsum[:, 1:] = minus_second
        dsum[:, 1 + k * tau : 1 + (k + 1) * tau] += first
        dsum *= slopes[k][:, None]
        out += scope_influence(x[d][:, keep].tocsr(), dsum, grads.scope, n_scopes,
                               dest.influence[d])
    return out


def _interval(est: np.ndarray, psi: np.ndarray, level: float) -> tuple[np.ndarray, ...]:
    """Standard error and Wald interval from a cluster influence ``psi (..., G)``."""
    se = np.sqrt(np.einsum("...g,...g->...", psi, psi))
    z = special.ndtri(0.5 + level / 2)
    return se, est - z * se, est + z * se


def counterfactual_durations(
    dest: DestinationsResult,
    study: StudyData | None = None,
    *,
    horizon: int = 52,
    benefit_per_week: float = BENEFIT_PER_WEEK,
    level: float = 0.95,
) -> DurationsResult:
    """Weeks on benefit and cumulative incidences of the programme spells, with and without.

    Parameters
    ----------
    dest
        Destination models fitted to every competing exit state with exits
        (:func:`~sofeval.analyses.destination_effects` with the default ``destinations``).
    study
        The study the cells came from; needed only when the models have covariates.
    horizon
        ``tau``: weeks on benefit are counted up to this spell week (at most the
        design's ``max_weeks``).
    benefit_per_week
        Kroner per week on benefit (default :data:`BENEFIT_PER_WEEK`, the 2018 maximum
        weekly sickness benefit, 4,300 kr.).
    level
        Confidence level.

    Returns
    -------
    DurationsResult

    Raises
    ------
    OptionError
        If the horizon is outside ``1..max_weeks``, a state with exits has no model, or the
        design's treatment is ``calendar`` (``D`` not a property of the spell).
    EstimationError
        If there is no programme spell, or the predicted hazards of a week sum to 1 or more.
    """
    if dest.cells.design.treatment == "calendar":
        raise OptionError(
            "counterfactual_durations: treatment='calendar' lets D change within a spell; the "
            "g-computation needs a spell-level D (treatment 'week8' or 'spell_start')."
        )
    max_weeks = dest.cells.design.max_weeks
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or not (
        1 <= horizon <= max_weeks
    ):
        raise OptionError(
            f"horizon={horizon!r} must be a whole number of weeks in 1..{max_weeks} "
            "(the design's max_weeks: the models know no later week)."
        )
    if not (np.isfinite(benefit_per_week) and benefit_per_week >= 0):
        raise OptionError(f"benefit_per_week={benefit_per_week!r} must be a number >= 0.")
    if not 0 < level < 1:
        raise OptionError(f"level={level!r} must lie strictly between 0 and 1.")
    totals = dest.cells.cells.totals()
    missing = [
        s for s in COMPETING_STATES
        if s not in dest.fits
        and totals.get(destination_event_column(s, dest.cells.design.event_state), 0) > 0
    ]
    if missing:
        raise OptionError(
            f"counterfactual_durations: exit state(s) {missing} have exits but no model; "
            "fit destination_effects with every destination (destinations=None)."
        )
    pred = _prediction(dest, study, int(horizon))
    pats = pred.patterns
    n_spells = pats.n_spells()
    n_all = n_spells.sum()
    shares = n_spells / n_all
    est: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    psi: dict[str, np.ndarray] = {}
    for arm in ("with", "without"):
        x = _design_rows(dest, pred.frames[arm])
        hazard, slope = _hazards(dest, x)
        means, grads = gcomp_sums(hazard, pats)
        w = means.weeks / n_spells
        f = means.incidence / n_spells[:, None, None]
        pooled_f = np.einsum("j,jkw->kw", shares, f)[None]
        est[arm] = (np.r_[w @ shares, w], np.concatenate([pooled_f, f]))
        ps = _influence(dest, x, slope, grads, pats.n_scopes)
        ps /= n_spells[:, None, None]
        psi[arm] = np.concatenate([np.einsum("j,jqg->qg", shares, ps)[None], ps])
    scopes = ["all", *pred.scopes]
    counts = np.r_[n_all, n_spells].astype(np.int64)
    durations = _duration_table(est, psi, scopes, counts, int(horizon), benefit_per_week, level)
    incidence = _incidence_table(est, psi, scopes, dest.destinations, int(horizon), level)
    return DurationsResult(durations, incidence, int(horizon), float(benefit_per_week), level)


def _duration_table(
    est: dict[str, tuple[np.ndarray, np.ndarray]],
    psi: dict[str, np.ndarray],
    scopes: list[str],
    counts: np.ndarray,
    horizon: int,
    benefit: float,
    level: float,
) -> pd.DataFrame:
    """The duration_effects table."""
    w_with, w_without = est["with"][0], est["without"][0]
    saved = w_without - w_with
    se, lo, hi = _interval(saved, psi["without"][:, 0] - psi["with"][:, 0], level)
    return pd.DataFrame(
        {
            "scope": scopes,
            "tau_weeks": horizon,
            "n_spells": counts,
            "weeks_with": w_with,
            "weeks_without": w_without,
            "weeks_saved": saved,
            "se": se,
            "ci_low": lo,
            "ci_high": hi,
            "kroner_per_spell": saved * benefit,
            "kroner_total": saved * benefit * counts,
        }
    )[list(DURATION_COLUMNS)]


def _incidence_table(
    est: dict[str, tuple[np.ndarray, np.ndarray]],
    psi: dict[str, np.ndarray],
    scopes: list[str],
    destinations: Sequence[str],
    horizon: int,
    level: float,
) -> pd.DataFrame:
    """The cumulative_incidence table (scope x destination x week)."""
    f_with, f_without = est["with"][1], est["without"][1]
    n_s, k = len(scopes), len(destinations)
    diff = f_with - f_without
    d_psi = (psi["with"][:, 1:] - psi["without"][:, 1:]).reshape(n_s, k, horizon, -1)
    se, lo, hi = _interval(diff, d_psi, level)
    return pd.DataFrame(
        {
            "scope": np.repeat(scopes, k * horizon),
            "destination": np.tile(np.repeat(list(destinations), horizon), n_s),
            "week": np.tile(np.arange(1, horizon + 1), n_s * k),
            "with": f_with.ravel(),
            "without": f_without.ravel(),
            "difference": diff.ravel(),
            "se": se.ravel(),
            "ci_low": lo.ravel(),
            "ci_high": hi.ravel(),
        }
    )[list(INCIDENCE_COLUMNS)]
