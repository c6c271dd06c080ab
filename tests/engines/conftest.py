"""Fixtures of the engine tests: one two-process dask cluster per test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A client of a local cluster of two worker processes (started once per module)."""
    pytest.importorskip("distributed")
    from sofeval.engines import dask_client

    with dask_client(workers=2) as c:
        yield c
