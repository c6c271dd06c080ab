"""Data layer: the contract, validation, readers, register mapping, synthetic generator."""

from __future__ import annotations

from sofeval.data.contract import (
    AUDIT_COLUMNS,
    COMPETING_STATES,
    DATE_COLUMNS,
    EXIT_STATES,
    MEETING_LOCATIONS,
    REQUIRED_COLUMNS,
    ROW_ID,
    SOF_END,
    SOF_JOBCENTRES,
    SOF_START,
    SPELL_COVARIATES,
    TABLES,
    WEEK8_OFFSET,
    StudyData,
    empty_table,
    month_index,
    month_label,
    parse_month,
    spell_week,
)
from sofeval.data.io import (
    CSV_NA_VALUES,
    NUMERIC_COLUMNS,
    SORT_KEYS,
    SUFFIXES,
    RegisterMapping,
    Source,
    ValueMap,
    apply_mapping,
    load_study,
    read_csv_arrow,
    read_study_dir,
    read_table,
    write_study,
)
from sofeval.data.scenarios import (
    ALPHA_A0,
    DESTINATION_THETA_EA,
    DESTINATION_THETA_P,
    HIGH_IMPLEMENTERS,
    LATE_EXIT_SHARES,
    LATE_EXIT_WEEKLY,
    OTHER_HAZARDS,
    OTHER_JOBCENTRES,
    PRETREND_SLOPE,
    RECURRENCE_RHO,
    REPORT_THETA_EA,
    REPORT_THETA_P,
    SCENARIOS,
    SUBGROUP_EFFECT,
    TARGET_SHARE,
)
from sofeval.data.synthetic import SyntheticStudy, simulate
from sofeval.data.synthetic_calendar import BILLUND_END, MAX_WEEKS
from sofeval.data.synthetic_durations import (
    DURATION_HORIZON,
    true_durations,
    true_incidence,
)
from sofeval.data.synthetic_outcomes import SyntheticProcess
from sofeval.data.synthetic_recurrence import RECURRENCE_HORIZONS, true_recurrence
from sofeval.data.synthetic_truth import (
    AGE_BANDS,
    EVENT_QUARTER_LOWEST,
    SUBGROUP_VARIABLES,
    Truth,
    true_event_study,
    true_subgroups,
)
from sofeval.data.validation import (
    INVALID_OPTIONS,
    LOWER_COLUMNS,
    MAX_IDS_SHOWN,
    STRING_COLUMNS,
    Invalid,
    as_string,
    parse_dates,
    validate_study,
)

__all__ = [
    "ALPHA_A0",
    "AUDIT_COLUMNS",
    "BILLUND_END",
    "COMPETING_STATES",
    "COUNT_COLUMNS",
    "CSV_NA_VALUES",
    "DATE_COLUMNS",
    "EXIT_STATES",
    "Flags",
    "HIGH_IMPLEMENTERS",
    "INVALID_OPTIONS",
    "Invalid",
    "LATE_EXIT_SHARES",
    "LATE_EXIT_WEEKLY",
    "LOWER_COLUMNS",
    "MAX_IDS_SHOWN",
    "MAX_WEEKS",
    "MEETING_LOCATIONS",
    "MONTH_PATTERN",
    "NOT_MISSING",
    "NUMERIC_COLUMNS",
    "OTHER_HAZARDS",
    "OTHER_JOBCENTRES",
    "REPORT_THETA_EA",
    "REPORT_THETA_P",
    "REQUIRED_COLUMNS",
    "ROW_ID",
    "RULES",
    "RegisterMapping",
    "Rule",
    "SCENARIOS",
    "SOF_END",
    "SOF_JOBCENTRES",
    "SOF_START",
    "SORT_KEYS",
    "SPELL_COVARIATES",
    "STRING_COLUMNS",
    "SUFFIXES",
    "Source",
    "StudyData",
    "SyntheticStudy",
    "TABLES",
    "TARGET_SHARE",
    "Tables",
    "Truth",
    "ValueMap",
    "WEEK8_OFFSET",
    "apply_mapping",
    "as_string",
    "empty_table",
    "load_study",
    "month_index",
    "month_label",
    "parse_dates",
    "parse_month",
    "read_csv_arrow",
    "read_study_dir",
    "read_table",
    "simulate",
    "spell_week",
    "validate_study",
    "write_study",
    # synthetic truths of the second wave
    "AGE_BANDS",
    "DESTINATION_THETA_EA",
    "DESTINATION_THETA_P",
    "DURATION_HORIZON",
    "EVENT_QUARTER_LOWEST",
    "PRETREND_SLOPE",
    "RECURRENCE_HORIZONS",
    "RECURRENCE_RHO",
    "SUBGROUP_EFFECT",
    "SUBGROUP_VARIABLES",
    "SyntheticProcess",
    "true_durations",
    "true_event_study",
    "true_incidence",
    "true_recurrence",
    "true_subgroups",
]

# --- data validation: the rule table (sofeval.data.rules) ------------------------------------
from sofeval.data.rules import (  # noqa: E402
    COUNT_COLUMNS,
    MONTH_PATTERN,
    NOT_MISSING,
    RULES,
    Check,
    Flags,
    Rule,
    RuleContext,
    Tables,
)

__all__ += ["Check", "RuleContext"]

# --- the data profile of sofeval check (sofeval.data.profile) --------------------------------
from sofeval.data.profile import (  # noqa: E402
    CHECK_TEMPLATE,
    ENTRY_WEEK_CAP,
    PARTIAL_TRUE,
    PROFILE_TABLES,
    DataProfile,
    profile_study,
    suppress_counts,
)
from sofeval.data.validation import AUDIENCES, HINTS, Audience, format_violation  # noqa: E402

__all__ += [
    "AUDIENCES",
    "Audience",
    "CHECK_TEMPLATE",
    "DataProfile",
    "ENTRY_WEEK_CAP",
    "HINTS",
    "PARTIAL_TRUE",
    "PROFILE_TABLES",
    "format_violation",
    "profile_study",
    "suppress_counts",
]

# --- partitioned datasets and chunked synthetic data (the dask engine's inputs) -----------
from sofeval.data.partitioned import (  # noqa: E402
    DATASET_SUFFIXES,
    DatasetPiece,
    StudyDataset,
    TableDataset,
    is_dataset_location,
    open_study_dataset,
    open_table_dataset,
)
from sofeval.data.synthetic_chunks import (  # noqa: E402
    CHUNK_SPELLS,
    SyntheticDataset,
    chunk_sizes,
    write_synthetic_dataset,
)

__all__ += [
    "CHUNK_SPELLS",
    "DATASET_SUFFIXES",
    "DatasetPiece",
    "StudyDataset",
    "SyntheticDataset",
    "TableDataset",
    "chunk_sizes",
    "is_dataset_location",
    "open_study_dataset",
    "open_table_dataset",
    "write_synthetic_dataset",
]
