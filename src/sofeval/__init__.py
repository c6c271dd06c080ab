"""sofeval: register-based evaluation of return-to-work programmes.

The front door: ``import sofeval as sf`` gives the entry points of every stage.

Data flow (one subpackage per layer, imports run one way)::

    data -> panel -> analyses -> pipeline/cli      (report: figures and tables of frames)
            models -> analyses                     (domain-free engine)

Examples
--------
>>> import sofeval as sf
>>> sim = sf.simulate("homogeneous", n_spells=5_000, seed=1)
>>> study = sf.validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme)
>>> eff = sf.estimate_effects(study)
"""

from __future__ import annotations

__version__ = "0.1.0"

from sofeval.analyses import (
    cox_crosscheck,
    dose_response,
    estimate_effects,
    jobcentre_effects,
    randomization_test,
    sof_cells,
    success_criteria,
)
from sofeval.config import RunConfig
from sofeval.data import StudyData, load_study, read_study_dir, simulate, validate_study
from sofeval.errors import ContractError, EstimationError, OptionError, SofevalError
from sofeval.models import compare, fit_glm_cells, fit_hazard
from sofeval.montecarlo import monte_carlo
from sofeval.panel import StudyDesign, build_panel, cells_from_spells, collapse
from sofeval.pipeline import run_analysis, write_outputs

__all__ = [
    "ContractError",
    "EstimationError",
    "OptionError",
    "RunConfig",
    "SofevalError",
    "StudyData",
    "StudyDesign",
    "__version__",
    "build_panel",
    "cells_from_spells",
    "collapse",
    "compare",
    "cox_crosscheck",
    "dose_response",
    "estimate_effects",
    "fit_glm_cells",
    "fit_hazard",
    "jobcentre_effects",
    "load_study",
    "monte_carlo",
    "randomization_test",
    "read_study_dir",
    "run_analysis",
    "simulate",
    "sof_cells",
    "success_criteria",
    "validate_study",
    "write_outputs",
]
