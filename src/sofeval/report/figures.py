"""House style of sofeval's figures, the shared axes helper, and the effect figures.

Every figure function of :mod:`sofeval.report` is pure: it takes a plain
:class:`pandas.DataFrame` (the tidy tables of the analysis modules), returns a
:class:`matplotlib.figure.Figure` and accepts ``ax=None`` (draw into existing axes
instead of a new figure) and ``lang="en"|"da"`` (labels from
:data:`sofeval.report.labels.LABELS`).

New figures are created with :class:`matplotlib.figure.Figure` directly, never
through :mod:`matplotlib.pyplot`, so nothing is registered in pyplot's global
figure manager (no ``plt.close`` needed, no GUI backend, safe on headless
servers); saving uses the Agg renderer. The style is applied locally with
:func:`style` (an :func:`matplotlib.rc_context`), never globally.

This module holds the style, :func:`figure_axes` and the figures of estimated effects
(:func:`forest`, :func:`dose_response_plot`); the descriptive figures (Kaplan–Meier,
weekly exit rates, monitoring) are in :mod:`sofeval.report.figures_descriptive`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import matplotlib as mpl
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sofeval.errors import OptionError, SofevalError, check_option
from sofeval.report.labels import LANGS, Lang, label

#: Figure width of the house style: 16 cm, the text width of an A4 page.
FIG_WIDTH_IN = 16 / 2.54

#: Okabe–Ito colour-blind-safe palette (black first, then the eight hues).
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)

_RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "lines.linewidth": 1.5,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "svg.hashsalt": "sofeval",
    "svg.fonttype": "path",
}


@contextmanager
def style() -> Iterator[None]:
    """Apply the sofeval house style locally (A4 width, 9–10 pt, colour-blind-safe palette).

    Examples
    --------
    >>> with style():
    ...     fig = Figure()
    """
    with mpl.rc_context(_RC):  # type: ignore[arg-type]
        yield


def figure_axes(
    ax: Axes | Sequence[Axes] | None,
    *,
    height_cm: float,
    nrows: int = 1,
    ncols: int = 1,
    sharex: bool = False,
    sharey: bool = False,
    name: str = "figure",
    panels: Sequence[str] = (),
) -> tuple[Figure, list[Axes]]:
    """Return a figure and its panels: the caller's axes, or a new figure 16 cm wide.

    Parameters
    ----------
    ax
        ``None`` (make a new figure of ``nrows`` x ``ncols`` panels, constrained layout),
        one axes or a sequence of ``nrows * ncols`` axes to draw into.
    height_cm
        Height of a new figure in cm.
    nrows, ncols
        Grid of panels of a new figure.
    sharex, sharey
        Share the x or y axis between the panels of a new figure.
    name
        Name of the calling figure function (quoted in errors).
    panels
        Names of the panels (quoted in errors).

    Returns
    -------
    tuple of matplotlib.figure.Figure and list of matplotlib.axes.Axes
        The figure and its panels in row-major order.

    Raises
    ------
    OptionError
        If ``ax`` has another number of axes than panels, or belongs to no Figure.
    """
    n_panels = nrows * ncols
    if ax is None:
        fig = Figure(figsize=(FIG_WIDTH_IN, height_cm / 2.54), layout="constrained")
        if n_panels == 1:
            return fig, [fig.add_subplot()]
        grid = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
        return fig, list(grid.ravel())
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != n_panels:
        raise OptionError(
            f"{name}: got {len(axes)} axes for {n_panels} panels {list(panels)}; "
            "pass one axes per panel or ax=None."
        )
    owner = axes[0].get_figure()
    if not isinstance(owner, Figure):  # pragma: no cover - subfigures
        raise OptionError(f"{name}: ax must belong to a matplotlib Figure.")
    return owner, axes


def require_columns(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise :class:`~sofeval.errors.SofevalError` when ``frame`` lacks any of ``columns``.

    Parameters
    ----------
    frame
        Table passed to a figure function.
    name
        Name of the figure function (quoted in the message).
    columns
        Columns the figure needs.

    Raises
    ------
    SofevalError
        Naming the missing and the needed columns.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SofevalError(
            f"{name}: missing column(s) {missing}; the plot needs {list(columns)}. "
            "Pass the tidy table of the corresponding analysis."
        )


def _flag_mask(frame: pd.DataFrame) -> pd.Series:
    """Rows with a truthy ``flag`` (not identified)."""
    if "flag" not in frame.columns:
        return pd.Series(False, index=frame.index)
    f = frame["flag"]
    if f.dtype == bool:
        return f
    return f.notna() & ~f.astype(str).str.strip().isin(("", "False", "0", "nan", "ok"))


def _is_flagged(frame: pd.DataFrame) -> pd.Series:
    """Rows not drawn: flagged, or a missing hazard ratio (e.g. suppressed)."""
    hr = frame["hazard_ratio"].astype(float)
    return _flag_mask(frame) | ~np.isfinite(hr)


_HR_TICKS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)


def _flag_reason(frame: pd.DataFrame) -> list[str]:
    """``not_identified`` for flagged rows, ``not_shown`` for suppressed (NaN, unflagged) ones."""
    return ["not_identified" if x else "not_shown" for x in _flag_mask(frame)]


def _forest_panel(
    a: Axes, sub: pd.DataFrame, est: str, ypos: dict[str, int], alpha: float, lang: Lang
) -> None:
    """Draw the hazard ratios of one estimand into one panel of :func:`forest`."""
    flagged = _is_flagged(sub)
    ok = sub.loc[~flagged]
    y = ok["jobcentre"].astype(str).map(ypos).to_numpy(float)
    sig = ((ok["q_bh"] < alpha) | (ok["p_holm"] < alpha)).to_numpy(bool)
    a.hlines(y, ok["ci_low"], ok["ci_high"], color=PALETTE[0], linewidth=1.2)
    a.plot(
        ok["hazard_ratio"].to_numpy()[sig],
        y[sig],
        "o",
        color=PALETTE[0],
        markersize=5,
        label=label("significant", lang),
    )
    a.plot(
        ok["hazard_ratio"].to_numpy()[~sig],
        y[~sig],
        "o",
        color=PALETTE[0],
        markerfacecolor="white",
        markersize=5,
        label=label("not_significant", lang),
    )
    a.axvline(1.0, color="#555555", linewidth=0.8, linestyle="--", zorder=0)
    a.set_xscale("log")
    for j, why in zip(
        sub.loc[flagged, "jobcentre"].astype(str),
        _flag_reason(sub.loc[flagged]),
        strict=True,
    ):
        a.text(
            1.0,
            ypos[j],
            label(why, lang),
            va="center",
            ha="center",
            fontsize=8,
            fontstyle="italic",
            color="#555555",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
        )
    a.set_title(label(est, lang))
    a.set_xlabel(label("hazard_ratio", lang))
    a.grid(axis="x", which="major", color="#EEEEEE")
    a.grid(axis="y", visible=False)
    a.xaxis.set_major_locator(mticker.FixedLocator(_HR_TICKS))
    a.xaxis.set_minor_locator(mticker.NullLocator())
    a.xaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))


def forest(
    jobcentre_effects: pd.DataFrame,
    *,
    alpha: float = 0.05,
    ax: Axes | Sequence[Axes] | None = None,
    lang: Lang = "en",
) -> Figure:
    """Forest plot of hazard ratios per jobcentre, one panel per estimand.

    Points are filled when the effect is significant after multiplicity adjustment
    (``q_bh < alpha`` or ``p_holm < alpha``) and hollow otherwise. Rows with a
    ``flag`` (or a missing hazard ratio) are written as "not identified".

    Parameters
    ----------
    jobcentre_effects
        Columns ``jobcentre``, ``estimand``, ``hazard_ratio``, ``ci_low``, ``ci_high``,
        ``p_holm``, ``q_bh`` and optionally ``flag``.
    alpha
        Significance level of the adjusted p-values.
    ax
        One axes per estimand (default: a new figure with a panel per estimand).
    lang
        Label language.

    Returns
    -------
    matplotlib.figure.Figure
        Log-scaled hazard-ratio axes with a reference line at 1.
    """
    check_option("lang", lang, LANGS)
    need = ("jobcentre", "estimand", "hazard_ratio", "ci_low", "ci_high", "p_holm", "q_bh")
    require_columns(jobcentre_effects, "forest", need)
    df = jobcentre_effects
    estimands = [e for e in ("ex_ante", "programme") if e in set(df["estimand"])]
    estimands += sorted({str(e) for e in df["estimand"]} - set(estimands))
    centres = sorted({str(j) for j in df["jobcentre"]}, reverse=True)
    ypos = {j: i for i, j in enumerate(centres)}
    with style():
        fig, axes = figure_axes(
            ax,
            height_cm=max(6.0, 0.5 * len(centres) + 2.5),
            ncols=len(estimands),
            sharey=True,
            name="forest",
            panels=estimands,
        )
        for a, est in zip(axes, estimands, strict=True):
            _forest_panel(a, df.loc[df["estimand"].astype(str) == est], est, ypos, alpha, lang)
        axes[0].set_yticks(range(len(centres)), centres)
        axes[0].set_ylim(-0.7, len(centres) - 0.3)
        handles, labels_ = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels_, loc="outside lower center", ncols=2)
    return fig


def dose_response_plot(
    dose_response: pd.DataFrame,
    *,
    kind: Literal["effect", "curve", "both"] = "both",
    mediator: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    lang: Lang = "en",
) -> Figure:
    """Dose-response: % change in the exit rate per +10 pp and/or the implied curve.

    The implied curve of window ``w`` is ``exp(coef_w · s)`` for shares ``s`` in [0, 1]
    (exit rate relative to a share of 0), with the band ``exp((coef_w ± 1.96 se_w) · s)``.

    Parameters
    ----------
    dose_response
        Columns ``window``, ``mediator``, ``coef``, ``se``, ``pct_per_10pp``,
        ``ci_low_pct``, ``ci_high_pct``.
    kind
        ``"effect"`` (point estimates with CI per window), ``"curve"`` or ``"both"``.
    mediator
        Mediator to show (default: the first one in the table).
    ax
        Axes (two for ``kind="both"``; default a new figure).
    lang
        Label language.

    Returns
    -------
    matplotlib.figure.Figure
        The dose-response figure.
    """
    check_option("lang", lang, LANGS)
    check_option("kind", kind, ("effect", "curve", "both"))
    require_columns(
        dose_response,
        "dose_response_plot",
        ("window", "mediator", "coef", "se", "pct_per_10pp", "ci_low_pct", "ci_high_pct"),
    )
    med = mediator if mediator is not None else str(dose_response["mediator"].iloc[0])
    df = dose_response.loc[dose_response["mediator"].astype(str) == med]
    windows = [w for w in ("weeks_1_7", "weeks_8_plus") if w in set(df["window"])]
    windows += sorted({str(w) for w in df["window"]} - set(windows))
    n_panels = 2 if kind == "both" else 1
    with style():
        fig, axes = figure_axes(
            ax,
            height_cm=7.5,
            ncols=n_panels,
            name="dose_response_plot",
            panels=["effect", "curve"] if kind == "both" else [kind],
        )
        k = 0
        if kind in ("effect", "both"):
            a = axes[k]
            k += 1
            rows = df.set_index(df["window"].astype(str)).loc[windows]
            y = np.arange(len(windows))[::-1].astype(float)
            colours = [PALETTE[i % len(PALETTE)] for i in range(len(windows))]
            a.hlines(y, rows["ci_low_pct"], rows["ci_high_pct"], colors=colours)
            a.scatter(rows["pct_per_10pp"].to_numpy(), y, c=colours, s=25, zorder=3)
            a.axvline(0.0, color="#555555", linewidth=0.8, linestyle="--", zorder=0)
            a.set_yticks(y, [label(w, lang) for w in windows])
            a.set_ylim(-0.7, len(windows) - 0.3)
            a.set_xlabel(label("pct_per_10pp", lang))
            a.grid(axis="y", visible=False)
            a.grid(axis="x", color="#EEEEEE")
        if kind in ("curve", "both"):
            a = axes[k]
            s = np.linspace(0.0, 1.0, 101)
            for i, w in enumerate(windows):
                r = df.loc[df["window"].astype(str) == w].iloc[0]
                colour = PALETTE[i % len(PALETTE)]
                coef, se = float(r["coef"]), float(r["se"])
                a.plot(s, np.exp(coef * s), color=colour, label=label(w, lang))
                a.fill_between(
                    s,
                    np.exp((coef - 1.96 * se) * s),
                    np.exp((coef + 1.96 * se) * s),
                    color=colour,
                    alpha=0.15,
                    linewidth=0,
                )
            a.axhline(1.0, color="#555555", linewidth=0.8, linestyle="--", zorder=0)
            a.xaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
            a.set_xlim(0, 1)
            a.set_xlabel(label("share_workplace", lang))
            a.set_ylabel(label("relative_rate", lang))
            a.legend(loc="upper left")
    return fig
