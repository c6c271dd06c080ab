"""Writing a run: every table through disclosure control, the workbook, the report, HonestDiD.

:func:`write_outputs` writes the results of :func:`sofeval.pipeline.run.run_analysis` to a
folder; :func:`figures_for` draws the report figures of some analyses ahead (in the process
that estimated them) for :func:`write_outputs` to embed; :func:`design_text` is the
report's paragraph on the study design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sofeval import report
from sofeval.analyses import (
    hazard_frame,
    km_frame,
    write_honestdid_csv,
    write_honestdid_json,
)
from sofeval.errors import check_option
from sofeval.pipeline.run import RunResults, honestdid_disclosable

if TYPE_CHECKING:
    from sofeval.analyses import (
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
    )
    from sofeval.config import RunConfig


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
            f"på jobcenter; restringeret wild cluster bootstrap-t med {cfg.bootstrap_draws} "
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
        f"restricted wild cluster bootstrap-t with {cfg.bootstrap_draws} "
        f"{cfg.bootstrap_weights} draws; randomisation inference with "
        f"{cfg.ri_draws} permutations of programme status across jobcentres."
    )


@dataclass(frozen=True)
class _SecondWave:
    """The analyses of the report's added sections (any of them may be missing)."""

    destinations: DestinationsResult | None = None
    durations: DurationsResult | None = None
    recurrence: RecurrenceResult | None = None
    event_study: EventStudyResult | None = None
    placebo: PlaceboTimeResult | None = None
    subgroups: SubgroupEffectsResult | None = None
    homogeneity: HomogeneityResult | None = None


def _report_sections(
    wave: _SecondWave, config: RunConfig, effects: pd.DataFrame | None
) -> list[report.ExtraSection]:
    """The report sections of the second wave: outcomes, then credibility."""
    dest, dur, rec = wave.destinations, wave.durations, wave.recurrence
    lang = config.lang
    sections = report.outcome_sections(
        destination_effects=dest.to_frame() if dest is not None else None,
        duration_effects=dur.to_frame("durations") if dur is not None else None,
        cumulative_incidence=dur.to_frame("incidence") if dur is not None else None,
        recurrence=rec.to_frame() if rec is not None else None,
        recurrence_curves=rec.curves if rec is not None else None,
        effects=effects,
        benefit_per_week=config.benefit_per_week,
        lang=lang,  # type: ignore[arg-type]
    )
    es = wave.event_study
    credibility = report.credibility_section(
        event_study=es.to_frame() if es is not None else None,
        pretrend_test=es.pretrend_frame() if es is not None else None,
        placebo_time=wave.placebo.to_frame() if wave.placebo is not None else None,
        subgroup_effects=wave.subgroups.to_frame() if wave.subgroups is not None else None,
        homogeneity=wave.homogeneity.to_frame() if wave.homogeneity is not None else None,
        effects=effects,
        lang=lang,  # type: ignore[arg-type]
    )
    return sections + ([credibility] if credibility is not None else [])


def _second_wave(res: RunResults) -> _SecondWave:
    return _SecondWave(
        res.destinations,
        res.durations,
        res.recurrence,
        res.event_study,
        res.placebo,
        res.subgroups,
        res.homogeneity,
    )


