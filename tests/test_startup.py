"""Start-up: ``sofeval --help`` and ``import sofeval`` load no heavy library; names resolve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "lifelines", "statsmodels", "linearmodels",
         "jinja2", "dask", "xlsxwriter", "openpyxl")


def _modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running ``code``."""
    listing = "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    script = f"{code}\nimport sys\n{listing}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, check=True)
    return set(out.stdout.split())


def test_help_loads_no_heavy_library() -> None:
    code = (
        "import contextlib, io\nfrom sofeval.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])"
    )
    assert not _modules_after(code) & set(HEAVY)


def test_front_door_names_load_on_use() -> None:
    assert not _modules_after("import sofeval") & set(HEAVY)
    loaded = _modules_after("import sofeval\nassert callable(sofeval.run_analysis)")
    assert "pandas" in loaded


def test_front_door_lists_every_name() -> None:
    import sofeval

    for name in sofeval.__all__:
        assert getattr(sofeval, name) is not None, name
    assert set(sofeval.__all__) <= set(dir(sofeval))
