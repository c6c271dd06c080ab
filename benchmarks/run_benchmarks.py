"""Benchmarks of the whole SOF evaluation at register scale (``make bench``).

Usage::

    python benchmarks/run_benchmarks.py                      # 100k and 1.5M spells
    python benchmarks/run_benchmarks.py --sizes 100000       # one size
    python benchmarks/run_benchmarks.py --quick              # 20k smoke run

For every size the ``report`` scenario is generated (timed on its own) and written as
CSV; then every stage runs in a **fresh Python subprocess** that first loads its inputs
(pickled by the previous stage; not timed), resets the kernel's peak-RSS counter
(``echo 5 > /proc/self/clear_refs``, Linux >= 4.0), times the stage with
``time.perf_counter`` and reads ``VmHWM`` from ``/proc/self/status``. The reported peak is
therefore the resident high-water mark *while the stage ran*, including the inputs the
stage holds (the study or the cells), and excluding interpreter start-up and loading.
If ``clear_refs`` is not writable the process-lifetime ``ru_maxrss`` is reported instead
(flagged in the JSON). The whole ``sofeval run`` is timed as a child process of the CLI;
its peak is the child's ``ru_maxrss`` from ``os.wait4`` or, if larger, the largest sum of
PSS over the child and its forked helpers (sampled every 0.5 s).

On the 100k data (sizes up to ``--compare-max``) the same default model is also fitted
by statsmodels (GLM binomial cloglog on the person-week panel), lifelines
(``CoxTimeVaryingFitter``, a subsample when the full panel exceeds the budget) and
pyfixest (``feglm`` logit with jobcentre and month absorbed); each runs in its own
subprocess with a time budget (``--budget``) and is reported as skipped/timed out
otherwise. Results go to ``--json`` and a Markdown page ``--out``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import gc
import io
import json
import os
import pickle
import platform
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from harness import tree_pss_mb

ROOT = Path(__file__).resolve().parents[1]
SEED = 20171001
TABLES = ("spells", "meetings", "interventions", "programme", "monitoring")

# Targets of the issue "Performance at national register scale".
TARGET_RUN_S = 60.0
TARGET_RUN_GB = 6.0
TARGET_SPEEDUP_SM = 20.0
TARGET_COEF_TOL = 1e-6
TARGET_OVERHEAD = 0.20


# ======================================================================================
# Memory measurement (inside the stage subprocess)
# ======================================================================================


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        m = re.search(rf"{field}:\s+(\d+)\s+kB", fh.read())
    return int(m.group(1)) / 1024.0 if m else float("nan")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _measure(fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``fn`` once; wall time, RSS before, and peak RSS while it ran."""
    gc.collect()
    reset = _reset_peak()
    rss0 = _status_mb("VmRSS")
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    peak = (
        _status_mb("VmHWM")
        if reset
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    )
    return out, {
        "wall_s": round(wall, 3),
        "rss_before_mb": round(rss0, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_method": "VmHWM after clear_refs" if reset else "ru_maxrss (process lifetime)",
    }


# ======================================================================================
# Stage workers (each runs in a fresh subprocess: run_benchmarks.py --stage NAME --work DIR)
# ======================================================================================


SM_COPIES = 12


def _status_meminfo_gb(field: str) -> float:
    with open("/proc/meminfo", encoding="ascii") as fh:
        m = re.search(rf"{field}:\s+(\d+)\s+kB", fh.read())
    return int(m.group(1)) / 1024**2 if m else float("inf")


def _load(work: Path, name: str) -> Any:
    with open(work / f"{name}.pkl", "rb") as fh:
        return pickle.load(fh)


def _dump(work: Path, name: str, obj: Any) -> None:
    with open(work / f"{name}.pkl", "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _effects_coefs(eff: Any) -> dict[str, float]:
    t = eff.table.set_index("estimand")
    return {"D_early": float(t.loc["ex_ante", "coef"]), "D_late": float(t.loc["programme", "coef"])}


def stage_generate(work: Path, n: int, seed: int) -> dict[str, Any]:
    from sofeval.data import simulate

    syn, rec = _measure(lambda: simulate("report", n, seed=seed, progress=False))
    _, wr = _measure(lambda: syn.write_csv(work / "csv"))
    rec["write_csv_s"] = wr["wall_s"]
    pq = work / "parquet"
    pq.mkdir(parents=True, exist_ok=True)
    for t in TABLES:
        getattr(syn, t).to_parquet(pq / f"{t}.parquet", index=False)
    rec["rows"] = {t: len(getattr(syn, t)) for t in TABLES}
    return rec


def stage_load_validate(work: Path, n: int, seed: int) -> dict[str, Any]:
    from sofeval.data import read_study_dir

    study, rec = _measure(lambda: read_study_dir(work / "csv"))
    _dump(work, "study", study)
    rec["spells_validated"] = len(study.spells)
    return rec


def stage_cells(work: Path, n: int, seed: int) -> dict[str, Any]:
    from sofeval.analyses import sof_cells

    study = _load(work, "study")
    sc, rec = _measure(lambda: sof_cells(study, progress=False))
    _dump(work, "sc", sc)
    rec["n_cells"] = int(sc.cells.n_cells)
    rec["person_weeks"] = int(sc.cells.person_weeks)
    return rec


def _effects_stage(inference: tuple[str, ...], family: str = "cloglog") -> Callable[..., Any]:
    def stage(work: Path, n: int, seed: int) -> dict[str, Any]:
        from sofeval.analyses import estimate_effects

        sc = _load(work, "sc")
        eff, rec = _measure(
            lambda: estimate_effects(
                sc,
                inference=inference,
                family=family,  # type: ignore[arg-type]
                bootstrap_draws=999,
                ri_draws=999,
                seed=seed,
                progress=False,
            )
        )
        rec["coef"] = _effects_coefs(eff)
        rec["n_params"] = len(eff.params)
        rec["n_iter"] = int(eff.fit.n_iter)
        if family == "cloglog" and inference == ("cluster",):
            _dump(work, "eff_cloglog", {"coef": rec["coef"], "params": eff.params})
        return rec

    return stage


def _jobcentre_stage(placebo: bool) -> Callable[..., Any]:
    def stage(work: Path, n: int, seed: int) -> dict[str, Any]:
        from sofeval.analyses import jobcentre_effects

        sc = _load(work, "sc")
        jce, rec = _measure(lambda: jobcentre_effects(sc, placebo=placebo, progress=False))
        rec["rows"] = len(jce.to_frame())
        return rec

    return stage


def stage_dose_response(work: Path, n: int, seed: int) -> dict[str, Any]:
    from sofeval.analyses import dose_response

    study = _load(work, "study")
    dr, rec = _measure(lambda: dose_response(study, progress=False))
    rec["rows"] = len(dr.to_frame())
    return rec


def _cli_args(work: Path, out: Path, fmt: str = "csv") -> list[str]:
    args = ["run"]
    for t in TABLES:
        args += [f"--{t}", str(work / fmt / f"{t}.{fmt}")]
    return [*args, "--out", str(out)]


def stage_profile(work: Path, n: int, seed: int) -> dict[str, Any]:
    """cProfile of the whole ``sofeval run`` (in-process ``cli.main``)."""
    from sofeval import cli

    prof = cProfile.Profile()
    out = work / "out_profile"
    t0 = time.perf_counter()
    prof.enable()
    status = cli.main(_cli_args(work, out))
    prof.disable()
    wall = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    st = pstats.Stats(prof)
    total = max(st.total_tt, 1e-9)  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_short(file)}:{line}({func})",
                "ncalls": nc,
                "tottime_s": round(tt, 3),
                "cumtime_s": round(ct, 3),
                "cum_share": round(ct / total, 3),
            }
        )
    by_cum = sorted(rows, key=lambda r: -r["cumtime_s"])
    by_tot = sorted(rows, key=lambda r: -r["tottime_s"])
    sofeval_cum = [r for r in by_cum if r["function"].startswith("sofeval/")]
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
    (work / "profile_cumulative.txt").write_text(buf.getvalue(), encoding="utf-8")
    return {
        "wall_s": round(wall, 3),
        "profiled_total_s": round(total, 3),
        "exit_status": status,
        "top_cumulative_sofeval": sofeval_cum[:15],
        "top_tottime": by_tot[:15],
    }


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/src/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file if file.startswith("<") or file == "~" else Path(file).name


