"""Draw and render the report's figures in two lanes: :func:`render_figures`.

Drawing a figure and rendering it as PNG (layout, text extents, rasterising) is most of the
time of writing a report. The figures are independent, so half of them are drawn and
rendered in a forked child (:class:`sofeval.runtime.Background`) while this process does
the other half; only the base64 PNG text travels back. The PNG of a figure does not depend
on the lane that rendered it, so the report is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from sofeval.report.html import RenderedFigure, figure_png_base64
from sofeval.runtime import Background

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Work that draws one figure (``None``: nothing to draw).
FigureJob: TypeAlias = Callable[[], "Figure | None"]


def _render(jobs: Sequence[FigureJob]) -> list[str | None]:
    """Draw each figure and render it as base64 PNG text (``None`` where nothing is drawn)."""
    out: list[str | None] = []
    for job in jobs:
        fig = job()
        out.append(None if fig is None else figure_png_base64(fig))
    return out


def render_figures(
    jobs: Sequence[FigureJob], *, parallel: bool = True
) -> list[RenderedFigure | None]:
    """Draw and render figures, half of them in a forked second lane.

    Parameters
    ----------
    jobs
        Work drawing one figure each, in report order.
    parallel
        Render every second figure in a forked child (:class:`sofeval.runtime.Background`);
        ``False`` renders all of them here. The PNGs are the same either way.

    Returns
    -------
    list of RenderedFigure or None
        One per job, in order; ``None`` where a job drew nothing.

    Examples
    --------
    >>> render_figures([lambda: None], parallel=False)
    [None]
    """
    # every second figure: neighbours in a section are often alike in cost
    side_jobs = list(jobs[1::2])
    side = Background(lambda: _render(side_jobs), enabled=parallel and len(side_jobs) > 0)
    main = _render(list(jobs[0::2]))
    other = side.result()
    pngs: list[str | None] = [None] * len(jobs)
    pngs[0::2] = main
    pngs[1::2] = other
    return [None if png is None else RenderedFigure(png) for png in pngs]
