"""Publication figures of sofeval, in one style (DESIGN.md §5).

Every plotting function is pure: it takes a plain :class:`pandas.DataFrame` (the
tidy tables of the analysis modules), returns a :class:`matplotlib.figure.Figure`
and accepts ``ax=None`` (draw into an existing axes instead of a new figure) and
``lang="en"|"da"`` (English or Danish labels from :data:`LABELS`).

New figures are created with :class:`matplotlib.figure.Figure` directly, never
through :mod:`matplotlib.pyplot`, so nothing is registered in pyplot's global
figure manager (no ``plt.close`` needed, no GUI backend, safe on headless
servers); saving uses the Agg renderer. The style is applied locally with
:func:`style` (an :func:`matplotlib.rc_context`), never globally.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from sofeval.errors import OptionError, SofevalError, check_option

Lang = Literal["en", "da"]
LANGS: tuple[str, ...] = ("en", "da")

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

#: Every label of the figures and the report, ``LABELS[lang][key]``. Keys that are
#: English group labels (``"Programme, before"``) translate data labels too.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "exit_rate": "Exit rate to employment",
        "weekly_hazard": "Weekly exit rate to employment",
        "cum_exit": "Cumulative share exited to employment",
        "spell_week": "Week of sickness absence",
        "ex_ante": "Ex ante (weeks 1–7)",
        "programme": "Programme (week 8+)",
        "weeks_1_7": "Weeks 1–7",
        "weeks_8_plus": "Week 8+",
        "hazard_ratio": "Hazard ratio (95 % CI)",
        "not_identified": "not identified",
        "not_shown": "not shown (few persons)",
        "significant": "Significant after adjustment (Holm or BH, 5 %)",
        "not_significant": "Not significant after adjustment",
        "share_workplace": "Share of first meetings at the workplace",
        "pct_per_10pp": "Change in exit rate per +10 pp share\n(%, 95 % CI)",
        "relative_rate": "Exit rate relative to share 0",
        "target": "Target 70 %",
        "pooled": "All programme jobcentres (pooled)",
        "jobcentre_lines": "Single jobcentres",
        "month": "Month",
        "jobcentre": "Jobcentre",
        # report sections and captions
        "report_title": "Sammen om Fastholdelse: effect evaluation",
        "contents": "Contents",
        "sec_design": "Study design and data audit",
        "sec_km": "Kaplan–Meier curves",
        "sec_hazard": "Weekly exit rates",
        "sec_pooled": "Pooled effects",
        "sec_forest": "Effects per jobcentre",
        "sec_dose": "Dose-response",
        "sec_monitoring": "Monitoring against the 70 % target",
        "cap_panel": "Panel summary",
        "cap_audit": "Rows dropped in validation, by table and rule",
        "cap_km": "Cumulative share exited to employment by spell week (Kaplan–Meier with delayed "
        "entry, 95 % CI)",
        "cap_hazard": "Weekly exit rate to employment by group (95 % binomial CI)",
        "cap_effects": "Pooled effects (hazard ratios with 95 % CI)",
        "cap_forest": "Hazard ratios per programme jobcentre (95 % CI)",
        "cap_jc_table": "Effects per jobcentre",
        "cap_dose": "Dose-response: change in the exit rate per +10 pp workplace share",
        "cap_dose_table": "Dose-response estimates",
        "cap_monitoring": "Monthly share of first meetings at the workplace",
        "cap_monitoring_table": "Success criteria by jobcentre and month",
        "suppressed_note": "Cells based on fewer than {t} persons are suppressed (shown as <{t}).",
        "generated": "Report metadata",
        "Programme, before": "Programme, before",
        "Programme, during": "Programme, during",
        "Comparison, before": "Comparison, before",
        "Comparison, during": "Comparison, during",
    },
    "da": {
        "exit_rate": "Afgangsrate til beskæftigelse",
        "weekly_hazard": "Ugentlig afgangsrate til beskæftigelse",
        "cum_exit": "Kumuleret andel afgået til beskæftigelse",
        "spell_week": "Sygefraværsuge",
        "ex_ante": "Ex ante (uge 1–7)",
        "programme": "Programeffekt (uge 8+)",
        "weeks_1_7": "Uge 1–7",
        "weeks_8_plus": "Uge 8+",
        "hazard_ratio": "Hazard ratio (95 %-KI)",
        "not_identified": "ikke identificeret",
        "not_shown": "ikke vist (få personer)",
        "significant": "Signifikant efter korrektion (Holm eller BH, 5 %)",
        "not_significant": "Ikke signifikant efter korrektion",
        "share_workplace": "Andel første samtaler på arbejdspladsen",
        "pct_per_10pp": "Ændring i afgangsraten pr. +10 pct.-point\n(%, 95 %-KI)",
        "relative_rate": "Afgangsrate relativt til andel 0",
        "target": "Mål 70 %",
        "pooled": "Alle programjobcentre (samlet)",
        "jobcentre_lines": "Enkelte jobcentre",
        "month": "Måned",
        "jobcentre": "Jobcenter",
        "report_title": "Sammen om Fastholdelse: effektevaluering",
        "contents": "Indhold",
        "sec_design": "Undersøgelsesdesign og datarevision",
        "sec_km": "Kaplan–Meier-kurver",
        "sec_hazard": "Ugentlige afgangsrater",
        "sec_pooled": "Samlede effekter",
        "sec_forest": "Effekter pr. jobcenter",
        "sec_dose": "Dosis-respons",
        "sec_monitoring": "Monitorering i forhold til målet på 70 %",
        "cap_panel": "Oversigt over panelet",
        "cap_audit": "Rækker frasorteret ved validering, pr. tabel og regel",
        "cap_km": "Kumuleret andel afgået til beskæftigelse pr. sygefraværsuge (Kaplan–Meier med "
        "forsinket indgang, 95 %-KI)",
        "cap_hazard": "Ugentlig afgangsrate til beskæftigelse pr. gruppe (95 %-KI, binomial)",
        "cap_effects": "Samlede effekter (hazard ratios med 95 %-KI)",
        "cap_forest": "Hazard ratios pr. programjobcenter (95 %-KI)",
        "cap_jc_table": "Effekter pr. jobcenter",
        "cap_dose": "Dosis-respons: ændring i afgangsraten pr. +10 pct.-point andel på "
        "arbejdspladsen",
        "cap_dose_table": "Dosis-respons-estimater",
        "cap_monitoring": "Månedlig andel første samtaler på arbejdspladsen",
        "cap_monitoring_table": "Succeskriterier pr. jobcenter og måned",
        "suppressed_note": "Celler baseret på færre end {t} personer er diskretioneret "
        "(vist som <{t}).",
        "generated": "Metadata for rapporten",
        "Programme, before": "Programkommuner, før",
        "Programme, during": "Programkommuner, under",
        "Comparison, before": "Sammenligning, før",
        "Comparison, during": "Sammenligning, under",
    },
}


def label(key: str, lang: str = "en") -> str:
    """Return ``LABELS[lang][key]``, or ``key`` itself when it has no entry.

    Parameters
    ----------
    key
        Label key or an English data label (group names, estimands, windows).
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    str
        The translated label.
    """
    check_option("lang", lang, LANGS)
    return LABELS[lang].get(key, key)


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


def _new_axes(ax: Axes | None, height_cm: float) -> tuple[Figure, Axes]:
    """Return ``(figure, axes)``: the given axes' figure or a new 16 cm wide figure."""
    if ax is not None:
        fig = ax.get_figure()
        if not isinstance(fig, Figure):  # pragma: no cover - subfigures
            raise OptionError("ax must belong to a matplotlib Figure.")
        return fig, ax
    fig = Figure(figsize=(FIG_WIDTH_IN, height_cm / 2.54), layout="constrained")
    return fig, fig.add_subplot()


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise :class:`SofevalError` when ``frame`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SofevalError(
            f"{name}: missing column(s) {missing}; the plot needs {list(columns)}. "
            "Pass the tidy table of the corresponding analysis."
        )


def _groups(frame: pd.DataFrame, column: str) -> list[object]:
    """Group levels in categorical order if categorical, else sorted."""
    col = frame[column]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in present]
    return sorted(col.dropna().unique(), key=str)


def km_curves(
    spells: pd.DataFrame,
    *,
    group: str = "group",
    weight: str | None = None,
    ci: bool = True,
    max_week: int | None = None,
    ax: Axes | None = None,
    lang: Lang = "en",
) -> Figure:
    """Kaplan–Meier curves of the cumulative share exited to employment, by group.

    Uses :class:`lifelines.KaplanMeierFitter` with delayed entry: a spell first at
    risk in week ``entry_week`` enters the risk set at time ``entry_week - 1`` and
    leaves it at ``last_week``. The plot shows ``1 - S(t)``; competing exits are
    treated as censoring (cause-specific, as in the hazard models).

    Parameters
    ----------
    spells
        One row per spell: ``entry_week``, ``last_week``, ``event`` (0/1) and ``group``;
        or one row per distinct such pattern with its number of spells in ``weight``.
    group
        Name of the group column.
    weight
        Column of whole-number spell counts (``None``: every row is one spell). Counted
        rows give the same curves and bands as the spells they count.
    ci
        Draw the 95 % pointwise confidence band.
    max_week
        Last week shown (default: the largest ``last_week``).
    ax
        Axes to draw into (default: a new figure).
    lang
        Label language.

    Returns
    -------
    matplotlib.figure.Figure
        One line per group.
    """
    from lifelines import KaplanMeierFitter

    check_option("lang", lang, LANGS)
    _require(spells, "km_curves", ("entry_week", "last_week", "event", group))
    if weight is not None:
        _require(spells, "km_curves", (weight,))
    with style():
        fig, ax = _new_axes(ax, 8.5)
        for i, g in enumerate(_groups(spells, group)):
            sub = spells.loc[spells[group] == g]
            kmf = KaplanMeierFitter(label=str(g))
            kmf.fit(
                durations=sub["last_week"].to_numpy(float),
                event_observed=sub["event"].to_numpy(int),
                entry=sub["entry_week"].to_numpy(float) - 1.0,
                weights=None if weight is None else sub[weight].to_numpy(float),
            )
            sf = kmf.survival_function_.iloc[:, 0]
            t = sf.index.to_numpy(float)
            colour = PALETTE[i % len(PALETTE)]
            ax.step(t, 1.0 - sf.to_numpy(), where="post", color=colour, label=label(str(g), lang))
            if ci:
                band = kmf.confidence_interval_survival_function_
                ax.fill_between(
                    t,
                    1.0 - band.iloc[:, 0].to_numpy(),
                    1.0 - band.iloc[:, 1].to_numpy(),
                    step="post",
                    color=colour,
                    alpha=0.15,
                    linewidth=0,
                )
        ax.set_xlim(0, max_week if max_week is not None else float(spells["last_week"].max()))
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(label("spell_week", lang))
        ax.set_ylabel(label("cum_exit", lang))
        ax.legend(loc="upper left")
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
    z = float(stats.norm.ppf(0.5 + level / 2))
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
    _require(cells, "weekly_hazard", ("week", group, "at_risk", "event"))
    agg = cells.groupby([group, "week"], observed=True, sort=True)[["at_risk", "event"]].sum()
    agg = agg.reset_index()
    with style():
        fig, ax = _new_axes(ax, 8.5)
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
    _require(jobcentre_effects, "forest", need)
    df = jobcentre_effects
    estimands = [e for e in ("ex_ante", "programme") if e in set(df["estimand"])]
    estimands += sorted({str(e) for e in df["estimand"]} - set(estimands))
    centres = sorted({str(j) for j in df["jobcentre"]}, reverse=True)
    ypos = {j: i for i, j in enumerate(centres)}
    with style():
        if ax is None:
            fig = Figure(
                figsize=(FIG_WIDTH_IN, max(6.0, 0.5 * len(centres) + 2.5) / 2.54),
                layout="constrained",
            )
            axes = list(fig.subplots(1, len(estimands), sharey=True, squeeze=False)[0])
        else:
            axes = [ax] if isinstance(ax, Axes) else list(ax)
            if len(axes) != len(estimands):
                raise OptionError(
                    f"forest: got {len(axes)} axes for {len(estimands)} estimands "
                    f"{estimands}; pass one axes per estimand or ax=None."
                )
            fig = _new_axes(axes[0], 0)[0]
        for a, est in zip(axes, estimands, strict=True):
            sub = df.loc[df["estimand"].astype(str) == est]
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
    _require(
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
        if ax is None:
            fig = Figure(figsize=(FIG_WIDTH_IN, 7.5 / 2.54), layout="constrained")
            axes = list(fig.subplots(1, n_panels, squeeze=False)[0])
        else:
            axes = [ax] if isinstance(ax, Axes) else list(ax)
            if len(axes) != n_panels:
                raise OptionError(f"dose_response_plot: kind={kind!r} needs {n_panels} axes.")
            fig = _new_axes(axes[0], 0)[0]
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


def monitoring_plot(
    success_criteria: pd.DataFrame,
    target: float = 0.70,
    *,
    share: str = "share",
    in_window_only: bool = True,
    min_count: int = 0,
    ax: Axes | None = None,
    lang: Lang = "en",
) -> Figure:
    """Monthly share of first meetings at the workplace per jobcentre, pooled, and target.

    Single jobcentres are thin grey lines; the pooled share (sum of workplace
    meetings / sum of first meetings per month, over the jobcentres shown) is a bold
    line; the target is a dashed horizontal line.

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
    _require(
        success_criteria,
        "monitoring_plot",
        ("jobcentre", "month_label", "first_meetings", "workplace_meetings", share),
    )
    df = success_criteria
    if in_window_only and "in_window" in df.columns:
        df = df.loc[df["in_window"].fillna(False).astype(bool)]
    df = df.assign(_date=pd.to_datetime(df["month_label"].astype(str) + "-01", format="%Y-%m-%d"))
    with style():
        fig, ax = _new_axes(ax, 8.5)
        for k, (_, sub) in enumerate(df.groupby(df["jobcentre"].astype(str), sort=True)):
            sub = sub.sort_values("_date")
            y = sub[share].astype(float).where(sub["first_meetings"] >= min_count)
            ax.plot(
                sub["_date"],
                y,
                color="#AAAAAA",
                linewidth=0.8,
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
            linewidth=2.2,
            marker="o",
            markersize=3,
            label=label("pooled", lang),
        )
        ax.axhline(
            target,
            color=PALETTE[1],
            linestyle="--",
            linewidth=1.2,
            label=label("target", lang)
            if abs(target - 0.70) < 1e-12
            else f"{label('target', lang).split()[0]} {100 * target:g} %",
        )
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
        ax.set_xlabel(label("month", lang))
        ax.set_ylabel(label("share_workplace", lang))
        ax.legend(loc="upper left", ncols=3)
    return fig
