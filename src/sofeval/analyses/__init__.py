"""Analyses of the SOF evaluation, built on :mod:`sofeval.panel` and :mod:`sofeval.models`.

Modules (imports run downwards in this list, never up):

* :mod:`~sofeval.analyses.specification` -- the default SOF specification in one place:
  cells, model frame, design, fit, estimands, phase counts, efficient-score pieces;
* :mod:`~sofeval.analyses.mediators` -- first meetings, jobcentre-month meeting and
  measure shares, the spell link by week-8 month;
* :mod:`~sofeval.analyses.randomization` -- randomisation inference for the pooled effects;
* :mod:`~sofeval.analyses.effects` -- pooled effects (:class:`EffectsResult`);
* :mod:`~sofeval.analyses.jobcentres` -- per-jobcentre effects and placebo in space;
* :mod:`~sofeval.analyses.crosscheck` -- the continuous-time Cox cross-check;
* :mod:`~sofeval.analyses.doseresponse` -- dose-response of a jobcentre-month mediator;
* :mod:`~sofeval.analyses.monitoring` -- success criteria and the measure DiD;
* :mod:`~sofeval.analyses.frailty` -- the SOF model with discrete (mass-point) frailty;
* :mod:`~sofeval.analyses.descriptives` -- Kaplan–Meier and weekly-hazard frames.
"""

from __future__ import annotations

from sofeval.analyses.crosscheck import COX_MODEL, cox_crosscheck
from sofeval.analyses.descriptives import hazard_frame, km_frame
from sofeval.analyses.doseresponse import (
    DEFAULT_WINDOWS,
    DOSE_COLUMNS,
    MEASURE_WEEKS,
    MEASURE_WINDOWS,
    DoseResponseResult,
    OutcomeWindow,
    dose_response,
    pct_per_10pp,
)
from sofeval.analyses.effects import (
    EFFECT_COLUMNS,
    INFERENCE_METHODS,
    EffectsResult,
    estimate_effects,
    pooled_forest,
)
from sofeval.analyses.frailty import (
    FRAILTY_COLUMNS,
    MAX_POINTS,
    MIN_PROBABILITY,
    VCOV_OPTIONS,
    FrailtyDesign,
    FrailtyResult,
    Vcov,
    fit_npmle_frailty,
    frailty_design,
)
from sofeval.analyses.jobcentres import (
    JOBCENTRE_COLUMNS,
    MAX_SE,
    PLACEBO_COLUMNS,
    JobcentreEffectsResult,
    jobcentre_effects,
)
from sofeval.analyses.mediators import (
    LinkRule,
    MeetingSource,
    check_weeks,
    first_meetings,
    half_year_label,
    link_mediator,
    measure_sample,
    measure_shares,
    meeting_shares,
    safe_share,
    week8_month,
)
from sofeval.analyses.monitoring import MonitoringResult, measure_did, success_criteria
from sofeval.analyses.randomization import RI_BATCH, randomization_test, ri_statistics
from sofeval.analyses.specification import (
    EFFECT_ROW_COLUMNS,
    ESTIMANDS,
    INTEREST,
    SOF_FAMILIES,
    ScoreParts,
    SOFCells,
    as_cells,
    base_categorical,
    coarsen_cells,
    design_matrix,
    effect_rows,
    fit_cells,
    model_arrays,
    model_frame,
    phase_counts,
    score_parts,
    sof_cells,
)

__all__ = [
    "COX_MODEL",
    "DEFAULT_WINDOWS",
    "DOSE_COLUMNS",
    "DoseResponseResult",
    "EFFECT_COLUMNS",
    "EFFECT_ROW_COLUMNS",
    "ESTIMANDS",
    "EffectsResult",
    "FRAILTY_COLUMNS",
    "FrailtyDesign",
    "FrailtyResult",
    "INFERENCE_METHODS",
    "INTEREST",
    "JOBCENTRE_COLUMNS",
    "JobcentreEffectsResult",
    "LinkRule",
    "MAX_POINTS",
    "MAX_SE",
    "MEASURE_WEEKS",
    "MEASURE_WINDOWS",
    "MIN_PROBABILITY",
    "MeetingSource",
    "MonitoringResult",
    "OutcomeWindow",
    "PLACEBO_COLUMNS",
    "RI_BATCH",
    "SOFCells",
    "SOF_FAMILIES",
    "ScoreParts",
    "VCOV_OPTIONS",
    "Vcov",
    "as_cells",
    "base_categorical",
    "check_weeks",
    "coarsen_cells",
    "cox_crosscheck",
    "design_matrix",
    "dose_response",
    "effect_rows",
    "estimate_effects",
    "first_meetings",
    "fit_cells",
    "fit_npmle_frailty",
    "frailty_design",
    "half_year_label",
    "hazard_frame",
    "jobcentre_effects",
    "km_frame",
    "link_mediator",
    "measure_did",
    "measure_sample",
    "measure_shares",
    "meeting_shares",
    "model_arrays",
    "model_frame",
    "pct_per_10pp",
    "phase_counts",
    "pooled_forest",
    "randomization_test",
    "ri_statistics",
    "safe_share",
    "score_parts",
    "sof_cells",
    "success_criteria",
    "week8_month",
]

# --- destinations, counterfactual durations and recurrence (issue 15) -------------------
from sofeval.analyses.destinations import (
    DESTINATION_COLUMNS,
    DestinationsResult,
    destination_effects,
    destination_event_column,
)
from sofeval.analyses.durations import (
    BENEFIT_PER_WEEK,
    DURATION_COLUMNS,
    INCIDENCE_COLUMNS,
    REPORT_WEEKS,
    DurationsResult,
    counterfactual_durations,
)
from sofeval.analyses.gcomputation import (
    GCompGradients,
    GCompMeans,
    Patterns,
    gcomp_gradients,
    gcomp_means,
    survival_paths,
)
from sofeval.analyses.recurrence import (
    RECURRENCE_BLOCK_WEEKS,
    RECURRENCE_COLUMNS,
    RECURRENCE_HORIZONS,
    RecurrenceResult,
    recurrence_effects,
    return_spells,
)

__all__ += [
    "BENEFIT_PER_WEEK",
    "DESTINATION_COLUMNS",
    "DURATION_COLUMNS",
    "DestinationsResult",
    "DurationsResult",
    "GCompGradients",
    "GCompMeans",
    "INCIDENCE_COLUMNS",
    "Patterns",
    "RECURRENCE_BLOCK_WEEKS",
    "RECURRENCE_COLUMNS",
    "RECURRENCE_HORIZONS",
    "REPORT_WEEKS",
    "RecurrenceResult",
    "counterfactual_durations",
    "destination_effects",
    "destination_event_column",
    "gcomp_gradients",
    "gcomp_means",
    "recurrence_effects",
    "return_spells",
    "survival_paths",
]
