"""The durable event journal (``events_since``) and callbacks in a client process: the
engine runs in another Python process; this one only queues, watches and is told."""

from __future__ import annotations

import datetime
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

import bgcopy
from origin import Origin

ALL_FLAGS = (bgcopy.NotifyFlags.JOB_TRANSFERRED | bgcopy.NotifyFlags.JOB_ERROR
             | bgcopy.NotifyFlags.JOB_MODIFICATION | bgcopy.NotifyFlags.FILE_TRANSFERRED)

ENGINE = """
import sys, bgcopy
m = bgcopy.CopyManager.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
m.close()
"""


def eventually(cond: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        time.sleep(0.02)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Path]:
    """A state directory whose engine runs in a child Python process."""
    state = tmp_path / "state"
    child = subprocess.Popen([sys.executable, "-c", ENGINE, str(state)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    try:
        yield state
    finally:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(30) == 0


class Recorder(bgcopy.CopyCallback):
    def __init__(self) -> None:
        self.events: List[str] = []
        self.lock = threading.Lock()

    def note(self, what: str) -> None:
        with self.lock:
            self.events.append(what)

    def count(self, what: str) -> int:
        with self.lock:
            return self.events.count(what)

    def job_transferred(self, job: bgcopy.CopyJob) -> None:
        self.note("transferred")

    def job_error(self, job: bgcopy.CopyJob, error: bgcopy.CopyError) -> None:
        self.note(f"error {error.symbol}")

    def job_modification(self, job: bgcopy.CopyJob) -> None:
        self.note("modification")

    def file_transferred(self, job: bgcopy.CopyJob, file: bgcopy.CopyFile) -> None:
        self.note(f"file {Path(file.get_local_name()).name}")


def test_callbacks_in_a_client_process_fire_for_the_engines_changes(
        engine: Path, origin: Origin, tmp_path: Path) -> None:
    with bgcopy.CopyManager.open(engine, start_transfers=False,
                                 notify_interval=0.05) as m:
        rec = Recorder()
        job = m.create_job("client")
        job.add_file(origin.url("pj-a", "size=40000"), str(tmp_path / "a.bin"))
        job.add_file(origin.url("pj-b", "size=50000"), str(tmp_path / "b.bin"))
        job.set_notify_flags(ALL_FLAGS)
        job.set_notify_interface(rec)
        # The notify command line runs in the engine's process, with the job's id.
        out = tmp_path / "cmd.log"
        script = f'echo "$BGCOPY_JOB_ID $1" >> {str(out)!r}'
        job.set_notify_cmd_line("/bin/sh", ["-c", script, "sh", "done"])
        assert job.get_notify_cmd_line() == ("/bin/sh", ["-c", script, "sh", "done"])
        with pytest.raises(bgcopy.InvalidArgError):
            job.set_notify_cmd_line("sh", [])
        with pytest.raises(TypeError):
            job.set_notify_cmd_line("/bin/sh", "-c")  # type: ignore[arg-type]
        bad = m.create_job("missing")
        bad.add_file(origin.url("pj-404", "status=404"), str(tmp_path / "c.bin"))
        bad.set_notify_interface(rec)
        job.resume()
        bad.resume()
        eventually(lambda: rec.count("transferred") == 1, what="TRANSFERRED")
        eventually(lambda: rec.count("file a.bin") == 1 and rec.count("file b.bin") == 1,
                   what="both files")
        eventually(lambda: rec.count("error HTTP_404") == 1, what="the ERROR")
        assert rec.count("modification") >= 1
        eventually(lambda: out.exists() and out.read_text() == f"{job.id} done\n",
                   what="the notify command line")
        assert job.complete() is bgcopy.Completion.ALL
        assert (tmp_path / "a.bin").stat().st_size == 40000
        bad.cancel()

        events = m.events_since(0, 10000)
        assert [e.seq for e in events] == sorted({e.seq for e in events})
        mine = [(e.kind, e.state) for e in events if e.job_id == job.id]
        K, S = bgcopy.EventKind, bgcopy.JobState
        assert mine[0] == (K.STATE_CHANGED, S.SUSPENDED)
        assert (K.STATE_CHANGED, S.TRANSFERRED) in mine
        assert mine[-1] == (K.STATE_CHANGED, S.ACKNOWLEDGED)
        files = sorted(e.file_index for e in events
                       if e.job_id == job.id and e.kind is K.FILE_TRANSFERRED)
        assert files == [0, 1]
        err = next(e for e in events if e.kind is K.ERROR)
        assert err.job_id == bad.id and err.state is S.ERROR
        assert err.error_code == bgcopy.codes.http(404)
        assert err.error_context is bgcopy.ErrorContext.REMOTE_FILE
        assert err.file_index == 0 and "404" in (err.error_description or "")
        assert isinstance(err.time, datetime.datetime) and err.time.tzinfo is not None
        assert "EventKind.ERROR" in repr(err)
        # A cursor continues after an entry; the limit is checked.
        assert m.events_since(events[0].seq, 10000) == events[1:]
        assert len(m.events_since(0, 1)) == 1
        with pytest.raises(bgcopy.InvalidArgError):
            m.events_since(0, 0)
        with pytest.raises(bgcopy.InvalidArgError):
            m.events_since(-1, 10)
        # Events are values: equal when the same entry, usable as keys.
        assert len(set(events) | set(m.events_since(0, 10000))) == len(events)
    with pytest.raises(bgcopy.InvalidStateError):
        m.events_since(0, 10)
