"""Run configuration: the settings of ``sofeval run``, from a ``study.toml`` and the command line.

A ``study.toml`` has up to four tables, each optional::

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

    [report]
    lang = "en"                  # or "da"
    threshold = 5                # disclosure control: smallest count shown

Command-line options override the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from sofeval.errors import OptionError, check_option

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
    "report": ("lang", "threshold"),
}


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
    lang
        Report language, ``en`` or ``da``.
    threshold
        Disclosure control: counts below it are suppressed in published tables.
    """

    design: dict[str, Any] = field(default_factory=dict)
    covariates: tuple[str, ...] = ()
    family: str = "cloglog"
    bootstrap_draws: int = 999
    bootstrap_weights: str = "rademacher"
    ri_draws: int = 999
    seed: int = 20171001
    lang: str = "en"
    threshold: int = 5

    def __post_init__(self) -> None:
        check_option("family", self.family, ("cloglog", "logit"))
        check_option("bootstrap_weights", self.bootstrap_weights, ("rademacher", "webb"))
        check_option("lang", self.lang, ("en", "da"))
        if self.threshold < 1:
            raise OptionError(f"threshold={self.threshold} must be a positive count.")
        if self.bootstrap_draws < 0 or self.ri_draws < 0:
            raise OptionError("bootstrap_draws and ri_draws must be >= 0 (0 switches them off).")

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
        kwargs.update(raw.get("report", {}))
        return cls(**kwargs)

    def updated(self, **changes: Any) -> RunConfig:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        clean = {k: v for k, v in changes.items() if v is not None}
        if "data_end" in clean:
            design = dict(self.design)
            design["data_end"] = pd.Timestamp(clean.pop("data_end"))
            clean["design"] = design
        return replace(self, **clean)
