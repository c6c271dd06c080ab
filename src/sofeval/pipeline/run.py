"""The whole evaluation of ``sofeval run``: study tables in, every results table out.

One pass builds the cells once for every model on spell weeks (the dose-response model
keys its cells by the link month as well; summing over it gives the cells of the others).
Two steps, each in two lanes (:class:`sofeval.runtime.Background`):

1. the core: this process fits the pooled and per-jobcentre effects while a forked second
   lane fits the dose-response model, computes the success-criteria monitoring and, for
   samples up to :data:`COX_MAX_SPELLS` spells, the continuous-time Cox cross-check (their
   warnings and notes come in the order of :func:`sofeval.engines.run_dask`, so both
   engines give the same files);
2. the second wave: this process fits some subgroup variables while the second lane fits
   the event study, the placebo in time, the
   test of equal effects across jobcentres and the other subgroup variables; the subgroup
   models are shared so that both lanes finish together (:func:`split_subgroups`). The
   destination models (which reuse the employment fit), the counterfactual durations and the
   recurrence after a return to work belong here, but run at the end of step 1, where each
   lane would otherwise wait for the other; their warnings and notes are issued here, so the
   files equal those of the dask engine, which runs them in this step.

Each subgroup variable's model has its own seed (``seed + i``, as
:func:`~sofeval.analyses.subgroup_effects` gives the ``i``-th variable), so the split gives
the results of one call. An analysis that cannot be estimated on the data (an
:class:`~sofeval.errors.SofevalError`) becomes a note of the run, never a crash. Writing the
files (tables through disclosure control, the workbook, the HTML report and the HonestDiD
export) is :func:`sofeval.pipeline.outputs.write_outputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sofeval.analyses import (
    HOMOGENEITY_COLUMNS,
    DestinationsResult,
    DoseResponseResult,
    DurationsResult,
    EffectsResult,
    EventStudyResult,
    HomogeneityResult,
    JobcentreEffectsResult,
    MonitoringResult,
    PlaceboTimeResult,
    RecurrenceResult,
    SOFCells,
    SubgroupEffectsResult,
    coarsen_cells,
    counterfactual_durations,
    cox_crosscheck,
    default_subgroups,
    destination_effects,
    dose_response,
    estimate_effects,
    event_study,
    jobcentre_effects,
    jobcentre_homogeneity,
    placebo_time,
    recurrence_effects,
    sof_cells_with_subgroups,
    subgroup_effects,
    success_criteria,
)
from sofeval.config import OPTIONAL_ANALYSES, RunConfig
from sofeval.data import StudyData, StudyDataset
from sofeval.engines import run_dask
from sofeval.errors import SofevalError, check_option
from sofeval.panel import StudyDesign
from sofeval.runtime import Background, Recorded, fork_available, recorded

T = TypeVar("T")

#: The Cox cross-check fits the full person-week panel; above this many spells it is skipped.
COX_MAX_SPELLS = 50_000

#: Weeks since a return to work at which the recurrence is reported (DESIGN.md §4b).
RECURRENCE_HORIZONS: tuple[int, ...] = (26, 52)

#: Note of a dask run on a study too large to gather into this process.
DASK_NOTE = (
    "the destination effects, counterfactual durations, recurrence, event study, placebo in "
    "time, subgroup effects and homogeneity tests read the spell table in one process: the "
    f"dask engine runs them on studies of up to {COX_MAX_SPELLS:,} spells; run without "
    "--engine dask for them."
)

#: Failures that make an analysis a note of the run: the data cannot support it.
ANALYSIS_FAILURES: tuple[type[Exception], ...] = (SofevalError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class RunResults:
    """Everything one run estimated (immutable).

    An analysis that could not be estimated is ``None``, and :attr:`notes` says why.
    """

    design: StudyDesign
    config: RunConfig
    cells: SOFCells
    effects: EffectsResult
    jobcentres: JobcentreEffectsResult
    dose: DoseResponseResult | None
    monitoring: MonitoringResult | None
    audit: pd.DataFrame
    notes: tuple[str, ...] = ()
    cox: pd.DataFrame | None = None
    destinations: DestinationsResult | None = None
    durations: DurationsResult | None = None
    recurrence: RecurrenceResult | None = None
    event_study: EventStudyResult | None = None
    placebo: PlaceboTimeResult | None = None
    subgroups: SubgroupEffectsResult | None = None
    homogeneity: HomogeneityResult | None = None


@dataclass(frozen=True)
class _SideLane:
    """What the second lane of the second wave returns (small: no cells travel back)."""

    recurrence: RecurrenceResult | None
    event_study: EventStudyResult | None
    placebo: PlaceboTimeResult | None
    jc_homogeneity: HomogeneityResult | None
    subgroups: tuple[tuple[int, SubgroupEffectsResult], ...]
    notes: tuple[str, ...]


#: The destinations and durations with their notes, and the warnings held back.
Outcomes = Recorded[tuple[DestinationsResult | None, DurationsResult | None, tuple[str, ...]]]
#: The recurrence with its notes, and the warnings held back.
RecurrenceWork = Recorded[tuple[RecurrenceResult | None, tuple[str, ...]]]


def _inference(config: RunConfig) -> dict[str, Any]:
    """The model and inference settings every analysis takes."""
    return {
        "covariates": config.covariates,
        "family": config.family,
        "bootstrap_draws": config.bootstrap_draws,
        "bootstrap_weights": config.bootstrap_weights,
        "seed": config.seed,
    }


def subgroup_variables(study: StudyData, config: RunConfig) -> tuple[str, ...]:
    """The subgroup variables of a run: ``config.subgroups``, by default those in the data.

    Parameters
    ----------
    study
        Validated study tables.
    config
        Run settings.

    Returns
    -------
    tuple of str
        Empty when the subgroup analysis is switched off.
    """
    if not config.runs("subgroups"):
        return ()
    if config.subgroups is None:
        return default_subgroups(study)
    return tuple(config.subgroups)


def _subgroup_parts(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    variables: Sequence[str],
    which: Sequence[int],
    progress: bool | None,
    notes: list[str],
    cells: Mapping[str, SOFCells],
) -> list[tuple[int, SubgroupEffectsResult]]:
    """The subgroup models of the variables ``which``, each with seed ``seed + i``.

    ``cells`` holds the cells of the variables built in the first pass (the others are
    built here).
    """
    settings = _inference(config)
    out = []
    for i in which:
        var = variables[i]
        part = _attempt(
            f"subgroup effects by {var} not estimated",
            notes,
            lambda i=i, var=var: subgroup_effects(  # type: ignore[misc]
                study, design, [var], progress=progress,
                cells={var: cells[var]} if var in cells else None,
                **(settings | {"seed": config.seed + i}),
            ),
        )  # fmt: skip
        if part is not None:
            out.append((i, part))
    return out


#: Cost of each second-wave analysis per cell of the run's cells (``sc``), in units of one
#: subgroup model's cost per cell of its own cells; measured at 1.5 M spells (437,780 cells;
#: one subgroup model ~1.8e-6 s per cell): destinations 1.58 s, durations 1.27 s, recurrence
#: 2.47 s, event study 0.74 s, placebo in time 2.44 s, jobcentre homogeneity 1.84 s. Only
#: the balance of the two lanes depends on it, never a result.
LANE_COST: dict[str, float] = {
    "destinations": 2.0,
    "durations": 1.6,
    "recurrence": 3.1,
    "event_study": 0.9,
    "placebo_time": 3.1,
    "homogeneity": 2.3,
}
#: Analyses of the main lane of the second wave (the others run in the second lane).
MAIN_LANE: tuple[str, ...] = ("destinations", "durations")


def split_subgroups(
    variables: Sequence[str],
    sizes: Mapping[str, int],
    n_cells: int,
    config: RunConfig,
    done: Sequence[str] = (),
) -> tuple[list[int], list[int]]:
    """Share the subgroup models between the two lanes so that they finish together.

    Longest first, each model goes to the lane with less work so far (a tie to the main
    lane). A model's cost is its number of cells (``sizes``; ``n_cells`` for a variable
    without prebuilt cells); a lane starts with the cost of its other analyses in the run
    (:data:`LANE_COST` times ``n_cells``). Every model keeps its seed, so the split changes
    no result, only the wall time.

    Parameters
    ----------
    variables
        The subgroup variables of the run, in order.
    sizes
        Cells per variable.
    n_cells
        Cells of the run's models.
    config
        Run settings (skipped analyses cost nothing).
    done
        Analyses of :data:`LANE_COST` computed before step 2 (they cost nothing either).

    Returns
    -------
    mine, theirs : list of int
        Indices of ``variables`` for the main and the second lane, each in increasing order.
    """
    load = [0.0, 0.0]
    for analysis, weight in LANE_COST.items():
        if config.runs(analysis) and analysis not in done:
            load[0 if analysis in MAIN_LANE else 1] += weight * n_cells
    lanes: tuple[list[int], list[int]] = ([], [])
    cost = [float(sizes.get(v, n_cells)) for v in variables]
    for i in sorted(range(len(variables)), key=lambda j: (-cost[j], j)):
        lane = 0 if load[0] <= load[1] else 1
        lanes[lane].append(i)
        load[lane] += cost[i]
    return sorted(lanes[0]), sorted(lanes[1])


def merge_subgroups(
    parts: Sequence[tuple[int, SubgroupEffectsResult]],
) -> SubgroupEffectsResult | None:
    """One subgroup result from the results of single variables, in variable order.

    Parameters
    ----------
    parts
        ``(index of the variable, its result)`` pairs.

    Returns
    -------
    SubgroupEffectsResult or None
        ``None`` without parts.
    """
    if not parts:
        return None
    ordered = [r for _, r in sorted(parts, key=lambda p: p[0])]
    clusters: dict[str, str] = {}
    for r in ordered:
        clusters |= r.homogeneity.clusters
    tests = pd.concat([r.homogeneity.table for r in ordered], ignore_index=True)
    return SubgroupEffectsResult(
        table=pd.concat([r.table for r in ordered], ignore_index=True),
        homogeneity=HomogeneityResult(tests, clusters),
        variables=tuple(v for r in ordered for v in r.variables),
    )


def _homogeneity(
    subgroups: SubgroupEffectsResult | None, jobcentres: HomogeneityResult | None
) -> HomogeneityResult | None:
    """The homogeneity table: the subgroup variables' tests, then the jobcentre test."""
    parts = [r for r in (subgroups.homogeneity if subgroups else None, jobcentres) if r]
    if not parts:
        return None
    table = pd.concat([r.table for r in parts], ignore_index=True)[list(HOMOGENEITY_COLUMNS)]
    clusters: dict[str, str] = {}
    for r in parts:
        clusters |= r.clusters
    return HomogeneityResult(table, clusters)


