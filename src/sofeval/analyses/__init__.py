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

from sofeval.analyses.crosscheck import (
    COX_MODEL,
    cox_crosscheck,
)
from sofeval.analyses.descriptives import (
    hazard_frame,
    km_frame,
)
from sofeval.analyses.destinations import (
    DESTINATION_COLUMNS,
    DestinationsResult,
    destination_effects,
    destination_event_column,
)
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
from sofeval.analyses.durations import (
    BENEFIT_PER_WEEK,
    DURATION_COLUMNS,
    INCIDENCE_COLUMNS,
    REPORT_WEEKS,
    DurationsResult,
    counterfactual_durations,
)
from sofeval.analyses.effects import (
    EFFECT_COLUMNS,
    INFERENCE_METHODS,
    EffectsResult,
    estimate_effects,
    pooled_forest,
)
from sofeval.analyses.event_study import (
    BAND_DRAWS,
    EVENT_STUDY_COLUMNS,
    MIN_LEAD,
    PRETREND_COLUMNS,
    REFERENCE_QUARTER,
    EventStudyResult,
    event_quarters,
    event_study,
    event_window,
    sup_t_critical,
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
from sofeval.analyses.gcomputation import (
    GCompGradients,
    GCompMeans,
    Patterns,
    gcomp_gradients,
    gcomp_means,
    survival_paths,
)
from sofeval.analyses.homogeneity import (
    HOMOGENEITY_COLUMNS,
    HomogeneityResult,
    collapse_patterns,
    equality_contrast,
    equality_design,
    homogeneity,
    jobcentre_homogeneity,
)
from sofeval.analyses.honestdid import (
    HonestDiDInputs,
    honestdid_inputs,
    write_honestdid_csv,
    write_honestdid_json,
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
from sofeval.analyses.monitoring import (
    MonitoringResult,
    aggregate_shares,
    finish_shares,
    measure_did,
    measure_did_from_counts,
    success_criteria,
)
from sofeval.analyses.placebo_time import (
    PLACEBO_SAMPLES,
    PLACEBO_TIME_COLUMNS,
    SHIFT_MONTHS,
    PlaceboSample,
    PlaceboTimeResult,
    placebo_study,
    placebo_time,
)
from sofeval.analyses.randomization import (
    RI_BATCH,
    randomization_test,
    ri_statistics,
)
from sofeval.analyses.recurrence import (
    RECURRENCE_BLOCK_WEEKS,
    RECURRENCE_COLUMNS,
    RECURRENCE_HORIZONS,
    RecurrenceResult,
    recurrence_effects,
    return_spells,
)
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
from sofeval.analyses.subgroups import (
    MISSING_LEVEL,
    SUBGROUP_COLUMNS,
    SubgroupEffectsResult,
    default_subgroups,
    subgroup_effects,
    subgroup_model,
)

__all__ = [
    "aggregate_shares",
    "finish_shares",
    "BAND_DRAWS",
    "BENEFIT_PER_WEEK",
    "COX_MODEL",
    "DEFAULT_WINDOWS",
    "DESTINATION_COLUMNS",
    "DOSE_COLUMNS",
    "DURATION_COLUMNS",
    "DestinationsResult",
    "DoseResponseResult",
    "DurationsResult",
    "EFFECT_COLUMNS",
    "EFFECT_ROW_COLUMNS",
    "ESTIMANDS",
    "EVENT_STUDY_COLUMNS",
    "EffectsResult",
    "EventStudyResult",
    "FRAILTY_COLUMNS",
    "FrailtyDesign",
    "FrailtyResult",
    "GCompGradients",
    "GCompMeans",
    "HOMOGENEITY_COLUMNS",
    "HomogeneityResult",
    "HonestDiDInputs",
    "INCIDENCE_COLUMNS",
    "INFERENCE_METHODS",
    "INTEREST",
    "JOBCENTRE_COLUMNS",
    "JobcentreEffectsResult",
    "LinkRule",
    "MAX_POINTS",
    "MAX_SE",
    "MEASURE_WEEKS",
    "MEASURE_WINDOWS",
    "MIN_LEAD",
    "MIN_PROBABILITY",
    "MISSING_LEVEL",
    "MeetingSource",
    "MonitoringResult",
    "OutcomeWindow",
    "PLACEBO_COLUMNS",
    "PLACEBO_SAMPLES",
    "PLACEBO_TIME_COLUMNS",
    "PRETREND_COLUMNS",
    "Patterns",
    "PlaceboSample",
    "PlaceboTimeResult",
    "RECURRENCE_BLOCK_WEEKS",
    "RECURRENCE_COLUMNS",
    "RECURRENCE_HORIZONS",
    "REFERENCE_QUARTER",
    "REPORT_WEEKS",
    "RI_BATCH",
    "RecurrenceResult",
    "SHIFT_MONTHS",
    "SOFCells",
    "SOF_FAMILIES",
    "SUBGROUP_COLUMNS",
    "ScoreParts",
    "SubgroupEffectsResult",
    "VCOV_OPTIONS",
    "Vcov",
    "as_cells",
    "base_categorical",
    "check_weeks",
    "coarsen_cells",
    "collapse_patterns",
    "counterfactual_durations",
    "cox_crosscheck",
    "default_subgroups",
    "design_matrix",
    "destination_effects",
    "destination_event_column",
    "dose_response",
    "effect_rows",
    "equality_contrast",
    "equality_design",
    "estimate_effects",
    "event_quarters",
    "event_study",
    "event_window",
    "first_meetings",
    "fit_cells",
    "fit_npmle_frailty",
    "frailty_design",
    "gcomp_gradients",
    "gcomp_means",
    "half_year_label",
    "hazard_frame",
    "homogeneity",
    "honestdid_inputs",
    "jobcentre_effects",
    "jobcentre_homogeneity",
    "km_frame",
    "link_mediator",
    "measure_did",
    "measure_did_from_counts",
    "measure_sample",
    "measure_shares",
    "meeting_shares",
    "model_arrays",
    "model_frame",
    "pct_per_10pp",
    "phase_counts",
    "placebo_study",
    "placebo_time",
    "pooled_forest",
    "randomization_test",
    "recurrence_effects",
    "return_spells",
    "ri_statistics",
    "safe_share",
    "score_parts",
    "sof_cells",
    "subgroup_effects",
    "subgroup_model",
    "success_criteria",
    "sup_t_critical",
    "survival_paths",
    "week8_month",
    "write_honestdid_csv",
    "write_honestdid_json",
]
