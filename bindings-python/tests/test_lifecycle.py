"""Lifetimes: handles kept by Python after their manager closed (clear errors, no
crash), managers kept open by their jobs and closed by the last reference, close()
while callbacks run or from inside one, and interpreter exit with transfers running."""

from __future__ import annotations

import fcntl
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import bgcopy
from origin import Origin


def _locked(d: Path) -> bool:
    """Whether a manager of this process runs the directory's engine (holds its lock)."""
    try:
        fd = os.open(d / "engine.lock", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_handles_after_close(tmp_path: Path, origin: Origin) -> None:
    m = bgcopy.CopyManager.open(tmp_path / "state")
    job = m.create_job("outlives its manager")
    job.add_file(origin.url("life-404", "status=404"), str(tmp_path / "x.bin"))
    job.resume()
    assert job.wait(30) is bgcopy.JobState.ERROR
    err = job.get_error()
    f = job.enum_files()[0]
    m.close()
    assert m.closed and not _locked(tmp_path / "state")
    # Getters answer from memory; the error and file handles still work.
    assert job.get_state() is bgcopy.JobState.ERROR
    assert job.get_progress().files_total == 1
    assert job.get_display_name() == "outlives its manager"
    assert err.symbol == "HTTP_404" and err.get_file().index == 0
    assert f.get_remote_name().endswith("status=404")
    assert job.wait() is bgcopy.JobState.ERROR
    # Mutators and manager calls say clearly that the manager is closed.
    for call in (job.resume, job.cancel, lambda: job.set_priority(bgcopy.Priority.LOW),
                 lambda: m.create_job("x"), m.enum_jobs):
        with pytest.raises(bgcopy.InvalidStateError, match="manager is closed"):
            call()
    del m
    gc.collect()
    assert job.get_error_count() == 1


def test_jobs_keep_their_manager_open(tmp_path: Path) -> None:
    job = bgcopy.CopyManager.open(tmp_path / "state").create_job("kept")
    gc.collect()
    job.set_description("the manager is still open")  # no InvalidStateError
    assert _locked(tmp_path / "state")
    del job
    gc.collect()
    assert not _locked(tmp_path / "state")  # the last reference closed it


def test_close_while_a_callback_runs(tmp_path: Path, origin: Origin) -> None:
    entered = threading.Event()
    finished = threading.Event()

    class Slow:
        def job_transferred(self, job: bgcopy.CopyJob) -> None:
            entered.set()
            time.sleep(0.5)
            job.get_state()
            finished.set()

    m = bgcopy.CopyManager.open(tmp_path / "state")
    job = m.create_job("slow")
    job.set_notify_interface(Slow())
    job.add_file(origin.url("life-slow", "size=100"), str(tmp_path / "s.bin"))
    job.resume()
    assert entered.wait(30)
    m.close()  # releases the GIL: the callback finishes, then the thread is joined
    assert finished.is_set()


def test_close_from_inside_a_callback(tmp_path: Path, origin: Origin) -> None:
    m = bgcopy.CopyManager.open(tmp_path / "state")
    closed = threading.Event()

    class Closer:
        def job_transferred(self, job: bgcopy.CopyJob) -> None:
            m.close()
            closed.set()

    job = m.create_job("closer")
    job.set_notify_interface(Closer())
    job.add_file(origin.url("life-closer", "size=100"), str(tmp_path / "c.bin"))
    job.resume()
    assert closed.wait(30)
    deadline = time.monotonic() + 10
    while _locked(tmp_path / "state"):
        assert time.monotonic() < deadline, "the manager never closed"
        time.sleep(0.05)
    with pytest.raises(bgcopy.InvalidStateError):
        job.complete()


SCRIPT = """
import sys, threading, time, bgcopy
state, out, url = sys.argv[1:4]
m = bgcopy.CopyManager.open(state, notify_interval=0.01)
class Busy:
    def job_modification(self, job):
        job.get_progress()
        time.sleep(0.01)
job = m.create_job("exit while running")
job.set_notify_flags(bgcopy.NotifyFlags.JOB_MODIFICATION)
job.set_notify_interface(Busy())
job.add_file(url, out)
job.resume()
t = threading.Thread(target=job.wait, daemon=True)   # a daemon thread blocked in wait()
t.start()
time.sleep(0.3)
print("exiting", job.get_state().name, flush=True)
"""


def test_interpreter_exit_with_transfers_running(tmp_path: Path, origin: Origin) -> None:
    url = origin.url("life-exit", "size=5000000&rate=2000000")
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "state"),
                        str(tmp_path / "big.bin"), url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "exiting TRANSFERRING" in r.stdout or "exiting CONNECTING" in r.stdout, r.stdout
    assert "Fatal" not in r.stderr and "panic" not in r.stderr, r.stderr
    # The job was left in the store, with its progress.
    with bgcopy.CopyManager.open(tmp_path / "state", start_transfers=False) as m:
        (job,) = m.enum_jobs()
        assert job.get_state() is bgcopy.JobState.QUEUED
        job.cancel()


def test_many_managers_open_and_close(tmp_path: Path) -> None:
    before = threading.active_count()
    for i in range(20):
        with bgcopy.CopyManager.open(tmp_path / f"s{i % 3}", start_transfers=False) as m:
            m.create_job("x").cancel()
    assert threading.active_count() <= before + 1
    assert os.listdir(tmp_path)
