"""Secondary suppression on empty tables: no relation, no error."""

from __future__ import annotations

import pandas as pd
import pytest

from sofeval.errors import SofevalError
from sofeval.report import sum_relations


def test_empty_parts_and_total_declare_nothing() -> None:
    empty = pd.DataFrame({"n": pd.Series([], dtype="int64")})
    assert sum_relations("a", empty, "b", empty, columns=["n"]) == []


def test_empty_total_with_parts_is_still_an_error() -> None:
    parts = pd.DataFrame({"n": [3, 4]})
    empty = pd.DataFrame({"n": pd.Series([], dtype="int64")})
    with pytest.raises(SofevalError, match="must be one row"):
        sum_relations("a", parts, "b", empty, columns=["n"])
