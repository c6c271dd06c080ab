"""Mass-point (NPMLE, Heckman-Singer) frailty engine for discrete-time cloglog hazards.

Rows ``r`` (unit-periods at risk, e.g. person-weeks) belong to units ``i`` (e.g. spells);
a unit's hazard carries a multiplicative frailty with ``K`` mass points:

.. math::

    \\operatorname{cloglog} P(y_{r}=1 \\mid v_k) = x_{r}'\\beta + a_k, \\qquad
    P(v = v_k) = \\pi_k, \\quad k = 1..K,

normalised by :math:`a_1 = 0` (the intercept locates the first point). The marginal
log-likelihood sums over units :math:`\\log \\sum_k \\pi_k \\exp \\ell_{ik}` with
:math:`\\ell_{ik} = \\sum_{r \\in i} y_{r} \\log(1 - e^{-e_{rk}}) - (1 - y_{r}) e_{rk}`,
:math:`e_{rk} = \\exp(x_{r}'\\beta + a_k)`.

:func:`fit_mass_points` takes a sparse design and runs named steps:

1. set aside: indicator columns without events (their rows leave the likelihood, the
   limit ``beta -> -inf``) and columns collinear with earlier ones;
2. ``K = 1`` (no frailty) by Fisher scoring;
3. EM (Heckman and Singer): E-step posterior weights :math:`w_{ik}`; M-step
   :math:`\\pi_k = \\bar w_{\\cdot k}` in closed form and one Fisher-scoring step of the
   weighted cloglog GLM for :math:`(\\beta, a)` with step halving (a generalised EM step);
4. Newton-Raphson on the marginal log-likelihood with the exact observed information
   (Louis 1982), falling back to an EM step whenever a Newton step does not increase
   the log-likelihood;
5. covariances: the inverse Louis information

   .. math::

       I(\\hat\\vartheta) = \\sum_i \\sum_k w_{ik} \\bigl(-\\nabla^2 \\ell^c_{ik}\\bigr)
           - \\sum_i \\Bigl(\\sum_k w_{ik} s_{ik} s_{ik}' - \\bar s_i \\bar s_i'\\Bigr),
       \\qquad \\bar s_i = \\sum_k w_{ik} s_{ik},

   in every free parameter (:math:`\\beta`, :math:`a_{2..K}` and the logits of
   :math:`\\pi_{2..K}`), and the cluster sandwich
   :math:`I^{-1} (\\sum_g \\bar s_g \\bar s_g') I^{-1} \\cdot G/(G-1)` with the marginal unit
   scores summed by cluster.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import logsumexp

from sofeval.errors import ConvergenceWarning, EstimationError, NotIdentifiedWarning, OptionError
from sofeval.models.linalg import aliased_columns, group_sum

__all__ = ["MAX_POINTS", "MIN_PROBABILITY", "MassPointFit", "fit_mass_points"]

#: Largest ``n_points`` accepted (more points are rarely identified in practice).
MAX_POINTS = 6
#: Linear predictors are clipped here before ``exp`` (a weekly hazard of 1 - e^-e^30).
_ETA_CLIP = 30.0
#: A mass point whose probability falls below this is reported as degenerate.
MIN_PROBABILITY = 1e-6


@dataclass(frozen=True)
class MassPointFit:
    """A fitted mass-point frailty model (all arrays ``float64`` unless stated).

    Attributes
    ----------
    names
        Labels of the free parameters: the kept design columns, ``mass_point[k]``
        (``a_k``, ``k = 2..K``) and ``logit_pi[k]``.
    theta
        Estimates in the order of ``names``.
    cov, cov_cluster
        Inverse Louis information and cluster sandwich (order of ``names``).
    locations
        ``a_1..a_K`` (``a_1 = 0``).
    probabilities
        ``pi_1..pi_K``.
    loglik
        Marginal log-likelihood at the estimate.
    n_points
        ``K``.
    n_iter_em, n_iter_newton
        Iterations used.
    converged
        Whether the Newton decrement fell below the tolerance.
    gradient_norm
        Largest absolute score component at the estimate.
    n_units, n_rows, n_clusters
        Units, rows in the likelihood and clusters.
    columns
        Indices (``int``) of the design columns kept.
    separated, aliased
        Boolean masks over the design columns set aside.
    """

    names: tuple[str, ...]
    theta: np.ndarray
    cov: np.ndarray
    cov_cluster: np.ndarray
    locations: np.ndarray
    probabilities: np.ndarray
    loglik: float
    n_points: int
    n_iter_em: int
    n_iter_newton: int
    converged: bool
    gradient_norm: float
    n_units: int
    n_rows: int
    n_clusters: int
    columns: np.ndarray
    separated: np.ndarray
    aliased: np.ndarray

    @property
    def frailties(self) -> np.ndarray:
        """Mass points ``v_k = exp(a_k)`` rescaled to mean one."""
        v = np.exp(self.locations)
        return np.asarray(v / float(self.probabilities @ v))

    @property
    def frailty_variance(self) -> float:
        """Variance of the mean-one frailty (0 for ``K = 1``)."""
        return float(self.probabilities @ (self.frailties - 1) ** 2)

    def support(self) -> pd.DataFrame:
        """The support of the frailty distribution, one row per point.

        Columns ``point``, ``location`` (``a_k`` centred by its mean under ``pi``: the
        log-frailty), ``frailty`` (mean one) and ``probability``.
        """
        pi, a = self.probabilities, self.locations
        return pd.DataFrame(
            {
                "point": np.arange(1, self.n_points + 1),
                "location": a - float(pi @ a),
                "frailty": self.frailties,
                "probability": pi,
            }
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


@dataclass(frozen=True)
class _State:
    beta: np.ndarray
    a: np.ndarray  # length K, a[0] = 0
    c: np.ndarray  # logits, c[0] = 0


def _probabilities(c: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(c - logsumexp(c)))


class _Model:
    """Marginal likelihood of the discrete-frailty cloglog model on rows."""

    def __init__(self, X: sparse.csr_matrix, y: np.ndarray, unit: np.ndarray) -> None:
        self.X = X
        self.XT = X.T.tocsr()
        self.y = y
        self.spell = unit
        self.n_spells = int(unit.max()) + 1
        self.ev_rows = np.flatnonzero(y > 0)

    def loglik(self, st: _State) -> tuple[float, np.ndarray, np.ndarray]:
        """Marginal log-likelihood, posterior weights (n_units, K) and ``eta``.

        Non-event rows contribute ``-exp(a_k) exp(eta)``, so their per-unit sum needs
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

    def _complete_scores(self, g: np.ndarray, pi: np.ndarray, j: int) -> sparse.csr_matrix:
        """Complete-data scores of every unit in class ``j`` (sparse, n_units x q)."""
        k = pi.size
        sb = group_sum(
            self.X.multiply(g[:, j][:, None]).tocsr(), self.spell, self.n_spells, sparse_out=True
        )
        extra = np.zeros((self.n_spells, 2 * (k - 1)))
        if k > 1:
            if j >= 1:
                extra[:, j - 1] = group_sum(g[:, j], self.spell, self.n_spells)
            extra[:, k - 1 :] = -pi[None, 1:]
            if j >= 1:
                extra[:, k - 1 + j - 1] += 1.0
        return sparse.hstack([sb, sparse.csr_matrix(extra)]).tocsr()

    def score_information(
        self, st: _State, w: np.ndarray, eta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix]:
        """Marginal score, Louis observed information and per-unit marginal scores.

        Parameter order: beta (p), a[1:] (K-1), c[1:] (K-1).
        """
        _, g, h, _ = _row_terms(eta, st.a, self.y)
        k = st.a.size
        p = self.X.shape[1]
        pi = _probabilities(st.c)
        wr = w[self.spell]
        # expected complete-data information
        info_b = (self.XT.multiply((wr * h).sum(axis=1)[None, :]) @ self.X).toarray()
        blocks_s = [self._complete_scores(g, pi, j) for j in range(k)]
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