# --- comparisons on the person-week panel -------------------------------------------------


def _panel_frame(work: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The person-week panel as the default model's frame (same regressors as the cells)."""
    from sofeval.panel import StudyDesign, build_panel, week_block

    study = _load(work, "study")
    t0 = time.perf_counter()
    data = build_panel(study).data
    cut = StudyDesign().phase_cut
    week = data["week"].to_numpy()
    late = (week >= cut).astype(np.int8)
    d = data["D"].to_numpy().astype(np.int8)
    mf = pd.DataFrame(
        {
            "spell_id": data["spell_id"].to_numpy(),
            "week": week.astype(np.int64),
            "week_block": week_block(week),
            "jobcentre": data["jobcentre"].astype(str).to_numpy(),
            "month": data["month"].to_numpy(),
            "D_early": (d * (1 - late)).astype(float),
            "D_late": (d * late).astype(float),
            "event": data["event"].to_numpy().astype(np.int64),
        }
    )
    del data, study
    return mf, {"panel_rows": len(mf), "panel_build_s": round(time.perf_counter() - t0, 3)}


def _coef_diff(work: Path, got: dict[str, float], ref_name: str) -> dict[str, Any]:
    ref = _load(work, ref_name)["coef"]
    diff = max(abs(got[k] - ref[k]) for k in ("D_early", "D_late"))
    return {"coef": got, "sofeval_coef": ref, "max_abs_coef_diff": diff}


def stage_statsmodels(work: Path, n: int, seed: int) -> dict[str, Any]:
    import statsmodels.api as sm

    from sofeval.analyses import design_matrix

    mf, info = _panel_frame(work)
    # statsmodels' IRLS holds ~12 copies of the dense design (measured: 4.7 GB for a
    # 266k x 181 design; 5.2 GB with wls_method="qr"); skip when that cannot fit in the
    # memory available now.
    need_gb = len(mf) * 181 * 8 * SM_COPIES / 1024**3
    avail_gb = _status_meminfo_gb("MemAvailable")
    if need_gb > 0.8 * avail_gb:
        info["skip_reason"] = (
            f"skipped: needs ~{need_gb:.0f} GB for a {len(mf):,} x ~181 dense design "
            f"({avail_gb:.0f} GB available)"
        )
        return info
    trials = np.ones(len(mf))
    t0 = time.perf_counter()
    dm = design_matrix(mf, ["week_block", "jobcentre", "month"], ["D_early", "D_late"], trials)
    info["design_s"] = round(time.perf_counter() - t0, 3)
    info["design_shape"] = list(dm.X.shape)
    y = mf["event"].to_numpy(float)
    groups = pd.factorize(mf["jobcentre"], sort=True)[0]
    del mf
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())

    def fit() -> Any:
        model = sm.GLM(y, dm.X, family=fam)
        return model.fit(tol=1e-10, cov_type="cluster", cov_kwds={"groups": groups})

    res, rec = _measure(fit)
    names = list(dm.names)
    got = {k: float(res.params[names.index(k)]) for k in ("D_early", "D_late")}
    rec.update(info)
    rec.update(_coef_diff(work, got, "eff_cloglog"))
    rec["n_iter"] = int(getattr(res, "fit_history", {}).get("iteration", -1))
    return rec


