"""Runtime helpers shared by every layer: the forked second lane, the progress default, caches.

* :class:`Background` -- run one piece of work in a forked process beside the main one
  (a second lane on 2 cores);
* :func:`recorded` -- a result whose warnings are held back, to be issued where the work
  used to run (:class:`Recorded`);
* :func:`show_progress` -- the one rule for when long work shows a progress bar;
* :class:`IdCache` -- a cache keyed by the identity of a live object (weak reference);
* :func:`keep_freed_memory`, :func:`freeze_loaded` -- the memory settings of a
  register-scale command.

:class:`Background` starts ``fn()`` in a child made by ``fork``, so the child sees the
parent's data without copying or pickling it; only the (small) result travels back, pickled
through a pipe. Warnings raised in the child are re-issued in the parent, in order, and an
exception raised in the child is re-raised by :meth:`Background.result`. Where ``fork`` is not
available (Windows, macOS' default), inside a daemonic worker, or with ``enabled=False``,
``fn()`` simply runs in the calling process when the result is asked for: the results are the
same either way, only the wall time differs. While the two lanes run, each uses one BLAS
thread (``threadpoolctl``): two processes with a BLAS pool each on two cores oversubscribe
them, and the pools' busy-waiting cost about 15 % of a 1.5 M-spell run.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
import traceback
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from threadpoolctl import threadpool_limits

from sofeval.errors import SofevalError

T = TypeVar("T")
K = TypeVar("K")

#: Environment variable that turns the second lane off (``SOFEVAL_SERIAL=1``).
SERIAL_ENV = "SOFEVAL_SERIAL"


def fork_available() -> bool:
    """Whether :class:`Background` can fork here (POSIX ``fork``, not a daemonic worker)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
        and os.environ.get(SERIAL_ENV, "") in ("", "0")
        and (os.cpu_count() or 1) > 1
    )


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a :class:`SofevalError` carrying its text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any pickling failure
        return SofevalError(f"{type(exc).__name__}: {exc}")
    return exc


def _warning_records(caught: list[warnings.WarningMessage]) -> list[tuple[Any, ...]]:
    out = []
    for w in caught:
        message: Warning | str = w.message
        try:
            pickle.dumps(message)
        except Exception:  # noqa: BLE001
            message = str(message)
        out.append((message, w.category, w.filename, w.lineno))
    return out


