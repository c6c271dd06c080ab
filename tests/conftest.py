"""Fixtures shared by every test directory."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _nothing_left_frozen() -> Iterator[None]:
    """A command freezes its loaded study for the rest of the process (``freeze_loaded``).

    Tests run commands in one process, so each test unfreezes what it froze and restores
    the collector's thresholds.
    """
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
