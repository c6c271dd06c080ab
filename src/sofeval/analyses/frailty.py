"""Mixed proportional hazards: the SOF model with discrete (Heckman–Singer) frailty.

The default SOF model (DESIGN.md §4) assumes that, given the regressors, spells are
homogeneous. When they are not (unobserved heterogeneity, "frailty"), the spells that
survive to week 8 are increasingly the low-hazard ones, and a treatment that raises
everyone's hazard changes the composition of the survivors: the estimated effect of a
model without frailty is attenuated towards zero (dynamic selection; see
``docs/frailty.md``).

This module fits the discrete-time cause-specific hazard with a spell-level
multiplicative frailty whose distribution has ``K`` mass points (Heckman and Singer
1984, the nonparametric maximum likelihood approach):

.. math::

    \\operatorname{cloglog} P(y_{it}=1 \\mid v_k) = x_{it}'\\beta + a_k, \\qquad
    P(v = v_k) = \\pi_k, \\quad k = 1..K,

with the default regressors :math:`x_{it}` of :mod:`sofeval.analyses.effects` (week blocks,
jobcentre, calendar month, optional covariates, ``D_early``, ``D_late``) and the
normalisation :math:`a_1 = 0` (the intercept is the location of the first point). The
marginal log-likelihood sums over spells
:math:`\\log \\sum_k \\pi_k \\exp \\ell_{ik}` with the per-spell log-likelihood
:math:`\\ell_{ik} = \\sum_t y_{it} \\log(1 - e^{-e_{itk}}) - (1 - y_{it}) e_{itk}`,
:math:`e_{itk} = \\exp(x_{it}'\\beta + a_k)`; the per-spell sums are ``np.bincount`` over
spell codes of the person-week panel.

Estimation
----------
1. ``K = 1`` (no frailty: the default model) by Fisher scoring on person-weeks;
2. EM (Heckman and Singer): E-step posterior weights :math:`w_{ik}` of each spell over
   the mass points; M-step :math:`\\pi_k = \\bar w_{\\cdot k}` in closed form and one
   Fisher-scoring step of the weighted cloglog GLM on (person-week, mass point) rows
   with weights :math:`w_{ik}` for :math:`(\\beta, a)` (a generalised EM step, with
   step halving so that the marginal log-likelihood never decreases);
3. Newton–Raphson on the marginal log-likelihood with the exact observed information
   (Louis 1982) to finish, falling back to EM steps whenever a Newton step does not
   increase the log-likelihood.

Standard errors
---------------
``observed``: the inverse of the observed information of the marginal likelihood in
all free parameters (:math:`\\beta`, :math:`a_{2..K}` and the logits of
:math:`\\pi_{2..K}`), computed analytically by Louis' formula

.. math::

    I(\\hat\\vartheta) = \\sum_i \\sum_k w_{ik} \\bigl(-\\nabla^2 \\ell^c_{ik}\\bigr)
        - \\sum_i \\Bigl(\\sum_k w_{ik} s_{ik} s_{ik}' - \\bar s_i \\bar s_i'\\Bigr),
    \\qquad \\bar s_i = \\sum_k w_{ik} s_{ik},

where :math:`\\ell^c_{ik}` and :math:`s_{ik}` are the complete-data log-likelihood and
score of spell ``i`` in class ``k``; the standard errors of ``D_early`` and ``D_late``
are taken from the full inverse (nuisance parameters are not held fixed). ``cluster``:
the sandwich :math:`I^{-1} (\\sum_g \\bar s_g \\bar s_g') I^{-1} \\cdot G/(G-1)` with the
marginal spell scores summed by jobcentre (the default inference of the SOF model).
Both ignore that ``K`` was chosen by the user; with too many points the information
becomes singular (points merge or get probability zero), which is reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.special import logsumexp

from sofeval.data import StudyData
from sofeval.errors import (
    ConvergenceWarning,
    EstimationError,
    NotIdentifiedWarning,
    OptionError,
    check_option,
)
from sofeval.models import aliased_columns
from sofeval.panel import Panel, StudyDesign, build_panel, week_block

__all__ = ["FRAILTY_COLUMNS", "FrailtyResult", "fit_npmle_frailty", "frailty_design"]

Vcov = Literal["observed", "cluster"]
VCOV_OPTIONS: tuple[str, ...] = ("observed", "cluster")
INTEREST: tuple[str, str] = ("D_early", "D_late")
ESTIMANDS: tuple[str, str] = ("ex_ante", "programme")
FRAILTY_COLUMNS: tuple[str, ...] = (
    "estimand",
    "coef",
    "se",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
)
#: Largest ``n_points`` accepted (more points are rarely identified in practice).
MAX_POINTS = 6
#: Linear predictors are clipped here before ``exp`` (a weekly hazard of 1 - e^-e^30).
_ETA_CLIP = 30.0
#: A mass point whose probability falls below this is reported as degenerate.
MIN_PROBABILITY = 1e-6


# --------------------------------------------------------------------------------------
# Design on the person-week panel
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrailtyDesign:
    """Sparse design of the default SOF model on person-week rows (internal).

    Attributes
    ----------
    X
        CSR matrix ``(n_rows, p)``: intercept, treatment-coded dummies (reference = the
        level with most person-weeks), ``D_early``, ``D_late``.
    names
        Column names (``Intercept``, ``week_block[05]``, ``jobcentre[Vejle]``, ...).
    y
        0/1 event (exit to employment) per row.
    spell
        Spell code (0..n_spells-1) of each row.
    cluster
        Jobcentre code of each spell.
    n_clusters
        Number of jobcentres.
    """

    X: sparse.csr_matrix
    names: tuple[str, ...]
    y: np.ndarray
    spell: np.ndarray
    cluster: np.ndarray
    n_clusters: int


def frailty_design(panel: Panel, covariates: Sequence[str] = ()) -> FrailtyDesign:
    """Build the sparse default-model design on the rows of a person-week panel.

    Parameters
    ----------
    panel
        Output of :func:`sofeval.panel.build.build_panel` (with the covariates as columns).
    covariates
        Categorical covariates (columns of ``panel.data``).

    Returns
    -------
    FrailtyDesign

    Raises
    ------
    OptionError
        If a covariate is not a column of the panel.
    EstimationError
        If the panel is empty.
    """
    data = panel.data
    missing = [c for c in covariates if c not in data.columns]
    if missing:
        raise OptionError(
            f"covariate(s) {', '.join(missing)} are not panel columns; build the panel with "
            f"build_panel(study, covariates=[...]) (panel columns: {', '.join(data.columns)})."
        )
    if len(data) == 0:
        raise EstimationError("panel: no person-weeks at risk; nothing to estimate.")
    week = data["week"].to_numpy().astype(np.int64)
    late = (week >= panel.design.phase_cut).astype(np.float64)
    d = data["D"].to_numpy().astype(np.float64)
    cats: dict[str, np.ndarray] = {
        "week_block": week_block(week),
        "jobcentre": data["jobcentre"].astype(str).to_numpy(),
        "month": data["month"].to_numpy(),
    }
    for c in covariates:
        cats[c] = data[c].astype(str).to_numpy()
    n = len(data)
    r_list: list[np.ndarray] = [np.arange(n)]
    c_list: list[np.ndarray] = [np.zeros(n, dtype=np.int64)]
    names: list[str] = ["Intercept"]
    j = 1
    for name, values in cats.items():
        codes, levels = pd.factorize(values, sort=True)
        if (codes < 0).any():
            raise EstimationError(
                f"panel: column {name!r} has {(codes < 0).sum()} missing values; fill or drop "
                "them (for example bin_covariates keeps missing values missing)."
            )
        ref = int(np.argmax(np.bincount(codes, minlength=len(levels))))
        pos = np.arange(len(levels)) - (np.arange(len(levels)) > ref)
        pos[ref] = -1
        cpos = pos[codes]
        sel = cpos >= 0
        r_list.append(np.flatnonzero(sel))
        c_list.append(j + cpos[sel])
        names.extend(f"{name}[{lv}]" for k, lv in enumerate(levels) if k != ref)
        j += len(levels) - 1
    v_list: list[np.ndarray] = [np.ones(r.size) for r in r_list]
    for col, v in (("D_early", d * (1 - late)), ("D_late", d * late)):
        nz = np.flatnonzero(v)
        r_list.append(nz)
        c_list.append(np.full(nz.size, j))
        v_list.append(v[nz])
        names.append(col)
        j += 1
    X = sparse.csr_matrix(
        (np.concatenate(v_list), (np.concatenate(r_list), np.concatenate(c_list))), shape=(n, j)
    )
    spell_codes, _ = pd.factorize(data["spell_id"].astype(str).to_numpy())
    jc_codes, jc_names = pd.factorize(data["jobcentre"].astype(str).to_numpy(), sort=True)
    n_spells = int(spell_codes.max()) + 1
    cluster = np.zeros(n_spells, dtype=np.int64)
    cluster[spell_codes] = jc_codes
    return FrailtyDesign(
        X=X,
        names=tuple(names),
        y=data["event"].to_numpy().astype(np.float64),
        spell=spell_codes.astype(np.int64),
        cluster=cluster,
        n_clusters=len(jc_names),
    )


# --------------------------------------------------------------------------------------
# Likelihood pieces
# --------------------------------------------------------------------------------------


def _row_terms(
    eta: np.ndarray, a: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row and mass point: log-likelihood, score factor g, observed h, Fisher weight.

    ``g = d loglik / d eta``; ``h = -d g / d eta``; Fisher weight ``e^2 / expm1(e)``.
    """
    e = np.exp(np.minimum(eta[:, None] + a[None, :], _ETA_CLIP))
    ev = y[:, None] > 0
    em1 = np.expm1(e)
    ll = np.where(ev, np.log(-np.expm1(-e)), -e)
    f = e / em1  # score of an event row
    g = np.where(ev, f, -e)
    with np.errstate(over="ignore", invalid="ignore"):
        h_ev = e * (e * np.exp(e) - em1) / (em1 * em1)
    h_ev = np.where(e < 1e-5, 0.5 * e, h_ev)
    h = np.where(ev, h_ev, e)
    fisher = e * f
    return ll, g, h, fisher


