"""Descriptive figures: Kaplan–Meier curves, weekly exit rates and the monitoring figure.

Pure functions of tidy frames returning a :class:`matplotlib.figure.Figure` drawn
without pyplot state, in the style of :mod:`sofeval.report.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import special

from sofeval.errors import check_option
from sofeval.report.figures import PALETTE, figure_axes, require_columns, style
from sofeval.report.labels import LANGS, Lang, label

#: Colour of the single-jobcentre lines of the monitoring figure: muted, behind the pooled line.
_MUTED = "#B8C7D6"


def _groups(frame: pd.DataFrame, column: str) -> list[object]:
    """Group levels in categorical order if categorical, else sorted."""
    col = frame[column]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in present]
    return sorted(col.dropna().unique(), key=str)


def kaplan_meier(
    entry: np.ndarray,
    duration: np.ndarray,
    event: np.ndarray,
    weight: np.ndarray | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Kaplan–Meier survival with delayed entry and its exponential Greenwood band.

    The estimate of :class:`lifelines.KaplanMeierFitter` (``fit(duration, event,
    entry=entry, weights=weight)``) in a few array operations: at every time ``t`` of the
    timeline (the distinct entry and exit times) the risk set holds the weight that entered
    at or before ``t`` and left at ``t`` or later (an entry at ``t`` counts from the next
    time on, except at the first time), ``S(t) = prod (1 - d / n)`` and the band is
    ``exp(-exp(log(-log S) -+ z sqrt(V) / log S))`` with Greenwood's
    ``V = sum d / (n (n - d))``; where ``S = 1`` the band is 1.

    Parameters
    ----------
    entry
        Time the spell enters the risk set (``entry_week - 1`` for a spell first at risk in
        ``entry_week``).
    duration
        Time the spell leaves it.
    event
        1 where it leaves with the event, 0 where it is censored.
    weight
        Number of spells each row stands for (default: 1 each).
    level
        Confidence level of the band.

    Returns
    -------
    pandas.DataFrame
        Indexed by the timeline: ``survival``, ``lower``, ``upper``.
    """
    t_entry = np.asarray(entry, dtype=float)
    t_exit = np.asarray(duration, dtype=float)
    w = np.ones(len(t_exit)) if weight is None else np.asarray(weight, dtype=float)
    timeline = np.unique(np.concatenate([t_exit, t_entry]))
    k = len(timeline)
    at_exit = np.searchsorted(timeline, t_exit)
    removed = np.bincount(at_exit, weights=w, minlength=k)
    deaths = np.bincount(at_exit, weights=w * (np.asarray(event) != 0), minlength=k)
    entered = np.bincount(np.searchsorted(timeline, t_entry), weights=w, minlength=k)
    at_risk = np.cumsum(entered) - np.concatenate([[0.0], np.cumsum(removed)[:-1]])
    population = at_risk - np.concatenate([[0.0], entered[1:]])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.log(population - deaths) - np.log(population)
        var_terms = deaths / (population * (population - deaths))
    var_terms[np.isposinf(var_terms)] = 0.0
    # an empty risk set (0 / 0) adds nothing: the estimate carries on from the last time
    log_s = np.cumsum(np.nan_to_num(terms, nan=0.0, posinf=np.inf, neginf=-np.inf))
    var = np.cumsum(np.nan_to_num(var_terms, nan=0.0, posinf=np.inf, neginf=-np.inf))
    survival = np.exp(log_s)
    z = float(special.ndtri(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(survival)
        half = z * np.sqrt(var) / v
        lower = np.exp(-np.exp(np.log(-v) - half))
        upper = np.exp(-np.exp(np.log(-v) + half))
    return pd.DataFrame(
        {
            "survival": survival,
            "lower": np.where(np.isnan(lower), 1.0, lower),
            "upper": np.where(np.isnan(upper), 1.0, upper),
        },
        index=pd.Index(timeline, name="timeline"),
    )


def _km_panel(
    ax: Axes,
    spells: pd.DataFrame,
    group: str,
    levels: list[object],
    weight: str | None,
    ci: bool,
    lang: Lang,
) -> None:
    """Draw ``1 - S(t)`` per group into one axes (colours fixed by the group's position)."""
    for i, g in enumerate(levels):
        sub = spells.loc[spells[group] == g]
        if len(sub) == 0:
            continue
        km = kaplan_meier(
            sub["entry_week"].to_numpy(float) - 1.0,
            sub["last_week"].to_numpy(float),
            sub["event"].to_numpy(int),
            None if weight is None else sub[weight].to_numpy(float),
        )
        t = km.index.to_numpy(float)
        colour = PALETTE[i % len(PALETTE)]
        ax.step(
            t, 1.0 - km["survival"].to_numpy(), where="post", color=colour,
            label=label(str(g), lang),
        )
        if ci:
            ax.fill_between(
                t,
                1.0 - km["lower"].to_numpy(),
                1.0 - km["upper"].to_numpy(),
                step="post",
                color=colour,
                alpha=0.15,
                linewidth=0,
            )


def km_curves(
    spells: pd.DataFrame,
    *,
    group: str = "group",
    panel: str | None = None,
    weight: str | None = None,
    ci: bool = True,
    max_week: int | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    lang: Lang = "en",
) -> Figure:
    """Kaplan–Meier curves of the cumulative share exited to employment, by group.

    Uses :func:`kaplan_meier` (the estimate of :class:`lifelines.KaplanMeierFitter`) with
    delayed entry: a spell first at risk in week ``entry_week`` enters the risk set at
    time ``entry_week - 1`` and
    leaves it at ``last_week``. The plot shows ``1 - S(t)``; competing exits are
    treated as censoring (cause-specific, as in the hazard models).

    Parameters
    ----------
    spells
        One row per spell: ``entry_week``, ``last_week``, ``event`` (0/1) and ``group``;
        or one row per distinct such pattern with its number of spells in ``weight``.
    group
        Name of the group column (one curve per group).
    panel
        Column of small multiples: one panel per level (in categorical order), side by
        side with a shared y axis and one legend below the panels (default: one panel).
    weight
        Column of whole-number spell counts (``None``: every row is one spell). Counted
        rows give the same curves and bands as the spells they count.
    ci
        Draw the 95 % pointwise confidence band.
    max_week
        Last week shown (default: the largest ``last_week``).
    ax
        Axes to draw into, one per panel (default: a new figure).
    lang
        Label language.

    Returns
    -------
    matplotlib.figure.Figure
        One line per group in each panel.
    """
    check_option("lang", lang, LANGS)
    need = ["entry_week", "last_week", "event", group]
    need += [c for c in (weight, panel) if c is not None]
    require_columns(spells, "km_curves", need)
    levels = _groups(spells, group)
    panels = _groups(spells, panel) if panel is not None else [None]
    with style():
        fig, axes = figure_axes(
            ax,
            height_cm=8.5 if panel is None else 7.5,
            ncols=len(panels),
            sharey=True,
            name="km_curves",
            panels=[str(p) for p in panels],
        )
        for a, p in zip(axes, panels, strict=True):
            sub = spells if p is None else spells.loc[spells[panel] == p]
            _km_panel(a, sub, group, levels, weight, ci, lang)
            a.set_xlim(0, max_week if max_week is not None else float(spells["last_week"].max()))
            a.set_ylim(0, 1)
            a.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
            a.set_xlabel(label("spell_week", lang))
            if p is not None:
                a.set_title(label(str(p), lang))
        axes[0].set_ylabel(label("cum_exit" if panel is None else "cum_exit_short", lang))
        if panel is None:
            axes[0].legend(loc="upper left")
        else:
            seen: dict[str, Artist] = {}
            for a in axes:
                for h, t in zip(*a.get_legend_handles_labels(), strict=True):
                    seen.setdefault(t, h)
            fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=len(seen))
    return fig


def binomial_ci(
    events: np.ndarray, trials: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` with ``p = events/n``.

    Parameters
    ----------
    events, trials
        Event counts and numbers at risk (same shape).
    level
        Confidence level.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper bounds (NaN where ``trials == 0``).
    """
    n = np.asarray(trials, dtype=float)
    k = np.asarray(events, dtype=float)
    z = float(special.ndtri(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def weekly_hazard(
    cells: pd.DataFrame,
    *,
    group: str = "group",
    level: float = 0.95,
    min_count: int = 0,
    ax: Axes | None = None,
    lang: Lang = "en",
) -> Figure:
    """Weekly exit rate to employment (events / at risk) by week and group.

    Parameters
    ----------
    cells
        Cells-like frame with ``week``, ``group``, ``at_risk`` and ``event``; rows with
        the same week and group are summed.
    group
        Name of the group column.
    level
        Level of the Wilson binomial confidence band.
    min_count
        Disclosure control: hide week-group points with ``1 <= event < min_count`` or
        ``at_risk < min_count`` (a gap in the line).
    ax
        Axes to draw into (default: a new figure).
    lang
        Label language.

    Returns
    -------
    matplotlib.figure.Figure
        One line (with markers) per group.
    """
    check_option("lang", lang, LANGS)
    require_columns(cells, "weekly_hazard", ("week", group, "at_risk", "event"))
    agg = cells.groupby([group, "week"], observed=True, sort=True)[["at_risk", "event"]].sum()
    agg = agg.reset_index()
    with style():
        fig, (ax,) = figure_axes(ax, height_cm=8.5, name="weekly_hazard")
        for i, g in enumerate(_groups(cells, group)):
            sub = agg.loc[agg[group] == g].sort_values("week")
            small = ((sub["event"] >= 1) & (sub["event"] < min_count)) | (
                sub["at_risk"] < min_count
            )
            sub = sub.loc[(sub["at_risk"] > 0)]
            sub = sub.assign(event=sub["event"].astype(float).mask(small))
            w = sub["week"].to_numpy(float)
            rate = sub["event"].to_numpy(float) / sub["at_risk"].to_numpy(float)
            lo, hi = binomial_ci(sub["event"].to_numpy(), sub["at_risk"].to_numpy(), level)
            colour = PALETTE[i % len(PALETTE)]
            ax.plot(w, rate, marker="o", markersize=2.5, color=colour, label=label(str(g), lang))
            ax.fill_between(w, lo, hi, color=colour, alpha=0.15, linewidth=0)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=1))
        ax.set_xlabel(label("spell_week", lang))
        ax.set_ylabel(label("weekly_hazard", lang))
        ax.legend(loc="upper right")
    return fig


def monitoring_plot(
    success_criteria: pd.DataFrame,
    target: float = 0.70,
    *,
    share: str = "share",
    in_window_only: bool = True,
    programme_only: bool = True,
    min_count: int = 0,
    ax: Axes | None = None,
    lang: Lang = "en",
) -> Figure:
    """Monthly share of first meetings at the workplace per jobcentre, pooled, and target.

    Single jobcentres are thin muted lines; the pooled share (sum of workplace
    meetings / sum of first meetings per month, over the jobcentres shown) is a bold
    line on top; the target is a dashed horizontal line labelled at its right end. The
    legend sits below the axes, clear of the lines.

    Parameters
    ----------
    success_criteria
        Columns ``jobcentre``, ``month_label`` (``YYYY-MM``), ``first_meetings``,
        ``workplace_meetings``, the ``share`` column and ``in_window``.
    target
        Target share (0.70 in SOF).
    share
        Share column plotted per jobcentre (``share`` or ``share_v23``).
    in_window_only
        Keep only jobcentre-months inside the programme window (``in_window``).
    programme_only
        Keep only the programme jobcentres (``programme``, when the column is there).
    min_count
        Hide single-jobcentre points based on fewer than ``min_count`` first meetings
        (disclosure control; the pooled line keeps all meetings).
    ax
        Axes to draw into (default: a new figure).
    lang
        Label language.

    Returns
    -------
    matplotlib.figure.Figure
        One line per jobcentre, one pooled line and the target line.
    """
    check_option("lang", lang, LANGS)
    require_columns(
        success_criteria,
        "monitoring_plot",
        ("jobcentre", "month_label", "first_meetings", "workplace_meetings", share),
    )
    df = success_criteria
    if in_window_only and "in_window" in df.columns:
        df = df.loc[df["in_window"].fillna(False).astype(bool)]
    if programme_only and "programme" in df.columns:
        df = df.loc[df["programme"].fillna(False).astype(bool)]
    df = df.assign(_date=pd.to_datetime(df["month_label"].astype(str) + "-01", format="%Y-%m-%d"))
    with style():
        fig, (ax,) = figure_axes(ax, height_cm=8.5, name="monitoring_plot")
        for k, (_, sub) in enumerate(df.groupby(df["jobcentre"].astype(str), sort=True)):
            sub = sub.sort_values("_date")
            y = sub[share].astype(float).where(sub["first_meetings"] >= min_count)
            ax.plot(
                sub["_date"],
                y,
                color=_MUTED,
                linewidth=0.7,
                zorder=1,
                label=label("jobcentre_lines", lang) if k == 0 else "_nolegend_",
            )
        pooled = df.groupby("_date", sort=True)[["workplace_meetings", "first_meetings"]].sum()
        rate = pooled["workplace_meetings"] / pooled["first_meetings"].where(
            pooled["first_meetings"] > 0
        )
        ax.plot(
            pooled.index,
            rate,
            color=PALETTE[0],
            linewidth=2.6,
            marker="o",
            markersize=3.5,
            zorder=3,
            label=label("pooled", lang),
        )
        ax.axhline(target, color=PALETTE[1], linestyle="--", linewidth=1.3, zorder=2)
        target_text = (
            label("target", lang)
            if abs(target - 0.70) < 1e-12
            else f"{label('target', lang).split()[0]} {100 * target:g} %"
        )
        ax.annotate(
            target_text,
            xy=(1.0, target),
            xycoords=("axes fraction", "data"),
            xytext=(-2, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            color=PALETTE[1],
            fontweight="bold",
        )
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
        ax.set_xlabel(label("month", lang))
        ax.set_ylabel(label("share_workplace", lang))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)
    return fig
