"""Figures of "Can we believe the comparison?": event study, placebo, subgroups, homogeneity.

Pure functions in the house style of :mod:`sofeval.report.figures`: a tidy DataFrame in
(the tables of :mod:`sofeval.analyses.event_study`, ``placebo_time``, ``subgroups`` and
``homogeneity``), a :class:`matplotlib.figure.Figure` out, built without pyplot. Labels
in English and Danish live in :data:`CREDIBILITY_LABELS` until the lead merges them into
the report's label table.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import special

from sofeval.errors import SofevalError, check_option
from sofeval.report.figures import FIG_WIDTH_IN, LANGS, PALETTE, Lang, style

#: Labels of the credibility figures and report section, ``CREDIBILITY_LABELS[lang][key]``.
CREDIBILITY_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "sec_credibility": "Can we believe the comparison?",
        "ex_ante": "Ex ante (weeks 1–7)",
        "programme": "Programme (week 8+)",
        "event_quarter": "Quarter of week 8 relative to the programme start",
        "log_hr": "Log hazard ratio (relative to quarter −1)",
        "pointwise": "Pointwise 95 % CI",
        "band": "Simultaneous 95 % band (sup-t)",
        "lead_test": "Leads = 0: p = {p} (Wald), {pw} (wild)",
        "placebo": "Placebo: programme moved 12 months earlier",
        "placebo_window": "Placebo window {a} to {b}",
        "hazard_ratio": "Hazard ratio (95 % CI)",
        "equal_test": "equal effects: p = {p} (Wald), {pw} (wild)",
        "p_value": "p-value of equal effects",
        "p_wald": "Clustered Wald",
        "p_wild": "Wild cluster bootstrap",
        "variable": "Variable",
        "missing": "missing",
        "jobcentre": "Jobcentre",
        "sex": "Sex",
        "age": "Age",
        "diagnosis_group": "Diagnosis group",
        "visitation_category": "Visitation category",
        "sector": "Sector",
        "partial_sick_listing": "Partial sick-listing",
        "cap_event_study": "Event study: effect by quarter of week 8 relative to the "
        "programme start, with pointwise CIs and the simultaneous band",
        "cap_pretrend": "Joint test that all leads are zero",
        "cap_placebo": "Placebo in time (the effect should be zero)",
        "cap_subgroups": "Effects by subgroup (hazard ratios with 95 % CI)",
        "cap_homogeneity": "Joint tests of equal effects across levels",
    },
    "da": {
        "sec_credibility": "Kan vi tro på sammenligningen?",
        "ex_ante": "Ex ante (uge 1–7)",
        "programme": "Programeffekt (uge 8+)",
        "event_quarter": "Kvartal for uge 8 i forhold til programstart",
        "log_hr": "Log hazard ratio (i forhold til kvartal −1)",
        "pointwise": "Punktvis 95 %-KI",
        "band": "Simultant 95 %-bånd (sup-t)",
        "lead_test": "Ingen før-effekt: p = {p} (Wald), {pw} (wild)",
        "placebo": "Placebo: programmet flyttet 12 måneder tidligere",
        "placebo_window": "Placebovindue {a} til {b}",
        "hazard_ratio": "Hazard ratio (95 %-KI)",
        "equal_test": "ens effekt: p = {p} (Wald), {pw} (wild)",
        "p_value": "p-værdi for ens effekt",
        "p_wald": "Klyngerobust Wald",
        "p_wild": "Wild cluster bootstrap",
        "variable": "Variabel",
        "missing": "mangler",
        "jobcentre": "Jobcenter",
        "sex": "Køn",
        "age": "Alder",
        "diagnosis_group": "Diagnosegruppe",
        "visitation_category": "Visitationskategori",
        "sector": "Sektor",
        "partial_sick_listing": "Delvis sygemelding",
        "cap_event_study": "Event study: effekt efter kvartal for uge 8 i forhold til "
        "programstart, med punktvise KI og simultant bånd",
        "cap_pretrend": "Samlet test af, at alle førperiode-koefficienter er nul",
        "cap_placebo": "Placebo i tid (effekten bør være nul)",
        "cap_subgroups": "Effekter efter undergruppe (hazard ratios med 95 %-KI)",
        "cap_homogeneity": "Samlede test af ens effekt på tværs af grupper",
    },
}
_ESTIMANDS = ("ex_ante", "programme")


def credibility_label(key: str, lang: str = "en") -> str:
    """Return ``CREDIBILITY_LABELS[lang][key]``, or ``key`` itself when it has none.

    Parameters
    ----------
    key
        Label key.
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    str
    """
    check_option("lang", lang, LANGS)
    return CREDIBILITY_LABELS[lang].get(key, key)


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SofevalError(
            f"{name}: missing column(s) {missing}; the plot needs {list(columns)}. "
            "Pass the tidy table of the corresponding analysis."
        )


def _fmt_p(p: object) -> str:
    v = float(p)  # type: ignore[arg-type]
    return "–" if not np.isfinite(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def _hr_axis(ax: Axes) -> None:
    """Log-scaled hazard-ratio axis with plain tick labels (0.8, 1, 1.25, ...)."""
    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    ticks = [t for t in _HR_TICKS if lo <= t <= hi] or [1.0]
    ax.xaxis.set_major_locator(mticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())


_HR_TICKS = (0.25, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 4.0)


def _quarter_labels(quarters: np.ndarray) -> list[str]:
    lo, hi = int(quarters.min()), int(quarters.max())
    out = []
    for q in quarters:
        s = str(int(q)).replace("-", "−")
        out.append(f"≤{s}" if q == lo and lo < -1 else (f"≥{s}" if q == hi and hi > 0 else s))
    return out


def event_study_plot(
    table: pd.DataFrame, pretrend: pd.DataFrame | None = None, *, lang: Lang = "en"
) -> Figure:
    """Event-study coefficients with pointwise CIs and the sup-t band, one panel per estimand.

    Parameters
    ----------
    table
        The ``event_study`` table (``estimand, event_quarter, coef, ci_low, ci_high,
        band_low, band_high``).
    pretrend
        The ``pretrend_test`` table; its p-values are printed in each panel.
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = ["estimand", "event_quarter", "coef", "ci_low", "ci_high", "band_low", "band_high"]
    _require(table, "event_study_plot", cols)
    check_option("lang", lang, LANGS)
    L = CREDIBILITY_LABELS[lang]
    with style():
        fig = Figure(figsize=(FIG_WIDTH_IN, 7.5 / 2.54), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, est in zip(axes, _ESTIMANDS, strict=True):
            t = table[table["estimand"] == est].sort_values("event_quarter")
            if t.empty:
                ax.set_visible(False)
                continue
            x = t["event_quarter"].to_numpy(int)
            coef = t["coef"].to_numpy(float)
            ax.fill_between(x, t["band_low"].to_numpy(float), t["band_high"].to_numpy(float),
                            color=PALETTE[5], alpha=0.3, linewidth=0, label=L["band"],
                            step=None)
            ax.errorbar(x, coef, yerr=[coef - t["ci_low"].to_numpy(float),
                                       t["ci_high"].to_numpy(float) - coef],
                        fmt="o", color=PALETTE[0], ms=3.5, capsize=2, lw=1,
                        label=L["pointwise"])
            ax.axhline(0.0, color="#555555", lw=0.8)
            ax.axvline(-0.5, color="#999999", lw=0.8, ls="--")
            ax.set_xticks(x, _quarter_labels(x), fontsize=7)
            ax.set_title(L[est])
            if pretrend is not None and not pretrend.empty:
                row = pretrend[pretrend["estimand"] == est]
                if len(row):
                    txt = L["lead_test"].format(p=_fmt_p(row["p_value"].iloc[0]),
                                                pw=_fmt_p(row["p_wild"].iloc[0]))
                    ax.text(0.02, 0.98, txt, transform=ax.transAxes, va="top", fontsize=7)
        axes[0].set_ylabel(L["log_hr"])
        axes[0].legend(loc="lower left", fontsize=7.5)
        fig.supxlabel(L["event_quarter"], fontsize=9)
    return fig


def placebo_plot(table: pd.DataFrame, *, lang: Lang = "en", ax: Axes | None = None) -> Figure:
    """Placebo-in-time hazard ratios with 95 % CIs (computed from ``coef`` and ``se``).

    Parameters
    ----------
    table
        The ``placebo_time`` table.
    lang
        ``"en"`` or ``"da"``.
    ax
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(table, "placebo_plot", ["estimand", "coef", "se", "p_value", "window_start",
                                     "window_end"])
    check_option("lang", lang, LANGS)
    L = CREDIBILITY_LABELS[lang]
    z = special.ndtri(0.975)
    with style():
        if ax is None:
            fig = Figure(figsize=(FIG_WIDTH_IN, 4.5 / 2.54), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = ax.get_figure()  # type: ignore[assignment]
        coef = table["coef"].to_numpy(float)
        se = table["se"].to_numpy(float)
        y = np.arange(len(table))[::-1]
        hr = np.exp(coef)
        lo, hi = np.exp(coef - z * se), np.exp(coef + z * se)
        ax.errorbar(hr, y, xerr=[hr - lo, hi - hr], fmt="s", color=PALETTE[1], ms=4,
                    capsize=2, lw=1)
        ax.axvline(1.0, color="#555555", lw=0.8)
        ax.set_yticks(y, [f"{L.get(e, e)}  (p = {_fmt_p(p)})"
                          for e, p in zip(table["estimand"], table["p_value"], strict=True)])
        _hr_axis(ax)
        ax.set_xlabel(L["hazard_ratio"])
        ax.grid(axis="x", color="#DDDDDD", lw=0.6)
        ax.grid(axis="y", visible=False)
        if len(table):
            ax.set_title(L["placebo"] + "\n" + L["placebo_window"].format(
                a=table["window_start"].iloc[0], b=table["window_end"].iloc[0]), fontsize=9)
    return fig  # type: ignore[return-value]


def subgroup_forest(
    table: pd.DataFrame, homogeneity: pd.DataFrame | None = None, *, lang: Lang = "en"
) -> Figure:
    """Forest plot of subgroup hazard ratios, one panel per estimand.

    Parameters
    ----------
    table
        The ``subgroup_effects`` table.
    homogeneity
        The ``homogeneity`` table; each variable's p-values are printed in its heading.
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(table, "subgroup_forest", ["variable", "level", "estimand", "hazard_ratio",
                                        "ci_low", "ci_high"])
    check_option("lang", lang, LANGS)
    L = CREDIBILITY_LABELS[lang]
    keys = table[["variable", "level"]].drop_duplicates()
    labels: list[str] = []
    heads: list[int] = []
    ypos: dict[tuple[str, str], int] = {}
    row = 0
    for var, grp in keys.groupby("variable", sort=False):
        heads.append(row)
        labels.append(L.get(str(var), str(var)))
        row += 1
        for lv in grp["level"]:
            ypos[(str(var), str(lv))] = row
            labels.append("   " + L.get(str(lv), str(lv)))
            row += 1
    n = max(row, 1)
    with style():
        fig = Figure(figsize=(FIG_WIDTH_IN, (2.0 + 0.42 * n) / 2.54 * 1.0 + 1.2),
                     layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, est in zip(axes, _ESTIMANDS, strict=True):
            t = table[table["estimand"] == est]
            y = np.array([n - 1 - ypos[(str(v), str(lv))]
                          for v, lv in zip(t["variable"], t["level"], strict=True)])
            hr = t["hazard_ratio"].to_numpy(float)
            ok = np.isfinite(hr)
            ax.errorbar(hr[ok], y[ok],
                        xerr=[hr[ok] - t["ci_low"].to_numpy(float)[ok],
                              t["ci_high"].to_numpy(float)[ok] - hr[ok]],
                        fmt="o", color=PALETTE[0], ms=3.5, capsize=2, lw=1)
            ax.axvline(1.0, color="#555555", lw=0.8)
            _hr_axis(ax)
            ax.set_title(L[est])
            ax.set_xlabel(L["hazard_ratio"])
            ax.grid(axis="y", visible=False)
            ax.grid(axis="x", color="#DDDDDD", lw=0.6)
            if homogeneity is not None and not homogeneity.empty:
                for var, h0 in zip(keys["variable"].drop_duplicates(), heads, strict=True):
                    r = homogeneity[(homogeneity["variable"] == var)
                                    & (homogeneity["estimand"] == est)]
                    if len(r):
                        ax.text(0.99, n - 1 - h0, L["equal_test"].format(
                            p=_fmt_p(r["p_value"].iloc[0]), pw=_fmt_p(r["p_wild"].iloc[0])),
                            transform=ax.get_yaxis_transform(), ha="right", va="center",
                            fontsize=7)
        axes[0].set_yticks(np.arange(n)[::-1], labels)
        for i, tick in enumerate(axes[0].get_yticklabels()):
            if i in heads:
                tick.set_fontweight("bold")
        axes[0].set_ylim(-0.7, n - 0.3)
    return fig


def homogeneity_plot(table: pd.DataFrame, *, lang: Lang = "en") -> Figure:
    """Wald and wild-bootstrap p-values of the homogeneity tests per variable and estimand.

    Parameters
    ----------
    table
        The ``homogeneity`` table.
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(table, "homogeneity_plot", ["variable", "estimand", "p_value", "p_wild"])
    check_option("lang", lang, LANGS)
    L = CREDIBILITY_LABELS[lang]
    variables = list(dict.fromkeys(table["variable"]))
    with style():
        fig = Figure(figsize=(FIG_WIDTH_IN, (2.5 + 0.9 * len(variables)) / 2.54 + 0.8),
                     layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        y = np.arange(len(variables))[::-1].astype(float)
        for ax, est in zip(axes, _ESTIMANDS, strict=True):
            t = table[table["estimand"] == est].set_index("variable").reindex(variables)
            ax.barh(y + 0.18, t["p_value"].to_numpy(float), height=0.34, color=PALETTE[0],
                    label=L["p_wald"])
            ax.barh(y - 0.18, t["p_wild"].to_numpy(float), height=0.34, color=PALETTE[4],
                    label=L["p_wild"])
            ax.axvline(0.05, color="#555555", lw=0.8, ls="--")
            ax.set_xlim(0, 1)
            ax.set_title(L[est])
            ax.set_xlabel(L["p_value"])
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(y, [L.get(v, v) for v in variables])
        axes[1].legend(loc="lower right", fontsize=7.5)
    return fig
