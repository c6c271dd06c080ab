"""The whole evaluation of ``sofeval run``: the analyses in two lanes, then the files.

* :mod:`sofeval.pipeline.run` -- :func:`run_analysis`: study tables in, every result out
  (the order of the work and its lanes is described there);
* :mod:`sofeval.pipeline.schedule` -- :func:`split_subgroups`: which lane fits which
  subgroup model (a cost model of the run's work);
* :mod:`sofeval.pipeline.outputs` -- :func:`write_outputs`: every table through disclosure
  control, the workbook, the HTML report and the HonestDiD export; :func:`figures_for`:
  the report figures of some analyses, drawn ahead in the lane that estimated them.
"""

from __future__ import annotations

from sofeval.pipeline.outputs import design_text, figures_for, write_outputs
from sofeval.pipeline.run import (
    ANALYSIS_FAILURES,
    COX_MAX_SPELLS,
    DASK_NOTE,
    RECURRENCE_HORIZONS,
    RunResults,
    honestdid_disclosable,
    merge_subgroups,
    run_analysis,
    skip_notes,
    subgroup_variables,
)
from sofeval.pipeline.schedule import (
    CORE_WORK,
    LANE_COST,
    MAX_LEVELS,
    MOVABLE,
    SECOND_LANE,
    lane_loads,
    second_lane_analyses,
    split_subgroups,
    subgroup_levels,
)

__all__ = [
    "ANALYSIS_FAILURES",
    "CORE_WORK",
    "COX_MAX_SPELLS",
    "DASK_NOTE",
    "LANE_COST",
    "MAX_LEVELS",
    "MOVABLE",
    "RECURRENCE_HORIZONS",
    "SECOND_LANE",
    "RunResults",
    "design_text",
    "figures_for",
    "honestdid_disclosable",
    "merge_subgroups",
    "lane_loads",
    "run_analysis",
    "second_lane_analyses",
    "skip_notes",
    "split_subgroups",
    "subgroup_levels",
    "subgroup_variables",
    "write_outputs",
]
