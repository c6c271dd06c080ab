"""Figures of the outcomes beyond the hazard ratio: destinations, weeks saved, recurrence.

Like :mod:`sofeval.report.figures`, every function takes a tidy :class:`pandas.DataFrame` (the
tables of :mod:`sofeval.analyses.destinations`, :mod:`~sofeval.analyses.durations` and
:mod:`~sofeval.analyses.recurrence`), builds a :class:`matplotlib.figure.Figure` without
pyplot state and labels it in English or Danish (:data:`OUTCOME_LABELS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sofeval.errors import OptionError, SofevalError, check_option
from sofeval.report.figures import FIG_WIDTH_IN, LANGS, PALETTE, Lang, label, style

__all__ = [
    "DESTINATION_ORDER",
    "OUTCOME_LABELS",
    "destination_forest",
    "destinations_stacked",
    "incidence_curves",
    "outcome_label",
    "recurrence_curves",
    "survival_curves",
    "weeks_saved_forest",
]

#: Exit states in the order of the figures (employment first).
DESTINATION_ORDER: tuple[str, ...] = (
    "employment",
    "unemployment",
    "job_clarification",
    "flexjob",
    "disability_pension",
    "education",
    "other",
)

_HR_TICKS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)

#: Labels of the outcome figures, ``OUTCOME_LABELS[lang][key]``.
OUTCOME_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "employment": "Employment",
        "unemployment": "Unemployment",
        "job_clarification": "Job clarification",
        "flexjob": "Flexjob",
        "disability_pension": "Disability pension",
        "education": "Education",
        "other": "Other",
        "on_benefit": "Still on sickness benefit",
        "with": "With the programme",
        "without": "Without the programme",
        "spell_week": "Week of sickness absence",
        "cum_incidence": "Cumulative share exited",
        "share_on_benefit": "Share still on sickness benefit",
        "share_of_spells": "Share of programme spells",
        "weeks_saved": "Weeks on benefit saved per spell (95 % CI)",
        "all": "All programme jobcentres",
        "weeks_since_return": "Weeks since return to work",
        "recurrence": "Share with a new sickness spell",
        "hazard_ratio": "Hazard ratio (95 % CI)",
        "destination": "Destination",
    },
    "da": {
        "employment": "Beskæftigelse",
        "unemployment": "Ledighed",
        "job_clarification": "Jobafklaringsforløb",
        "flexjob": "Fleksjob",
        "disability_pension": "Førtidspension",
        "education": "Uddannelse",
        "other": "Andet",
        "on_benefit": "Fortsat på sygedagpenge",
        "with": "Med programmet",
        "without": "Uden programmet",
        "spell_week": "Sygefraværsuge",
        "cum_incidence": "Kumuleret andel afgået",
        "share_on_benefit": "Andel fortsat på sygedagpenge",
        "share_of_spells": "Andel af programforløb",
        "weeks_saved": "Sparede uger på sygedagpenge pr. forløb (95 %-KI)",
        "all": "Alle programjobcentre",
        "weeks_since_return": "Uger siden tilbagevenden til arbejde",
        "recurrence": "Andel med et nyt sygeforløb",
        "hazard_ratio": "Hazard ratio (95 %-KI)",
        "destination": "Afgangsvej",
    },
}


def outcome_label(key: str, lang: Lang = "en") -> str:
    """``OUTCOME_LABELS[lang][key]``, else the label of :func:`sofeval.report.label`."""
    check_option("lang", lang, LANGS)
    return OUTCOME_LABELS[lang].get(key, label(key, lang))


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SofevalError(
            f"{name}: missing column(s) {missing}; the plot needs {list(columns)}. Pass the "
            "table of the corresponding analysis (its to_frame())."
        )


def _scope(frame: pd.DataFrame, scope: str, name: str) -> pd.DataFrame:
    sub = frame[frame["scope"].astype(str) == str(scope)]
    if sub.empty:
        raise OptionError(
            f"{name}: no rows for scope {scope!r}; choose one of "
            f"{sorted(frame['scope'].astype(str).unique())[:25]}."
        )
    return sub


def _destinations(frame: pd.DataFrame) -> list[str]:
    present = {str(d) for d in frame["destination"]}
    return [d for d in DESTINATION_ORDER if d in present] + sorted(
        present - set(DESTINATION_ORDER)
    )


def _figure(height_cm: float) -> Figure:
    return Figure(figsize=(FIG_WIDTH_IN, height_cm / 2.54), layout="constrained")


def destination_forest(destination_effects: pd.DataFrame, *, lang: Lang = "en") -> Figure:
    """Hazard ratios with 95 % CIs per destination, one panel per estimand.

    Parameters
    ----------
    destination_effects
        Columns ``destination, estimand, hazard_ratio, ci_low, ci_high`` (the table of
        :func:`sofeval.analyses.destination_effects`).
    lang
        ``en`` or ``da``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_option("lang", lang, LANGS)
    df = destination_effects
    _require(df, "destination_forest", ("destination", "estimand", "hazard_ratio", "ci_low",
                                        "ci_high"))
    dests = _destinations(df)
    ypos = {d: len(dests) - 1 - i for i, d in enumerate(dests)}
    estimands = [e for e in ("ex_ante", "programme") if e in set(df["estimand"])]
    with style():
        fig = _figure(max(6.0, 0.6 * len(dests) + 2.5))
        axes = fig.subplots(1, max(len(estimands), 1), sharey=True, squeeze=False)[0]
        for ax, est in zip(axes, estimands, strict=False):
            sub = df[(df["estimand"] == est) & np.isfinite(df["hazard_ratio"])]
            y = sub["destination"].astype(str).map(ypos).to_numpy(float)
            ax.hlines(y, sub["ci_low"], sub["ci_high"], color=PALETTE[0], linewidth=1.2)
            ax.plot(sub["hazard_ratio"], y, "o", color=PALETTE[0], markersize=5)
            ax.axvline(1.0, color="#555555", linewidth=0.8, linestyle="--", zorder=0)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(mticker.FixedLocator(_HR_TICKS))
            ax.xaxis.set_minor_locator(mticker.NullLocator())
            ax.xaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
            ax.set_title(label(est, lang))
            ax.set_xlabel(outcome_label("hazard_ratio", lang))
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks([ypos[d] for d in dests], [outcome_label(d, lang) for d in dests])
        axes[0].set_ylim(-0.7, len(dests) - 0.3)
    return fig


