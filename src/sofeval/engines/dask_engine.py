"""The dask engine of ``sofeval run``: cells on the workers, models and reports on the client.

:func:`run_dask` is what :func:`sofeval.pipeline.run_analysis` calls with ``engine="dask"``
(or a client). It reduces the study on the cluster (:func:`~sofeval.engines.reduce_study`)
and runs the analyses of the in-process pipeline on the client, with the same functions and
settings: the pooled and per-jobcentre effects on the cells (bootstrap and randomisation
inference included), the dose-response model on the cells keyed by link month with the
meeting shares of the whole study, the success-criteria monitoring from the partitions' counts
and, for studies of at most ``cox_max_spells`` spells (gathered to the client), the Cox
cross-check. The results equal the in-process engine's byte for byte (tests/engines).

What runs where:

* workers: reading, validation per partition and the cross-partition rules (on hashes),
  the person-week expansion and collapse into cells, the spell counts, first meetings and
  the measure sample;
* client: the fits, bootstraps, randomisation inference, dose-response, monitoring tables,
  the report, and the per-spell frame of the effects tables and Kaplan-Meier counts
  (rebuilt from spell counts: memory grows with the spells, about 50 bytes each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from sofeval.analyses import (
    DoseResponseResult,
    EffectsResult,
    JobcentreEffectsResult,
    MonitoringResult,
    SOFCells,
    coarsen_cells,
    cox_crosscheck,
    dose_response,
    estimate_effects,
    jobcentre_effects,
)
from sofeval.data import StudyData, StudyDataset, empty_table
from sofeval.engines.assemble import ReducedStudy
from sofeval.engines.reduce import reduce_study
from sofeval.engines.session import dask_client
from sofeval.errors import EstimationError
from sofeval.panel import StudyDesign

__all__ = ["DaskRun", "run_dask"]

#: The mediator name the in-process run gives the meeting shares.
_MEDIATOR = "workplace_meetings"


@dataclass(frozen=True)
class DaskRun:
    """What a dask run estimated (the fields of :class:`sofeval.pipeline.RunResults`).

    Attributes
    ----------
    cells
        Cells of the effects models (coarsened over ``link_month``).
    effects, jobcentres, dose, monitoring, cox
        As in :class:`sofeval.pipeline.RunResults`.
    audit
        Validation audit.
    notes
        Notes on analyses not run.
    reduced
        The reduced study (cells keyed by link month, counts, partitions).
    """

    cells: SOFCells
    effects: EffectsResult
    jobcentres: JobcentreEffectsResult
    dose: DoseResponseResult | None
    monitoring: MonitoringResult | None
    audit: pd.DataFrame
    notes: tuple[str, ...]
    cox: pd.DataFrame | None
    reduced: ReducedStudy


def _dose(
    red: ReducedStudy,
    design: StudyDesign,
    covariates: Sequence[str],
    family: str,
    bootstrap_draws: int,
    bootstrap_weights: str,
    seed: int,
    progress: bool | None,
) -> DoseResponseResult:
    """The dose-response model of the run on the reduced study's cells and meeting shares."""
    shares = red.meeting_shares()
    # the shares of the whole study come as a table, so the model calls them "custom";
    # they are the in-process run's meeting shares, and the table says so
    res = dose_response(
        StudyData(spells=empty_table("spells")),
        design,
        mediator=shares,
        covariates=covariates,
        family=family,  # type: ignore[arg-type]
        cells=red.cells,
        bootstrap_draws=bootstrap_draws,
        bootstrap_weights=bootstrap_weights,  # type: ignore[arg-type]
        seed=seed,
        progress=progress,
    )
    return replace(res, table=res.table.assign(mediator=_MEDIATOR))


def run_dask(
    source: StudyData | StudyDataset,
    design: StudyDesign,
    *,
    covariates: Sequence[str] = (),
    family: Literal["cloglog", "logit"] | str = "cloglog",
    bootstrap_draws: int = 999,
    bootstrap_weights: str = "rademacher",
    ri_draws: int = 999,
    seed: int = 0,
    progress: bool | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    cox_max_spells: int = 0,
    partitions: np.ndarray | int | None = None,
) -> DaskRun:
    """Run the default SOF evaluation with the cells computed on a dask cluster.

    Parameters
    ----------
    source
        A :class:`~sofeval.data.StudyDataset` (partitioned files) or a validated
        :class:`~sofeval.data.StudyData`.
    design
        Panel rules.
    covariates, family, bootstrap_draws, bootstrap_weights, ri_draws, seed
        Model and inference settings (as :class:`sofeval.config.RunConfig`).
    progress
        Progress bars (default: only on a terminal).
    client, scheduler, workers
        A ``distributed.Client``; or the address of a running scheduler; or the worker
        processes of a local cluster started and stopped with the run
        (:func:`~sofeval.engines.dask_client`).
    cox_max_spells
        Run the Cox cross-check (on the gathered study) up to this many spells.
    partitions
        Partitioning of an in-memory study (see :func:`~sofeval.engines.reduce_study`).

    Returns
    -------
    DaskRun
    """
    covs = tuple(covariates)
    with dask_client(client, scheduler, workers) as c:
        red = reduce_study(
            source, design, covs, client=c, partitions=partitions,
            gather_below=cox_max_spells, progress=progress,
        )
    sc = coarsen_cells(red.cells, ("link_month",))
    eff = estimate_effects(
        sc,
        covariates=covs,
        family=family,  # type: ignore[arg-type]
        bootstrap_draws=bootstrap_draws,
        bootstrap_weights=bootstrap_weights,  # type: ignore[arg-type]
        ri_draws=ri_draws,
        seed=seed,
        progress=progress,
    )
    jce = jobcentre_effects(sc, covariates=covs, family=family)  # type: ignore[arg-type]
    notes: list[str] = []
    dose: DoseResponseResult | None
    try:
        dose = _dose(red, design, covs, family, bootstrap_draws, bootstrap_weights, seed,
                     progress)
    except EstimationError as exc:
        dose = None
        notes.append(f"dose-response not estimated: {exc}")
    mon: MonitoringResult | None
    try:
        mon = red.success_criteria()
    except EstimationError as exc:
        mon = None
        notes.append(f"monitoring not computed: {exc}")
    cox: pd.DataFrame | None = None
    if red.study is not None:
        cox = cox_crosscheck(red.study, design)
    else:
        notes.append(
            f"Cox cross-check skipped: {red.n_spells:,} spells exceed {cox_max_spells:,} "
            "(it works on the full person-week panel)."
        )
    return DaskRun(sc, eff, jce, dose, mon, red.audit, tuple(notes), cox, red)
