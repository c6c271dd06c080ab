"""Does the return last? Recurrence of sickness absence after a return to work.

DESIGN.md §4b. A *return* is a spell of the panel sample that ends in ``employment`` with its
``benefit_end`` on or before the data end. It *recurs* in week ``u = 1, 2, ...`` after the
return when the same person's next spell starts in that week, counted from the day after
``benefit_end``:

.. math:: u = \\lfloor (\\text{next absence\\_start} - \\text{benefit\\_end} - 1) / 7 \\rfloor + 1.

A return is followed while its weeks are complete by the data end (censored there) and for
at most ``max(horizons)`` weeks. The discrete-time hazard of recurrence by week since return,

.. math::

    g\\{r_i(u)\\} = \\alpha_{b(u)} + \\gamma_j + \\delta_{month(u)} + x_i'\\beta
        + \\theta_R D_i,

has 4-week baseline blocks :math:`b(u)` (:data:`RECURRENCE_BLOCK_WEEKS`; recurrences are
rarer than exits), jobcentre and calendar-month fixed effects and the spell's programme
indicator :math:`D_i`; it is fitted on cells (jobcentre x week x month x D x covariates)
built without expanding returns into person-weeks: returns that share jobcentre, ``D``, return
day and covariates share their calendar, so at-risk counts are reverse cumulative sums of
their last weeks.

G-computation over the programme returns (``D = 1``) predicts the probability of a recurrence
within ``h`` weeks, :math:`R_i(h) = 1 - \\prod_{u=1}^{h} (1 - r_i(u))`, with the programme
(``D = 1``) and without (``D = 0``), pooled and per programme jobcentre. It is the cumulative
incidence of a single destination, so it reuses :func:`sofeval.analyses.gcomputation.gcomp_sums`;
standard errors are delta-method from the model's covariance clustered by jobcentre.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import special

from sofeval.analyses.gcomputation import Patterns, gcomp_sums
from sofeval.analyses.prediction import (
    FittedDesign,
    cluster_influence,
    design_rows,
    fitted_design,
    hazard_slope,
    linear_predictor,
    month_of_days,
    prediction_rows,
    reference_levels,
    scope_influence,
    separation_signs,
)
from sofeval.analyses.specification import SOFCells, fit_cells
from sofeval.data import StudyData
from sofeval.errors import EstimationError, OptionError, check_option
from sofeval.models import CORRECTIONS, GLMFit, ResultsBase, build_sparse_design
from sofeval.panel import MAX_DENSE, StudyDesign, bin_covariates, group_codes, spell_frame
from sofeval.report import Lang, recurrence_curves

__all__ = [
    "RECURRENCE_BLOCK_WEEKS",
    "RECURRENCE_COLUMNS",
    "RECURRENCE_HORIZONS",
    "RecurrenceResult",
    "recurrence_effects",
    "return_spells",
]

#: Weeks since return per baseline block of the recurrence hazard.
RECURRENCE_BLOCK_WEEKS = 4
#: Default horizons (weeks since return) of the recurrence table.
RECURRENCE_HORIZONS: tuple[int, ...] = (26, 52)
RECURRENCE_COLUMNS: tuple[str, ...] = (
    "scope",
    "horizon_weeks",
    "n_returns",
    "recurrence_with",
    "recurrence_without",
    "difference",
    "se",
    "ci_low",
    "ci_high",
)


@dataclass(frozen=True)
class RecurrenceResult(ResultsBase):
    """Recurrence after a return to work, with and without the programme (immutable).

    Attributes
    ----------
    table
        One row per scope (``all``, then every programme jobcentre) and horizon, columns
        :data:`RECURRENCE_COLUMNS`; ``difference`` = with - without, ``se`` and the CI refer
        to it.
    curves
        The same for every week ``1..max(horizons)`` (columns as ``table``, ``horizon_weeks``
        running over all weeks).
    effect
        The programme's log hazard ratio of recurrence ``theta_R``: ``term, coef, se,
        hazard_ratio, ci_low, ci_high, p_value``.
    fit
        The recurrence model on cells.
    n_returns, n_recurrences, n_person_weeks, n_cells
        Returns followed, recurrences observed within the horizon, person-weeks at risk and
        cells of the model.
    """

    table: pd.DataFrame
    curves: pd.DataFrame = field(repr=False)
    effect: pd.DataFrame
    fit: GLMFit = field(repr=False)
    n_returns: int = 0
    n_recurrences: int = 0
    n_person_weeks: int = 0
    n_cells: int = 0

    title = (
        "Recurrence of sickness absence after a return to work: probability of a new spell "
        "within h weeks, programme returns with and without the programme (g-computation; "
        "CI of the difference, clustered by jobcentre)"
    )

    def header(self) -> list[tuple[str, str]]:
        """Sizes of the recurrence model."""
        return [
            ("returns", f"{self.n_returns:,}"),
            ("recurrences", f"{self.n_recurrences:,}"),
            ("person-weeks", f"{self.n_person_weeks:,}"),
            ("cells", f"{self.n_cells:,}"),
        ]

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        """The programme's hazard ratio of recurrence."""
        return [("Programme effect on the discrete-time hazard of recurrence by week since "
                 "return (theta_R, log hazard ratio)", self.effect)]

    def to_frame(self) -> pd.DataFrame:
        """The recurrence table (a copy; columns :data:`RECURRENCE_COLUMNS`)."""
        return self.table.copy()

    def plot(self, *, scope: str = "all", lang: Lang = "en", **kwargs: Any) -> Figure:
        """Probability of recurrence by week since return, with and without the programme.

        The report's figure function builds the whole house-style figure, so this
        replaces the base's ``plot`` rather than drawing in ``_draw``.

        Parameters
        ----------
        scope
            ``all`` or a programme jobcentre.
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.recurrence_curves`.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure, not registered with pyplot.
        """
        return recurrence_curves(self.curves, scope=scope, lang=lang, **kwargs)