def incidence_curves(
    incidence: pd.DataFrame, *, scope: str = "all", lang: Lang = "en"
) -> Figure:
    """Cumulative incidence of every destination, with and without the programme.

    Parameters
    ----------
    incidence
        Columns ``scope, destination, week, with, without, difference, ci_low, ci_high`` (the
        cumulative-incidence table of :func:`sofeval.analyses.counterfactual_durations`).
    scope
        ``all`` or a programme jobcentre.
    lang
        ``en`` or ``da``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per destination; the band is the 95 % CI of with - without drawn
        around the *without* curve (where the *with* curve would lie by chance).
    """
    check_option("lang", lang, LANGS)
    _require(incidence, "incidence_curves",
             ("scope", "destination", "week", "with", "without", "difference", "ci_low",
              "ci_high"))
    sub = _scope(incidence, scope, "incidence_curves")
    dests = _destinations(sub)
    ncol = min(4, len(dests))
    nrow = int(np.ceil(len(dests) / ncol))
    with style():
        fig = _figure(5.0 * nrow + 1.5)
        axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
        for ax, d in zip(axes, dests, strict=False):
            c = sub[sub["destination"] == d].sort_values("week")
            wk = c["week"].to_numpy()
            ax.fill_between(wk, c["without"] + c["ci_low"], c["without"] + c["ci_high"],
                            color=PALETTE[0], alpha=0.15, linewidth=0)
            ax.plot(wk, c["with"], color=PALETTE[0], label=outcome_label("with", lang))
            ax.plot(wk, c["without"], color=PALETTE[1], linestyle="--",
                    label=outcome_label("without", lang))
            ax.set_title(outcome_label(d, lang))
        for ax in axes[len(dests):]:
            ax.set_visible(False)
        fig.supxlabel(outcome_label("spell_week", lang), fontsize=9)
        fig.supylabel(outcome_label("cum_incidence", lang), fontsize=9)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=2)
    return fig


def _survival(sub: pd.DataFrame) -> pd.DataFrame:
    """Share still on benefit by week, ``1 - sum_k F_k(w)``, with and without."""
    g = sub.groupby("week")[["with", "without"]].sum().sort_index()
    return 1.0 - g