@dataclass
class _State:
    beta: np.ndarray
    a: np.ndarray  # length K, a[0] = 0
    c: np.ndarray  # logits, c[0] = 0


def _probabilities(c: np.ndarray) -> np.ndarray:
    return np.exp(c - logsumexp(c))


class _Model:
    """Marginal likelihood of the discrete-frailty cloglog model on person-weeks."""

    def __init__(self, X: sparse.csr_matrix, y: np.ndarray, spell: np.ndarray) -> None:
        self.X = X
        self.XT = X.T.tocsr()
        self.y = y
        self.spell = spell
        self.n_spells = int(spell.max()) + 1
        agg = sparse.csr_matrix(
            (np.ones(spell.size), (spell, np.arange(spell.size))),
            shape=(self.n_spells, spell.size),
        )
        self.agg = agg
        self.ev_rows = np.flatnonzero(y > 0)

    def loglik(self, st: _State) -> tuple[float, np.ndarray, np.ndarray]:
        """Marginal log-likelihood, posterior weights (n_spells, K) and ``eta``.

        Non-event rows contribute ``-exp(a_k) exp(eta)``, so their per-spell sum needs
        one ``exp`` per row whatever ``K``; only event rows are evaluated per point.
        """
        eta = self.X @ st.beta
        ev = self.ev_rows
        base = np.exp(np.minimum(eta, _ETA_CLIP))
        base[ev] = 0.0
        s_i = np.bincount(self.spell, weights=base, minlength=self.n_spells)
        ll = -s_i[:, None] * np.exp(st.a)[None, :]
        e_ev = np.exp(np.minimum(eta[ev][:, None] + st.a[None, :], _ETA_CLIP))
        ll[self.spell[ev]] += np.log(-np.expm1(-e_ev))
        lp = ll + np.log(_probabilities(st.c))[None, :]
        tot = logsumexp(lp, axis=1)
        w = np.exp(lp - tot[:, None])
        return float(tot.sum()), w, eta

    def em_step(
        self, st: _State, w: np.ndarray, eta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One Fisher-scoring step of the weighted M-step: (delta beta, delta a[1:])."""
        _, g, _, fisher = _row_terms(eta, st.a, self.y)
        wr = w[self.spell]  # (rows, K)
        k = st.a.size
        r = (wr * g).sum(axis=1)
        v = (wr * fisher).sum(axis=1)
        grad_b = self.XT @ r
        gram_b = (self.XT.multiply(v[None, :]) @ self.X).toarray()
        if k == 1:
            return _solve(gram_b, grad_b), np.zeros(0)
        wf = wr[:, 1:] * fisher[:, 1:]
        cross = np.asarray(self.XT @ wf)  # (p, K-1)
        grad_a = (wr[:, 1:] * g[:, 1:]).sum(axis=0)
        gram = np.block([[gram_b, cross], [cross.T, np.diag(wf.sum(axis=0))]])
        step = _solve(gram, np.concatenate([grad_b, grad_a]))
        return step[: gram_b.shape[0]], step[gram_b.shape[0] :]

    def score_information(
        self, st: _State, w: np.ndarray, eta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix]:
        """Marginal score, Louis observed information and per-spell marginal scores.

        Parameter order: beta (p), a[1:] (K-1), c[1:] (K-1).
        """
        _, g, h, _ = _row_terms(eta, st.a, self.y)
        k = st.a.size
        p = self.X.shape[1]
        pi = _probabilities(st.c)
        wr = w[self.spell]
        # expected complete-data information
        info_b = (self.XT.multiply((wr * h).sum(axis=1)[None, :]) @ self.X).toarray()
        blocks_s = []  # per class: sparse (n_spells, q) complete-data scores
        for j in range(k):
            sb = self.agg @ self.X.multiply(g[:, j][:, None]).tocsr()
            extra = np.zeros((self.n_spells, 2 * (k - 1)))
            if k > 1:
                if j >= 1:
                    extra[:, j - 1] = self.agg @ g[:, j]
                extra[:, k - 1 :] = -pi[None, 1:]
                if j >= 1:
                    extra[:, k - 1 + j - 1] += 1.0
            blocks_s.append(sparse.hstack([sb, sparse.csr_matrix(extra)]).tocsr())
        q = p + 2 * (k - 1)
        info = np.zeros((q, q))
        info[:p, :p] = info_b
        if k > 1:
            wh = wr[:, 1:] * h[:, 1:]
            cross = np.asarray(self.XT @ wh)
            info[:p, p : p + k - 1] = cross
            info[p : p + k - 1, :p] = cross.T
            info[p : p + k - 1, p : p + k - 1] = np.diag(wh.sum(axis=0))
            cov_pi = np.diag(pi[1:]) - np.outer(pi[1:], pi[1:])
            info[p + k - 1 :, p + k - 1 :] = self.n_spells * cov_pi
        sbar = sparse.csr_matrix((self.n_spells, q))
        second = np.zeros((q, q))
        for j in range(k):
            sj = blocks_s[j]
            wj = sparse.diags(w[:, j])
            second += (sj.T @ wj @ sj).toarray()
            sbar = sbar + wj @ sj
        sbar = sbar.tocsr()
        second -= (sbar.T @ sbar).toarray()
        info -= second
        score = np.asarray(sbar.sum(axis=0)).ravel()
        return score, info, sbar


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(np.linalg.solve(a, b))
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.lstsq(a, b, rcond=None)[0])


def _pack(st: _State) -> np.ndarray:
    return np.concatenate([st.beta, st.a[1:], st.c[1:]])


def _unpack(theta: np.ndarray, p: int, k: int) -> _State:
    return _State(
        beta=theta[:p].copy(),
        a=np.concatenate([[0.0], theta[p : p + k - 1]]),
        c=np.concatenate([[0.0], theta[p + k - 1 :]]),
    )


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrailtyResult:
    """SOF model with discrete frailty (immutable).

    Attributes
    ----------
    table
        ``estimand`` (ex_ante, programme), ``coef`` (log hazard ratio), ``se``,
        ``hazard_ratio``, 95 % ``ci_low``/``ci_high`` (hazard-ratio scale), ``p_value``;
        ``se`` is the one chosen by ``vcov``.
    params
        Every free parameter: ``term``, ``coef``, ``se`` (observed information),
        ``se_cluster``. Mass-point locations are ``mass_point[k]`` (``a_k``, with
        ``a_1 = 0``) and probability logits ``logit_pi[k]``.
    support
        One row per mass point: ``point``, ``location`` (``a_k`` minus its
        probability-weighted mean: the log-frailty), ``frailty`` (``exp`` of the location
        rescaled to mean one), ``probability``.
    loglik
        Marginal log-likelihood at the estimate.
    n_points
        Number of mass points ``K``.
    frailty_variance
        Variance of the mean-one frailty implied by the support (0 for ``K = 1``).
    vcov
        ``observed`` or ``cluster``.
    cov, cov_cluster
        Covariance matrices of the free parameters (order of ``params``).
    n_iter_em, n_iter_newton
        Iterations used.
    converged
        Whether the Newton decrement fell below the tolerance.
    gradient_norm
        Largest absolute score component at the estimate.
    n_spells, n_person_weeks, n_clusters
        Sample sizes.
    """

    table: pd.DataFrame
    params: pd.DataFrame
    support: pd.DataFrame
    loglik: float
    n_points: int
    frailty_variance: float
    vcov: str
    cov: np.ndarray = field(repr=False)
    cov_cluster: np.ndarray = field(repr=False)
    n_iter_em: int
    n_iter_newton: int
    converged: bool
    gradient_norm: float
    n_spells: int
    n_person_weeks: int
    n_clusters: int

    def to_frame(self) -> pd.DataFrame:
        """The effects table (a copy)."""
        return self.table.copy()

    tidy = to_frame

    def summary(self) -> str:
        """Text summary: effects, support of the frailty distribution, fit statistics."""
        head = (
            f"SOF programme effects with discrete frailty ({self.n_points} mass point(s), "
            f"cloglog; se: {self.vcov})\n"
            f"spells {self.n_spells:,}, person-weeks {self.n_person_weeks:,}, "
            f"log-likelihood {self.loglik:.3f}, implied frailty variance "
            f"{self.frailty_variance:.3f}, converged {self.converged}\n"
        )
        fmt = lambda v: f"{v:.4f}"  # noqa: E731
        return (
            head
            + self.table.to_string(index=False, float_format=fmt)
            + "\n\nSupport of the frailty distribution\n"
            + self.support.to_string(index=False, float_format=fmt)
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        fmt = lambda v: f"{v:.4f}"  # noqa: E731
        return (
            f"<p><b>SOF programme effects with discrete frailty</b> ({self.n_points} mass "
            f"point(s); log-likelihood {self.loglik:.3f})</p>"
            + self.table.to_html(index=False, float_format=fmt)
            + self.support.to_html(index=False, float_format=fmt)
        )


# --------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------


def _drop_separated(
    fd: FrailtyDesign,
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Set aside dummies without events (-inf) and collinear columns; returns kept rows/cols.

    Rows in the support of an event-free dummy contribute exactly zero to every
    likelihood in the limit ``beta -> -inf``, so they are removed (as
    :func:`sofeval.models.glm.fit_glm_cells` does on cells).
    """
    X = fd.X
    y = fd.y
    p = X.shape[1]
    is_dummy = np.array([not n.startswith("D_") and n != "Intercept" for n in fd.names])
    ev = np.asarray(X.T @ y).ravel()
    sep = is_dummy & (ev == 0)
    if sep.any():
        drop_rows = np.asarray(X[:, np.flatnonzero(sep)].sum(axis=1)).ravel() > 0
    else:
        drop_rows = np.zeros(X.shape[0], dtype=bool)
    rows = np.flatnonzero(~drop_rows)
    Xr = X[rows] if drop_rows.any() else X
    keep = ~sep
    alias = np.zeros(p, dtype=bool)
    sub = Xr[:, np.flatnonzero(keep)]
    gram = (sub.T @ sub).toarray()
    alias[np.flatnonzero(keep)] = aliased_columns(gram)
    cols = np.flatnonzero(keep & ~alias)
    return Xr[:, cols].tocsr(), rows, cols, sep, alias


def fit_npmle_frailty(
    data: StudyData | Panel,
    design: StudyDesign | None = None,
    *,
    covariates: Sequence[str] = (),
    n_points: int = 3,
    vcov: Vcov = "observed",
    max_em: int = 25,
    em_tol: float = 1e-7,
    newton_tol: float = 1e-9,
    max_newton: int = 50,
) -> FrailtyResult:
    """Fit the default SOF model with a discrete (mass-point) frailty distribution.

    Parameters
    ----------
    data
        Validated study tables (the person-week panel is built with ``design`` and
        ``covariates``) or a :class:`~sofeval.panel.build.Panel` holding the covariates.
    design
        Panel rules (ignored for a ``Panel``).
    covariates
        Categorical covariates of the hazard (continuous ones are binned by
        :func:`sofeval.panel.build.bin_covariates`).
    n_points
        Number of mass points ``K`` (1 = no frailty, the default model).
    vcov
        ``observed`` (inverse Louis observed information, default) or ``cluster``
        (sandwich clustered by jobcentre, factor ``G/(G-1)``) for the ``se`` column.
    max_em
        Maximum EM iterations before Newton–Raphson takes over.
    em_tol
        EM hands over to Newton when the log-likelihood gains less than
        ``em_tol * |loglik|`` in one iteration.
    newton_tol
        Convergence: Newton decrement ``g' I^{-1} g / 2`` below this.
    max_newton
        Maximum Newton–Raphson iterations.

    Returns
    -------
    FrailtyResult

    Raises
    ------
    OptionError
        For an invalid ``n_points`` or ``vcov``.
    EstimationError
        No person-weeks, no exits to employment or no non-exits.

    Warns
    -----
    NotIdentifiedWarning
        ``D_early``/``D_late`` not identified (no treated person-weeks or events), or a
        mass point with probability below :data:`MIN_PROBABILITY` (fewer points suffice).
    ConvergenceWarning
        Newton–Raphson did not reach ``newton_tol``.
    """
    check_option("vcov", vcov, VCOV_OPTIONS)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)):
        raise OptionError(f"n_points={n_points!r} must be an integer in 1..{MAX_POINTS}.")
    if not 1 <= n_points <= MAX_POINTS:
        raise OptionError(f"n_points={n_points} must lie in 1..{MAX_POINTS}.")
    panel = data if isinstance(data, Panel) else build_panel(data, design, covariates)
    fd = frailty_design(panel, covariates)
    if fd.y.sum() == 0:
        raise EstimationError("spells: no exit to employment in the estimation sample.")
    if fd.y.sum() == fd.y.size:
        raise EstimationError("spells: every person-week is an exit; the hazard is not estimable.")
    X, rows, cols, sep, alias = _drop_separated(fd)
    names_all = fd.names
    names = tuple(names_all[j] for j in cols)
    bad = [n for n in INTEREST if n not in names]
    if bad:
        warnings.warn(
            f"not identified (reported as NaN): {bad} (no treated person-weeks, no events, "
            "or collinear)",
            NotIdentifiedWarning,
            stacklevel=2,
        )
    y = fd.y[rows]
    spell_raw = fd.spell[rows]
    spell, spell_cats = pd.factorize(spell_raw, sort=True)
    cluster = fd.cluster[spell_cats]
    model = _Model(X, y, spell.astype(np.int64))
    p, k = X.shape[1], int(n_points)

    # 1. no frailty: Fisher scoring from the overall cloglog rate
    rate = y.mean()
    beta = np.zeros(p)
    beta[names.index("Intercept")] = np.log(-np.log1p(-rate))
    st = _State(beta=beta, a=np.zeros(1), c=np.zeros(1))
    ll, w, eta_ = model.loglik(st)
    for _ in range(50):
        db, _ = model.em_step(st, w, eta_)
        st, ll_new, w, eta_ = _halving(model, st, db, np.zeros(0), ll)
        done = ll_new - ll < 1e-10 * abs(ll)
        ll = ll_new
        if done:
            break

    # 2. EM over K mass points, started symmetrically around the K = 1 fit
    n_em = 0
    if k > 1:
        z = np.linspace(-1.0, 1.0, k) * 1.2
        beta = st.beta.copy()
        beta[names.index("Intercept")] += z[0]
        st = _State(beta=beta, a=z - z[0], c=np.zeros(k))
        ll, w, eta_ = model.loglik(st)
        for n_em in range(1, max_em + 1):  # noqa: B007
            pi = np.clip(w.mean(axis=0), 1e-300, None)
            st = _State(st.beta, st.a, np.log(pi) - np.log(pi[0]))
            ll_pi, w, eta_ = model.loglik(st)
            db, da = model.em_step(st, w, eta_)
            st, ll_new, w, eta_ = _halving(model, st, db, da, ll_pi)
            gain = ll_new - ll
            ll = ll_new
            if gain < em_tol * abs(ll) and n_em >= 5:
                break

    # 3. Newton-Raphson on the marginal likelihood with the Louis information
    n_newton = 0
    converged = False
    score, info, sbar = model.score_information(st, w, eta_)
    for n_newton in range(1, max_newton + 1):  # noqa: B007
        step = _solve(info, score)
        decrement = float(score @ step) / 2
        if np.isfinite(decrement) and 0 <= decrement < newton_tol:
            converged = True
            break
        theta = _pack(st)
        accepted = False
        t = 1.0
        if np.isfinite(decrement) and decrement > 0:
            for _ in range(20):
                cand = _unpack(theta + t * step, p, k)
                ll_c, w_c, eta_c = model.loglik(cand)
                if np.isfinite(ll_c) and ll_c >= ll - 1e-12 * abs(ll):
                    st, ll, w, eta_, accepted = cand, ll_c, w_c, eta_c, True
                    break
                t /= 2
        if not accepted:  # not a useful Newton direction here: one EM step instead
            pi = np.clip(w.mean(axis=0), 1e-300, None)
            st = _State(st.beta, st.a, np.log(pi) - np.log(pi[0]))
            ll_pi, w, eta_ = model.loglik(st)
            db, da = model.em_step(st, w, eta_)
            st, ll, w, eta_ = _halving(model, st, db, da, ll_pi)
        score, info, sbar = model.score_information(st, w, eta_)
    if not converged:
        warnings.warn(
            f"fit_npmle_frailty (K={k}) did not converge in {max_newton} Newton iterations "
            f"(largest score {np.max(np.abs(score)):.3g}); try fewer mass points.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return _result(
        model, st, ll, score, info, sbar, cluster, names, k, vcov, n_em, n_newton, converged,
        y, fd,
    )