def return_spells(
    study: StudyData,
    design: StudyDesign | None = None,
    horizon: int = 52,
    *,
    cells: SOFCells | None = None,
) -> pd.DataFrame:
    """Every return to work of the panel sample with its follow-up.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules (sample, treatment ``D``, data end); ignored when ``cells`` is given.
    horizon
        Weeks since return followed at most.
    cells
        Cells of the same study (:func:`sofeval.analyses.sof_cells`): their spell frame
        gives the sample and ``D`` without recomputing it.

    Returns
    -------
    pandas.DataFrame
        One row per return (index as ``study.spells``): ``spell_id``, ``person_id``,
        ``jobcentre``, ``D``, ``return_day`` (days since 1970-01-01 of the day after
        ``benefit_end``), ``last_week`` (last complete week followed, 0 when none) and
        ``recurred`` (1 when the next spell of the person starts in ``last_week``).
    """
    spells = study.spells
    if cells is not None:
        design, used = cells.design, cells.spells
    else:
        design = design or StudyDesign()
        sf = spell_frame(spells, study.programme, design, design.resolve_data_end(study))
        used = sf[sf["reason"].isna().to_numpy()]
    data_end = design.resolve_data_end(study)
    end_day = int(np.datetime64(pd.Timestamp(data_end).normalize(), "D").astype(np.int64))
    pos = spells.index.get_indexer(used.index)
    be = pd.to_datetime(spells["benefit_end"]).to_numpy("datetime64[D]")[pos]
    closed = ~np.isnat(be)
    be_day = np.where(closed, be.astype(np.int64), 0)
    employment = (spells["exit_state"] == "employment").to_numpy()[pos]
    keep = employment & closed & (be_day <= end_day)
    # the next spell of every person (any spell of the study; a person's spells do not overlap)
    person, _ = pd.factorize(spells["person_id"])
    start = pd.to_datetime(spells["absence_start"]).to_numpy("datetime64[D]").astype(np.int64)
    order = _person_start_order(person, start)
    same = np.r_[person[order][1:] == person[order][:-1], False]
    nxt = np.full(len(spells), -1, dtype=np.int64)
    nxt[order] = np.where(same, np.r_[start[order][1:], 0], -1)
    ret = pos[keep]
    return_day = be_day[keep] + 1
    follow = np.minimum((end_day - return_day + 1) // 7, horizon)
    has_next = nxt[ret] >= 0
    u_next = np.maximum(nxt[ret] - return_day, 0) // 7 + 1
    recurred = has_next & (u_next <= follow)
    last = np.where(recurred, u_next, np.maximum(follow, 0))
    return pd.DataFrame(
        {
            "spell_id": used["spell_id"].to_numpy()[keep],
            "person_id": spells["person_id"].astype(str).to_numpy()[ret],
            "jobcentre": used["jobcentre"].astype(str).to_numpy()[keep],
            "D": used["D"].to_numpy()[keep].astype(np.int8),
            "return_day": return_day,
            "last_week": last.astype(np.int64),
            "recurred": recurred.astype(np.int8),
        },
        index=spells.index[ret],
    )


def _person_start_order(person: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Spells ordered by person, then start day (ties in row order): ``np.lexsort`` order.

    One stable argsort of the key ``person * span + start`` when it fits ``int64`` (several
    times faster than a two-key lexsort), else the lexsort.
    """
    if start.size == 0 or np.isnat(start.view("datetime64[D]")).any():
        return np.lexsort((start, person))
    lo = int(start.min())
    span = int(start.max()) - lo + 1
    if (int(person.max()) + 1) * span >= 2**62:
        return np.lexsort((start, person))
    return np.argsort(person.astype(np.int64) * span + (start - lo), kind="stable")


def _block(week: np.ndarray) -> np.ndarray:
    """Label of the 4-week baseline block of each week since return (``01-04``, ...)."""
    a = (np.asarray(week) - 1) // RECURRENCE_BLOCK_WEEKS * RECURRENCE_BLOCK_WEEKS + 1
    top = int(a.max()) if a.size else 1
    labels = np.array(
        [f"{s:02d}-{s + RECURRENCE_BLOCK_WEEKS - 1:02d}" for s in range(1, top + 1)], dtype=object
    )
    return np.asarray(labels[a - 1])


def _recurrence_cells(
    ret: pd.DataFrame, cov: list[pd.Series], horizon: int
) -> pd.DataFrame:
    """Events and returns at risk per jobcentre, week block, calendar month, D, covariates.

    ``week`` is the first week of the cell's 4-week block. Returns are grouped into paths
    (jobcentre, ``D``, covariates and return day share their calendar); a path's at-risk
    counts are reverse cumulative sums of its last weeks, and every (path, week) falls in
    the cell with one integer key (group x block x month), summed with a bincount.
    """
    jc_codes, jcs = pd.factorize(ret["jobcentre"], sort=True)
    cov_levels = [pd.factorize(c, sort=True) for c in cov]
    group, guniq = group_codes(
        [jc_codes.astype(np.int64), ret["D"].to_numpy(np.int64),
         *(c[0].astype(np.int64) for c in cov_levels)]
    )
    n_group = len(guniq[0])
    day = ret["return_day"].to_numpy(np.int64)
    day0 = int(day.min()) if day.size else 0
    path, puniq = group_codes([group, day - day0])
    n_path = len(puniq[0])
    last = ret["last_week"].to_numpy(np.int64)
    ends = np.bincount(path * (horizon + 1) + last, minlength=n_path * (horizon + 1))
    # column j of ``at_risk`` is week ``horizon - j`` (no copy back into week order)
    at_risk = np.cumsum(ends.reshape(n_path, horizon + 1)[:, :0:-1], axis=1)
    week0 = np.arange(horizon - 1, -1, -1, dtype=np.int64)  # 0-based week of each column
    # calendar month of every day a week can start on, as offsets from the first
    table = month_of_days(np.arange(day0, day0 + int(puniq[1].max(initial=0)) + 7 * horizon))
    m0 = int(table[0]) if table.size else 0
    table = table - m0
    n_month = int(table.max(initial=0)) + 1
    n_block = (horizon - 1) // RECURRENCE_BLOCK_WEEKS + 1
    radix = n_block * n_month
    key = table[puniq[1][:, None] + 7 * week0[None, :]]
    key += puniq[0][:, None] * radix + (week0 // RECURRENCE_BLOCK_WEEKS * n_month)[None, :]
    rec = ret["recurred"].to_numpy() == 1
    ev_week0 = last[rec] - 1
    ev_key = (group[rec] * radix + ev_week0 // RECURRENCE_BLOCK_WEEKS * n_month
              + table[day[rec] - day0 + 7 * ev_week0])
    size = n_group * radix
    if size <= MAX_DENSE:  # present cells: at-risk counts are non-negative
        trials = np.bincount(key.ravel(), weights=at_risk.ravel(), minlength=size)
        present = np.flatnonzero(trials > 0)
        trials = trials[present]
        events = np.bincount(ev_key, minlength=size)[present].astype(float)
    else:
        present, inverse = np.unique(key.ravel(), return_inverse=True)
        trials = np.bincount(inverse, weights=at_risk.ravel(), minlength=len(present))
        keep = trials > 0
        present, trials = present[keep], trials[keep]
        events = np.bincount(np.searchsorted(present, ev_key), minlength=len(present))
        events = events.astype(float)
    g, rest = np.divmod(present, radix)
    block, month = np.divmod(rest, n_month)
    # cells in the order of the grouping of (jobcentre, block, month, D, covariates)
    cols = [guniq[0][g], block, month + m0, guniq[1][g], *(c[g] for c in guniq[2:])]
    order = np.argsort(group_codes(cols)[0], kind="stable")
    cols = [c[order] for c in cols]
    frame = pd.DataFrame(
        {
            "jobcentre": np.asarray(jcs)[cols[0]],
            "week": cols[1] * RECURRENCE_BLOCK_WEEKS + 1,  # first week of the block
            "month": cols[2],
            "D": cols[3].astype(float),
        }
    )
    for (_, lv), name, codes in zip(cov_levels, [c.name for c in cov], cols[4:], strict=True):
        frame[str(name)] = np.asarray(lv)[codes]
    frame["at_risk"] = trials[order]
    frame["event"] = events[order]
    frame["week_block"] = _block(frame["week"].to_numpy())
    return frame.sort_values(["jobcentre", "week", "month", "D"], kind="stable").reset_index(
        drop=True
    )


def recurrence_effects(
    study: StudyData,
    design: StudyDesign | None = None,
    *,
    horizons: Sequence[int] = RECURRENCE_HORIZONS,
    covariates: Sequence[str] = (),
    family: Literal["cloglog", "logit"] = "cloglog",
    correction: Literal["stata", "hc1", "none"] = "stata",
    level: float = 0.95,
    cells: SOFCells | None = None,
) -> RecurrenceResult:
    """Probability of a new spell within h weeks of a return to work, with and without.

    Parameters
    ----------
    study
        Validated study tables (all spells: a recurrence may be any later spell of the
        person).
    design
        Panel rules (default :class:`~sofeval.panel.StudyDesign`): the sample of returns,
        ``D`` and the data end.
    horizons
        Weeks since return at which the recurrence probability is reported.
    covariates
        Spell covariates of the recurrence model (binned as in the panel).
    family
        ``cloglog`` (default) or ``logit``.
    correction
        Small-sample factor of the clustered covariance.
    level
        Confidence level.
    cells
        Cells of the same study and design (:func:`sofeval.analyses.sof_cells`): their
        spell frame gives the sample and ``D`` without recomputing it.

    Returns
    -------
    RecurrenceResult

    Raises
    ------
    OptionError
        For a horizon outside 1..104 weeks or a bad option.
    EstimationError
        Without returns, recurrences or programme returns.
    """
    check_option("family", family, ("cloglog", "logit"))
    check_option("correction", correction, CORRECTIONS)
    hs = sorted({int(h) for h in horizons})
    if not hs or hs[0] < 1 or hs[-1] > 104:
        raise OptionError(f"horizons={list(horizons)!r} must be weeks in 1..104.")
    if not 0 < level < 1:
        raise OptionError(f"level={level!r} must lie strictly between 0 and 1.")
    horizon = hs[-1]
    ret = return_spells(study, design, horizon, cells=cells)
    if ret.empty:
        raise EstimationError("spells: no spell ends in employment; there is no return to follow.")
    covs = list(covariates)
    binned = (
        bin_covariates(study.spells.loc[ret.index], covs) if covs else pd.DataFrame(index=ret.index)
    )
    cov = [binned[c].astype(str).rename(c) for c in covs]
    followed = ret["last_week"].to_numpy() >= 1
    rc = _recurrence_cells(ret[followed], [c[followed] for c in cov], horizon)
    events, trials = rc["event"].to_numpy(float), rc["at_risk"].to_numpy(float)
    if events.sum() == 0:
        raise EstimationError(
            f"spells: no return to work is followed by a new spell within {horizon} weeks; "
            "the recurrence hazard cannot be estimated."
        )
    categorical = ["week_block", "jobcentre", "month", *covs]
    cells_str = rc.assign(**{c: rc[c].astype(str) for c in categorical if c != "month"})
    refs = reference_levels(cells_str, categorical, trials, events)
    dm = build_sparse_design(
        cells_str, categorical=categorical, numeric=["D"], reference=refs
    )
    fit = fit_cells(dm, events, trials, family, ("D",))
    codes, jc_names = pd.factorize(rc["jobcentre"], sort=True)
    z = cluster_influence(fit, dm.X, codes, len(jc_names), correction, float(trials.sum()))
    fd = fitted_design(dm, cells_str, categorical, ["D"])
    effect = _effect_row(fit, z, level)
    prog = ret["D"].to_numpy() == 1
    if not prog.any():
        raise EstimationError("spells: no programme return (D = 1) to predict for.")
    curves = _gcomputation(
        ret[prog], [c[prog] for c in cov], fit, z, fd, separation_signs(fit, dm.X, events, trials),
        family, horizon, level,
    )
    table = curves[curves["horizon_weeks"].isin(hs)].reset_index(drop=True)
    return RecurrenceResult(
        table=table,
        curves=curves,
        effect=effect,
        fit=fit,
        n_returns=int(followed.sum()),
        n_recurrences=int(events.sum()),
        n_person_weeks=int(trials.sum()),
        n_cells=len(rc),
    )


def _effect_row(fit: GLMFit, z: np.ndarray, level: float) -> pd.DataFrame:
    """The log hazard ratio of recurrence of the programme (``D``)."""
    keep = ~np.asarray(fit.aliased)
    k = list(fit.names).index("D")
    coef = float(np.asarray(fit.params)[k])
    se = float(np.sqrt(z[int(keep[:k].sum())] @ z[int(keep[:k].sum())])) if keep[k] else np.nan
    q = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore", over="ignore"):
        return pd.DataFrame(
            {
                "term": ["D"],
                "coef": [coef],
                "se": [se],
                "hazard_ratio": [np.exp(coef)],
                "ci_low": [np.exp(coef - q * se)],
                "ci_high": [np.exp(coef + q * se)],
                "p_value": [2 * special.ndtr(-abs(coef / se))],
            }
        )


def _gcomputation(
    ret: pd.DataFrame,
    cov: list[pd.Series],
    fit: GLMFit,
    z: np.ndarray,
    fd: FittedDesign,
    signs: np.ndarray,
    family: str,
    horizon: int,
    level: float,
) -> pd.DataFrame:
    """Recurrence curves of the programme returns with and without, pooled and per jobcentre."""
    jc_codes, scopes = pd.factorize(ret["jobcentre"], sort=True)
    cov_levels = [pd.factorize(c, sort=True) for c in cov]
    inverse, uniq = group_codes(
        [jc_codes.astype(np.int64), ret["return_day"].to_numpy(np.int64),
         *(c[0].astype(np.int64) for c in cov_levels)]
    )
    known = np.asarray([int(m) for m in fd.levels["month"]], dtype=np.int64)
    pr = prediction_rows([uniq[0], *uniq[2:]], uniq[1], np.ones(len(uniq[0]), np.int64),
                         horizon, known)
    pats = Patterns(rows=pr.rows, count=np.bincount(inverse).astype(float),
                    scope=uniq[0].astype(np.int64), n_scopes=len(scopes))
    frame = pd.DataFrame({"jobcentre": np.asarray(scopes)[pr.keys[0]],
                          "week_block": _block(pr.week), "month": pr.month})
    for c, (_, lv), codes in zip(cov, cov_levels, pr.keys[1:], strict=True):
        frame[str(c.name)] = np.asarray(lv)[codes]
    n = pats.n_spells()
    shares = n / n.sum()
    keep = np.flatnonzero(~np.asarray(fit.aliased))
    est, psi = {}, {}
    for arm, d in (("with", 1.0), ("without", 0.0)):
        x = design_rows(fd, frame.assign(D=d))
        h, slope = hazard_slope(linear_predictor(np.asarray(fit.params), signs, x), family)
        means, grads = gcomp_sums(h[None], pats)  # the survival paths once for both
        r = means.incidence[:, 0, :] / n[:, None]  # (scopes, H)
        dsum = grads.incidence(0)[:, 0, :] * slope[:, None]
        ps = scope_influence(x[:, keep].tocsr(), dsum, grads.scope, pats.n_scopes, z)
        ps /= n[:, None, None]
        est[arm] = np.vstack([shares @ r, r])
        psi[arm] = np.concatenate([np.einsum("j,jqg->qg", shares, ps)[None], ps])
    diff = est["with"] - est["without"]
    d_psi = psi["with"] - psi["without"]
    se = np.sqrt(np.einsum("sqg,sqg->sq", d_psi, d_psi))
    q = special.ndtri(0.5 + level / 2)
    labels = ["all", *(str(s) for s in scopes)]
    counts = np.r_[n.sum(), n].astype(np.int64)
    return pd.DataFrame(
        {
            "scope": np.repeat(labels, horizon),
            "horizon_weeks": np.tile(np.arange(1, horizon + 1), len(labels)),
            "n_returns": np.repeat(counts, horizon),
            "recurrence_with": est["with"].ravel(),
            "recurrence_without": est["without"].ravel(),
            "difference": diff.ravel(),
            "se": se.ravel(),
            "ci_low": (diff - q * se).ravel(),
            "ci_high": (diff + q * se).ravel(),
        }
    )[list(RECURRENCE_COLUMNS)]
