"""``python -m bgcopy run``: the engine without the command. A script queues a job and
exits (fire and forget); the engine started afterwards transfers it; SIGTERM stops it
cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import bgcopy
from origin import Origin, content


def test_queue_and_leave_then_python_m_bgcopy_run_finishes_it(origin: Origin,
                                                                tmp_path: Path) -> None:
    state = tmp_path / "state"
    local = tmp_path / "later.bin"
    queue = f"""
import bgcopy
with bgcopy.CopyManager.open({str(state)!r}, start_transfers=False) as m:
    job = m.create_job("queued and left")
    job.add_file({origin.url("run-later", "size=30000")!r}, {str(local)!r})
    job.resume()
    print(job.id)
"""
    job_id = subprocess.run([sys.executable, "-c", queue], check=True, capture_output=True,
                            text=True).stdout.strip()
    run = subprocess.run([sys.executable, "-m", "bgcopy", "run", "--state-dir", str(state),
                          "--until-idle"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "this process runs the transfers" in run.stderr
    assert f"{job_id} TRANSFERRED" in run.stderr, run.stderr
    assert "idle: 1 transferred, 0 in error, 0 suspended" in run.stderr
    with bgcopy.CopyManager.open(state, start_transfers=False) as m:
        job = m.get_job(job_id)
        assert job.state is bgcopy.JobState.TRANSFERRED
        assert job.complete() is bgcopy.Completion.ALL
    assert local.read_bytes() == content(30000)


def test_sigterm_stops_python_m_bgcopy_run_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "bgcopy", "run", "--state-dir", str(state)],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while "runs the transfers" not in proc.stderr.readline():
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopping" in err
    # The engine is free again: a new manager takes it at once.
    with bgcopy.CopyManager.open(state) as m:
        assert m.create_job("after").state is bgcopy.JobState.SUSPENDED
