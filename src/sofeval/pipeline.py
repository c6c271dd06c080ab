"""The whole evaluation of ``sofeval run``: study tables in, every results table out.

One pass builds the cells once for the pooled and per-jobcentre models (the dose-response
model keys its own cells by the link month as well), fits the dose-response model, computes
the success-criteria monitoring and, for samples up to :data:`COX_MAX_SPELLS` spells, the
continuous-time Cox cross-check. Writing the files
is :func:`write_outputs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from sofeval import report
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
    hazard_frame,
    jobcentre_effects,
    km_frame,
    sof_cells,
    success_criteria,
)
from sofeval.config import RunConfig
from sofeval.data import StudyData, StudyDataset
from sofeval.engines import run_dask
from sofeval.errors import EstimationError, check_option
from sofeval.panel import StudyDesign
from sofeval.runtime import Background, fork_available

#: The Cox cross-check fits the full person-week panel; above this many spells it is skipped.
COX_MAX_SPELLS = 50_000


@dataclass(frozen=True)
class RunResults:
    """Everything one run estimated (immutable)."""

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


def _dose_and_monitoring(
    study: StudyData,
    design: StudyDesign,
    config: RunConfig,
    sc_dose: SOFCells,
    progress: bool | None,
) -> tuple[DoseResponseResult | None, MonitoringResult | None, list[str]]:
    """The dose-response model and the success-criteria monitoring, with notes on failures."""
    notes: list[str] = []
    dose: DoseResponseResult | None
    try:
        dose = dose_response(
            study,
            design,
            covariates=config.covariates,
            family=config.family,  # type: ignore[arg-type]
            cells=sc_dose,
            bootstrap_draws=config.bootstrap_draws,
            bootstrap_weights=config.bootstrap_weights,  # type: ignore[arg-type]
            seed=config.seed,
            progress=progress,
        )
    except EstimationError as exc:
        dose = None
        notes.append(f"dose-response not estimated: {exc}")
    mon: MonitoringResult | None
    try:
        mon = success_criteria(study)
    except EstimationError as exc:
        mon = None
        notes.append(f"monitoring not computed: {exc}")
    return dose, mon, notes


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
        Compute the dose-response and the monitoring in a forked process beside the effects
        models (see :mod:`sofeval.runtime`; ignored where ``fork`` is not available). The
        results are identical either way.
    engine
        ``"local"`` (this process) or ``"dask"``: the cells and the monitoring counts are
        computed partition by partition on a dask cluster, the models on this process
        (:func:`sofeval.engines.run_dask`, docs/cluster.md); the results are the same.
    client, workers, scheduler
        For the dask engine: a ``distributed.Client`` (implies ``engine="dask"``), or the
        address of a running scheduler, or the worker processes of a local cluster that
        starts and stops with the run (default 2).

    Returns
    -------
    RunResults
    """
    check_option("engine", engine, ("local", "dask"))
    design = StudyDesign(**config.design)
    if engine == "dask" or client is not None:
        d = run_dask(
            study, design, covariates=config.covariates, family=config.family,
            bootstrap_draws=config.bootstrap_draws, bootstrap_weights=config.bootstrap_weights,
            ri_draws=config.ri_draws, seed=config.seed, progress=progress, client=client,
            scheduler=scheduler, workers=workers, cox_max_spells=COX_MAX_SPELLS,
        )
        return RunResults(design, config, d.cells, d.effects, d.jobcentres, d.dose,
                          d.monitoring, d.audit, d.notes, d.cox)
    if isinstance(study, StudyDataset):
        study = study.load()
    covs = config.covariates
    # one pass over the spells: the dose-response cells are also keyed by link_month, and
    # summing over it gives exactly the cells of the effects models
    sc_dose = sof_cells(study, design, covs, extra_keys=("link_month",), progress=progress)
    sc = coarsen_cells(sc_dose, ("link_month",))
    # second lane: the dose-response and the monitoring (both read the first meetings) run in
    # a forked process while this one fits the effects models
    forked = parallel and fork_available()  # a child's progress bar would garble the parent's
    side = Background(
        lambda: _dose_and_monitoring(
            study, design, config, sc_dose, progress=False if forked else progress
        ),
        enabled=forked,
    )
    eff = estimate_effects(
        sc,
        covariates=covs,
        family=config.family,  # type: ignore[arg-type]
        bootstrap_draws=config.bootstrap_draws,
        bootstrap_weights=config.bootstrap_weights,  # type: ignore[arg-type]
        ri_draws=config.ri_draws,
        seed=config.seed,
        progress=progress,
    )
    jce = jobcentre_effects(sc, covariates=covs, family=config.family)  # type: ignore[arg-type]
    dose, mon, notes = side.result()
    cox: pd.DataFrame | None = None
    if len(study.spells) <= COX_MAX_SPELLS:
        cox = cox_crosscheck(study, design)
    else:
        notes.append(
            f"Cox cross-check skipped: {len(study.spells):,} spells exceed {COX_MAX_SPELLS:,} "
            "(it works on the full person-week panel)."
        )
    return RunResults(design, config, sc, eff, jce, dose, mon, study.audit, tuple(notes), cox)