def _attempt(
    what: str, notes: list[str], fn: Callable[[], T], config: RunConfig | None = None,
    analysis: str = "",
) -> T | None:
    """``fn()``, or ``None`` with a note when the data cannot support the analysis.

    With ``config`` and ``analysis`` (one of :data:`sofeval.config.OPTIONAL_ANALYSES`), an
    analysis the run skips is ``None`` without running (:func:`skip_notes` says so).
    """
    if config is not None and not config.runs(analysis):
        return None
    try:
        return fn()
    except ANALYSIS_FAILURES as exc:
        notes.append(f"{what}: {exc}")
        return None


def _core(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    sc_dose: SOFCells,
    sc: SOFCells,
    progress: bool | None,
    parallel: bool,
) -> tuple[RunResults, tuple[Outcomes, RecurrenceWork]]:
    """Step 1: pooled and per-jobcentre effects, dose-response, monitoring, Cox cross-check.

    The dose-response, the monitoring and the Cox cross-check run in the second lane while
    this process fits the effects models; their warnings are re-issued after the effects
    models', in the order of :func:`sofeval.engines.run_dask`. This process then goes on
    with the destination models and durations of step 2 (they need the employment fit),
    the second lane with the recurrence of step 2, both returned with their warnings held
    back (:func:`sofeval.runtime.recorded`).
    """
    forked = parallel and fork_available()  # a child's progress bar would garble the parent's
    side = Background(
        lambda: _core_side(study, design, config, sc_dose, False if forked else progress),
        enabled=forked,
    )
    eff = estimate_effects(
        sc, ri_draws=config.ri_draws, progress=progress, **_inference(config)
    )
    jce = jobcentre_effects(
        sc, covariates=config.covariates, family=config.family  # type: ignore[arg-type]
    )
    # the second lane's work takes longer: the destinations and durations of step 2 fill
    # the wait, their warnings held back to be issued where step 2 would have run them
    outcomes = recorded(lambda: _outcomes(study, sc, eff, config, progress))
    dose, mon, cox, notes, rec = side.result()
    core = RunResults(design, config, sc, eff, jce, dose, mon, study.audit, notes, cox)
    return core, (outcomes, rec)


