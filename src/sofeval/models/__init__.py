"""Domain-free model engine: GLM on cells, covariances, bootstrap, p-values, results, Cox, frailty.

Nothing here knows about SOF; it imports only :mod:`sofeval.errors` and :mod:`sofeval.runtime`.

Modules (imports run downwards in this list, never up):

* :mod:`~sofeval.models.families` -- families and links, mean functions, log-likelihoods,
  Fisher weights;
* :mod:`~sofeval.models.linalg` -- dense or CSR designs (:data:`Matrix`), cached operands,
  products, Gram matrices, aliasing,
  grouped sums;
* :mod:`~sofeval.models.design` -- the dummy-coded design builder (dense and sparse);
* :mod:`~sofeval.models.glm` -- the GLM fit on cells (separation check, start, iterate,
  finalise);
* :mod:`~sofeval.models.covariance` -- the covariance registry and cluster scores;
* :mod:`~sofeval.models.bootstrap` -- the wild cluster score bootstrap;
* :mod:`~sofeval.models.joint` -- joint tests of several restrictions (Wald, wild score
  bootstrap);
* :mod:`~sofeval.models.pvalues` -- permutation and multiplicity-adjusted p-values;
* :mod:`~sofeval.models.results` -- the results base of the library, the Wald table,
  :class:`HazardResults`;
* :mod:`~sofeval.models.hazard` -- :func:`fit_hazard`; :mod:`~sofeval.models.cox` -- Cox;
* :mod:`~sofeval.models.frailty` -- the mass-point (NPMLE) frailty engine.
"""

from __future__ import annotations

from sofeval.models.bootstrap import (
    BOOT_STATISTICS,
    BOOT_WEIGHTS,
    WEBB_POINTS,
    BootStatistic,
    BootstrapResult,
    BootWeights,
    draw_weights,
    rademacher_bits,
    wald_components,
    wild_score_bootstrap,
    wild_t,
    wild_wald_t,
)
from sofeval.models.covariance import (
    CORRECTIONS,
    VCOV_METHODS,
    Correction,
    RestrictedScores,
    VcovMethod,
    cluster_codes,
    cluster_meat,
    cluster_scores,
    projected_scores,
    restricted_scores,
    score_contributions,
    vcov,
)
from sofeval.models.cox import (
    fit_cox_panel,
)
from sofeval.models.design import (
    BASES,
    Base,
    DesignMatrix,
    SparseDesign,
    build_design,
    build_sparse_design,
)
from sofeval.models.families import (
    EPS,
    FAMILIES,
    Family,
    fisher_weights,
    inverse_link,
    link,
    loglik,
    mean_functions,
    saturated_loglik,
)
from sofeval.models.frailty import (
    MAX_POINTS,
    MIN_PROBABILITY,
    MassPointFit,
    fit_mass_points,
)
from sofeval.models.glm import (
    SEPARATION_BOUND,
    SLOW_ITER,
    GLMFit,
    check_separation,
    fit_glm_cells,
)
from sofeval.models.hazard import (
    collapse_panel,
    fit_hazard,
)
from sofeval.models.joint import (
    RANK_TOL,
    JointTest,
    joint_score_contributions,
    pinv_psd,
    restricted_start,
    wald_test,
    wild_joint_test,
)
from sofeval.models.linalg import (
    ALIAS_TOL,
    PAIR_BUDGET,
    SPARSE_DENSITY,
    SPARSE_MIN_SIZE,
    Matrix,
    aliased_columns,
    as_matrix,
    binary_columns,
    column,
    dot,
    gram,
    group_sum,
    operand,
    rows_dot,
    rows_touching,
    sparse_view,
    subset_matrix,
    tdot,
    to_dense,
)
from sofeval.models.pvalues import (
    ADJUST_METHODS,
    AdjustMethod,
    adjust_pvalues,
    permutation_pvalue,
)
from sofeval.models.results import (
    CI_SCALES,
    TIDY_COLUMNS,
    CiScale,
    HazardResults,
    ResultsBase,
    compare,
    wald_table,
)

__all__ = [
    "RANK_TOL",
    "JointTest",
    "joint_score_contributions",
    "pinv_psd",
    "restricted_start",
    "wald_test",
    "wild_joint_test",
    "ADJUST_METHODS",
    "adjust_pvalues",
    "AdjustMethod",
    "ALIAS_TOL",
    "aliased_columns",
    "as_matrix",
    "binary_columns",
    "column",
    "Base",
    "BASES",
    "BOOT_STATISTICS",
    "BOOT_WEIGHTS",
    "BootStatistic",
    "BootstrapResult",
    "BootWeights",
    "build_design",
    "build_sparse_design",
    "check_separation",
    "CI_SCALES",
    "CiScale",
    "cluster_codes",
    "cluster_meat",
    "cluster_scores",
    "projected_scores",
    "collapse_panel",
    "compare",
    "Correction",
    "CORRECTIONS",
    "DesignMatrix",
    "dot",
    "draw_weights",
    "rademacher_bits",
    "EPS",
    "FAMILIES",
    "Family",
    "fisher_weights",
    "fit_cox_panel",
    "fit_glm_cells",
    "fit_hazard",
    "fit_mass_points",
    "GLMFit",
    "gram",
    "group_sum",
    "HazardResults",
    "inverse_link",
    "link",
    "loglik",
    "MassPointFit",
    "Matrix",
    "MAX_POINTS",
    "mean_functions",
    "operand",
    "MIN_PROBABILITY",
    "permutation_pvalue",
    "restricted_scores",
    "RestrictedScores",
    "rows_dot",
    "rows_touching",
    "ResultsBase",
    "saturated_loglik",
    "score_contributions",
    "SEPARATION_BOUND",
    "SLOW_ITER",
    "PAIR_BUDGET",
    "SPARSE_DENSITY",
    "SPARSE_MIN_SIZE",
    "sparse_view",
    "SparseDesign",
    "subset_matrix",
    "tdot",
    "to_dense",
    "TIDY_COLUMNS",
    "vcov",
    "VCOV_METHODS",
    "VcovMethod",
    "wald_components",
    "wald_table",
    "WEBB_POINTS",
    "wild_score_bootstrap",
    "wild_t",
    "wild_wald_t",
]
