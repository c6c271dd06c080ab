"""Key findings in plain words (da and en), built from the disclosed tables of a report.

:func:`key_findings` reads the tables *after* disclosure control, so a statistic hidden
there (a small count, or a row resting on one) is never quoted: a paragraph whose numbers
are hidden is left out. Every sentence is a template of :mod:`sofeval.report.labels`
(keys ``kf_*``); numbers follow the language (Danish decimal comma and thousands point,
typographic minus). Paragraphs, in order:

1. the pooled ex-ante and programme effects (hazard ratio, 95 % CI, wild bootstrap p);
2. weeks on benefit with and without the programme, weeks and kroner saved per spell and
   in total, with CIs (``duration_effects``, scope ``all``);
3. the programme jobcentres whose effects differ from zero after Holm's and
   Benjamini–Hochberg's adjustment, and the test of equal effects across jobcentres
   (``homogeneity``, variable ``jobcentre``, when published);
4. the dose-response per +10 percentage points;
5. the monitoring against the target share of first meetings at the workplace;
6. the credibility checks (lead test of the event study, placebo in time), when published.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from sofeval.errors import check_option
from sofeval.report.labels import LANGS, Lang, label

__all__ = ["FindingsSettings", "fmt_number", "fmt_p", "key_findings"]

_DA_DIGITS = str.maketrans(",.", ".,")
_ESTIMANDS = ("ex_ante", "programme")


@dataclass(frozen=True)
class FindingsSettings:
    """What the key findings need besides the tables.

    Attributes
    ----------
    benefit_per_week
        Kroner per week on benefit (the kroner CIs are the weeks' CIs times this);
        ``None``: kroner are quoted without CIs.
    target
        Target share of first meetings at the workplace (monitoring).
    alpha
        Significance level of every verdict.
    """

    benefit_per_week: float | None = None
    target: float = 0.70
    alpha: float = 0.05


def fmt_number(x: float, digits: int, lang: Lang = "en") -> str:
    """``x`` with ``digits`` decimals and thousands separators in the reader's convention.

    Parameters
    ----------
    x
        The number.
    digits
        Decimals.
    lang
        ``en`` (``1,234.56``) or ``da`` (``1.234,56``); minus signs are typographic.

    Returns
    -------
    str
    """
    text = f"{x:,.{digits}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]  # no "-0.00"
    if lang == "da":
        text = text.translate(_DA_DIGITS)
    return text.replace("-", "−")


def fmt_p(p: float, lang: Lang = "en") -> str:
    """A p-value to three decimals, ``<0.001`` below that.

    Parameters
    ----------
    p
        The p-value.
    lang
        ``en`` or ``da``.

    Returns
    -------
    str
    """
    return ("<" + fmt_number(0.001, 3, lang)) if p < 0.001 else fmt_number(p, 3, lang)


def _ok(*values: object) -> bool:
    """Every value is a finite number (a hidden cell is missing)."""
    for v in values:
        try:
            if not math.isfinite(float(v)):  # type: ignore[arg-type]
                return False
        except (TypeError, ValueError):
            return False
    return True


def _row(frame: pd.DataFrame | None, **keys: str) -> pd.Series | None:
    """The single row of ``frame`` with the given key values (``None`` if not there)."""
    if frame is None or not set(keys) <= set(frame.columns):
        return None
    hit = frame
    for col, value in keys.items():
        hit = hit[hit[col].astype(str) == value]
    return hit.iloc[0] if len(hit) == 1 else None


def _p_of(row: pd.Series) -> tuple[float, str]:
    """The wild bootstrap p-value when there is one, else the clustered Wald p-value."""
    if "p_wild" in row.index and _ok(row["p_wild"]):
        return float(row["p_wild"]), "kf_p_wild"
    return float(row.get("p_value", math.nan)), "kf_p_wald"


def _join(items: Sequence[str], lang: Lang) -> str:
    if not items:
        return label("kf_none", lang)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {label('kf_and', lang)} " + items[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _effects(tables: Mapping[str, pd.DataFrame], lang: Lang, alpha: float) -> str:
    sentences = []
    for est in _ESTIMANDS:
        r = _row(tables.get("effects"), estimand=est)
        if r is None or not _ok(r["hazard_ratio"], r["ci_low"], r["ci_high"]):
            continue
        p, ptype = _p_of(r)
        if not _ok(p):
            continue
        hr = float(r["hazard_ratio"])
        if p < alpha:
            key = "kf_sig_up" if hr > 1 else "kf_sig_down"
            verdict = label(key, lang).format(pct=fmt_number(abs(hr - 1) * 100, 1, lang))
        else:
            verdict = label("kf_not_sig", lang)
        sentences.append(
            label("kf_effect", lang).format(
                name=_cap(label(f"kf_effect_name_{est}", lang)),
                hr=fmt_number(hr, 2, lang),
                lo=fmt_number(float(r["ci_low"]), 2, lang),
                hi=fmt_number(float(r["ci_high"]), 2, lang),
                p=fmt_p(p, lang),
                ptype=label(ptype, lang),
                verdict=verdict,
            )
        )
    return " ".join(sentences)


def _kroner(x: float, lang: Lang) -> str:
    if abs(x) >= 1e6:
        return label("kf_mkr", lang).format(x=fmt_number(x / 1e6, 2, lang))
    return label("kf_kr", lang).format(x=fmt_number(x, 0, lang))


def _durations(
    tables: Mapping[str, pd.DataFrame], lang: Lang, benefit: float | None
) -> str:
    r = _row(tables.get("duration_effects"), scope="all")
    cols = ("weeks_with", "weeks_without", "weeks_saved", "ci_low", "ci_high")
    if r is None or not _ok(*(r[c] for c in cols)):
        return ""
    n_ok = _ok(r["n_spells"])
    spells = (
        label("kf_spells_n", lang).format(n=fmt_number(float(r["n_spells"]), 0, lang))
        if n_ok
        else label("kf_spells", lang)
    )
    text = label("kf_weeks", lang).format(
        tau=int(r["tau_weeks"]),
        spells=spells,
        **{"with": fmt_number(float(r["weeks_with"]), 2, lang)},
        without=fmt_number(float(r["weeks_without"]), 2, lang),
        saved=fmt_number(float(r["weeks_saved"]), 2, lang),
        lo=fmt_number(float(r["ci_low"]), 2, lang),
        hi=fmt_number(float(r["ci_high"]), 2, lang),
    )
    if not (n_ok and _ok(r["kroner_per_spell"], r["kroner_total"])):
        return text
    per_spell, total = float(r["kroner_per_spell"]), float(r["kroner_total"])
    if benefit is None:
        return text + " " + label("kf_kroner_nci", lang).format(
            per_spell=_kroner(per_spell, lang), total=_kroner(total, lang)
        )
    n = float(r["n_spells"])
    lo, hi = float(r["ci_low"]) * benefit, float(r["ci_high"]) * benefit
    return text + " " + label("kf_kroner", lang).format(
        benefit=fmt_number(benefit, 0, lang),
        per_spell=_kroner(per_spell, lang),
        lo=_kroner(lo, lang),
        hi=_kroner(hi, lang),
        total=_kroner(total, lang),
        tlo=_kroner(lo * n, lang),
        thi=_kroner(hi * n, lang),
    )


def _test_sentence(
    row: pd.Series | None, name: str, lang: Lang, alpha: float, key: str = "kf_homog"
) -> str:
    if row is None:
        return ""
    p, ptype = _p_of(row)
    if not _ok(p):
        return ""
    return label(key, lang).format(
        name=name,
        verdict=label("kf_rejects" if p < alpha else "kf_not_rejects", lang),
        p=fmt_p(p, lang),
        ptype=label(ptype, lang),
    )


def _jobcentres(tables: Mapping[str, pd.DataFrame], lang: Lang, alpha: float) -> str:
    jce = tables.get("jobcentre_effects")
    if jce is None or not {"estimand", "jobcentre", "p_holm", "q_bh"} <= set(jce.columns):
        return ""
    n = int(jce["jobcentre"].nunique())
    sentences = []
    for est in _ESTIMANDS:
        sub = jce[jce["estimand"].astype(str) == est]
        if sub.empty:
            continue
        name = label(f"kf_effect_name_{est}", lang)

        def names(col: str, sub: pd.DataFrame = sub) -> list[str]:
            p = pd.to_numeric(sub[col], errors="coerce")
            hit = sub[(p < alpha).to_numpy()].sort_values("jobcentre")
            return [
                label("kf_jc_item", lang).format(
                    jc=str(j), hr=fmt_number(float(h), 2, lang)
                )
                for j, h in zip(hit["jobcentre"], hit["hazard_ratio"], strict=True)
            ]

        holm, bh = names("p_holm"), names("q_bh")
        if holm or bh:
            sentences.append(
                label("kf_jc_sig", lang).format(
                    name=_cap(name), holm=_join(holm, lang), bh=_join(bh, lang), n=n
                )
            )
        else:
            sentences.append(label("kf_jc_none", lang).format(name=_cap(name), n=n))
        hom = _row(tables.get("homogeneity"), variable="jobcentre", estimand=est)
        sentences.append(_test_sentence(hom, name, lang, alpha))
    return " ".join(s for s in sentences if s)


def _dose(tables: Mapping[str, pd.DataFrame], lang: Lang) -> str:
    dose = tables.get("dose_response")
    a = _row(dose, window="weeks_1_7")
    b = _row(dose, window="weeks_8_plus")
    cols = ("pct_per_10pp", "ci_low_pct", "ci_high_pct")
    if a is None or b is None or not _ok(*(a[c] for c in cols), *(b[c] for c in cols)):
        return ""
    pa, pb = _p_of(a)[0], _p_of(b)[0]
    if not _ok(pa, pb):
        return ""
    f: Callable[[float], str] = lambda v: fmt_number(float(v), 2, lang)  # noqa: E731
    return label("kf_dose", lang).format(
        a=f(a["pct_per_10pp"]), alo=f(a["ci_low_pct"]), ahi=f(a["ci_high_pct"]),
        ap=fmt_p(pa, lang), b=f(b["pct_per_10pp"]), blo=f(b["ci_low_pct"]),
        bhi=f(b["ci_high_pct"]), bp=fmt_p(pb, lang),
    )  # fmt: skip


def _monitoring(tables: Mapping[str, pd.DataFrame], lang: Lang, target: float) -> str:
    overall = tables.get("success_criteria_overall")
    r = _row(overall, period="overall")
    if overall is None or r is None or not _ok(r["share"]):
        return ""
    periods = overall[overall["period"].astype(str) != "overall"]
    periods = periods[pd.to_numeric(periods["share"], errors="coerce").notna().to_numpy()]
    if periods.empty:
        return ""
    last = periods.sort_values("period").iloc[-1]
    return label("kf_monitoring", lang).format(
        share=fmt_number(100 * float(r["share"]), 1, lang),
        target=fmt_number(100 * target, 0, lang),
        period=str(last["period"]),
        last=fmt_number(100 * float(last["share"]), 1, lang),
    )


def _credibility(tables: Mapping[str, pd.DataFrame], lang: Lang, alpha: float) -> str:
    sentences = []
    for est in _ESTIMANDS:
        name = label(f"kf_effect_name_{est}", lang)
        lead = _row(tables.get("pretrend_test"), estimand=est)
        sentences.append(_test_sentence(lead, name, lang, alpha, "kf_pretrend"))
    for est in _ESTIMANDS:
        name = label(f"kf_effect_name_{est}", lang)
        placebo = _row(tables.get("placebo_time"), estimand=est)
        sentences.append(_test_sentence(placebo, name, lang, alpha, "kf_placebo"))
    return " ".join(s for s in sentences if s)


def key_findings(
    tables: Mapping[str, pd.DataFrame],
    *,
    lang: Lang = "en",
    settings: FindingsSettings | None = None,
) -> list[str]:
    """The key findings of a report as paragraphs of plain text.

    Parameters
    ----------
    tables
        The report's tables after disclosure control (name -> frame: ``effects``,
        ``duration_effects``, ``jobcentre_effects``, ``homogeneity``, ``dose_response``,
        ``success_criteria_overall``, ``pretrend_test``, ``placebo_time``); missing tables
        and hidden cells leave their sentences out.
    lang
        ``en`` or ``da``.
    settings
        Weekly benefit, monitoring target and significance level.

    Returns
    -------
    list of str
        Paragraphs in the order of the module docstring (empty ones dropped).
    """
    check_option("lang", lang, LANGS)
    s = settings or FindingsSettings()
    paragraphs = [
        _effects(tables, lang, s.alpha),
        _durations(tables, lang, s.benefit_per_week),
        _jobcentres(tables, lang, s.alpha),
        _dose(tables, lang),
        _monitoring(tables, lang, s.target),
        _credibility(tables, lang, s.alpha),
    ]
    return [p for p in paragraphs if p]
