"""Randomisation inference for the pooled SOF effects (score-based, one restricted fit).

Under Fisher's sharp null of no programme effect the programme windows are re-assigned at
random across all jobcentres and the cluster-robust score statistic of the restricted
model (no programme terms) is recomputed for every draw. Because the restricted model
does not depend on the assignment, one fit serves all draws; each draw costs
O(jobcentres x parameters) (:func:`ri_statistics`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sofeval.analyses.specification import (
    ESTIMANDS,
    ScoreParts,
    SOFCells,
    base_categorical,
    design_matrix,
    fit_cells,
    model_arrays,
    score_parts,
)
from sofeval.models import Family, group_sum, permutation_pvalue

__all__ = ["RI_BATCH", "randomization_test", "ri_statistics"]

#: Permutations whose statistics are computed in one array operation (bounds the memory
#: of the R x G x p intermediate).
RI_BATCH = 200


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


def _window_sums(
    parts: ScoreParts,
    exposure: np.ndarray,
    phase_rows: np.ndarray,
    jc_codes: np.ndarray,
    n_g: int,
    n_win: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Score sums ``a`` (G x K+1) and weighted design sums ``big_a`` (G x K+1 x p).

    Window k's column sums jobcentre g's cells of the phase (``phase_rows``) whose exposure
    bitmask has bit k set; column K (not treated) stays zero.
    """
    a = np.zeros((n_g, n_win + 1))
    big_a = np.zeros((n_g, n_win + 1, parts.x.shape[1]))
    for k in range(n_win):
        mask = (((exposure >> k) & 1) == 1) & phase_rows
        codes, rows = jc_codes[mask], np.flatnonzero(mask)
        a[:, k] = group_sum(parts.u, codes, n_g, rows=rows)
        big_a[:, k, :] = group_sum(parts.xs, codes, n_g, weights=parts.w[mask], rows=rows)
    return a, big_a


def _permutations(observed: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """``draws`` random permutations of the observed assignment (draws x G)."""
    rng = np.random.default_rng(seed)
    if not draws:
        return np.empty((0, observed.size), dtype=int)
    return np.stack([rng.permutation(observed) for _ in range(draws)])


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
    mf, events, trials = model_arrays(sc, covariates)
    cells = sc.cells.frame
    dm = design_matrix(mf, base_categorical(covariates), (), trials, csr=True)
    offset = (
        null[0] * mf["D_early"].to_numpy() + null[1] * mf["D_late"].to_numpy()
        if any(null)
        else None
    )
    fit = fit_cells(dm, events, trials, family, (), offset=offset)
    parts = score_parts(fit, dm.X, trials)
    jc_codes, jc_names = pd.factorize(mf["jobcentre"], sort=True)
    n_g = len(jc_names)
    s_g = np.asarray(group_sum(parts.xs, jc_codes, n_g, weights=parts.u))
    n_win = len(sc.windows)
    exposure = cells["exposure"].to_numpy().astype(np.int64)
    jc_window = pd.Series(sc.jc_window.to_numpy(), index=mf["jobcentre"]).groupby(level=0).first()
    observed_assign = jc_window.reindex(jc_names).fillna(-1).astype(int).to_numpy()
    observed_assign = np.where(observed_assign < 0, n_win, observed_assign)
    perms = _permutations(observed_assign, draws, seed)
    out: dict[str, float] = {}
    frames = []
    late = mf["late"].to_numpy()
    for est, phase in zip(ESTIMANDS, (0, 1), strict=True):
        a, big_a = _window_sums(parts, exposure, late == phase, jc_codes, n_g, n_win)
        t_obs = float(ri_statistics(observed_assign[None, :], a, big_a, s_g, parts.h_inv)[0])
        t_draws = (
            np.concatenate(
                [
                    ri_statistics(perms[i : i + RI_BATCH], a, big_a, s_g, parts.h_inv)
                    for i in range(0, draws, RI_BATCH)
                ]
            )
            if draws
            else np.empty(0)
        )
        out[est] = permutation_pvalue(t_obs, t_draws) if draws else float("nan")
        frames.append(pd.DataFrame({"estimand": est, "draw": np.arange(draws), "t": t_draws}))
    return out, pd.concat(frames, ignore_index=True)