def stage_lifelines(work: Path, n: int, seed: int) -> dict[str, Any]:
    from sofeval.models import fit_cox_panel

    mf, info = _panel_frame(work)
    frac = float(os.environ.get("SOFEVAL_BENCH_COX_FRACTION", "1.0"))
    if frac < 1.0:
        ids = mf["spell_id"].unique()
        keep = np.random.default_rng(seed).choice(ids, int(len(ids) * frac), replace=False)
        mf = mf[mf["spell_id"].isin(keep)].reset_index(drop=True)
    info["spell_fraction"] = frac
    info["rows_fitted"] = len(mf)
    summ, rec = _measure(
        lambda: fit_cox_panel(
            mf,
            id_col="spell_id",
            week="week",
            event="event",
            categorical=["jobcentre", "month"],
            numeric=["D_early", "D_late"],
        )
    )
    got = {k: float(summ.loc[k, "coef"]) for k in ("D_early", "D_late")}
    rec.update(info)
    rec.update(_coef_diff(work, got, "eff_cloglog"))
    return rec


def stage_pyfixest(work: Path, n: int, seed: int) -> dict[str, Any]:
    import pyfixest as pf

    mf, info = _panel_frame(work)
    mf = mf.drop(columns=["spell_id", "week"])
    mf["jobcentre"] = mf["jobcentre"].astype("category")
    mf["month"] = mf["month"].astype(str)

    def fit() -> Any:
        return pf.feglm(
            "event ~ C(week_block) + D_early + D_late | jobcentre + month",
            data=mf,
            family="logit",
            vcov={"CRV1": "jobcentre"},
            iwls_tol=1e-10,
            iwls_maxiter=100,
            copy_data=False,
            store_data=False,
        )

    res, rec = _measure(fit)
    coef = res.coef()
    got = {k: float(coef[k]) for k in ("D_early", "D_late")}
    rec.update(info)
    rec.update(_coef_diff(work, got, "eff_logit"))
    return rec


def _logit_ref_stage(work: Path, n: int, seed: int) -> dict[str, Any]:
    rec = _effects_stage(("cluster",), "logit")(work, n, seed)
    _dump(work, "eff_logit", {"coef": rec["coef"]})
    return rec


STAGES: dict[str, tuple[str, Callable[[Path, int, int], dict[str, Any]]]] = {
    "generate": ("generate `report` scenario (simulate)", stage_generate),
    "load_validate": ("load CSVs + validate", stage_load_validate),
    "cells": ("spells -> cells (`sof_cells`)", stage_cells),
    "fit_cluster": ("default fit, clustered SEs", _effects_stage(("cluster",))),
    "fit_wild": ("fit + wild bootstrap (999)", _effects_stage(("cluster", "wild"))),
    "fit_ri": ("fit + randomisation inference (999)", _effects_stage(("cluster", "ri"))),
    "jobcentre_noplacebo": ("per-jobcentre model, no placebo", _jobcentre_stage(False)),
    "jobcentre": ("per-jobcentre model incl. placebo", _jobcentre_stage(True)),
    "dose_response": ("dose-response", stage_dose_response),
    "fit_logit": ("default fit, logit link (pyfixest reference)", _logit_ref_stage),
    "profile": ("cProfile of `sofeval run`", stage_profile),
    "statsmodels": ("statsmodels GLM cloglog, person-week panel", stage_statsmodels),
    "lifelines": ("lifelines CoxTimeVaryingFitter, person-week panel", stage_lifelines),
    "pyfixest": ("pyfixest feglm logit, FE jobcentre + month", stage_pyfixest),
}
CORE = (
    "load_validate",
    "cells",
    "fit_cluster",
    "fit_wild",
    "fit_ri",
    "jobcentre_noplacebo",
    "jobcentre",
    "dose_response",
)
COMPARE = ("fit_logit", "statsmodels", "lifelines", "pyfixest")


