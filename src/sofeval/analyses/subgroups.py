"""For whom did it work? Effects by subgroup and the test of equal effects (DESIGN.md §4b).

For a spell-level categorical ``v`` with levels ``l`` (visitation category, diagnosis
group, sex, age band, sector, partial sick-listing, ...) the model of §4 gets the main
effect of ``v`` and ``D`` interacted with its levels, one model per variable:

.. math::

    g\\{P(y_{it}=1)\\} = \\alpha_{b(t)} + \\gamma_j + \\delta_{month} + \\beta_{v_i}
        + \\sum_l \\theta^{EA}_l D_i 1[v_i=l] 1[t<8]
        + \\sum_l \\theta^{P}_l D_i 1[v_i=l] 1[t\\ge 8].

Standard errors are clustered by jobcentre. Homogeneity: the clustered Wald test of
``theta_1 = ... = theta_L`` per estimand (the other estimand's levels left free) and its
wild cluster score bootstrap (:func:`sofeval.analyses.homogeneity.wild_joint_test` on the
reparametrised design of :func:`~sofeval.analyses.homogeneity.equality_design`).

Missing values of a variable form their own level ``"missing"``, so the subgroup counts
add up to the pooled counts of :func:`sofeval.analyses.estimate_effects`. A level whose
treated person-weeks have no events (or only events) in a phase is not identified: its
row is kept with NaN estimates and it is left out of the homogeneity test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import special

from sofeval.analyses.homogeneity import (
    HOMOGENEITY_COLUMNS,
    HomogeneityResult,
    collapse_patterns,
    equality_contrast,
    equality_design,
    equality_start,
)
from sofeval.analyses.specification import (
    ESTIMANDS,
    CellSpec,
    SOFCells,
    coarsen_cells,
    design_matrix,
    fit_cells,
    model_frame,
    sof_cells_many,
)
from sofeval.data import SPELL_COVARIATES, StudyData
from sofeval.errors import ContractError, SofevalError, check_option
from sofeval.models import (
    BootWeights,
    Correction,
    Family,
    ResultsBase,
    vcov,
    wald_test,
    wild_joint_test,
)
from sofeval.panel import StudyDesign, bin_covariates
from sofeval.report import Lang, subgroup_forest

__all__ = [
    "MISSING_LEVEL",
    "SUBGROUP_COLUMNS",
    "SubgroupEffectsResult",
    "default_subgroups",
    "sof_cells_with_subgroups",
    "subgroup_cells",
    "subgroup_effects",
    "subgroup_model",
    "subgroup_spec",
]

SUBGROUP_COLUMNS: tuple[str, ...] = (
    "variable",
    "level",
    "estimand",
    "coef",
    "se",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "n_spells",
    "n_events",
)
#: Label of the level of spells with a missing value.
MISSING_LEVEL = "missing"


@dataclass(frozen=True)
class SubgroupEffectsResult(ResultsBase):
    """Effects by subgroup and the homogeneity tests of their variables (immutable).

    Attributes
    ----------
    table
        :data:`SUBGROUP_COLUMNS`, one row per variable, level and estimand (coef, se on
        the log hazard ratio scale; CI on the hazard ratio scale, as ``effects.csv``).
    homogeneity
        The joint test of equal effects across levels, per variable and estimand.
    variables
        The variables analysed.
    """

    table: pd.DataFrame
    homogeneity: HomogeneityResult
    variables: tuple[str, ...] = field(default=())

    title = "Effects by subgroup (D interacted with the levels, one model per variable)"

    def header(self) -> list[tuple[str, str]]:
        """Variables, standard errors and scales."""
        return [
            ("variables", ", ".join(self.variables)),
            ("standard errors", "clustered by jobcentre"),
            ("scales", "coef/se: log hazard ratio; CI: hazard ratio"),
        ]

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        """The homogeneity tests of the variables."""
        return [(self.homogeneity.title, self.homogeneity.table)]

    def to_frame(self) -> pd.DataFrame:
        """The subgroup effects table (a copy)."""
        return self.table.copy()

    def plot(self, lang: Lang = "en", **kwargs: Any) -> Figure:
        """Forest plot of the subgroup hazard ratios, with the homogeneity p-values.

        The report's figure function builds the whole house-style figure, so this
        replaces the base's ``plot`` rather than drawing in ``_draw``.

        Parameters
        ----------
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.subgroup_forest`.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure, not registered with pyplot.
        """
        return subgroup_forest(self.table, self.homogeneity.table, lang=lang, **kwargs)


def default_subgroups(study: StudyData) -> tuple[str, ...]:
    """The optional spell covariates of the data contract present with two or more levels."""
    sp = study.spells
    return tuple(c for c in SPELL_COVARIATES if c in sp.columns and sp[c].nunique() > 1)


def _levels(values: pd.Series) -> pd.Series:
    """Level labels as strings, missing values as :data:`MISSING_LEVEL`."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # one label per category, not per row
        cats = values.cat.categories.astype(object)
        labels = np.array([*(str(c) for c in cats), MISSING_LEVEL], dtype=object)
        return pd.Series(labels[values.cat.codes.to_numpy()], index=values.index,
                         name=values.name)
    lab = values.astype(object).where(values.notna(), MISSING_LEVEL)
    return lab.astype(str)


def _counts(
    sc: SOFCells, spell_levels: pd.Series, cell_levels: np.ndarray, variable: str
) -> pd.DataFrame:
    """Treated spells at risk and their events per level and estimand."""
    sf = sc.spells
    cut = sc.design.phase_cut
    treated = sf["D"].to_numpy().astype(int) == 1
    lev = spell_levels.reindex(sf.index).to_numpy()
    f = sc.cells.frame
    d = f["D"].to_numpy().astype(int) == 1
    week = f["week"].to_numpy()
    frames = []
    for est, sp_mask, cell_mask in (
        ("ex_ante", sf["entry_week"].to_numpy() < cut, week < cut),
        ("programme", sf["last_week"].to_numpy() >= cut, week >= cut),
    ):
        m = treated & sp_mask
        ns = pd.Series(lev[m]).value_counts()
        cm = d & cell_mask
        ne = pd.Series(f["event"].to_numpy()[cm]).groupby(cell_levels[cm]).sum()
        frame = pd.DataFrame({"n_spells": ns, "n_events": ne}).fillna(0).astype(np.int64)
        frame = frame.rename_axis("level").reset_index()
        frame.insert(0, "estimand", est)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "variable", variable)
    return out


def _effect_rows(coef: np.ndarray, se: np.ndarray, level: float) -> pd.DataFrame:
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return pd.DataFrame({
            "coef": coef,
            "se": se,
            "hazard_ratio": np.exp(coef),
            "ci_low": np.exp(coef - z * se),
            "ci_high": np.exp(coef + z * se),
            "p_value": 2 * special.ndtr(-np.abs(coef / se)),
        })


def _add_level_terms(
    mf: pd.DataFrame, lev: np.ndarray, variable: str
) -> tuple[pd.DataFrame, list[str], list[tuple[str, str, str]]]:
    """``mf`` with ``D_early[v=l]``/``D_late[v=l]`` columns for every level of ``v``.

    A level without treated person-weeks in a phase gets no column. Returns the frame
    with the new columns (appended in one step), their names and, for every (estimand,
    level) in order, ``(estimand, level, name)``.
    """
    codes, uniques = pd.factorize(lev)  # compare integer codes, not the level strings
    numeric: list[str] = []
    meta: list[tuple[str, str, str]] = []
    columns: dict[str, np.ndarray] = {}
    for est, col in zip(ESTIMANDS, ("D_early", "D_late"), strict=True):
        d = mf[col].to_numpy()
        for k in sorted(range(len(uniques)), key=lambda i: uniques[i]):
            lv = uniques[k]
            name = f"{col}[{variable}={lv}]"
            values = d * (codes == k)
            meta.append((est, lv, name))
            if values.any():
                columns[name] = values
                numeric.append(name)
    return pd.concat([mf, pd.DataFrame(columns, index=mf.index)], axis=1), numeric, meta


def _with_counts(
    effects: pd.DataFrame,
    sc: SOFCells,
    spell_levels: pd.Series | None,
    cell_levels: np.ndarray,
    variable: str,
) -> pd.DataFrame:
    """The effects with ``n_spells`` and ``n_events`` (0 without ``spell_levels``)."""
    if spell_levels is not None:
        counts = _counts(sc, spell_levels, cell_levels, variable)
        effects = effects.merge(counts, on=["variable", "level", "estimand"], how="left")
    else:
        effects["n_spells"], effects["n_events"] = 0, 0
    effects[["n_spells", "n_events"]] = effects[["n_spells", "n_events"]].fillna(0).astype(
        np.int64)
    return effects


def subgroup_model(
    sc: SOFCells,
    variable: str,
    spell_levels: pd.Series | None = None,
    *,
    covariates: Sequence[str] = (),
    family: Family = "cloglog",
    level: float = 0.95,
    bootstrap_draws: int = 999,
    bootstrap_weights: BootWeights = "rademacher",
    seed: int = 0,
    correction: Correction = "stata",
    progress: bool | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Subgroup effects and homogeneity tests of one variable, on cells keyed by it.

    Parameters
    ----------
    sc
        Cells of :func:`sofeval.analyses.sof_cells` with ``variable`` among the covariates.
    variable
        The subgroup variable (a cell key).
    spell_levels
        Level of every spell (index of ``sc.spells``) for the spell counts; ``None``
        leaves ``n_spells`` at 0.
    covariates
        Further categorical covariates of the cells (not ``variable``).
    family, level
        Link and coverage of the CIs.
    bootstrap_draws, bootstrap_weights, seed
        Wild bootstrap of the homogeneity test (``0`` skips it).
    correction
        Small-sample factor of the clustered covariance.
    progress
        Progress bars.

    Returns
    -------
    effects : pandas.DataFrame
        :data:`SUBGROUP_COLUMNS`.
    homogeneity : pandas.DataFrame
        :data:`~sofeval.analyses.homogeneity.HOMOGENEITY_COLUMNS`.
    """
    if variable not in sc.cells.frame.columns:
        raise ContractError(
            f"cells: the subgroup variable {variable!r} is not a cell key; build the cells "
            f"with sof_cells(study, design, covariates=[..., {variable!r}]).",
            table="spells",
            rule="missing_covariate",
        )
    others = [c for c in covariates if c != variable]
    mf = model_frame(sc, others)
    cells = sc.cells.frame
    events = cells["event"].to_numpy(float)
    trials = cells["at_risk"].to_numpy(float)
    lev = _levels(cells[variable]).to_numpy()
    mf[variable] = lev
    base = ["week_block", "jobcentre", "month", *others, variable]
    # the level terms are functions of D_early, D_late and the level: the same patterns
    mf, events, trials = collapse_patterns(mf[[*base, "D_early", "D_late"]], events, trials)
    mf, numeric, meta = _add_level_terms(mf, mf[variable].to_numpy(), variable)
    dm = design_matrix(mf, base, numeric, trials, csr=True)
    fit = fit_cells(dm, events, trials, family, numeric)
    clusters = pd.factorize(mf["jobcentre"], sort=True)[0]
    cov = vcov(fit, dm.X, method="cluster", clusters=clusters,
               correction=correction, n_obs=int(trials.sum()))
    names = list(dm.names)
    idx = np.array([names.index(n) if n in numeric else -1 for _, _, n in meta])
    params = np.append(np.asarray(fit.params), np.nan)  # index -1: no column
    coef = params[idx]
    se = np.sqrt(np.clip(np.append(np.diag(cov), np.nan)[idx], 0.0, None))
    rows = pd.DataFrame([m[:2] for m in meta], columns=["estimand", "level"])
    rows.insert(0, "variable", variable)
    effects = _with_counts(pd.concat([rows, _effect_rows(coef, se, level)], axis=1),
                           sc, spell_levels, lev, variable)
    hom = []
    for i, est in enumerate(ESTIMANDS):
        own = [int(idx[j]) for j, m in enumerate(meta) if m[0] == est and np.isfinite(coef[j])]
        stat, df, p = wald_test(params[own], cov[np.ix_(own, own)],
                                equality_contrast(len(own)))
        p_wild = float("nan")
        if len(own) > 1 and bootstrap_draws > 0:
            x_alt, test, start = equality_design(
                dm.X, own, equality_start(np.asarray(fit.params), np.asarray(fit.cov), own))
            p_wild = wild_joint_test(
                x_alt, events, trials, family, clusters, test, B=bootstrap_draws,
                weights=bootstrap_weights, seed=[seed, 41, i], progress=progress, start=start,
            ).p_wild
        hom.append((variable, est, stat, df, p, p_wild))
    return (effects[list(SUBGROUP_COLUMNS)],
            pd.DataFrame(hom, columns=list(HOMOGENEITY_COLUMNS)))


def subgroup_spec(variable: str, covariates: Sequence[str] = ()) -> CellSpec:
    """The keys of the cells of one subgroup variable's model.

    The SOF keys without ``exposure`` (the window bitmask is not a regressor here: summing
    over it halves the comparison jobcentres' cells and changes nothing in the fit), the
    further covariates and the variable. Pass the specification to
    :func:`sofeval.analyses.sof_cells_many` to build the cells in one pass with others.

    Parameters
    ----------
    variable
        The subgroup variable.
    covariates
        Further categorical covariates of the model.

    Returns
    -------
    CellSpec
    """
    return CellSpec(
        covariates=(*(c for c in covariates if c != variable), variable), without=("exposure",)
    )


def subgroup_cells(
    study: StudyData,
    design: StudyDesign | None,
    variables: Sequence[str],
    *,
    covariates: Sequence[str] = (),
    progress: bool | None = None,
    parallel: bool = True,
) -> dict[str, SOFCells]:
    """The cells of every subgroup variable's model, from one pass over the spells.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules.
    variables
        Subgroup variables (columns of ``spells``).
    covariates
        Further categorical covariates of every model.
    progress, parallel
        As :func:`sofeval.analyses.sof_cells`.

    Returns
    -------
    dict
        Variable -> cells of :func:`subgroup_spec`.
    """
    if not variables:
        return {}
    specs = [subgroup_spec(v, covariates) for v in variables]
    built = sof_cells_many(study, design, specs, progress=progress, parallel=parallel)
    return dict(zip(variables, built, strict=True))


def sof_cells_with_subgroups(
    study: StudyData,
    design: StudyDesign | None,
    covariates: Sequence[str],
    variables: Sequence[str],
    *,
    progress: bool | None = None,
    parallel: bool = True,
) -> tuple[SOFCells, dict[str, SOFCells]]:
    """The cells of a run, keyed by ``link_month`` too, and every subgroup's, in one pass.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules.
    covariates
        Covariates of every model.
    variables
        Subgroup variables; those that are not columns of ``spells`` are left out.
    progress
        Progress bars.
    parallel
        As :func:`sof_cells_many` (``False``: all in this process).

    Returns
    -------
    dose_cells : SOFCells
        :func:`~sofeval.analyses.sof_cells` with ``extra_keys=("link_month",)`` (summed over
        it: the cells of the effects models).
    subgroup_cells : dict
        As :func:`subgroup_cells`; empty when a variable's cells cannot be built (then
        :func:`subgroup_effects` builds them and says why not).
    """
    present = [v for v in variables if v in study.spells.columns]
    dose = CellSpec(tuple(covariates), ("link_month",))
    specs = [dose, *(subgroup_spec(v, covariates) for v in present)]
    try:
        dose_cells, *built = sof_cells_many(
            study, design, specs, progress=progress, parallel=parallel
        )
    except SofevalError:
        if not present:
            raise
        return sof_cells_many(study, design, [dose], progress=progress, parallel=parallel)[0], {}
    return dose_cells, dict(zip(present, built, strict=True))


def subgroup_effects(
    study: StudyData,
    design: StudyDesign | None = None,
    variables: Sequence[str] | None = None,
    *,
    covariates: Sequence[str] = (),
    family: Family = "cloglog",
    level: float = 0.95,
    bootstrap_draws: int = 999,
    bootstrap_weights: BootWeights = "rademacher",
    seed: int = 0,
    correction: Correction = "stata",
    progress: bool | None = None,
    cells: Mapping[str, SOFCells] | None = None,
) -> SubgroupEffectsResult:
    """Effects θ_EA and θ_P by level of each subgroup variable, with homogeneity tests.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules.
    variables
        Spell-level categoricals (numeric ones are binned as covariates are: ``age`` in
        the bands of :data:`sofeval.panel.AGE_LABELS`). Default: :func:`default_subgroups`.
    covariates
        Further categorical covariates of every model.
    family
        ``cloglog`` (default) or ``logit``.
    level
        Coverage of the CIs.
    bootstrap_draws, bootstrap_weights, seed
        Wild bootstrap of the homogeneity tests (``0`` skips it).
    correction
        Small-sample factor of the clustered covariance.
    progress
        Progress bars (default: only on a terminal).
    cells
        Cells of some variables built beforehand (:func:`subgroup_cells` with the same
        ``covariates``); the others are built here, all in one pass over the spells.

    Returns
    -------
    SubgroupEffectsResult

    Raises
    ------
    ContractError
        A variable is not a column of ``spells``.
    """
    check_option("family", family, ("cloglog", "logit"))
    names = tuple(variables) if variables is not None else default_subgroups(study)
    missing = [v for v in names if v not in study.spells.columns]
    if missing:
        raise ContractError(
            f"spells: subgroup variable(s) {', '.join(missing)} not found; available "
            f"covariates: {', '.join(c for c in study.spells.columns if c in SPELL_COVARIATES)}.",
            table="spells",
            rule="missing_covariate",
        )
    effects, tests = [], []
    binned = bin_covariates(study.spells, list(names))
    given = dict(cells or {})
    given |= subgroup_cells(study, design, [v for v in names if v not in given],
                            covariates=covariates, progress=progress)
    for i, var in enumerate(names):
        covs = [c for c in covariates if c != var]
        sc = given[var]  # cells given with exposure among the keys are summed over it
        sc = coarsen_cells(sc, ["exposure"]) if "exposure" in sc.cells.keys else sc
        eff, hom = subgroup_model(
            sc, var, _levels(binned[var]), covariates=covs, family=family, level=level,
            bootstrap_draws=bootstrap_draws, bootstrap_weights=bootstrap_weights,
            seed=seed + i, correction=correction, progress=progress,
        )
        effects.append(eff)
        tests.append(hom)
    table = (pd.concat(effects, ignore_index=True) if effects
             else pd.DataFrame(columns=list(SUBGROUP_COLUMNS)))
    hom_table = (pd.concat(tests, ignore_index=True) if tests
                 else pd.DataFrame(columns=list(HOMOGENEITY_COLUMNS)))
    return SubgroupEffectsResult(
        table, HomogeneityResult(hom_table, dict.fromkeys(names, "jobcentre")), names
    )
