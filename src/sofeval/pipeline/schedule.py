"""How the work of a run is shared between its two lanes (:mod:`sofeval.pipeline.run`).

The main lane collapses the cells of the effects models and fits every analysis on them;
the second lane fits the analyses that read the spell table only. The subgroup models go
to whichever lane has less work, by a cost model (:data:`LANE_COST`): only the wall time
depends on it, never a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sofeval.config import OPTIONAL_ANALYSES, RunConfig
from sofeval.data import StudyData

#: Cost of the work of a run, in units of one level of a subgroup variable (its share of the
#: subgroup cells and of its model: 0.47 CPU s at 1.5 M spells, measured in the lanes of a
#: run; every cost grows with the spells alike). ``cells`` is the main lane's collapse (keyed
#: by ``link_month``, for every model but the subgroups' and the placebo's), ``second_cells``
#: what the second lane's collapse costs besides its subgroup variables, ``effects`` the pooled
#: and per-jobcentre models, ``figures`` the report figures of the main lane. Only the
#: balance of the two lanes depends on it, never a result (:func:`split_subgroups`).
LANE_COST: dict[str, float] = {
    "cells": 2.8,
    "effects": 1.6,
    "dose_response": 2.4,
    "destinations": 3.0,
    "durations": 1.9,
    "recurrence": 2.0,
    "event_study": 0.9,
    "homogeneity": 1.7,
    "figures": 4.1,
    "second_cells": 2.0,
    "monitoring": 2.5,
    "placebo_time": 2.7,
    "recurrence_second": 2.8,
}
#: Work of the second lane: it reads the spell table only (the placebo in time collapses
#: its own study), besides the subgroup models given to it.
SECOND_LANE: tuple[str, ...] = ("second_cells", "placebo_time", "monitoring")
#: Analyses either lane can fit; the second lane takes them (at the cost named
#: ``<analysis>_second``: it has no spell frame of the main lane's collapse) only when it
#: would still be the lighter lane with every subgroup model (:func:`second_lane_analyses`).
MOVABLE: tuple[str, ...] = ("recurrence",)
#: Work already done when the core comes from the dask engine.
CORE_WORK: tuple[str, ...] = ("effects", "dose_response", "monitoring")
#: Levels at most of a subgroup variable in the cost of its model (numeric ones are binned).
MAX_LEVELS = 5


def subgroup_levels(study: StudyData, variables: Sequence[str]) -> dict[str, int]:
    """The levels of each subgroup variable as the cost of its model sees them.

    Distinct values, missing included, at most :data:`MAX_LEVELS` (``age`` is binned in
    five bands); a variable that is not a column of ``spells`` costs one level.

    Parameters
    ----------
    study
        Validated study tables.
    variables
        Subgroup variables.

    Returns
    -------
    dict
        Variable -> levels.
    """
    sp = study.spells
    return {
        v: min(int(sp[v].nunique(dropna=False)), MAX_LEVELS) if v in sp.columns else 1
        for v in variables
    }


def lane_loads(
    config: RunConfig, core_done: bool = False, figures: bool = False, moved: Sequence[str] = ()
) -> list[float]:
    """The cost each lane starts with, before the subgroup models (:data:`LANE_COST`).

    Parameters
    ----------
    config, core_done, figures, moved
        As for :func:`split_subgroups`.

    Returns
    -------
    list of float
        ``[main lane, second lane]``.
    """
    load = [0.0, 0.0]
    for work, weight in LANE_COST.items():
        name = work.removesuffix("_second")
        if name in OPTIONAL_ANALYSES and not config.runs(name):
            continue
        if (core_done and work in CORE_WORK) or (work == "figures" and not figures):
            continue
        if work == "second_cells" and not config.runs("subgroups"):
            continue  # the second lane collapses only for subgroup models
        if name in MOVABLE:  # counted in the lane that fits it, at that lane's cost
            if (work == name) == (name in moved):
                continue
            load[1 if name in moved else 0] += weight
            continue
        load[1 if work in SECOND_LANE else 0] += weight
    return load


def second_lane_analyses(
    variables: Sequence[str],
    levels: Mapping[str, int],
    config: RunConfig,
    core_done: bool = False,
    figures: bool = False,
) -> tuple[str, ...]:
    """The analyses of :data:`MOVABLE` that go to the second lane.

    One moves when the second lane, with it and every subgroup model, would still have no
    more work than the main lane without it: a run without subgroup models (``--skip``) or
    with few keeps the second core busy instead of idle. Only the wall time depends on it.

    Parameters
    ----------
    variables, levels, config, core_done, figures
        As for :func:`split_subgroups`.

    Returns
    -------
    tuple of str
    """
    subgroups = sum(float(levels.get(v, 1)) for v in variables)
    moved: tuple[str, ...] = ()
    for name in MOVABLE:
        if not config.runs(name):
            continue
        load = lane_loads(config, core_done, figures, (*moved, name))
        if load[1] + subgroups <= load[0]:
            moved += (name,)
    return moved


def split_subgroups(
    variables: Sequence[str],
    levels: Mapping[str, int],
    config: RunConfig,
    core_done: bool = False,
    figures: bool = False,
    moved: Sequence[str] = (),
) -> tuple[list[int], list[int]]:
    """Share the subgroup models between the two lanes so that they finish together.

    Each lane starts with the cost of its other work in the run (:data:`LANE_COST`; the
    second lane's is :data:`SECOND_LANE` and ``moved``); then, most levels first, each
    variable goes to the lane with less work so far (a tie to the second lane), at a cost
    of its levels. Every model keeps its seed, so the split changes no result, only the
    wall time.

    Parameters
    ----------
    variables
        The subgroup variables of the run, in order.
    levels
        Levels per variable (:func:`subgroup_levels`).
    config
        Run settings (skipped analyses cost nothing).
    core_done
        The core (:data:`CORE_WORK`) was computed elsewhere (the dask engine).
    figures
        The lanes draw the report figures of their analyses (``figures``, in the main lane).
    moved
        Analyses of :data:`MOVABLE` in the second lane (:func:`second_lane_analyses`).

    Returns
    -------
    mine, theirs : list of int
        Indices of ``variables`` for the main and the second lane, each in increasing order.
    """
    load = lane_loads(config, core_done, figures, moved)
    lanes: tuple[list[int], list[int]] = ([], [])
    cost = [float(levels.get(v, 1)) for v in variables]
    for i in sorted(range(len(variables)), key=lambda j: (-cost[j], j)):
        lane = 0 if load[0] < load[1] else 1
        lanes[lane].append(i)
        load[lane] += cost[i]
    return sorted(lanes[0]), sorted(lanes[1])
