"""Placebo in time: the programme moved 12 months earlier, where it cannot have worked.

Every programme window is shifted ``shift_months`` (default 12) months earlier and the
default model of DESIGN.md §4 is estimated on data whose treatment reference dates
(week-8 dates) lie before the real programme started, so nobody in the sample was
treated. A placebo effect far from zero says that programme and comparison jobcentres
drifted apart before the start (or that the model misses something calendar-related),
and the real estimate inherits that bias.

Sample rule (``sample``):

* ``"before_earliest"`` (default): drop every spell whose week-8 date is on or after the
  *earliest* real programme start, in programme and comparison jobcentres alike. All
  jobcentres contribute the same calendar period, and no spell was exposed to the real
  programme.
* ``"before_own"``: drop programme-jobcentre spells whose week-8 date is on or after
  their *own* jobcentre's start; comparison jobcentres keep all their spells (more
  power for the month effects, but a comparison period the placebo jobcentres lack).

The weeks of a kept spell may run past the real start in calendar time; its exposure is
decided by its week-8 date, as in the main model. ``data_end`` is fixed at the full
study's (dropping late spells must not change who is censored when).

The estimated window (``window_start``, ``window_end``) is the shifted window cut at
the end of the sample period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sofeval.analyses.effects import (
    EffectsResult,
    estimate_effects,
)
from sofeval.analyses.links import spell_jobcentres, table_spells
from sofeval.data import WEEK8_OFFSET, StudyData
from sofeval.errors import EstimationError, OptionError, check_option
from sofeval.models import (
    BootWeights,
    Family,
    ResultsBase,
)
from sofeval.panel import StudyDesign
from sofeval.report import Lang, placebo_plot

__all__ = [
    "PLACEBO_SAMPLES",
    "PLACEBO_TIME_COLUMNS",
    "SHIFT_MONTHS",
    "PlaceboSample",
    "PlaceboTimeResult",
    "placebo_study",
    "placebo_time",
]

PLACEBO_TIME_COLUMNS: tuple[str, ...] = (
    "estimand",
    "window_start",
    "window_end",
    "coef",
    "se",
    "p_value",
    "p_wild",
    "n_spells",
    "n_events",
)
PlaceboSample = Literal["before_earliest", "before_own"]
PLACEBO_SAMPLES: tuple[str, ...] = ("before_earliest", "before_own")
#: Default shift of the programme windows (months earlier).
SHIFT_MONTHS = 12


@dataclass(frozen=True)
class PlaceboTimeResult(ResultsBase):
    """Placebo-in-time effects (immutable).

    Attributes
    ----------
    table
        :data:`PLACEBO_TIME_COLUMNS`, one row per estimand; ``coef``, ``se`` on the log
        hazard ratio scale; ``window_start``/``window_end`` ISO dates of the placebo window.
    effects
        The full :class:`~sofeval.analyses.effects.EffectsResult` of the placebo model.
    shift_months, sample
        Settings.
    n_spells_dropped
        Spells left out by the sample rule.
    """

    table: pd.DataFrame
    effects: EffectsResult
    shift_months: int
    sample: str
    n_spells_dropped: int

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return (
            f"Placebo in time: programme windows moved {self.shift_months} months earlier "
            "(the effect should be zero)"
        )

    def header(self) -> list[tuple[str, str]]:
        """Sample rule and scales."""
        return [
            ("sample", f"{self.sample} ({self.n_spells_dropped:,} spells dropped)"),
            ("scales", "coef/se: log hazard ratio clustered by jobcentre; p_wild: wild "
                       "cluster score bootstrap"),
        ]

    def to_frame(self) -> pd.DataFrame:
        """The placebo table (a copy)."""
        return self.table.copy()

    def plot(self, lang: Lang = "en", **kwargs: Any) -> Figure:
        """Placebo hazard ratios with 95 % CIs.

        The report's figure function builds the whole house-style figure, so this
        replaces the base's ``plot`` rather than drawing in ``_draw``.

        Parameters
        ----------
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.placebo_plot` (e.g. ``ax``).

        Returns
        -------
        matplotlib.figure.Figure
            A new figure (or the figure of ``ax``), not registered with pyplot.
        """
        return placebo_plot(self.table, lang=lang, **kwargs)


def _reference_dates(spells: pd.DataFrame, design: StudyDesign) -> pd.Series:
    start = pd.to_datetime(spells["absence_start"])
    return start if design.treatment == "spell_start" else start + WEEK8_OFFSET


def _kept_rows(spell_of_row: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows of a table whose spell (position, ``-1``: none) is kept."""
    return (spell_of_row >= 0) & keep[spell_of_row]


def placebo_study(
    study: StudyData,
    design: StudyDesign | None = None,
    *,
    shift_months: int = SHIFT_MONTHS,
    sample: PlaceboSample = "before_earliest",
) -> tuple[StudyData, StudyDesign, pd.Timestamp, pd.Timestamp, int]:
    """The study of the placebo: windows shifted, spells cut at the real start.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules (``treatment`` must be ``week8`` or ``spell_start``).
    shift_months
        Months by which the windows move earlier (positive).
    sample
        ``before_earliest`` or ``before_own`` (see the module docstring).

    Returns
    -------
    tuple
        ``(placebo study, design with the full study's data_end, window_start,
        window_end, spells dropped)``.

    Raises
    ------
    OptionError
        Bad option, or ``treatment="calendar"``.
    EstimationError
        No programme window, or no kept spell falls in a shifted window.
    """
    check_option("sample", sample, PLACEBO_SAMPLES)
    if isinstance(shift_months, bool) or not isinstance(shift_months, (int, np.integer)) \
            or shift_months < 1:
        raise OptionError(f"shift_months={shift_months!r} must be a positive integer.")
    design = design or StudyDesign()
    if design.treatment == "calendar":
        raise OptionError(
            "placebo_time: treatment='calendar' has no per-spell reference date to cut the "
            "sample at; use treatment='week8' (default) or 'spell_start'."
        )
    prog = study.programme.copy()
    if prog.empty:
        raise EstimationError("programme: no programme window; a placebo in time needs one.")
    prog["jobcentre"] = prog["jobcentre"].astype(str)
    real_start = pd.to_datetime(prog["start"])
    offset = pd.DateOffset(months=int(shift_months))
    prog["start"] = real_start - offset
    prog["end"] = pd.to_datetime(prog["end"]) - offset
    spells = study.spells
    ref = _reference_dates(spells, design).to_numpy()
    # each spell's programme row (-1: comparison jobcentre), on codes, not strings
    prog_row = spell_jobcentres(study).positions_in(prog["jobcentre"])
    is_prog = prog_row >= 0
    if sample == "before_earliest":
        cutoff = np.full(len(spells), real_start.min().to_datetime64())
    else:
        cutoff = np.where(is_prog, real_start.to_numpy()[prog_row], np.datetime64(pd.Timestamp.max))
    keep = ref < cutoff
    rows = table_spells(study)
    new = replace(
        study,
        spells=spells[keep],
        meetings=study.meetings[_kept_rows(rows.meetings, keep)],
        interventions=study.interventions[_kept_rows(rows.interventions, keep)],
        programme=prog,
    )
    last_day = real_start.min() - pd.Timedelta(days=1)
    win_start = prog["start"].min()
    ends = prog["end"].fillna(last_day)
    win_end = min(ends.max(), last_day) if sample == "before_earliest" else min(
        ends.max(), real_start.max() - pd.Timedelta(days=1)
    )
    lo, hi = prog["start"].to_numpy()[prog_row], ends.to_numpy()[prog_row]
    in_window = is_prog & (ref >= lo) & (ref <= hi)
    if not (in_window & keep).any():
        raise EstimationError(
            f"spells: no spell of a programme jobcentre has its reference date in the "
            f"programme windows moved {shift_months} months earlier "
            f"({win_start.date()}..{win_end.date()}); the data start too late for this "
            "placebo (try a smaller shift_months)."
        )
    fixed = replace(design, data_end=design.resolve_data_end(study))
    return new, fixed, pd.Timestamp(win_start), pd.Timestamp(win_end), int((~keep).sum())


def placebo_time(
    study: StudyData,
    design: StudyDesign | None = None,
    *,
    shift_months: int = SHIFT_MONTHS,
    sample: PlaceboSample = "before_earliest",
    covariates: Sequence[str] = (),
    family: Family = "cloglog",
    bootstrap_draws: int = 999,
    bootstrap_weights: BootWeights = "rademacher",
    seed: int = 0,
    correction: Literal["stata", "hc1", "none"] = "stata",
    progress: bool | None = None,
) -> PlaceboTimeResult:
    """Estimate the placebo-in-time effects (should be zero).

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules of the main analysis.
    shift_months
        Months by which the programme windows move earlier (default 12).
    sample
        ``before_earliest`` (default) or ``before_own``: see the module docstring.
    covariates, family, bootstrap_draws, bootstrap_weights, seed, correction, progress
        As for :func:`sofeval.analyses.estimate_effects` (inference: clustered Wald and
        the wild cluster score bootstrap; ``bootstrap_draws=0`` skips the bootstrap).

    Returns
    -------
    PlaceboTimeResult
    """
    new, fixed, w0, w1, dropped = placebo_study(study, design, shift_months=shift_months,
                                                sample=sample)
    inference = ("cluster", "wild") if bootstrap_draws > 0 else ("cluster",)
    eff = estimate_effects(
        new, fixed, covariates=covariates, family=family, inference=inference,
        bootstrap_draws=bootstrap_draws, bootstrap_weights=bootstrap_weights, seed=seed,
        correction=correction, progress=progress,
    )
    t = eff.table
    table = pd.DataFrame({
        "estimand": t["estimand"].to_numpy(),
        "window_start": w0.strftime("%Y-%m-%d"),
        "window_end": w1.strftime("%Y-%m-%d"),
        "coef": t["coef"].to_numpy(float),
        "se": t["se"].to_numpy(float),
        "p_value": t["p_value"].to_numpy(float),
        "p_wild": t["p_wild"].to_numpy(float),
        "n_spells": t["n_spells"].to_numpy(np.int64),
        "n_events": t["n_events"].to_numpy(np.int64),
    })
    return PlaceboTimeResult(table[list(PLACEBO_TIME_COLUMNS)], eff, int(shift_months), sample,
                             dropped)