def _core_side(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    sc_dose: SOFCells,
    progress: bool | None,
) -> tuple[DoseResponseResult | None, MonitoringResult | None, pd.DataFrame | None,
           tuple[str, ...], RecurrenceWork]:  # fmt: skip
    """Step 1, second lane: dose-response, monitoring and Cox cross-check, with notes.

    Then the recurrence of step 2, its warnings held back (:func:`sofeval.runtime.recorded`).
    """
    notes: list[str] = []
    settings = _inference(config)
    dose = _attempt(
        "dose-response not estimated",
        notes,
        lambda: dose_response(study, design, cells=sc_dose, progress=progress, **settings),
        config, "dose_response",
    )
    mon = _attempt("monitoring not computed", notes, lambda: success_criteria(study), config,
                   "monitoring")
    cox: pd.DataFrame | None = None
    if len(study.spells) <= COX_MAX_SPELLS:
        cox = _attempt("Cox cross-check not computed", notes, lambda: cox_crosscheck(study, design))
    else:
        notes.append(
            f"Cox cross-check skipped: {len(study.spells):,} spells exceed {COX_MAX_SPELLS:,} "
            "(it works on the full person-week panel)."
        )
    rec = recorded(lambda: _recurrence(study, design, config, sc_dose))
    return dose, mon, cox, tuple(notes), rec


