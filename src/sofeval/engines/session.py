"""The dask client of a run: connecting, a throw-away local cluster, mapping, tree reductions.

``dask`` and ``distributed`` are optional (``pip install "sofeval[dask]"``); they are imported
when a session starts, so the rest of sofeval works without them.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sofeval.errors import OptionError
from sofeval.runtime import show_progress

__all__ = [
    "DEFAULT_WORKERS",
    "FAN_IN",
    "dask_client",
    "gather",
    "getitem",
    "map_on_client",
    "require_distributed",
    "tree_reduce",
]

#: Worker processes of the local cluster when none are asked for.
DEFAULT_WORKERS = 2
#: Summaries combined by one task of a tree reduction.
FAN_IN = 8

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def require_distributed() -> Any:
    """The ``distributed`` module, or an :class:`OptionError` saying how to install it."""
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OptionError(
            'engine="dask" needs dask and distributed: pip install "sofeval[dask]".'
        ) from exc
    return distributed


@contextmanager
def dask_client(
    client: Any = None, scheduler: str | None = None, workers: int | None = None
) -> Iterator[Any]:
    """The client of a run: the one given, one connected to ``scheduler``, or a local cluster.

    A client given is used and left open. With ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``) a client connects to it and closes at the end. Otherwise a
    ``LocalCluster`` of ``workers`` processes (default :data:`DEFAULT_WORKERS`), one thread
    each and one BLAS thread per process, starts and stops with the run.

    Parameters
    ----------
    client
        A ``distributed.Client``.
    scheduler
        Address of a running scheduler.
    workers
        Worker processes of the local cluster.

    Yields
    ------
    distributed.Client
    """
    if client is not None:
        yield client
        return
    distributed = require_distributed()
    if scheduler is not None:
        if workers is not None:
            raise OptionError("give either scheduler= (a running cluster) or workers=, not both.")
        with distributed.Client(scheduler) as c:
            yield c
        return
    n = DEFAULT_WORKERS if workers is None else int(workers)
    if n < 1:
        raise OptionError(f"workers={workers!r} must be a positive number of processes.")
    for var in _THREAD_VARS:  # spawned workers inherit the environment
        os.environ.setdefault(var, "1")
    with (
        distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def getitem(client: Any, future: Any, key: Any) -> Any:
    """A future of ``future[key]`` (computed where ``future`` lives)."""
    return client.submit(operator.getitem, future, key, pure=False)


def gather(client: Any, futures: Sequence[Any], progress: bool | None, desc: str) -> list[Any]:
    """Results of ``futures`` in order, with a progress bar on a terminal."""
    if show_progress(progress) and futures:
        from distributed import as_completed
        from tqdm.auto import tqdm

        for _ in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="part"):
            pass
    return list(client.gather(list(futures)))


def tree_reduce(client: Any, fn: Callable[..., Any], futures: Sequence[Any]) -> Any:
    """Combine ``futures`` with ``fn(*group)`` in groups of :data:`FAN_IN`, level by level.

    The grouping depends only on the number of futures, so the result is the same on every
    run. Returns the future of the final value.
    """
    level = list(futures)
    if not level:
        return client.submit(fn, pure=False)
    while len(level) > 1:
        level = [
            client.submit(fn, *level[i : i + FAN_IN], pure=False)
            for i in range(0, len(level), FAN_IN)
        ]
    return level[0]


def map_on_client(
    client: Any, fn: Callable[[Any], Any], items: Sequence[Any], progress: bool | None, desc: str
) -> list[Any]:
    """``[fn(x) for x in items]`` as tasks on ``client``, results in order."""
    futures = client.map(fn, list(items), pure=False)
    return gather(client, futures, progress, desc)
