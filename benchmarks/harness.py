"""Measurement helpers shared by the benchmark scripts (imported as ``harness``).

The scripts run as ``python benchmarks/<script>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path


def tree_pss_mb(pid: int) -> float:
    """Proportional set size (MB) of ``pid`` and its descendants, 0 once it is gone.

    PSS shares each copy-on-write page among the processes mapping it, so the sum over a
    process and its forked children is the memory they hold together (their RSS would
    count the shared pages twice).
    """
    total_kb = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total_kb / 1024.0
