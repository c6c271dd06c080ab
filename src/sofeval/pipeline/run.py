"""The whole evaluation of ``sofeval run``: study tables in, every results table out.

After loading, the work runs in two lanes that start together and do not wait for each
other (:class:`sofeval.runtime.Background`; one process when ``fork`` is not available):

* this process collapses the spells once into the cells keyed by ``link_month`` (summing
  over it gives the cells of every model but the subgroup and placebo models) and fits the
  core (pooled and per-jobcentre effects, dose-response), then the destinations and
  counterfactual durations (they reuse the employment fit), the recurrence after a return
  to work, the event study and the test of equal effects across jobcentres;
* the second lane reads the spell table only: the success-criteria monitoring, the placebo
  in time (a study of its own), the continuous-time Cox cross-check on samples up to
  :data:`COX_MAX_SPELLS` spells;
* the subgroup models are shared between the lanes so that both finish together
  (:func:`split_subgroups`); each lane collapses the cells of its own variables in the
  same pass as its other cells.

Each lane draws the report figures of its analyses as soon as they are estimated (with
``figures=True``). Each piece of work keeps its notes and holds back its warnings
(:class:`_Lane`); once both
lanes are done they are issued in one fixed order (the core's in the order of
:func:`sofeval.engines.run_dask`, then the rest), so the files do not depend on which lane
did what, and the dask engine, which computes the core on the cluster and the rest here,
gives the same files. Each subgroup variable's model has its own seed (``seed + i``, as
:func:`~sofeval.analyses.subgroup_effects` gives the ``i``-th variable), so the split gives
the results of one call. An analysis that cannot be estimated on the data (an
:class:`~sofeval.errors.SofevalError`) becomes a note of the run, never a crash. Writing the
files (tables through disclosure control, the workbook, the HTML report and the HonestDiD
export) is :func:`sofeval.pipeline.outputs.write_outputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

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
    subgroup_cells,
    subgroup_effects,
    success_criteria,
)
from sofeval.config import OPTIONAL_ANALYSES, RunConfig
from sofeval.data import StudyData, StudyDataset
from sofeval.engines import run_dask
from sofeval.errors import SofevalError, check_option
from sofeval.panel import StudyDesign
from sofeval.pipeline.schedule import second_lane_analyses, split_subgroups, subgroup_levels
from sofeval.runtime import Background, Recorded, fork_available, recorded

if TYPE_CHECKING:
    from sofeval.report import PrerenderedFigure

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
    :attr:`figures` holds the report figures drawn in the lanes (``run_analysis(...,
    figures=True)``), for :func:`~sofeval.pipeline.outputs.write_outputs` to embed.
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
    figures: tuple[PrerenderedFigure, ...] = field(default=(), repr=False, compare=False)


#: One piece of a lane's work: its value and notes, with its warnings held back.
Item = Recorded[tuple[Any, tuple[str, ...]]]
#: Draws the report figures of the analyses given (:func:`sofeval.pipeline.figures_for`).
Draw = Callable[..., tuple["PrerenderedFigure", ...]]


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


def _attempted(
    what: str, fn: Callable[[], T], config: RunConfig | None = None, analysis: str = ""
) -> tuple[T | None, tuple[str, ...]]:
    """``(fn(), ())``, or ``(None, (note,))`` when the data cannot support the analysis.

    With ``config`` and ``analysis`` (one of :data:`sofeval.config.OPTIONAL_ANALYSES`), an
    analysis the run skips is ``(None, ())`` without running (:func:`skip_notes` says so).
    """
    if config is not None and not config.runs(analysis):
        return None, ()
    try:
        return fn(), ()
    except ANALYSIS_FAILURES as exc:
        return None, (f"{what}: {exc}",)


class _Lane:
    """The work of one lane, each piece with its notes and its warnings held back.

    Pieces are keyed by name (:func:`_order`); the run issues their warnings and collects
    their notes in that order once both lanes are done, so the files do not depend on which
    lane did what.
    """

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def put(
        self, key: str, fn: Callable[[], tuple[Any, tuple[str, ...]]], keep: bool = True
    ) -> Any:
        """Run ``fn`` (returning ``(value, notes)``) as the piece ``key``; return the value.

        With ``keep=False`` the piece holds only the notes and warnings (for work the lane
        uses itself, such as cells: they are not sent back).
        """
        item = recorded(fn)
        value, notes = item.value
        self.items[key] = item if keep else Recorded((None, notes), item.records)
        return value

    def value(self, key: str) -> Any:
        """The value of the piece ``key`` (``None`` when it did not run)."""
        return self.items[key].value[0] if key in self.items else None

    def core(self, key: str, fn: Callable[[], T], keep: bool = True) -> T:
        """A piece whose failure fails the run (the cells, the effects models)."""
        return self.put(key, lambda: (fn(), ()), keep)  # type: ignore[no-any-return]

    def attempt(
        self, key: str, what: str, fn: Callable[[], Any], config: RunConfig, analysis: str
    ) -> Any:
        """An analysis that becomes a note when the data cannot support it (:func:`_attempted`)."""
        return self.put(key, lambda: _attempted(what, fn, config, analysis))


def _subgroup(
    lane: _Lane,
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    variables: Sequence[str],
    i: int,
    cells: Mapping[str, SOFCells],
    progress: bool | None,
) -> None:
    """The subgroup model of ``variables[i]``, with seed ``seed + i``, as a piece of ``lane``."""
    var = variables[i]
    lane.attempt(
        f"subgroup:{i}",
        f"subgroup effects by {var} not estimated",
        lambda: subgroup_effects(
            study, design, [var], progress=progress,
            cells={var: cells[var]} if var in cells else None,
            **(_inference(config) | {"seed": config.seed + i}),
        ),
        config, "subgroups",
    )  # fmt: skip


def _main_lane(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    subgroups: tuple[Sequence[str], Sequence[int]],
    core: RunResults | None,
    progress: bool | None,
    draw: Draw | None = None,
    moved: Sequence[str] = (),
) -> tuple[dict[str, Item], SOFCells]:
    """The work of this process: the cells keyed by ``link_month`` and every analysis on them.

    The core (effects, per-jobcentre effects, dose-response) unless ``core`` holds it,
    then the destinations and durations, the recurrence, the event study, the
    test of equal effects across jobcentres, their report figures (with ``draw``) and the
    subgroup models ``subgroups[1]`` (indices into the variables ``subgroups[0]``), whose
    cells come from the same pass. Returns the pieces and the cells of the effects models.
    """
    variables, mine = subgroups
    lane, settings, covs = _Lane(), _inference(config), config.covariates
    sc_dose, sg_cells = lane.core("cells", lambda: sof_cells_with_subgroups(
        study, design, covs, [variables[i] for i in mine], progress=progress, parallel=False),
        keep=False)
    sc = coarsen_cells(sc_dose, ("link_month",))
    if core is None:
        eff = lane.core("effects", lambda: estimate_effects(
            sc, ri_draws=config.ri_draws, progress=progress, **settings))
        lane.core("jobcentres", lambda: jobcentre_effects(
            sc, covariates=covs, family=config.family))  # type: ignore[arg-type]
        lane.attempt("dose_response", "dose-response not estimated", lambda: dose_response(
            study, design, cells=sc_dose, progress=progress, **settings), config, "dose_response")
    else:
        eff = core.effects
    lane.put("outcomes", lambda: _outcomes(study, sc, eff, config, progress))
    if "recurrence" not in moved:
        _recurrence(lane, study, design, config, sc_dose)
    lane.attempt("event_study", "event study not estimated", lambda: event_study(
        sc_dose, progress=progress, **settings), config, "event_study")
    lane.attempt("homogeneity", "homogeneity across jobcentres not tested",
                 lambda: jobcentre_homogeneity(sc, progress=progress, **settings),
                 config, "homogeneity")
    if draw is not None:
        jce = core.jobcentres if core is not None else lane.value("jobcentres")
        dose = core.dose if core is not None else lane.value("dose_response")
        dest, dur = lane.value("outcomes") or (None, None)
        lane.put("figures", lambda: (draw(
            config, cells=sc, effects=eff, jobcentres=jce, dose=dose, destinations=dest,
            durations=dur, recurrence=lane.value("recurrence"),
            event_study=lane.value("event_study"),
        ), ()))  # fmt: skip
    for i in mine:
        _subgroup(lane, study, design, config, variables, i, sg_cells, progress)
    return lane.items, sc


def _second_lane(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    subgroups: tuple[Sequence[str], Sequence[int]],
    core: bool,
    progress: bool | None,
    draw: Draw | None = None,
    moved: Sequence[str] = (),
) -> dict[str, Item]:
    """The forked lane's work: it reads the spell table only.

    With ``core`` (the core is computed here, not by another engine) the success-criteria
    monitoring and, on small studies, the Cox cross-check; the cells of its subgroup
    variables ``subgroups[1]`` (one pass; when they cannot be built,
    :func:`~sofeval.analyses.subgroup_effects` builds each and says why not), the placebo
    in time, the figures of both (with ``draw``), the analyses ``moved`` here
    (:func:`~sofeval.pipeline.schedule.second_lane_analyses`) and the subgroup models.
    """
    variables, theirs = subgroups
    lane, settings = _Lane(), _inference(config)
    chosen = [variables[i] for i in theirs if variables[i] in study.spells.columns]

    def cells() -> tuple[dict[str, SOFCells], tuple[str, ...]]:
        try:
            return subgroup_cells(study, design, chosen, covariates=config.covariates,
                                  progress=progress, parallel=False), ()
        except SofevalError:
            return {}, ()

    if core:
        lane.attempt("monitoring", "monitoring not computed", lambda: success_criteria(study),
                     config, "monitoring")
    sg_cells = lane.put("subgroup_cells", cells, keep=False) if chosen else {}
    lane.attempt("placebo_time", "placebo in time not estimated", lambda: placebo_time(
        study, design, progress=progress, **settings), config, "placebo_time")
    if draw is not None:
        lane.put("second_figures", lambda: (draw(
            config, placebo=lane.value("placebo_time"), monitoring=lane.value("monitoring")
        ), ()))  # fmt: skip
    if core:
        lane.put("cox", lambda: _cox(study, design))
    if "recurrence" in moved:
        _recurrence(lane, study, design, config, None)
    for i in theirs:
        _subgroup(lane, study, design, config, variables, i, sg_cells, progress)
    return lane.items


def _recurrence(
    lane: _Lane, study: StudyData, design: StudyDesign, config: RunConfig,
    cells: SOFCells | None,
) -> None:
    """The recurrence after a return to work as a piece of ``lane``.

    ``cells`` are the main lane's, whose spell frame it reuses (the same results without).
    """
    lane.attempt("recurrence", "recurrence not estimated", lambda: recurrence_effects(
        study, design, horizons=RECURRENCE_HORIZONS, covariates=config.covariates,
        family=config.family, cells=cells),  # type: ignore[arg-type]
        config, "recurrence")


def _cox(study: StudyData, design: StudyDesign) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
    """The Cox cross-check with its note; skipped above :data:`COX_MAX_SPELLS` spells."""
    if len(study.spells) > COX_MAX_SPELLS:
        return None, (
            f"Cox cross-check skipped: {len(study.spells):,} spells exceed {COX_MAX_SPELLS:,} "
            "(it works on the full person-week panel).",
        )
    return _attempted("Cox cross-check not computed", lambda: cox_crosscheck(study, design))


def _outcomes(
    study: StudyData,
    sc: SOFCells,
    eff: EffectsResult,
    config: RunConfig,
    progress: bool | None,
) -> tuple[tuple[DestinationsResult | None, DurationsResult | None], tuple[str, ...]]:
    """Effects on every destination, then weeks and kroner saved, with their notes."""
    dest, notes = _attempted(
        "destination effects not estimated",
        lambda: destination_effects(
            sc, effects=eff, progress=progress, **_inference(config), parallel=False
        ),
        config, "destinations",
    )  # fmt: skip
    if dest is None:
        if config.runs("destinations"):
            notes += ("counterfactual durations not estimated: they need the destination models.",)
        return (None, None), notes
    dur, more = _attempted(
        "counterfactual durations not estimated",
        lambda: counterfactual_durations(
            dest, study, horizon=config.horizon_weeks, benefit_per_week=config.benefit_per_week
        ),
        config, "durations",
    )
    return (dest, dur), notes + more


#: Pieces whose notes are the core's (in the order of :func:`sofeval.engines.run_dask`).
CORE_PIECES: tuple[str, ...] = (
    "cells", "subgroup_cells", "effects", "jobcentres", "dose_response", "monitoring", "cox",
)
#: The pieces after the core, before the subgroup models (``subgroup:<i>``, in order).
LATER_PIECES: tuple[str, ...] = (
    "outcomes", "recurrence", "event_study", "placebo_time", "homogeneity",
)


#: Pieces of figures drawn ahead (after every analysis: drawing them is part of writing).
FIGURE_PIECES: tuple[str, ...] = ("figures", "second_figures")


def _order(n_variables: int) -> tuple[str, ...]:
    """Every piece of a run in the order its warnings are issued and its notes listed."""
    subgroups = (f"subgroup:{i}" for i in range(n_variables))
    return (*CORE_PIECES, *LATER_PIECES, *subgroups, *FIGURE_PIECES)


def _lanes(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    progress: bool | None,
    parallel: bool,
    figures: bool,
    core: RunResults | None = None,
) -> RunResults:
    """Every analysis in two lanes, then the results in one order (see the module docstring).

    ``core`` holds the core when another engine computed it (then only the analyses after
    it run here); with ``figures`` each lane draws the report figures of its analyses.
    """
    variables = subgroup_variables(study, config)
    levels = subgroup_levels(study, variables)
    moved = second_lane_analyses(variables, levels, config, core is not None, figures)
    mine, theirs = split_subgroups(variables, levels, config, core is not None, figures, moved)
    draw: Draw | None = None
    if figures:  # imported before the fork: matplotlib is loaded once, not in each lane
        from sofeval.pipeline.outputs import figures_for

        draw = figures_for
    forked = parallel and fork_available()
    side = Background(
        lambda: _second_lane(study, design, config, (variables, theirs), core is None,
                             False if forked else progress, draw, moved),
        enabled=forked,
    )  # fmt: skip
    try:
        items, sc = _main_lane(study, design, config, (variables, mine), core, progress, draw,
                               moved)
        items |= side.result()
    except BaseException:
        side.cancel()
        raise
    values: dict[str, Any] = {}
    core_notes: list[str] = []
    later_notes: list[str] = []
    for key in _order(len(variables)):
        if key in items:
            values[key], notes = items[key].reissue()
            (core_notes if key in CORE_PIECES else later_notes).extend(notes)
    if core is None:
        core = RunResults(
            design, config, sc, values["effects"], values["jobcentres"],
            values.get("dose_response"), values.get("monitoring"), study.audit,
            tuple(core_notes), values.get("cox"),
        )  # fmt: skip
    dest, dur = values.get("outcomes", (None, None))
    subgroups = merge_subgroups(
        [(i, values[f"subgroup:{i}"]) for i in range(len(variables))
         if values.get(f"subgroup:{i}") is not None]
    )  # fmt: skip
    es = values.get("event_study")
    if es is not None and not honestdid_disclosable(es, config.threshold):
        later_notes.append(
            "HonestDiD export not written: an event-study quarter rests on fewer than "
            f"{config.threshold} spells or exits (disclosure control)."
        )
    return replace(
        core,
        notes=(*core.notes, *later_notes),
        destinations=dest,
        durations=dur,
        recurrence=values.get("recurrence"),
        event_study=es,
        placebo=values.get("placebo_time"),
        subgroups=subgroups,
        homogeneity=_homogeneity(subgroups, values.get("homogeneity")),
        figures=(*values.get("figures", ()), *values.get("second_figures", ())),
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
    figures: bool = False,
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
    figures
        Draw the report figures in the lanes, each as soon as its analysis is estimated
        (:attr:`RunResults.figures`), so that :func:`~sofeval.pipeline.outputs.write_outputs`
        only assembles them; the files are the same either way.
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
        res = _run(study, config, progress, parallel, engine, client, workers, scheduler,
                   figures)
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
    figures: bool,
) -> RunResults:
    """The body of :func:`run_analysis`, without the notes of skipped analyses."""
    design = StudyDesign(**config.design)
    if engine == "dask" or client is not None:
        d = run_dask(
            study, design, covariates=config.covariates, family=config.family,
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
        return _lanes(gathered, design, config, progress, parallel, figures, core)
    if isinstance(study, StudyDataset):
        study = study.load()
    return _lanes(study, design, config, progress, parallel, figures)
