"""Benchmark of the dask engine at register scale: ``sofeval run --engine dask`` on N spells.

Steps (each a child process, timed, its peak memory sampled):

1. ``sofeval synth --format parquet --partition-by jobcentre --n-spells N`` (chunks of
   ``--chunk-size`` spells; skipped when the data of the same N and seed are already there);
2. ``sofeval run --engine dask --workers W`` on the hive-partitioned datasets, writing every
   output;
3. the estimates of ``effects.csv``, ``jobcentre_effects.csv`` and ``dose_response.csv``
   against the aggregated truth of the generator (``truth_estimands.csv``).

Memory is the largest sum of the proportional set size (PSS) over the run's process tree,
sampled every 0.5 s: the client, the scheduler (a thread of the client with a local cluster),
the nannies and the worker processes, so every byte any of them holds counts once. The load
average of the (shared) machine is recorded before and after.

Run ``python benchmarks/bench_dask.py --n-spells 15000000`` (about 1.3 GB of data in
``--work``); the result goes to ``benchmarks/results/bench_dask_<N>.json`` and a summary line
to stdout. ``make bench`` does not run it (it takes minutes).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from harness import tree_pss_mb

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SEED = 20171001
TABLES = ("spells", "meetings", "interventions")


def run_child(cmd: list[str], log: Path) -> dict[str, Any]:
    """Run ``cmd`` (output to ``log``); wall time, status and peak tree PSS."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    peak = 0.0
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        polls = 0
        while proc.poll() is None:
            if polls % 10 == 0:
                peak = max(peak, tree_pss_mb(proc.pid))
            polls += 1
            time.sleep(0.05)
    return {
        "cmd": " ".join(cmd),
        "status": proc.returncode,
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_pss_tree_mb": round(peak, 1),
    }


def _sofeval() -> list[str]:
    return [sys.executable, "-m", "sofeval.cli"]


def generate(data: Path, n: int, chunk: int) -> dict[str, Any] | None:
    """Write the synthetic datasets unless the same N and seed are there already."""
    stamp = data / "stamp.json"
    want = {"n_spells": n, "seed": SEED, "scenario": "report"}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return None
    cmd = [*_sofeval(), "synth", "--format", "parquet", "--partition-by", "jobcentre",
           "--n-spells", str(n), "--seed", str(SEED), "--chunk-size", str(chunk),
           "--out", str(data)]
    data.mkdir(parents=True, exist_ok=True)
    rec = run_child(cmd, data.parent / "synth.log")
    if rec["status"] == 0:
        stamp.write_text(json.dumps(want))
    return rec


def against_truth(out: Path, data: Path) -> dict[str, Any]:
    """Pooled, per-jobcentre and dose-response estimates against the generator's truth."""
    truth = pd.read_csv(data / "truth_estimands.csv").set_index(["estimand", "jobcentre"])
    t = truth["value"]
    eff = pd.read_csv(out / "effects.csv")
    pooled = [
        {"estimand": r.estimand, "coef": r.coef, "se": r.se, "truth": float(t[(r.estimand, "ALL")]),
         "z": (r.coef - float(t[(r.estimand, "ALL")])) / r.se}
        for r in eff.itertuples()
    ]
    jce = pd.read_csv(out / "jobcentre_effects.csv").dropna(subset=["coef", "se"])
    truth_j = [float(t.get((r.estimand, r.jobcentre), np.nan)) for r in jce.itertuples()]
    z = (jce["coef"].to_numpy() - np.array(truth_j)) / jce["se"].to_numpy()
    dose = pd.read_csv(out / "dose_response.csv")
    lam = {"weeks_1_7": "lambda_early", "weeks_8_plus": "lambda_late"}
    dose_rows = [
        {"window": r.window, "coef": r.coef, "se": r.se, "truth": float(t[(lam[r.window], "ALL")]),
         "z": (r.coef - float(t[(lam[r.window], "ALL")])) / r.se}
        for r in dose.itertuples() if r.window in lam
    ]
    return {
        "pooled": pooled,
        "jobcentres": {
            "n": int(np.isfinite(z).sum()),
            "mean_z": float(np.nanmean(z)),
            "sd_z": float(np.nanstd(z, ddof=1)),
            "share_abs_z_below_1_96": float(np.nanmean(np.abs(z) < 1.96)),
        },
        "dose_response": dose_rows,
    }


def machine() -> dict[str, Any]:
    """The machine and the state of the repository."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(mem, 1),
        "python": platform.python_version(),
        "git": head + (" + uncommitted changes in src/" if dirty else ""),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    """Generate (if needed), run, compare, record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-spells", type=int, default=15_000_000)
    p.add_argument("--chunk-size", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("/tmp/sofeval_bench_dask"))
    args = p.parse_args(argv)
    data = args.work / f"data_{args.n_spells}"
    out = args.work / f"out_{args.n_spells}"
    rec: dict[str, Any] = {"n_spells": args.n_spells, "workers": args.workers,
                           "machine": machine(), "load_before": os.getloadavg()}
    rec["synth"] = generate(data, args.n_spells, args.chunk_size)
    tables = [f"--{t}={data / t}" for t in TABLES]
    tables += [f"--programme={data / 'programme.parquet'}",
               f"--monitoring={data / 'monitoring.parquet'}"]
    cmd = [*_sofeval(), "run", "--engine", "dask", "--workers", str(args.workers), *tables,
           "--out", str(out)]
    rec["load_before_run"] = os.getloadavg()
    rec["run"] = run_child(cmd, args.work / f"run_{args.n_spells}.log")
    rec["load_after"] = os.getloadavg()
    if rec["run"]["status"] == 0:
        rec["truth"] = against_truth(out, data)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_dask_{args.n_spells}.json"
    path.write_text(json.dumps(rec, indent=2, default=float) + "\n")
    r = rec["run"]
    print(
        f"{args.n_spells:,} spells, {args.workers} workers: {r['wall_s']} s, peak "
        f"{r['peak_pss_tree_mb'] / 1024:.2f} GB (summed PSS), status {r['status']}, load "
        f"{rec['load_before_run'][0]:.1f} -> {rec['load_after'][0]:.1f}; written to {path}"
    )
    return int(r["status"] != 0)


if __name__ == "__main__":
    sys.exit(main())
