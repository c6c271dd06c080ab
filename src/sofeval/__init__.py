"""sofeval: register-based evaluation of return-to-work programmes.

Data flow (one module per stage)::

    contract/validation/io -> panel -> cells -> models (+ inference) -> effects,
    dose_response, monitoring -> plots/report -> cli
"""

from __future__ import annotations

__version__ = "0.1.0"
