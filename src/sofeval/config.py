"""Run configuration: the settings of ``sofeval run``, from a ``study.toml`` and the command line.

A ``study.toml`` has up to eight tables, each optional::

    [design]            # panel rules (DESIGN.md §3), see sofeval.panel.build.StudyDesign
    data_end = "2019-12-31"
    max_weeks = 52
    entry = "benefit_start"      # or "absence_start"
    treatment = "week8"          # or "spell_start", "calendar"
    phase_cut = 8

    [model]
    covariates = ["sex", "age"]
    family = "cloglog"           # or "logit"

    [inference]
    bootstrap_draws = 999
    bootstrap_weights = "rademacher"   # or "webb"
    ri_draws = 999
    seed = 20171001

    [outcomes]          # weeks and kroner (DESIGN.md §4b)
    horizon = 52                 # weeks on benefit counted up to this spell week (default 52,
                                 # or max_weeks when shorter)
    benefit_per_week = 4300      # kroner per week on benefit (default: the 2018 maximum)

    [credibility]       # can we believe the comparison? (DESIGN.md §4b)
    subgroups = ["sex", "age"]   # default: every optional spell covariate in the data;
                                 # [] switches the subgroup analysis off

    [analyses]
    skip = ["subgroups"]         # analyses left out of the run (see OPTIONAL_ANALYSES);
                                 # default: none, every analysis runs

    [report]
    lang = "en"                  # or "da"
    threshold = 5                # disclosure control: smallest count shown

    [check]             # the CI gate: sofeval montecarlo --config study.toml --check
    reps = 50                    # replications per scenario
    n_spells = 10000             # spells per replication
    scenarios = ["null", "homogeneous"]
    max_abs_bias = 0.05          # |mean estimate - truth| of a pooled log hazard ratio
    min_coverage = 0.80          # of the 95 % intervals (clustered Wald, wild, RI)
    max_size = 0.20              # rejection rate of a true null at 5 %

Command-line options override the file. The defaults of ``[check]`` and the reasons for
them are in :class:`CheckSettings`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from sofeval.analyses import BENEFIT_PER_WEEK
from sofeval.data import SPELL_COVARIATES
from sofeval.errors import OptionError, check_option

#: Analyses a run may leave out (``skip``); the pooled and per-jobcentre effects always run.
#: ``durations`` need ``destinations``: skipping the latter skips both.
OPTIONAL_ANALYSES: tuple[str, ...] = (
    "dose_response",
    "monitoring",
    "destinations",
    "durations",
    "recurrence",
    "event_study",
    "placebo_time",
    "homogeneity",
    "subgroups",
)

_ALLOWED: dict[str, tuple[str, ...]] = {
    "design": (
        "data_end",
        "max_weeks",
        "entry",
        "treatment",
        "phase_cut",
        "cohort_start",
        "cohort_end",
        "cohort_on",
    ),
    "model": ("covariates", "family"),
    "inference": ("bootstrap_draws", "bootstrap_weights", "ri_draws", "seed"),
    "outcomes": ("horizon", "benefit_per_week"),
    "credibility": ("subgroups",),
    "analyses": ("skip",),
    "report": ("lang", "threshold"),
    "check": (
        "reps",
        "n_spells",
        "seed",
        "scenarios",
        "bootstrap_draws",
        "ri_draws",
        "max_abs_bias",
        "min_coverage",
        "max_size",
    ),
}

#: Default horizon (weeks) of the counterfactual durations (DESIGN.md §4b).
DEFAULT_HORIZON = 52

#: Scenarios the CI gate can run: both have a known truth for the pooled effects.
CHECK_SCENARIOS: tuple[str, ...] = ("null", "homogeneous")


@dataclass(frozen=True)
class CheckSettings:
    """The ``[check]`` table of a ``study.toml``: the CI gate's runs and tolerances.

    ``sofeval montecarlo --config study.toml --check`` runs the study's configuration on
    synthetic data with known truth and fails when a criterion breaks its tolerance. The
    defaults let a correct estimator pass at the default size of the run, allowing for
    Monte Carlo error, and still catch a gross break:

    * ``max_abs_bias = 0.05``: at 10,000 spells the SD of a pooled log hazard ratio is
      about 0.08, so the Monte Carlo SE of the bias over 50 replications is about 0.011;
      0.05 is about 4.5 of those.
    * ``min_coverage = 0.80``: a 95 % interval covering in 95 % of replications falls below
      0.80 in 50 replications with probability 3e-5; with the clustered Wald interval's
      known under-coverage of about 91 % (few treated clusters), 0.4 %.
    * ``max_size = 0.20``: a test rejecting a true null in 5 % of replications exceeds 0.20
      in 50 replications with probability 3e-5; at the clustered Wald test's known 9 %,
      0.4 %.

    Fewer replications need wider tolerances; the gate prints each criterion's Monte Carlo
    standard error beside it.

    Attributes
    ----------
    reps, n_spells, seed
        Replications per scenario, spells per replication, root seed (a fixed seed makes
        the gate reproducible).
    scenarios
        Synthetic scenarios to run (:data:`CHECK_SCENARIOS`).
    bootstrap_draws, ri_draws
        Draws of the wild bootstrap and of randomisation inference in the gate (0 switches
        a method off).
    max_abs_bias, min_coverage, max_size
        Tolerances (see above).
    """

    reps: int = 50
    n_spells: int = 10_000
    seed: int = 0
    scenarios: tuple[str, ...] = CHECK_SCENARIOS
    bootstrap_draws: int = 199
    ri_draws: int = 199
    max_abs_bias: float = 0.05
    min_coverage: float = 0.80
    max_size: float = 0.20

    def __post_init__(self) -> None:
        for s in self.scenarios:
            check_option("check.scenarios", s, CHECK_SCENARIOS)
        if self.reps < 2 or self.n_spells < 1:
            raise OptionError(
                f"check.reps={self.reps} must be at least 2 and check.n_spells={self.n_spells} "
                "positive."
            )
        if self.bootstrap_draws < 0 or self.ri_draws < 0:
            raise OptionError("check.bootstrap_draws and check.ri_draws must be >= 0.")


@dataclass(frozen=True)
class RunConfig:
    """Settings of one ``sofeval run``.

    Attributes
    ----------
    design
        Keyword arguments for :class:`sofeval.panel.build.StudyDesign`.
    covariates
        Categorical covariates of the default model (continuous ones are binned).
    family
        Link of the discrete-time hazard (``cloglog`` default, or ``logit``).
    bootstrap_draws, bootstrap_weights, ri_draws, seed
        Inference settings (wild cluster score bootstrap and randomisation inference).
    horizon
        Weeks on benefit and cumulative incidences are counted up to this spell week
        (``1 .. max_weeks`` of the design); ``None`` (default) is :data:`DEFAULT_HORIZON`,
        or ``max_weeks`` when that is shorter (see :attr:`horizon_weeks`).
    benefit_per_week
        Kroner per week on benefit for the kroner saved (default
        :data:`sofeval.analyses.BENEFIT_PER_WEEK`, the maximum weekly sickness benefit of
        2018; its source is in ``docs/outcomes.md``).
    subgroups
        Spell covariates of the subgroup effects and their homogeneity tests, each one of
        :data:`sofeval.data.SPELL_COVARIATES` (``age`` in bands); ``None`` (default): every
        one present in the data with two or more levels; ``()``: none.
    skip
        Analyses left out of the run, each one of :data:`OPTIONAL_ANALYSES` (default: none).
    lang
        Report language, ``en`` or ``da``.
    threshold
        Disclosure control: counts below it are suppressed in published tables.
    check
        The CI gate's runs and tolerances (the ``[check]`` table).
    """

    design: dict[str, Any] = field(default_factory=dict)
    covariates: tuple[str, ...] = ()
    family: str = "cloglog"
    bootstrap_draws: int = 999
    bootstrap_weights: str = "rademacher"
    ri_draws: int = 999
    seed: int = 20171001
    horizon: int | None = None
    benefit_per_week: float = BENEFIT_PER_WEEK
    subgroups: tuple[str, ...] | None = None
    skip: tuple[str, ...] = ()
    lang: str = "en"
    threshold: int = 5
    check: CheckSettings = field(default_factory=CheckSettings)

    def __post_init__(self) -> None:
        check_option("family", self.family, ("cloglog", "logit"))
        check_option("bootstrap_weights", self.bootstrap_weights, ("rademacher", "webb"))
        check_option("lang", self.lang, ("en", "da"))
        if self.threshold < 1:
            raise OptionError(f"threshold={self.threshold} must be a positive count.")
        if self.bootstrap_draws < 0 or self.ri_draws < 0:
            raise OptionError("bootstrap_draws and ri_draws must be >= 0 (0 switches them off).")
        max_weeks = self.design.get("max_weeks", DEFAULT_HORIZON)
        if self.horizon is not None and (
            isinstance(self.horizon, bool)
            or not isinstance(self.horizon, int)
            or not 1 <= self.horizon <= max_weeks
        ):
            raise OptionError(
                f"horizon={self.horizon!r} must be a whole number of weeks in 1..{max_weeks} "
                "(the design's max_weeks: no spell week beyond it is modelled)."
            )
        benefit = self.benefit_per_week
        if isinstance(benefit, bool) or not isinstance(benefit, (int, float)) or not (
            math.isfinite(benefit) and benefit >= 0
        ):
            raise OptionError(
                f"benefit_per_week={benefit!r} must be a number of kroner >= 0 "
                f"(default {BENEFIT_PER_WEEK:g}, the maximum weekly sickness benefit of 2018)."
            )
        for v in self.subgroups or ():
            check_option("subgroups", v, SPELL_COVARIATES)
        for v in self.skip:
            check_option("skip", v, OPTIONAL_ANALYSES)

    def runs(self, analysis: str) -> bool:
        """Whether ``analysis`` (one of :data:`OPTIONAL_ANALYSES`) is part of the run."""
        check_option("analysis", analysis, OPTIONAL_ANALYSES)
        if analysis == "durations" and "destinations" in self.skip:
            return False
        if analysis == "subgroups" and self.subgroups == ():
            return False
        return analysis not in self.skip

    @property
    def horizon_weeks(self) -> int:
        """The horizon of the durations: :attr:`horizon`, else the default capped at max_weeks."""
        if self.horizon is not None:
            return int(self.horizon)
        return min(DEFAULT_HORIZON, int(self.design.get("max_weeks", DEFAULT_HORIZON)))

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        """Read a ``study.toml`` (see the module docstring for its tables and keys).

        Raises
        ------
        OptionError
            For a missing file or an unknown table or key (the message lists the valid ones).
        """
        p = Path(path)
        if not p.is_file():
            raise OptionError(f"config file {str(p)!r} does not exist.")
        with p.open("rb") as fh:
            raw = tomllib.load(fh)
        kwargs: dict[str, Any] = {}
        for table, values in raw.items():
            check_option(f"[{table}] table in {p.name}", table, tuple(_ALLOWED))
            for key in values:
                check_option(f"{table}.{key}", key, _ALLOWED[table])
        design = dict(raw.get("design", {}))
        for key in ("data_end", "cohort_start", "cohort_end"):
            if key in design:
                design[key] = pd.Timestamp(design[key])
        kwargs["design"] = design
        model = raw.get("model", {})
        if "covariates" in model:
            kwargs["covariates"] = tuple(model["covariates"])
        if "family" in model:
            kwargs["family"] = model["family"]
        kwargs.update(raw.get("inference", {}))
        kwargs.update(raw.get("outcomes", {}))
        if "subgroups" in raw.get("credibility", {}):
            kwargs["subgroups"] = tuple(raw["credibility"]["subgroups"])
        if "skip" in raw.get("analyses", {}):
            kwargs["skip"] = tuple(raw["analyses"]["skip"])
        kwargs.update(raw.get("report", {}))
        if "check" in raw:
            gate = dict(raw["check"])
            if "scenarios" in gate:
                gate["scenarios"] = tuple(gate["scenarios"])
            kwargs["check"] = CheckSettings(**gate)
        return cls(**kwargs)

    def updated(self, **changes: Any) -> RunConfig:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        clean = {k: v for k, v in changes.items() if v is not None}
        if "data_end" in clean:
            design = dict(self.design)
            design["data_end"] = pd.Timestamp(clean.pop("data_end"))
            clean["design"] = design
        return replace(self, **clean)
