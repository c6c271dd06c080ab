"""The forked second lane: results, exceptions, warnings and a dead child come back."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from sofeval.errors import EstimationError, SofevalError, SofevalWarning
from sofeval.runtime import SERIAL_ENV, Background, fork_available

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs fork")


def test_result_comes_from_a_child_process() -> None:
    data = np.arange(1_000_000, dtype=np.int64)  # seen by the child without pickling
    parent = os.getpid()
    job = Background(lambda: (os.getpid(), int(data.sum())))
    assert job.forked
    pid, total = job.result()
    assert pid != parent
    assert total == 499_999_500_000


def test_disabled_runs_in_this_process() -> None:
    job = Background(os.getpid, enabled=False)
    assert not job.forked
    assert job.result() == os.getpid()


def test_serial_environment_variable_turns_forking_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERIAL_ENV, "1")
    assert not fork_available()
    job = Background(os.getpid)
    assert not job.forked and job.result() == os.getpid()


def test_exception_is_reraised_with_its_type_and_the_child_traceback() -> None:
    def fail() -> None:
        raise EstimationError("no events in window 2")

    job = Background(fail)
    with pytest.raises(EstimationError, match="no events in window 2") as info:
        job.result()
    assert any("background process" in note for note in info.value.__notes__)


def test_exception_that_cannot_pickle_becomes_a_sofeval_error() -> None:
    class Local(Exception):  # a local class cannot be pickled
        pass

    def fail() -> None:
        raise Local("odd")

    with pytest.raises(SofevalError, match="Local: odd"):
        Background(fail).result()


def test_warnings_are_reissued_in_the_parent_in_order() -> None:
    def warn() -> int:
        warnings.warn("first", SofevalWarning, stacklevel=1)
        warnings.warn("second", RuntimeWarning, stacklevel=1)
        return 7

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Background(warn).result() == 7
    assert [(str(w.message), w.category) for w in caught] == [
        ("first", SofevalWarning),
        ("second", RuntimeWarning),
    ]


def test_a_child_that_dies_gives_a_clear_error() -> None:
    job = Background(lambda: os._exit(3))
    with pytest.raises(SofevalError, match=f"exit code 3.*{SERIAL_ENV}=1"):
        job.result()


def test_show_progress_explicit_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from sofeval.runtime import show_progress

    assert show_progress(True) is True
    assert show_progress(False) is False
    monkeypatch.setenv("CI", "true")
    assert show_progress(None) is False


def test_id_cache_computes_once_and_forgets_dead_keys() -> None:
    import gc

    import numpy as np

    from sofeval.runtime import IdCache

    cache: IdCache[np.ndarray, int] = IdCache()
    calls: list[int] = []
    a = np.zeros(3)

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get(a, compute) == 1
    assert cache.get(a, compute) == 1
    b = np.zeros(3)
    assert cache.get(b, compute) == 2
    del a
    gc.collect()
    assert len(cache) == 1


def _blas_threads() -> int:
    """Threads of the BLAS pool numpy uses (the largest over the pools loaded)."""
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


@pytest.mark.skipif(not fork_available(), reason="needs fork")
def test_lanes_use_one_blas_thread_each_and_restore_the_pool() -> None:
    np.ones((4, 4)) @ np.ones((4, 4))  # load the BLAS pool
    with threadpool_limits(limits=2):
        assert _blas_threads() == 2
        job = Background(_blas_threads)
        during = _blas_threads()
        child = job.result()
        after = _blas_threads()
    assert (child, during, after) == (1, 1, 2)


def test_cancel_stops_the_child_and_restores_the_pool() -> None:
    """A lane whose partner failed is stopped, not left computing (and never answers)."""
    import multiprocessing
    import time

    before = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    running = set(multiprocessing.active_children())
    job = Background(lambda: time.sleep(60))
    assert job.forked
    assert len(set(multiprocessing.active_children()) - running) == 1
    job.cancel()
    job.cancel()  # idempotent
    assert set(multiprocessing.active_children()) <= running
    assert max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") == before
    with pytest.raises(SofevalError, match="cancelled"):
        job.result()


def test_cancel_of_work_in_this_process_does_nothing() -> None:
    job = Background(lambda: 7, enabled=False)
    job.cancel()
    assert job.result() == 7


def test_freeze_loaded_keeps_the_collector_off_what_is_alive() -> None:
    import gc

    from sofeval.runtime import GC_THRESHOLDS, freeze_loaded

    gc.unfreeze()
    table = [[i] for i in range(1000)]  # container objects the collector tracks
    freeze_loaded()
    assert gc.get_freeze_count() >= len(table)
    assert gc.get_threshold() == GC_THRESHOLDS
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
