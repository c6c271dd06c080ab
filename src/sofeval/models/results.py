"""One results base for every results object of sofeval, the Wald table, HazardResults.

The results base
----------------
:class:`ResultsBase` is a mixin for frozen dataclasses. A subclass provides

* ``to_frame()`` -- its tidy table (a new DataFrame);
* ``title`` -- a one-line heading (a property or a plain class attribute);
* optionally ``header()`` -- ``(label, value)`` pairs shown above the table;
* optionally ``sections()`` -- further ``(heading, DataFrame)`` pairs shown below it;
* optionally ``_draw(fig, **kw)`` -- draws on a :class:`matplotlib.figure.Figure`;

and receives ``tidy()`` (= ``to_frame()``), ``summary()`` (text: heading, header lines,
the table, the sections), ``__str__`` (= ``summary()``), ``_repr_html_`` (escaped
heading and header, ``to_frame().to_html``) and ``plot(**kw)``, which returns a new
Figure built without pyplot state (``Figure()`` and ``fig.add_subplot``, never ``plt.``).
For example::

    from dataclasses import dataclass

    import pandas as pd
    from matplotlib.figure import Figure

    from sofeval.models import ResultsBase, wald_table


    @dataclass(frozen=True)
    class XResult(ResultsBase):
        table: pd.DataFrame
        title = "X effects"

        def to_frame(self) -> pd.DataFrame:
            return self.table.copy()

        def _draw(self, fig: Figure, **kw: object) -> None:
            ax = fig.add_subplot()
            ax.plot(self.table["coef"])

(``title = "..."`` without an annotation is a class attribute, not a dataclass field.)

:func:`wald_table` is the one Wald/confidence-interval table of the library.
:class:`HazardResults` is returned by :func:`sofeval.models.hazard.fit_hazard`; its
properties are cached and read-only, and changing the inference
(:meth:`HazardResults.with_vcov`) returns a new object.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import special

from sofeval.errors import SofevalError, check_option
from sofeval.models.covariance import Correction, VcovMethod, vcov
from sofeval.models.families import Family
from sofeval.models.glm import GLMFit

__all__ = [
    "CI_SCALES",
    "TIDY_COLUMNS",
    "CiScale",
    "HazardResults",
    "ResultsBase",
    "compare",
    "wald_table",
]

TIDY_COLUMNS = (
    "term",
    "coef",
    "se",
    "z",
    "p_value",
    "ci_low",
    "ci_high",
    "hazard_ratio",
    "pct_change",
)
CiScale = Literal["coef", "hazard_ratio"]
CI_SCALES: tuple[CiScale, ...] = ("coef", "hazard_ratio")


def _fmt(v: float) -> str:
    return f"{v:.4f}"


def wald_table(
    coef: np.ndarray | Sequence[float],
    se: np.ndarray | Sequence[float],
    level: float = 0.95,
    names: Sequence[str] | None = None,
    *,
    ci_scale: CiScale = "coef",
) -> pd.DataFrame:
    """Wald statistics, normal p-values and confidence intervals of coefficients.

    With ``q = Phi^-1(1/2 + level/2)``: ``z = coef / se``, ``p_value = 2 Phi(-|z|)``,
    ``ci = coef -+ q se`` (``ci_scale="coef"``) or ``exp(coef -+ q se)``
    (``"hazard_ratio"``), ``hazard_ratio = exp(coef)`` and ``pct_change =
    100 (exp(coef) - 1)``. A zero or NaN standard error gives ``inf``/NaN, not an error.

    Parameters
    ----------
    coef, se
        Coefficients (log hazard ratios) and standard errors.
    level
        Confidence level in (0, 1).
    names
        Optional term names: a first column ``term``.
    ci_scale
        Scale of ``ci_low``/``ci_high``.

    Returns
    -------
    pandas.DataFrame
        Columns ``[term,] coef, se, z, p_value, ci_low, ci_high, hazard_ratio, pct_change``.

    Raises
    ------
    SofevalError
        ``level`` outside (0, 1).
    OptionError
        Unknown ``ci_scale``.
    """
    check_option("ci_scale", ci_scale, CI_SCALES)
    if not 0 < level < 1:
        raise SofevalError(f"wald_table: level={level} must be in (0, 1).")
    b = np.asarray(coef, dtype=np.float64)
    s = np.asarray(se, dtype=np.float64)
    q = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = b / s
        lo, hi = b - q * s, b + q * s
        if ci_scale == "hazard_ratio":
            lo, hi = np.exp(lo), np.exp(hi)
        cols: dict[str, Any] = {} if names is None else {"term": list(names)}
        cols.update(
            coef=b,
            se=s,
            z=z,
            p_value=2 * special.ndtr(-np.abs(z)),
            ci_low=lo,
            ci_high=hi,
            hazard_ratio=np.exp(b),
            pct_change=100 * np.expm1(b),
        )
    return pd.DataFrame(cols)


class ResultsBase:
    """Shared presentation of results objects (a mixin for frozen dataclasses).

    Subclasses implement :meth:`to_frame` and set ``title``; see the module docstring.
    """

    title: str = "sofeval results"

    def to_frame(self) -> pd.DataFrame:
        """The tidy results table (a new DataFrame)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement to_frame().")

    def header(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs shown above the table (none by default)."""
        return []

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        """Further ``(heading, table)`` pairs shown below the main table (none by default)."""
        return []

    def tidy(self) -> pd.DataFrame:
        """Same as :meth:`to_frame`."""
        return self.to_frame()

    def summary(self) -> str:
        """Printable text: heading, header lines, the table and any further sections."""
        lines = [self.title]
        lines += [f"{k}: {v}" for k, v in self.header()]
        text = "\n".join(lines) + "\n" + self.to_frame().to_string(index=False, float_format=_fmt)
        for heading, frame in self.sections():
            text += f"\n\n{heading}\n" + frame.to_string(index=False, float_format=_fmt)
        return text

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        head = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.header()
        )
        body = self.to_frame().to_html(index=False, float_format=_fmt)
        for heading, frame in self.sections():
            body += f"<p>{html.escape(heading)}</p>" + frame.to_html(
                index=False, float_format=_fmt
            )
        return f"<div><strong>{html.escape(self.title)}</strong><table>{head}</table>{body}</div>"

    def plot(self, **kwargs: Any) -> Figure:
        """A new :class:`matplotlib.figure.Figure` drawn by the subclass (no pyplot state).

        Parameters
        ----------
        **kwargs
            Passed to the subclass's drawing hook.

        Returns
        -------
        matplotlib.figure.Figure
        """
        fig = Figure()
        self._draw(fig, **kwargs)
        return fig

    def _draw(self, fig: Figure, *args: Any, **kwargs: Any) -> None:
        """Draw on ``fig`` (subclasses that can be plotted implement this)."""
        raise NotImplementedError(f"{type(self).__name__} has no plot.")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class HazardResults(ResultsBase):
    """Results of a discrete-time hazard model fitted on cells.

    Attributes
    ----------
    names
        Parameter names.
    fit
        The :class:`sofeval.models.glm.GLMFit`.
    cov
        Covariance matrix used for inference.
    vcov_name
        Name of the covariance method (``"model"`` or ``"cluster"``).
    correction
        Small-sample correction of the cluster covariance.
    family
        Link/family of the model.
    n_obs
        Person-weeks at risk.
    n_events
        Number of events.
    n_cells
        Number of cells the model was fitted on.
    n_clusters
        Number of clusters (0 without clustering).
    X
        Design matrix of the cells (kept for :meth:`with_vcov`).
    clusters
        Cluster codes per cell, or None.
    """

    names: tuple[str, ...]
    fit: GLMFit = field(repr=False)
    cov: np.ndarray = field(repr=False)
    vcov_name: str
    correction: str
    family: Family
    n_obs: int
    n_events: int
    n_cells: int
    n_clusters: int
    X: np.ndarray = field(repr=False)
    clusters: np.ndarray | None = field(repr=False, default=None)

    title = "Discrete-time hazard model (sofeval)"

    # ---- cached read-only quantities --------------------------------------------------

    @cached_property
    def params(self) -> pd.Series:
        """Coefficients (log hazard ratios for cloglog/Poisson, log odds ratios for logit)."""
        return pd.Series(_readonly(self.fit.params), index=list(self.names), name="coef")

    @cached_property
    def std_errors(self) -> pd.Series:
        """Standard errors from the covariance named in ``vcov_name``."""
        return pd.Series(_readonly(np.sqrt(np.diag(self.cov))), index=list(self.names), name="se")

    @cached_property
    def tstats(self) -> pd.Series:
        """Wald statistics ``coef / se``."""
        return pd.Series(
            _readonly(self.params.to_numpy() / self.std_errors.to_numpy()),
            index=list(self.names),
            name="z",
        )

    @cached_property
    def pvalues(self) -> pd.Series:
        """Two-sided normal p-values."""
        return pd.Series(
            _readonly(2 * special.ndtr(-np.abs(self.tstats.to_numpy()))),
            index=list(self.names),
            name="p_value",
        )

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Normal confidence intervals.

        Parameters
        ----------
        level
            Coverage level in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper`` indexed by term.
        """
        if not 0 < level < 1:
            raise ValueError(f"conf_int: level={level} must be in (0, 1).")
        tab = wald_table(self.params.to_numpy(), self.std_errors.to_numpy(), level)
        return pd.DataFrame(
            {"lower": tab["ci_low"].to_numpy(), "upper": tab["ci_high"].to_numpy()},
            index=list(self.names),
        )

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per term: coef, se, z, p_value, CI, hazard ratio and % change.

        Parameters
        ----------
        level
            Confidence level of ``ci_low``/``ci_high``.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`TIDY_COLUMNS` (see :func:`wald_table`).
        """
        return wald_table(
            self.params.to_numpy(), self.std_errors.to_numpy(), level, names=self.names
        )

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """Alias of :meth:`tidy`.

        Parameters
        ----------
        level
            Confidence level.

        Returns
        -------
        pandas.DataFrame
        """
        return self.tidy(level)

    # ---- presentation -----------------------------------------------------------------

    def header(self) -> list[tuple[str, str]]:
        """Model description shown above the coefficient table."""
        cov = self.vcov_name + (
            f" ({self.correction}, G={self.n_clusters})" if self.vcov_name == "cluster" else ""
        )
        return [
            (
                "Family / link",
                f"binomial/{self.family}"
                if self.family != "poisson"
                else "poisson (piecewise exponential)",
            ),
            ("Person-weeks", f"{self.n_obs:,}"),
            ("Events", f"{self.n_events:,}"),
            ("Cells", f"{self.n_cells:,}"),
            ("Covariance", cov),
            ("Log-likelihood", f"{self.fit.loglik:.3f}"),
            ("Converged", f"{self.fit.converged} ({self.fit.n_iter} iterations)"),
        ]

    def summary(self, terms: Sequence[str] | None = None) -> str:
        """Printable text table of the model.

        Parameters
        ----------
        terms
            Terms to show (default all).

        Returns
        -------
        str
        """
        tab = self.tidy()
        if terms is not None:
            tab = tab[tab["term"].isin(list(terms))]
        lines = [self.title, "=" * 78]
        lines += [f"{k:<16}{v}" for k, v in self.header()]
        if self.fit.separated:
            lines.append(f"{'Separated':<16}{', '.join(self.fit.separated)}")
        lines.append("-" * 78)
        width = max([4, *(len(t) for t in tab["term"])])
        width = min(width, 30)
        lines.append(
            f"{'term':<{width}} {'coef':>9} {'se':>9} {'z':>7} {'p':>7} "
            f"{'[0.025':>9} {'0.975]':>9} {'HR':>8}"
        )
        for r in tab.itertuples(index=False):
            lines.append(
                f"{str(r.term)[:width]:<{width}} {r.coef:>9.4f} {r.se:>9.4f} "
                f"{r.z:>7.2f} {r.p_value:>7.4f} {r.ci_low:>9.4f} {r.ci_high:>9.4f} "
                f"{r.hazard_ratio:>8.4f}"
            )
        lines.append("=" * 78)
        return "\n".join(lines)

    # ---- new inference ----------------------------------------------------------------

    def with_vcov(
        self,
        method: VcovMethod,
        *,
        clusters: np.ndarray | None = None,
        correction: Correction = "stata",
    ) -> HazardResults:
        """Return a NEW results object with another covariance estimator.

        Parameters
        ----------
        method
            ``"model"`` or ``"cluster"`` (see :func:`sofeval.models.covariance.vcov`).
        clusters
            Cluster label per cell; defaults to the clusters of the fit.
        correction
            Small-sample correction for ``"cluster"``.

        Returns
        -------
        HazardResults
        """
        cl = clusters if clusters is not None else self.clusters
        cov = vcov(
            self.fit, self.X, method=method, clusters=cl, correction=correction, n_obs=self.n_obs
        )
        n_cl = (
            int(len(np.unique(np.asarray(cl))))
            if (cl is not None and method == "cluster")
            else self.n_clusters
        )
        return replace(
            self, cov=cov, vcov_name=method, correction=correction, clusters=cl, n_clusters=n_cl
        )

    def _draw(
        self,
        fig: Figure,
        terms: Sequence[str] | None = None,
        level: float = 0.95,
        scale: Literal["coef", "hazard_ratio"] = "coef",
    ) -> None:
        """Coefficient (forest) plot with confidence intervals.

        Parameters
        ----------
        fig
            The figure to draw on (one new axes).
        terms
            Terms to show (default all except the intercept).
        level
            Confidence level.
        scale
            ``"coef"`` or ``"hazard_ratio"`` (log x-axis).
        """
        tab = self.tidy(level)
        sel = list(terms) if terms is not None else [t for t in self.names if t != "Intercept"]
        tab = tab.set_index("term").loc[sel]
        fig.set_size_inches(6, 0.35 * len(sel) + 1.2)
        ax = fig.add_subplot()
        y = np.arange(len(sel))[::-1]
        est, lo, hi = tab["coef"].to_numpy(), tab["ci_low"].to_numpy(), tab["ci_high"].to_numpy()
        ref = 0.0
        if scale == "hazard_ratio":
            est, lo, hi, ref = np.exp(est), np.exp(lo), np.exp(hi), 1.0
            ax.set_xscale("log")
        ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color="black", capsize=3)
        ax.axvline(ref, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y)
        ax.set_yticklabels(sel)
        ax.set_xlabel("hazard ratio" if scale == "hazard_ratio" else "coefficient")


def compare(
    *results: HazardResults,
    names: Sequence[str] | None = None,
    stat: Literal["se", "p_value"] = "se",
) -> pd.DataFrame:
    """Models side by side: one column pair (coef, se or p) per model, one row per term.

    Parameters
    ----------
    *results
        Results objects to compare.
    names
        Model names (default ``model_1, model_2, ...``).
    stat
        Second statistic per model.

    Returns
    -------
    pandas.DataFrame
        Index term; MultiIndex columns ``(model, coef|se|p_value)``; last rows
        ``n_obs`` and ``n_events`` in the coef column.
    """
    labels = list(names) if names is not None else [f"model_{i + 1}" for i in range(len(results))]
    if len(labels) != len(results):
        raise SofevalError(f"compare: {len(labels)} names for {len(results)} results.")
    frames: dict[str, Any] = {}
    for lab, r in zip(labels, results, strict=True):
        t = r.tidy().set_index("term")
        frames[lab] = t[["coef", stat]]
    out = pd.concat(frames, axis=1)
    terms = list(dict.fromkeys(t for r in results for t in r.names))
    out = out.reindex(terms)
    extra = pd.DataFrame(
        {(lab, "coef"): [r.n_obs, r.n_events] for lab, r in zip(labels, results, strict=True)},
        index=["n_obs", "n_events"],
    )
    return pd.concat([out, extra])