def _halving(
    model: _Model, st: _State, db: np.ndarray, da: np.ndarray, ll: float
) -> tuple[_State, float, np.ndarray, np.ndarray]:
    """Take the step (halving it until the marginal log-likelihood does not decrease)."""
    t = 1.0
    for _ in range(30):
        cand = _State(st.beta + t * db, st.a + t * np.concatenate([[0.0], da]), st.c)
        ll_c, w_c, eta_c = model.loglik(cand)
        if np.isfinite(ll_c) and ll_c >= ll - 1e-12 * abs(ll):
            return cand, ll_c, w_c, eta_c
        t /= 2
    ll_o, w_o, eta_o = model.loglik(st)
    return st, ll_o, w_o, eta_o


def _inverse(info: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(np.linalg.inv(info))
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(info))


def _result(
    model: _Model,
    st: _State,
    ll: float,
    score: np.ndarray,
    info: np.ndarray,
    sbar: sparse.csr_matrix,
    cluster: np.ndarray,
    names: tuple[str, ...],
    k: int,
    vcov: str,
    n_em: int,
    n_newton: int,
    converged: bool,
    y: np.ndarray,
    fd: FrailtyDesign,
) -> FrailtyResult:
    pi = _probabilities(st.c)
    if k > 1 and pi.min() < MIN_PROBABILITY:
        warnings.warn(
            f"a mass point has probability {pi.min():.2g} (< {MIN_PROBABILITY}): the data "
            f"support fewer than {k} points; refit with n_points={k - 1}.",
            NotIdentifiedWarning,
            stacklevel=3,
        )
    cov = _inverse(info)
    n_g = int(cluster.max()) + 1 if cluster.size else 0
    s_g = np.asarray((sparse.csr_matrix(
        (np.ones(cluster.size), (cluster, np.arange(cluster.size))), shape=(n_g, cluster.size)
    ) @ sbar).toarray())
    g_eff = int(np.count_nonzero(np.abs(s_g).sum(axis=1) > 0))
    corr = g_eff / (g_eff - 1) if g_eff > 1 else np.nan
    cov_cl = corr * cov @ (s_g.T @ s_g) @ cov
    labels = [*names, *(f"mass_point[{j + 1}]" for j in range(1, k)),
             *(f"logit_pi[{j + 1}]" for j in range(1, k))]
    theta = _pack(st)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    se_cl = np.sqrt(np.clip(np.diag(cov_cl), 0, None))
    params = pd.DataFrame({"term": labels, "coef": theta, "se": se, "se_cluster": se_cl})
    chosen = se if vcov == "observed" else se_cl
    coef = np.array([theta[labels.index(n)] if n in labels else np.nan for n in INTEREST])
    sev = np.array([chosen[labels.index(n)] if n in labels else np.nan for n in INTEREST])
    z = stats.norm.ppf(0.975)
    with np.errstate(invalid="ignore", divide="ignore"):
        pval = 2 * stats.norm.sf(np.abs(coef / sev))
    table = pd.DataFrame(
        {
            "estimand": list(ESTIMANDS),
            "coef": coef,
            "se": sev,
            "hazard_ratio": np.exp(coef),
            "ci_low": np.exp(coef - z * sev),
            "ci_high": np.exp(coef + z * sev),
            "p_value": pval,
        }
    )
    loc = st.a - float(pi @ st.a)
    v = np.exp(st.a) / float(pi @ np.exp(st.a))
    support = pd.DataFrame(
        {"point": np.arange(1, k + 1), "location": loc, "frailty": v, "probability": pi}
    )
    return FrailtyResult(
        table=table,
        params=params,
        support=support,
        loglik=ll,
        n_points=k,
        frailty_variance=float(pi @ (v - 1) ** 2),
        vcov=vcov,
        cov=cov,
        cov_cluster=cov_cl,
        n_iter_em=n_em,
        n_iter_newton=n_newton,
        converged=converged,
        gradient_norm=float(np.max(np.abs(score))),
        n_spells=model.n_spells,
        n_person_weeks=int(y.size),
        n_clusters=n_g,
    )