def _inverse(info: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(np.linalg.inv(info))
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(info))


def _pack(st: _State) -> np.ndarray:
    return np.concatenate([st.beta, st.a[1:], st.c[1:]])


def _unpack(theta: np.ndarray, p: int, k: int) -> _State:
    return _State(
        beta=theta[:p].copy(),
        a=np.concatenate([[0.0], theta[p : p + k - 1]]),
        c=np.concatenate([[0.0], theta[p + k - 1 :]]),
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


def _em_update(
    model: _Model, st: _State, w: np.ndarray
) -> tuple[_State, float, np.ndarray, np.ndarray]:
    """One generalised EM iteration: closed-form pi, then one halved scoring step."""
    pi = np.clip(w.mean(axis=0), 1e-300, None)
    st = _State(st.beta, st.a, np.log(pi) - np.log(pi[0]))
    ll_pi, w, eta = model.loglik(st)
    db, da = model.em_step(st, w, eta)
    return _halving(model, st, db, da, ll_pi)


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------


def _set_aside(
    X: sparse.csr_matrix, y: np.ndarray, separable: np.ndarray
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Set aside separable columns without events (-inf) and collinear columns.

    Rows in the support of an event-free indicator contribute exactly zero to every
    likelihood in the limit ``beta -> -inf``, so they are removed (as
    :func:`sofeval.models.glm.fit_glm_cells` does on cells). Returns the kept design, kept
    rows, kept columns and the separated and aliased masks.
    """
    p = X.shape[1]
    ev = np.asarray(X.T @ y).ravel()
    sep = separable & (ev == 0)
    if sep.any():
        drop_rows = np.asarray(X[:, np.flatnonzero(sep)].sum(axis=1)).ravel() > 0
    else:
        drop_rows = np.zeros(X.shape[0], dtype=bool)
    rows = np.flatnonzero(~drop_rows)
    Xr = X[rows] if drop_rows.any() else X
    keep = ~sep
    alias = np.zeros(p, dtype=bool)
    sub = Xr[:, np.flatnonzero(keep)]
    alias[np.flatnonzero(keep)] = aliased_columns((sub.T @ sub).toarray())
    cols = np.flatnonzero(keep & ~alias)
    return Xr[:, cols].tocsr(), rows, cols, sep, alias


def _fit_homogeneous(
    model: _Model, p: int, icpt: int
) -> tuple[_State, float, np.ndarray, np.ndarray]:
    """``K = 1``: Fisher scoring from the overall cloglog rate."""
    rate = model.y.mean()
    beta = np.zeros(p)
    beta[icpt] = np.log(-np.log1p(-rate))
    st = _State(beta=beta, a=np.zeros(1), c=np.zeros(1))
    ll, w, eta = model.loglik(st)
    for _ in range(50):
        db, _ = model.em_step(st, w, eta)
        st, ll_new, w, eta = _halving(model, st, db, np.zeros(0), ll)
        done = ll_new - ll < 1e-10 * abs(ll)
        ll = ll_new
        if done:
            break
    return st, ll, w, eta


def _em(
    model: _Model, st1: _State, k: int, icpt: int, max_em: int, em_tol: float
) -> tuple[_State, float, np.ndarray, np.ndarray, int]:
    """EM over ``K`` mass points, started symmetrically around the ``K = 1`` fit."""
    z = np.linspace(-1.0, 1.0, k) * 1.2
    beta = st1.beta.copy()
    beta[icpt] += z[0]
    st = _State(beta=beta, a=z - z[0], c=np.zeros(k))
    ll, w, eta = model.loglik(st)
    n_em = 0
    for n_em in range(1, max_em + 1):  # noqa: B007
        st, ll_new, w, eta = _em_update(model, st, w)
        gain = ll_new - ll
        ll = ll_new
        if gain < em_tol * abs(ll) and n_em >= 5:
            break
    return st, ll, w, eta, n_em


@dataclass(frozen=True)
class _NewtonOut:
    st: _State
    ll: float
    score: np.ndarray
    info: np.ndarray
    sbar: sparse.csr_matrix
    n_iter: int
    converged: bool


def _newton(
    model: _Model, st: _State, ll: float, w: np.ndarray, eta: np.ndarray, k: int,
    newton_tol: float, max_newton: int,
) -> _NewtonOut:
    """Newton-Raphson with the Louis information; an EM step where Newton does not help."""
    p = model.X.shape[1]
    n_newton = 0
    converged = False
    score, info, sbar = model.score_information(st, w, eta)
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
                    st, ll, w, eta, accepted = cand, ll_c, w_c, eta_c, True
                    break
                t /= 2
        if not accepted:  # not a useful Newton direction here: one EM step instead
            st, ll, w, eta = _em_update(model, st, w)
        score, info, sbar = model.score_information(st, w, eta)
    return _NewtonOut(st, ll, score, info, sbar, n_newton, converged)


def _check_options(n_points: int) -> None:
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)):
        raise OptionError(f"n_points={n_points!r} must be an integer in 1..{MAX_POINTS}.")
    if not 1 <= n_points <= MAX_POINTS:
        raise OptionError(f"n_points={n_points} must lie in 1..{MAX_POINTS}.")


def _indicator_columns(X: sparse.csr_matrix) -> np.ndarray:
    """Columns whose stored entries are all 1 and that have some zero (0/1 dummies)."""
    p = X.shape[1]
    not_one = np.bincount(X.indices[X.data != 1], minlength=p) > 0
    return np.asarray(~not_one & (np.bincount(X.indices, minlength=p) < X.shape[0]))


def fit_mass_points(
    X: sparse.spmatrix,
    y: np.ndarray,
    unit: np.ndarray,
    cluster: np.ndarray,
    *,
    n_points: int = 3,
    names: Sequence[str] | None = None,
    separable: np.ndarray | None = None,
    intercept: int = 0,
    max_em: int = 25,
    em_tol: float = 1e-7,
    newton_tol: float = 1e-9,
    max_newton: int = 50,
) -> MassPointFit:
    """Fit a discrete-time cloglog hazard with a ``K``-point frailty distribution.

    Parameters
    ----------
    X
        Sparse design ``(n_rows, p)`` with an intercept column.
    y
        0/1 event per row.
    unit
        Unit code (``0..n_units-1``) of each row; the frailty is shared within a unit.
    cluster
        Cluster code of each unit (indexed by ``unit`` codes), for the cluster sandwich.
    n_points
        Number of mass points ``K`` (1 = no frailty).
    names
        Column names (default ``x0, x1, ...``).
    separable
        Boolean mask of the columns checked for separation (default: every 0/1 column).
    intercept
        Column of the intercept.
    max_em
        Maximum EM iterations before Newton-Raphson takes over.
    em_tol
        EM hands over to Newton when the log-likelihood gains less than
        ``em_tol * |loglik|`` in one iteration.
    newton_tol
        Convergence: Newton decrement ``g' I^{-1} g / 2`` below this.
    max_newton
        Maximum Newton-Raphson iterations.

    Returns
    -------
    MassPointFit

    Raises
    ------
    OptionError
        ``n_points`` not an integer in ``1..MAX_POINTS``.
    EstimationError
        No events, no non-events, or the intercept set aside.

    Warns
    -----
    NotIdentifiedWarning
        A mass point with probability below :data:`MIN_PROBABILITY` (fewer points suffice).
    ConvergenceWarning
        Newton-Raphson did not reach ``newton_tol``.
    """
    _check_options(n_points)
    X = sparse.csr_matrix(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    p_all = X.shape[1]
    all_names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p_all))
    if y.sum() == 0:
        raise EstimationError("rows: no events in the estimation sample.")
    if y.sum() == y.size:
        raise EstimationError("rows: every row is an event; the hazard is not estimable.")
    mask = _indicator_columns(X) if separable is None else np.asarray(separable, dtype=bool)
    Xk, rows, cols, sep, alias = _set_aside(X, y, mask)
    if intercept not in cols:
        raise EstimationError(f"fit_mass_points: the intercept column {intercept} was set aside.")
    icpt = int(np.flatnonzero(cols == intercept)[0])
    yk = y[rows]
    unit_codes, unit_cats = pd.factorize(np.asarray(unit)[rows], sort=True)
    cl = np.asarray(cluster)[unit_cats]
    model = _Model(Xk, yk, unit_codes.astype(np.int64))
    k = int(n_points)

    st, ll, w, eta = _fit_homogeneous(model, Xk.shape[1], icpt)
    n_em = 0
    if k > 1:
        st, ll, w, eta, n_em = _em(model, st, k, icpt, max_em, em_tol)
    nt = _newton(model, st, ll, w, eta, k, newton_tol, max_newton)
    if not nt.converged:
        warnings.warn(
            f"fit_mass_points (K={k}) did not converge in {max_newton} Newton iterations "
            f"(largest score {np.max(np.abs(nt.score)):.3g}); try fewer mass points.",
            ConvergenceWarning,
            stacklevel=2,
        )
    labels = (*(all_names[j] for j in cols), *(f"mass_point[{j + 1}]" for j in range(1, k)),
              *(f"logit_pi[{j + 1}]" for j in range(1, k)))
    return _assemble(model, nt, cl, tuple(labels), n_em, cols, sep, alias)


def _assemble(
    model: _Model, nt: _NewtonOut, cl: np.ndarray, labels: tuple[str, ...], n_em: int,
    cols: np.ndarray, sep: np.ndarray, alias: np.ndarray,
) -> MassPointFit:
    """Covariances (Louis information and cluster sandwich) and the fit object."""
    k = nt.st.a.size
    pi = _probabilities(nt.st.c)
    if k > 1 and pi.min() < MIN_PROBABILITY:
        warnings.warn(
            f"a mass point has probability {pi.min():.2g} (< {MIN_PROBABILITY}): the data "
            f"support fewer than {k} points; refit with n_points={k - 1}.",
            NotIdentifiedWarning,
            stacklevel=3,
        )
    cov = _inverse(nt.info)
    n_g = int(cl.max()) + 1 if cl.size else 0
    s_g = np.asarray(group_sum(nt.sbar, cl, n_g))
    g_eff = int(np.count_nonzero(np.abs(s_g).sum(axis=1) > 0))
    corr = g_eff / (g_eff - 1) if g_eff > 1 else np.nan
    return MassPointFit(
        names=labels,
        theta=_pack(nt.st),
        cov=cov,
        cov_cluster=corr * cov @ (s_g.T @ s_g) @ cov,
        locations=nt.st.a,
        probabilities=pi,
        loglik=nt.ll,
        n_points=k,
        n_iter_em=n_em,
        n_iter_newton=nt.n_iter,
        converged=nt.converged,
        gradient_norm=float(np.max(np.abs(nt.score))),
        n_units=model.n_spells,
        n_rows=int(model.y.size),
        n_clusters=n_g,
        columns=cols,
        separated=sep,
        aliased=alias,
    )