def figures_for(
    config: RunConfig,
    *,
    cells: SOFCells | None = None,
    effects: EffectsResult | None = None,
    jobcentres: JobcentreEffectsResult | None = None,
    dose: DoseResponseResult | None = None,
    monitoring: MonitoringResult | None = None,
    destinations: DestinationsResult | None = None,
    durations: DurationsResult | None = None,
    recurrence: RecurrenceResult | None = None,
    event_study: EventStudyResult | None = None,
    placebo: PlaceboTimeResult | None = None,
    subgroups: SubgroupEffectsResult | None = None,
    homogeneity: HomogeneityResult | None = None,
) -> tuple[report.PrerenderedFigure, ...]:
    """Draw the report figures of the analyses given, ahead of :func:`write_outputs`.

    A pipeline calls this in the process that estimated an analysis, as soon as it is
    estimated, and passes every part's figures to :func:`write_outputs` (``prerendered``),
    which then only assembles. The arguments are the fields of :class:`RunResults` of the
    same name (any subset). A figure is used only where it was drawn from the tables the
    whole report shows (:meth:`sofeval.report.PrerenderedFigure.fits`; secondary
    suppression spans analyses), else drawn again, so the files are the same either way.
    Give the analyses whose tables add up to one another together (``effects`` with
    ``jobcentres``; ``subgroups`` with ``homogeneity``, whose tests the subgroup figure
    quotes) for the most figures to fit.

    Parameters
    ----------
    config
        The run's settings (language, threshold, kroner per week).
    cells, effects, jobcentres, dose, monitoring
        Results of the first wave, as in :class:`RunResults`.
    destinations, durations, recurrence, event_study, placebo, subgroups, homogeneity
        Results of the second wave, as in :class:`RunResults`.

    Returns
    -------
    tuple of sofeval.report.PrerenderedFigure
        One per figure of the analyses given, in report order.
    """
    wave = _SecondWave(
        destinations, durations, recurrence, event_study, placebo, subgroups, homogeneity
    )
    table = effects.table if effects is not None else None
    extra = _report_sections(wave, config, table)
    return report.report_figures(
        effects=table,
        jobcentre_effects=jobcentres.table if jobcentres is not None else None,
        dose_response=dose.table if dose is not None else None,
        success_criteria=monitoring.by_month if monitoring is not None else None,
        km_frame=(lambda: km_frame(cells)) if cells is not None else None,
        hazard_frame=(lambda: hazard_frame(cells)) if cells is not None else None,
        extra_sections=[sec for sec in extra if sec.figures],
        lang=config.lang,  # type: ignore[arg-type]
        threshold=config.threshold,
    )


def _honestdid_files(res: RunResults, out: Path) -> dict[str, Path]:
    """The HonestDiD export (JSON and CSV per estimand), when it may be published.

    The coefficients and covariance are rounded to the 10 significant digits of every
    published table first, so the files do not depend on the BLAS thread count.
    """
    es = res.event_study
    if es is None or not honestdid_disclosable(es, res.config.threshold):
        return {}
    es = replace(es, coef=report.round_array(es.coef), cov=report.round_array(es.cov))
    paths = write_honestdid_json(es, out) + write_honestdid_csv(es, out)
    return {p.name: p for p in paths}


def write_outputs(
    res: RunResults,
    out_dir: str | Path,
    *,
    prerendered: Sequence[report.PrerenderedFigure] = (),
) -> dict[str, Path]:
    """Write the CSVs, the Excel workbook and the HTML report of a run.

    The report opens with the key findings (:func:`sofeval.report.key_findings`); every
    table goes through disclosure control with its additive relations declared. The
    event study's coefficients and covariance are also written in the form HonestDiD takes
    (``honestdid_<estimand>.json`` and ``.csv``) unless a quarter rests on a small count.

    Parameters
    ----------
    res
        Results of :func:`run_analysis`.
    out_dir
        Output folder (created if needed).
    prerendered
        Figures drawn ahead by :func:`figures_for`, besides those of ``res.figures``
        (``run_analysis(..., figures=True)``); those drawn from the tables the report
        shows are embedded as they are, the others drawn here. The files are the same
        either way.

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
            extra["cox_crosscheck"],
            index=False,
            float_format=report.CSV_FLOAT_FORMAT,
            lineterminator="\n",
        )
    extra |= _honestdid_files(res, out)
    target = res.monitoring.target if res.monitoring is not None else report.FindingsSettings.target
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
        # computed in the lane that draws their figures
        km_frame=lambda: km_frame(res.cells),
        hazard_frame=lambda: hazard_frame(res.cells),
        design_text=design_text(res, res.config.lang)
        + (" " + " ".join(res.notes) if res.notes else ""),
        extra_sections=_report_sections(_second_wave(res), res.config, res.effects.table),
        findings=report.FindingsSettings(
            benefit_per_week=res.config.benefit_per_week, target=target
        ),
        lang=res.config.lang,  # type: ignore[arg-type]
        threshold=res.config.threshold,
        prerendered=(*res.figures, *prerendered),
    )
