"""Export of event-study coefficients in the form HonestDiD takes (Rambachan and Roth 2023).

HonestDiD's sensitivity analysis needs the event-study coefficients ``betahat`` (leads,
oldest first, then lags; the reference period left out), their covariance ``sigma`` and
the numbers of pre- and post-periods. :func:`honestdid_inputs` extracts them from an
:class:`~sofeval.analyses.event_study.EventStudyResult` (or any object with its
``names``, ``coef`` and ``cov``: :class:`EventCoefficients`); :func:`write_honestdid_csv`
and :func:`write_honestdid_json` write them for the R package (worked example in
``docs/credibility.md``).

The event study imports this module (``EventStudyResult.honestdid``), never the other way
round: the export reads the coefficients through :class:`EventCoefficients`, and the
reference quarter of the event study, :data:`REFERENCE_QUARTER`, is defined here because
it is the period HonestDiD leaves out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from sofeval.analyses.specification import ESTIMANDS
from sofeval.errors import check_option

__all__ = [
    "REFERENCE_QUARTER",
    "EventCoefficients",
    "HonestDiDInputs",
    "honestdid_inputs",
    "write_honestdid_csv",
    "write_honestdid_json",
]

#: Reference event quarter (the quarter before the programme start): every event-study
#: coefficient is relative to it, and HonestDiD leaves it out of ``betahat``.
REFERENCE_QUARTER = -1


class EventCoefficients(Protocol):
    """What the export reads of an event study (:class:`~.event_study.EventStudyResult`)."""

    @property
    def names(self) -> tuple[str, ...]:
        """Model column of every event coefficient, ``ES_<estimand>[<k>]``."""
        ...

    @property
    def coef(self) -> np.ndarray:
        """The event coefficients in ``names`` order."""
        ...

    @property
    def cov(self) -> np.ndarray:
        """Their (clustered) covariance."""
        ...


@dataclass(frozen=True)
class HonestDiDInputs:
    """What HonestDiD's ``createSensitivityResults*`` functions take, for one estimand.

    Attributes
    ----------
    estimand
        ``ex_ante`` or ``programme``.
    event_quarters
        Event quarter of every coefficient (reference -1 left out), in time order.
    betahat
        Coefficients (log hazard ratios relative to quarter -1).
    sigma
        Their clustered covariance.
    num_pre_periods, num_post_periods
        Number of leads (``k < -1`` kept) and lags (``k >= 0``).
    """

    estimand: str
    event_quarters: tuple[int, ...]
    betahat: np.ndarray
    sigma: np.ndarray
    num_pre_periods: int
    num_post_periods: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary (HonestDiD's argument names)."""
        return {
            "estimand": self.estimand,
            "reference_quarter": REFERENCE_QUARTER,
            "event_quarters": list(self.event_quarters),
            "betahat": [float(v) for v in self.betahat],
            "sigma": [[float(v) for v in row] for row in self.sigma],
            "numPrePeriods": self.num_pre_periods,
            "numPostPeriods": self.num_post_periods,
        }


def honestdid_inputs(result: EventCoefficients, estimand: str) -> HonestDiDInputs:
    """The coefficient vector and covariance of one estimand in HonestDiD's form.

    ``betahat`` holds the leads (``k < -1``, oldest first) then the lags (``k >= 0``);
    the reference quarter -1 is left out, as HonestDiD expects, and so is any coefficient
    that is not identified. The end bins (``<= min_lead``, ``>= top``) are averages over
    several quarters: HonestDiD's smoothness restrictions treat them as single periods.

    Parameters
    ----------
    result
        An :class:`~sofeval.analyses.event_study.EventStudyResult` (any
        :class:`EventCoefficients`).
    estimand
        ``ex_ante`` or ``programme``.

    Returns
    -------
    HonestDiDInputs
    """
    check_option("estimand", estimand, ESTIMANDS)
    ks = np.array([int(n.split("[")[1].rstrip("]")) for n in result.names])
    own = np.array([n.startswith(f"ES_{estimand}[") for n in result.names])
    own &= np.isfinite(result.coef)
    order = np.flatnonzero(own)[np.argsort(ks[own], kind="stable")]
    quarters = tuple(int(k) for k in ks[order])
    return HonestDiDInputs(
        estimand=estimand,
        event_quarters=quarters,
        betahat=result.coef[order].copy(),
        sigma=result.cov[np.ix_(order, order)].copy(),
        num_pre_periods=sum(k < 0 for k in quarters),
        num_post_periods=sum(k >= 0 for k in quarters),
    )


def write_honestdid_csv(result: EventCoefficients, directory: str | Path) -> list[Path]:
    """Write ``honestdid_<estimand>.csv`` per estimand: betahat and the covariance.

    Columns ``event_quarter, period, betahat, sigma_1 .. sigma_m`` (``period`` is
    ``pre`` or ``post``; row ``i`` of the ``sigma_*`` columns is row ``i`` of ``sigma``).
    Numbers are written with 17 significant digits, so the file round-trips exactly.

    Parameters
    ----------
    result
        An :class:`~sofeval.analyses.event_study.EventStudyResult` (any
        :class:`EventCoefficients`).
    directory
        Output folder (created if missing).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for est in ESTIMANDS:
        h = honestdid_inputs(result, est)
        m = len(h.event_quarters)
        frame = pd.DataFrame({
            "event_quarter": h.event_quarters,
            "period": ["pre" if k < 0 else "post" for k in h.event_quarters],
            "betahat": h.betahat,
        })
        sig = pd.DataFrame(h.sigma, columns=[f"sigma_{j + 1}" for j in range(m)])
        path = out / f"honestdid_{est}.csv"
        pd.concat([frame, sig], axis=1).to_csv(path, index=False, float_format="%.17g",
                                               lineterminator="\n")
        paths.append(path)
    return paths


def write_honestdid_json(result: EventCoefficients, directory: str | Path) -> list[Path]:
    """Write ``honestdid_<estimand>.json`` per estimand (HonestDiD's argument names).

    Keys ``estimand, reference_quarter, event_quarters, betahat, sigma, numPrePeriods,
    numPostPeriods``; floats are written with Python's shortest round-trip repr.

    Parameters
    ----------
    result
        An :class:`~sofeval.analyses.event_study.EventStudyResult` (any
        :class:`EventCoefficients`).
    directory
        Output folder (created if missing).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for est in ESTIMANDS:
        path = out / f"honestdid_{est}.json"
        text = json.dumps(honestdid_inputs(result, est).to_dict(), indent=1)
        path.write_text(text + "\n", encoding="utf-8")
        paths.append(path)
    return paths