def _recurrence(
    study: StudyData, design: StudyDesign, config: RunConfig, sc_dose: SOFCells
) -> tuple[RecurrenceResult | None, tuple[str, ...]]:
    """The recurrence after a return to work, with its note if it cannot be estimated."""
    notes: list[str] = []
    rec = _attempt(
        "recurrence not estimated",
        notes,
        lambda: recurrence_effects(
            study, design, horizons=RECURRENCE_HORIZONS, covariates=config.covariates,
            family=config.family, cells=sc_dose,  # type: ignore[arg-type]
        ),
        config, "recurrence",
    )  # fmt: skip
    return rec, tuple(notes)


def _side_lane(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    cells: tuple[SOFCells, SOFCells],
    subgroups: tuple[Sequence[str], Sequence[int], Mapping[str, SOFCells]],
    progress: bool | None,
    early: RecurrenceWork | None = None,
) -> _SideLane:
    """Step 2, second lane: recurrence, event study, placebo, jobcentre homogeneity, subgroups.

    ``cells`` are the cells keyed by ``link_month`` and those summed over it; ``subgroups``
    is ``(variables, indices, cells)``, the subgroup variables this lane fits and the
    cells built for them in the first pass.
    """
    settings = _inference(config)
    sc_dose, sc = cells
    if early is None:
        rec, rec_notes = _recurrence(study, design, config, sc_dose)
    else:  # computed in step 1: its warnings come here, where it would have run
        rec, rec_notes = early.reissue()
    notes = list(rec_notes)
    es = _attempt(
        "event study not estimated",
        notes,
        lambda: event_study(sc_dose, progress=progress, **settings),
        config, "event_study",
    )
    placebo = _attempt(
        "placebo in time not estimated",
        notes,
        lambda: placebo_time(study, design, progress=progress, **settings),
        config, "placebo_time",
    )
    jc_hom = _attempt(
        "homogeneity across jobcentres not tested",
        notes,
        lambda: jobcentre_homogeneity(sc, progress=progress, **settings),
        config, "homogeneity",
    )
    variables, which, sg_cells = subgroups
    parts = _subgroup_parts(study, design, config, variables, which, progress, notes, sg_cells)
    return _SideLane(rec, es, placebo, jc_hom, tuple(parts), tuple(notes))


