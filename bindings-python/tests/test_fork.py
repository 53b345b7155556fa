"""Fork safety: a child made by os.fork or multiprocessing's fork method opens its own
manager and transfers; handles inherited from the parent raise INVALID_STATE instead of
hanging, and the child exits cleanly."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bgcopy
from origin import Origin, content

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


def child_download(state: str, url: str, out: str) -> None:
    """Runs in a forked child: a fresh manager, one download, exit code 0 on success."""
    with bgcopy.CopyManager.open(state) as m:
        job = m.create_job("child")
        job.add_file(url, out)
        job.set_priority(bgcopy.Priority.FOREGROUND)
        job.resume()
        if job.wait(30) is not bgcopy.JobState.TRANSFERRED:
            raise SystemExit(f"child job ended {job.get_state().name}")
        job.complete()


def test_os_fork_child_opens_its_own_manager(tmp_path: Path, origin: Origin) -> None:
    parent = bgcopy.CopyManager.open(tmp_path / "parent")
    pjob = parent.create_job("parent job")
    pjob.add_file(origin.url("fork-parent", "size=3000000&rate=3000000"), str(tmp_path / "p.bin"))
    pjob.resume()  # transferring while we fork
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            try:
                pjob.get_state()
                code = 2  # an inherited handle must refuse
            except bgcopy.InvalidStateError as e:
                if "fork" in str(e):
                    child_download(str(tmp_path / "child"), origin.url("fork-child", "size=70000"),
                                   str(tmp_path / "c.bin"))
                    code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "c.bin").read_bytes() == content(70000)
    # The parent is unaffected.
    assert pjob.wait(30) is bgcopy.JobState.TRANSFERRED
    pjob.complete()
    parent.close()


def test_multiprocessing_fork_children(tmp_path: Path, origin: Origin) -> None:
    ctx = multiprocessing.get_context("fork")
    with bgcopy.CopyManager.open(tmp_path / "parent") as parent:
        parent.create_job("exists in the parent")
        procs = [
            ctx.Process(target=child_download,
                        args=(str(tmp_path / f"child{i}"), origin.url(f"fork-mp-{i}", "size=50000"),
                              str(tmp_path / f"mp{i}.bin")))
            for i in range(3)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0, 0]
    for i in range(3):
        assert (tmp_path / f"mp{i}.bin").read_bytes() == content(50000)


SCRIPT = """
import os, sys, bgcopy
state, child_state, url, out = sys.argv[1:5]
m = bgcopy.CopyManager.open(state)
job = m.create_job("parent")
pid = os.fork()
if pid == 0:
    try:
        m.create_job("inherited")
        sys.exit(3)
    except bgcopy.InvalidStateError:
        pass
    c = bgcopy.CopyManager.open(child_state)
    j = c.create_job("child")
    j.add_file(url, out)
    j.resume()
    assert j.wait(30) is bgcopy.JobState.TRANSFERRED
    j.complete()
    sys.exit(0)   # a normal interpreter exit (atexit closes the child's own manager only)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), flush=True)
job.set_description("parent still works")
m.close()
"""


def test_forked_child_exits_normally(tmp_path: Path, origin: Origin) -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "p"), str(tmp_path / "c"),
                        origin.url("fork-exit", "size=1000"), str(tmp_path / "x.bin")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "child 0" in r.stdout, (r.stdout, r.stderr)
    assert (tmp_path / "x.bin").stat().st_size == 1000
