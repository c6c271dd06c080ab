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

import importlib
from typing import TYPE_CHECKING, Any

from sofeval.errors import ContractError, EstimationError, OptionError, SofevalError

if TYPE_CHECKING:
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
    from sofeval.models import compare, fit_glm_cells, fit_hazard
    from sofeval.montecarlo import monte_carlo
    from sofeval.panel import StudyDesign, build_panel, cells_from_spells, collapse
    from sofeval.pipeline import run_analysis, write_outputs

#: Where each name of the front door lives: imported on first use (PEP 562), so that
#: ``import sofeval`` (and the ``sofeval`` command's ``--help``) does not load pandas,
#: scipy and matplotlib before they are needed.
_LAZY: dict[str, str] = {
    "cox_crosscheck": "sofeval.analyses",
    "dose_response": "sofeval.analyses",
    "estimate_effects": "sofeval.analyses",
    "jobcentre_effects": "sofeval.analyses",
    "randomization_test": "sofeval.analyses",
    "sof_cells": "sofeval.analyses",
    "success_criteria": "sofeval.analyses",
    "RunConfig": "sofeval.config",
    "StudyData": "sofeval.data",
    "load_study": "sofeval.data",
    "read_study_dir": "sofeval.data",
    "simulate": "sofeval.data",
    "validate_study": "sofeval.data",
    "compare": "sofeval.models",
    "fit_glm_cells": "sofeval.models",
    "fit_hazard": "sofeval.models",
    "monte_carlo": "sofeval.montecarlo",
    "StudyDesign": "sofeval.panel",
    "build_panel": "sofeval.panel",
    "cells_from_spells": "sofeval.panel",
    "collapse": "sofeval.panel",
    "run_analysis": "sofeval.pipeline",
    "write_outputs": "sofeval.pipeline",
}


def __getattr__(name: str) -> Any:
    """Import a name of the front door on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sofeval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
