"""The whole ``sofeval run`` at register scale, by commit (``make bench``).

Usage::

    python benchmarks/bench_run.py                      # 1.5 M spells, data generated once
    python benchmarks/bench_run.py --data DIR           # CSV tables already written there
    python benchmarks/bench_run.py --render-only        # rewrite the page from the JSON

The CLI runs as a child process on the CSV tables of ``sofeval synth --scenario report
--n-spells 1500000 --seed 20171001`` in three variants:

* ``first wave``: the analyses of the first wave only (``--skip`` every second-wave
  analysis): pooled and per-jobcentre effects with wild bootstrap and randomisation
  inference, dose-response, monitoring, report;
* ``first wave + issue 15``: adds the destination effects, counterfactual durations and
  recurrence (``--skip`` the credibility checks);
* ``every analysis``: the default run.

Each variant is timed ``--repeats`` times (the fastest counts: the host is shared, so
slower repeats measure other load). Per run: wall seconds, CPU seconds of the CLI and its
forked lane (``os.wait4`` resource usage, which includes waited-for children), and the
largest sum of PSS over the process tree (sampled every 0.5 s). Every measurement is kept
in ``benchmarks/results/bench_run.json`` under the commit it measured, so the page shows
each commit's figures beside the previous ones.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import tree_pss_mb

ROOT = Path(__file__).resolve().parents[1]
SEED = 20171001
TABLES = ("spells", "programme", "meetings", "interventions", "monitoring")
SECOND_WAVE = ("destinations", "recurrence", "event_study", "placebo_time", "homogeneity",
               "subgroups")
ISSUE_15 = ("destinations", "recurrence")  # durations follow the destination models
VARIANTS: dict[str, tuple[str, ...]] = {
    "first wave": SECOND_WAVE,
    "first wave + issue 15": tuple(a for a in SECOND_WAVE if a not in ISSUE_15),
    "every analysis": (),
}
#: Issue 17 item 5: the whole run at 1.5 M spells, every analysis.
TARGET_RUN_S = 15.0
#: Issue 15: the analyses of weeks, kroner and destinations grow a run by at most a quarter.
TARGET_GROWTH = 0.25
PAGE = ROOT / "docs" / "performance.md"
START, END = "<!-- bench_run:start -->", "<!-- bench_run:end -->"


def run_timed(cmd: list[str], log: Path, tree: Path = ROOT) -> dict[str, Any]:
    """Run ``cmd`` on the sources of ``tree``: status, wall and CPU s, peak PSS of the tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("CI", None)
    t0 = time.perf_counter()
    peak = 0.0
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tree)
        polls = 0
        while True:
            if polls % 10 == 0:
                peak = max(peak, tree_pss_mb(proc.pid))
            polls += 1
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "status": proc.returncode,
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "user_s": round(ru.ru_utime, 2),
        "sys_s": round(ru.ru_stime, 2),
        "peak_gb": round(peak / 1024.0, 2),
    }


def git_state(tree: Path = ROOT) -> str:
    """Short HEAD commit of ``tree``, marked when its src/ has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "src")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def generate(data: Path, n: int) -> None:
    """Write the report scenario's CSV tables unless the same size and seed are there."""
    stamp = data / "stamp.json"
    want = {"n_spells": n, "seed": SEED, "scenario": "report"}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return
    data.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sofeval.cli", "synth", "--scenario", "report",
           "--n-spells", str(n), "--seed", str(SEED), "--out", str(data)]
    rec = run_timed(cmd, data.parent / "synth.log")
    if rec["status"] != 0:
        raise SystemExit(f"sofeval synth failed: see {data.parent / 'synth.log'}")
    stamp.write_text(json.dumps(want))


def measure(data: Path, work: Path, repeats: int, tree: Path = ROOT) -> dict[str, Any]:
    """Every variant, ``repeats`` times; the fastest repeat of each counts."""
    out: dict[str, Any] = {}
    for name, skip in VARIANTS.items():
        runs = []
        for r in range(repeats):
            cmd = [sys.executable, "-m", "sofeval.cli", "run",
                   *(a for t in TABLES for a in (f"--{t}", str(data / f"{t}.csv"))),
                   "--out", str(work / "out")]
            if skip:
                cmd += ["--skip", ",".join(skip)]
            rec = run_timed(cmd, work / f"run_{len(out)}_{r}.log", tree)
            rec["load_1min"] = round(os.getloadavg()[0], 2)
            if rec["status"] != 0:
                raise SystemExit(f"sofeval run failed ({name}): see {work}")
            print(f"{name}: {rec}", file=sys.stderr, flush=True)
            runs.append(rec)
        best = min(runs, key=lambda x: x["wall_s"])
        out[name] = {**best, "repeats": [x["wall_s"] for x in runs],
                     "skip": list(skip)}
    return out