def _outcomes(
    study: StudyData,
    sc: SOFCells,
    eff: EffectsResult,
    config: RunConfig,
    progress: bool | None,
) -> tuple[DestinationsResult | None, DurationsResult | None, tuple[str, ...]]:
    """Effects on every destination, then weeks and kroner saved, with their notes."""
    notes: list[str] = []
    dest = _attempt(
        "destination effects not estimated",
        notes,
        lambda: destination_effects(
            sc, effects=eff, progress=progress, **_inference(config),
            # the second lane already holds the other core: a fork here only adds copying
            parallel=False,
        ),
        config, "destinations",
    )  # fmt: skip
    if dest is None:
        if config.runs("destinations"):
            notes.append(
                "counterfactual durations not estimated: they need the destination models."
            )
        return None, None, tuple(notes)
    dur = _attempt(
        "counterfactual durations not estimated",
        notes,
        lambda: counterfactual_durations(
            dest, study, horizon=config.horizon_weeks, benefit_per_week=config.benefit_per_week
        ),
        config, "durations",
    )
    return dest, dur, tuple(notes)


def _second_wave(
    study: StudyData,
    core: RunResults,
    sc_dose: SOFCells,
    sc: SOFCells,
    progress: bool | None,
    parallel: bool,
    sg_cells: Mapping[str, SOFCells],
    early: tuple[Outcomes, RecurrenceWork] | None = None,
) -> RunResults:
    """Step 2: the analyses beyond the hazard ratio and of credibility, in two lanes.

    ``sg_cells`` are the subgroup variables' cells built in the first pass
    (:func:`~sofeval.analyses.sof_cells_with_subgroups`); ``early`` the destinations,
    durations and recurrence step 1 computed (``None``: they are computed here).
    """
    config, design = core.config, core.design
    forked = parallel and fork_available()
    variables = subgroup_variables(study, config)
    mine, theirs = split_subgroups(
        variables, {v: c.cells.n_cells for v, c in sg_cells.items()}, sc.cells.n_cells,
        config, done=(*MAIN_LANE, "recurrence") if early is not None else (),
    )  # fmt: skip
    side = Background(
        lambda: _side_lane(
            study, design, config, (sc_dose, sc), (variables, theirs, sg_cells),
            progress=False if forked else progress,
            early=None if early is None else early[1],
        ),
        enabled=forked,
    )  # fmt: skip
    if early is None:
        dest, dur, outcome_notes = _outcomes(study, sc, core.effects, config, progress)
    else:  # computed in step 1: their warnings come here, where they would have run
        dest, dur, outcome_notes = early[0].reissue()
    notes = list(outcome_notes)
    parts = _subgroup_parts(study, design, config, variables, mine, progress, notes, sg_cells)
    lane = side.result()
    subgroups = merge_subgroups([*parts, *lane.subgroups])
    es = lane.event_study
    if es is not None and not honestdid_disclosable(es, config.threshold):
        notes.append(
            "HonestDiD export not written: an event-study quarter rests on fewer than "
            f"{config.threshold} spells or exits (disclosure control)."
        )
    return replace(
        core,
        notes=(*core.notes, *notes, *lane.notes),
        destinations=dest,
        durations=dur,
        recurrence=lane.recurrence,
        event_study=es,
        placebo=lane.placebo,
        subgroups=subgroups,
        homogeneity=_homogeneity(subgroups, lane.jc_homogeneity),
    )


def honestdid_disclosable(es: EventStudyResult, threshold: int) -> bool:
    """Whether the HonestDiD export may be published: no event quarter rests on a small count.

    The export holds every event-study coefficient, so it is written only when disclosure
    control hides none of them (no ``n_spells`` or ``n_events`` in ``1 .. threshold-1``).

    Parameters
    ----------
    es
        The event study of the run.
    threshold
        Disclosure threshold.

    Returns
    -------
    bool
    """
    counts = es.table[["n_spells", "n_events"]].to_numpy(dtype=float)
    return not bool(((counts >= 1) & (counts < threshold)).any())