def _stage_main(name: str, work: Path, n: int, seed: int) -> int:
    rec = STAGES[name][1](work, n, seed)
    with open(work / f"{name}.json", "w", encoding="utf-8") as fh:
        json.dump(rec, fh, indent=1, default=float)
    return 0


# ======================================================================================
# Driver
# ======================================================================================


def _log(msg: str) -> None:
    print(f"[{_dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def _child(
    cmd: list[str], timeout: float | None, env: dict[str, str] | None = None
) -> tuple[int | None, float, float, str]:
    """Run ``cmd``; return (status or None on timeout, wall s, child ru_maxrss MB, stderr tail).

    The peak PSS of the child with its forked helpers, sampled every 0.5 s, is left in
    ``_LAST_TREE_PSS_MB``.
    """
    global _LAST_TREE_PSS_MB
    t0 = time.perf_counter()
    peak_pss = 0.0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT)
        deadline = None if timeout is None else t0 + timeout
        status: int | None = None
        ru = None
        polls = 0
        while True:
            if polls % 10 == 0:  # every 0.5 s: reading smaps costs CPU the run would miss
                peak_pss = max(peak_pss, tree_pss_mb(proc.pid))
            polls += 1
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(st)
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                _, st, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = -9 if status is None else status  # already reaped by wait4
        wall = time.perf_counter() - t0
        err.seek(0)
        tail = err.read().decode("utf-8", "replace")[-1500:]
    _LAST_TREE_PSS_MB = peak_pss
    return status, wall, ru.ru_maxrss / 1024.0 if ru else float("nan"), tail


_LAST_TREE_PSS_MB = 0.0


def run_stage(
    name: str,
    work: Path,
    n: int,
    seed: int,
    timeout: float | None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    _log(f"n={n:,}: {name} ...")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--work", str(work),
           "--n-spells", str(n), "--seed", str(seed)]
    status, wall, maxrss, tail = _child(cmd, timeout, env)
    out = work / f"{name}.json"
    if status == 0 and out.is_file():
        rec = json.loads(out.read_text(encoding="utf-8"))
        rec["status"] = rec.pop("skip_reason", "ok")
    elif status is None:
        rec = {"status": f"timed out after {timeout:.0f} s (time budget)"}
    else:
        rec = {"status": f"failed (exit {status})", "stderr_tail": tail}
    rec.update(stage=name, label=STAGES[name][0], n_spells=n,
               subprocess_wall_s=round(wall, 2), subprocess_maxrss_mb=round(maxrss, 1))
    _log(f"n={n:,}: {name}: {rec['status']} wall={rec.get('wall_s')} "
         f"peak={rec.get('peak_rss_mb')} MB")
    return rec


def run_cli(work: Path, n: int, timeout: float | None, fmt: str = "csv") -> dict[str, Any]:
    _log(f"n={n:,}: sofeval run (CLI, {fmt} inputs) ...")
    out = work / "out_run"
    cmd = [sys.executable, "-m", "sofeval.cli", *_cli_args(work, out, fmt)]
    status, wall, maxrss, tail = _child(cmd, timeout)
    rec: dict[str, Any] = {
        "stage": "run_cli" if fmt == "csv" else f"run_cli_{fmt}",
        "label": f"whole `sofeval run` (CLI, 999 draws, {fmt.upper()} inputs)",
        "n_spells": n,
        "status": "ok" if status == 0 else (
            f"timed out after {timeout:.0f} s" if status is None else f"failed (exit {status})"),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(maxrss, 1),
        "peak_method": "ru_maxrss of the CLI child (os.wait4), whole process lifetime",
        "peak_pss_tree_mb": round(_LAST_TREE_PSS_MB, 1),
        "peak_pss_method": "largest sum of PSS over the CLI process and its forked helpers, "
        "sampled every 0.5 s (/proc/<pid>/smaps_rollup)",
        "command": "python -m sofeval.cli "
        + " ".join(_cli_args(Path("<work>"), Path("<out>"), fmt)),
    }
    if status != 0:
        rec["stderr_tail"] = tail
    shutil.rmtree(out, ignore_errors=True)
    _log(f"n={n:,}: sofeval run: {rec['status']} wall={rec['wall_s']} peak={rec['peak_rss_mb']} MB")
    return rec