def survival_curves(
    incidence: pd.DataFrame, *, scope: str = "all", lang: Lang = "en", ax: Axes | None = None
) -> Figure:
    """Share of programme spells still on sickness benefit, with and without the programme.

    Parameters
    ----------
    incidence
        The cumulative-incidence table (``scope, destination, week, with, without``).
    scope
        ``all`` or a programme jobcentre.
    lang
        ``en`` or ``da``.
    ax
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_option("lang", lang, LANGS)
    _require(incidence, "survival_curves", ("scope", "destination", "week", "with", "without"))
    s = _survival(_scope(incidence, scope, "survival_curves"))
    with style():
        if ax is None:
            fig = _figure(7.0)
            ax = fig.add_subplot()
        else:
            parent = ax.get_figure()
            if not isinstance(parent, Figure):  # pragma: no cover - subfigures
                raise OptionError("ax must belong to a matplotlib Figure.")
            fig = parent
        ax.step(s.index, s["with"], where="post", color=PALETTE[0],
                label=outcome_label("with", lang))
        ax.step(s.index, s["without"], where="post", color=PALETTE[1], linestyle="--",
                label=outcome_label("without", lang))
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(outcome_label("spell_week", lang))
        ax.set_ylabel(outcome_label("share_on_benefit", lang))
        ax.set_title(outcome_label(str(scope), lang))
        ax.legend()
    return fig


def destinations_stacked(
    incidence: pd.DataFrame, *, scope: str = "all", lang: Lang = "en"
) -> Figure:
    """Where the programme spells are by week: destinations stacked, with and without.

    Parameters
    ----------
    incidence
        The cumulative-incidence table (``scope, destination, week, with, without``).
    scope
        ``all`` or a programme jobcentre.
    lang
        ``en`` or ``da``.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (with, without); each stacks the cumulative incidence of every
        destination and, on top, the share still on benefit.
    """
    check_option("lang", lang, LANGS)
    _require(incidence, "destinations_stacked",
             ("scope", "destination", "week", "with", "without"))
    sub = _scope(incidence, scope, "destinations_stacked")
    dests = _destinations(sub)
    s = _survival(sub)
    colours = [*PALETTE[: len(dests)], "#BBBBBB"]
    with style():
        fig = _figure(8.0)
        axes = fig.subplots(1, 2, sharey=True)
        for ax, arm in zip(axes, ("with", "without"), strict=True):
            wide = sub.pivot_table(index="week", columns="destination", values=arm).sort_index()
            layers = [wide[d].to_numpy() for d in dests] + [s[arm].to_numpy()]
            names = [outcome_label(d, lang) for d in dests] + [outcome_label("on_benefit", lang)]
            ax.stackplot(wide.index.to_numpy(), *layers, labels=names, colors=colours,
                         alpha=0.9)
            ax.set_xlim(wide.index.min(), wide.index.max())
            ax.set_ylim(0, 1)
            ax.set_title(outcome_label(arm, lang))
            ax.set_xlabel(outcome_label("spell_week", lang))
        axes[0].set_ylabel(outcome_label("share_of_spells", lang))
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=4)
    return fig


def weeks_saved_forest(durations: pd.DataFrame, *, lang: Lang = "en") -> Figure:
    """Weeks on benefit saved per spell with 95 % CIs: pooled and per programme jobcentre.

    Parameters
    ----------
    durations
        Columns ``scope, weeks_saved, ci_low, ci_high`` (the duration table of
        :func:`sofeval.analyses.counterfactual_durations`); the ``all`` row is drawn first,
        filled.
    lang
        ``en`` or ``da``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_option("lang", lang, LANGS)
    _require(durations, "weeks_saved_forest", ("scope", "weeks_saved", "ci_low", "ci_high"))
    df = durations.copy()
    df["scope"] = df["scope"].astype(str)
    centres = sorted(s for s in df["scope"] if s != "all")
    order = (["all"] if "all" in set(df["scope"]) else []) + centres
    ypos = {s: len(order) - 1 - i for i, s in enumerate(order)}
    with style():
        fig = _figure(max(6.0, 0.5 * len(order) + 2.5))
        ax = fig.add_subplot()
        y = df["scope"].map(ypos).to_numpy(float)
        pooled = (df["scope"] == "all").to_numpy()
        ax.hlines(y, df["ci_low"], df["ci_high"], color=PALETTE[0], linewidth=1.2)
        ax.plot(df["weeks_saved"].to_numpy()[~pooled], y[~pooled], "o", color=PALETTE[0],
                markerfacecolor="white", markersize=5)
        ax.plot(df["weeks_saved"].to_numpy()[pooled], y[pooled], "D", color=PALETTE[0],
                markersize=6)
        ax.axvline(0.0, color="#555555", linewidth=0.8, linestyle="--", zorder=0)
        ax.set_yticks([ypos[s] for s in order], [outcome_label(s, lang) for s in order])
        ax.set_ylim(-0.7, len(order) - 0.3)
        ax.set_xlabel(outcome_label("weeks_saved", lang))
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color="#EEEEEE")
    return fig


def recurrence_curves(
    curves: pd.DataFrame, *, scope: str = "all", lang: Lang = "en"
) -> Figure:
    """Share of programme returns with a new sickness spell by week, with and without.

    Parameters
    ----------
    curves
        Columns ``scope, horizon_weeks, recurrence_with, recurrence_without`` (the curves of
        :func:`sofeval.analyses.recurrence_effects`).
    scope
        ``all`` or a programme jobcentre.
    lang
        ``en`` or ``da``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_option("lang", lang, LANGS)
    _require(curves, "recurrence_curves",
             ("scope", "horizon_weeks", "recurrence_with", "recurrence_without"))
    c = _scope(curves, scope, "recurrence_curves").sort_values("horizon_weeks")
    with style():
        fig = _figure(7.0)
        ax = fig.add_subplot()
        ax.step(c["horizon_weeks"], c["recurrence_with"], where="post", color=PALETTE[0],
                label=outcome_label("with", lang))
        ax.step(c["horizon_weeks"], c["recurrence_without"], where="post", color=PALETTE[1],
                linestyle="--", label=outcome_label("without", lang))
        ax.set_xlabel(outcome_label("weeks_since_return", lang))
        ax.set_ylabel(outcome_label("recurrence", lang))
        ax.set_title(outcome_label(str(scope), lang))
        ax.set_ylim(bottom=0)
        ax.legend()
    return fig
