"""Panel layer: study design, per-spell frame, person-week panel rows and collapsed cells.

Modules, in the order the data flows through them:

* :mod:`~sofeval.panel.days` -- day numbers, the integer calendar of the layer;
* :mod:`~sofeval.panel.design` -- :class:`StudyDesign`, programme windows, exposure, columns;
* :mod:`~sofeval.panel.spells` -- the per-spell frame, covariate bins, the first meeting;
* :mod:`~sofeval.panel.rows` -- prepared per-spell arrays and the integer-coded panel rows;
* :mod:`~sofeval.panel.build` -- the person-week :class:`Panel`;
* :mod:`~sofeval.panel.grouping` and :mod:`~sofeval.panel.cells` -- collapsed :class:`Cells`.
"""

from __future__ import annotations

from sofeval.panel.build import Panel, build_panel
from sofeval.panel.cells import (
    CHUNK_SIZE,
    DEFAULT_KEYS,
    Cells,
    cells_for_key_sets,
    cells_from_spells,
    cells_with_spell_frame,
    coarsen,
    collapse,
)
from sofeval.panel.days import NEVER, day_number, day_numbers, month_of_days
from sofeval.panel.design import (
    KEY_COLUMNS,
    MAX_WINDOWS,
    CohortOn,
    Entry,
    StudyDesign,
    Treatment,
    event_column_of_state,
    event_columns,
    exposure_mask,
    programme_windows,
    treated,
    week_block,
)
from sofeval.panel.grouping import MAX_DENSE, MAX_LOOKUP, CodeIndex, group_codes
from sofeval.panel.rows import (
    PanelAudit,
    Prepared,
    Rows,
    decode,
    need_any,
    panel_rows,
    prepare,
    prepare_with_frame,
)
from sofeval.panel.spells import (
    AGE_LABELS,
    EXCLUSION_REASONS,
    MAX_DISTINCT_NUMERIC,
    FirstMeetings,
    bin_covariates,
    check_covariates,
    first_meeting_rows,
    first_meeting_weeks,
    spell_frame,
)

__all__ = [
    "AGE_LABELS",
    "CHUNK_SIZE",
    "Cells",
    "CodeIndex",
    "CohortOn",
    "DEFAULT_KEYS",
    "EXCLUSION_REASONS",
    "Entry",
    "FirstMeetings",
    "KEY_COLUMNS",
    "MAX_DENSE",
    "MAX_LOOKUP",
    "MAX_DISTINCT_NUMERIC",
    "MAX_WINDOWS",
    "NEVER",
    "Panel",
    "PanelAudit",
    "Prepared",
    "Rows",
    "StudyDesign",
    "Treatment",
    "bin_covariates",
    "build_panel",
    "cells_for_key_sets",
    "cells_from_spells",
    "cells_with_spell_frame",
    "check_covariates",
    "coarsen",
    "collapse",
    "day_number",
    "day_numbers",
    "decode",
    "event_column_of_state",
    "event_columns",
    "exposure_mask",
    "first_meeting_rows",
    "first_meeting_weeks",
    "group_codes",
    "month_of_days",
    "need_any",
    "panel_rows",
    "prepare",
    "prepare_with_frame",
    "programme_windows",
    "spell_frame",
    "treated",
    "week_block",
]