def _child(fn: Callable[[], Any], conn: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        try:
            with threadpool_limits(limits=1):  # the parent's lane holds the other core
                payload: tuple[str, Any] = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            exc.add_note("raised in sofeval's background process:\n" + traceback.format_exc())
            payload = ("error", _portable(exc))
    conn.send((*payload, _warning_records(caught)))
    conn.close()


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """A result with the warnings its computation raised, held back to be issued later.

    Work moved earlier to fill an idle lane keeps the files of a run identical when its
    warnings are issued where the work used to run (:meth:`reissue`).
    """

    value: T
    records: tuple[tuple[Any, ...], ...]

    def reissue(self) -> T:
        """Issue the held warnings, in their order, and return the value."""
        for message, category, filename, lineno in self.records:
            warnings.warn_explicit(message, category, filename, lineno)
        return self.value


def recorded(fn: Callable[[], T]) -> Recorded[T]:
    """``fn()`` with its warnings recorded instead of issued (see :class:`Recorded`).

    The warning filters in force stay in force (as in a :class:`Background` lane): a
    warning turned into an error still raises.

    Parameters
    ----------
    fn
        Work without arguments.

    Returns
    -------
    Recorded
    """
    with warnings.catch_warnings(record=True) as caught:
        value = fn()
    return Recorded(value, tuple(_warning_records(caught)))


def _cancelled() -> Any:
    raise SofevalError("the background work was cancelled.")


class Background(Generic[T]):
    """``fn()`` computed in a forked child while the caller goes on.

    Parameters
    ----------
    fn
        Work without arguments (a closure over the data it needs); its result must pickle.
    enabled
        ``False`` runs ``fn`` in this process when :meth:`result` is called.

    Examples
    --------
    >>> job = Background(lambda: sum(range(10)))
    >>> job.result()
    45
    """

    def __init__(self, fn: Callable[[], T], *, enabled: bool = True) -> None:
        self._fn = fn
        self._proc: Any = None
        self._conn: Any = None
        self._limits: Any = None
        if enabled and fork_available():
            ctx = multiprocessing.get_context("fork")
            recv, send = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(target=_child, args=(fn, send), daemon=True)
            self._proc.start()
            send.close()
            self._conn = recv
            self._limits = threadpool_limits(limits=1)  # until result(): one core per lane

    @property
    def forked(self) -> bool:
        """Whether the work runs in a child process."""
        return self._proc is not None

    def cancel(self) -> None:
        """Stop the work if it still runs (after the caller failed); idempotent."""
        if self._proc is None:
            return
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        self._conn.close()
        self._limits.restore_original_limits()
        self._proc = None
        self._fn = _cancelled

    def result(self) -> T:
        """Wait for the work and return its result (re-raising its exception).

        Raises
        ------
        SofevalError
            If the child died without an answer (killed, out of memory).
        """
        if self._proc is None:
            return self._fn()
        try:
            status, value, records = self._conn.recv()
        except EOFError:
            self._proc.join()
            raise SofevalError(
                f"the background process stopped without a result (exit code "
                f"{self._proc.exitcode}); rerun with {SERIAL_ENV}=1 to work in one process."
            ) from None
        finally:
            self._conn.close()
            self._limits.restore_original_limits()
        self._proc.join()
        for message, category, filename, lineno in records:
            warnings.warn_explicit(message, category, filename, lineno)
        if status == "error":
            raise value
        return value  # type: ignore[no-any-return]


def show_progress(progress: bool | None = None) -> bool:
    """Whether long work shows a progress bar: the one default of the library.

    Parameters
    ----------
    progress
        ``True`` or ``False`` decide; ``None`` (the default everywhere) shows a bar only when
        standard error is a terminal and the ``CI`` environment variable is not set, so
        notebooks and terminals see progress while CI logs and redirected runs stay quiet.

    Returns
    -------
    bool
    """
    if progress is not None:
        return bool(progress)
    return bool(sys.stderr.isatty()) and not os.environ.get("CI")


class IdCache(Generic[K, T]):
    """Values computed once per live object, keyed by its identity.

    An entry holds a weak reference to its key object and is dropped when that object is
    garbage-collected, so a new object that happens to reuse an ``id`` never receives a stale
    value. Meant for derived data of immutable inputs (validated tables, design matrices).

    Examples
    --------
    >>> import numpy as np
    >>> cache: IdCache[np.ndarray, float] = IdCache()
    >>> a = np.arange(3.0)
    >>> cache.get(a, lambda: float(a.sum()))
    3.0
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], T]] = {}

    def get(self, key: K, compute: Callable[[], T]) -> T:
        """The cached value for ``key``, computing and storing it on the first call."""
        hit = self._entries.get(id(key))
        if hit is not None and hit[0]() is key:
            return hit[1]
        value = compute()
        self._prune()
        self._entries[id(key)] = (weakref.ref(key), value)
        return value

    def peek(self, key: K) -> T | None:
        """The cached value for ``key``, or ``None`` when there is none (nothing computed)."""
        hit = self._entries.get(id(key))
        return hit[1] if hit is not None and hit[0]() is key else None

    def _prune(self) -> None:
        dead = [k for k, (ref, _) in self._entries.items() if ref() is None]
        for k in dead:
            del self._entries[k]

    def __len__(self) -> int:
        self._prune()
        return len(self._entries)


#: ``mallopt`` parameters of glibc (``malloc.h``) and the values :func:`keep_freed_memory` sets.
MALLOC_SETTINGS: tuple[tuple[str, int, int], ...] = (
    ("M_TRIM_THRESHOLD", -1, 2**31 - 1),  # give the top of the heap back above 2 GB only
    ("M_TOP_PAD", -2, 256 * 2**20),  # grow the heap 256 MB at a time
    ("M_MMAP_THRESHOLD", -3, 32 * 2**20),  # blocks below 32 MB (glibc's maximum) from the heap
)
#: numpy's switch for asking the kernel for huge pages on large arrays (read on import).
HUGEPAGE_ENV = "NUMPY_MADVISE_HUGEPAGE"


def keep_freed_memory() -> dict[str, bool]:
    """Memory settings of a register-scale command: reuse freed pages, no huge-page faults.

    A run at register scale allocates and frees large temporary arrays again and again,
    and every first touch of a page is a page fault (on a virtual machine a costly one).

    * glibc (``mallopt(3)``): by default blocks above a dynamic threshold come from fresh
      ``mmap`` pages and freed memory goes back to the system; here blocks up to 32 MB come
      from the heap and freed memory is kept for the next allocation.
    * numpy asks the kernel for transparent huge pages on large arrays (``madvise``); where
      the kernel then compacts memory on the fault (``defrag = madvise``, a common default)
      each first touch waits for it. :data:`HUGEPAGE_ENV` turns the request off; numpy reads
      it on import, so it applies only if numpy is not imported yet (and a value the user
      set is kept).

    At 1.5 M spells a ``sofeval run`` spends about 3 s less in the system with both and ends
    1-2 s sooner (docs/performance.md); the peak memory is unchanged. These are settings of
    the whole process, so the command line applies them, never the library. Elsewhere than
    Linux with glibc the allocator setting does nothing.

    Returns
    -------
    dict
        ``{"allocator": applied, "hugepages": applied}``.
    """
    hugepages = "numpy" not in sys.modules and HUGEPAGE_ENV not in os.environ
    if hugepages:
        os.environ[HUGEPAGE_ENV] = "0"
    return {"allocator": _mallopt(), "hugepages": hugepages}


def _mallopt() -> bool:
    """Apply :data:`MALLOC_SETTINGS` through glibc's ``mallopt``; ``False`` where there is none."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for _, param, value in MALLOC_SETTINGS)


#: Collector thresholds of a register-scale command (Python's defaults: 700, 10, 10).
GC_THRESHOLDS: tuple[int, int, int] = (100_000, 50, 1_000)


def freeze_loaded() -> None:
    """Keep the garbage collector off everything alive now: the loaded study of a command.

    Also collects less often afterwards (:data:`GC_THRESHOLDS`): a run allocates few
    objects in cycles, and every collection in a forked lane touches (and so copies) the
    pages of the objects it walks.

    The tables of a run live until the command ends, so collecting them is never useful;
    yet each full collection walks every object and writes to its header, and in a lane
    forked from this process each such write copies the page (Python's documentation
    advises ``gc.freeze`` before ``fork`` for this). The objects stay frozen until the
    process ends, which also spares its exit a last walk over them (``gc.unfreeze`` undoes
    it for a caller that goes on). At 1.5 M spells the two make a ``sofeval run`` about
    1 s shorter, most of it system time (docs/performance.md). Settings of the whole
    process: the command line applies them, never the library.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
