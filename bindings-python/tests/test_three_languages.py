"""One queue, three languages, three processes (docs/spec.md §9): this Python process creates
and resumes a job (and runs the engine); a Node process watches the same job and its
progress move; the ``bgcopy`` command suspends and resumes it. The bytes arrive intact.

Needs the Node addon built (``bindings-node/test.sh`` or ``npm install`` there) and the
CLI (``cargo build``); the repository's ``test.sh`` runs the Node tests first and sets
``BGCOPY_REQUIRE_NODE=1``, so there the test cannot be skipped.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import List

import pytest

import bgcopy
from origin import ROOT, Origin, content

NODE_WATCHER = r"""
const { CopyManager, JobState } = require(process.argv[1])
const m = CopyManager.open(process.argv[2], { startTransfers: false })
const job = m.getJob(process.argv[3])
const seen = []
const timer = setInterval(() => {
  const state = job.getState()
  const bytes = Number(job.getProgress().bytesTransferred)
  if (seen.length === 0 || seen[seen.length - 1][1] !== bytes || seen[seen.length - 1][0] !== state) {
    seen.push([state, bytes])
    console.log(JSON.stringify({ state: JobState[state], bytes }))
  }
  if (state === JobState.Transferred || state === JobState.Acknowledged) {
    clearInterval(timer)
    m.close()
  }
}, 50)
"""


def node_addon() -> Path:
    return ROOT / "bindings-node" / "index.js"


def cli() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "bgcopy"


def test_python_creates_node_watches_the_cli_suspends(origin: Origin, tmp_path: Path) -> None:
    have_node = shutil.which("node") is not None and bool(
        glob.glob(str(ROOT / "bindings-node" / "bgcopy.*.node")))
    if not have_node or not cli().exists():
        if os.environ.get("BGCOPY_REQUIRE_NODE") == "1":
            pytest.fail("the Node addon or the CLI is missing")
        pytest.skip("needs the Node addon (bindings-node/test.sh) and the CLI (cargo build)")
    state = tmp_path / "state"
    size = 1_500_000
    local = tmp_path / "three.bin"
    with bgcopy.CopyManager.open(state) as m:
        job = m.create_job("three languages")
        job.add_file(origin.url("three", f"size={size}&rate=400000"), str(local))
        job.resume()
        watcher = subprocess.Popen(
            ["node", "-e", NODE_WATCHER, str(node_addon()), str(state), job.id],
            stdout=subprocess.PIPE, text=True)
        try:
            # Once bytes move, the CLI suspends the job, then resumes it.
            deadline = time.monotonic() + 30
            while job.get_progress().bytes_transferred < 200_000:
                assert time.monotonic() < deadline, "the transfer did not start"
                time.sleep(0.02)
            cmd = [str(cli()), "--state-dir", str(state)]
            subprocess.run(cmd + ["suspend", job.id], check=True)
            assert job.get_state() is bgcopy.JobState.SUSPENDED
            held = job.get_progress().bytes_transferred
            time.sleep(0.6)
            subprocess.run(cmd + ["resume", job.id], check=True)
            assert job.wait(60) is bgcopy.JobState.TRANSFERRED
            out, _ = watcher.communicate(timeout=30)
        finally:
            if watcher.poll() is None:
                watcher.kill()
        assert watcher.returncode == 0
        seen: List[dict] = [json.loads(line) for line in out.splitlines() if line.strip()]
        states = [s["state"] for s in seen]
        bytes_seen = [s["bytes"] for s in seen]
        # The Node process saw the progress move (published while bytes moved), the
        # CLI's suspend and resume, and the end.
        assert len({b for b in bytes_seen if 0 < b < size}) >= 3, seen
        assert "Suspended" in states and states[-1] == "Transferred", seen
        assert states.index("Suspended") < len(states) - 1, seen
        assert bytes_seen[-1] == size
        assert held > 0
        assert job.complete() is bgcopy.Completion.ALL
    assert local.read_bytes() == content(size)
    # The journal tells the same story to anyone.
    with bgcopy.CopyManager.open(state, start_transfers=False) as m:
        mine = [(e.kind, e.state) for e in m.events_since(0, 10000) if e.job_id == job.id]
        K, S = bgcopy.EventKind, bgcopy.JobState
        assert (K.STATE_CHANGED, S.SUSPENDED) in mine[1:]
        assert mine[-1] == (K.STATE_CHANGED, S.ACKNOWLEDGED)
