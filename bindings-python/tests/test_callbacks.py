"""Notifications from library threads (docs/spec.md §3): re-entrant calls, failures reported
through sys.unraisablehook and redelivered, slow callbacks that never stall a transfer,
and callback objects released (no leak) once the job is final."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

import bgcopy
from origin import Origin

ALL_FLAGS = (bgcopy.NotifyFlags.JOB_TRANSFERRED | bgcopy.NotifyFlags.JOB_ERROR
             | bgcopy.NotifyFlags.JOB_MODIFICATION | bgcopy.NotifyFlags.FILE_TRANSFERRED)


def eventually(cond: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        time.sleep(0.01)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[bgcopy.CopyManager]:
    with bgcopy.CopyManager.open(tmp_path / "state", notify_interval=0.05) as m:
        yield m


class Recorder(bgcopy.CopyCallback):
    def __init__(self) -> None:
        self.events: List[str] = []
        self.threads: List[int] = []
        self.lock = threading.Lock()
        self.extra: List[Any] = []

    def _note(self, what: str) -> None:
        with self.lock:
            self.events.append(what)
            self.threads.append(threading.get_ident())

    def count(self, what: str) -> int:
        with self.lock:
            return self.events.count(what)

    def job_transferred(self, job: bgcopy.CopyJob) -> None:
        self._note("transferred")

    def job_error(self, job: bgcopy.CopyJob, error: bgcopy.CopyError) -> None:
        self.extra.append(error.symbol)
        self._note("error")

    def job_modification(self, job: bgcopy.CopyJob) -> None:
        self.extra.append(job.get_progress())
        self._note("modification")

    def file_transferred(self, job: bgcopy.CopyJob, file: bgcopy.CopyFile) -> None:
        self.extra.append(file.get_local_name())
        self._note("file")


def test_callbacks_run_on_library_threads(manager: bgcopy.CopyManager, origin: Origin,
                                          tmp_path: Path) -> None:
    job = manager.create_job("threads")
    rec = Recorder()
    job.set_notify_flags(ALL_FLAGS)
    job.set_notify_interface(rec)
    assert job.get_notify_interface() is rec and job.notify_interface is rec
    job.add_file(origin.url("cb-thread", "size=20000"), str(tmp_path / "a.bin"))
    job.add_file(origin.url("cb-thread2", "size=100"), str(tmp_path / "b.bin"))
    job.resume()
    assert job.wait(30) is bgcopy.JobState.TRANSFERRED
    eventually(lambda: rec.count("transferred") == 1 and rec.count("file") == 2)
    assert rec.count("modification") >= 1
    assert threading.get_ident() not in rec.threads
    assert sorted(x for x in rec.extra if isinstance(x, str)) == [
        str(tmp_path / "a.bin"), str(tmp_path / "b.bin")]
    job.complete()


def test_reentrant_calls_from_a_callback(manager: bgcopy.CopyManager, origin: Origin,
                                         tmp_path: Path) -> None:
    other = manager.create_job("other")
    results: List[Any] = []

    class Completer:
        def job_transferred(self, job: bgcopy.CopyJob) -> None:
            results.append(job.get_state())
            results.append(job.get_progress().bytes_transferred)
            other.set_description("touched from a callback")
            results.append(manager.get_job(job.id) == job)
            results.append(len(manager.enum_jobs()))
            results.append(job.complete())
            results.append(job.get_state())

    job = manager.create_job("completes itself")
    job.set_notify_interface(Completer())
    job.add_file(origin.url("cb-reentrant", "size=5000"), str(tmp_path / "r.bin"))
    job.resume()
    eventually(lambda: len(results) == 6, what="the callback")
    assert results == [bgcopy.JobState.TRANSFERRED, 5000, True, 2, bgcopy.Completion.ALL,
                       bgcopy.JobState.ACKNOWLEDGED]
    assert (tmp_path / "r.bin").stat().st_size == 5000
    assert other.get_description() == "touched from a callback"


def test_exception_is_reported_and_redelivered(manager: bgcopy.CopyManager, origin: Origin,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reported: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u))
    calls: List[float] = []

    class FailsOnce:
        def job_error(self, job: bgcopy.CopyJob, error: bgcopy.CopyError) -> None:
            calls.append(time.monotonic())
            if len(calls) == 1:
                raise ValueError("not now")

    job = manager.create_job("fails once")
    job.set_minimum_retry_delay(1)
    job.set_notify_interface(FailsOnce())
    job.add_file(origin.url("cb-fail", "status=403"), str(tmp_path / "f.bin"))
    job.resume()
    assert job.wait(30) is bgcopy.JobState.ERROR
    eventually(lambda: len(calls) == 2, what="the redelivery")
    assert calls[1] - calls[0] >= 0.9
    assert len(reported) == 1
    assert isinstance(reported[0].exc_value, ValueError)
    assert "not now" in str(reported[0].exc_value)
    time.sleep(1.5)
    assert len(calls) == 2  # accepted: not delivered again
    job.cancel()


def test_partial_objects_and_none_attributes(manager: bgcopy.CopyManager, origin: Origin,
                                             tmp_path: Path) -> None:
    seen: List[str] = []

    class OnlyModification:
        job_transferred = None

        def job_modification(self, job: bgcopy.CopyJob) -> None:
            seen.append(job.get_state().name)

    job = manager.create_job("partial")
    job.set_notify_flags(ALL_FLAGS)
    job.set_notify_interface(OnlyModification())
    job.add_file(origin.url("cb-partial", "size=100"), str(tmp_path / "p.bin"))
    job.resume()
    assert job.wait(30) is bgcopy.JobState.TRANSFERRED
    eventually(lambda: "TRANSFERRED" in seen)
    job.complete()
    eventually(lambda: seen[-1] == "ACKNOWLEDGED", what="the final modification")


def test_slow_callback_never_stalls_a_transfer(manager: bgcopy.CopyManager, origin: Origin,
                                               tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    class Slow:
        def job_modification(self, job: bgcopy.CopyJob) -> None:
            entered.set()
            release.wait(20)

    job = manager.create_job("slow callback")
    job.set_notify_flags(ALL_FLAGS)
    job.set_notify_interface(Slow())
    job.add_file(origin.url("cb-slow", "size=300000&rate=1000000"), str(tmp_path / "s.bin"))
    job.resume()
    try:
        assert entered.wait(10)
        # The callback is blocked; the transfer still finishes.
        assert job.wait(30) is bgcopy.JobState.TRANSFERRED
    finally:
        release.set()
    job.complete()


def test_callback_objects_are_released_when_final(manager: bgcopy.CopyManager, origin: Origin,
                                                   tmp_path: Path) -> None:
    refs = []
    for i in range(3):
        rec = Recorder()
        refs.append(weakref.ref(rec))
        job = manager.create_job(f"gc {i}")
        job.set_notify_flags(ALL_FLAGS)
        job.set_notify_interface(rec)
        job.add_file(origin.url(f"cb-gc-{i}", "size=1000"), str(tmp_path / f"g{i}.bin"))
        job.resume()
        assert job.wait(30) is bgcopy.JobState.TRANSFERRED
        if i == 0:
            job.complete()
        elif i == 1:
            job.cancel()
        else:
            job.set_notify_interface(None)  # replaced: released at once
            assert job.get_notify_interface() is None
        del rec

    def released() -> bool:
        gc.collect()
        manager.enum_jobs()  # any call lets pyo3 apply releases made on library threads
        return all(r() is None for r in refs)

    eventually(released, what="callback objects to be released")


def test_released_when_manager_closes(tmp_path: Path) -> None:
    m = bgcopy.CopyManager.open(tmp_path / "state", start_transfers=False)
    rec = Recorder()
    ref = weakref.ref(rec)
    job = m.create_job("closing")
    job.set_notify_interface(rec)
    del rec
    m.close()
    gc.collect()
    job.get_state()
    assert ref() is None
    assert job.get_notify_interface() is None


def test_callback_may_hold_its_job_and_manager(tmp_path: Path, origin: Origin) -> None:
    """A cycle through a callback (callback -> manager -> job -> callback) is broken when
    the job is final; the manager then closes once nothing holds it."""
    m = bgcopy.CopyManager.open(tmp_path / "state")
    done = threading.Event()

    class Holder:
        def __init__(self) -> None:
            self.manager = m
            self.job: Any = None

        def job_transferred(self, job: bgcopy.CopyJob) -> None:
            job.complete()
            done.set()

    h = Holder()
    job = m.create_job("cycle")
    h.job = job
    job.set_notify_interface(h)
    job.add_file(origin.url("cb-cycle", "size=1000"), str(tmp_path / "c.bin"))
    job.resume()
    assert done.wait(30)
    ref = weakref.ref(h)
    del h, job, m

    def released() -> bool:
        gc.collect()
        bgcopy.default_state_dir()
        return ref() is None

    eventually(released, what="the holder")
    # The manager closed: the directory can be opened again.
    eventually(lambda: _can_open(tmp_path / "state"), what="the state directory")


def _can_open(d: Path) -> bool:
    try:
        bgcopy.CopyManager.open(d, start_transfers=False).close()
        return True
    except bgcopy.LockedError:
        return False
