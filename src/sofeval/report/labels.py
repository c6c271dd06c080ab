"""Every user-visible string of the report, in English and Danish, in one place.

:data:`LABELS` holds figure labels, section titles and captions (``LABELS[lang][key]``;
English data labels such as group names and estimands are keys too, so they translate);
:data:`COLUMN_HEADERS` holds the table column headers. :func:`label` and
:func:`column_header` look them up and fall back to the key itself.
"""

from __future__ import annotations

from typing import Literal

from sofeval.errors import check_option

Lang = Literal["en", "da"]
LANGS: tuple[str, ...] = ("en", "da")

#: Every label of the figures and the report, ``LABELS[lang][key]``. Keys that are
#: English group labels (``"Programme, before"``) translate data labels too.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "exit_rate": "Exit rate to employment",
        "weekly_hazard": "Weekly exit rate to employment",
        "cum_exit": "Cumulative share exited to employment",
        "cum_exit_short": "Share exited to employment",
        "yes": "yes",
        "no": "no",
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
        "pooled": "Programme jobcentres pooled",
        "jobcentre_lines": "Single programme jobcentres",
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
        "cap_km": "Cumulative share exited to employment by spell week, programme and comparison "
        "jobcentres, by when the spell reached week 8: before, during or after the programme "
        "windows (Kaplan–Meier with delayed entry, 95 % CI)",
        "cap_hazard": "Weekly exit rate to employment by group (95 % binomial CI)",
        "cap_effects": "Pooled effects (hazard ratios with 95 % CI)",
        "cap_forest": "Hazard ratios per programme jobcentre (95 % CI)",
        "cap_jc_table": "Effects per jobcentre",
        "cap_dose": "Dose-response: change in the exit rate per +10 pp workplace share",
        "cap_dose_table": "Dose-response estimates",
        "cap_monitoring": "Monthly share of first meetings at the workplace",
        "cap_monitoring_table": "Success criteria by programme jobcentre and month in the "
        "programme window (all jobcentres and months: success_criteria.csv and the workbook)",
        "suppressed_note": "Cells based on fewer than {t} persons are suppressed (shown as <{t}).",
        "generated": "Report metadata",
        "Programme, before": "Programme, before",
        "Programme, during": "Programme, during",
        "Comparison, before": "Comparison, before",
        "Comparison, during": "Comparison, during",
        "Programme": "Programme jobcentres",
        "Comparison": "Comparison jobcentres",
        "before": "Before the programme",
        "during": "During the programme",
        "after": "After the programme",
        "cap_overall": "Success criteria of the programme jobcentres, pooled over their "
        "months in the programme window, by half-year and overall",
        "secondary_note": "Cells marked .. are suppressed so that a small cell cannot be "
        "recovered from a total.",
        # values of key columns shown in the tables (estimands, windows, panel items ...)
        "workplace_meetings": "First meetings at the workplace",
        "overall": "Overall",
        "spells_in": "Sickness benefit spells in the data",
        "spells_excluded": "Spells excluded",
        "excluded_outside_cohort": "excluded: outside the cohort",
        "excluded_entry_after_data_end": "excluded: entry after the data end",
        "excluded_entry_after_max_weeks": "excluded: entry after the follow-up cap",
        "excluded_no_weeks_at_risk": "excluded: no week at risk",
        "spells_used": "Spells analysed",
        "person_weeks": "Person-weeks at risk",
        "exits_employment": "exits to employment",
        "exits_unemployment": "exits to unemployment",
        "exits_job_clarification": "exits to job clarification",
        "exits_flexjob": "exits to flexjob",
        "exits_disability_pension": "exits to disability pension",
        "exits_education": "exits to education",
        "exits_other": "other exits",
        "censored": "ongoing at the end of follow-up (censored)",
        "employment": "Employment",
        "unemployment": "Unemployment",
        "job_clarification": "Job clarification",
        "flexjob": "Flexjob",
        "disability_pension": "Disability pension",
        "education": "Education",
        "other": "Other",
        "all": "All programme jobcentres",
        # sections of the analyses added by issues 15 and 16
        "sec_destinations": "Effects by destination",
        "cap_destinations": "Hazard ratios of the programme by destination (95 % CI)",
        "sec_duration": "Weeks on benefit and kroner saved",
        "cap_duration": "Weeks on sickness benefit with and without the programme",
        "cap_cumulative_incidence": "Cumulative incidence by destination with and without "
        "the programme",
        "sec_recurrence": "Lasting return to work",
        "cap_recurrence": "Return to sickness benefit after a return to work",
        "sec_credibility": "Can we believe the comparison?",
        "cap_event_study": "Event study: effects by quarter relative to the programme start "
        "(95 % pointwise CI and simultaneous band)",
        "cap_pretrend": "Joint test that all leads are zero",
        "cap_placebo_time": "Placebo in time: fictitious programme windows before the start",
        "cap_subgroups": "Effects by subgroup",
        "cap_homogeneity": "Tests of equal effects across subgroups and jobcentres",
        # sections and captions of the run's added analyses
        "cap_destinations_table": "Programme effects by destination (cause-specific hazards, "
        "one joint covariance clustered by jobcentre)",
        "cap_duration_table": "Weeks on sickness benefit within the horizon, with and without "
        "the programme, and kroner saved (CI of weeks saved)",
        "cap_incidence_table": "Cumulative incidence by destination at weeks 13, 26 and 52, all "
        "programme jobcentres (every week and jobcentre: cumulative_incidence.csv and the "
        "workbook)",
        "cap_survival": "Share of programme spells still on sickness benefit, with and without "
        "the programme",
        "cap_stacked": "Where the programme spells are, week by week: destinations stacked, with "
        "and without the programme",
        "cap_weeks_saved": "Weeks on sickness benefit saved per programme spell, pooled and per "
        "programme jobcentre (95 % CI)",
        "cap_recurrence_table": "Probability of a new sickness spell within 26 and 52 weeks of a "
        "return to work, with and without the programme (CI of the difference)",
        "cap_recurrence_curves": "Share of returns to work followed by a new sickness spell, by "
        "week since the return, all programme jobcentres",
        "text_duration": "Means over the programme spells (g-computation): each spell's weeks "
        "on benefit and exits are predicted from the destination models with the programme "
        "and without it. Kroner saved = weeks saved x {benefit} kr. per week.",
        "text_recurrence": "Returns to work are spells ending in employment; a recurrence is "
        "the same person's next sickness spell. The probabilities are predicted for the "
        "programme returns with and without the programme.",
        # key findings (plain words, built from the disclosed tables)
        "sec_findings": "Key findings",
        "kf_effect": "{name}, pooled over the programme jobcentres: hazard ratio {hr} (95 % CI "
        "{lo} to {hi}), p = {p} ({ptype}); {verdict}.",
        "kf_sig_up": "the exit rate to employment is {pct} % higher with the programme, "
        "a statistically significant difference at the 5 % level",
        "kf_sig_down": "the exit rate to employment is {pct} % lower with the programme, "
        "a statistically significant difference at the 5 % level",
        "kf_not_sig": "no statistically significant change in the exit rate to employment at "
        "the 5 % level",
        "kf_p_wild": "wild cluster bootstrap",
        "kf_p_wald": "clustered Wald test",
        "kf_weeks": "Weeks on sickness benefit within {tau} weeks, averaged over {spells}: "
        "{with} with the programme and {without} without it; weeks saved per spell {saved} "
        "(95 % CI {lo} to {hi}).",
        "kf_spells_n": "the {n} programme spells",
        "kf_spells": "the programme spells",
        "kf_kroner": "At {benefit} kr. per week that is {per_spell} per spell (95 % CI {lo} to "
        "{hi}) and {total} in total (95 % CI {tlo} to {thi}).",
        "kf_kroner_nci": "That is {per_spell} per spell and {total} in total.",
        "kf_kr": "{x} kr.",
        "kf_mkr": "{x} million kr.",
        "kf_jc_sig": "{name} per jobcentre, adjusted for multiple testing across the {n} "
        "programme jobcentres: significantly different from no effect in {holm} (Holm) and in "
        "{bh} (Benjamini–Hochberg).",
        "kf_jc_none": "{name} per jobcentre, adjusted for multiple testing across the {n} "
        "programme jobcentres (Holm and Benjamini–Hochberg): significantly different from no "
        "effect in none of them.",
        "kf_none": "none",
        "kf_and": "and",
        "kf_jc_item": "{jc} (hazard ratio {hr})",
        "kf_homog": "The test that {name} is the same in every programme jobcentre "
        "{verdict} (p = {p}, {ptype}).",
        "kf_rejects": "rejects at the 5 % level",
        "kf_not_rejects": "does not reject at the 5 % level",
        "kf_pretrend": "Parallel trends, {name}: the joint test that every event-study quarter "
        "before the start is zero {verdict} (p = {p}, {ptype}).",
        "kf_placebo": "Placebo in time, {name}: the test of no effect of fictitious programme "
        "windows 12 months before the real ones {verdict} (p = {p}, {ptype}).",
        "kf_dose": "Dose-response: per 10 percentage points more first follow-up meetings at "
        "the workplace, the exit rate changes by {a} % in weeks 1–7 (95 % CI {alo} to {ahi} %, "
        "p = {ap}) and by {b} % from week 8 (95 % CI {blo} to {bhi} %, p = {bp}).",
        "kf_monitoring": "Monitoring: {share} % of the programme jobcentres' first follow-up "
        "meetings in their programme months were held at the workplace, against a target of "
        "{target} % ({period}: {last} %).",
        "kf_effect_name_ex_ante": "the ex-ante effect (weeks 1–7)",
        "kf_effect_name_programme": "the programme effect (week 8 onward)",
        "cap_event_study_table": "Event-study coefficients: log hazard ratios relative to "
        "quarter −1, pointwise 95 % CI and simultaneous band",
        "cap_subgroups_table": "Effects by subgroup (hazard ratios with 95 % CI)",
        "cap_homogeneity_fig": "p-values of the tests of equal effects (clustered Wald and "
        "wild cluster bootstrap)",
        "text_credibility": "The estimate compares programme with comparison jobcentres "
        "before and during the programme; it is credible if the two would have moved "
        "together without the programme. The event study shows the effect quarter by "
        "quarter: the quarters before the start (leads) should be zero, and the joint lead "
        "test asks whether they are. The placebo moves every programme window 12 months "
        "earlier, where no effect should be found. The subgroup effects and the homogeneity "
        "tests ask whether the effect differs between groups of spells and between "
        "jobcentres. With about 20 programme jobcentres the clustered Wald tests reject too "
        "often: read the wild bootstrap p-values.",
        "sex": "Sex",
        "age": "Age",
        "diagnosis_group": "Diagnosis group",
        "visitation_category": "Visitation category",
        "sector": "Sector",
        "partial_sick_listing": "Partial sick-listing",
        "missing": "missing",
    },
    "da": {
        "exit_rate": "Afgangsrate til beskæftigelse",
        "weekly_hazard": "Ugentlig afgangsrate til beskæftigelse",
        "cum_exit": "Kumuleret andel afgået til beskæftigelse",
        "cum_exit_short": "Andel afgået til beskæftigelse",
        "yes": "ja",
        "no": "nej",
        "spell_week": "Sygefraværsuge",
        "ex_ante": "Ex ante-effekt (uge 1–7)",
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
        "pooled": "Programjobcentre samlet",
        "jobcentre_lines": "Enkelte programjobcentre",
        "month": "Måned",
        "jobcentre": "Jobcenter",
        "report_title": "Sammen om Fastholdelse: effektevaluering",
        "contents": "Indhold",
        "sec_design": "Undersøgelsesdesign, datagrundlag og datakontrol",
        "sec_km": "Kaplan–Meier-kurver",
        "sec_hazard": "Ugentlige afgangsrater",
        "sec_pooled": "Samlede effekter",
        "sec_forest": "Effekter pr. jobcenter",
        "sec_dose": "Dosis-respons",
        "sec_monitoring": "Monitorering i forhold til målet på 70 %",
        "cap_panel": "Datagrundlag: sygedagpengeforløb i analysen",
        "cap_audit": "Datakontrol: rækker frasorteret, pr. tabel og regel",
        "cap_km": "Kumuleret andel afgået til beskæftigelse pr. sygefraværsuge for program- og "
        "sammenligningsjobcentre, efter hvornår forløbet nåede uge 8: før, under eller efter "
        "programperioden (Kaplan–Meier med forsinket indgang, 95 %-KI)",
        "cap_hazard": "Ugentlig afgangsrate til beskæftigelse pr. gruppe (95 %-KI, binomial)",
        "cap_effects": "Samlede effekter (hazard ratios med 95 %-KI)",
        "cap_forest": "Hazard ratios pr. programjobcenter (95 %-KI)",
        "cap_jc_table": "Effekter pr. jobcenter",
        "cap_dose": "Dosis-respons: ændring i afgangsraten pr. +10 pct.-point andel på "
        "arbejdspladsen",
        "cap_dose_table": "Dosis-respons-estimater",
        "cap_monitoring": "Månedlig andel første samtaler på arbejdspladsen",
        "cap_monitoring_table": "Succeskriterier pr. programjobcenter og måned i "
        "programperioden (alle jobcentre og måneder: success_criteria.csv og regnearket)",
        "suppressed_note": "Celler baseret på færre end {t} personer er diskretioneret "
        "(vist som <{t}).",
        "generated": "Metadata for rapporten",
        "Programme, before": "Programkommuner, før",
        "Programme, during": "Programkommuner, under",
        "Comparison, before": "Sammenligning, før",
        "Comparison, during": "Sammenligning, under",
        "Programme": "Programjobcentre",
        "Comparison": "Sammenligningsjobcentre",
        "before": "Før programmet",
        "during": "Under programmet",
        "after": "Efter programmet",
        "cap_overall": "Succeskriterier for programjobcentrene, samlet over deres måneder i "
        "programperioden, pr. halvår og i alt",
        "secondary_note": "Celler markeret med .. er diskretioneret, så en lille celle ikke "
        "kan udledes af en total.",
        "workplace_meetings": "Første samtaler på arbejdspladsen",
        "overall": "I alt",
        "spells_in": "Sygedagpengeforløb i data",
        "spells_excluded": "Forløb frasorteret",
        "excluded_outside_cohort": "frasorteret: uden for kohorten",
        "excluded_entry_after_data_end": "frasorteret: indgang efter dataperiodens slut",
        "excluded_entry_after_max_weeks": "frasorteret: indgang efter opfølgningsperioden",
        "excluded_no_weeks_at_risk": "frasorteret: ingen uger i risiko",
        "spells_used": "Forløb i analysen",
        "person_weeks": "Personuger i risiko",
        "exits_employment": "afgang til beskæftigelse",
        "exits_unemployment": "afgang til ledighed",
        "exits_job_clarification": "afgang til jobafklaring",
        "exits_flexjob": "afgang til fleksjob",
        "exits_disability_pension": "afgang til førtidspension",
        "exits_education": "afgang til uddannelse",
        "exits_other": "anden afgang",
        "censored": "igangværende ved opfølgningens slut (censureret)",
        "employment": "Beskæftigelse",
        "unemployment": "Ledighed",
        "job_clarification": "Jobafklaring",
        "flexjob": "Fleksjob",
        "disability_pension": "Førtidspension",
        "education": "Uddannelse",
        "other": "Andet",
        "all": "Alle programjobcentre",
        "sec_destinations": "Effekter pr. afgangsårsag",
        "cap_destinations": "Programmets hazard ratios pr. afgangsårsag (95 %-KI)",
        "sec_duration": "Uger på sygedagpenge og sparede kroner",
        "cap_duration": "Uger på sygedagpenge med og uden programmet",
        "cap_cumulative_incidence": "Kumuleret andel pr. afgangsårsag med og uden programmet",
        "sec_recurrence": "Varig tilbagevenden til arbejdet",
        "cap_recurrence": "Fornyet sygedagpengeforløb efter tilbagevenden til arbejde",
        "sec_credibility": "Kan vi stole på sammenligningen?",
        "cap_event_study": "Event study: effekter pr. kvartal i forhold til programstart "
        "(95 %-KI punktvis og simultant bånd)",
        "cap_pretrend": "Samlet test af, at alle forudgående kvartaler er nul",
        "cap_placebo_time": "Placebo i tid: fiktive programperioder før starten",
        "cap_subgroups": "Effekter pr. undergruppe",
        "cap_homogeneity": "Test af ens effekter på tværs af undergrupper og jobcentre",
        "cap_destinations_table": "Programmets effekter pr. afgangsårsag (årsagsspecifikke "
        "hazardrater, én fælles kovarians klyngekorrigeret på jobcenter)",
        "cap_duration_table": "Uger på sygedagpenge inden for horisonten med og uden programmet "
        "og sparede kroner (KI for sparede uger)",
        "cap_incidence_table": "Kumuleret andel pr. afgangsårsag i uge 13, 26 og 52, alle "
        "programjobcentre (alle uger og jobcentre: cumulative_incidence.csv og regnearket)",
        "cap_survival": "Andel af programforløbene, der fortsat er på sygedagpenge, med og uden "
        "programmet",
        "cap_stacked": "Hvor programforløbene er, uge for uge: afgangsårsager stablet, med og "
        "uden programmet",
        "cap_weeks_saved": "Sparede uger på sygedagpenge pr. programforløb, samlet og pr. "
        "programjobcenter (95 %-KI)",
        "cap_recurrence_table": "Sandsynlighed for et nyt sygedagpengeforløb inden for 26 og 52 "
        "uger efter tilbagevenden til arbejde, med og uden programmet (KI for forskellen)",
        "cap_recurrence_curves": "Andel af tilbagevendinger til arbejde, der følges af et nyt "
        "sygeforløb, pr. uge efter tilbagevenden, alle programjobcentre",
        "text_duration": "Gennemsnit over programforløbene (g-computation): hvert forløbs uger "
        "på sygedagpenge og afgange forudsiges fra afgangsmodellerne med og uden programmet. "
        "Sparede kroner = sparede uger x {benefit} kr. pr. uge.",
        "text_recurrence": "En tilbagevenden til arbejde er et forløb, der slutter med "
        "beskæftigelse; et tilbagefald er samme persons næste sygeforløb. Sandsynlighederne "
        "forudsiges for programforløbenes tilbagevendinger med og uden programmet.",
        "sec_findings": "Hovedresultater",
        "kf_effect": "{name}, samlet for programjobcentrene: hazard ratio {hr} (95 %-KI {lo} "
        "til {hi}), p = {p} ({ptype}); {verdict}.",
        "kf_sig_up": "afgangsraten til beskæftigelse er {pct} % højere med programmet, en "
        "statistisk signifikant forskel på 5 %-niveau",
        "kf_sig_down": "afgangsraten til beskæftigelse er {pct} % lavere med programmet, en "
        "statistisk signifikant forskel på 5 %-niveau",
        "kf_not_sig": "ingen statistisk signifikant ændring i afgangsraten til beskæftigelse "
        "på 5 %-niveau",
        "kf_p_wild": "wild cluster bootstrap",
        "kf_p_wald": "klyngekorrigeret Wald-test",
        "kf_weeks": "Uger på sygedagpenge inden for {tau} uger, gennemsnit over {spells}: "
        "{with} med programmet og {without} uden; sparede uger pr. forløb {saved} "
        "(95 %-KI {lo} til {hi}).",
        "kf_spells_n": "de {n} programforløb",
        "kf_spells": "programforløbene",
        "kf_kroner": "Med {benefit} kr. pr. uge svarer det til {per_spell} pr. forløb (95 %-KI "
        "{lo} til {hi}) og {total} i alt (95 %-KI {tlo} til {thi}).",
        "kf_kroner_nci": "Det svarer til {per_spell} pr. forløb og {total} i alt.",
        "kf_kr": "{x} kr.",
        "kf_mkr": "{x} mio. kr.",
        "kf_jc_sig": "{name} pr. jobcenter, korrigeret for multiple test på tværs af de {n} "
        "programjobcentre: signifikant forskellig fra nul i {holm} (Holm) og i {bh} "
        "(Benjamini–Hochberg).",
        "kf_jc_none": "{name} pr. jobcenter, korrigeret for multiple test på tværs af de {n} "
        "programjobcentre (Holm og Benjamini–Hochberg): ikke signifikant forskellig fra nul "
        "i nogen af dem.",
        "kf_none": "ingen",
        "kf_and": "og",
        "kf_jc_item": "{jc} (hazard ratio {hr})",
        "kf_homog": "Hypotesen om, at {name} er den samme i alle programjobcentre, {verdict} "
        "(p = {p}, {ptype}).",
        "kf_rejects": "forkastes på 5 %-niveau",
        "kf_not_rejects": "forkastes ikke på 5 %-niveau",
        "kf_pretrend": "Parallelle tendenser, {name}: hypotesen om, at alle event "
        "study-kvartaler før starten er nul, {verdict} (p = {p}, {ptype}).",
        "kf_placebo": "Placebo i tid, {name}: hypotesen om ingen effekt af fiktive "
        "programperioder 12 måneder før de rigtige {verdict} (p = {p}, {ptype}).",
        "kf_dose": "Dosis-respons: pr. 10 procentpoint flere første opfølgningssamtaler på "
        "arbejdspladsen ændres afgangsraten med {a} % i uge 1–7 (95 %-KI {alo} til {ahi} %, "
        "p = {ap}) og med {b} % fra uge 8 (95 %-KI {blo} til {bhi} %, p = {bp}).",
        "kf_monitoring": "Monitorering: {share} % af programjobcentrenes første "
        "opfølgningssamtaler i deres programperiode blev holdt på arbejdspladsen, mod et mål "
        "på {target} % ({period}: {last} %).",
        "kf_effect_name_ex_ante": "ex ante-effekten (uge 1–7)",
        "kf_effect_name_programme": "programeffekten (uge 8+)",
        "cap_event_study_table": "Event study-koefficienter: log hazard ratio i forhold til "
        "kvartal −1, punktvis 95 %-KI og simultant bånd",
        "cap_subgroups_table": "Effekter pr. undergruppe (hazard ratios med 95 %-KI)",
        "cap_homogeneity_fig": "p-værdier for test af ens effekter (klyngekorrigeret Wald og "
        "wild cluster bootstrap)",
        "text_credibility": "Estimatet sammenligner program- med sammenligningsjobcentre før "
        "og under programmet; det er troværdigt, hvis de to grupper ville have udviklet sig "
        "ens uden programmet. Event study'en viser effekten kvartal for kvartal: kvartalerne "
        "før starten skal være nul, og den samlede test spørger, om de er det. Placeboen "
        "flytter alle programperioder 12 måneder tidligere, hvor der ikke bør findes nogen "
        "effekt. Effekterne pr. undergruppe og homogenitetstestene spørger, om effekten er "
        "forskellig mellem grupper af forløb og mellem jobcentre. Med omkring 20 "
        "programjobcentre afviser de klyngekorrigerede Wald-test for ofte: læs p-værdierne "
        "fra wild bootstrap.",
        "sex": "Køn",
        "age": "Alder",
        "diagnosis_group": "Diagnosegruppe",
        "visitation_category": "Visitationskategori",
        "sector": "Sektor",
        "partial_sick_listing": "Delvis sygemelding",
        "missing": "mangler",
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


#: Column headers of the published tables per language (``column`` -> header); a column
#: without an entry keeps its name. The workbook and the HTML report use them.
COLUMN_HEADERS: dict[str, dict[str, str]] = {
    "en": {
        "estimand": "Estimand",
        "jobcentre": "Jobcentre",
        "coef": "Coef.",
        "se": "SE",
        "hazard_ratio": "Hazard ratio",
        "ci_low": "CI low",
        "ci_high": "CI high",
        "p_value": "p-value",
        "p_wild": "p (wild bootstrap)",
        "p_ri": "p (randomisation)",
        "p_holm": "p (Holm)",
        "q_bh": "q (BH)",
        "p_placebo": "p (placebo)",
        "n_spells": "Spells",
        "n_events": "Events",
        "flag": "Note",
        "window": "Window",
        "mediator": "Mediator",
        "pct_per_10pp": "% per 10 pp",
        "ci_low_pct": "CI low (%)",
        "ci_high_pct": "CI high (%)",
        "month": "Month no.",
        "month_label": "Month",
        "half_year": "Half-year",
        "period": "Period",
        "programme": "Programme",
        "in_window": "In window",
        "first_meetings": "First meetings",
        "workplace_meetings": "At the workplace",
        "share": "Share",
        "first_meetings_v23": "First meetings (cat. 2+3)",
        "workplace_meetings_v23": "At the workplace (cat. 2+3)",
        "share_v23": "Share (cat. 2+3)",
        "meets_target": "Target met",
        "source": "Source",
        "n_jobcentres": "Jobcentres",
        "n_months": "Months",
        "n_months_in_window": "Months in window",
        "n_months_at_target": "Months at target",
        "table": "Table",
        "rule": "Rule",
        "n_rows": "Rows",
        "item": "Item",
        "value": "Number",
        "destination": "Destination",
        "scope": "Scope",
        "tau_weeks": "Horizon (weeks)",
        "weeks_with": "Weeks with programme",
        "weeks_without": "Weeks without programme",
        "weeks_saved": "Weeks saved",
        "kroner_per_spell": "Kroner per spell",
        "kroner_total": "Kroner in total",
        "week": "Week",
        "with": "With programme",
        "without": "Without programme",
        "difference": "Difference",
        "horizon_weeks": "Horizon (weeks)",
        "n_returns": "Returns to work",
        "recurrence_with": "Recurrence with programme",
        "recurrence_without": "Recurrence without programme",
        "event_quarter": "Quarter relative to start",
        "band_low": "Band low",
        "band_high": "Band high",
        "n_leads": "Leads",
        "statistic": "Statistic",
        "df": "df",
        "window_start": "Window start",
        "window_end": "Window end",
        "variable": "Variable",
        "level": "Group",
    },
    "da": {
        "estimand": "Effekt",
        "jobcentre": "Jobcenter",
        "coef": "Koef.",
        "se": "Std.fejl",
        "hazard_ratio": "Hazard ratio",
        "ci_low": "KI nedre",
        "ci_high": "KI øvre",
        "p_value": "p-værdi",
        "p_wild": "p (wild bootstrap)",
        "p_ri": "p (randomisering)",
        "p_holm": "p (Holm)",
        "q_bh": "q (BH)",
        "p_placebo": "p (placebo)",
        "n_spells": "Antal forløb",
        "n_events": "Antal afgange",
        "flag": "Bemærkning",
        "window": "Periode",
        "mediator": "Mediator",
        "pct_per_10pp": "% pr. 10 pct.-point",
        "ci_low_pct": "KI nedre (%)",
        "ci_high_pct": "KI øvre (%)",
        "month": "Månedsnr.",
        "month_label": "Måned",
        "half_year": "Halvår",
        "period": "Periode",
        "programme": "Programjobcenter",
        "in_window": "I programperioden",
        "first_meetings": "Første samtaler",
        "workplace_meetings": "Heraf på arbejdspladsen",
        "share": "Andel",
        "first_meetings_v23": "Første samtaler (kat. 2+3)",
        "workplace_meetings_v23": "Heraf på arbejdspladsen (kat. 2+3)",
        "share_v23": "Andel (kat. 2+3)",
        "meets_target": "Mål nået",
        "source": "Kilde",
        "n_jobcentres": "Jobcentre",
        "n_months": "Måneder",
        "n_months_in_window": "Måneder i programperioden",
        "n_months_at_target": "Måneder med mål nået",
        "table": "Tabel",
        "rule": "Regel",
        "n_rows": "Antal rækker",
        "item": "Post",
        "value": "Antal",
        "destination": "Afgangsårsag",
        "scope": "Omfang",
        "tau_weeks": "Horisont (uger)",
        "weeks_with": "Uger med program",
        "weeks_without": "Uger uden program",
        "weeks_saved": "Sparede uger",
        "kroner_per_spell": "Kroner pr. forløb",
        "kroner_total": "Kroner i alt",
        "week": "Uge",
        "with": "Med program",
        "without": "Uden program",
        "difference": "Forskel",
        "horizon_weeks": "Horisont (uger)",
        "n_returns": "Tilbagevendinger til arbejde",
        "recurrence_with": "Tilbagefald med program",
        "recurrence_without": "Tilbagefald uden program",
        "event_quarter": "Kvartal i forhold til start",
        "band_low": "Bånd nedre",
        "band_high": "Bånd øvre",
        "n_leads": "Forudgående kvartaler",
        "statistic": "Teststørrelse",
        "df": "Frihedsgrader",
        "window_start": "Periodens start",
        "window_end": "Periodens slut",
        "variable": "Variabel",
        "level": "Gruppe",
    },
}


def column_header(column: str, lang: str = "en") -> str:
    """Return the header of ``column`` in ``lang`` (the column name when it has none).

    Parameters
    ----------
    column
        Column name of a published table.
    lang
        ``"en"`` or ``"da"``.

    Returns
    -------
    str
        The header.
    """
    check_option("lang", lang, LANGS)
    return COLUMN_HEADERS[lang].get(column, column)