def _git_state() -> str:
    """HEAD commit and whether src/ has uncommitted changes (others edit src/ in parallel)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in src/" if dirty else "")


def machine() -> dict[str, Any]:
    import numpy

    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            m = re.search(r"model name\s*:\s*(.+)", fh.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    blas = "unknown"
    try:
        cfg = numpy.show_config(mode="dicts")  # type: ignore[call-arg,func-returns-value]
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name')} {b.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        pass
    versions = {}
    for mod in ("sofeval", "numpy", "scipy", "pandas", "statsmodels", "lifelines", "pyfixest"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = "n/a"
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "blas": blas,
        "versions": versions,
        "loadavg_at_start": [round(x, 2) for x in load],
        "git": _git_state(),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
    }


def bench_size(
    n: int, seed: int, args: argparse.Namespace, work_root: Path
) -> dict[str, Any]:
    work = work_root / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    recs: dict[str, Any] = {}
    recs["generate"] = run_stage("generate", work, n, seed, args.budget * 4)
    if recs["generate"]["status"] != "ok":
        return {"n_spells": n, "stages": recs}
    for name in CORE:
        recs[name] = run_stage(name, work, n, seed, args.budget * 4)
        if name in ("load_validate", "cells") and recs[name]["status"] != "ok":
            return {"n_spells": n, "stages": recs}
    recs["run_cli"] = run_cli(work, n, args.budget * 4)
    recs["run_cli_parquet"] = run_cli(work, n, args.budget * 4, "parquet")
    if n <= args.profile_max:
        recs["profile"] = run_stage("profile", work, n, seed, args.budget * 4)
    if n <= args.compare_max and not args.no_compare:
        recs["fit_logit"] = run_stage("fit_logit", work, n, seed, args.budget)
        recs["statsmodels"] = run_stage("statsmodels", work, n, seed, args.budget)
        recs["pyfixest"] = run_stage("pyfixest", work, n, seed, args.budget)
        lf = {"status": f"not tried on the full panel (n > --cox-full-max {args.cox_full_max:,})"}
        if n <= args.cox_full_max:
            lf = run_stage("lifelines", work, n, seed, args.budget)
        if lf["status"] != "ok":
            env = dict(os.environ, SOFEVAL_BENCH_COX_FRACTION=str(args.cox_fraction))
            lf_sub = run_stage("lifelines", work, n, seed, args.budget, env)
            lf_sub["full_panel_attempt"] = lf["status"]
            lf = lf_sub
        recs["lifelines"] = lf
    else:
        for name in ("statsmodels", "pyfixest", "lifelines"):
            why = "--no-compare" if args.no_compare else f"--compare-max {args.compare_max:,}"
            recs[name] = {"stage": name, "label": STAGES[name][0], "n_spells": n,
                          "status": f"skipped (n > compare limit; {why})"}
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"n_spells": n, "stages": recs, "derived": derive(recs)}


def _ok(recs: dict[str, Any], name: str) -> bool:
    return name in recs and recs[name].get("status") == "ok"


def derive(recs: dict[str, Any]) -> dict[str, Any]:
    """Increments, ratios and target checks of one size."""
    d: dict[str, Any] = {}
    w = {k: v["wall_s"] for k, v in recs.items() if v.get("status") == "ok" and "wall_s" in v}
    if "fit_cluster" in w:
        if "fit_wild" in w:
            d["wild_increment_s"] = round(w["fit_wild"] - w["fit_cluster"], 3)
        if "fit_ri" in w:
            d["ri_increment_s"] = round(w["fit_ri"] - w["fit_cluster"], 3)
    if "jobcentre" in w and "jobcentre_noplacebo" in w:
        d["placebo_increment_s"] = round(w["jobcentre"] - w["jobcentre_noplacebo"], 3)
    if "run_cli" in w:
        run = w["run_cli"]
        d["run_s"] = run
        d["run_peak_gb"] = round(_peak_mb(recs["run_cli"]) / 1024, 2)
        if "wild_increment_s" in d and "placebo_increment_s" in d:
            extra = max(d["wild_increment_s"], 0) + max(d["placebo_increment_s"], 0)
            d["bootstrap_placebo_overhead"] = round(extra / max(run - extra, 1e-9), 3)
            if "ri_increment_s" in d:
                extra_ri = extra + max(d["ri_increment_s"], 0)
                d["bootstrap_placebo_ri_overhead"] = round(extra_ri / max(run - extra_ri, 1e-9), 3)
    if "run_cli_parquet" in w:
        d["run_parquet_s"] = w["run_cli_parquet"]
        d["run_parquet_peak_gb"] = round(_peak_mb(recs["run_cli_parquet"]) / 1024, 2)
    if "cells" in w and "fit_cluster" in w:
        d["sofeval_cells_plus_fit_s"] = round(w["cells"] + w["fit_cluster"], 3)
    for other, ref in (("statsmodels", "fit_cluster"), ("pyfixest", "fit_logit"),
                       ("lifelines", "fit_cluster")):
        if other in w and ref in w:
            o = recs[other]
            d[f"{other}_fit_ratio"] = round(w[other] / w[ref], 1)
            e2e_other = w[other] + o.get("panel_build_s", 0) + o.get("design_s", 0)
            e2e_sof = w[ref] + w.get("cells", 0)
            d[f"{other}_end_to_end_ratio"] = round(e2e_other / e2e_sof, 1)
            d[f"{other}_max_abs_coef_diff"] = o.get("max_abs_coef_diff")
    return d


# ======================================================================================
# Markdown
# ======================================================================================


def _fmt_s(rec: dict[str, Any]) -> str:
    if rec.get("status") != "ok":
        return rec.get("status", "n/a")
    return f"{rec['wall_s']:.2f}"


def _peak_mb(rec: dict[str, Any]) -> float:
    """Peak memory of a record: its RSS peak, or the summed PSS of its process tree if larger."""
    return float(max(rec["peak_rss_mb"], rec.get("peak_pss_tree_mb", 0.0)))


def _fmt_mb(rec: dict[str, Any]) -> str:
    if rec.get("status") != "ok" or "peak_rss_mb" not in rec:
        return "–"
    return f"{_peak_mb(rec):,.0f}"


def _col(size: dict[str, Any]) -> str:
    tag = size.get("tag")
    return f"{size['n_spells']:,} spells" + (f" ({tag})" if tag else "")


def _met(ok: bool | None) -> str:
    return "n/a (not measured)" if ok is None else ("**met**" if ok else "**not met**")


KEEP_MARKER = "<!-- hand-written analysis below: kept by run_benchmarks.py -->"


def _write_page(path: Path, text: str) -> None:
    """Write the generated page, keeping a hand-written tail after :data:`KEEP_MARKER`."""
    if path.is_file():
        old = path.read_text(encoding="utf-8")
        if KEEP_MARKER in old:
            text = text + "\n" + KEEP_MARKER + old.split(KEEP_MARKER, 1)[1]
    path.write_text(text, encoding="utf-8")


def markdown(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    sizes = result["sizes"]
    lines = [
        "# Performance",
        "",
        "The figures and tables of this page are written by `make bench` (the benchmarks in",
        "`benchmarks/`). They were produced by",
        "",
        "```bash",
        command,
        "```",
        "",
        f"on {m['date']}. The JSON with every figure is `{result['json_path']}`.",
        "",
        "## Machine",
        "",
        f"- {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB memory; **shared**: other",
        "  processes (test suites, other engineers' jobs) ran concurrently, so wall times are",
        f"  noisy upwards (load average at start {m['loadavg_at_start']}).",
        f"- Python {m['python']} on {m['platform']}; BLAS: {m['blas']}.",
        f"- sofeval source at the start of the run: {m.get('git', 'not recorded')}.",
        "- " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "",
        "## How it is measured",
        "",
        "- Data: `sofeval.data.synthetic.simulate(\"report\", n, seed="
        f"{result['seed']})`, written with `write_csv` and read back by the load stage.",
        "- Every stage runs in a **fresh Python subprocess**: its inputs (validated study or",
        "  cells) are unpickled first and not timed; then the kernel's peak-RSS counter is reset",
        "  (`/proc/self/clear_refs`), the stage is timed once with `time.perf_counter`, and the",
        "  peak is `VmHWM` — the resident high-water mark while the stage ran, *including* the",
        "  inputs it holds (a stage's forked helper, see `sofeval.runtime`, is not in it).",
        "  The whole run is the CLI as a child process; its peak is the child's `ru_maxrss`",
        "  (from `os.wait4`), interpreter and imports included, or, if larger, the largest sum",
        "  of PSS over the CLI process and its forked helpers (sampled every 0.5 s; PSS shares",
        "  copy-on-write pages, so the sum is the memory they hold together).",
        "- Single runs, no repetition: treat differences below ~10 % as noise.",
        "- Comparisons use the person-week panel (`sofeval.panel.build.build_panel`) with the same",
        "  regressors as the default model (week blocks, jobcentre, calendar month, `D_early`,",
        "  `D_late`); statsmodels and lifelines are compared with sofeval's cloglog fit,",
        "  pyfixest (`feglm`, logit, jobcentre and month absorbed) with",
        "  `estimate_effects(..., family=\"logit\")`. Time budget per comparison: "
        f"{result['budget_s']:.0f} s.",
        "",
        "## Stages",
        "",
    ]
    head = "| stage | " + " | ".join(f"{_col(s)}: s | peak MB" for s in sizes) + " |"
    lines += [head, "|---|" + "---:|---:|" * len(sizes)]
    names = ["generate", *CORE, "run_cli", "run_cli_parquet"]
    for name in names:
        label = next((s["stages"][name]["label"] for s in sizes if name in s["stages"]),
                     STAGES.get(name, (name,))[0])
        cells = []
        for s in sizes:
            rec = s["stages"].get(name, {"status": "not run"})
            cells += [_fmt_s(rec), _fmt_mb(rec)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Derived (seconds; increments are differences of two single runs):", ""]
    lines += ["| | " + " | ".join(_col(s) for s in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for key, label in (
        ("wild_increment_s", "wild bootstrap (999), added to the fit"),
        ("ri_increment_s", "randomisation inference (999), added to the fit"),
        ("placebo_increment_s", "placebo-in-space, added to the per-jobcentre model"),
        ("bootstrap_placebo_overhead", "(wild + placebo) / (run without them)"),
        ("bootstrap_placebo_ri_overhead", "(wild + placebo + RI) / (run without them)"),
    ):
        vals = [s.get("derived", {}).get(key) for s in sizes]
        shown = ["–" if v is None else (f"{v:.0%}" if "overhead" in key else f"{v:.1f}")
                 for v in vals]
        lines.append(f"| {label} | " + " | ".join(shown) + " |")
    for s in sizes:
        g = s["stages"].get("generate", {})
        if g.get("status") == "ok":
            c = s["stages"].get("cells", {})
            lines.append("")
            lines.append(
                f"At {s['n_spells']:,} spells: CSV writing took {g.get('write_csv_s')} s "
                f"(not in the table); {c.get('person_weeks', 0):,} person-weeks in "
                f"{c.get('n_cells', 0):,} cells."
            )

    lines += ["", "## Comparison with general-purpose libraries", ""]
    lines += ["| n spells | library | status | panel rows | fit s | peak MB | fit time ratio "
              "to sofeval | end-to-end ratio | max abs diff D_early/D_late |",
              "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for s in sizes:
        d = s.get("derived", {})
        for lib in ("statsmodels", "pyfixest", "lifelines"):
            rec = s["stages"].get(lib)
            if rec is None:
                continue
            ok = rec.get("status") == "ok"
            rows = rec.get("rows_fitted", rec.get("panel_rows", "–"))
            frac = rec.get("spell_fraction", 1.0)
            status = rec.get("status", "")
            if ok and frac < 1.0:
                status = (f"ok on a {frac:.0%} spell subsample; full panel: "
                          f"{rec.get('full_panel_attempt')}; coefficients compared with the "
                          "full-data cloglog fit")
            diff = d.get(f"{lib}_max_abs_coef_diff")
            lines.append(
                f"| {s['n_spells']:,} | {lib} | {status} | "
                f"{rows if isinstance(rows, str) else f'{rows:,}'} | "
                f"{rec['wall_s'] if ok else '–'} | {_fmt_mb(rec)} | "
                f"{d.get(f'{lib}_fit_ratio', '–')} | {d.get(f'{lib}_end_to_end_ratio', '–')} | "
                f"{'–' if diff is None else f'{diff:.2e}'} |"
            )
    lines += [
        "",
        "Fit time ratio: the library's fit on the panel divided by sofeval's fit on cells",
        "(`estimate_effects(sc, inference=(\"cluster\",))`; logit for pyfixest). End-to-end",
        "ratio: (panel build + design + fit) divided by (spells -> cells + fit). The",
        "lifelines Cox model has a per-week baseline rather than week blocks, so its",
        "coefficients differ from the cloglog ones by model, not by numerics; its ratio",
        "compares different amounts of data when a subsample was used.",
    ]
    lines += ["", "## Targets of the issue", "", "| target | measured | status |", "|---|---|---|"]
    for row in targets(result):
        lines.append(f"| {row[0]} | {row[1]} | {row[2]} |")
    profs = [s["stages"]["profile"] for s in sizes
             if s["stages"].get("profile", {}).get("status") == "ok"]
    prof = max(profs, key=lambda r: r["n_spells"]) if profs else None
    if prof is not None:
        lines += [
            "",
            f"## Profile of the whole run ({prof['n_spells']:,} spells)",
            "",
            f"`cProfile` of `sofeval.cli.main(['run', ...])` in one process: {prof['wall_s']} s "
            "wall under the profiler (profiling overhead included).",
            "",
            "sofeval functions by cumulative time:",
            "",
            "| function | calls | cumulative s | share of run | own s |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in prof["top_cumulative_sofeval"]:
            lines.append(f"| `{r['function']}` | {r['ncalls']:,} | {r['cumtime_s']} | "
                         f"{r['cum_share']:.0%} | {r['tottime_s']} |")
        lines += ["", "All functions by own (self) time:", "",
                  "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|"]
        for r in prof["top_tottime"]:
            lines.append(f"| `{r['function']}` | {r['ncalls']:,} | {r['tottime_s']} | "
                         f"{r['cumtime_s']} |")
    if result.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {x}" for x in result["notes"]]
    return "\n".join(lines) + "\n"


def targets(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    by_n = {s["n_spells"]: s for s in result["sizes"]}
    out: list[tuple[str, str, str]] = []
    big = by_n.get(1_500_000)
    d = big.get("derived", {}) if big else {}
    if "run_s" in d:
        out.append((f"whole run at 1.5M spells < {TARGET_RUN_S:.0f} s",
                    f"{d['run_s']:.1f} s", _met(d["run_s"] < TARGET_RUN_S)))
        out.append((f"whole run at 1.5M spells < {TARGET_RUN_GB:.0f} GB",
                    f"{d['run_peak_gb']:.2f} GB", _met(d["run_peak_gb"] < TARGET_RUN_GB)))
    else:
        status = big["stages"].get("run_cli", {}).get("status") if big else "not run"
        out.append(("whole run at 1.5M spells < 60 s and < 6 GB", str(status), _met(None)))
    if "run_parquet_s" in d:
        out.append((f"whole run at 1.5M spells < {TARGET_RUN_S:.0f} s, Parquet inputs",
                    f"{d['run_parquet_s']:.1f} s", _met(d["run_parquet_s"] < TARGET_RUN_S)))
        out.append((f"whole run at 1.5M spells < {TARGET_RUN_GB:.0f} GB, Parquet inputs",
                    f"{d['run_parquet_peak_gb']:.2f} GB",
                    _met(d["run_parquet_peak_gb"] < TARGET_RUN_GB)))
    for s in result["sizes"]:
        rd = s.get("derived", {})
        tag = _col(s)
        if str(s["stages"].get("pyfixest", {}).get("status", "")).startswith("skipped (n"):
            continue  # comparisons not attempted at this size
        r_fit = rd.get("statsmodels_fit_ratio")
        r_e2e = rd.get("statsmodels_end_to_end_ratio")
        diff = rd.get("statsmodels_max_abs_coef_diff")
        sm_status = s["stages"].get("statsmodels", {}).get("status", "not run")
        if r_fit is None:
            out.append((f"default fit ≥ {TARGET_SPEEDUP_SM:.0f}x faster than statsmodels "
                        f"({tag})", str(sm_status), _met(None)))
        else:
            both = min(r_fit, r_e2e or r_fit) >= TARGET_SPEEDUP_SM
            one = max(r_fit, r_e2e or r_fit) >= TARGET_SPEEDUP_SM
            out.append((f"default fit ≥ {TARGET_SPEEDUP_SM:.0f}x faster than statsmodels "
                        f"({tag})", f"fit {r_fit}x, end-to-end {r_e2e}x",
                        _met(both) + (" (met on one ratio only)" if one and not both else "")))
            out.append((f"coefficients equal to statsmodels within {TARGET_COEF_TOL:g} ({tag})",
                        "–" if diff is None else f"{diff:.2e}",
                        _met(None if diff is None else diff <= TARGET_COEF_TOL)))
        r_pf = rd.get("pyfixest_fit_ratio")
        r_pf_e2e = rd.get("pyfixest_end_to_end_ratio")
        pf_status = s["stages"].get("pyfixest", {}).get("status", "not run")
        out.append((f"faster than pyfixest ({tag})",
                    str(pf_status) if r_pf is None else f"fit {r_pf}x, end-to-end {r_pf_e2e}x",
                    _met(None if r_pf is None else min(r_pf, r_pf_e2e or r_pf) > 1.0)))
    for s in result["sizes"]:
        ov = s.get("derived", {}).get("bootstrap_placebo_overhead")
        out.append((f"wild bootstrap + placebo add ≤ {TARGET_OVERHEAD:.0%} to the run "
                    f"({_col(s)})",
                    "–" if ov is None else f"{ov:.0%}",
                    _met(None if ov is None else ov <= TARGET_OVERHEAD)))
    return out


# ======================================================================================


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[60_000, 100_000, 1_500_000],
                   help="spell counts; 60k is the largest where statsmodels fits in 24 GB")
    p.add_argument("--quick", action="store_true", help="20k-spell smoke run")
    p.add_argument("--out", default="docs/performance.md")
    p.add_argument("--json", dest="json_out", default="benchmarks/results/bench.json")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--budget", type=float, default=900.0,
                   help="time budget (s) per comparison; 4x per sofeval stage")
    p.add_argument("--compare-max", type=int, default=200_000,
                   help="run statsmodels/lifelines/pyfixest only up to this size")
    p.add_argument("--profile-max", type=int, default=200_000,
                   help="cProfile the whole run only up to this size")
    p.add_argument("--cox-fraction", type=float, default=0.2,
                   help="spell fraction for lifelines when the full panel exceeds the budget")
    p.add_argument("--cox-full-max", type=int, default=50_000,
                   help="lifelines on the full panel only up to this size, else the subsample")
    p.add_argument("--include-json", default=None,
                   help="prepend the sizes of an earlier bench JSON (e.g. a --quick run)")
    p.add_argument("--render-only", default=None, help="only rewrite --out from this JSON")
    p.add_argument("--no-compare", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work folder (CSVs, pickles)")
    p.add_argument("--work", default=None, help="work folder (default: a temporary folder)")
    # internal: one stage in this subprocess
    p.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    p.add_argument("--n-spells", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.stage:
        return _stage_main(args.stage, Path(args.work), args.n_spells, args.seed)

    sizes = [20_000] if args.quick else args.sizes
    argv_shown = list(sys.argv[1:] if argv is None else argv)
    command = " ".join([".venv/bin/python benchmarks/run_benchmarks.py", *argv_shown])
    work_root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sofeval-bench-"))
    result: dict[str, Any] = {
        "machine": machine(),
        "seed": args.seed,
        "budget_s": args.budget,
        "json_path": args.json_out,
        "command": command,
        "sizes": [],
        "notes": [],
    }
    json_path = ROOT / args.json_out  # an absolute path stays absolute
    md_path = ROOT / args.out
    if args.render_only:
        result = json.loads(Path(args.render_only).read_text(encoding="utf-8"))
        result["targets"] = targets(result)
        _write_page(md_path, markdown(result, result["command"]))
        return 0
    json_path.parent.mkdir(parents=True, exist_ok=True)
    if args.include_json:
        prev = json.loads(Path(args.include_json).read_text(encoding="utf-8"))
        for x in prev["sizes"]:
            x.setdefault("tag", f"run {prev['machine']['date'][11:16]}")
        result["sizes"].extend(prev["sizes"])
        prev_sizes = ", ".join(f"{x['n_spells']:,}" for x in prev["sizes"])
        result["notes"].append(
            f"Sizes {prev_sizes} come from an "
            f"earlier run on the same machine ({prev['machine']['date']}, `{prev['command']}`)."
        )
    try:
        for n in sizes:
            entry = bench_size(n, args.seed, args, work_root)
            entry["tag"] = f"run {result['machine']['date'][11:16]}"
            result["sizes"].append(entry)
            result["targets"] = targets(result)
            json_path.write_text(json.dumps(result, indent=1, default=float) + "\n", "utf-8")
            _write_page(md_path, markdown(result, command))
            _log(f"wrote {json_path} and {md_path}")
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
