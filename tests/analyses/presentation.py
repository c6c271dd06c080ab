"""The shared presentation check of every results object (the one results base)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sofeval.models import ResultsBase


def assert_shared_presentation(res: ResultsBase, *tables: pd.DataFrame) -> None:
    """The results base: the summary prints every number of ``tables`` (4 decimals), the
    HTML view is one ``<div>`` with tables, ``plot`` is a Figure outside pyplot."""
    assert isinstance(res, ResultsBase)
    text = res.summary()
    assert str(res) == text and text.splitlines()[0] == res.title
    tokens = set(text.split())
    for table in tables:
        values = table.select_dtypes("float").to_numpy().ravel()
        assert np.isfinite(values).any()
        for v in values[np.isfinite(values)]:
            assert f"{v:.4f}" in tokens, v
    page = res._repr_html_()
    assert page.startswith("<div>") and page.endswith("</div>") and "<table" in page
    first = tables[0].select_dtypes("float").to_numpy().ravel()
    assert f"{first[np.isfinite(first)][0]:.4f}" in page
    fig = res.plot(lang="da")
    assert isinstance(fig, Figure)
    assert fig.canvas.manager is None  # not registered with pyplot
    assert fig.axes
