"""Execute every notebook in ``notebooks/`` and fail on any cell error.

The notebooks are stored without outputs; this test runs them top to bottom with nbclient
in a ``python3`` kernel, with the repository root as working directory (the notebooks read
``data/synthetic/``). On a fresh machine without a registered ``python3`` kernel spec, a
temporary one pointing at the running interpreter is created and made visible through
``JUPYTER_PATH`` for the duration of the test; nothing is installed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("jupyter_client.kernelspec")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

#: Generous per-cell limit: the notebooks are meant to run in well under a minute in total,
#: but a loaded CI machine (tests run with ``-n 2``) must not turn slowness into failures.
CELL_TIMEOUT_S = 300
KERNEL_NAME = "python3"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Make sure a ``python3`` kernel spec running this interpreter can be found."""
    old_path = os.environ.get("JUPYTER_PATH")
    if KERNEL_NAME not in kernelspec.find_kernel_specs():
        base = tmp_path_factory.mktemp("jupyter")
        spec_dir = base / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (sofeval tests)",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (str(base), old_path) if p
        )
    # Non-interactive plotting, no progress bars in the kernel (inherited by the kernel).
    old_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        yield
    finally:
        for name, value in (("JUPYTER_PATH", old_path), ("MPLBACKEND", old_backend)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_notebooks_exist() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01_quickstart.ipynb",
        "02_reproducing_sof.ipynb",
        "03_own_register_extract.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has stored outputs"
            assert cell.execution_count is None, f"{path.name}: stored execution count"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, kernel_env: None) -> None:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(ROOT)}},
        allow_errors=False,
    )
    try:
        client.execute(cwd=str(ROOT))
    except nbclient.exceptions.CellExecutionError as exc:  # pragma: no cover - on failure
        pytest.fail(f"{path.name} failed:\n{exc}")
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