def run_analysis(
    study: StudyData | StudyDataset,
    config: RunConfig,
    *,
    progress: bool | None = None,
    parallel: bool = True,
    engine: Literal["local", "dask"] = "local",
    client: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> RunResults:
    """Run the default SOF evaluation on validated study tables.

    Parameters
    ----------
    study
        Validated tables (see :func:`sofeval.data.io.load_study`), or partitioned datasets
        (:func:`sofeval.data.open_study_dataset`; the local engine reads them whole).
    config
        Run settings.
    progress
        Progress bars (default: only in an interactive terminal).
    parallel
        Work in two lanes, the second a forked process (see :mod:`sofeval.runtime`;
        ignored where ``fork`` is not available). The results are identical either way.
    engine
        ``"local"`` (this process) or ``"dask"``: the cells and the monitoring counts are
        computed partition by partition on a dask cluster, the models on this process
        (:func:`sofeval.engines.run_dask`, docs/cluster.md); the results are the same. The
        second-wave analyses need the spell table in this process: the dask engine runs
        them on studies it gathers (up to :data:`COX_MAX_SPELLS` spells) and otherwise
        leaves a note (:data:`DASK_NOTE`).
    client, workers, scheduler
        For the dask engine: a ``distributed.Client`` (implies ``engine="dask"``), or the
        address of a running scheduler, or the worker processes of a local cluster that
        starts and stops with the run (default 2).

    Returns
    -------
    RunResults
    """
    check_option("engine", engine, ("local", "dask"))
    # one BLAS thread, in either lane or in one process: a BLAS reduction split over threads
    # sums in another order, so the last digits of a result would depend on the machine
    with threadpool_limits(limits=1):
        res = _run(study, config, progress, parallel, engine, client, workers, scheduler)
    return replace(res, notes=(*res.notes, *skip_notes(config)))


def skip_notes(config: RunConfig) -> tuple[str, ...]:
    """The note naming the analyses the run leaves out (``skip``, ``subgroups = []``).

    Parameters
    ----------
    config
        Run settings.

    Returns
    -------
    tuple of str
        Empty when every analysis runs.
    """
    left = [a.replace("_", " ") for a in OPTIONAL_ANALYSES if not config.runs(a)]
    if not left:
        return ()
    return (f"not estimated, left out by the run settings (skip, subgroups): {', '.join(left)}.",)


def _run(
    study: StudyData | StudyDataset,
    config: RunConfig,
    progress: bool | None,
    parallel: bool,
    engine: Literal["local", "dask"],
    client: Any,
    workers: int | None,
    scheduler: str | None,
) -> RunResults:
    """The body of :func:`run_analysis`, without the notes of skipped analyses."""
    design = StudyDesign(**config.design)
    covs = config.covariates
    if engine == "dask" or client is not None:
        d = run_dask(
            study, design, covariates=covs, family=config.family,
            bootstrap_draws=config.bootstrap_draws, bootstrap_weights=config.bootstrap_weights,
            ri_draws=config.ri_draws, seed=config.seed, progress=progress, client=client,
            scheduler=scheduler, workers=workers, cox_max_spells=COX_MAX_SPELLS,
        )
        skipped = [a for a in ("dose_response", "monitoring") if not config.runs(a)]
        core = RunResults(
            design, config, d.cells, d.effects, d.jobcentres,
            None if "dose_response" in skipped else d.dose,
            None if "monitoring" in skipped else d.monitoring, d.audit, d.notes, d.cox,
        )  # fmt: skip
        gathered = d.reduced.study
        if gathered is None:
            return replace(core, notes=(*core.notes, DASK_NOTE))
        sc_dose, sg_cells = sof_cells_with_subgroups(
            gathered, design, covs, subgroup_variables(gathered, config), progress=progress)
        return _second_wave(gathered, core, sc_dose, coarsen_cells(sc_dose, ("link_month",)),
                            progress, parallel, sg_cells)
    if isinstance(study, StudyDataset):
        study = study.load()
    # one pass over the spells: the dose-response cells are also keyed by link_month, and
    # summing over it gives exactly the cells of the effects models
    sc_dose, sg_cells = sof_cells_with_subgroups(
        study, design, covs, subgroup_variables(study, config), progress=progress)
    sc = coarsen_cells(sc_dose, ("link_month",))
    core, early = _core(study, design, config, sc_dose, sc, progress, parallel)
    return _second_wave(study, core, sc_dose, sc, progress, parallel, sg_cells, early)