def design_text(res: RunResults, lang: str = "en") -> str:
    """A short plain-text description of the study design for the report.

    Parameters
    ----------
    res
        Results of :func:`run_analysis`.
    lang
        ``"en"`` or ``"da"`` (the terms of Danish evaluation reports).

    Returns
    -------
    str
        One paragraph.
    """
    check_option("lang", lang, report.LANGS)
    d = res.design
    cfg = res.config
    link = " til " if lang == "da" else " to "
    windows = "; ".join(
        f"{pd.Timestamp(str(a)).date()}{link}{pd.Timestamp(str(b)).date()}"
        for a, b in zip(res.cells.windows["start"], res.cells.windows["end"], strict=True)
    )
    if lang == "da":
        covs = ", ".join(cfg.covariates) or "ingen"
        entry = {"benefit_start": "ved sygedagpengeforløbets start"}.get(d.entry, d.entry)
        treat = {"week8": "datoen for uge 8", "benefit_start": "forløbets startdato"}.get(
            d.treatment, d.treatment
        )
        return (
            "Diskret-tids årsagsspecifik hazardmodel for afgang til beskæftigelse "
            f"({cfg.family}-link) med én dummy pr. sygefraværsuge 1–26 og derefter blokke "
            "af 4 uger, faste effekter for jobcenter og kalendermåned, kovariater: "
            f"{covs}. Behandling: forløbets referencedato ({treat}) ligger i "
            f"jobcentrets programperiode ({windows}). Faser: ex ante-effekt i uge "
            f"1–{d.phase_cut - 1}, programeffekt fra uge {d.phase_cut}. Opfølgning i højst "
            f"{d.max_weeks} uger; forsinket indgang {entry}. Standardfejl klyngekorrigeret "
            f"på jobcenter; wild cluster score bootstrap med {cfg.bootstrap_draws} "
            f"{cfg.bootstrap_weights}-træk; randomiseringsinferens med {cfg.ri_draws} "
            "permutationer af programstatus på tværs af jobcentre."
        )
    covs = ", ".join(cfg.covariates) or "none"
    treat = {"week8": "week-8"}.get(d.treatment, d.treatment)
    return (
        f"Discrete-time cause-specific hazard of exit to employment ({cfg.family} link), "
        "one dummy per spell week 1–26 then 4-week blocks, jobcentre and calendar-month fixed "
        f"effects, covariates: {covs}. Treatment: the spell's {treat} reference date in "
        f"its jobcentre's programme window ({windows}). Phases: ex ante weeks 1–{d.phase_cut - 1}, "
        f"programme week {d.phase_cut} on. Follow-up capped at {d.max_weeks} weeks; delayed "
        f"entry at the {d.entry.replace('_', ' ')}. Standard errors clustered by jobcentre; "
        f"wild cluster score bootstrap with {cfg.bootstrap_draws} "
        f"{cfg.bootstrap_weights} draws; randomisation inference with "
        f"{cfg.ri_draws} permutations of programme status across jobcentres."
    )


def write_outputs(res: RunResults, out_dir: str | Path) -> dict[str, Path]:
    """Write the CSVs, the Excel workbook and the HTML report of a run.

    Parameters
    ----------
    res
        Results of :func:`run_analysis`.
    out_dir
        Output folder (created if needed).

    Returns
    -------
    dict
        File name to path of everything written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Path] = {}
    if res.cox is not None:
        extra["cox_crosscheck"] = out / "cox_crosscheck.csv"
        res.cox.to_csv(
            extra["cox_crosscheck"], index=False, float_format="%.10g", lineterminator="\n"
        )
    return extra | report.build_report(
        out,
        effects=res.effects.table,
        jobcentre_effects=res.jobcentres.table,
        dose_response=res.dose.table if res.dose is not None else None,
        success_criteria=res.monitoring.by_month if res.monitoring is not None else None,
        success_half_year=res.monitoring.by_half_year if res.monitoring is not None else None,
        success_overall=res.monitoring.overall if res.monitoring is not None else None,
        audit=res.audit,
        panel_summary=res.cells.audit,
        km_frame=km_frame(res.cells),
        hazard_frame=hazard_frame(res.cells),
        design_text=design_text(res, res.config.lang)
        + (" " + " ".join(res.notes) if res.notes else ""),
        lang=res.config.lang,  # type: ignore[arg-type]
        threshold=res.config.threshold,
    )
