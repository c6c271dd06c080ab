"""Write the API reference pages (docs/api/*.md) and their nav from the package layout.

Run after adding, moving or removing a module: ``python docs/scripts/gen_api_pages.py``.
One page per layer; each module of the layer gets a ``:::`` block (mkdocstrings). The nav
entries between the markers in mkdocs.yml are rewritten.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "sofeval"
API = ROOT / "docs" / "api"

#: (page, title, modules or a subpackage, what the layer is for), top of the stack first.
LAYERS: tuple[tuple[str, str, str | tuple[str, ...], str], ...] = (
    ("sofeval", "sofeval (front door)", ("sofeval",),
     "`import sofeval as sf` gives the entry points of every layer."),
    ("cli", "sofeval.cli, pipeline, montecarlo",
     ("sofeval.cli", "sofeval.pipeline.run", "sofeval.pipeline.schedule",
      "sofeval.pipeline.outputs", "sofeval.montecarlo", "sofeval.config"),
     "The command line on top; `sofeval run` (pipeline), the Monte Carlo harness and the "
     "`study.toml` settings below it."),
    ("engines", "sofeval.engines", "engines",
     "Where the work that grows with the data runs: in process or on a Dask cluster."),
    ("analyses", "sofeval.analyses", "analyses",
     "The SOF specification and every analysis built on it (imports panel, models, report)."),
    ("panel", "sofeval.panel", "panel",
     "Study design, per-spell frame, person-week rows and collapsed cells (imports data)."),
    ("models", "sofeval.models", "models",
     "The domain-free engine: families, design, GLM on cells, covariance, bootstrap, "
     "p-values, results, Cox, frailty. Imports nothing of the study."),
    ("report", "sofeval.report", "report",
     "Labels (da/en), figures, disclosure control, tables and the HTML report; takes "
     "DataFrames only."),
    ("data", "sofeval.data", "data",
     "The data contract, validation, readers and register mapping, synthetic data."),
    ("runtime", "sofeval.runtime, errors", ("sofeval.runtime", "sofeval.errors"),
     "Shared by every layer: the forked second lane, the progress default, caches; errors "
     "and warnings."),
)


def modules_of(spec: str | tuple[str, ...]) -> list[str]:
    """Dotted module names of a layer (a subpackage: its __init__ first, then its modules)."""
    if isinstance(spec, tuple):
        return [m for m in spec if (SRC.parent / (m.replace(".", "/") + ".py")).exists()
                or (SRC.parent / m.replace(".", "/") / "__init__.py").exists()]
    folder = SRC / spec
    if not folder.is_dir():
        return []
    mods = [f"sofeval.{spec}.{p.stem}" for p in sorted(folder.glob("*.py"))
            if p.name != "__init__.py"]
    return [f"sofeval.{spec}", *mods]


def summary_line(module: str) -> str:
    """First line of a module's docstring."""
    path = SRC.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = SRC.parent / module.replace(".", "/") / "__init__.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def main() -> None:
    """Write the pages and the nav."""
    API.mkdir(exist_ok=True)
    for old in API.glob("*.md"):
        old.unlink()
    nav = ["      - Overview: api/index.md"]
    rows = []
    for page, title, spec, about in LAYERS:
        mods = modules_of(spec)
        if not mods:
            continue
        body = [f"# {title}", "", about, ""]
        body += ["| module | what it holds |", "|---|---|"]
        body += [f"| `{m}` | {summary_line(m)} |" for m in mods]
        body.append("")
        for m in mods:
            opts = "" if m.count(".") >= 2 or m == "sofeval" or not isinstance(spec, str) else \
                "\n    options:\n      members: false"
            if m == "sofeval":
                opts = "\n    options:\n      members: false"
            body += [f"::: {m}{opts}", ""]
        (API / f"{page}.md").write_text("\n".join(body), encoding="utf-8")
        nav.append(f"      - {title}: api/{page}.md")
        rows.append(f"| [{title}]({page}.md) | {about} |")
    index = [
        "# API reference",
        "",
        "One page per layer, top of the stack first; imports run downwards only (the "
        "import-linter contract in `pyproject.toml`, checked by `make lint` and `make test`).",
        "",
        "| layer | what it is for |",
        "|---|---|",
        *rows,
        "",
    ]
    (API / "index.md").write_text("\n".join(index), encoding="utf-8")
    yml = ROOT / "mkdocs.yml"
    text = yml.read_text(encoding="utf-8")
    block = "\n".join(nav)
    text = re.sub(r"(  - API reference:\n)(?:      - .*\n)+", lambda m: m.group(1) + block + "\n",
                  text)
    yml.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