def page_section(history: list[dict[str, Any]]) -> str:
    """The Markdown of the page's section: every commit measured, newest last."""
    lines = [
        START,
        "## The whole run by commit (`benchmarks/bench_run.py`, part of `make bench`)",
        "",
        f"`sofeval run` on the CSV tables of the report scenario at "
        f"{history[-1]['n_spells']:,} spells, 999 bootstrap draws and permutations, as a "
        "child process; the "
        "fastest of the repeats; CPU is user + system time of the run and its forked lane; "
        "memory the largest sum of PSS over the process tree. The JSON with every repeat is "
        "`benchmarks/results/bench_run.json`.",
        "",
        "| commit | measured | spells | variant | wall s | median wall s | CPU s (user + sys) "
        "| peak GB | load |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for h in history:
        for name, rec in h["variants"].items():
            lines.append(
                f"| `{h['commit']}` | {h['date']} | {h['n_spells']:,} | {name} | "
                f"{rec['wall_s']:.1f} | {statistics.median(rec['repeats']):.1f} | "
                f"{rec['cpu_s']:.1f} ({rec['user_s']:.1f} + {rec['sys_s']:.1f}) | "
                f"{rec['peak_gb']:.2f} | {rec['load_1min']:.1f} |"
            )
    last = history[-1]["variants"]
    first = last["first wave"]["wall_s"]
    grow = last["first wave + issue 15"]["wall_s"] / first - 1
    grow_cpu = last["first wave + issue 15"]["cpu_s"] / last["first wave"]["cpu_s"] - 1
    grow_median = (statistics.median(last["first wave + issue 15"]["repeats"])
                   / statistics.median(last["first wave"]["repeats"]) - 1)
    full = last["every analysis"]["wall_s"]
    lines += [
        "",
        "Targets at the newest commit:",
        "",
        "| target | measured | status |",
        "|---|---|---|",
        f"| issue 15: destinations, durations and recurrence grow the run by ≤ "
        f"{TARGET_GROWTH:.0%} | wall +{grow:.0%} (median of the repeats +{grow_median:.0%}; "
        f"CPU +{grow_cpu:.0%}) | "
        f"{'**met**' if grow <= TARGET_GROWTH else 'not met'} |",
        f"| issue 17: the whole run, every analysis, < {TARGET_RUN_S:.0f} s | {full:.1f} s | "
        f"{'**met**' if full < TARGET_RUN_S else 'not met'} |",
        END,
    ]
    return "\n".join(lines)


def write_page(history: list[dict[str, Any]]) -> None:
    """Replace (or append) the section between the markers of docs/performance.md."""
    text = PAGE.read_text(encoding="utf-8")
    section = page_section(history)
    if START in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    PAGE.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Measure, record and render."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-spells", type=int, default=1_500_000)
    p.add_argument("--data", type=Path, default=None,
                   help="folder with the CSV tables (default: generated in --work)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sofeval-bench-run")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/bench_run.json")
    p.add_argument("--render-only", action="store_true")
    p.add_argument("--tree", type=Path, default=ROOT,
                   help="measure the sources of this checkout (e.g. a worktree of an earlier "
                   "commit), recorded under its commit")
    args = p.parse_args(argv)
    history: list[dict[str, Any]] = (
        json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else [])
    if not args.render_only:
        # byte-compiled as an installed package is (pip compiles on install); where
        # PYTHONDONTWRITEBYTECODE is set each run would otherwise compile every module again
        compileall.compile_dir(args.tree / "src", quiet=1)
        data = args.data or args.work / "data"
        if args.data is None:
            generate(data, args.n_spells)
        args.work.mkdir(parents=True, exist_ok=True)
        entry = {
            "commit": git_state(args.tree),
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "n_spells": args.n_spells,
            "nproc": os.cpu_count(),
            "variants": measure(data, args.work, args.repeats, args.tree),
        }
        history = [h for h in history
               if (h["commit"], h["n_spells"]) != (entry["commit"], entry["n_spells"])]
        history.append(entry)
        history.sort(key=lambda h: h["date"])
        args.json.write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")
    if history:
        write_page(history)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
