"""Command line interface (placeholder, filled in by the integration)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sofeval`` command."""
    return 0
