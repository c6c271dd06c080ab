"""Domain-free model engine: GLM on cells, covariances, bootstrap, p-values, results, Cox.

Nothing here knows about SOF; it imports only :mod:`sofeval.errors` and :mod:`sofeval.runtime`.
"""

from __future__ import annotations

from sofeval.models.glm import (
    ALIAS_TOL,
    FAMILIES,
    SEPARATION_BOUND,
    SLOW_ITER,
    SPARSE_DENSITY,
    DesignMatrix,
    Family,
    GLMFit,
    aliased_columns,
    build_design,
    fit_glm_cells,
    gram,
    mean_functions,
    sparse_view,
    subset_matrix,
)
from sofeval.models.hazard import (
    collapse_panel,
    fit_cox_panel,
    fit_hazard,
)
from sofeval.models.inference import (
    ADJUST_METHODS,
    BOOT_WEIGHTS,
    CORRECTIONS,
    VCOV_METHODS,
    AdjustMethod,
    BootstrapResult,
    BootWeights,
    Correction,
    VcovMethod,
    adjust_pvalues,
    cluster_scores,
    permutation_pvalue,
    score_contributions,
    vcov,
    wild_score_bootstrap,
    wild_t,
)
from sofeval.models.results import (
    TIDY_COLUMNS,
    HazardResults,
    compare,
)

__all__ = [
    "ADJUST_METHODS",
    "ALIAS_TOL",
    "AdjustMethod",
    "BOOT_WEIGHTS",
    "BootWeights",
    "BootstrapResult",
    "CORRECTIONS",
    "Correction",
    "DesignMatrix",
    "FAMILIES",
    "Family",
    "GLMFit",
    "HazardResults",
    "SEPARATION_BOUND",
    "SLOW_ITER",
    "SPARSE_DENSITY",
    "TIDY_COLUMNS",
    "VCOV_METHODS",
    "VcovMethod",
    "adjust_pvalues",
    "aliased_columns",
    "build_design",
    "cluster_scores",
    "collapse_panel",
    "compare",
    "fit_cox_panel",
    "fit_glm_cells",
    "fit_hazard",
    "gram",
    "mean_functions",
    "permutation_pvalue",
    "score_contributions",
    "sparse_view",
    "subset_matrix",
    "vcov",
    "wild_score_bootstrap",
    "wild_t",
]
